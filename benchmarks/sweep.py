"""The width × batch sweep against PyTorch: ``python -m benchmarks.sweep`` (``make bench`` runs it).

ReLU MLPs 784-w-w-10 and 64-w-w-10, widths 32, 128, 512, 2048, batches 16, 64, 256, float32 and
float64 (``benchmarks/sweep_cases.py``): one SGD step's rate in backprop and in PyTorch at each of
the 48 points, and the share of backprop's step spent in its matrix products. Each library runs
in its own fresh process (``python -m benchmarks.worker sweep LIB --points ...``), one process per
library, round and group (an input size and a dtype: 12 points, each warmed up and timed alone);
the libraries alternate, in the reverse order every other round, and the numbers are medians over
the rounds. Writes benchmarks/sweep-results.md, the heatmap docs/figures/speed-sweep.png and the
summary between the README's sweep markers.

``--quick`` (one round, 0.1 s per point, one to two minutes) is for checking that it runs:
like ``--no-write`` it writes no results and no README, and draws the picture only where
``--figure PATH`` says. A full run (3 rounds of ~0.3 s per point and process) should take about
4 minutes on a quiet 2-core machine; on a loaded one, far longer (one round took 3 minutes at a
load average of 2 to 3.7, since two-thread BLAS and OpenMP slow down badly when a core is taken).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from .run import README, ROOT, fmt_rate, machine, pool_summary, worker_env
from .sweep_cases import BATCHES, DTYPES, GROUPS, INPUTS, LIBS, SWEEP, WIDTHS, point_name

RESULTS = ROOT / "benchmarks" / "sweep-results.md"
FIGURE = ROOT / "docs" / "figures" / "speed-sweep.png"
MARK_START, MARK_END = "<!-- sweep:start -->", "<!-- sweep:end -->"
GOAL_EVERY, GOAL_GMEAN = 1.0, 1.3  # float32: at least 1.0× at every point, 1.3× geometric mean
REPEATS = 3  # timed blocks per point and process; the process reports the median block

Raw = dict[str, dict[str, list[dict[str, float]]]]  # point → library → one sample per round
Stats = dict[str, dict[str, float]]  # point → ours, torch, ratio, share, torch_share


def measure_group(lib: str, names: list[str], seconds: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.worker", "sweep", lib, "--seconds", str(seconds),
            "--repeats", str(REPEATS), "--points", *names]  # fmt: skip
    result = subprocess.run(
        argv, capture_output=True, text=True, env=worker_env(lib), cwd=ROOT, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmarks.sweep: the {lib} worker failed:\n{result.stderr}")
    return dict(json.loads(result.stdout))


def sweep(rounds: int, seconds: float) -> tuple[Raw, dict[str, Any]]:
    """Every point of every group, ``rounds`` times; the libraries alternate group by group."""
    raw: Raw = {name: {lib: [] for lib in LIBS} for name in SWEEP}
    pools: dict[str, Any] = {}
    started = time.perf_counter()
    for r in range(rounds):
        groups = list(GROUPS.items()) if r % 2 == 0 else list(GROUPS.items())[::-1]
        for (in_dim, dtype), names in groups:
            for lib in LIBS if r % 2 == 0 else LIBS[::-1]:
                out = measure_group(lib, names, seconds)
                for name, point in out["points"].items():
                    raw[name][lib].append(point)
                pools.setdefault(lib, out["threadpools"])
                if lib == "torch":
                    pools.setdefault("torch (intra-op threads)", [
                        {"num_threads": out["torch_threads"]}])  # fmt: skip
            print(f"  sweep {in_dim}-w-w-10 {dtype}: round {r + 1}/{rounds} "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)  # fmt: skip
    return raw, pools


def stats(raw: Raw) -> Stats:
    """Medians over the rounds, per point: steps/s of each library, their ratio, and the GEMM
    time of a step as a share of each library's step. backprop's share is taken in each of its
    processes, where the products are timed right after the steps, then the median over the
    rounds (the median GEMM time and the median step may come from rounds run under different
    loads); PyTorch's divides the median GEMM time by PyTorch's median step."""
    out: Stats = {}
    for name, libs in raw.items():
        if not libs.get("backprop") or not libs.get("torch"):
            continue
        ours = statistics.median(p["rate"] for p in libs["backprop"])
        torch = statistics.median(p["rate"] for p in libs["torch"])
        gemm_s = statistics.median(1 / p["gemm_rate"] for p in libs["backprop"])
        share = statistics.median(p["rate"] / p["gemm_rate"] for p in libs["backprop"])
        out[name] = {"ours": ours, "torch": torch, "ratio": ours / torch,
                     "share": share, "torch_share": gemm_s * torch}  # fmt: skip
    return out


def short(name: str) -> str:
    """'784-512-512-10, batch 64, float32' for a point's name."""
    c = SWEEP[name]
    return f"{'-'.join(map(str, c.sizes))}, batch {c.batch}, {c.dtype}"


