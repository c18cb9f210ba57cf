"""Parameters, layers and `Sequential`: each forward pass with its hand-derived backward pass.

Conventions (as in PyTorch, with one deliberate difference):

* ``forward(x)`` returns the output and caches what the backward pass needs (one cache per
  layer, overwritten by every forward call).
* ``backward(grad_output)`` takes dL/dy, *accumulates* dL/dparam into ``param.grad`` (gradients
  add up across calls until ``zero_grad()``) and returns dL/dx: a new array, or grad_output
  itself, never an array the layer will write into while anyone holds it. (A large output or
  dL/dx may be one of the layer's earlier ones that nothing references any more: ``_new``.)
* A whole network (``Sequential``) computes dL/dx of its input only when asked, as PyTorch does
  for a tensor with ``requires_grad=True``: ``model(x, requires_grad=True)``. By default its
  ``backward`` returns None and skips that product, which a training step never uses.
* **`Linear.weight` has shape (in_features, out_features)** and ``y = x @ W + b``, as in the
  post ("Notes on Backpropagation"), so column n of W is the post's θ_n. PyTorch stores the
  transpose, shape (out_features, in_features), and computes ``x @ A.T + b``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from ..arrays import Array
from ._checks import as_input


def _references(kept: list[tuple[Any, Array]], i: int) -> int:
    """sys.getrefcount of the array in kept[i], from a fixed call site (the count includes the
    references this call makes, so it is compared with the same call on a fresh array)."""
    return sys.getrefcount(kept[i][1])


# Module._new takes an array back only when its reference count says nothing else holds it:
# the count of a fresh array held by the list alone, measured by the same code. Only where
# reference counts are exact: CPython with its global interpreter lock (the free-threaded
# build defers some counts).
_REFCOUNTS = (
    sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled", lambda: True)()
)
_UNREFERENCED = _references([((), np.empty(0))], 0)
# Module._new keeps arrays of KEEP_FROM bytes up to KEEP_BELOW. Smaller ones come from the
# allocator's heap, which keeps them: not worth the bookkeeping. Larger ones: once one is freed,
# glibc raises its threshold for handing memory back to the system to that size, and a step
# that frees arrays of a few MiB keeps its memory mapped (measured: no page fault per step of
# PyTorch's MNIST example, nor of a 784-1024-1024-10 MLP at batch 512, without keeping them),
# while a kept output can lie idle through the backward pass while the next layer's cache
# holds its successor: the MLP's step peaked at 1.44× what it needs with 2 MiB ReLU outputs
# kept, 1.22× without. The arrays of a small CNN's step lie below, where it faulted.
KEEP_FROM = 64 * 1024
KEEP_BELOW = 2**20


def _allocate(
    shape: tuple[int, ...], dtype: np.dtype[Any], channels_last: bool, zeros: bool
) -> Array:
    alloc = np.zeros if zeros else np.empty
    if channels_last:
        N, C, H, W = shape
        return alloc((N, H, W, C), dtype).transpose(0, 3, 1, 2)
    return alloc(shape, dtype)


class _Arena:
    """Small arrays cut one after another from shared 1-D blocks ("slabs"), one run of slabs
    per dtype: the parameters of a network, made one after another, then lie side by side in
    memory, and an optimizer can update many of them with one NumPy call on the span they
    cover (``backprop.optim.optimizer.spans``) instead of a call or two each, which for small
    parameters cost more than their arithmetic."""

    def __init__(self) -> None:
        self._slabs: dict[np.dtype[Any], tuple[Array, int]] = {}

    def zeros(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        n = math.prod(shape)
        slab, used = self._slabs.get(dtype, (None, 0))
        if slab is None or used + n > len(slab):
            slab, used = np.zeros(ARENA_SLAB, dtype), 0
        self._slabs[dtype] = (slab, used + n)
        return slab[used : used + n].reshape(shape)


# A parameter of up to ARENA_LARGEST entries (and its gradient) is cut from an arena's slab of
# ARENA_SLAB entries (64 KiB of float32, at most that much unused per dtype); a larger one has
# arrays of its own, whose update costs far more than a call.
ARENA_SLAB = 1 << 14
ARENA_LARGEST = 1 << 13
_DATA, _GRADS = _Arena(), _Arena()


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` and ``grad`` have the same shape and dtype. ``zero_grad()`` only marks the gradient
    as zero; the buffer is cleared when it is next read, or overwritten by the next backward pass
    instead of added to. This saves a pass over every weight per step and lets a layer write its
    gradient straight into the buffer (``out=grad``), with no temporary.

    ``Parameter(a)`` keeps a copy of a small float array (up to ARENA_LARGEST entries), next
    to the parameter made before it; a larger one, or an array of a subclass, is kept as it is.
    """

    __slots__ = ("_grad", "_grad_is_zero", "data")

    def __init__(self, data: Array) -> None:
        if type(data) is np.ndarray and data.dtype.kind == "f" and 0 < data.size <= ARENA_LARGEST:
            self.data = _DATA.zeros(data.shape, data.dtype)
            self.data[...] = data
            self._grad = _GRADS.zeros(data.shape, data.dtype)
        else:
            self.data = data
            self._grad = np.zeros_like(data)
        self._grad_is_zero = True

    @property
    def grad(self) -> Array:
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value: Array) -> None:
        value = np.asarray(value, dtype=self.data.dtype)
        if value.shape != self.data.shape:
            raise ValueError(f"grad of shape {value.shape} for a parameter of shape {self.shape}")
        self._grad[...] = value
        self._grad_is_zero = False

    def accumulate(self, value: Array) -> None:
        """grad += value (or grad = value right after zero_grad)."""
        if self._grad_is_zero:
            self._grad[...] = value
            self._grad_is_zero = False
        else:
            self._grad += value

    def fresh_grad(self) -> Array | None:
        """The gradient buffer, for a backward pass to write its gradient straight into (with
        ``out=``, no temporary), when zero_grad marked it (it is then no longer marked); None
        when a gradient is there already, to be added to (``accumulate``)."""
        if self._grad_is_zero:
            self._grad_is_zero = False
            return self._grad
        return None

    def zero_grad(self) -> None:
        self._grad_is_zero = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: ``module(x)`` calls ``forward``; ``backward`` maps dL/dy to dL/dx.

    As in PyTorch's ``nn.Module``:

    * **Modes.** ``train()`` / ``eval()`` set ``.training`` on the module and every child and
      return the module. Only layers whose forward differs by mode read it (BatchNorm uses the
      batch statistics in training and the running ones in evaluation; Dropout is the identity
      in evaluation). A new module is in training mode.
    * **Parameters and buffers.** A ``Parameter`` attribute is a parameter (found in the order
      the attributes were set, as PyTorch registers them); ``register_buffer(name, array)`` adds
      a non-trainable array that is part of the state (BatchNorm's ``running_mean``). Buffers
      are plain NumPy arrays, read and replaced as attributes.
    * **Children.** A ``Module`` attribute is a child; ``named_modules()`` walks the tree with
      PyTorch's dotted names ("0", "0.1", ...).
    * **state_dict** maps PyTorch's key names ("0.weight", "1.running_var",
      "1.num_batches_tracked") to the arrays themselves (not copies), **in backprop's layout**:
      ``Linear.weight`` is (in, out) here. ``backprop.interop`` transposes it, once, when it
      crosses to PyTorch; a checkpoint stores it as it is here.

    Layers do not call ``super().__init__()``: everything above is found from the attributes.
    """

    training: bool = True

    def __call__(self, x: Array | Any) -> Array:
        # a list or tuple is converted, as torch.nn layers take only tensors but a learner
        # will try a list first
        return self.forward(x if isinstance(x, np.ndarray) else as_input(self, x))

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, grad_output: Array) -> Array:
        raise NotImplementedError

    def _check_grad(self, grad_output: Array, shape: tuple[int, ...]) -> None:
        """The backward passes' first check: dL/dy has y's shape. (NumPy would broadcast a
        smaller one, (C,) for a (N, C) output say, into a dL/dx of the right shape and the
        wrong values.)"""
        if grad_output.shape != shape:
            raise ValueError(
                f"{self!r}: backward expects grad_output of shape {shape}, got {grad_output.shape}"
            )

    def backward_params(self, grad_output: Array) -> None:
        """Accumulate the parameter gradients only, for a layer whose dL/dx is not needed (the
        first of a network: ``Sequential.backward`` calls it unless dL/dx was asked for)."""
        self.backward(grad_output)

    def backward_owned(self, grad_output: Array) -> Array:
        """As backward, for a ``grad_output`` made in this backward pass and used by no one
        else, which the layer may overwrite (``Sequential`` calls it; see there)."""
        return self.backward(grad_output)

    # ------------------------------------------------------------------ modes

    def train(self, mode: bool = True) -> Self:
        """Set training mode (``mode=True``) or evaluation mode on this module and its children."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Self:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    # ------------------------------------------------------------------ the module tree

    def named_children(self) -> list[tuple[str, Module]]:
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Module)]

    def children(self) -> list[Module]:
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """This module (named ``prefix``) and every descendant, depth first, as PyTorch."""
        out: list[tuple[str, Module]] = [(prefix, self)]
        for name, child in self.named_children():
            out += child.named_modules(f"{prefix}.{name}" if prefix else name)
        return out

    def modules(self) -> list[Module]:
        return [m for _, m in self.named_modules()]

    # ------------------------------------------------------------------ parameters and buffers

    def _own_parameters(self) -> list[tuple[str, Parameter]]:
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Parameter)]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """("weight", p), ("0.bias", p), ...: own parameters first, then each child's."""
        out = list(self._own_parameters())
        for name, child in self.named_children():
            out += [(f"{name}.{k}", p) for k, p in child.named_parameters()]
        return out

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name: str, value: Array | None) -> None:
        """Add ``name`` to the module's state as a buffer (``None``: declared but absent, as
        PyTorch's running statistics with ``track_running_stats=False``)."""
        names: list[str] = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, value)

    def named_buffers(self) -> list[tuple[str, Array]]:
        out = [
            (k, getattr(self, k))
            for k in self.__dict__.get("_buffer_names", [])
            if getattr(self, k) is not None
        ]
        for name, child in self.named_children():
            out += [(f"{name}.{k}", b) for k, b in child.named_buffers()]
        return out

    def buffers(self) -> list[Array]:
        return [b for _, b in self.named_buffers()]

    def state_dict(self) -> dict[str, Array]:
        """Parameters and buffers by PyTorch's key names, in PyTorch's order (each module's
        parameters, then its buffers, then its children's), in backprop's layout. The arrays
        are the module's own: copy them to keep a snapshot."""
        out: dict[str, Array] = {k: p.data for k, p in self._own_parameters()}
        for k in self.__dict__.get("_buffer_names", []):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        for name, child in self.named_children():
            out.update({f"{name}.{k}": v for k, v in child.state_dict().items()})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Copy ``state_dict`` into the parameters and buffers (in place, same shapes, cast to
        each array's dtype). With ``strict``, the keys must be exactly ``state_dict()``'s."""
        own = self.state_dict()
        if strict:
            missing = [k for k in own if k not in state_dict]
            unexpected = [k for k in state_dict if k not in own]
            if missing or unexpected:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                    f"unexpected keys {unexpected}"
                )
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if value.shape != target.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {key!r} has shape {value.shape}, "
                    f"the module's is {target.shape}"
                )
            target[...] = value

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    # ------------------------------------------------------------------ work arrays

    def _workspace(
        self, name: str, shape: tuple[int, ...], dtype: Any, *, zeros: bool = False
    ) -> tuple[Array, bool]:
        """A work array of the layer's own, kept from one call to the next (Conv2d's patch
        matrix X̂, its zero-padded input), and whether it was just made (so that the caller
        sets what stays fixed in it, once: a zero border, a column of ones). It is made anew
        only when the shape or dtype changes.

        Why keep it: the C allocator hands a large array that was freed back to the system,
        and the next step's array of the same size then costs a page fault per 4 KiB page on
        first touch (up to a fifth of a small CNN's step on a 2-core virtual machine). A work
        array is never what a layer returns: its outputs and dL/dx come from ``_new``."""
        spaces: dict[str, Array] = self.__dict__.setdefault("_workspaces", {})
        a = spaces.get(name)
        if a is not None and a.shape == shape and a.dtype == dtype:
            return a, False
        a = spaces[name] = _allocate(shape, np.dtype(dtype), False, zeros)
        return a, True

    def _new(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        channels_last: bool = False,
        zeros: bool = False,
    ) -> Array:
        """An array for this call's output or dL/dx, as ``np.empty`` (``np.zeros`` with
        ``zeros``) would give, laid out (N, H, W, C) in memory for a 4-D (N, C, H, W) shape with
        ``channels_last``: one of the layer's last two arrays of this name that nothing
        references any more (not the caller, not a later layer's cache, not a view), else a
        new one. Only for arrays of 64 KiB up to 1 MiB (``KEEP_FROM``, ``KEEP_BELOW``).

        No one can tell the difference from a new array: an array is taken back only when no
        reference to it is left. What it saves is the allocation: the C allocator returns a
        freed block of more than 128 KiB to the system, and the same block allocated again
        costs a page fault per 4 KiB page on first touch (about 2 µs each on a virtual
        machine; a small CNN's step allocates hundreds of such pages)."""
        dtype = np.dtype(dtype)
        if not KEEP_FROM <= math.prod(shape) * dtype.itemsize < KEEP_BELOW:
            return _allocate(shape, dtype, channels_last, zeros)
        key = (shape, dtype, channels_last)
        # The list holds each array's owner (for channels last, the (N, H, W, C) array whose
        # view is handed out): every view of it, however taken, references the owner.
        kept: list[tuple[Any, Array]] = self.__dict__.setdefault("_kept", {}).setdefault(name, [])
        if _REFCOUNTS:
            for i in range(len(kept)):
                if kept[i][0] == key and _references(kept, i) == _UNREFERENCED:
                    owner = kept[i][1]
                    if zeros:
                        owner.fill(0)
                    return owner.transpose(0, 3, 1, 2) if channels_last else owner
        a = _allocate(shape, dtype, channels_last, zeros)
        if _REFCOUNTS:
            kept.append((key, a if a.base is None else a.base))
            del kept[:-2]
        return a

    def _new_like(self, name: str, x: Array) -> Array:
        """``_new`` with x's shape, dtype and memory layout (C order, or channels last for a
        4-D x laid out so); for any other layout, ``np.empty_like(x)``."""
        if x.nbytes < KEEP_FROM:
            return np.empty_like(x)
        if x.flags.c_contiguous:
            return self._new(name, x.shape, x.dtype)
        if x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous:
            return self._new(name, x.shape, x.dtype, channels_last=True)
        return np.empty_like(x)

    def __getstate__(self) -> dict[str, Any]:
        # A copy (copy.copy, copy.deepcopy) or a pickle gets no work arrays (nor views of
        # them) and no kept outputs: a shallow copy would otherwise write into the original's,
        # and a deep copy would keep views of arrays it no longer shares.
        state = self.__dict__.copy()
        for name in ("_workspaces", "_views", "_kept"):
            state.pop(name, None)
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
