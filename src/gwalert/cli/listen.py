"""gwalert listen: receive notices from a broker (or files) into the store, losing none."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

HELP = "receive live notices (SCiMMA/hop Kafka, NASA GCN, files) into the store, losing none"

EPILOG = """\
URL is kafka://[user@]host[:port]/topic[,topic...] as hop-client writes it (credentials from
hop's auth.toml: 'hop auth add'), gcn://igwn.gwalert or gcn://test.gcn.nasa.gov/igwn.gwalert
(GCN_CLIENT_ID/GCN_CLIENT_SECRET or [gcn] in the config file), or a file/directory of notices.
A message is acknowledged only after its notice is stored; the group id is stable, so a restart
resumes where the last run stopped (--start-at applies only when the group has no committed
offset). A store that becomes unavailable is retried for as long as it is down (the broker keeps
the messages). Ctrl-C or SIGTERM stops within seconds with exit status 0, also while the store
is down (the message being handled is then not acknowledged and comes again)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sources.url import DEFAULT_URL

    parser.epilog = EPILOG
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, metavar="URL",
                        help="broker URL or notice file/directory (default: %(default)s)")
    parser.add_argument("--no-auth", action="store_true",
                        help="connect without credentials (plaintext; local test brokers)")
    parser.add_argument("--group-id", metavar="ID",
                        help="consumer group (default: stable, from user, host and store)")
    parser.add_argument("--start-at", default="latest", metavar="WHEN",
                        help="earliest, latest or an ISO time; only when the group has no "
                             "committed offset (default: %(default)s)")
    parser.add_argument("--until-eos", action="store_true",
                        help="stop at the end of the stream instead of waiting for more")
    parser.add_argument("--store", metavar="URL",
                        help="store URL or SQLite path (default: [store] url in the config, "
                             "$GWALERT_STORE, else a SQLite file in the user data directory)")
    parser.add_argument("--config", metavar="FILE",
                        help="gwalert config file (default: gwalert.toml in the user config dir)")
    parser.add_argument("--silence-warning", type=float, default=120.0, metavar="SECONDS",
                        help="warn when neither heartbeat nor broker contact was seen for this "
                             "long (0: never; default: %(default)s)")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="give up if the broker never answers at start (0: wait for ever; "
                             "once connected, listen always keeps retrying; default: "
                             "%(default)s)")
    parser.add_argument("--no-heartbeat", action="store_true",
                        help="do not follow the broker's heartbeat topic")
    parser.add_argument("--heartbeat-topic", metavar="TOPIC",
                        help="heartbeat topic to follow (default: sys.heartbeat on SCiMMA, "
                             "gcn.heartbeat on GCN, none elsewhere)")
    parser.add_argument("--fetch-external", action="store_true",
                        help="accept hop-client large-message offload (off: such a message "
                             "becomes a dead letter instead of fetching an unbounded URL)")
    parser.add_argument("--kafka-option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra librdkafka setting, e.g. session.timeout.ms=6000 "
                             "(repeatable)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="do not print a line per message")


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ..pipeline import Pipeline
    from ..pipeline import run as run_pipeline
    from ..sources import open_source
    from ..sources.config import load_config, store_url
    from ..store import Store

    if args.fetch_external:
        raise GwalertError("--fetch-external is not supported yet: the notice URL would be "
                           "fetched with no size or time bound")
    config = load_config(args.config)
    store = Store.open(store_url(config, args.store))
    stop = threading.Event()
    _install_signal_handlers(stop)
    try:
        source = open_source(args.url, store_url=str(store.engine.url), no_auth=args.no_auth,
                             group_id=args.group_id, start_at=args.start_at,
                             until_eos=args.until_eos, config=config,
                             silence_warning=args.silence_warning,
                             connect_timeout=args.connect_timeout,
                             heartbeat=(False if args.no_heartbeat else
                                        args.heartbeat_topic or True),
                             options=kafka_options(args.kafka_option),
                             store=store)
        responder = _responder(store, args.config)
        pipeline = Pipeline(store, hooks=[responder.schedule], after_commit=[responder.wake])
        responder.start()
        try:
            stats = run_pipeline(source, pipeline, stop,
                                 on_outcome=None if args.quiet else _print_outcome)
            if not stop.is_set() and not responder.wait_idle(60.0):
                print("gwalert: actions still running; they stay due and run at the next "
                      "start", file=sys.stderr, flush=True)
        finally:
            source.close()
            responder.stop()
    finally:
        store.close()
    if stats.unacknowledged:
        print("gwalert: stopped while the store was unavailable: the message being handled "
              "was not acknowledged and will be delivered again", file=sys.stderr, flush=True)
    print(f"{stats.messages} message(s): {stats.new} new, {stats.duplicates} duplicate(s), "
          f"{stats.dead_letters} dead letter(s)", file=sys.stderr, flush=True)
    return 0


def kafka_options(items: list[str]) -> dict[str, str]:
    """``--kafka-option KEY=VALUE`` pairs as a dict."""
    from ..errors import GwalertError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GwalertError(f"--kafka-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def _responder(store: Any, config_file: str | None) -> Any:
    """The rules engine: its ``schedule`` hook records due actions in each new notice's store
    transaction; its runner thread performs them outside the consumer loop."""
    from ..responder import Responder
    from ..rules import default_config_path, parse_config

    if config_file is None and not default_config_path().exists():
        return Responder(store, parse_config({}))  # no rules; actions already due still run
    return Responder.from_file(store, config_file)


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        stop.set()
        print(f"gwalert: {signal.Signals(signum).name}: stopping after the current message",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_outcome(outcome: Any) -> None:
    msg = outcome.message
    where = msg.source if msg.partition is None else f"{msg.source}[{msg.partition}]@{msg.offset}"
    if outcome.dead_letter_id is not None:
        print(f"dead-letter {outcome.dead_letter_id} {where}: {outcome.error}", flush=True)
    for nid, new, notice in outcome.notices:
        kind = "new" if new else "duplicate"
        flagged = f" ({len(notice.warnings)} warning(s))" if notice.warnings else ""
        print(f"{kind} {nid} {notice.superevent_id} {notice.alert_type} {where}{flagged}",
              flush=True)
