"""The base class of the optimizers: the parameters, the learning rate, the state per parameter.

An optimizer holds the parameters and its own state (momentum buffers, moment estimates); the
layers hold none. ``step()`` updates every parameter in place from its ``.grad``;
``zero_grad()`` clears the gradients before the next backward pass.

State, as in ``torch.optim``: ``state[i]`` is a dict of arrays for parameter i (``exp_avg``,
``momentum_buffer``, …), named as PyTorch names them, and ``steps`` counts the updates made
(PyTorch's ``state[p]["step"]``) for the optimizers whose rule uses it. ``state_dict()`` lays
them out flat for a checkpoint: ``"step"`` and ``"<name>.<i>"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from ..arrays import Array
from ..nn import Parameter
from ..nn._checks import real_number

# Updates of a large parameter run block by block, BLOCK elements at a time (256 KiB of float32,
# which stays in the core's cache): the temporaries of an update rule such as lr · g are then
# small, instead of arrays as large as the weight that would raise the run's peak memory and,
# at every step, take fresh pages from the allocator. The arithmetic is the same, entry by entry.
BLOCK = 1 << 16


def blocks(*arrays: Array) -> list[tuple[Array, ...]]:
    """Matching views of ``arrays`` (all of one shape) in blocks of at most BLOCK entries.

    Writing into a block writes into the arrays. Small or non-contiguous arrays come back whole,
    as a single block.
    """
    first = arrays[0]
    if first.size <= BLOCK or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]
    return [tuple(f[i : i + BLOCK] for f in flat) for i in range(0, first.size, BLOCK)]


def spans(params: list[Parameter]) -> list[tuple[Array, Array]]:
    """The parameters' data and gradients as pairs of flat views that cover them, for an update
    rule that treats every entry alike (plain SGD): parameters whose arrays lie side by side in
    memory, both their data and their gradients (the small ones do, made one after another:
    see ``backprop.nn.module._Arena``), share one pair, so that the update is one NumPy call
    per span instead of per parameter. Each span is at most BLOCK entries (``blocks``)."""
    placed: list[tuple[int, int, int, int, Parameter]] = []
    alone: list[tuple[Array, Array]] = []
    for p in params:
        d, g = p.data, p._grad
        if (
            isinstance(d.base, np.ndarray)
            and isinstance(g.base, np.ndarray)
            and d.base.ndim == g.base.ndim == 1
            and d.base.dtype == g.base.dtype == d.dtype == g.dtype
            and d.flags.c_contiguous
            and g.flags.c_contiguous
            and d.base.flags.c_contiguous
            and g.base.flags.c_contiguous
        ):
            item = d.itemsize
            d_at = (
                d.__array_interface__["data"][0] - d.base.__array_interface__["data"][0]
            ) // item
            g_at = (
                g.__array_interface__["data"][0] - g.base.__array_interface__["data"][0]
            ) // item
            placed.append((id(d.base), id(g.base), d_at, g_at, p))
        else:
            alone.append((d, g))
    placed.sort(key=lambda t: t[:3])
    out: list[tuple[Array, Array]] = []
    k = 0
    while k < len(placed):
        d_base_id, g_base_id, d0, g0, p = placed[k]
        d1, g1 = d0 + p.data.size, g0 + p.data.size
        k += 1
        while k < len(placed) and placed[k][:4] == (d_base_id, g_base_id, d1, g1):
            d1 += placed[k][4].data.size
            g1 += placed[k][4].data.size
            k += 1
        assert p.data.base is not None and p._grad.base is not None
        out.append((p.data.base[d0:d1], p._grad.base[g0:g1]))
    return [(db, gb) for d, g in out + alone for db, gb in blocks(d, g)]


def lerp_(start: Array, end: Array, weight: float) -> None:
    """start ← start + weight · (end − start), in place, computed as PyTorch's ``lerp_`` does:
    from ``end`` backwards when weight ≥ 0.5, which is exact at weight = 1."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)


