"""gwalert respond: a worker that runs the due actions of the ledger, nothing else."""

from __future__ import annotations

import argparse
import sys
import threading

HELP = "run due actions from the store's ledger (a worker beside 'listen --no-actions')"

EPILOG = """\
Listeners ('gwalert listen --no-actions', any host) store notices and record the actions their
rules trigger; any number of 'respond' workers on any hosts sharing the store (PostgreSQL) run
them, each action once: a worker holds an action under a lease it renews; a worker that dies is
replaced after the lease (at once on the same host). Ctrl-C or SIGTERM stops claiming and waits
for the running actions."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument(
        "--store",
        metavar="URL",
        help="store URL or SQLite path (default: [store] url in the config, "
        "$GWALERT_STORE, else the SQLite file in the user data directory)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="gwalert config file with the rules (default: gwalert.toml in the user config dir)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="action lease, renewed while an action runs; a dead worker's "
        "actions are taken over after it (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="actions run at once (default: [responder] workers, 8)",
    )
    parser.add_argument(
        "--until-idle", action="store_true", help="exit once no action is due or running"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics",
    )


def run(args: argparse.Namespace) -> int:
    from ..app import responder
    from ..config import read_config, store_url
    from ..errors import GwalertError
    from ..store import Store
    from .listen import install_signal_handlers

    if args.lease <= 0:
        raise GwalertError(f"--lease {args.lease}: must be > 0")
    if args.workers is not None and args.workers < 1:
        raise GwalertError(f"--workers {args.workers}: must be >= 1")
    config = read_config(args.config)
    store = Store.open(store_url(config, args.store))
    stop = threading.Event()
    install_signal_handlers(stop)
    metrics = None
    try:
        worker = responder(store, args.config, lease=args.lease, workers=args.workers)
        if args.metrics_port is not None:
            from ..metrics import serve

            metrics = serve(args.metrics_port, store.engine)
        print(
            f"gwalert: responding from {store.url} as {worker.owner}", file=sys.stderr, flush=True
        )
        worker.start()
        try:
            while not stop.is_set():
                if args.until_idle and worker.wait_idle(0.0):
                    break
                stop.wait(0.5)
        finally:
            worker.stop()
    finally:
        if metrics is not None:
            metrics.shutdown()
        store.close()
    return 0
