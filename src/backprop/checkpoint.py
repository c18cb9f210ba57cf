"""Checkpoints: a model and its training state in one ``.npz`` file, with no pickle in it.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding only numeric arrays and
one JSON text. Loading uses ``np.load(allow_pickle=False)`` and builds the layers from a fixed
list of known types, so nothing in the file is ever executed (``torch.load`` unpickles by
default, which runs code from the file; it had to close that hole with ``weights_only``).

Entries (the README's "Checkpoint format" says the same):

    meta                 JSON text: {"format": "backprop-checkpoint", "version": 1,
                         "dtype", "layers", "optimizer", "rng", "epoch", "info"}
    param.<name>         each parameter, named as ``model.named_parameters()`` ("0.weight"),
                         in backprop's layout (Linear.weight is (in, out))
    buffer.<name>        each buffer, named as ``model.named_buffers()`` ("1.running_mean")
    optim.<key>          the optimizer's ``state_dict()`` (lr, initial_lr, step, per-parameter arrays)
    scaler.mean/.std     the feature standardisation (optional)
    target_scaler.mean/.std   the regression target's standardisation (optional)
    history.<name>       the per-epoch and per-batch losses so far (optional)

Saving is atomic: the archive is written to a temporary file in the same directory, flushed
to disk (fsync), then renamed over ``path``, so a run killed while saving leaves the previous
checkpoint as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array, first_nonfinite
from .data import Scaler
from .files import atomic_write
from .nn import Linear, Module, Sequential
from .nn.registry import LAYERS, layer_type
from .optim import Optimizer, from_spec, to_spec

FORMAT = "backprop-checkpoint"
VERSION = 1
DTYPES = ("float32", "float64")
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")
HISTORY_KEYS = ("batch_losses", "train_loss", "test_loss", "test_metric", "seconds")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (missing, truncated, corrupt or foreign)."""


@dataclass
class Checkpoint:
    """Everything a checkpoint holds, rebuilt. Only ``model`` is always present."""

    model: Sequential
    optimizer: Optimizer | None = None
    rng: np.random.Generator | None = None
    epoch: int = 0
    scaler: Scaler | None = None
    target_scaler: Scaler | None = None
    info: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ writing


def model_spec(model: Module) -> list[dict[str, Any]]:
    """The architecture as JSON-ready dicts, one per layer: its type, its constructor arguments
    as its entry in ``backprop.nn.registry.LAYERS`` names them, and its mode, e.g.
    {"type": "Linear", "in_features": 64, "out_features": 10, "bias": true, "training": true};
    a layer with its own generator (Dropout) adds its state as "rng"."""
    layers = list(model) if isinstance(model, Sequential) else [model]
    spec: list[dict[str, Any]] = []
    for i, layer in enumerate(layers):
        entry = layer_type(layer)
        if entry is None:
            raise TypeError(
                f"cannot save layer {i}: {type(layer).__name__} is not a built-in layer"
            )
        item = {"type": entry.name, **entry.config(layer), "training": layer.training}
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator):
            # Dropout's masks: a resumed run draws the ones an unbroken run would.
            item["rng"] = rng.bit_generator.state
        spec.append(item)
    return spec


def optimizer_spec(optimizer: Optimizer) -> dict[str, Any]:
    """{"type": "Adam", "lr": …}: the optimizer's class name and ``hyperparameters()``."""
    return to_spec(optimizer)


def save(
    model: Module,
    path: str | os.PathLike[str],
    *,
    optimizer: Optimizer | None = None,
    rng: np.random.Generator | None = None,
    epoch: int = 0,
    scaler: Scaler | None = None,
    target_scaler: Scaler | None = None,
    info: dict[str, Any] | None = None,
    history: dict[str, list[float]] | None = None,
) -> None:
    """Write ``model`` (and, if given, its training state) to ``path`` as a checkpoint, atomically.

    optimizer: its hyperparameters and ``state_dict()``; rng: its bit generator's state, so
    a resumed run draws the same shuffles; info: any JSON-ready dict (``backprop train``
    keeps its settings and the data's column names there).
    """
    # parameters and floating buffers; a model without any (Flatten, Softmax) is float64
    floats = [v for v in model.state_dict().values() if v.dtype.kind == "f"]
    dtypes = {v.dtype.name for v in floats} or {"float64"}
    if len(dtypes) != 1 or not dtypes <= set(DTYPES):
        raise ValueError(f"cannot save a model with parameter dtypes {sorted(dtypes)}")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": dtypes.pop(),
        "layers": model_spec(model),
        "optimizer": None if optimizer is None else optimizer_spec(optimizer),
        "rng": None if rng is None else rng.bit_generator.state,
        "epoch": int(epoch),
        "info": info or {},
    }
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    sequential = model if isinstance(model, Sequential) else Sequential(model)
    param_names = {name for name, _ in sequential.named_parameters()}
    for name, value in sequential.state_dict().items():
        arrays[f"{'param' if name in param_names else 'buffer'}.{name}"] = value
    if optimizer is not None:
        for key, value in optimizer.state_dict().items():
            arrays[f"optim.{key}"] = np.asarray(value)
    for prefix, s in (("scaler", scaler), ("target_scaler", target_scaler)):
        if s is not None:
            arrays[f"{prefix}.mean"], arrays[f"{prefix}.std"] = s.mean, s.std
    for key, values in (history or {}).items():
        arrays[f"history.{key}"] = np.asarray(values, dtype=np.float64)
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ------------------------------------------------------------------------------------ reading


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
NPY_MAGIC = b"\x93NUMPY"
PICKLED = "holds a pickled object; backprop checkpoints never do, so nothing was loaded"


