"""Files gwalert writes never follow links: one helper for ``save``, ``show --save``, plots,
exports and the dashboard's map cache.

A target directory (``root``) is the user's choice and is opened as given. Below it, every
directory is opened (and created when missing) one component at a time relative to its parent's
descriptor with ``O_DIRECTORY | O_NOFOLLOW``: a symbolic link planted at any component is an
error, never followed. Each file is written to a temporary name created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` in that directory and renamed over the final name relative to
the same descriptor (a rename replaces a link, it never writes through it). Names made from
notice content (a superevent id, an alert type) must match :data:`NAME` (no ``/``, no ``..``,
no leading dot).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import GwalertError

#: A path component made from notice content (a superevent id is ``[A-Za-z0-9_.-]{1,64}``).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(GwalertError, OSError):
    """A component of a path gwalert writes is a link (or a name from a notice is not a safe
    file name): nothing was written."""

    def __init__(self, message: str) -> None:
        GwalertError.__init__(self, message)
        self.strerror = message


def check_name(name: str) -> str:
    """``name`` when it is a safe single path component made from notice content."""
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise UnsafePathError(f"{name!r} is not a safe file name")
    return name


def _open_root(root: str | os.PathLike[str], create: bool) -> int:
    path = os.fspath(root)
    if create:
        os.makedirs(path, exist_ok=True)
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))


def _open_sub(parent: int, name: str, where: str, create: bool) -> int:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafePathError(f"{where}: {name!r} is not a directory name")
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link (to anything), or a file
            raise UnsafePathError(
                f"{where}/{name} is a link or not a directory: not writing through it"
            ) from None
        raise


@contextlib.contextmanager
def open_dir(
    root: str | os.PathLike[str], parts: Sequence[str] = (), *, create: bool = True
) -> Iterator[int]:
    """A descriptor of ``root/parts…``, every part opened without following a link (and
    created when ``create`` and missing); closed on exit."""
    fd = _open_root(root, create)
    where = os.fspath(root)
    try:
        for part in parts:
            sub = _open_sub(fd, part, where, create)
            os.close(fd)
            fd = sub
            where = f"{where}/{part}"
        yield fd
    finally:
        os.close(fd)


def write_at(dir_fd: int, name: str, data: bytes | Callable[[IO[bytes]], None]) -> None:
    """Write ``name`` in the directory ``dir_fd``: a new temporary file (``O_EXCL``,
    ``O_NOFOLLOW``) filled with ``data`` (bytes, or a function writing to the file), synced,
    and renamed over ``name``."""
    if "/" in name or name in ("", ".", ".."):
        raise UnsafePathError(f"{name!r} is not a file name")
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, _NEW, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def write_file(
    root: str | os.PathLike[str],
    parts: Sequence[str],
    name: str,
    data: bytes | Callable[[IO[bytes]], None],
) -> Path:
    """Write ``root/parts…/name`` without following a link anywhere below ``root``; the
    path written."""
    with open_dir(root, parts) as fd:
        write_at(fd, name, data)
    return Path(root, *parts, name)


def write_path(path: str | os.PathLike[str], data: bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write one file the user named (an export, a plot): its directory is the user's, the file
    is created as a new temporary file and renamed over the name (a link there is replaced,
    never written through)."""
    p = Path(path)
    return write_file(p.parent if str(p.parent) else ".", (), p.name, data)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[str]:
    """For writers that take a file name (matplotlib, astropy): a new temporary file created
    ``O_CREAT | O_EXCL | O_NOFOLLOW`` next to ``path``, with the same extension, named through
    the directory's descriptor; renamed over ``path`` when the block ends without error
    (removed otherwise). A link at ``path`` is replaced, never written through."""
    p = Path(path)
    parent = os.fspath(p.parent) if str(p.parent) else "."
    suffix = "".join(p.suffixes[-2:]) if p.name.endswith(".fits.gz") else p.suffix
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    tmp = f".{p.name}.{secrets.token_hex(6)}.tmp{suffix}"
    try:
        os.close(os.open(tmp, _NEW, 0o644, dir_fd=dir_fd))
        try:
            yield (
                f"/proc/self/fd/{dir_fd}/{tmp}"
                if os.path.isdir("/proc/self/fd")
                else str(Path(parent, tmp))
            )
            os.replace(tmp, p.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
