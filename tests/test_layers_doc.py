"""docs/layers.md: every ```python block runs (in order, sharing one namespace) and its
assertions against PyTorch hold; and every layer of the docs is a layer of the package."""

from __future__ import annotations

import re
from pathlib import Path

import backprop

DOC = Path(__file__).parent.parent / "docs" / "layers.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_every_derivation_block_checks_against_pytorch() -> None:
    found = blocks()
    assert len(found) >= 8
    namespace: dict[str, object] = {}
    for i, code in enumerate(found):
        assert "same(" in code or i == 0, f"block {i} compares nothing"
        exec(compile(code, f"{DOC}:block{i}", "exec"), namespace)


def test_the_sections_name_layers_that_exist() -> None:
    titles = re.findall(r"^## (.+)$", DOC.read_text(encoding="utf-8"), re.M)
    names = {w for t in titles for w in re.findall(r"[A-Z]\w+", t)}
    assert names >= {"BatchNorm1d", "LayerNorm", "Dropout", "Embedding", "Softmax", "GELU"}
    for name in names:
        assert hasattr(backprop, name), name