def _read_arrays(name: str) -> dict[str, Array]:
    """Every entry of the archive, read in full (so a damaged entry fails here, not later).

    What the file is is decided from its first bytes, so that each refusal says what is wrong
    in backprop's words (NumPy's own message for a pickle advises loading it unsafely).
    """
    if not os.path.exists(name):
        raise CheckpointError(f"{name}: no such file")
    if os.path.isdir(name):
        raise CheckpointError(f"{name} is a directory, not a checkpoint")
    try:
        with open(name, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"{name}: cannot read: {e.strerror or e}") from None
    if not head:
        raise CheckpointError(f"{name} is empty, not a checkpoint")
    if head.startswith(NPY_MAGIC):
        raise CheckpointError(f"{name} is a bare .npy array, not an .npz checkpoint")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise CheckpointError(f"{name} {PICKLED}")
    if not head.startswith(ZIP_MAGIC):
        raise CheckpointError(f"{name} is not an .npz (zip) file, so not a backprop checkpoint")
    # the file is opened here, so that it is closed whatever np.load makes of it
    with open(name, "rb") as file:
        try:
            loaded = np.load(file, allow_pickle=False)
        except Exception as e:
            raise CheckpointError(f"{name} is damaged: {_reason(e)}") from None
        return _entries(name, loaded)


def _entries(name: str, loaded: Any) -> dict[str, Array]:
    arrays: dict[str, Array] = {}
    try:
        with loaded:
            for key in loaded.files:
                value = loaded[key]
                if not isinstance(value, np.ndarray):
                    raise CheckpointError(
                        f"{name} is not a backprop checkpoint (entry {key!r} is not a .npy array)"
                    )
                arrays[key] = value
    except CheckpointError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e):  # an object array: its data is a pickle
            raise CheckpointError(f"{name} {PICKLED}") from None
        raise CheckpointError(f"{name} is damaged: {_reason(e)}") from None
    except Exception as e:
        raise CheckpointError(f"{name} is damaged: {_reason(e)}") from None
    return arrays


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _build_model(layers: Any, dtype: str, arrays: dict[str, Array]) -> Sequential:
    """The layers described by ``layers``; each layer's stored state is checked against the
    shapes its arguments imply before anything is allocated."""
    if not isinstance(layers, list) or not layers:
        raise ValueError("'layers' is not a non-empty list")
    out: list[Module] = []
    width: int | None = None
    for i, spec in enumerate(layers):
        if not isinstance(spec, dict):
            raise ValueError(f"layer {i} is not an object")
        kind = spec.get("type")
        entry = LAYERS.get(kind) if isinstance(kind, str) else None
        if entry is None:
            raise ValueError(f"layer {i} has unknown type {kind!r}")
        config = {k: v for k, v in spec.items() if k not in ("type", "training", "rng")}
        training = spec.get("training", True)
        if not isinstance(training, bool):
            raise ValueError(f"layer {i} ({kind}) has a 'training' that is not true or false")
        shapes = entry.state_shapes(config) if entry.state_shapes else {}
        for key, shape in shapes.items():
            stored = arrays.get(f"param.{i}.{key}", arrays.get(f"buffer.{i}.{key}"))
            if stored is None or stored.shape != shape:
                raise ValueError(f"layer {i} ({kind} {config}) has no {key} of that shape")
        if entry.cls is Linear:
            if width is not None and config["in_features"] != width:
                raise ValueError(
                    f"layer {i} takes {config['in_features']} inputs but the layer before "
                    f"gives {width}"
                )
            width = config["out_features"]
        elif not entry.elementwise:
            width = None
        layer = entry.build(config, dtype)
        if "rng" in spec:
            if not isinstance(getattr(layer, "rng", None), np.random.Generator):
                raise ValueError(f"layer {i} ({kind}) has an 'rng' but draws no random numbers")
            layer.rng = _build_rng(spec["rng"])  # type: ignore[attr-defined]
        out.append(layer.train(training))
    return Sequential(*out)


