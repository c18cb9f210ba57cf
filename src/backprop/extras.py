"""The optional parts of backprop: which extra installs which package, and the check made
before any work that the packages an option needs are there.

The distribution is ``backprop-by-hand`` (the name ``backprop`` on the package index belongs to
another project); the import name and the command are ``backprop``. The core needs only NumPy:

    pip install 'backprop-by-hand[viz]'    matplotlib, Pillow: --plot, --gif, backprop.viz
    pip install 'backprop-by-hand[data]'   scikit-learn: backprop train (bundled datasets, split)
    pip install 'backprop-by-hand[cli]'    rich: progress bars and explain's panels on a terminal
    pip install 'backprop-by-hand[torch]'  PyTorch: backprop.interop, backprop bugs NAME and --table
    pip install 'backprop-by-hand[web]'    Starlette, uvicorn, websockets: backprop playground
    pip install 'backprop-by-hand[words]'  names: the default word list
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "backprop-by-hand"

# import name -> (the package to install, the extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("matplotlib", "viz"),
    "PIL": ("Pillow", "viz"),
    "sklearn": ("scikit-learn", "data"),
    "rich": ("rich", "cli"),
    "torch": ("torch", "torch"),
    "starlette": ("Starlette", "web"),
    "uvicorn": ("uvicorn", "web"),
    "names": ("names", "words"),
}


class MissingExtra(ImportError):
    """An optional package that a feature needs is not installed."""


def install_line(extra: str) -> str:
    """The command that installs an extra: ``pip install 'backprop-by-hand[viz]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def available(module: str) -> bool:
    """Whether ``module`` (a top-level import name) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(what: str, *modules: str) -> None:
    """MissingExtra, e.g. "--gif needs matplotlib: pip install 'backprop-by-hand[viz]'", if a
    module of ``modules`` (keys of ``EXTRAS``) is missing; ``what`` names the feature."""
    for module in modules:
        if not available(module):
            package, extra = EXTRAS[module]
            raise MissingExtra(f"{what} needs {package}: {install_line(extra)}")
