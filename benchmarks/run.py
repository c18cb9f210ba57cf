"""The speed suite: ``make bench`` (or ``python -m benchmarks.run``).

Every measurement runs in its own fresh process (``benchmarks.worker``), and the libraries
alternate, round after round: backprop, PyTorch, then the others, with the order reversed every
other round, so that a slow spell of the machine hits both. The table reports medians over the
rounds. Writes benchmarks/results.md and refreshes the table the README quotes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .bn_cases import BN_CASES
from .cases import CASES, Case
from .conv_cases import CONV_CASES, ConvCase

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.md"
README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"
# The machine's load before the suite starts: other work running at the same time makes every
# number noisier, PyTorch's OpenMP threads most of all, so the results say what it was.
LOAD_BEFORE = os.getloadavg()
STARTED = datetime.datetime.now(datetime.UTC)
TARGETS = {"slp": 10.0, "mlp32": 3.0, "mlp256": 1.3, "large": 1.0, "ninja": 3.0}
PEAK_TARGET = 0.85
NAMES = {"backprop": "backprop", "torch": "PyTorch", "sklearn": "scikit-learn",
         "post": "the post's NumPy loop", "gemm": "NumPy GEMM"}  # fmt: skip
# OpenBLAS tuning variables that this machine's environment may set; they slow the current
# NumPy's OpenBLAS, so the workers run without them (tests and CI keep the environment as is).
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_env(lib: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["PYTHONPATH"] = str(ROOT)
    if lib == "torch":
        # NumPy only makes the data in the PyTorch worker: its OpenBLAS gets one thread, so no
        # idle OpenBLAS thread can spin next to PyTorch's.
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def measure(case: str, lib: str, seconds: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", case, lib, "--seconds", str(seconds)],
        capture_output=True, text=True, env=worker_env(lib), cwd=ROOT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"benchmarks: {case}/{lib} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout))


def timed_command(argv: list[str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one run of a command, output discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=worker_env("startup"), cwd=ROOT)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmarks: {' '.join(argv)} exited with {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024


def post_program(directory: Path) -> Path:
    """The post's program, taken from docs/original-post.md as tests/test_slp.py takes it."""
    code = (ROOT / "docs" / "original-post.md").read_text().split("## Code", 1)[1]
    lines = [line[4:] for line in code.splitlines() if line.startswith("    ") or not line.strip()]
    path = directory / "post.py"
    path.write_text("\n".join(lines))
    return path


def startup(rounds: int) -> list[tuple[str, float, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        return startup_in(rounds, Path(tmp))


def startup_in(rounds: int, tmp: Path) -> list[tuple[str, float, int]]:
    bindir = Path(sys.executable).parent
    backprop = [str(bindir / "backprop")] if (bindir / "backprop").exists() else [
        sys.executable, "-m", "backprop"]  # fmt: skip
    py = sys.executable
    commands = [
        ("python -c 'import numpy'", [py, "-c", "import numpy"]),
        ("python -c 'import backprop'", [py, "-c", "import backprop"]),
        ("python -c 'import torch'", [py, "-c", "import torch"]),
        ("backprop --help", [*backprop, "--help"]),
        ("backprop slp (1000 iterations, printed)", [*backprop, "slp"]),
        ("the post's program (the same printout)", [py, str(post_program(tmp))]),
    ]
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name, _ in commands}
    for r in range(rounds):
        for name, argv in commands if r % 2 == 0 else commands[::-1]:
            samples[name].append(timed_command(argv))
    return [
        (name, statistics.median(t for t, _ in s), int(statistics.median(m for _, m in s)))
        for name, s in samples.items()
    ]


def memory() -> list[dict[str, Any]]:
    out = []
    for opt in ("sgd", "adam"):
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", opt], capture_output=True, text=True,
            env=worker_env("backprop"), cwd=ROOT, check=True,
        )  # fmt: skip
        out.append(json.loads(result.stdout))
    return out


