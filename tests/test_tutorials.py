"""Every notebook in docs/tutorials/ runs from top to bottom, as a reader would run it.

Notebooks are stored without outputs (a reader's first run makes them; a diff shows only the
code); each is executed here in a fresh kernel of this interpreter, in its own folder, and must
finish within TIME_LIMIT seconds. New notebooks are picked up as they are added.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
# Each notebook is written to take well under this on one core; the margin is for a loaded machine.
TIME_LIMIT = 90.0


def test_there_are_tutorials_and_the_readme_links_them() -> None:
    assert len(NOTEBOOKS) >= 2  # every notebook is linked from the README, new ones too
    readme = (TUTORIALS.parents[1] / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"(docs/tutorials/{path.name})" in readme, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=TIME_LIMIT, kernel_name="python3", resources={"metadata": {"path": TUTORIALS}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"{path.name} took {elapsed:.0f} s"
