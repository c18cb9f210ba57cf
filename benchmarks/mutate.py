"""The mutation run: ``make mutate`` (or ``python -m benchmarks.mutate``).

Plants realistic bugs in the library, one at a time, and checks that the tests catch each one.
Every mutation in ``benchmarks/mutations.py`` is an exact source snippet and its replacement;
the snippet must occur exactly once in its file, or the mutation is reported as an error (a
mutation that no longer applies must be rewritten, never skipped in silence).

Each worker copies the repository to a temporary directory once (no ``.venv``, ``.git`` or
caches). For each mutation it writes the mutated file there, runs the mutation's tests with
``pytest -x`` and a timeout, with ``PYTHONPATH`` pointing at the copy's ``src`` so the mutated
package is the one imported (also by the CLI tests' subprocesses), then restores the file.
Before any mutation, the same tests run once on the unmutated copy: they must pass, or the run
stops (a failing baseline would make every mutation look killed). Hypothesis draws the same
seeded examples as in ``make test`` but does not shrink a failure (``mutate_hypothesis``).

Outcomes: **killed** (a test failed; the first failing test is named), **survived** (all the
tests passed: a bug the suite does not see), **timeout** (the tests ran past the limit; counted
as caught, and listed), **error** (the snippet did not match). The exit status is 0 only if
every mutation was killed or timed out. ``--write`` records the table in
benchmarks/mutation.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .mutations import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "mutation.md"
IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis", "build", "out", "*.gif", "*.png",
)  # fmt: skip
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


@dataclass
class Result:
    mutation: Mutation
    outcome: str  # killed, survived, timeout, error
    detail: str  # the first failing test, or what went wrong
    seconds: float


def check_snippets(mutations: list[Mutation], root: Path) -> dict[str, str]:
    """name → why the mutation cannot be applied, for those whose snippet is not found exactly
    once (or that would change nothing)."""
    problems = {}
    for m in mutations:
        path = root / m.path
        if not path.exists():
            problems[m.name] = f"{m.path} does not exist"
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            problems[m.name] = f"snippet found {count} times in {m.path} (must be exactly once)"
        elif m.old == m.new:
            problems[m.name] = "the replacement equals the snippet"
    return problems


def copy_repo(into: Path) -> Path:
    dest = into / "repo"
    shutil.copytree(ROOT, dest, ignore=IGNORE)
    return dest


def run_tests(repo: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str, float]:
    """(outcome, detail, seconds) of ``pytest -x`` on ``tests`` in the copy ``repo``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo / "src") + os.pathsep + str(repo / "tests")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutated and a restored file never share a .pyc
    env["MPLBACKEND"] = "Agg"
    cmd = [
        sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "--no-header", "-p", "no:cacheprovider",
        "-p", "benchmarks.mutate_hypothesis", "--hypothesis-profile", "mutate", *tests,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", f"over {timeout:g} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return "survived", "all tests passed", seconds
    failed = FAILED.findall(out)
    if failed:
        return "killed", failed[0], seconds
    last = out.strip().splitlines()[-1] if out.strip() else f"exit status {proc.returncode}"
    return "killed", f"pytest exit {proc.returncode}: {last[:120]}", seconds


def run_mutation(repo: Path, m: Mutation, timeout: float) -> Result:
    path = repo / m.path
    original = path.read_text()
    path.write_text(original.replace(m.old, m.new, 1))
    try:
        outcome, detail, seconds = run_tests(repo, m.tests, timeout)
    finally:
        path.write_text(original)
    return Result(m, outcome, detail, seconds)


def baseline(repo: Path, mutations: list[Mutation], timeout: float) -> None:
    tests = tuple(sorted({t.split("::")[0] for m in mutations for t in m.tests}))
    outcome, detail, seconds = run_tests(repo, tests, timeout * 4)
    if outcome != "survived":
        sys.exit(f"mutate: the unmutated tests do not pass ({outcome}: {detail}); fix them first")
    print(f"baseline: {len(tests)} test files pass unmutated ({seconds:.0f} s)", flush=True)


def table(results: list[Result]) -> list[str]:
    lines = [
        "| # | mutation | file | what the bug does | outcome | caught by | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        m = r.mutation
        lines.append(
            f"| {i} | `{m.name}` | {m.path.removeprefix('src/backprop/')} | {m.what} | "
            f"**{r.outcome}** | {r.detail.replace('|', '/')} | {r.seconds:.0f} |"
        )
    return lines


def summary(results: list[Result]) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in ("killed", "timeout", "survived")}
    errors = sum(r.outcome == "error" for r in results)
    return (
        f"{len(results)} mutations: {counts['killed']} killed, {counts['timeout']} timed out, "
        f"{counts['survived']} survived, {errors} errors"
    )


def write_results(results: list[Result], args: argparse.Namespace, seconds: float) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Mutation run",
        "",
        "Realistic bugs planted one at a time in a copy of the repository; each must make a test",
        "fail. The list is `benchmarks/mutations.py`; the runner `benchmarks/mutate.py`.",
        "Reproduce with `make mutate` (all) or `make mutate-quick` (the few that `.ci/run` runs).",
        "",
        f"Run {now} at commit `{commit or 'unknown'}` on {platform.machine()}, "
        f"{os.cpu_count()} logical cores, {args.jobs} worker(s), timeout {args.timeout:g} s per "
        f"mutation; {seconds / 60:.1f} minutes in all, measured on a shared machine under load "
        f"(load average at the end {load}), so the times say little about speed.",
        "",
        f"**{summary(results)}.**",
        "",
        *table(results),
        "",
    ]
    RESULTS.write_text("\n".join(text))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutate", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the mutations marked quick")
    parser.add_argument("-k", metavar="TEXT", help="only mutations whose name contains TEXT")
    parser.add_argument(
        "--file",
        action="append",
        metavar="TEXT",
        help="only mutations in files whose path contains TEXT (repeatable)",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, help="parallel workers (default 1)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per mutation")
    parser.add_argument("--write", action="store_true", help="record the table in mutation.md")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the unmutated run (when the same tests have just passed, as in .ci/run)",
    )
    args = parser.parse_args(argv)

    names = [m.name for m in MUTATIONS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        parser.error(f"duplicate mutation names: {', '.join(duplicates)}")
    mutations = [m for m in MUTATIONS if (m.quick or not args.quick)]
    if args.k:
        mutations = [m for m in mutations if args.k in m.name]
    if args.file:
        mutations = [m for m in mutations if any(f in m.path for f in args.file)]
    if not mutations:
        parser.error("no mutation selected")
    if args.list:
        for m in mutations:
            print(f"{m.name:<34} {m.path:<34} {m.what}")
        return 0

    problems = check_snippets(mutations, ROOT)
    results: dict[str, Result] = {
        name: Result(m, "error", why, 0.0)
        for m in mutations
        for name, why in problems.items()
        if m.name == name
    }
    for name, why in problems.items():
        print(f"ERROR     {name}: {why}", flush=True)
    todo = [m for m in mutations if m.name not in problems]

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="backprop-mutate-") as tmp:
        workers = max(1, min(args.jobs, len(todo)))
        repos = [copy_repo(Path(tmp) / f"w{i}") for i in range(workers)]
        if todo and not args.no_baseline:
            baseline(repos[0], todo, args.timeout)
        free = list(repos)

        def job(m: Mutation) -> Result:
            repo = free.pop()
            try:
                return run_mutation(repo, m, args.timeout)
            finally:
                free.append(repo)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for r in pool.map(job, todo):
                results[r.mutation.name] = r
                print(f"{r.outcome.upper():<9} {r.mutation.name:<34} {r.detail} "
                      f"({r.seconds:.0f} s)", flush=True)  # fmt: skip
    seconds = time.perf_counter() - start
    ordered = [results[m.name] for m in mutations]
    print(summary(ordered))
    survivors = [r.mutation.name for r in ordered if r.outcome == "survived"]
    if survivors:
        print("survived: " + ", ".join(survivors))
    if args.write:
        write_results(ordered, args, seconds)
    return 1 if survivors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
