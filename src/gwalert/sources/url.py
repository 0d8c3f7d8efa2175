"""Where to listen: ``kafka://[user@]host[:port]/topic[,topic…]`` as hop-client writes it,
``gcn://[domain/]topic[,topic…]`` for NASA GCN Kafka, or a file/directory path."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import GwalertError

DEFAULT_URL = "kafka://kafka.scimma.org/igwn.gwalert"


@dataclass(frozen=True)
class BrokerURL:
    scheme: str  # "kafka" or "gcn"
    bootstrap: str  # host[:port] given to librdkafka
    topics: tuple[str, ...]
    username: str | None = None  # kafka://user@host/… picks among several hop credentials
    domain: str | None = None  # GCN domain (gcn.nasa.gov, test.gcn.nasa.gov), None if local

    @property
    def host(self) -> str:
        """The host part of ``bootstrap`` (no port)."""
        return (
            self.bootstrap.rsplit(":", 1)[0] if self.bootstrap.count(":") == 1 else self.bootstrap
        )

    def source_name(self, topic: str) -> str:
        return f"{self.scheme}://{self.bootstrap}/{topic}"

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.bootstrap}/{','.join(self.topics)}"


def is_broker_url(text: str) -> bool:
    return text.startswith(("kafka://", "gcn://"))


def check_file_target(text: str) -> None:
    """Raise :class:`GwalertError` for a listen target that is neither a broker URL nor an
    existing path: a URL of another scheme (``https://``, ``kafk://``) or a bare topic name."""
    import os
    import re

    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):/+", text)
    if scheme and not os.path.exists(text):
        typed, name = scheme.group(0), scheme.group(1).lower()
        if name in ("kafka", "gcn"):  # kafka:/host/topic, gcn:///igwn.gwalert
            fixed = f"{name}://{text[len(typed) :]}"
            raise GwalertError(f"{text}: {typed!r} is not {name}://; did you mean {fixed}?")
        raise GwalertError(
            f"{text}: unknown scheme {typed!r}; use kafka:// "
            "(SCiMMA/hop) or gcn:// (NASA GCN), e.g. "
            f"{DEFAULT_URL}"
        )
    if not os.path.exists(os.path.expanduser(text)):
        hint = ""
        if re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+", text) and "/" not in text:
            hint = f"; to listen to the topic write kafka://kafka.scimma.org/{text} or gcn://{text}"
        raise GwalertError(f"{text}: no such file or directory{hint}")


def _is_local(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if ":" in host else host
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return ":" in host  # an explicit port: a broker address, not a GCN domain


def parse_url(text: str) -> BrokerURL:
    """Parse a ``kafka://`` or ``gcn://`` URL; :class:`GwalertError` names what is wrong."""
    parts = urlsplit(text)
    if parts.scheme not in ("kafka", "gcn"):
        raise GwalertError(f"{text}: not a kafka:// or gcn:// URL")
    netloc, path = parts.netloc, parts.path.strip("/")
    if parts.query or parts.fragment:
        raise GwalertError(f"{text}: unexpected ?query or #fragment")
    if parts.scheme == "gcn":
        if not path:  # gcn://igwn.gwalert
            return BrokerURL(
                "gcn", "kafka.gcn.nasa.gov", _topics(netloc, text), domain="gcn.nasa.gov"
            )
        if _is_local(netloc):  # gcn://127.0.0.1:9092/igwn.gwalert: a local drill broker
            return BrokerURL("gcn", netloc, _topics(path, text))
        return BrokerURL("gcn", f"kafka.{netloc}", _topics(path, text), domain=netloc)
    user, _, hostport = netloc.rpartition("@")
    if not hostport:
        raise GwalertError(f"{text}: no broker host")
    if not path:
        raise GwalertError(f"{text}: no topic (kafka://host[:port]/topic[,topic...])")
    return BrokerURL("kafka", hostport, _topics(path, text), username=user or None)


def _topics(text: str, url: str) -> tuple[str, ...]:
    topics = tuple(t for t in text.split(",") if t)
    for t in topics:
        if not t.replace(".", "").replace("-", "").replace("_", "").isalnum():
            raise GwalertError(f"{url}: invalid topic name {t!r}")
    if not topics:
        raise GwalertError(f"{url}: no topic")
    return topics
