"""gwalert plan's outputs: text tables, CSV, the picture, stored plans and their changes."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def print_galaxies(report: dict[str, Any]) -> None:
    rows = report.get("galaxies")
    if not rows:
        return
    what = "dP/dV x L" if report["galaxies_use_distance"] else "dP/dΩ x L"
    print(f"  galaxies ranked by {what} (best {len(rows)}):")
    print(f"  {'#':>3}  {'name':<20}  {'RA':>8}  {'Dec':>7}  {'dist':>6}  {'score':>7}")
    for g in rows:
        dist = "" if g["distance"] is None else f"{g['distance']:.0f}"
        print(
            f"  {g['rank']:>3}  {g['name'][:20]:<20}  {g['ra']:8.3f}  {g['dec']:+7.3f}  "
            f"{dist:>6}  {100 * g['score']:6.2f}%"
        )


def write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    from ..errors import GwalertError
    from ..plan.rows import csv_text

    text = csv_text(rows)
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise GwalertError(f"--csv {path}: {exc.strerror}") from None


def print_tiles(report: dict[str, Any]) -> None:
    tiles = report["tiles"]
    head = (
        f"{report['superevent_id'] or report['map']}: {len(tiles)} fields of {report['footprint']}"
    )
    print(
        f"{head} ({report['field_area']:.2f} deg² each), {report['method']}, "
        f"{100 * report['probability']:.1f}% of the probability covered"
    )
    if report.get("gap") is not None:
        print(
            f"  proven upper bound {100 * report['upper_bound']:.2f}%, "
            f"optimality gap {100 * report['gap']:.3f}%"
        )
    for note in report.get("notes", []):
        print(f"  note: {note}")
    if not tiles:
        print("  no field holds any probability")
        return
    print(f"  {'#':>3}  {'field':>8}  {'RA':>8}  {'Dec':>7}  {'prob':>6}  {'cumul':>6}")
    for k, t in enumerate(tiles, 1):
        print(
            f"  {k:>3}  {t['id']:>8}  {t['ra']:8.3f}  {t['dec']:+7.3f}  "
            f"{100 * t['probability']:5.2f}%  {100 * t['cumulative']:5.1f}%"
        )


def print_schedule(report: dict[str, Any]) -> None:
    ex = report["exposures"]
    who = report["telescope"] or report["footprint"]
    print(
        f"{report['superevent_id'] or report['map']}: {who} from {report['site']}, night "
        f"{report['night_start'][:16]} -> {report['night_end'][11:16]} UTC: {len(ex)} exposures "
        f"of {len(report['tiles'])} fields, {100 * report['probability']:.1f}% of the "
        "probability covered"
    )
    print(
        f"  {report['fields_observable']} of {report['candidates']} candidate fields rise above "
        f"airmass {report['max_airmass']:g} tonight"
    )
    for note in report["notes"]:
        print(f"  note: {note}")
    if not ex:
        return
    print(
        f"  {'start (UTC)':<19}  {'field':>6}  {'RA':>8}  {'Dec':>7}  {'filt':>4}  {'exp':>5}  "
        f"{'prob':>6}  {'cumul':>6}  {'airmass':>7}"
    )
    for e in ex:
        print(
            f"  {e['start'][:19]:<19}  {e['id']:>6}  {e['ra']:8.3f}  {e['dec']:+7.3f}  "
            f"{e['filter']:>4}  {e['exposure']:5.0f}  {100 * e['probability']:5.2f}%  "
            f"{100 * e['cumulative']:5.1f}%  {e['airmass']:7.2f}"
        )


def plot_plan(args: argparse.Namespace, skymap: Any, fp: Any, report: dict[str, Any]) -> None:
    if not args.plot:
        return
    from ..errors import GwalertError
    from ..plan import plot

    who = report.get("telescope") or report["footprint"]
    title = f"{report.get('superevent_id') or 'sky map'}: {len(report['tiles'])} fields of {who}"
    try:
        plot.plot(skymap, fp, report, args.plot, title=title)
    except OSError as exc:
        raise GwalertError(f"--plot {args.plot}: {exc.strerror or exc}") from None
    report["plot"] = args.plot


def remember(
    args: argparse.Namespace, context: dict[str, Any], report: dict[str, Any], key: str
) -> None:
    """For a superevent from the store: compare with its last plan for this telescope, then
    store this one."""
    if "notice_id" not in context or not context.get("superevent_id"):
        return
    from ..plan import store as plans
    from ._store import open_store

    st = open_store(args, must_exist=True)
    try:
        event = context["superevent_id"]
        before = plans.latest(st.engine, event, key)
        if before is not None:
            report["changes"] = plans.diff({**before.plan, "created_at": before.created_at}, report)
        picture = None
        if args.plot and str(args.plot).endswith(".png"):
            try:
                with open(args.plot, "rb") as fh:
                    picture = fh.read()
            except OSError:
                picture = None
        if args.no_store:
            return
        report["stored_plan_id"] = plans.save(
            st.engine, event, key, report, notice_id=context["notice_id"], picture=picture
        )
    finally:
        st.close()


def print_changes(report: dict[str, Any]) -> None:
    from ..plan import store as plans

    if "changes" in report:
        for line in plans.diff_text(report["changes"]):
            print(line)
