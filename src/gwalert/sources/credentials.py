"""librdkafka client configurations for ``kafka://`` (credentials from hop-client's auth.toml)
and ``gcn://`` (OIDC client id/secret, through gcn-kafka), in one place so they can be tested.

gwalert's config file (:mod:`gwalert.config`) may hold::

    [gcn]
    client_id = "..."
    client_secret = "..."

    [kafka]
    auth = "/path/to/auth.toml"   # default: hop-client's own auth.toml

``GCN_CLIENT_ID`` / ``GCN_CLIENT_SECRET`` in the environment override the file.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import default_config_path
from ..errors import GwalertError
from ..util import first_line
from .url import BrokerURL

#: Largest message gwalert sends or accepts (LVK sends up to 2 MiB, zstd-compressed).
MAX_MESSAGE_BYTES = 16 << 20


def hop_credential(url: BrokerURL, auth_file: str | os.PathLike | None = None) -> Any:
    """The hop-client credential (``hop.auth.Auth``) for ``url``, as ``hop`` would choose it."""
    from hop import auth as hop_auth

    try:
        creds = hop_auth.load_auth(os.fspath(auth_file) if auth_file else None)
    except FileNotFoundError as exc:
        raise GwalertError(
            f"no credentials: {exc.filename} does not exist; run 'hop auth add' "
            "(or pass --no-auth for a broker without authentication)"
        ) from None
    except RuntimeError as exc:
        raise GwalertError(f"credentials: {first_line(exc)}") from None
    try:
        return hop_auth.select_matching_auth(creds, url.bootstrap, url.username)
    except RuntimeError as exc:
        raise GwalertError(f"credentials: {' '.join(str(exc).split())}") from None


def gcn_credentials(config: dict[str, Any]) -> tuple[str | None, str | None]:
    section = config.get("gcn", {}) if isinstance(config.get("gcn"), dict) else {}
    client_id = os.environ.get("GCN_CLIENT_ID") or section.get("client_id")
    client_secret = os.environ.get("GCN_CLIENT_SECRET") or section.get("client_secret")
    return client_id, client_secret


def client_config(
    url: BrokerURL,
    mode: str = "consumer",
    *,
    no_auth: bool = False,
    config: dict[str, Any] | None = None,
    auth_file: str | os.PathLike | None = None,
) -> tuple[dict[str, Any], str | None]:
    """The librdkafka config for ``mode`` (consumer, producer, admin) and the user name.

    ``kafka://``: hop-client's credential for the host (SCRAM-SHA-512 over SASL_SSL as
    ``hop auth add`` writes it). ``gcn://``: gcn-kafka's configuration with the OIDC client
    credentials. ``no_auth``: plaintext, no SASL (local drill brokers).
    """
    config = config or {}
    conf: dict[str, Any] = {"bootstrap.servers": url.bootstrap}
    if mode == "producer":
        conf.update(
            {"compression.type": "zstd", "message.max.bytes": MAX_MESSAGE_BYTES, "linger.ms": 0}
        )
    elif mode == "consumer":
        conf.update(
            {
                "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
                "fetch.max.bytes": 4 * MAX_MESSAGE_BYTES,
                "receive.message.max.bytes": 4 * MAX_MESSAGE_BYTES + 1024,
            }
        )
    if no_auth:
        conf["security.protocol"] = "plaintext"
        return conf, None
    if url.scheme == "gcn":
        client_id, client_secret = gcn_credentials(config)
        if not client_id or not client_secret:
            raise GwalertError(
                "no GCN credentials: set GCN_CLIENT_ID and GCN_CLIENT_SECRET, or [gcn] "
                "client_id/client_secret in the config file (--config FILE, default "
                f"{default_config_path()}; from https://gcn.nasa.gov/quickstart)"
            )
        if url.domain is None:
            raise GwalertError(f"{url}: a local broker address takes --no-auth")
        from gcn_kafka import core as gcn_core

        conf = gcn_core.get_config(
            mode, conf, client_id=client_id, client_secret=client_secret, domain=url.domain
        )
        if mode == "consumer":
            conf.pop("group.id", None)  # gcn-kafka's is random; the caller sets a stable one
        return conf, client_id
    kafka_section = config.get("kafka", {}) if isinstance(config.get("kafka"), dict) else {}
    cred = hop_credential(url, auth_file or kafka_section.get("auth"))
    conf.update(cred())
    return conf, cred.username