def conv_memory() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.conv_memory"], capture_output=True, text=True,
        env=worker_env("backprop"), cwd=ROOT, check=True,
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def conv_table(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """The convolution cases: steps/s of both libraries, and the conv GEMMs' share of the peak."""
    rows = [
        "| case | backprop | PyTorch | backprop / PyTorch | target | conv GEMMs in backprop's step |",
        "|---|---|---|---|---|---|",
    ]
    for name, libs in raw.items():
        if name not in CONV_CASES:
            continue
        case: ConvCase = CONV_CASES[name]
        ours, torch = (
            statistics.median(r["rate"] for r in libs[lib]) for lib in ("backprop", "torch")
        )
        ratio = ours / torch
        verdict = f"≥ {case.target:g}× {'met' if ratio >= case.target else 'NOT met'}"
        g = libs["gemm"]
        peak = statistics.median(r["peak_gflops"] for r in g)
        conv = statistics.median(r["conv_gemm_gflops"] for r in g)
        of_peak = statistics.median(r["conv_gemm_share_of_peak"] for r in g)
        share = statistics.median(r["conv_gemm_time_share"] for r in g)
        also = (
            f"{conv:.1f} GFLOP/s = **{of_peak:.0%} of the GEMM peak** ({peak:.0f} GFLOP/s, "
            f"1024³ {case.dtype}, same process, measured in turn with the steps)"
            f"{' (≥ 70% met)' if of_peak >= 0.7 else ''}"
            f"{' (≥ 70% NOT met)' if name == 'mnist_cnn' and of_peak < 0.7 else ''}; "
            f"{share:.0%} of the step's time"
        )
        rows.append(
            f"| {case.title} | {fmt_rate(ours)} steps/s | {fmt_rate(torch)} steps/s | "
            f"**{ratio:.2f}×** | {verdict} | {also} |"
        )
    return rows


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def describe(case: Case, lib: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median samples/s and steps/s (or seconds per run) of one library on one case."""
    samples_per_s = statistics.median(r["rate"] * r["samples_per_unit"] for r in runs)
    out = {"samples": samples_per_s, "steps": samples_per_s / case.batch}
    if case.epochs:
        out["seconds"] = statistics.median(1 / r["rate"] for r in runs)
        out["accuracy"] = statistics.median(r["result"] for r in runs)
    return out


def machine() -> dict[str, str]:
    import numpy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"numpy": numpy.__version__}
    for mod in ("torch", "sklearn"):
        result = subprocess.run([sys.executable, "-c", f"import {mod}; print({mod}.__version__)"],
                                capture_output=True, text=True, check=False)  # fmt: skip
        versions[mod] = result.stdout.strip() or "not installed"
    return {
        "load": ", ".join(f"{x:.2f}" for x in LOAD_BEFORE),
        "date": STARTED.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "env": ", ".join(f"{k}={os.environ[k]!r}" for k in UNSET if k in os.environ)
        or "neither set",
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="alternations per case (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per process")
    every = list(CASES) + list(CONV_CASES) + list(BN_CASES)
    parser.add_argument("--cases", nargs="+", choices=sorted(every), default=every)
    parser.add_argument(
        "--no-write", action="store_true", help="print only; write neither results.md nor README"
    )
    args = parser.parse_args()

    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started = time.perf_counter()
    for name in args.cases:
        case = CASES[name] if name in CASES else CONV_CASES.get(name) or BN_CASES[name]
        raw[name] = {lib: [] for lib in case.libs}
        for r in range(args.rounds):
            for lib in case.libs if r % 2 == 0 else case.libs[::-1]:
                raw[name][lib].append(measure(name, lib, args.seconds))
            print(f"  {name}: round {r + 1}/{args.rounds}", file=sys.stderr)
    start_rows = startup(args.rounds)
    mem_rows = memory()
    conv_mem = conv_memory() if "mnist_cnn" in raw else None
    bn_mem = bn_memory() if "mlp_bn" in raw else None
    text = report(raw, start_rows, mem_rows, args, time.perf_counter() - started, conv_mem, bn_mem)
    print(text)
    if args.no_write or set(args.cases) != set(every):
        print("benchmarks: not written (--no-write, or only some cases run)", file=sys.stderr)
    else:
        write_atomic(RESULTS, text)
        refresh_readme(raw)
    return 0


def cell(case: Case, x: dict[str, float]) -> str:
    if case.epochs:
        return (
            f"{x['seconds']:.2f} s, {fmt_rate(x['samples'])} samples/s, "
            f"accuracy {x['accuracy']:.3f}"
        )
    return f"{fmt_rate(x['steps'])} steps/s ({fmt_rate(x['samples'])} samples/s)"


def pool_summary(pools: list[dict[str, Any]]) -> str:
    parts = []
    for p in pools:
        words = [p.get("internal_api"), p.get("version"), p.get("architecture")]
        parts.append(" ".join(str(w) for w in words if w) + f" {p['num_threads']} threads")
    return ", ".join(parts)


def speed_table(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    rows = [
        "| case | backprop | PyTorch | backprop / PyTorch | target | also measured |",
        "|---|---|---|---|---|---|",
    ]
    for name, libs in raw.items():
        if name not in CASES:
            continue
        case = CASES[name]
        d = {lib: describe(case, lib, runs) for lib, runs in libs.items() if lib != "gemm"}
        ours, torch = d["backprop"], d["torch"]
        if case.epochs:
            ratio = torch["seconds"] / ours["seconds"]
        else:
            ratio = ours["steps"] / torch["steps"]
        target = TARGETS.get(name)
        verdict = (
            "" if target is None else f"≥ {target:g}× {'met' if ratio >= target else 'NOT met'}"
        )
        also = []
        for lib in libs:
            if lib in ("sklearn", "post"):
                also.append(f"{NAMES[lib]}: {cell(case, d[lib])}")
            elif lib == "gemm":
                peak = statistics.median(r["peak_gflops"] for r in libs["gemm"])
                only = statistics.median(r["step_gemm_gflops"] for r in libs["gemm"])
                ours_gf = ours["steps"] * case.gemm_flops() / 1e9
                torch_gf = torch["steps"] * case.gemm_flops() / 1e9
                w = max(case.sizes[1:-1])
                also.append(
                    f"GEMM peak ({case.batch}×{w} · {w}×{w}, {case.dtype}) {peak:.0f} GFLOP/s; "
                    f"backprop {ours_gf:.0f} GFLOP/s = **{ours_gf / peak:.0%} of peak** "
                    f"(≥ {PEAK_TARGET:.0%} {'met' if ours_gf / peak >= PEAK_TARGET else 'NOT met'}), "
                    f"PyTorch {torch_gf / peak:.0%}; the step's GEMMs alone {only:.0f} GFLOP/s"
                )
        rows.append(
            f"| {case.title} | {cell(case, ours)} | {cell(case, torch)} | **{ratio:.2f}×** | {verdict} | "
            f"{'; '.join(also)} |"
        )
    return rows


def report(
    raw: Any,
    start_rows: Any,
    mem_rows: Any,
    args: Any,
    elapsed: float,
    conv_mem: dict[str, Any] | None = None,
    bn_mem: dict[str, Any] | None = None,
) -> str:
    m = machine()
    pools: dict[str, list[dict[str, Any]]] = {}
    for libs in raw.values():
        for lib, runs in libs.items():
            pools.setdefault(lib, runs[0]["threadpools"])
            if lib == "torch":
                pools["torch (intra-op threads)"] = [{"num_threads": runs[0]["torch_threads"]}]
    lines = [
        "# Speed: backprop against PyTorch on the CPU",
        "",
        f"Measured {m['date']} by `make bench` ({args.rounds} alternating rounds, "
        f"~{args.seconds:g} s timed per process, {elapsed / 60:.1f} min in all).",
        "",
        f"- Machine: {m['cpu']}; Python {m['python']}; {m['versions']}.",
        f"- Load average (1, 5, 15 min) before the run: {m['load']}; after: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + f" (on {os.cpu_count()} cores; above 0.1 or so, other work was running and the "
        "numbers are noisier).",
        f"- Environment: {', '.join(UNSET)} are removed from the workers' environment "
        f"(in this shell: {m['env']}); thread counts are the libraries' defaults.",
        "- Thread pools seen by the workers (threadpoolctl): "
        + "; ".join(f"{lib}: {pool_summary(ps)}" for lib, ps in pools.items()),
        "",
        *speed_table(raw),
        "",
        "## Convolutions (one SGD step, cross-entropy, standard-normal images)",
        "",
        *conv_table(raw),
        "",
        *conv_memory_lines(conv_mem),
        "## BatchNorm (one SGD step, cross-entropy, standard-normal inputs, training mode)",
        "",
        *bn_table(raw),
        "",
        *bn_memory_lines(bn_mem),
        "## Start-up (median wall time of a fresh process, and its peak RSS)",
        "",
        "| command | time | peak RSS |",
        "|---|---|---|",
        *[
            f"| `{name}` | {t * 1e3:.0f} ms | {rss / 2**20:.0f} MiB |"
            for name, t, rss in start_rows
        ],
        "",
        "## Memory of a training run (784-1024-1024-10, batch 512, float32, 10 steps)",
        "",
        "| optimizer | needed: parameters + gradients + optimizer state + cached activations "
        "| held after building the model | peak during the steps (tracemalloc) | peak / needed |",
        "|---|---|---|---|---|",
        *[
            f"| {r['optimizer']} | {r['need_bytes'] / 2**20:.1f} MiB | "
            f"{r['built_bytes'] / 2**20:.1f} MiB | "
            f"{r['peak_bytes'] / 2**20:.1f} MiB | {r['peak_bytes'] / r['need_bytes']:.2f}× |"
            for r in mem_rows
        ],
        "",
        "## How it is measured",
        "",
        *METHOD,
    ]
    return "\n".join(lines) + "\n"


def bn_memory() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bn_memory"], capture_output=True, text=True,
        env=worker_env("backprop"), cwd=ROOT, check=True,
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def bn_table(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """The BatchNorm cases: steps/s of both libraries and their ratio against the target."""
    rows = [
        "| case | backprop | PyTorch | backprop / PyTorch | target |",
        "|---|---|---|---|---|",
    ]
    for name, case in BN_CASES.items():
        if name not in raw:
            continue
        ours = statistics.median(r["rate"] for r in raw[name]["backprop"])
        theirs = statistics.median(r["rate"] for r in raw[name]["torch"])
        ratio = ours / theirs
        verdict = "met" if ratio >= case.target else "NOT met"
        rows.append(
            f"| {case.title} | {ours:.1f} steps/s | {theirs:.1f} steps/s | **{ratio:.2f}×** "
            f"| ≥ {case.target:.1f}× ({verdict}) |"
        )
    return rows


def bn_memory_lines(m: dict[str, Any] | None) -> list[str]:
    if m is None:
        return []
    ratio = m["peak_bytes"] / m["need_bytes"]
    return [
        f"Memory of the BatchNorm MLP's step in backprop (batch 256, float32; "
        f"`python -m benchmarks.bn_memory`): peak {m['peak_bytes'] / 2**20:.1f} MiB during the "
        f"steps (tracemalloc), against {m['need_bytes'] / 2**20:.1f} MiB needed (parameters, "
        f"gradients, every layer's output, each BatchNorm's x̂, the softmax probabilities): "
        f"**{ratio:.2f}×** (target ≤ 1.3×, {'met' if ratio <= 1.3 else 'NOT met'}).",
        "",
    ]


def conv_memory_lines(m: dict[str, Any] | None) -> list[str]:
    if m is None:
        return []
    return [
        f"Memory of PyTorch's MNIST example step in backprop (batch 64, float32; "
        f"`python -m benchmarks.conv_memory`): peak {m['peak_bytes'] / 2**20:.1f} MiB during "
        f"the steps (tracemalloc), against {m['need_bytes'] / 2**20:.1f} MiB needed "
        f"(parameters, gradients, every layer's output and the softmax probabilities): "
        f"**{m['peak_bytes'] / m['need_bytes']:.2f}×**. The second convolution's patch matrix "
        "X̂ (N·24·24 rows of 32·3·3, 40.5 MiB, 9× its input) is never held whole: both passes "
        "build it a block of images at a time (about 2 MiB) into one work array, the backward "
        "pass again for dL/dW, and dL/dX̂ is made a block at a time too (docs/conv.md, "
        "section 2). The excess is the layers' work arrays and the dL/dx arrays of the "
        "backward pass.",
        "",
    ]


METHOD = [
    "- Each number comes from a fresh process that imports only the library it measures "
    "(`python -m benchmarks.worker CASE LIB`); the processes alternate (backprop, PyTorch, the "
    "others; reversed every other round) and the table gives the median over the rounds. "
    "Inside a process the work is warmed up, then timed in 5 blocks (3 whole runs for the digits case) with `time.perf_counter`; "
    "the process reports its median block.",
    "- The same network, initial weights, data, dtype, batch, loss and optimizer for every "
    "library (`benchmarks/cases.py`). A step is: forward, loss (a Python float: PyTorch's "
    "`loss.item()` is included), `zero_grad`, backward (neither library computes dL/dx of "
    "the network's input), optimizer step. Step cases cycle through 4096 samples in contiguous "
    "batches (the SLP case: the post's one sample).",
    "- The SLP case uses the post's loss (squared errors summed per sample, batch mean) and "
    "plain SGD, lr 0.001, float64. The MLP cases use cross-entropy and plain SGD.",
    "- scikit-learn's `MLPClassifier` (same layers, solver, batch and learning rate, "
    "`alpha=0`) has no single-step API: its step cases time one epoch of `partial_fit`, its "
    "training run a whole `fit`; its steps/s are samples/s divided by the batch.",
    "- The digits run: `sklearn.datasets.load_digits` scaled to [0, 1], a fixed 80/20 split, "
    "a fresh network, then 10 epochs of shuffled batches of 32 with Adam (lr 0.001): backprop "
    "with its own `backprop.fit` (which evaluates the test split after every epoch), PyTorch "
    "with the same loop written out (a shuffled copy of the data per epoch, batches sliced "
    "from it, the loss kept as a float, the test loss and accuracy after every epoch), "
    "scikit-learn with `fit`. The time covers building the network, training and evaluation, "
    "not the imports or loading the data; the accuracy is on the test split.",
    "- GEMM FLOPs of a step: 2·N·in·out for each layer's forward product and its dL/dW, and for "
    "dL/dx of every layer but the first. The GEMM peak is NumPy's rate for one product of the "
    "relevant size (the batch times the widest layer) into a preallocated output, measured in "
    "its own process in the same run; 'the step's GEMMs alone' times exactly the products of "
    "one step, back to back, with nothing else.",
    "- In the PyTorch workers NumPy only makes the data, and gets `OPENBLAS_NUM_THREADS=1`, so "
    "that no idle OpenBLAS thread spins next to PyTorch's threads.",
    "- Convolution cases (`benchmarks/conv_cases.py`): the same weights for both libraries, "
    "SGD lr 0.01, 8 batches of standard-normal images cycled through. The GEMM worker wraps "
    "`backprop.nn.conv.gemm` with a timer inside real training steps (FLOPs counted from each "
    "product's shapes, the column of ones that carries the bias included) and measures NumPy's "
    "1024×1024·1024×1024 GEMM in the same process, in five alternating pairs of blocks (steps, "
    "then the best of a few 1024³ products): the conv GEMMs' share of the peak is the median of "
    "the pairs' ratios (then the median over the processes), so that a slow spell of the machine "
    "lowers both sides of a ratio; their time is given as a share of the step's.",
    "- Start-up: each command run as a fresh process with its output discarded, alternating, "
    "median over the rounds; peak RSS from `wait4`.",
    "- Memory: `python -m benchmarks.memory`, a fresh process; tracemalloc follows every NumPy "
    "allocation from the model's construction through ten steps on one batch (the batch "
    "excluded); the peak is that of the steps. 'Needed' is counted from the shapes, "
    "independently of the library: what a step cannot do without (the cached activations are "
    "each hidden layer's output and the softmax probabilities).",
]


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def refresh_readme(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """Replace the table between the README's bench markers, if it has them."""
    text = README.read_text()
    if MARK_START not in text or MARK_END not in text:
        return
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    m = machine()
    table = "\n".join([*speed_table(raw), "", *conv_table(raw), "", *bn_table(raw)])
    note = (
        f"Measured {m['date']} on {m['cpu']} ({m['versions']}; load average before the run "
        f"{m['load']}); [benchmarks/results.md](benchmarks/results.md) has the details."
    )
    write_atomic(README, f"{head}{MARK_START}\n{note}\n\n{table}\n{MARK_END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
