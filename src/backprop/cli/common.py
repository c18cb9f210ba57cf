"""What every subcommand shares: the parser, the two errors and their exit codes, the argument
types, and the check of an output path made before any work is done."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T", int, float)


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


class Failure(Exception):
    """The command ran but did not succeed: exit code 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line ("backprop slp: error: ...") and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(
    parse: Callable[[str], T], what: str, ok: Callable[[T], bool], requirement: str
) -> Callable[[str], T]:
    """An argparse type: ``parse`` the text (else "expected <what>"), then require ``ok``."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must {requirement}, got {text.strip()}")
        return value

    return convert


positive_int = _number(int, "a whole number", lambda v: v >= 1, "be >= 1")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "be >= 0")
positive_float = _number(
    float, "a number", lambda v: v > 0 and math.isfinite(v), "be a positive number"
)
non_negative_float = _number(
    float, "a number", lambda v: v >= 0 and math.isfinite(v), "be a number >= 0"
)
fraction = _number(float, "a number", lambda v: 0 < v < 1, "lie strictly between 0 and 1")
# a momentum of 1 or more never forgets a gradient: the steps grow without bound
momentum = _number(float, "a number", lambda v: 0 <= v < 1, "lie in [0, 1)")
# np.random.seed and scikit-learn's random_state take 0 … 2**32 - 1
SEED_MAX = 2**32 - 1
seed = _number(int, "a whole number", lambda v: 0 <= v <= SEED_MAX, f"lie in 0 … {SEED_MAX}")


def hidden_sizes(text: str) -> list[int]:
    if text.strip() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes separated by commas (128,64), got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"every size must be >= 1, got {text}")
    return sizes


def check_output(path: str | None, option: str, suffixes: tuple[str, ...]) -> None:
    """Before any training: a wrong suffix is bad usage; a missing directory, a directory at
    the path, or a place where no file can be written, a failure."""
    if path is None:
        return
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option} {path!r} must end in {' or '.join(suffixes)}")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise Failure(f"{option} {path!r}: no directory {directory!r}")
    if os.path.isdir(path):
        raise Failure(f"{option} {path!r} is a directory")
    from ..files import check_writable

    try:
        check_writable(path)
    except OSError as e:
        raise Failure(f"{option}: {e}") from None


def epochs_text(n: int) -> str:
    """ "1 epoch", "30 epochs"."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"
