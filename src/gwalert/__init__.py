"""gwalert: receive, understand and act on LIGO/Virgo/KAGRA gravitational-wave alerts.

The public API::

    import gwalert
    notice = gwalert.read_notice("MS181101ab-preliminary.avro")
    ra, dec = notice.skymap.most_probable()

    @gwalert.handler(real=True, alert_type=["PRELIMINARY", "INITIAL"])
    def respond(notice): ...

    gwalert.listen()            # kafka://kafka.scimma.org/igwn.gwalert, credentials from hop

Names are imported lazily so that ``import gwalert`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "read_notice": "gwalert.alerts",
    "read_notices": "gwalert.alerts",
    "decode": "gwalert.alerts",
    "Notice": "gwalert.alerts",
    "Event": "gwalert.alerts",
    "ExternalCoinc": "gwalert.alerts",
    "AlertType": "gwalert.alerts",
    "SkyMap": "gwalert.skymap",
    "summarize": "gwalert.summary",
    "handler": "gwalert.handlers",
    "listen": "gwalert.handlers",
    "replay": "gwalert.handlers",
    "GwalertError": "gwalert.errors",
    "NoticeError": "gwalert.errors",
    "SkyMapError": "gwalert.errors",
}

__all__ = [
    "AlertType",
    "Event",
    "ExternalCoinc",
    "GwalertError",
    "Notice",
    "NoticeError",
    "SkyMap",
    "SkyMapError",
    "decode",
    "handler",
    "listen",
    "read_notice",
    "read_notices",
    "replay",
    "summarize",
]

if TYPE_CHECKING:
    from .alerts import AlertType, Event, ExternalCoinc, Notice, decode, read_notice, read_notices
    from .errors import GwalertError, NoticeError, SkyMapError
    from .handlers import handler, listen, replay
    from .skymap import SkyMap
    from .summary import summarize


def _version() -> str:
    """The installed distribution's version: pyproject.toml is its only source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gwalert")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # computed on first use: ``import gwalert`` stays cheap
        globals()["__version__"] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gwalert' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
