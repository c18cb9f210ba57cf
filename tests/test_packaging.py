"""The package's name: every install line names the distribution in pyproject.toml, and the
wheel built from this tree installs by that name and runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `pip install` and what follows it on the line, up to a shell comment or a closing backtick
INSTALL = re.compile(r"pip install\s+([^`#\n\"]*(?:\"[^\"\n]*\")?[^`#\n]*)")


def distribution() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["name"])


def install_lines(text: str) -> list[str]:
    return [m.group(1).strip() for m in INSTALL.finditer(text)]


def foreign(line: str, name: str) -> bool:
    """True if the install line ``line`` (what follows `pip install`) does not install ``name``:
    its first argument that is not an option must be ``name``, with or without extras. A
    template in the source ("{DISTRIBUTION}") is checked by ``test_the_install_line_template``."""
    args = [a.strip("'\",.;:)") for a in line.split() if not a.startswith("-")]
    if not args:
        return True
    if args[0].startswith("{"):
        return False
    return re.fullmatch(re.escape(name) + r"(\[[a-z,]+\])?", args[0]) is None


def searched_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder, suffixes in (("docs", (".md", ".py", ".ipynb")), ("src", (".py",))):
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in suffixes]
    return files


def test_the_distribution_is_ours_and_the_import_name_stays() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == "backprop-by-hand"  # "backprop" on the index is another project
    assert project["scripts"] == {"backprop": "backprop.cli:main"}
    assert project["license"] == "MIT"  # SPDX, not the deprecated table


def test_the_checker_catches_a_bare_name() -> None:
    name = distribution()
    bad = "pip install backprop\npip install 'backprop[viz]'  # pictures\n`pip install torch`"
    assert [foreign(line, name) for line in install_lines(bad)] == [True, True, True]
    good = f"pip install {name}\npip install '{name}[viz]'\n`pip install -U \"{name}[all]\"`"
    assert [foreign(line, name) for line in install_lines(good)] == [False, False, False]


def test_the_install_line_template() -> None:
    from backprop.extras import DISTRIBUTION, install_line

    assert distribution() == DISTRIBUTION
    assert install_line("viz") == f"pip install '{distribution()}[viz]'"


def test_every_install_line_names_the_distribution() -> None:
    name = distribution()
    found, wrong = 0, []
    for path in searched_files():
        for line in install_lines(path.read_text(encoding="utf-8")):
            found += 1
            if foreign(line, name):
                wrong.append(f"{path.relative_to(ROOT)}: pip install {line}")
    assert found >= 5  # the README's install section, and the messages for missing extras
    assert not wrong, "install lines that do not name " + name + ":\n" + "\n".join(wrong)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_wheel_installs_by_its_name_and_runs(tmp_path: Path) -> None:
    name = distribution()
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        tmp_path,
    )
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.startswith(name.replace("-", "_") + "-")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py, bindir = env_dir / "bin" / "python", env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([str(py), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
    assert f"Name: {name}" in run([str(py), "-m", "pip", "show", name], tmp_path, env)
    out = run([str(bindir / "backprop"), "slp", "--every", "500"], tmp_path, env)
    assert "Iteration 999 - MSE:" in out
    # without [viz], --gif is refused before the run, naming the extra
    done = subprocess.run(
        [str(bindir / "backprop"), "slp", "--gif", "x.gif"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert (
        done.stderr == f"backprop slp: error: --gif needs matplotlib: pip install '{name}[viz]'\n"
    )
    run([str(py), "-m", "pip", "install", "-q", f"{wheel}[viz]"], tmp_path, env)
    run([str(bindir / "backprop"), "slp", "--gif", "x.gif", "--every", "500"], tmp_path, env)
    assert (tmp_path / "x.gif").read_bytes()[:6] == b"GIF89a"
