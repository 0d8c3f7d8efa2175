"""gwalert publish: send notice files to a broker as LVK does, for end-to-end drills."""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Callable
from typing import Any

HELP = "send notice files to a Kafka topic as LVK does (drills on test topics)"

EPILOG = """\
One notice per message: an Avro object container for kafka:// (what SCiMMA carries), JSON for
gcn:// (what NASA GCN carries); files are converted when needed and keyed by superevent id.
Publish to test topics such as kafka://kafka.scimma.org/igwn.gwalert-playground, never to the
real alert topics. --raw sends the files' bytes unchecked (to drill dead letters)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("paths", nargs="+", metavar="FILE", help="notice file(s)")
    parser.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="kafka://[user@]host[:port]/topic or gcn://…/topic",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="connect without credentials (plaintext; local test brokers)",
    )
    parser.add_argument("--config", metavar="FILE", help="gwalert config file")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="send each file's bytes as they are, without checking them",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up on a message not acknowledged by then (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    import confluent_kafka

    from ..config import read_config
    from ..errors import GwalertError
    from ..sources.credentials import client_config
    from ..sources.kafka import rdkafka_logger
    from ..sources.url import parse_url
    from . import error

    url = parse_url(args.to)
    if len(url.topics) != 1:
        raise GwalertError(f"{args.to}: publish to exactly one topic")
    topic = url.topics[0]
    conf, username = client_config(
        url, "producer", no_auth=args.no_auth, config=read_config(args.config)
    )
    problems: list[str] = []
    conf["error_cb"] = lambda err: problems.append(f"{err.str()} ({err.name()})")
    conf["logger"] = rdkafka_logger()  # the reason is in the one error line instead
    conf["message.timeout.ms"] = int(args.timeout * 1000)
    producer = confluent_kafka.Producer(conf)
    failed = 0
    for path in args.paths:
        try:
            value, key, fmt = _message(path, url.scheme, args.raw)
        except GwalertError as exc:
            error(f"{path}: {exc}")
            failed += 1
            continue
        headers: list[tuple[str, str | bytes | None]] = [
            ("_id", uuid.uuid4().bytes),
            ("_format", fmt.encode()),
            ("_sender", (username or getpass.getuser()).encode()),
        ]
        reports: list[Any] = []
        try:
            producer.produce(
                topic, value=value, key=key, headers=headers, on_delivery=_collect(reports)
            )
        except (confluent_kafka.KafkaException, BufferError) as exc:
            raise GwalertError(f"cannot send {path}: {exc}") from None
        producer.flush(args.timeout + 5)  # one message per request: what tansu needs, too
        if not reports:
            raise GwalertError(
                f"{url.bootstrap}: {path} not acknowledged within "
                f"{args.timeout:.0f} s" + (f": {problems[-1]}" if problems else "")
            )
        err, msg = reports[0]
        if err is not None:
            why = (
                problems[-1]
                if problems and err.code() == confluent_kafka.KafkaError._MSG_TIMED_OUT
                else f"{err.str()} ({err.name()})"
            )
            raise GwalertError(f"{url.bootstrap}: {path} not delivered: {why}")
        print(f"{path} -> {url.source_name(topic)}[{msg.partition()}]@{msg.offset()}", flush=True)
    sys.stdout.flush()
    return 1 if failed else 0


def _collect(reports: list[Any]) -> Callable[[Any, Any], None]:
    """A delivery callback appending (error, message) to ``reports``."""

    def delivered(err: Any, msg: Any) -> None:
        reports.append((err, msg))

    return delivered


def _message(path: str, scheme: str, raw: bool) -> tuple[bytes, bytes | None, str]:
    """The bytes to send for ``path``, the key (superevent id) and the hop format name."""
    from ..alerts import Format, encode, read_notices

    if raw:
        with open(path, "rb") as fh:
            data = fh.read()
        return data, None, "blob"
    notices = read_notices(path)
    if len(notices) != 1:
        from ..errors import GwalertError

        raise GwalertError(f"holds {len(notices)} notices; LVK sends one per message")
    notice = notices[0]
    key = notice.superevent_id.encode()
    want = Format.JSON if scheme == "gcn" else Format.AVRO
    if notice.format is want:
        return notice.raw, key, "json" if want is Format.JSON else "avro"
    from ..errors import GwalertError

    try:
        data = encode(notice.record, "json" if want is Format.JSON else "avro")
    except Exception as exc:  # noqa: BLE001 - fastavro's errors have no common base
        raise GwalertError(f"cannot convert to {want}: {exc}") from None
    return data, key, "json" if want is Format.JSON else "avro"
