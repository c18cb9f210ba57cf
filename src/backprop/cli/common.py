"""What every subcommand shares: the parser, the two errors and their exit codes, the argument
types, and the check of an output path made before any work is done."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

import numpy as np


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


class Failure(Exception):
    """The command ran but did not succeed: exit code 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line ("backprop slp: error: ...") and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


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
    """Before any training: a wrong suffix is bad usage, a missing directory a failure."""
    if path is None:
        return
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option} {path!r} must end in {' or '.join(suffixes)}")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise Failure(f"{option} {path!r}: no directory {directory!r}")
    if os.path.isdir(path):
        raise Failure(f"{option} {path!r} is a directory")
