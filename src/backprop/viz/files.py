"""Writing a picture safely: the right suffix, and never a half-written file at the path."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO


def check_suffix(path: str | os.PathLike[str], allowed: Sequence[str]) -> str:
    """The path's suffix (".png"), or ValueError if it is not one of ``allowed``."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        given = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(f"{os.fspath(path)!r} has {given}; expected {' or '.join(allowed)}")
    return suffix


def check_writable(path: str | os.PathLike[str]) -> None:
    """OSError now, before any work is done, if ``path`` cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {os.fspath(path)!r}: it is a directory")
    directory = target.parent
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise OSError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from None


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> int:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    A failure at any point leaves ``path`` as it was (absent, or the old file). Returns the
    number of bytes written.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise OSError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        size = os.path.getsize(tmp)
        # mkstemp makes the file private (0600); a picture should have the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from None
        raise
    return size
