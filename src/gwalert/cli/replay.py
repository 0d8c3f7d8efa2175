"""gwalert replay: run stored or sample notices through the rules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..summary import Summary

HELP = "run stored notices (or notice files) through the rules; --dry-run shows what would fire"

EPILOG = """\
Without PATH, every notice of the store is replayed; with PATHs (files or directories), those
notices are added to the store first. Actions already recorded for a notice are never run again
(the ledger keeps one row per notice, rule and action): they are listed as "already done".
Notices older than a rule's max_age fire nothing unless --ignore-age is given (the drill
samples of 'gwalert sample' are dated 2026-01-01: replay them with --ignore-age). --dry-run
changes nothing and runs nothing; it counts a notice carried in several files (Avro and JSON
copies) once and leaves out actions the ledger already holds."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="notice files or directories (default: the store's notices)",
    )
    parser.add_argument(
        "--store", metavar="URL", help="store URL or SQLite path (default: the listener's store)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="rules config file (default: gwalert.toml in the user config directory)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="only show which rules and actions would fire"
    )
    parser.add_argument(
        "--ignore-age",
        action="store_true",
        help="fire for notices older than the rules' max_age too",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run actions recorded as failed again (with fresh attempts)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per notice")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for the actions (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..config import default_config_path
    from ..rules import load_config
    from . import error

    config = load_config(args.config)
    if not config.rules:
        where = args.config or default_config_path()
        error(
            f"{where}: no rules (nothing would fire)"
            if args.config or default_config_path().exists()
            else f"no config file at {where}: no rules (give --config FILE)"
        )
    _unreadable.clear()
    status = _dry_run(args, config) if args.dry_run else _replay(args, config)
    return 1 if _unreadable else status


# ------------------------------------------------------------------------ notices
def _files(paths: list[str]) -> list[Path]:
    from ..errors import GwalertError

    out: list[Path] = []
    for text in paths:
        p = Path(text).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.exists():
            out.append(p)
        else:
            raise GwalertError(f"{text}: no such file or directory")
    return out


#: Files that could not be read as notices in this run (they make the exit status 1).
_unreadable: list[str] = []


def _from_files(paths: list[Path]) -> Iterator[tuple[str, int | None, Any, dict | None]]:
    from ..alerts import read_notices
    from ..errors import GwalertError
    from . import error

    for path in paths:
        try:
            notices = read_notices(path)
        except GwalertError as exc:
            error(f"{path}: {exc}")
            _unreadable.append(str(path))
            continue
        for notice in notices:
            yield str(path), None, notice, None


def _from_store(store: Any) -> Iterator[tuple[str, int | None, Any, Summary]]:
    """The stored notices, decoded for the rules, with the summary stored with each."""
    from ..alerts import decode
    from ..errors import GwalertError
    from ..summary import Summary

    for row in store.iter_notices():
        try:
            notices = decode(bytes(row.raw))
        except GwalertError:
            continue
        notice = next((n for n in notices if n.content_hash == row.content_hash), notices[0])
        yield row.source, int(row.id), notice, Summary.from_json(row.summary)


def _progress(iterable: Any, total: int | None, args: argparse.Namespace, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=" notice",
        file=sys.stderr,
        disable=True if args.no_progress else None,
        leave=False,
    )


def _open_store(args: argparse.Namespace) -> Any:
    from ..config import read_config, store_url
    from ..store import Store

    return Store.open(store_url(read_config(args.config), args.store))


# ------------------------------------------------------------------------ dry run
def _dry_run(args: argparse.Namespace, config: Any) -> int:
    from ..responder.planner import ALREADY, BROKEN, FIRE, TOO_OLD, VANISHED, Planner
    from ..summary import safe_summary
    from ._store import missing_sqlite_file

    planner = Planner(config, ignore_age=args.ignore_age)

    store = None
    if args.paths:
        files = _files(args.paths)
        items: Any = _from_files(files)
        total: int | None = len(files)
        from ..config import read_config, store_url
        from ..store import default_url

        url = store_url(read_config(args.config), args.store)
        if missing_sqlite_file(url or default_url()) is None:
            store = _open_store(args)  # only to read the ledger: files are not added
    else:
        store = _open_store(args)
        items = _from_store(store)
        total = store.counts()["notices"]
    fired = 0
    seen: dict[tuple[str, str, str, str], str] = {}
    try:
        for where, nid, notice, summary in _progress(items, total, args, "rules"):
            summary = summary or safe_summary(notice)
            identity = (
                notice.superevent_id,
                str(notice.alert_type),
                str(summary.get("time_created")),
                notice.content_hash,
            )
            if identity in seen:  # the same notice in another file (Avro and JSON copies)
                if getattr(args, "verbose", 0):
                    _print_line(
                        f"{notice.superevent_id} {notice.alert_type}: same notice as "
                        f"{seen[identity]} (counted once)",
                        args,
                    )
                continue
            seen[identity] = where
            if nid is None and store is not None:
                nid = store.find(*identity)
            plan = planner.decide(
                nid or 0, notice, summary, _recorded(store, nid), retry_failed=args.retry_failed
            )
            report: dict[str, Any] = {
                "superevent_id": notice.superevent_id,
                "alert_type": str(notice.alert_type),
                "time_created": summary.get("time_created"),
                "source": where,
                "notice_id": nid,
                "fire": _by_rule(plan.by(FIRE)),
                "too_old": _by_rule(plan.by(TOO_OLD)),
                "no_match": plan.no_match,
            }
            for verdict, key in ((BROKEN, "rule_failed"), (VANISHED, "not_in_config")):
                if plan.by(verdict):
                    report[key] = _by_rule(plan.by(verdict))
            already = [
                {"rule": d.rule, "actions": [f"{d.action} ({d.state})"]} for d in plan.by(ALREADY)
            ]
            if already:
                report["already"] = already
            fired += len(plan.by(FIRE))
            _print_dry(report, args)
    finally:
        if store is not None:
            store.close()
    if not args.json:
        print(f"{fired} action(s) would fire", file=sys.stderr)
    return 0


def _recorded(store: Any, nid: int | None) -> dict[tuple[str, str], Any]:
    """(rule, action) -> the ledger row of stored notice ``nid``, as the planner reads it."""
    if store is None or nid is None:
        return {}
    from ..responder.planner import recorded
    from ..store import ledger

    ledger.create(store.engine)
    with store.engine.connect() as conn:
        return recorded(conn, nid)


def _by_rule(decisions: list[Any]) -> list[dict[str, Any]]:
    """Decisions grouped by rule, in order: [{"rule", "actions"(, "details")}]."""
    out: dict[str, dict[str, Any]] = {}
    for d in decisions:
        entry = out.setdefault(d.rule, {"rule": d.rule, "actions": []})
        entry["actions"].append(d.action)
        if d.row is not None and d.row.get("details"):
            entry["details"] = json.loads(d.row["details"])
    return list(out.values())


def _print_line(text: str, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)


def _print_dry(report: dict[str, Any], args: argparse.Namespace) -> None:
    from tqdm import tqdm

    if args.json:
        text = json.dumps(report, default=str)
    else:
        head = f"{report['superevent_id']} {report['alert_type']} {report['time_created']}"
        parts = [f"{e['rule']} -> {', '.join(e['actions'])}" for e in report["fire"]]
        parts += [f"({e['rule']}: older than max_age, would not fire)" for e in report["too_old"]]
        parts += [
            f"({e['rule']}: rule cannot be evaluated, recorded failed)"
            for e in report.get("rule_failed", [])
        ]
        parts += [
            f"({e['rule']}/{', '.join(e['actions'])} due but no longer in the config: "
            "recorded failed)"
            for e in report.get("not_in_config", [])
        ]
        parts += [
            f"({e['rule']} already in the ledger: {', '.join(e['actions'])})"
            for e in report.get("already", [])
        ]
        text = f"{head}: {'; '.join(parts) if parts else 'no rule'}"
        if getattr(args, "verbose", 0):
            text += "".join(f"\n    {rule}: {why}" for rule, why in report["no_match"].items())
    tqdm.write(text, file=sys.stdout)


# ------------------------------------------------------------------------ replay
def _replay(args: argparse.Namespace, config: Any) -> int:
    from ..app import build
    from ..errors import GwalertError
    from ..pipeline import run as run_pipeline
    from ..redact import ledger_row
    from ..sources.files import FileSource
    from ..store import write_transaction
    from ..store.ledger import DONE, FAILED, SKIPPED, iter_rows, pending, retry_failed
    from ..summary import Summary
    from ..util import utcnow
    from . import error

    store = _open_store(args)
    # FILES enter through the pipeline, as with `gwalert listen FILES`: dead letters and
    # arrivals recorded, actions planned in the notice's transaction.
    app = build(store, rules=config, ignore_age=args.ignore_age)
    responder = app.responder
    run_start = utcnow()
    ids: list[int] = []
    labels: dict[int, str] = {}

    def replan(nid: int, notice: Any, summary: Summary | None) -> None:
        """A notice stored before: plan what its rules want that the ledger lacks, on the
        summary stored with it (read, never recomputed)."""
        if summary is None:
            row = store.get_notice(nid)
            summary = Summary.from_json(row.summary) if row is not None else None
        with write_transaction(store.engine) as conn:
            if args.retry_failed:
                retry_failed(conn, [nid])
            responder.schedule(conn, nid, notice, summary)

    try:
        responder.start()
        if args.paths:
            files = _files(args.paths)
            bar = _progress(None, len(files), args, "scheduling")

            def handled(outcome: Any) -> None:
                bar.update(1)
                if outcome.dead_letter_id is not None:
                    where = outcome.message.source.removeprefix("file:")
                    error(f"{where}: {outcome.error}")
                    _unreadable.append(where)
                for nid, new, notice in outcome.notices:
                    if not new or args.retry_failed:
                        replan(nid, notice, None)
                    ids.append(nid)
                    labels[nid] = f"{notice.superevent_id} {notice.alert_type}"

            for path in args.paths:
                run_pipeline(FileSource(path), app.pipeline, on_outcome=handled, feed=path)
            bar.close()
        else:
            items = _from_store(store)
            total = store.counts()["notices"]
            for _where, nid, notice, summary in _progress(items, total, args, "scheduling"):
                replan(nid, notice, summary)
                ids.append(nid)
                labels[nid] = f"{notice.superevent_id} {notice.alert_type}"
        with store.engine.connect() as conn:
            todo = pending(conn, ids)
        bar = _progress(None, todo, args, "actions")
        done_before = 0
        import time

        end = time.monotonic() + args.timeout
        while True:
            with store.engine.connect() as conn:
                left = pending(conn, ids)
            bar.update(max(0, todo - left - done_before))
            done_before = todo - left
            if left == 0 or time.monotonic() > end:
                break
            time.sleep(0.2)
        bar.close()
        responder.stop()
        failed = 0
        with store.engine.connect() as conn:
            rows = [ledger_row(r) for r in iter_rows(conn, ids)]
        for row in rows:
            state = row["state"]
            failed += state == FAILED
            if args.json:
                print(
                    json.dumps(
                        {
                            "notice_id": row["notice_id"],
                            "notice": labels.get(row["notice_id"]),
                            "rule": row["rule"],
                            "action": row["action"],
                            "state": state,
                            "attempts": row["attempts"],
                            "error": row["last_error"],
                        }
                    )
                )
            elif state != SKIPPED or getattr(args, "verbose", 0):
                why = f": {row['last_error']}" if row["last_error"] and state != DONE else ""
                earlier = (
                    state in (DONE, FAILED)
                    and row["finished_at"] is not None
                    and row["finished_at"] < run_start
                )
                shown = f"already {state} (earlier run)" if earlier else state
                print(
                    f"{labels.get(row['notice_id'], row['notice_id'])} "
                    f"{row['rule']}/{row['action']}: {shown}{why}"
                )
        if left:
            raise GwalertError(
                f"{left} action(s) still pending after {args.timeout:g} s "
                "(they stay due in the ledger and run at the next start)"
            )
        print(
            f"{len(set(ids))} notice(s), {len(rows)} action record(s), {failed} failed",
            file=sys.stderr,
        )
        return 1 if failed else 0
    finally:
        responder.stop(timeout=5)
        store.close()
