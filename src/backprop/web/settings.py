"""A run's settings: the JSON body of ``POST /api/runs``, checked field by field.

Every field is optional; DEFAULTS gives its value. Each limit keeps one request's work small
(a network of at most MAX_LAYERS hidden layers of MAX_WIDTH units); a wrong type, an unknown
name or a value out of range is a ValueError naming the field, which the app turns into a 400.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .datasets import MAX_CSV_BYTES, NAMES, TooLarge

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("sgd", "adam")
MAX_LAYERS = 6
MAX_WIDTH = 16
POINTS = 500  # TF Playground's number of points per data set
# With the defaults, xor's training loss falls below 0.05 within DEFAULT_STEPS steps (tested).
DEFAULT_STEPS = 3000


@dataclass
class Settings:
    dataset: str = "xor"
    hidden: list[int] = field(default_factory=lambda: [4, 4])
    activation: str = "tanh"
    loss: str = "mse"
    optimizer: str = "sgd"
    lr: float = 0.03
    momentum: float = 0.9
    batch_size: int = 10
    seed: int = 0
    noise: float = 0.0
    ratio: float = 0.5  # the fraction of the points used for training; the rest is the test set
    csv: str | None = None  # the user's own points (dataset "csv"): rows x1,x2,label

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = Settings().to_json()


def _int(name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name} must be a whole number, got {v!r}"[:200])
    if not lo <= v <= hi:
        raise ValueError(f"{name} must lie in {lo} … {hi}, got {v}")
    return v


def _float(name: str, v: Any, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(_as_float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}"[:200])
    if v < lo or v > hi or (open_lo and v == lo):
        side = "(" if open_lo else "["
        raise ValueError(f"{name} must lie in {side}{lo:g}, {hi:g}], got {v:g}")
    return float(v)


def _as_float(v: float) -> float:
    """v as a float; an integer past the float range (JSON allows 10**400) is inf."""
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _choice(name: str, v: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {v!r}"[:200])
    return v


def parse_settings(body: Any) -> Settings:
    """Settings from a JSON object; ValueError naming the first bad field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValueError("the settings must be a JSON object")
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; valid: {', '.join(DEFAULTS)}"[:300])
    s = Settings()
    if "dataset" in body:
        s.dataset = _choice("dataset", body["dataset"], (*NAMES, "csv"))
    if "hidden" in body:
        hidden = body["hidden"]
        if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
            raise ValueError(f"hidden must be a list of at most {MAX_LAYERS} layer widths")
        s.hidden = [_int(f"hidden[{i}]", w, 1, MAX_WIDTH) for i, w in enumerate(hidden)]
    if "activation" in body:
        s.activation = _choice("activation", body["activation"], ACTIVATIONS)
    if "loss" in body:
        s.loss = _choice("loss", body["loss"], LOSSES)
    if "optimizer" in body:
        s.optimizer = _choice("optimizer", body["optimizer"], OPTIMIZERS)
    if "lr" in body:
        s.lr = _float("lr", body["lr"], 0.0, 10.0, open_lo=True)
    if "momentum" in body:
        s.momentum = _float("momentum", body["momentum"], 0.0, 0.999)
    if "batch_size" in body:
        s.batch_size = _int("batch_size", body["batch_size"], 1, POINTS)
    if "seed" in body:
        s.seed = _int("seed", body["seed"], 0, 2**32 - 1)
    if "noise" in body:
        s.noise = _float("noise", body["noise"], 0.0, 0.5)
    if "ratio" in body:
        s.ratio = _float("ratio", body["ratio"], 0.1, 0.9)
    if "csv" in body and body["csv"] is not None:
        if not isinstance(body["csv"], str):
            raise ValueError("csv must be the text of a CSV file")
        if len(body["csv"].encode()) > MAX_CSV_BYTES:
            raise TooLarge(f"csv is larger than {MAX_CSV_BYTES // 1024} KiB")
        s.csv = body["csv"]
    if s.dataset == "csv" and s.csv is None:
        raise ValueError('dataset "csv" needs the csv setting: rows x1,x2,label')
    if s.dataset == "slp" and s.loss != "mse":
        raise ValueError("dataset slp is a regression (T = X): loss must be mse")
    return s
