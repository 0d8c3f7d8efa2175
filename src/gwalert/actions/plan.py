"""``plan``: an observation plan for the notice's sky map, written into the notice's directory
(``plan-TELESCOPE.json``, ``.csv`` and ``.png``; the ``save`` action's layout, written without
following links) and/or posted as JSON to a webhook (a telescope queue), seconds after the
alert.

Options: ``telescope`` (a built-in name) or ``fov`` ("SIDE" or "WxH") or ``fov_radius``
(degrees); ``tiles`` (default 50); ``method`` ("greedy" or "milp"); ``site`` (schedule the night
from it; a telescope's own site is used unless ``tiles_only``); ``max_airmass`` (2);
``dir`` (default the ``save`` action's); ``write`` (default true); ``plot`` (default true);
``url`` / ``url_env`` (POST the JSON there; the action's idempotency key is sent as
``Idempotency-Key``).
"""

from __future__ import annotations

import io
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import GwalertError
from ..options import OptionError, check_keys, opt_bool, opt_int, opt_path, opt_str
from .base import ActionContext, ActionError

SECRET_KEYS: tuple[str, ...] = ("url",)
DEFAULT_TIMEOUT = 120.0
_KEYS = {
    "telescope", "fov", "fov_radius", "tiles", "method", "site", "tiles_only", "max_airmass",
    "dir", "write", "plot", "url", "url_env",
}  # fmt: skip


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    from ..plan import footprints, telescopes

    check_keys(options, _KEYS)
    out: dict[str, Any] = {}
    given = [k for k in ("telescope", "fov", "fov_radius") if k in options]
    if not given:
        raise OptionError("telescope", "missing (give telescope, fov or fov_radius)")
    try:
        if "telescope" in options:
            out["telescope"] = telescopes.telescope(opt_str(options, "telescope")).name
        if "fov" in options:
            out["fov"] = str(options["fov"])
            footprints.parse_fov(out["fov"])
        if "fov_radius" in options:
            r = options["fov_radius"]
            if isinstance(r, bool) or not isinstance(r, int | float):
                raise OptionError("fov_radius", "must be a number of degrees")
            footprints.circle(float(r))
            out["fov_radius"] = float(r)
        if "site" in options:
            from ..observability import site

            out["site"] = site(opt_str(options, "site")).name
    except GwalertError as exc:
        raise OptionError(given[0], str(exc)) from None
    out["tiles"] = opt_int(options, "tiles", 50, 1, 10_000)
    out["method"] = opt_str(options, "method", "greedy")
    if out["method"] not in ("greedy", "milp"):
        raise OptionError("method", 'must be "greedy" or "milp"')
    out["tiles_only"] = opt_bool(options, "tiles_only", False)
    am = options.get("max_airmass", 2.0)
    if isinstance(am, bool) or not isinstance(am, int | float) or am < 1:
        raise OptionError("max_airmass", "must be a number >= 1")
    out["max_airmass"] = float(am)
    from .save import default_dir

    out["dir"] = opt_path(options, "dir", base, None) or default_dir()
    out["write"] = opt_bool(options, "write", True)
    out["plot"] = opt_bool(options, "plot", True)
    for k in ("url", "url_env"):
        if k in options:
            out[k] = opt_str(options, k)
    from .webhook import check_url

    if "url" in out:  # the webhook's own check: the parser used at send time, no userinfo
        check_url(out["url"], key="url")
    elif "url_env" in out and resolve and os.environ.get(out["url_env"]):
        check_url(os.environ[out["url_env"]], key="url_env")
    if not out["write"] and "url" not in out and "url_env" not in out:
        raise OptionError("write", "false, and no url: the plan would go nowhere")
    return out


