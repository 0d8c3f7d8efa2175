"""gwalert listen: receive notices from a broker (or files) into the store, losing none."""

from __future__ import annotations

import argparse
import gc
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
is down (the message being handled is then not acknowledged and comes again).

Several URLs: each feed has its own consumer (and consumer group), credentials, offsets,
heartbeat and liveness; the first copy of a notice is stored and acted on, later copies are
recorded as its arrivals ('gwalert show ID'). A feed that fails is reported ('gwalert doctor'),
retried, and never stops the others."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sources.url import DEFAULT_URL

    parser.epilog = EPILOG
    parser.add_argument(
        "url",
        nargs="*",
        default=[DEFAULT_URL],
        metavar="URL",
        help="broker URL(s) or notice file/directory; several feeds (e.g. "
        "SCiMMA and GCN) are followed at once, each notice stored and "
        f"acted on once (default: {DEFAULT_URL})",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="connect without credentials (plaintext; local test brokers)",
    )
    parser.add_argument(
        "--group-id",
        metavar="ID",
        help="consumer group (default: stable, from user, host and store)",
    )
    parser.add_argument(
        "--start-at",
        default="latest",
        metavar="WHEN",
        type=_start_at,
        help="earliest, latest or an ISO time; only when the group has no "
        "committed offset (default: %(default)s)",
    )
    parser.add_argument(
        "--until-eos",
        action="store_true",
        help="stop at the end of the stream instead of waiting for more",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="store URL or SQLite path (default: [store] url in the config, "
        "$GWALERT_STORE, else a SQLite file in the user data directory)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="gwalert config file (default: gwalert.toml in the user config dir)",
    )
    parser.add_argument(
        "--silence-warning",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="warn when neither heartbeat nor broker contact was seen for this "
        "long (0: never; default: %(default)s)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up if the broker never answers at start (0: wait for ever; "
        "once connected, listen always keeps retrying; default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--no-heartbeat", action="store_true", help="do not follow the broker's heartbeat topic"
    )
    parser.add_argument(
        "--heartbeat-topic",
        metavar="TOPIC",
        help="heartbeat topic to follow (default: sys.heartbeat on SCiMMA, "
        "gcn.heartbeat on GCN, none elsewhere)",
    )
    parser.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra librdkafka setting, e.g. session.timeout.ms=6000 (repeatable)",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="do not print a line per message"
    )
    parser.add_argument(
        "--no-actions",
        action="store_true",
        help="store notices and record their due actions, but run none "
        "('gwalert respond' workers run them)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="action lease: a worker that dies holding an action is replaced "
        "after this long (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics",
    )


