"""Sky-map pictures and files for the dashboard, made once per notice.

A PNG is rendered with the public :meth:`gwalert.SkyMap.plot` the first time it is asked for
(or earlier, by :meth:`MapCache.prerender` from a background thread when a new notice arrives)
and kept in a disk cache keyed by notice id and content hash, so the same file is never drawn
twice, even across restarts. Rendering runs in a worker thread, at most ``workers`` at a time.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import GwalertError

log = logging.getLogger("gwalert.web")

KINDS = ("skymap", "combined")


class MapCache:
    """PNG files under ``directory``, one per (notice, kind)."""

    def __init__(self, directory: str | os.PathLike, workers: int = 1) -> None:
        self.directory = Path(directory)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self.failures: dict[str, str] = {}

    def path(self, notice_id: int, content_hash: str, kind: str) -> Path:
        safe = "".join(ch for ch in str(content_hash) if ch.isalnum())[:16]
        return self.directory / f"{int(notice_id)}-{safe}-{kind}.png"

    def cached(self, notice_id: int, content_hash: str, kind: str) -> Path | None:
        path = self.path(notice_id, content_hash, kind)
        return path if _regular(path) else None

    def get(self, row: Any, kind: str) -> Path | None:
        """The PNG of ``row`` (a notice row with ``raw``): cached, else rendered now. None when
        the notice has no such map; raises :class:`GwalertError` when it cannot be drawn."""
        if kind not in KINDS:
            return None
        path = self.path(row["id"], row["content_hash"], kind)
        if _regular(path):
            return path
        key = path.name
        if key in self.failures:
            raise GwalertError(self.failures[key])
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second request for the same map waits for the first rendering
            if _regular(path):
                return path
            with self._slots:
                try:
                    done = render(row, kind, path)
                except Exception as exc:  # noqa: BLE001 - hostile maps must not kill the server
                    message = f"cannot draw the sky map of notice {row['id']}: {exc}"
                    self.failures[key] = message
                    raise GwalertError(message) from None
        return path if done else None


def _regular(path: Path) -> bool:
    """A regular file, not a link (a link planted in the cache is never served)."""
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def render(row: Any, kind: str, path: Path) -> bool:
    """Draw the ``kind`` map of a stored notice into ``path`` (atomically). False: no map."""
    from ..alerts import decode

    notices = [n for n in decode(bytes(row["raw"])) if n.content_hash == row["content_hash"]]
    if not notices:
        return False
    notice = notices[0]
    skymap = notice.skymap if kind == "skymap" else notice.combined_skymap
    if skymap is None:
        return False
    title_kind = str(notice.alert_type) if kind == "skymap" else f"{notice.alert_type} (combined)"
    from ..safefiles import write_path

    path.parent.mkdir(parents=True, exist_ok=True)
    write_path(
        path,
        lambda fh: skymap.plot(fh, event=notice.superevent_id, alert_type=title_kind, dpi=90),
    )
    return True


def skymap_bytes(row: Any, kind: str = "skymap") -> bytes | None:
    """The FITS bytes of a stored notice's sky map (``skymap`` or ``combined``), read from its
    raw record (no notice decoded)."""
    from ..alerts import embedded_skymap

    return embedded_skymap(bytes(row["raw"]), row["content_hash"], combined=kind == "combined")


def moc_fits(row: Any, p: float = 0.9) -> bytes | None:
    """The ``p`` credible region of a stored notice's sky map as a MOC FITS file."""
    from ..skymap import SkyMap

    data = skymap_bytes(row)
    if not data:
        return None
    return SkyMap.read(data).moc(p).to_fits()
