"""gwalert doctor: check the store, the credentials and the broker, one line per check."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._store import add_store_arguments

HELP = "check store, credentials, broker and topic access; one line per problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sources.url import DEFAULT_URL

    parser.add_argument("url", nargs="?", default=DEFAULT_URL, metavar="URL",
                        help="broker URL to check (default: %(default)s)")
    parser.add_argument("--no-auth", action="store_true", help="connect without credentials")
    parser.add_argument("--group-id", metavar="ID", help="consumer group to check")
    add_store_arguments(parser)
    parser.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long to wait for the broker (default: %(default)s)")


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, what: str, detail: str) -> None:
        print(f"ok      {what}: {detail}", flush=True)

    def fail(self, what: str, detail: str) -> None:
        self.problems += 1
        print(f"PROBLEM {what}: {detail}", flush=True)

    def note(self, what: str, detail: str) -> None:
        print(f"note    {what}: {detail}", flush=True)


def run(args: argparse.Namespace) -> int:
    from ..errors import GwalertError
    from ..sources.config import load_config, store_url
    from ..store import Store

    report = Report()
    try:
        config = load_config(args.config)
    except GwalertError as exc:
        report.fail("config", str(exc))
        config = {}
    _check_rules(args, report)
    store = None
    try:
        store = Store.open(store_url(config, args.store))
        store.check()
        counts = store.counts()
        report.ok("store", f"{store.url} ({counts['notices']} notices, "
                           f"{counts['dead_letters']} dead letters)")
    except GwalertError as exc:
        report.fail("store", str(exc))
    if args.url.startswith(("kafka://", "gcn://")):
        _check_broker(args, config, str(store.engine.url) if store else "", report)
    if store is not None:
        store.close()
    if report.problems:
        print(f"{report.problems} problem(s)", flush=True)
        return 1
    return 0


def _check_rules(args: argparse.Namespace, report: Report) -> None:
    """The rules of the config file, as listen will load them (and the environment variables
    their actions name)."""
    from ..errors import GwalertError
    from ..rules import default_config_path, load_config
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


def _check_broker(args: argparse.Namespace, config: dict[str, Any], store_url: str,
                  report: Report) -> None:
    import confluent_kafka

    from ..errors import GwalertError
    from ..sources.config import client_config
    from ..sources.kafka import (
        BrokerState,
        default_group_id,
        heartbeat_topic_for,
        rdkafka_logger,
        wait_for_broker,
    )
    from ..sources.url import parse_url

    try:
        url = parse_url(args.url)
        conf, username = client_config(url, "consumer", no_auth=args.no_auth, config=config)
    except GwalertError as exc:
        report.fail("credentials", str(exc))
        return
    report.ok("credentials", f"user {username}" if username else "none (--no-auth)")
    group = args.group_id or default_group_id(store_url, username)
    state = BrokerState(log_changes=False)
    conf.update({"group.id": group, "enable.auto.commit": False, "error_cb": state.error,
                 "logger": rdkafka_logger()})
    consumer = confluent_kafka.Consumer(conf)
    try:
        deadline = time.monotonic() + args.timeout
        try:
            meta = wait_for_broker(consumer, state, url, args.timeout)
        except GwalertError as exc:
            report.fail("broker", str(exc))
            return
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
                committed = consumer.committed(parts, timeout=max(1.0, deadline -
                                                                   time.monotonic()))
            except confluent_kafka.KafkaException as exc:
                report.fail(f"topic {topic}", f"group {group}: {exc.args[0].str()}")
                continue
            done = [p for p in committed if p.offset >= 0]
            report.ok(f"topic {topic}", f"{len(parts)} partition(s); group {group} has "
                                        f"committed offsets on {len(done)}")
        hb = heartbeat_topic_for(url)
        if hb is not None:
            if hb in meta.topics:
                report.ok("heartbeat", f"{hb} readable")
            else:
                report.note("heartbeat", f"{hb} not visible; liveness falls back on broker "
                                         "contact")
    finally:
        thread_close(consumer)


def thread_close(consumer: Any) -> None:
    from ..sources.kafka import _close_within

    _close_within(consumer, 5.0)