def run(args: argparse.Namespace) -> int:
    from ..app import build
    from ..config import read_config, store_url
    from ..feedset import Feed, FeedSet
    from ..store import Store

    urls = list(dict.fromkeys(args.url))  # the same feed twice is one feed
    config = read_config(args.config)
    options = kafka_options(args.kafka_option)
    check_targets(urls, no_auth=args.no_auth, config=config)  # a rejected listen: no store
    store = Store.open(store_url(config, args.store))
    if not args.quiet:
        import logging

        logging.getLogger("gwalert.pipeline").addFilter(_one_dead_letter_line)
    stop = threading.Event()
    signalled = threading.Event()  # stop is also set when the feeds end: not a request
    install_signal_handlers(stop, signalled)
    # One feed: a bad URL or missing credentials is one clear error at once; several: a
    # feed that cannot even be opened is reported and retried like one that cannot connect.
    feeds = [
        Feed(url, _opener(args, url, urls, store, config, options, eager=len(urls) == 1))
        for url in urls
    ]
    metrics = None
    try:
        app = build(store, args.config, actions=not args.no_actions, lease=args.lease, eager=True)
        runner = FeedSet(
            feeds,
            app.pipeline,
            stop=stop,
            on_outcome=None if args.quiet else _print_outcome,
            fail_fast=len(feeds) == 1,
            until_eos=args.until_eos,
            status_engine=store.engine,
        )
        if args.metrics_port is not None:
            from ..metrics import serve

            metrics = serve(args.metrics_port, store.engine, runner)
        app.start()
        # What is alive now (modules, the app, the store) lives as long as the listener: out
        # of the collector's full passes (50-200 ms each over ~55,000 objects, stalling
        # whichever notice is in flight). Here, not in FeedSet: a program embedding a FeedSet
        # decides for its own objects.
        gc.freeze()
        try:
            stats = runner.run()
            if app.actions and not signalled.is_set() and not app.responder.wait_idle(60.0):
                print(
                    "gwalert: actions still running; they stay due and run at the next start",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            app.stop()
    finally:
        if metrics is not None:
            metrics.shutdown()
        store.close()
    if stats.unacknowledged:
        print(
            "gwalert: stopped while the store was unavailable: the message being handled "
            "was not acknowledged and will be delivered again",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"{stats.messages} message(s): {stats.new} new, {stats.duplicates} duplicate(s), "
        f"{stats.dead_letters} dead letter(s)",
        file=sys.stderr,
        flush=True,
    )
    return 0


def _start_at(text: str) -> str:
    """Check --start-at while parsing (a bad value is a usage error: exit status 2)."""
    from ..errors import GwalertError
    from ..sources import parse_start_at

    try:
        parse_start_at(text)
    except GwalertError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    return text


def _one_dead_letter_line(record: Any) -> bool:
    """Logging filter: the per-message line already reports each dead letter."""
    return not str(record.msg).startswith("dead letter")


def _opener(
    args: argparse.Namespace,
    url: str,
    urls: list[str],
    store: Any,
    config: dict[str, Any],
    options: dict[str, str],
    eager: bool = False,
) -> Any:
    """A function that opens the source of feed ``url`` (a new consumer each time; with
    ``eager`` the first one is opened now)."""
    from ..feedset import feed_group
    from ..sources import open_source

    group_id, store_key = feed_group(url, args.group_id, str(store.engine.url), len(urls) > 1)

    prepared: list[Any] = []

    def open_feed() -> Any:
        if prepared:
            return prepared.pop()
        return open_source(
            url,
            store_url=store_key,
            no_auth=args.no_auth,
            group_id=group_id,
            start_at=args.start_at,
            until_eos=args.until_eos,
            config=config,
            silence_warning=args.silence_warning,
            connect_timeout=args.connect_timeout,
            heartbeat=(False if args.no_heartbeat else args.heartbeat_topic or True),
            options=options,
            store=store,
        )

    if eager:
        prepared.append(open_feed())
    return open_feed


def check_targets(urls: list[str], *, no_auth: bool, config: dict[str, Any]) -> None:
    """Refuse what can never be listened to: a malformed URL or one of another scheme, and
    with a single feed a path that does not exist or a broker without credentials (with
    several, such a feed is reported and retried like one that cannot connect)."""
    from ..sources.credentials import client_config
    from ..sources.url import check_file_target, is_broker_url, parse_url

    for url in urls:
        if is_broker_url(url):
            parsed = parse_url(url)
            if len(urls) == 1:
                client_config(parsed, "consumer", no_auth=no_auth, config=config)
        elif len(urls) == 1 or "://" in url or ":/" in url:
            check_file_target(url)


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


def install_signal_handlers(
    stop: threading.Event, signalled: threading.Event | None = None
) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C (or one while waiting for actions): stop at once
            raise KeyboardInterrupt
        stop.set()
        if signalled is not None:
            signalled.set()
        print(
            f"gwalert: {signal.Signals(signum).name}: stopping after the current message",
            file=sys.stderr,
            flush=True,
        )

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_outcome(outcome: Any) -> None:
    from ..terminal import escape

    msg = outcome.message
    where = msg.source if msg.partition is None else f"{msg.source}[{msg.partition}]@{msg.offset}"
    if outcome.dead_letter_id is not None:
        print(escape(f"dead-letter {outcome.dead_letter_id} {where}: {outcome.error}"), flush=True)
    for nid, new, notice in outcome.notices:
        kind = "new" if new else "duplicate"
        facts = _key_text(outcome.summaries.get(nid)) if new else ""
        flagged = f" ({len(notice.warnings)} warning(s))" if notice.warnings else ""
        print(
            escape(
                f"{kind} {nid} {notice.superevent_id} {notice.alert_type} {where}{flagged}"
                f"{'  ' + facts if facts else ''}"
            ),
            flush=True,
        )


def _key_text(summary: Any) -> str:
    """FAR, significance, class, distance and 90% area of a new notice, from the summary the
    pipeline computed when it stored it."""
    from ._facts import key_text

    if summary is None:
        return ""
    try:
        return key_text(summary)
    except Exception:  # noqa: BLE001 - a display line is not worth failing the stream for
        return ""
