"""benchmarks/mutations.py stays in step with the code: every planted bug's snippet is found
exactly once in its file, so that `make mutate` can plant it. Nothing is planted here."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a package of the repository, not installed

from benchmarks.mutate import check_snippets  # noqa: E402
from benchmarks.mutations import MUTATIONS  # noqa: E402


def test_every_mutation_snippet_occurs_exactly_once_in_its_file() -> None:
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert check_snippets(MUTATIONS, ROOT) == {}


def test_the_snippet_check_names_a_snippet_gone_or_repeated() -> None:
    first = MUTATIONS[0]
    gone = replace(first, name="gone", old=first.old + "  # not in the file")
    repeated = replace(first, name="repeated", old="\n")
    problems = check_snippets([gone, repeated], ROOT)
    assert problems["gone"] == f"snippet found 0 times in {first.path} (must be exactly once)"
    assert problems["repeated"].startswith("snippet found ")
    assert problems["repeated"] != problems["gone"]
