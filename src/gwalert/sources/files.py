"""Notices from files: one file, or every file of a directory (sorted by name), read through the
same pipeline as a live stream. A file that is not a notice becomes a dead letter."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import GwalertError
from ..limits import MAX_NOTICE_BYTES
from .message import Message


class FileSource:
    """Messages from a file or a directory; ``commit`` has nothing to acknowledge."""

    def __init__(self, path: str | os.PathLike, skip: Iterable[str | os.PathLike] = ()) -> None:
        self.path = Path(path).expanduser()
        #: files never read (the store's own SQLite files when it lives in the directory)
        self.skip = {Path(p).resolve() for p in skip}
        if not self.path.exists():
            raise GwalertError(f"{self.path}: no such file or directory")
        self.name = f"file:{self.path.resolve()}"

    def files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(
                p
                for p in self.path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.resolve() not in self.skip
            )
        return [self.path]

    def messages(self, stop: threading.Event) -> Iterator[Message]:
        for path in self.files():
            if stop.is_set():
                return
            try:
                if path.stat().st_size > MAX_NOTICE_BYTES:
                    data = path.open("rb").read(MAX_NOTICE_BYTES + 1)
                else:
                    data = path.read_bytes()
            except OSError as exc:
                raise GwalertError(f"{path}: {exc.strerror or exc}") from None
            yield Message(value=data, source=f"file:{path.resolve()}")

    def commit(self, message: Message) -> None:
        return None

    def close(self) -> None:
        return None


def store_files(store: object) -> list[str]:
    """The files of a SQLite store (database, journal, WAL, shared memory), else none."""
    url = getattr(getattr(store, "engine", None), "url", None)
    if url is None or not url.drivername.startswith("sqlite"):
        return []
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return []
    return [db + suffix for suffix in ("", "-journal", "-wal", "-shm")]