def summary(s: Stats, dtype: str) -> dict[str, Any] | None:
    """Geometric mean of ours/PyTorch over the measured points of a dtype, the worst point, and
    every point below 1.0× (worst first); None if no point of the dtype was measured."""
    names = [n for n in s if SWEEP[n].dtype == dtype]
    if not names:
        return None
    ratios = {n: s[n]["ratio"] for n in names}
    behind = sorted((n for n in names if ratios[n] < 1.0), key=ratios.__getitem__)
    worst = min(names, key=ratios.__getitem__)
    gmean = math.exp(statistics.fmean(math.log(r) for r in ratios.values()))
    return {"gmean": gmean, "worst": worst, "behind": behind, "count": len(names)}


def verdict_lines(s: Stats) -> list[str]:
    """One plain sentence per dtype: the geometric mean, the worst point, the points behind."""
    lines = []
    for dtype in DTYPES:
        sm = summary(s, dtype)
        if sm is None:
            continue
        text = f"**{dtype}** ({sm['count']} points): geometric mean of backprop / PyTorch **{sm['gmean']:.2f}×**"
        if dtype == "float32":
            met = "met" if sm["gmean"] >= GOAL_GMEAN else "NOT met"
            text += f" (goal ≥ {GOAL_GMEAN:g}×: {met})"
        w = sm["worst"]
        text += f"; the slowest relative to PyTorch: {short(w)} at {s[w]['ratio']:.2f}×. "
        if sm["behind"]:
            named = "; ".join(f"{short(n)} ({s[n]['ratio']:.2f}×)" for n in sm["behind"])
            text += f"PyTorch is faster at {len(sm['behind'])}: {named}."
        else:
            text += "backprop is at least as fast as PyTorch at every point."
        if dtype == "float32":
            met = "met" if not sm["behind"] else "NOT met"
            text += f" (Goal ≥ {GOAL_EVERY:g}× at every point: {met}.)"
        lines.append(f"- {text}")
    return lines


def cell(s: Stats, name: str) -> str:
    if name not in s:
        return "—"
    return f"**{s[name]['ratio']:.2f}×** ({s[name]['share']:.0%})"


def grid_table(s: Stats) -> list[str]:
    """backprop / PyTorch at every point, with backprop's GEMM share of the step in brackets."""
    panels = [(i, d) for i in INPUTS for d in DTYPES]
    rows = [
        "| width | batch | " + " | ".join(f"{i}-w-w-10 {d}" for i, d in panels) + " |",
        "|---|---|" + "---|" * len(panels),
    ]
    for w in WIDTHS:
        for b in BATCHES:
            cells = [cell(s, point_name(i, w, b, d)) for i, d in panels]
            rows.append(f"| {w} | {b} | " + " | ".join(cells) + " |")
    return rows


