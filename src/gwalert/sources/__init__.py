"""Where notices come from: Kafka (SCiMMA/hop), NASA GCN Kafka, or files, all yielding
:class:`gwalert.sources.message.Message` objects to the same pipeline."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import GwalertError
from .url import DEFAULT_URL, BrokerURL, is_broker_url, parse_url

if TYPE_CHECKING:
    from .message import Source

__all__ = [
    "DEFAULT_URL",
    "BrokerURL",
    "is_broker_url",
    "open_source",
    "parse_start_at",
    "parse_url",
]


def parse_start_at(text: str) -> str | datetime:
    """``earliest``, ``latest`` or an ISO 8601 time (naive = UTC): where a new consumer group
    starts (see :mod:`gwalert.sources.start`)."""
    if text in ("earliest", "latest"):
        return text
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise GwalertError(
            f"--start-at {text!r}: expected earliest, latest or an ISO 8601 "
            "time such as 2026-01-01T00:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def open_source(
    target: str,
    *,
    store_url: str,
    no_auth: bool = False,
    group_id: str | None = None,
    start_at: str = "latest",
    until_eos: bool = False,
    config: dict[str, Any] | None = None,
    silence_warning: float = 120.0,
    connect_timeout: float = 30.0,
    heartbeat: bool | str = True,
    options: dict[str, str] | None = None,
    store: Any = None,
) -> Source:
    """A source for a ``kafka://`` or ``gcn://`` URL, or a file/directory path.

    ``heartbeat``: True follows the broker's known heartbeat topic (``sys.heartbeat`` on
    SCiMMA, ``gcn.heartbeat`` on GCN), a string names the topic, False follows none.
    ``options``: librdkafka settings applied last (``--kafka-option``), e.g. a shorter
    ``session.timeout.ms`` for a local broker. ``store``: the :class:`~gwalert.store.Store`
    that keeps where a new group started (see :class:`~gwalert.sources.kafka.KafkaSource`)."""
    if not is_broker_url(target):
        from .files import FileSource, store_files
        from .url import check_file_target

        check_file_target(target)
        return FileSource(os.path.expanduser(target), skip=store_files(store))
    from .credentials import client_config
    from .kafka import KafkaSource, default_group_id
    from .liveness import heartbeat_topic_for

    url = parse_url(target)
    when = parse_start_at(start_at)
    conf, username = client_config(url, "consumer", no_auth=no_auth, config=config)
    conf.update(options or {})
    return KafkaSource(
        url,
        conf,
        group_id=group_id or default_group_id(store_url, username),
        start_at=when,
        until_eos=until_eos,
        heartbeat_topic=(
            heartbeat
            if isinstance(heartbeat, str)
            else heartbeat_topic_for(url)
            if heartbeat
            else None
        ),
        silence_warning=silence_warning,
        connect_timeout=connect_timeout,
        marks=None if store is None else store.marks,
    )
