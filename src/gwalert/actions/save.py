"""``save``: a directory per notice holding the raw notice, the sky-map FITS, a PNG plot and
the summary JSON; with an external coincidence also the combined (GW + GRB) sky map
(``combined.multiorder.fits``, ``combined.png``).

Options: ``dir`` (default ``<user data dir>/gwalert/saved``; relative to the config file),
``plot`` (default true). The notice's directory is
``DIR/<superevent_id>/<time_created>-<ALERT_TYPE>-<hash>/``; every file is written to a
temporary name and renamed, so a retried or repeated run leaves the same complete files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..options import check_keys, opt_bool, opt_path
from .base import ActionContext, ActionError

SECRET_KEYS: tuple[str, ...] = ()
DEFAULT_TIMEOUT = 120.0
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def default_dir() -> str:
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("gwalert", appauthor=False)) / "saved")


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(options, {"dir", "plot"})
    return {
        "dir": opt_path(options, "dir", base, None) or default_dir(),
        "plot": opt_bool(options, "plot", True),
    }


def notice_dir(root: str | os.PathLike, summary: dict[str, Any], content_hash: str) -> Path:
    sid = _SAFE.sub("_", str(summary.get("superevent_id", "unknown"))).lstrip(".") or "unknown"
    created = re.sub(r"[^0-9TZ]", "", str(summary.get("time_created", "")))[:20]
    alert = _SAFE.sub("_", str(summary.get("alert_type", "")))
    return Path(root) / sid / f"{created}-{alert}-{content_hash[:8]}"


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    notice = ctx.notice
    where = notice_dir(options["dir"], ctx.summary, notice.content_hash)
    try:
        where.mkdir(parents=True, exist_ok=True)
        ext = "json" if str(notice.format) == "json" else "avro"
        files = {"notice": str(_write(where / f"notice.{ext}", notice.raw))}
        skymap = notice.event.skymap_bytes if notice.event else None
        if skymap:
            files["skymap"] = str(_write(where / "skymap.multiorder.fits", skymap))
            if options.get("plot", True):
                png = where / "skymap.png"
                tmp = _tmp(png, ".png")
                try:
                    plot(
                        notice.skymap,
                        tmp,
                        event=notice.superevent_id,
                        alert_type=str(notice.alert_type),
                    )
                    os.replace(tmp, png)
                    files["plot"] = str(png)
                except Exception as exc:  # noqa: BLE001 - a plot must not lose the rest
                    tmp.unlink(missing_ok=True)
                    files["plot_error"] = f"{type(exc).__name__}: {exc}"
        files.update(_save_combined(notice, where, options.get("plot", True)))
        summary = dict(ctx.summary, files=files, directory=str(where))
        _write(
            where / "summary.json",
            json.dumps(summary, indent=2, sort_keys=True, default=str).encode(),
        )
    except OSError as exc:
        raise ActionError(f"cannot save into {where}: {exc.strerror or exc}") from None


def _save_combined(notice: Any, where: Path, with_plot: bool) -> dict[str, str]:
    """The external coincidence's combined sky map (and its plot), if the notice has one."""
    ext = notice.external_coinc
    data = ext.combined_skymap_bytes if ext is not None else None
    if not data:
        return {}
    files = {"combined_skymap": str(_write(where / "combined.multiorder.fits", data))}
    if with_plot:
        png = where / "combined.png"
        tmp = _tmp(png, ".png")
        try:
            label = f"{notice.alert_type} (combined with {ext.observatory or 'external'})"
            plot(notice.combined_skymap, tmp, event=notice.superevent_id, alert_type=label)
            os.replace(tmp, png)
            files["combined_plot"] = str(png)
        except Exception as exc:  # noqa: BLE001 - a plot must not lose the rest
            tmp.unlink(missing_ok=True)
            files["combined_plot_error"] = f"{type(exc).__name__}: {exc}"
    return files


def _tmp(path: Path, suffix: str = "") -> Path:
    """A temporary name beside ``path``, its own to this writer: two actions saving the same
    notice at once (two rules, two listeners) never rename each other's file away."""
    import uuid

    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{suffix}")


def _write(path: Path, data: bytes) -> Path:
    tmp = _tmp(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def plot(sky: Any, path: Path, *, event: str = "", alert_type: str = "") -> None:
    """The sky-map picture (:meth:`gwalert.skymap.SkyMap.plot`)."""
    sky.plot(path, event=event or None, alert_type=alert_type or None)