class Optimizer:
    """Base class: ``params`` (from ``model.parameters()``), ``lr``, ``state`` and ``steps``.

    Subclasses define ``step()``, ``hyperparameters()`` (their constructor's arguments, the
    names PyTorch gives them) and ``state_names()`` (the per-parameter arrays they keep).
    """

    # whether the update rule counts its steps (Adam's bias correction, Adagrad's lr decay)
    counts_steps: ClassVar[bool] = False
    # whether every parameter's state exists from the start (else from the first step, as
    # SGD's momentum buffer, which starts as a copy of the first gradient)
    eager_state: ClassVar[bool] = True

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        seen: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{type(self).__name__}: item {i} of params is {type(p).__name__}, "
                    "not a Parameter (pass model.parameters())"
                )
            # given twice, a parameter would be updated twice per step (torch.optim refuses too)
            if id(p) in seen:
                raise ValueError(
                    f"{type(self).__name__}: item {i} of params is item {seen[id(p)]} again; "
                    "each parameter may be given once"
                )
            seen[id(p)] = i
        self.lr = real(self, "lr", lr)
        # the lr when a learning-rate schedule first took this optimizer (set by the scheduler)
        self.initial_lr: float | None = None
        self.steps = 0
        self.state: list[dict[str, Array]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p._grad_is_zero = True  # Parameter.zero_grad, without a call per parameter

    def step(self) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments but ``params``, JSON-ready, with PyTorch's names: what a
        checkpoint records, and what ``torch.optim``'s class of the same name takes."""
        raise NotImplementedError

    def state_names(self) -> tuple[str, ...]:
        """The arrays kept per parameter with these hyperparameters."""
        return ()

    def state_dict(self) -> dict[str, Array]:
        """The optimizer's state as named arrays (for checkpoints): ``lr`` (which a schedule
        changes) and ``initial_lr`` if a schedule set it (PyTorch keeps both in its param
        group), ``step`` if the rule counts steps, and ``<name>.<i>`` for the array ``name`` of
        parameter i."""
        out: dict[str, Array] = {"lr": np.array(float(self.lr))}
        if self.initial_lr is not None:
            out["initial_lr"] = np.array(float(self.initial_lr))
        if self.counts_steps:
            out["step"] = np.array(self.steps)
        for i, entries in enumerate(self.state):
            for name, value in entries.items():
                out[f"{name}.{i}"] = value
        return out

    def load_state_dict(self, state: dict[str, Array]) -> None:
        """Take the state from ``state_dict()``'s form: every entry checked (name, index,
        shape) before anything is changed; arrays converted to the parameters' dtype. Without
        ``lr`` (a state saved before it was kept), the optimizer's own lr stays."""
        cls = type(self).__name__
        names = self.state_names()
        loaded: list[dict[str, Array]] = [{} for _ in self.params]
        steps = 0
        rates: dict[str, float] = {}
        for key, value in state.items():
            if key in ("lr", "initial_lr"):
                if np.shape(value) != ():
                    raise ValueError(f"{cls}: {key} {value!r} is not a number")
                rates[key] = real(self, key, value)
                continue
            if key == "step" and self.counts_steps:
                if np.shape(value) != () or not float(value).is_integer() or value < 0:
                    raise ValueError(f"{cls}: step {value!r} is not a whole number >= 0")
                steps = int(value)
                continue
            value = np.asarray(value)  # a list of numbers too
            name, _, index = key.rpartition(".")
            if name not in names or not index.isdigit() or int(index) >= len(self.params):
                raise ValueError(f"{cls}: unexpected state entry {key!r}")
            p = self.params[int(index)]
            if value.shape != p.shape:
                raise ValueError(f"{cls}: {key} has shape {value.shape}, expected {p.shape}")
            loaded[int(index)][name] = value.astype(p.dtype)
        if self.counts_steps and "step" not in state:
            raise ValueError(f"{cls}: the state has no 'step'")
        for i, entries in enumerate(loaded):
            if (self.eager_state or entries) and set(entries) != set(names):
                missing = sorted(set(names) - set(entries))
                raise ValueError(f"{cls}: the state lacks {', '.join(f'{m}.{i}' for m in missing)}")
        self.state, self.steps = loaded, steps
        self.lr = rates.get("lr", self.lr)
        self.initial_lr = rates.get("initial_lr", self.initial_lr)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


def real(
    optimizer: Any, name: str, value: Any, below: float | None = None, signed: bool = False
) -> float:
    """A hyperparameter as a float: a Python or NumPy number, or a 0-d array, as torch.optim
    takes them, at least 0 (any sign if ``signed``; below ``below`` if given), as torch.optim
    requires; else a TypeError or ValueError naming the optimizer and the argument. NaN is
    refused."""
    cls = type(optimizer).__name__
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    number = real_number(cls, name, value)
    if math.isnan(number):
        raise ValueError(f"{cls}: {name} must be a number, got nan")
    if not ((signed or number >= 0) and (below is None or number < below)):
        requirement = ">= 0" if below is None else f"in [0, {below:g})"
        raise ValueError(f"{cls}: {name} must be {requirement}, got {value}")
    return number