def detail_table(s: Stats, in_dim: int, dtype: str) -> list[str]:
    rows = [
        "| width | batch | backprop | PyTorch | backprop / PyTorch | GEMMs / backprop's step "
        "| GEMMs / PyTorch's step |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in WIDTHS:
        for b in BATCHES:
            name = point_name(in_dim, w, b, dtype)
            if name not in s:
                continue
            p = s[name]
            rows.append(
                f"| {w} | {b} | {fmt_rate(p['ours'])} steps/s | {fmt_rate(p['torch'])} steps/s "
                f"| **{p['ratio']:.2f}×** | {p['share']:.0%} | {p['torch_share']:.0%} |"
            )
    return rows


METHOD = [
    "- A step is what `benchmarks/cases.py` times for the other MLP cases, built by its "
    "`build_backprop` and `build_torch`: forward, cross-entropy (the loss as a Python float), "
    "`zero_grad`, backward, plain SGD (lr 0.01); ReLU MLPs in-w-w-10 in training mode, the same "
    "initial weights for both libraries, the batches cycling through 4096 standard-normal "
    "samples.",
    "- Each library runs in its own fresh process (`python -m benchmarks.worker sweep LIB "
    "--points ...`): one process per library, round and group (an input size and a dtype, 12 "
    "points). In it each point is built, warmed up for a tenth of its time, then timed in "
    f"{REPEATS} blocks with `time.perf_counter`; the process reports the median block. The "
    "libraries alternate group by group, and every other round both the groups and the "
    "libraries run in the reverse order; the tables give the medians over the rounds, and the "
    "ratio is the ratio of the two medians.",
    "- The GEMM share: in the same backprop process, right after a point's steps are timed, "
    "exactly the matrix products of one step are timed alone, back to back, with the step's "
    "shapes and dtype and preallocated outputs (`gemm_buffers` in `benchmarks/cases.py`): "
    "x·W for every layer, xᵀ·dL/dy for every layer's dL/dW, dL/dy·Wᵀ for every layer but the "
    "first (whose dL/dx neither library computes). 'GEMMs / backprop's step' is that time "
    "divided by the same process's step time, the median over the rounds: what is left is the "
    "work outside the products (bias, ReLU, softmax, the SGD update, Python). 'GEMMs / "
    "PyTorch's step' divides the same NumPy GEMM time by PyTorch's step time; PyTorch calls "
    "its own BLAS, so this is a yardstick, not a measurement of PyTorch's own products. A share "
    "above 100% means that the steps and the products alone were timed under different loads "
    "(other work on the machine, which can change within seconds); the medians of more rounds, "
    "on a quiet machine, settle it.",
    "- In the PyTorch workers NumPy only makes the data, with `OPENBLAS_NUM_THREADS=1`; the "
    "OpenBLAS tuning variables of `benchmarks/run.py` are removed from every worker's "
    "environment; thread counts are otherwise the libraries' defaults.",
]


def report(s: Stats, pools: dict[str, Any], m: dict[str, str], rounds: int, seconds: float,
           elapsed: float, load_after: str) -> str:  # fmt: skip
    lines = [
        "# Speed sweep: backprop against PyTorch over widths × batches",
        "",
        f"Measured {m['date']} by `make bench` (`python -m benchmarks.sweep`: {rounds} "
        f"alternating rounds, ~{seconds:g} s timed per point and process, "
        f"{elapsed / 60:.1f} min in all). The picture: "
        "[docs/figures/speed-sweep.png](../docs/figures/speed-sweep.png).",
        "",
        f"- Machine: {m['cpu']}; Python {m['python']}; {m['versions']}.",
        f"- Load average (1, 5, 15 min) before the run: {m['load']}; after: {load_after} "
        f"(on {os.cpu_count()} cores; above 0.1 or so, other work was running and the numbers "
        "are noisier).",
        "- Thread pools seen by the workers (threadpoolctl): "
        + "; ".join(f"{lib}: {pool_summary(ps)}" for lib, ps in pools.items()),
        "",
        *verdict_lines(s),
        "",
        "## backprop / PyTorch at every point (the GEMMs' share of backprop's step)",
        "",
        *grid_table(s),
        "",
    ]
    for in_dim in INPUTS:
        for dtype in DTYPES:
            lines += [f"## {in_dim}-w-w-10, {dtype} (steps per second)", "",
                      *detail_table(s, in_dim, dtype), ""]  # fmt: skip
    lines += ["## How it is measured", "", *METHOD]
    return "\n".join(lines) + "\n"


def readme_block(s: Stats, m: dict[str, str], rounds: int) -> str:
    return "\n".join([
        "![backprop / PyTorch, steps per second, at every point of the sweep, with the share "
        "of backprop's step spent in matrix products](docs/figures/speed-sweep.png)",
        "",
        f"Measured {m['date']} on {m['cpu']} ({m['versions']}; load average before the run "
        f"{m['load']}; medians of {rounds} rounds); "
        "[benchmarks/sweep-results.md](benchmarks/sweep-results.md) has every point's steps per "
        "second.",
        "",
        *verdict_lines(s),
    ])  # fmt: skip


def refresh(text: str, block: str) -> str:
    """``text`` with what lies between the sweep markers replaced by ``block`` (unchanged if the
    markers are missing)."""
    if MARK_START not in text or MARK_END not in text:
        return text
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    return f"{head}{MARK_START}\n{block}\n{MARK_END}{tail}"


def write_text(path: Path, text: str) -> None:
    from backprop.files import atomic_write

    def write(f: BinaryIO) -> None:
        f.write(text.encode())

    atomic_write(path, write)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations (default 3)")
    parser.add_argument(
        "--seconds", type=float, default=0.3, help="timed seconds per point and process (0.3)"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="check that it runs: 1 round, 0.1 s per point; writes no results and no README",
    )  # fmt: skip
    parser.add_argument(
        "--no-write", action="store_true", help="print only: no results and no README"
    )
    parser.add_argument(
        "--figure", type=Path, metavar="PATH",
        help=f"draw the picture to PATH (a full run that writes draws it to "
        f"{FIGURE.relative_to(ROOT)}; with --quick or --no-write, only if this is given)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 0.1
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")
    write = not (args.quick or args.no_write)
    figure = args.figure or (FIGURE if write else None)
    if figure is not None:
        from backprop.files import check_suffix, check_writable

        try:  # before the minutes of measuring, not after
            check_suffix(figure, [".png"])
            check_writable(figure)
        except (ValueError, OSError) as e:
            parser.error(f"--figure: {e}")

    m = machine()
    started = time.perf_counter()
    raw, pools = sweep(args.rounds, args.seconds)
    elapsed = time.perf_counter() - started
    s = stats(raw)
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(s, pools, m, args.rounds, args.seconds, elapsed, load_after)
    print(json.dumps(s, indent=1) if args.json else text)
    print(f"benchmarks.sweep: {elapsed / 60:.1f} min", file=sys.stderr)
    if figure is not None:
        from .sweep_figure import draw

        note = " (--quick: not a measurement to quote)" if args.quick else ""
        draw(s, figure, f"{m['cpu']}, {m['date']}, {args.rounds} round(s){note}")
        print(f"benchmarks.sweep: wrote {figure}", file=sys.stderr)
    if not write:
        print("benchmarks.sweep: --quick or --no-write, so neither the results nor the README "
              "are written", file=sys.stderr)  # fmt: skip
        return 0
    write_text(RESULTS, text)
    write_text(README, refresh(README.read_text(), readme_block(s, m, args.rounds)))
    print(f"benchmarks.sweep: wrote {RESULTS.relative_to(ROOT)} and the README's summary",
          file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
