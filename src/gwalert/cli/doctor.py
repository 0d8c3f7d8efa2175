"""gwalert doctor: check the store, the credentials and the broker, one line per check."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._store import add_store_arguments

HELP = "check store, credentials, brokers, topics and feed liveness; one line per check"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sources.url import DEFAULT_URL

    parser.add_argument(
        "url",
        nargs="*",
        metavar="URL",
        help="broker URL(s) to check, each on its own (default: the feeds "
        f"the listeners of this store follow, else {DEFAULT_URL})",
    )
    parser.add_argument("--no-auth", action="store_true", help="connect without credentials")
    parser.add_argument("--group-id", metavar="ID", help="consumer group to check")
    add_store_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long to wait for each broker (default: %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: {ok, problems, checks: [{check, status, detail, feed}]}",
    )


#: A feed row not updated for this long while its listener says it runs: the listener is gone.
STALE_SECONDS = 30.0
#: ... and one not updated for this long is history: a note (its listener is long gone, the
#: feed no longer followed), not a problem that stays forever.
GONE_SECONDS = 86400.0


class Report:
    """Checks, printed as they come (or kept for ``--json``); ``feed`` names the feed checked."""

    def __init__(self, quiet: bool = False, feed: str | None = None) -> None:
        self.problems = 0
        self.quiet = quiet
        self.feed = feed
        self.checks: list[dict[str, Any]] = []

    def _add(self, status: str, what: str, detail: str) -> None:
        from ..redact import redact
        from ..terminal import escape

        detail = redact(detail)
        feed = redact(self.feed) if self.feed else self.feed
        self.checks.append({"check": what, "status": status, "detail": detail, "feed": feed})
        if not self.quiet:
            label = {"ok": "ok     ", "problem": "PROBLEM", "note": "note   "}[status]
            where = f"{redact(self.feed)} " if self.feed else ""
            print(escape(f"{label} {where}{what}: {detail}"), flush=True)

    def ok(self, what: str, detail: str) -> None:
        self._add("ok", what, detail)

    def fail(self, what: str, detail: str) -> None:
        self.problems += 1
        self._add("problem", what, detail)

    def note(self, what: str, detail: str) -> None:
        self._add("note", what, detail)


def run(args: argparse.Namespace) -> int:
    import json
    import threading

    from ..config import read_config, store_url
    from ..errors import GwalertError
    from ..sources.url import DEFAULT_URL
    from ..store import Store, default_url
    from ._store import missing_sqlite_file

    report = Report(quiet=args.json)
    try:
        config = read_config(args.config)
    except GwalertError as exc:
        report.fail("config", str(exc))
        config = {}
    _check_rules(args, report)
    store = None
    url = store_url(config, args.store)
    try:
        missing = missing_sqlite_file(url or default_url())
        if missing is not None:  # doctor reads; it never creates a store
            raise GwalertError(
                f"no store at {missing} (nothing received yet? 'gwalert listen' creates it; "
                "--store names another)"
            )
        store = Store.open(url)
        store.check()
        counts = store.counts()
        report.ok(
            "store",
            f"{store.url} ({counts['notices']} notices, {counts['dead_letters']} dead letters)",
        )
    except GwalertError as exc:
        report.fail("store", str(exc))
    urls = list(dict.fromkeys(args.url or _listened(store) or [DEFAULT_URL]))
    brokers = [u for u in urls if u.startswith(("kafka://", "gcn://"))]
    # Each feed is checked on its own (in parallel: an unreachable one costs its timeout once).
    reports = [Report(quiet=True, feed=u if len(urls) > 1 else None) for u in brokers]
    threads = [
        threading.Thread(
            target=_check_broker,
            daemon=True,
            args=(
                argparse.Namespace(**{**vars(args), "url": u}),
                config,
                str(store.engine.url) if store else "",
                r,
                len(urls) > 1,
            ),
        )
        for u, r in zip(brokers, reports, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in reports:
        for check in r.checks:
            report.feed = check["feed"]
            {"ok": report.ok, "problem": report.fail, "note": report.note}[check["status"]](
                check["check"], check["detail"]
            )
    report.feed = None
    if store is not None:
        _check_feed_rows(store, report)
        store.close()
    if args.json:
        print(
            json.dumps(
                {"ok": report.problems == 0, "problems": report.problems, "checks": report.checks}
            )
        )
    elif report.problems:
        print(f"{report.problems} problem(s)", flush=True)
    return 1 if report.problems else 0


def _listened(store: Any) -> list[str]:
    """The broker feeds the listeners of ``store`` follow (from ``gwalert_feeds``)."""
    from ..store import feeds as feedstatus

    if store is None:
        return []
    from datetime import UTC, datetime

    from ..store.arrivals import parse_iso

    now = datetime.now(UTC)

    def recent(row: Any) -> bool:  # a feed whose listener is long gone is not followed now
        updated = parse_iso(row.updated_at)
        return updated is None or (now - updated).total_seconds() <= GONE_SECONDS

    try:
        return [
            r.feed
            for r in feedstatus.read(store.engine)
            if r.feed.startswith(("kafka://", "gcn://")) and recent(r)
        ]
    except Exception:  # noqa: BLE001 - reported by _check_feed_rows
        return []


def _check_feed_rows(store: Any, report: Report) -> None:
    """What the listeners last wrote in ``gwalert_feeds``: a failed, degraded or silent feed, or
    one whose listener stopped writing, is a problem."""
    from datetime import UTC, datetime, timedelta

    from ..store import feeds as feedstatus
    from ..store.arrivals import parse_iso
    from ..util import duration

    try:
        rows = feedstatus.read(store.engine)
    except Exception as exc:  # noqa: BLE001 - an unreadable status table is one problem
        report.fail("feeds", f"cannot read the feed status: {exc}")
        return
    now = datetime.now(UTC)
    for row in rows:
        report.feed = row.feed
        updated = parse_iso(row.updated_at)
        age = (now - updated).total_seconds() if updated else None
        last = f"last message {row.last_message_at or 'never'}"
        if row.last_heartbeat_at:
            last += f", last heartbeat {row.last_heartbeat_at}"
        detail = (
            f"{row.state}{': ' + row.detail if row.detail else ''} ({last}; "
            f"updated {row.updated_at})"
        )
        if row.state == feedstatus.STOPPED:
            report.note("listener", detail)
        elif age is not None and age > GONE_SECONDS:  # history, not a problem of today
            report.note(
                "listener",
                f"no listener for {duration(timedelta(seconds=round(age)))} "
                f"(its last word: {detail})",
            )
        elif age is not None and age > STALE_SECONDS:
            report.fail("listener", f"no update for {age:.0f} s (listener gone?): {detail}")
        elif row.state == feedstatus.OK:
            report.ok("listener", detail)
        else:
            report.fail("listener", detail)
    report.feed = None


def _check_rules(args: argparse.Namespace, report: Report) -> None:
    """The rules of the config file, as listen will load them (and the environment variables
    their actions name)."""
    from ..config import default_config_path
    from ..errors import GwalertError
    from ..rules import load_config
    from .rules import unset_env

    path = args.config or default_config_path()
    if args.config is None and not default_config_path().exists():
        report.note("rules", f"no config file at {path}: no rules, no actions")
        return
    try:
        config = load_config(path)
    except GwalertError as exc:
        report.fail("rules", f"{exc} (listen would refuse to start)")
        return
    unset = unset_env(config)
    for line in unset:
        report.fail("rules", f"{path}: {line}")
    if not unset:
        report.ok("rules", f"{path}: {len(config.rules)} rule(s)")


def _check_broker(
    args: argparse.Namespace,
    config: dict[str, Any],
    store_url: str,
    report: Report,
    several: bool = False,
) -> None:
    import confluent_kafka

    from ..errors import GwalertError
    from ..sources.credentials import client_config
    from ..sources.kafka import default_group_id, rdkafka_logger
    from ..sources.liveness import BrokerState, heartbeat_topic_for, wait_for_broker
    from ..sources.url import parse_url

    try:
        url = parse_url(args.url)
    except GwalertError as exc:
        report.fail("feed", str(exc))
        return
    missing: str | None = None  # why there are no credentials; then the broker is tried without
    try:
        conf, username = client_config(url, "consumer", no_auth=args.no_auth, config=config)
    except GwalertError as exc:
        if url.domain is not None or url.host.endswith("scimma.org"):
            report.fail("credentials", str(exc))  # these services never answer anonymously
            return
        missing = str(exc)  # a broker of one's own may not need any: try without
        conf, username = client_config(url, "consumer", no_auth=True, config=config)
    if missing is None:
        report.ok("credentials", f"user {username}" if username else "none (--no-auth)")
    from ..feedset import feed_group

    group_id, store_key = feed_group(args.url, args.group_id, store_url, several)
    group = group_id or default_group_id(store_key, username)
    state = BrokerState(log_changes=False)
    conf.update(
        {
            "group.id": group,
            "enable.auto.commit": False,
            "error_cb": state.error,
            "logger": rdkafka_logger(),
        }
    )
    consumer = confluent_kafka.Consumer(conf)
    try:
        deadline = time.monotonic() + args.timeout
        try:
            meta = wait_for_broker(consumer, state, url, args.timeout)
        except GwalertError as exc:
            if missing is not None:  # needs credentials (or is down): say what is missing
                report.fail("credentials", f"{missing} (without, the broker: {exc})")
            else:
                report.fail("broker", str(exc))
            return
        if missing is not None:  # it answers without: what a listener with --no-auth does
            report.ok("credentials", "none needed: the broker answers without (--no-auth)")
        report.ok("broker", f"{url.bootstrap} answered ({len(meta.brokers)} broker(s))")
        for topic in url.topics:
            tmeta = meta.topics.get(topic)
            if tmeta is None:
                report.fail(f"topic {topic}", "does not exist or is not readable")
                continue
            if tmeta.error is not None:
                report.fail(f"topic {topic}", f"{tmeta.error.str()} ({tmeta.error.name()})")
                continue
            parts = [confluent_kafka.TopicPartition(topic, p) for p in tmeta.partitions]
            try:
                committed = consumer.committed(parts, timeout=max(1.0, deadline - time.monotonic()))
            except confluent_kafka.KafkaException as exc:
                report.fail(f"topic {topic}", f"group {group}: {exc.args[0].str()}")
                continue
            done = [p for p in committed if p.offset >= 0]
            report.ok(
                f"topic {topic}",
                f"{len(parts)} partition(s); group {group} has committed offsets on {len(done)}",
            )
        hb = heartbeat_topic_for(url)
        if hb is not None:
            if hb in meta.topics:
                report.ok("heartbeat", f"{hb} readable")
            else:
                report.note("heartbeat", f"{hb} not visible; liveness falls back on broker contact")
    finally:
        thread_close(consumer)


def thread_close(consumer: Any) -> None:
    from ..sources.kafka import close_within

    close_within(consumer, 5.0)
