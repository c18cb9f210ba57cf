"""One measurement in this process: ``python -m benchmarks.worker CASE LIB`` prints one JSON line.

LIB is backprop, torch, sklearn, post (the post's own NumPy loop) or gemm (the GEMM peak). CASE
``sweep`` with ``--points NAME...`` measures several points of the width × batch sweep
(``benchmarks/sweep_cases.py``) one after the other in this one process. The
unit of work (a step, an epoch, a training run) is warmed up, then repeated for about
``--seconds`` in ``--repeats`` timed blocks; the median block rate is reported. Timing uses
``time.perf_counter`` (wall clock), since the libraries may use several threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from . import bn_cases, conv_cases, sweep_cases
from .cases import CASES, Work, build_backprop, build_post, build_sklearn, build_torch, gemm_buffers


def rate(work: Work, seconds: float, repeats: int) -> tuple[float, object]:
    """Units of work per second: the median over ``repeats`` blocks of about ``seconds`` each."""
    t0 = time.perf_counter()
    result = work()
    once = time.perf_counter() - t0
    # warm up for a tenth of the time (caches, allocator, BLAS threads); the first call above
    # is warm-up enough for a unit that itself takes that long (a whole training run)
    deadline = time.perf_counter() + seconds / 10
    while time.perf_counter() < deadline:
        result = work()
    per_block = max(1, int(seconds / repeats / max(once, 1e-7)))
    rates = []
    for _ in range(repeats):
        k, t0 = 0, time.perf_counter()
        while True:
            work()
            k += 1
            elapsed = time.perf_counter() - t0
            if k >= per_block and elapsed >= seconds / repeats / 2:
                break
        rates.append(k / elapsed)
    return statistics.median(rates), result


def threadpools() -> list[dict[str, object]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "prefix", "version", "num_threads", "architecture")
    return [{k: info.get(k) for k in keys if k in info} for info in threadpool_info()]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument(
        "case",
        choices=sorted(CASES)
        + sorted(conv_cases.CONV_CASES)
        + sorted(bn_cases.BN_CASES)
        + ["sweep"],
    )
    parser.add_argument("lib", choices=["backprop", "torch", "sklearn", "post", "gemm"])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", nargs="+", default=[], help="the sweep's points (case sweep)")
    args = parser.parse_args()
    if args.case == "sweep":
        unknown = sorted(set(args.points) - set(sweep_cases.SWEEP))
        if not args.points or unknown or args.lib not in sweep_cases.LIBS:
            parser.error(f"sweep needs --points from benchmarks/sweep_cases.py and LIB backprop "
                         f"or torch (unknown points: {', '.join(unknown) or 'none'})")  # fmt: skip
        return sweep_main(args)
    if args.case in conv_cases.CONV_CASES:
        return conv_main(args)
    if args.case in bn_cases.BN_CASES:
        return bn_main(args)
    case = CASES[args.case]
    out: dict[str, object] = {"case": case.name, "lib": args.lib}
    if args.lib == "gemm":
        peak, step_gemms = gemm_buffers(case)
        widest = max(case.sizes[1:-1])
        out["peak_gflops"] = (
            rate(peak, args.seconds, args.repeats)[0] * 2 * case.batch * widest**2 / 1e9
        )
        out["step_gemm_gflops"] = (
            rate(step_gemms, args.seconds, args.repeats)[0] * case.gemm_flops() / 1e9
        )
    else:
        build = {"backprop": build_backprop, "torch": build_torch, "sklearn": build_sklearn,
                 "post": build_post}[args.lib]  # fmt: skip
        work, samples = build(case)
        repeats = 3 if case.epochs else args.repeats  # a whole run is long enough to time alone
        per_second, result = rate(work, args.seconds, repeats)
        out.update(rate=per_second, samples_per_unit=samples, result=result)
        if args.lib == "torch":
            import torch

            out["torch_threads"] = torch.get_num_threads()
    out["threadpools"] = threadpools()
    print(json.dumps(out))
    return 0


def conv_main(args: argparse.Namespace) -> int:
    """A convolution case: a training step's rate (backprop, torch), or (gemm) the conv GEMMs'
    rate inside backprop's steps and the GEMM peak, measured in one process."""
    case = conv_cases.CONV_CASES[args.case]
    out: dict[str, object] = {"case": case.name, "lib": args.lib}
    if args.lib == "gemm":
        out.update(conv_cases.conv_gemm_share(case, args.seconds))
    elif args.lib in ("backprop", "torch"):
        build = conv_cases.build_backprop if args.lib == "backprop" else conv_cases.build_torch
        work, samples = build(case)
        per_second, result = rate(work, args.seconds, args.repeats)
        out.update(rate=per_second, samples_per_unit=samples, result=result)
        if args.lib == "torch":
            import torch

            out["torch_threads"] = torch.get_num_threads()
    else:
        raise SystemExit(f"benchmarks: {case.name} is measured for backprop, torch and gemm")
    out["threadpools"] = threadpools()
    print(json.dumps(out))
    return 0


def sweep_main(args: argparse.Namespace) -> int:
    """Points of the sweep, one after the other: each built, warmed up and timed alone. In the
    backprop process each point's GEMMs are then timed alone, back to back with the step's
    shapes (``gemm_buffers``), so the step's GEMM share comes from the same process."""
    points: dict[str, dict[str, float]] = {}
    for name in args.points:
        case = sweep_cases.SWEEP[name]
        work, _ = (build_backprop if args.lib == "backprop" else build_torch)(case)
        per_second, loss = rate(work, args.seconds, args.repeats)
        points[name] = {"rate": per_second, "loss": float(loss)}  # type: ignore[arg-type]
        del work  # the next point's model and data replace this one's
        if args.lib == "backprop":
            _, step_gemms = gemm_buffers(case)
            points[name]["gemm_rate"] = rate(step_gemms, args.seconds / 2, args.repeats)[0]
    out: dict[str, object] = {"case": "sweep", "lib": args.lib, "points": points}
    if args.lib == "torch":
        import torch

        out["torch_threads"] = torch.get_num_threads()
    out["threadpools"] = threadpools()
    print(json.dumps(out))
    return 0


def bn_main(args: argparse.Namespace) -> int:
    """The BatchNorm case: a training step's rate, for backprop or torch."""
    case = bn_cases.BN_CASES[args.case]
    if args.lib not in ("backprop", "torch"):
        raise SystemExit(f"benchmarks: {case.name} is measured for backprop and torch")
    build = bn_cases.build_backprop if args.lib == "backprop" else bn_cases.build_torch
    work, samples = build(case)
    per_second, result = rate(work, args.seconds, args.repeats)
    out: dict[str, object] = {"case": case.name, "lib": args.lib, "rate": per_second,
                              "samples_per_unit": samples, "result": result}  # fmt: skip
    if args.lib == "torch":
        import torch

        out["torch_threads"] = torch.get_num_threads()
    out["threadpools"] = threadpools()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
