"""Writing a file safely: the right suffix, a check that the path can be written made before
any work, and never a half-written file at the path (checkpoints, pictures, CSV histories).

Every error names the path asked for, never the temporary file written beside it."""

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
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    Any failure (an exception, a full disk, the process killed) leaves ``path`` as it was
    (absent, or the old file) and no temporary file behind. Returns the number of bytes
    written. OSError names ``path`` ("cannot write 'x.npz': it is a directory").
    """
    target = Path(path)
    name = os.fspath(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {name!r}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise OSError(f"cannot write {name!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        size = os.path.getsize(tmp)
        # mkstemp makes the file private (0600); give it the permissions of any new file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(f"cannot write {name!r}: {e.strerror or e}") from None
        raise
    # The rename is durable only once the directory entry is on disk too.
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return size
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return size
