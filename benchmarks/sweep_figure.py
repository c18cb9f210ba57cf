"""The sweep's heatmap (docs/figures/speed-sweep.png): backprop / PyTorch at every point.

One panel per input size and dtype, widths across, batches down; each cell gives the ratio of
steps per second and the share of backprop's step spent in its matrix products. The colour is
log₂ of the ratio on a diverging scale centred at 1.0×, the same for every panel and run: blue where
backprop is faster, red where PyTorch is, and every cell below 1.0× is outlined as well, since
a cell at 0.97× is nearly white. matplotlib is imported here only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .sweep import Stats, summary
from .sweep_cases import BATCHES, DTYPES, INPUTS, SWEEP, WIDTHS, point_name

# The colour scale: log₂ of the ratio from -2 to 2 (0.25× to 4×), the same in every run so that
# two pictures compare; a ratio beyond it takes the end colour (its number is still written).
LIMIT = 2


def grid(s: Stats, in_dim: int, dtype: str, key: str) -> np.ndarray:
    """(batches, widths) of ``key``, NaN where the point was not measured."""
    return np.array([
        [s.get(point_name(in_dim, w, b, dtype), {}).get(key, np.nan) for w in WIDTHS]
        for b in BATCHES
    ])  # fmt: skip


def draw(s: Stats, path: str | Path, caption: str) -> None:
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from backprop.files import atomic_write, check_suffix

    check_suffix(path, [".png"])
    cmap = mpl.colormaps["RdBu"].with_extremes(bad="#dddddd")
    fig = Figure(figsize=(11, 7.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(INPUTS), len(DTYPES), squeeze=False)
    image = None
    for row, in_dim in enumerate(INPUTS):
        for col, dtype in enumerate(DTYPES):
            ax = axes[row][col]
            ratio, share = grid(s, in_dim, dtype, "ratio"), grid(s, in_dim, dtype, "share")
            image = ax.imshow(np.log2(ratio), cmap=cmap, vmin=-LIMIT, vmax=LIMIT, aspect="auto")
            for i, j in np.ndindex(ratio.shape):
                if np.isnan(ratio[i, j]):
                    ax.text(j, i, "not run", ha="center", va="center", fontsize=9, color="#555")
                    continue
                dark = abs(math.log2(ratio[i, j])) > 0.6 * LIMIT
                if ratio[i, j] < 1.0:  # outlined, so that PyTorch's points show even near 1.0×
                    ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False,
                                           edgecolor="#111111", linewidth=2.2))  # fmt: skip
                ax.text(j, i, f"{ratio[i, j]:.2f}×\nGEMM {share[i, j]:.0%}", ha="center",
                        va="center", fontsize=9.5, color="white" if dark else "black")  # fmt: skip
            ax.set_xticks(range(len(WIDTHS)), [str(w) for w in WIDTHS])
            ax.set_yticks(range(len(BATCHES)), [str(b) for b in BATCHES])
            ax.set_xlabel("width w")
            ax.set_ylabel("batch")
            mean = summary({k: v for k, v in s.items() if SWEEP[k].sizes[0] == in_dim}, dtype)
            ax.set_title(
                f"{in_dim}-w-w-10 ReLU, {dtype}"
                + (f"   (geometric mean {mean['gmean']:.2f}×)" if mean else ""),
                fontsize=10.5,
            )
    assert image is not None
    ticks = list(range(-LIMIT, LIMIT + 1))
    bar = fig.colorbar(image, ax=axes, shrink=0.8, ticks=ticks, extend="both")
    bar.ax.set_yticklabels([f"{2.0**t:g}×" for t in ticks])
    bar.set_label(
        "backprop / PyTorch, steps per second (blue: backprop faster; red, outlined: PyTorch)"
    )
    fig.suptitle(
        "One SGD step, backprop against PyTorch on the CPU; GEMM: the share of backprop's step "
        "spent in its matrix products",
        fontsize=11,
    )
    fig.supxlabel(caption, fontsize=8, color="#555", x=0.01, ha="left")
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
