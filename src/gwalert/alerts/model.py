"""The decoded LVK alert: :class:`Notice` with its :class:`Event` and :class:`ExternalCoinc`,
immutable, and the enumerations they use (alert types, wire formats)."""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import GwalertError, SkyMapError
from ..util import memo
from .hashing import content_hash

if TYPE_CHECKING:
    from ..skymap import SkyMap


class AlertType(enum.StrEnum):
    EARLYWARNING = "EARLYWARNING"
    PRELIMINARY = "PRELIMINARY"
    INITIAL = "INITIAL"
    UPDATE = "UPDATE"
    RETRACTION = "RETRACTION"


class Format(enum.StrEnum):
    AVRO = "avro"  # an Avro object-container file (SCiMMA / hop)
    AVRO_DATUM = "avro-datum"  # one bare Avro datum written with the official schema
    JSON = "json"  # NASA GCN Kafka's JSON, sky maps base64-encoded


def frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class MchirpSource:
    bin_edges: tuple[float, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Event:
    """The event of a notice. A field the notice lacks, or holds in a form gwalert cannot use
    (see :attr:`Notice.warnings`), is None (empty for the collections)."""

    time: datetime | None
    far: float | None
    significant: bool | None
    instruments: tuple[str, ...]
    group: str | None
    pipeline: str | None
    search: str | None
    classification: Mapping[str, float]
    properties: Mapping[str, float]
    mchirp_source: MchirpSource | None
    duration: float | None
    central_frequency: float | None
    skymap_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ExternalCoinc:
    gcn_notice_id: int | str | None
    ivorn: str | None
    observatory: str | None
    search: str | None
    time_difference: float | None
    time_coincidence_far: float | None
    time_sky_position_coincidence_far: float | None
    combined_skymap_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Notice:
    """One LVK alert, decoded and validated. Immutable; ``record`` returns a fresh copy."""

    superevent_id: str
    alert_type: AlertType
    time_created: datetime
    event: Event | None
    external_coinc: ExternalCoinc | None
    urls: Mapping[str, str]
    format: Format
    raw: bytes = field(repr=False)
    _record: dict[str, Any] = field(repr=False, compare=False)
    #: How the notice strays from the official IGWN alert schema, one line per field (empty
    #: for a conforming notice). The fields concerned are None in :attr:`event`.
    warnings: tuple[str, ...] = ()
    _hash: str = field(default="", repr=False, compare=False)

    # --------------------------------------------------------------------------- helpers
    @property
    def is_mock(self) -> bool:
        """Mock/MDC alerts (``M…``), e.g. the hourly mock alerts."""
        return self.superevent_id.startswith("M")

    @property
    def is_real(self) -> bool:
        """Real candidates (``S…``)."""
        return self.superevent_id.startswith("S")

    @property
    def is_test(self) -> bool:
        """Test alerts (``T…``)."""
        return self.superevent_id.startswith("T")

    @property
    def is_retraction(self) -> bool:
        return self.alert_type is AlertType.RETRACTION

    @property
    def record(self) -> dict[str, Any]:
        """The record as the sender wrote it (sky maps as bytes), as a new dict."""
        return copy.deepcopy(self._record)

    @memo
    def skymap(self) -> SkyMap | None:
        """The event's sky map, parsed on first use; None when the notice carries none."""
        if self.event is None or not self.event.skymap_bytes:
            return None
        from ..skymap import SkyMap

        try:
            return SkyMap.read(self.event.skymap_bytes)
        except SkyMapError as exc:
            raise SkyMapError(f"sky map of {self.superevent_id}: {exc}") from None
        except GwalertError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a hostile map provokes: one line
            raise SkyMapError(
                f"sky map of {self.superevent_id}: unreadable ({decode_reason(exc)})"
            ) from exc

    @memo
    def combined_skymap(self) -> SkyMap | None:
        """The GW + external combined sky map of an external coincidence, if any."""
        ext = self.external_coinc
        if ext is None or not ext.combined_skymap_bytes:
            return None
        from ..skymap import SkyMap

        try:
            return SkyMap.read(ext.combined_skymap_bytes)
        except GwalertError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise SkyMapError(
                f"combined sky map of {self.superevent_id}: unreadable ({decode_reason(exc)})"
            ) from exc

    @property
    def content_hash(self) -> str:
        """SHA-256 of the notice's content, the same whichever format carried it (a missing
        optional field counts as null)."""
        return self._hash or content_hash(self._record)


#: Plain words for decoder failures whose own text is internal (an index, a byte count).
_PLAIN = {
    "EOFError": "truncated: the data ends in the middle of a record",
    "UnicodeDecodeError": "holds text that is not UTF-8",
    "OverflowError": "holds a number too large to read",
    "RecursionError": "nests too deeply",
    "MemoryError": "too large to read in memory",
}


def decode_reason(exc: BaseException) -> str:
    """Why decoding failed, in words for the user: never the exception's class name; the
    decoder's own text only where it describes the input (a JSON syntax error's position)."""
    name = type(exc).__name__
    if name in _PLAIN:
        return _PLAIN[name]
    if not isinstance(exc, ValueError) or isinstance(exc, UnicodeError):
        return "malformed: it does not follow the layout of its format"
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001
        text = ""
    text = text.splitlines()[0] if text else ""
    if len(text) > 200:
        text = text[:197] + "..."
    return text or "malformed: it does not follow the layout of its format"
