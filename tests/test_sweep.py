"""The width × batch sweep's pure parts (benchmarks/sweep.py): its points, the GEMM FLOPs of a step
against a hand count, the medians, the tables and the README's summary from a small made-up
result. Nothing here is timed."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a package of the repository, not installed

from benchmarks import sweep  # noqa: E402
from benchmarks.cases import gemm_buffers  # noqa: E402
from benchmarks.sweep_cases import GROUPS, SWEEP, point_name  # noqa: E402

MACHINE = {"date": "2026-01-01 00:00 UTC", "cpu": "a CPU, 2 logical cores",
           "versions": "numpy 2, torch 2", "load": "0.00, 0.00, 0.00", "python": "3.11"}  # fmt: skip


def test_the_sweep_has_48_points_in_four_groups_of_12() -> None:
    assert len(SWEEP) == 48
    assert sorted(n for names in GROUPS.values() for n in names) == sorted(SWEEP)
    case = SWEEP[point_name(64, 512, 256, "float64")]
    assert case.sizes == (64, 512, 512, 10) and case.batch == 256 and case.dtype == "float64"
    assert (case.loss, case.optimizer, case.lr, case.samples) == ("ce", "sgd", 0.01, 4096)


def test_gemm_flops_of_a_sweep_step_by_hand() -> None:
    """784-32-32-10, batch 16: forward x·W and dL/dW = xᵀ·g are 2·16·(784·32 + 32·32 + 32·10)
    FLOPs each, dL/dx = g·Wᵀ for the last two layers 2·16·(32·32 + 32·10)."""
    case = SWEEP[point_name(784, 32, 16, "float32")]
    forward = 2 * 16 * (784 * 32 + 32 * 32 + 32 * 10)
    assert forward == 845_824
    assert case.gemm_flops() == 2 * forward + 2 * 16 * (32 * 32 + 32 * 10) == 1_734_656


def test_the_timed_gemms_are_exactly_the_counted_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """gemm_buffers' step products, counted by shape as they run, add up to gemm_flops()."""
    case = SWEEP[point_name(64, 128, 16, "float64")]
    _, step_gemms = gemm_buffers(case)
    flops: list[int] = []
    matmul = np.matmul

    def counting(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        assert a.dtype == b.dtype == out.dtype == np.float64
        flops.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        return matmul(a, b, out=out)

    monkeypatch.setattr(np, "matmul", counting)
    step_gemms()
    assert len(flops) == 3 + 3 + 2  # forward, dL/dW, dL/dx of all but the first layer
    assert sum(flops) == case.gemm_flops()


def fake_raw() -> sweep.Raw:
    """Three rounds of two float32 points and one float64 point."""
    a, b = point_name(784, 32, 16, "float32"), point_name(64, 2048, 256, "float32")
    c = point_name(784, 512, 64, "float64")
    return {
        a: {"backprop": [{"rate": r, "gemm_rate": 4000.0} for r in (3000.0, 2000.0, 1000.0)],
            "torch": [{"rate": r} for r in (1000.0, 800.0, 1200.0)]},
        b: {"backprop": [{"rate": r, "gemm_rate": g} for r, g in ((4.0, 5.0), (5.0, 6.0), (3.0, 4.0))],
            "torch": [{"rate": 5.0}, {"rate": 6.0}, {"rate": 5.0}]},
        c: {"backprop": [{"rate": 100.0, "gemm_rate": 200.0}], "torch": [{"rate": 50.0}]},
        point_name(64, 32, 16, "float64"): {"backprop": [], "torch": []},  # not measured
    }  # fmt: skip


def test_stats_are_medians_and_the_gemm_share_is_gemm_time_over_step_time() -> None:
    s = sweep.stats(fake_raw())
    assert len(s) == 3
    a = s[point_name(784, 32, 16, "float32")]
    assert (a["ours"], a["torch"], a["ratio"]) == (2000.0, 1000.0, 2.0)
    assert a["share"] == pytest.approx(0.5)  # 1/4000 s of GEMMs in a 1/2000 s step
    assert a["torch_share"] == pytest.approx(0.25)
    b = s[point_name(64, 2048, 256, "float32")]
    assert b["ratio"] == pytest.approx(0.8)
    assert b["share"] == pytest.approx(4.0 / 5.0)  # the median of 4/5, 5/6 and 3/4


def test_the_gemm_share_pairs_each_process_gemms_with_its_own_steps() -> None:
    # Three rounds under changing load: in each process the products take 80% of the step but
    # in the last one. Taking the median GEMM time (1/1500 s, the last round's) against the
    # median step (1/2000 s, also the last round's, but a slower one) would give 133%.
    name = point_name(784, 512, 256, "float32")
    raw: sweep.Raw = {
        name: {
            "backprop": [{"rate": r, "gemm_rate": g}
                         for r, g in ((1000.0, 1250.0), (3000.0, 3750.0), (2000.0, 1500.0))],
            "torch": [{"rate": 2000.0}],
        }
    }  # fmt: skip
    assert sweep.stats(raw)[name]["share"] == pytest.approx(0.8)


def test_the_summary_names_every_point_behind_pytorch() -> None:
    s = sweep.stats(fake_raw())
    f32 = sweep.summary(s, "float32")
    assert f32 is not None
    assert f32["gmean"] == pytest.approx(math.sqrt(2.0 * 0.8))
    assert f32["worst"] == f32["behind"][0] == point_name(64, 2048, 256, "float32")
    lines = sweep.verdict_lines(s)
    assert len(lines) == 2
    assert lines[0] == (
        "- **float32** (2 points): geometric mean of backprop / PyTorch **1.26×** (goal ≥ 1.3×: "
        "NOT met); the slowest relative to PyTorch: 64-2048-2048-10, batch 256, float32 at "
        "0.80×. PyTorch is faster at 1: 64-2048-2048-10, batch 256, float32 (0.80×). "
        "(Goal ≥ 1× at every point: NOT met.)"
    )
    assert lines[1] == (
        "- **float64** (1 points): geometric mean of backprop / PyTorch **2.00×**; the slowest "
        "relative to PyTorch: 784-512-512-10, batch 64, float64 at 2.00×. backprop is at least "
        "as fast as PyTorch at every point."
    )
    assert sweep.summary({}, "float32") is None


def test_the_tables_have_a_row_per_width_and_batch() -> None:
    s = sweep.stats(fake_raw())
    grid = sweep.grid_table(s)
    assert len(grid) == 2 + 12
    assert grid[0] == (
        "| width | batch | 784-w-w-10 float32 | 784-w-w-10 float64 | 64-w-w-10 float32 "
        "| 64-w-w-10 float64 |"
    )
    assert grid[2] == "| 32 | 16 | **2.00×** (50%) | — | — | — |"
    assert grid[-1] == "| 2048 | 256 | — | — | **0.80×** (80%) | — |"
    detail = sweep.detail_table(s, 784, "float32")
    assert detail[2:] == ["| 32 | 16 | 2,000 steps/s | 1,000 steps/s | **2.00×** | 50% | 25% |"]
    text = sweep.report(s, {}, MACHINE, 3, 0.3, 180.0, "1.00, 1.00, 1.00")
    assert "3 alternating rounds, ~0.3 s timed per point and process, 3.0 min in all" in text
    assert text.count("| width | batch |") == 5


def test_the_readme_summary_replaces_only_what_lies_between_the_markers() -> None:
    block = sweep.readme_block(sweep.stats(fake_raw()), MACHINE, 3)
    assert block.startswith("![backprop / PyTorch")
    assert "PyTorch is faster at 1: 64-2048-2048-10, batch 256, float32 (0.80×)" in block
    text = f"# head\n\n{sweep.MARK_START}\nold\n{sweep.MARK_END}\n\n## tail\n"
    new = sweep.refresh(text, block)
    assert new == f"# head\n\n{sweep.MARK_START}\n{block}\n{sweep.MARK_END}\n\n## tail\n"
    assert sweep.refresh(new, block) == new
    assert sweep.refresh("no markers", block) == "no markers"
    readme = (ROOT / "README.md").read_text()
    assert readme.count(sweep.MARK_START) == readme.count(sweep.MARK_END) == 1


def test_the_heatmap_is_drawn_for_a_partial_sweep(tmp_path: Path) -> None:
    from benchmarks.sweep_figure import draw

    path = tmp_path / "sweep.png"
    draw(sweep.stats(fake_raw()), path, "made-up numbers")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"expected \.png"):
        draw({}, tmp_path / "sweep.svg", "")
