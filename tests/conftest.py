import sys
from pathlib import Path

from hypothesis import settings

# The random shapes are drawn from a fixed seed: every run, here and in CI, checks the same cases.
settings.register_profile("seeded", derandomize=True, database=None)
settings.load_profile("seeded")

sys.path.insert(0, str(Path(__file__).parent))

try:
    import torch
except ImportError:
    pass
else:
    # The tests' tensors are tiny: PyTorch's worker threads only wait on each other there, and on
    # a loaded machine a backward pass that takes 0.2 ms on one thread takes 25 ms on two.
    torch.set_num_threads(1)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the worst relative error against PyTorch seen in this run, per kind of value."""
    try:
        from torch_reference import WORST
    except ImportError:
        return
    if WORST:
        parts = ", ".join(f"{k} {v:.1e}" for k, v in sorted(WORST.items()))
        terminalreporter.write_line(f"worst relative error against PyTorch: {parts}")