def make(skymap: Any, options: dict[str, Any], start: Any = None) -> tuple[dict[str, Any], Any]:
    """The plan report (as ``gwalert plan --json`` gives it) and its footprint."""
    from ..plan import telescopes, tiles
    from ..plan.setup import constraints_for, footprint_for

    tel = telescopes.telescope(options["telescope"]) if options.get("telescope") else None
    fp = footprint_for(tel, fov=options.get("fov"), fov_radius=options.get("fov_radius"))
    site = options.get("site") or (tel.site if tel else None)
    report: dict[str, Any] = {"telescope": tel.name if tel else None}
    if site and not options.get("tiles_only"):
        from .. import observability as ob
        from ..plan import schedule
        from ..plan.rows import tiles_of

        cand = tiles.candidates(
            skymap, fp, coverage_level=tiles.auto_coverage(skymap, fp, options["tiles"])
        )
        c = constraints_for(tel, max_airmass=options["max_airmass"])
        if start is None:
            from astropy.time import Time

            start = Time.now()
        sched = schedule.schedule(
            [str(i) for i in cand.grid.ids],
            cand.grid.ra,
            cand.grid.dec,
            tiles.Gains(cand, list(range(len(cand.grid)))),
            ob.site(site),
            start,
            c,
            max_fields=options["tiles"],
        )
        report.update(footprint=fp.name, field_area=fp.area, **sched.as_dict())
        report["tiles"] = tiles_of(report["exposures"])
    else:
        plan = tiles.plan_tiles(skymap, fp, options["tiles"], method=options["method"])
        report.update(plan.as_dict())
    return report, fp


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    notice = ctx.notice
    skymap = notice.skymap
    if skymap is None:
        return  # a retraction or a notice without a map: nothing to plan
    try:
        report, fp = make(skymap, options)
    except GwalertError as exc:
        raise ActionError(f"plan: {exc}") from None
    report["superevent_id"] = notice.superevent_id
    report["alert_type"] = str(notice.alert_type)
    report["action_id"] = ctx.action_id
    name = check_plan_name(report.get("telescope") or "plan")
    picture = (
        _picture(skymap, fp, report, f"{notice.superevent_id}: {name}")
        if options.get("plot", True)
        else None
    )
    if options.get("write", True):
        from ..safefiles import open_dir, write_at
        from .save import notice_parts

        parts = notice_parts(ctx.facts, ctx.content_hash)
        where = Path(options["dir"], *parts)
        try:
            with open_dir(options["dir"], parts) as fd:
                if picture is not None:
                    write_at(fd, f"plan-{name}.png", picture)
                    report["plot"] = str(where / f"plan-{name}.png")
                write_at(fd, f"plan-{name}.csv", _csv(report))
                write_at(fd, f"plan-{name}.json", json.dumps(report, indent=1).encode())
        except OSError as exc:
            raise ActionError(
                f"cannot write the plan into {where}: {exc.strerror or exc}"
            ) from None
    if ctx.engine is not None:  # kept in the store: the dashboard's event page shows it
        from ..plan import store as plans

        plans.save(
            ctx.engine,
            notice.superevent_id,
            report.get("telescope") or name,
            report,
            notice_id=ctx.notice_id,
            picture=picture,
        )
    url = options.get("url") or (
        os.environ.get(options["url_env"]) if options.get("url_env") else None
    )
    if options.get("url_env") and not url:
        raise ActionError(f"no plan URL (environment variable {options['url_env']} is not set)")
    if url:
        from .webhook import check_url

        try:
            check_url(url)
        except GwalertError as exc:
            raise ActionError(f"plan: {exc}") from None
        _post(url, json.dumps(report).encode(), ctx)


def _picture(skymap: Any, fp: Any, report: dict[str, Any], title: str) -> bytes | None:
    """The plan's picture as PNG bytes, or None (the reason in ``report["plot_error"]``): a
    picture that cannot be drawn must not lose the plan."""
    from ..plan import plot

    buf = io.BytesIO()
    try:
        plot.plot(skymap, fp, report, buf, title=title)
    except Exception as exc:  # noqa: BLE001
        report["plot_error"] = f"{type(exc).__name__}: {exc}"
        return None
    return buf.getvalue()


def check_plan_name(telescope: str) -> str:
    """A file-name part from a telescope name: letters, digits, ``-``, ``_`` and ``.`` only."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", telescope).strip(".") or "plan"


def _csv(report: dict[str, Any]) -> bytes:
    from ..plan.rows import csv_text

    return csv_text(report.get("exposures") or report["tiles"]).encode()


def _post(url: str, data: bytes, ctx: ActionContext) -> None:
    host = urllib.parse.urlsplit(url).hostname or "?"
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "gwalert",
            "Idempotency-Key": ctx.action_id,
        },
    )
    from .webhook import NO_REDIRECT_OPENER

    try:  # a redirect is not followed: it answers as an HTTP error
        with NO_REDIRECT_OPENER.open(request, timeout=ctx.timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise ActionError(f"plan webhook on {host} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ActionError(
            f"plan webhook on {host} unreachable: {getattr(exc, 'reason', exc)}"
        ) from None