def _build_optimizer(spec: Any, model: Sequential, state: dict[str, Array]) -> Optimizer:
    opt = from_spec(spec, model.parameters())
    opt.load_state_dict(state)
    return opt


def _build_rng(state: Any) -> np.random.Generator:
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        raise ValueError("'rng' is not the state of a NumPy bit generator")
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _take(arrays: dict[str, Array], key: str, shape: tuple[int, ...], dtype: str) -> Array:
    if key not in arrays:
        raise ValueError(f"entry {key!r} is missing")
    value = arrays.pop(key)
    if value.shape != shape or value.dtype.name != dtype:
        raise ValueError(
            f"entry {key!r} is {value.dtype.name} {value.shape}, expected {dtype} {shape}"
        )
    return value


def _scaler(arrays: dict[str, Array], prefix: str, size: int | None) -> Scaler | None:
    if f"{prefix}.mean" not in arrays and f"{prefix}.std" not in arrays:
        return None
    n = arrays[f"{prefix}.mean"].shape[0] if size is None else size
    mean = _take(arrays, f"{prefix}.mean", (n,), "float64")
    std = _take(arrays, f"{prefix}.std", (n,), "float64")
    return Scaler(mean, std)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by ``save``; CheckpointError, naming the file, if it is
    missing, truncated, corrupt, or not a backprop checkpoint."""
    name = os.fspath(path)
    arrays = _read_arrays(name)
    meta_array = arrays.pop("meta", None)
    if meta_array is None or meta_array.shape != () or meta_array.dtype.kind != "U":
        raise CheckpointError(f"{name} is not a backprop checkpoint (it has no 'meta' entry)")
    try:
        meta = json.loads(str(meta_array))
    except Exception as e:
        raise CheckpointError(f"{name} is not a backprop checkpoint ({_reason(e)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a backprop checkpoint (no format {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{name} is a checkpoint of format version {meta.get('version')!r}; "
            f"this backprop reads version {VERSION}"
        )
    try:
        ckpt = _rebuild(meta, arrays)
    except Exception as e:
        raise CheckpointError(f"{name} is damaged or inconsistent: {_reason(e)}") from None
    for pname, p in ckpt.model.named_parameters():
        where = first_nonfinite(p.data)
        if where is not None:
            raise CheckpointError(
                f"{name}: parameter {pname!r} holds {p.data[where]} at {list(where)}; "
                "a model with NaN or inf weights was not loaded"
            )
    return ckpt


def _rebuild(meta: dict[str, Any], arrays: dict[str, Array]) -> Checkpoint:
    dtype = meta.get("dtype")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    model = _build_model(meta.get("layers"), dtype, arrays)
    param_names = {name for name, _ in model.named_parameters()}
    for key, target in model.state_dict().items():
        entry = f"{'param' if key in param_names else 'buffer'}.{key}"
        target[...] = _take(arrays, entry, target.shape, target.dtype.name)
    optim_state = {
        k[len("optim.") :]: arrays.pop(k) for k in list(arrays) if k.startswith("optim.")
    }
    optimizer = None
    if meta.get("optimizer") is not None:
        optimizer = _build_optimizer(meta["optimizer"], model, optim_state)
    elif optim_state:
        raise ValueError("optimizer state without an optimizer")
    rng = None if meta.get("rng") is None else _build_rng(meta["rng"])
    epoch = meta.get("epoch")
    if type(epoch) is not int or epoch < 0:
        raise ValueError(f"epoch {epoch!r} is not a whole number >= 0")
    info = meta.get("info")
    if not isinstance(info, dict):
        raise ValueError("'info' is not an object")
    first = model.layers[0]
    scaler = _scaler(arrays, "scaler", first.in_features if isinstance(first, Linear) else None)
    target_scaler = _scaler(arrays, "target_scaler", None)
    history: dict[str, list[float]] = {}
    for key in HISTORY_KEYS:
        value = arrays.pop(f"history.{key}", None)
        if value is not None:
            if value.ndim != 1 or value.dtype != np.float64:
                raise ValueError(f"entry 'history.{key}' is not a float64 vector")
            history[key] = value.tolist()
    if arrays:
        raise ValueError(f"unexpected entries {sorted(arrays)}")
    return Checkpoint(model, optimizer, rng, epoch, scaler, target_scaler, info, history)


def load(path: str | os.PathLike[str]) -> Sequential:
    """The model stored in a checkpoint (``load_checkpoint(path).model``)."""
    return load_checkpoint(path).model
