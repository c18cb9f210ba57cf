"""The table of built-in layer types: one entry per layer, read by interop and checkpoints.

Each layer file registers its layers at the bottom, e.g.::

    register(LayerType(Linear, ("in_features", "out_features", "bias"),
                       transposed=("weight",), state_shapes=...))

and from then on ``to_torch``/``from_torch`` carry it and checkpoints save and rebuild it, with
its parameters, its buffers and its train/eval mode. An entry says:

* ``cls`` and ``torch_name``: the backprop class and the ``torch.nn`` class of the same name
  (the default).
* ``args``: the constructor arguments, named as PyTorch names them. Each is read from the layer
  as the attribute of that name (backprop's and PyTorch's alike), unless ``get``/``torch_get``
  says otherwise (``Linear``'s ``bias`` argument is a bool, its attribute an array or None).
  The values must be JSON-ready: they are the checkpoint's layer description.
* ``transposed``: the state_dict keys whose PyTorch layout is the transpose of ours (only
  ``Linear.weight``). interop transposes them, once, as they cross; checkpoints keep ours.
* ``state_shapes``: the shape of every state_dict entry, computed from the arguments alone, so
  a checkpoint is checked before any array is allocated (a forged "Linear 10⁶×10⁶" is refused
  without asking for 8 TB). None: the layer has no state.
* ``elementwise``: the layer keeps the feature width (an activation, Dropout), so a checkpoint
  checks that the Linear layers around it fit together.

The layer is built as ``cls(**args)``, plus ``dtype=`` if its constructor takes one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .module import Module

Config = dict[str, Any]


@dataclass(frozen=True)
class LayerType:
    cls: type[Module]
    args: tuple[str, ...] = ()
    torch_name: str = ""
    transposed: tuple[str, ...] = ()
    state_shapes: Callable[[Config], dict[str, tuple[int, ...]]] | None = None
    elementwise: bool = False
    get: Callable[[Module], Config] | None = None
    torch_get: Callable[[Any], Config] | None = None

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def torch_class_name(self) -> str:
        return self.torch_name or self.cls.__name__

    def config(self, layer: Module) -> Config:
        """The constructor arguments that rebuild ``layer``."""
        return self.get(layer) if self.get else {a: getattr(layer, a) for a in self.args}

    def torch_config(self, module: Any) -> Config:
        """The constructor arguments of the PyTorch module ``module``, in backprop's terms."""
        if self.torch_get:
            return self.torch_get(module)
        return {a: getattr(module, a) for a in self.args}

    def build(self, config: Config, dtype: Any = None) -> Module:
        unknown = set(config) - set(self.args)
        if unknown:
            raise ValueError(f"{self.name} has no argument(s) {sorted(unknown)}")
        kwargs = dict(config)
        if dtype is not None and "dtype" in inspect.signature(self.cls).parameters:
            kwargs["dtype"] = dtype
        return self.cls(**kwargs)


LAYERS: dict[str, LayerType] = {}


def register(entry: LayerType) -> LayerType:
    """Add ``entry`` to the table (its class name is the key, in checkpoints too)."""
    LAYERS[entry.name] = entry
    return entry


def layer_type(layer: Module) -> LayerType | None:
    """The entry for exactly this class (a subclass is not its parent: it may compute otherwise)."""
    entry = LAYERS.get(type(layer).__name__)
    return entry if entry is not None and entry.cls is type(layer) else None
