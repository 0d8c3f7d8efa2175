"""``save``: a directory per notice holding the raw notice, the sky-map FITS, a PNG plot and
the summary JSON; with an external coincidence also the combined (GW + GRB) sky map
(``combined.multiorder.fits``, ``combined.png``).

Options: ``dir`` (default ``<user data dir>/gwalert/saved``; relative to the config file),
``plot`` (default true). The notice's directory is
``DIR/<superevent_id>/<time_created>-<ALERT_TYPE>-<hash>/``; every file is written to a
temporary name and renamed, so a retried or repeated run leaves the same complete files; no
link below ``dir`` is ever followed (:mod:`gwalert.safefiles`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..options import check_keys, opt_bool, opt_path
from ..safefiles import UnsafePathError, check_name, open_dir, write_at
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


def notice_parts(summary: dict[str, Any], content_hash: str) -> tuple[str, str]:
    """The two directory names of a notice under the target directory: its superevent id and
    ``<time_created>-<ALERT_TYPE>-<hash>``, each checked as a safe file name."""
    sid = _SAFE.sub("_", str(summary.get("superevent_id", "unknown"))).lstrip("._-") or "unknown"
    created = re.sub(r"[^0-9TZ]", "", str(summary.get("time_created", "")))[:20]
    alert = _SAFE.sub("_", str(summary.get("alert_type", "")))[:40]
    leaf = f"{created}-{alert}-{_SAFE.sub('_', content_hash[:8])}".lstrip("._-") or "notice"
    return check_name(sid[:64]), check_name(leaf)


def notice_dir(root: str | os.PathLike, summary: dict[str, Any], content_hash: str) -> Path:
    return Path(root, *notice_parts(summary, content_hash))


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    notice = ctx.notice  # decoded here: the plot draws its sky map
    parts = notice_parts(ctx.facts, ctx.content_hash)
    where = Path(options["dir"], *parts)
    try:
        with open_dir(options["dir"], parts) as fd:
            files = save_notice(fd, where, notice, bytes(notice.raw), options.get("plot", True))
            summary = dict(ctx.facts, files=files, directory=str(where))
            write_at(
                fd,
                "summary.json",
                json.dumps(summary, indent=2, sort_keys=True, default=str).encode(),
            )
    except OSError as exc:
        raise ActionError(f"cannot save into {where}: {exc.strerror or exc}") from None


def save_notice(fd: int, where: Path, notice: Any, raw: bytes, with_plot: bool) -> dict[str, str]:
    """The raw notice, its sky map (and plot) and any combined map, into the directory ``fd``
    (``where`` names it in the result); no link followed."""
    ext = "json" if str(notice.format) == "json" else "avro"
    write_at(fd, f"notice.{ext}", raw)
    files = {"notice": str(where / f"notice.{ext}")}
    skymap = notice.event.skymap_bytes if notice.event else None
    if skymap:
        write_at(fd, "skymap.multiorder.fits", skymap)
        files["skymap"] = str(where / "skymap.multiorder.fits")
        if with_plot and notice.skymap is not None:
            try:
                write_at(
                    fd,
                    "skymap.png",
                    lambda fh: plot(
                        notice.skymap,
                        fh,
                        event=notice.superevent_id,
                        alert_type=str(notice.alert_type),
                    ),
                )
                files["plot"] = str(where / "skymap.png")
            except UnsafePathError:
                raise
            except Exception as exc:  # noqa: BLE001 - a plot must not lose the rest
                files["plot_error"] = f"{type(exc).__name__}: {exc}"
    files.update(_save_combined(notice, fd, where, with_plot))
    return files


def _save_combined(notice: Any, fd: int, where: Path, with_plot: bool) -> dict[str, str]:
    """The external coincidence's combined sky map (and its plot), if the notice has one."""
    ext = notice.external_coinc
    data = ext.combined_skymap_bytes if ext is not None else None
    if not data:
        return {}
    write_at(fd, "combined.multiorder.fits", data)
    files = {"combined_skymap": str(where / "combined.multiorder.fits")}
    if with_plot:
        try:
            label = f"{notice.alert_type} (combined with {ext.observatory or 'external'})"
            write_at(
                fd,
                "combined.png",
                lambda fh: plot(
                    notice.combined_skymap, fh, event=notice.superevent_id, alert_type=label
                ),
            )
            files["combined_plot"] = str(where / "combined.png")
        except UnsafePathError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plot must not lose the rest
            files["combined_plot_error"] = f"{type(exc).__name__}: {exc}"
    return files


def plot(sky: Any, path: Any, *, event: str = "", alert_type: str = "") -> None:
    """The sky-map picture (:meth:`gwalert.skymap.SkyMap.plot`)."""
    sky.plot(path, event=event or None, alert_type=alert_type or None)
