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

__version__ = "0.1.0"

_EXPORTS = {
    "read_notice": "gwalert.notice",
    "read_notices": "gwalert.notice",
    "decode": "gwalert.notice",
    "Notice": "gwalert.notice",
    "Event": "gwalert.notice",
    "ExternalCoinc": "gwalert.notice",
    "AlertType": "gwalert.notice",
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
    "AlertType", "Event", "ExternalCoinc", "GwalertError", "Notice", "NoticeError", "SkyMap",
    "SkyMapError", "decode", "handler", "listen", "read_notice", "read_notices", "replay",
    "summarize",
]

if TYPE_CHECKING:
    from .errors import GwalertError, NoticeError, SkyMapError
    from .handlers import handler, listen, replay
    from .notice import AlertType, Event, ExternalCoinc, Notice, decode, read_notice, read_notices
    from .skymap import SkyMap
    from .summary import summarize


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gwalert' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
