"""gwalert notices: list every stored notice."""

from __future__ import annotations

import argparse
import json
import sys

from ._store import add_store_arguments, open_store

HELP = "list the notices in the store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--superevent", metavar="ID", help="only this superevent's notices")
    parser.add_argument("--json", action="store_true", help="one JSON object per notice")
    parser.add_argument(
        "--dead-letters",
        action="store_true",
        help="list the messages that could not be decoded instead",
    )


def run(args: argparse.Namespace) -> int:
    from ..terminal import print_line

    store = open_store(args)
    try:
        if args.dead_letters:
            if not args.json:
                print("id\treceived_at\tsource\terror")
            for row in store.iter_dead_letters():
                if args.json:
                    print(
                        json.dumps(
                            {
                                "id": row.id,
                                "error": row.error,
                                "source": row.source,
                                "partition": row.partition,
                                "offset": row.offset,
                                "received_at": row.received_at,
                                "bytes": len(row.raw),
                            }
                        )
                    )
                else:
                    print_line(
                        f"{row.id}\t{row.received_at}\t{_where(row)}\t{row.error}", keep="\t"
                    )
            return 0
        cols = (
            "id",
            "superevent_id",
            "alert_type",
            "time_created",
            "received_at",
            "source",
            "partition",
            "offset",
        )
        if not args.json:
            print("\t".join(cols[:6]))
        for row in store.iter_notices(args.superevent, with_raw=False):
            if args.json:
                facts = {c: getattr(row, c) for c in cols}
                facts.update(format=row.format, content_hash=row.content_hash, summary=row.summary)
                print(json.dumps(facts))
            else:
                print_line(
                    f"{row.id}\t{row.superevent_id}\t{row.alert_type}\t{row.time_created}\t"
                    f"{row.received_at}\t{_where(row)}",
                    keep="\t",
                )
        sys.stdout.flush()
    finally:
        store.close()
    return 0


def _where(row: object) -> str:
    part = getattr(row, "partition", None)
    if part is None:
        return row.source  # type: ignore[attr-defined]
    return f"{row.source}[{part}]@{row.offset}"  # type: ignore[attr-defined]
