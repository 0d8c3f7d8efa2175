"""Make sample sky maps and notices with the official IGWN schema.

For drills, demos and tests: ``gwalert sample --out DIR`` writes a small set of notices (all
alert types, a Burst alert without distance, an external coincidence) in the formats LVK sends.
Nothing here is LVK data: the maps are Gaussian blobs on a multi-order HEALPix grid.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .alerts import encode

MOCK_ID = "MS260101a"


def write_skymap(
    uniq: np.ndarray,
    probdensity: np.ndarray,
    *,
    distmu: np.ndarray | None = None,
    distsigma: np.ndarray | None = None,
    distnorm: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    gzip: bool = False,
) -> bytes:
    """A multi-order FITS sky map (as LVK writes them) holding the given columns."""
    from astropy.io import fits

    cols = [
        fits.Column("UNIQ", "K", array=np.asarray(uniq, dtype=np.int64)),
        fits.Column("PROBDENSITY", "D", unit="sr-1", array=np.asarray(probdensity, float)),
    ]
    if distmu is not None:
        cols += [
            fits.Column("DISTMU", "D", unit="Mpc", array=np.asarray(distmu, float)),
            fits.Column("DISTSIGMA", "D", unit="Mpc", array=np.asarray(distsigma, float)),
            fits.Column("DISTNORM", "D", unit="Mpc-2", array=np.asarray(distnorm, float)),
        ]
    hdu = fits.BinTableHDU.from_columns(cols)
    header = {
        "PIXTYPE": "HEALPIX",
        "ORDERING": "NUNIQ",
        "COORDSYS": "C",
        "INDXSCHM": "EXPLICIT",
        "MOC": True,
    }
    header.update(meta or {})
    for key, value in header.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    data = buf.getvalue()
    if gzip:
        import gzip as gz

        data = gz.compress(data, mtime=0)
    return data


def gaussian_skymap(
    ra: float = 120.0,
    dec: float = -30.0,
    sigma: float = 5.0,
    *,
    distance: tuple[float, float] | None = (150.0, 30.0),
    max_level: int = 6,
    meta: dict[str, Any] | None = None,
) -> bytes:
    """A multi-order map of a Gaussian blob (``sigma`` degrees) around (``ra``, ``dec``).

    Pixels start at level 3 and the most probable ones are refined up to ``max_level``, so
    the rows mix orders as real maps do. ``distance`` = (mean, std) in Mpc, or None for a
    2-D (Burst-like) map.
    """
    import astropy_healpix as ah

    from .skymap.healpix import level_ipix_to_uniq, pixel_area_sr, uniq_to_level_ipix

    def density(uniq: np.ndarray) -> np.ndarray:
        level, ipix = uniq_to_level_ipix(uniq)
        lon, lat = ah.healpix_to_lonlat(ipix, 2**level, order="nested")
        ra0, dec0 = np.radians(ra), np.radians(dec)
        cosd = np.sin(lat.rad) * np.sin(dec0) + np.cos(lat.rad) * np.cos(dec0) * np.cos(
            lon.rad - ra0
        )
        d = np.degrees(np.arccos(np.clip(cosd, -1, 1)))
        return np.exp(-0.5 * (d / sigma) ** 2) + 1e-12

    uniq = level_ipix_to_uniq(3, np.arange(12 * 64))
    for _ in range(3, max_level):
        dens = density(uniq)
        prob = dens * pixel_area_sr(uniq_to_level_ipix(uniq)[0])
        order = np.argsort(prob)[::-1]
        keep_n = np.searchsorted(np.cumsum(prob[order]) / prob.sum(), 0.9) + 1
        refine = np.zeros(uniq.size, bool)
        refine[order[:keep_n]] = True
        children = (4 * uniq[refine])[:, None] + np.arange(4)
        uniq = np.concatenate([uniq[~refine], children.ravel()])
    uniq = np.sort(uniq)
    dens = density(uniq)
    dens /= np.sum(dens * pixel_area_sr(uniq_to_level_ipix(uniq)[0]))
    meta = dict(meta or {})
    meta.setdefault("MOCORDER", max_level)
    meta.setdefault("CREATOR", "gwalert.samples")
    kwargs: dict[str, Any] = {}
    if distance is not None:
        mu, sd = distance
        n = uniq.size
        kwargs = {
            "distmu": np.full(n, mu),
            "distsigma": np.full(n, sd),
            "distnorm": np.full(n, 1.0 / (mu * mu + sd * sd)),
        }
        meta.setdefault("DISTMEAN", float(mu))
        meta.setdefault("DISTSTD", float(sd))
    return write_skymap(uniq, dens, meta=meta, **kwargs)


def make_record(
    superevent_id: str = MOCK_ID,
    alert_type: str = "PRELIMINARY",
    *,
    time_created: str = "2026-01-01T00:10:00Z",
    event_time: str = "2026-01-01T00:00:00.000Z",
    group: str = "CBC",
    pipeline: str = "gstlal",
    search: str = "AllSky",
    far: float = 1e-9,
    significant: bool = True,
    skymap: bytes | None = None,
    classification: dict[str, float] | None = None,
    properties: dict[str, float] | None = None,
    external_coinc: dict[str, Any] | None = None,
    mchirp_source: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """A record that follows the newest official schema."""
    if alert_type == "RETRACTION":
        event = None
    else:
        burst = group == "Burst"
        if classification is None:
            classification = (
                {} if burst else {"BNS": 0.9, "NSBH": 0.05, "BBH": 0.0, "Terrestrial": 0.05}
            )
        if properties is None:
            properties = {} if burst else {"HasNS": 0.95, "HasRemnant": 0.9, "HasMassGap": 0.01}
        event = {
            "time": event_time,
            "far": far,
            "significant": significant,
            "instruments": ["H1", "L1", "V1"],
            "group": group,
            "pipeline": pipeline,
            "search": search,
            "classification": classification,
            "properties": properties,
            "mchirp_source": mchirp_source,
            "duration": 0.1 if burst else None,
            "central_frequency": 150.0 if burst else None,
            "skymap": skymap,
        }
    return {
        "alert_type": alert_type,
        "time_created": time_created,
        "superevent_id": superevent_id,
        "event": event,
        "external_coinc": external_coinc,
        "urls": {"gracedb": f"https://gracedb.ligo.org/superevents/{superevent_id}/view/"},
    }


#: The drill events' times (UTC): each notice's ``event.time`` and its map's DATE-OBS.
EVENT_TIMES = {MOCK_ID: "2026-01-01T00:00:00.000Z", "MS260102b": "2026-01-01T00:03:20.000Z"}


def _dated(event_time: str) -> dict[str, Any]:
    """DATE-OBS and MJD-OBS header cards for an ISO UTC time, as LVK's maps carry them."""
    from astropy.time import Time

    t = Time(event_time.rstrip("Z"), scale="utc")
    return {"DATE-OBS": t.isot, "MJD-OBS": float(t.mjd)}


def make_external_coinc(combined_skymap: bytes | None = None) -> dict[str, Any]:
    """An ``external_coinc`` record for :func:`make_record`: a Fermi GRB coincidence, with
    ``combined_skymap`` (FITS bytes) or none."""
    return {
        "gcn_notice_id": "1234567",
        "ivorn": "ivo://nasa.gsfc.gcn/Fermi#drill",
        "observatory": "Fermi",
        "search": "GRB",
        "time_difference": 1.5,
        "time_coincidence_far": 1e-12,
        "time_sky_position_coincidence_far": 1e-14,
        "combined_skymap": combined_skymap,
    }


def sample_set() -> dict[str, bytes]:
    """File name -> bytes of the drill set written by ``gwalert sample``.

    Each map carries DATE-OBS, the event time its notices give in ``event.time`` (as LVK's
    maps do), so the Sun and Moon can be drawn and ``--night-of event`` finds the night.
    """
    cbc_time, burst_time = EVENT_TIMES[MOCK_ID], EVENT_TIMES["MS260102b"]
    cbc = gaussian_skymap(meta={"OBJECT": MOCK_ID, **_dated(cbc_time)})
    burst = gaussian_skymap(
        200.0,
        40.0,
        8.0,
        distance=None,
        max_level=5,
        meta={"OBJECT": "MS260102b", **_dated(burst_time)},
    )
    combined = gaussian_skymap(121.0, -29.0, 3.0, meta={"OBJECT": MOCK_ID, **_dated(cbc_time)})
    t = "2026-01-01T00:{:02d}:00Z"
    ext = make_external_coinc(combined)
    records = {
        f"{MOCK_ID}-preliminary": make_record(
            alert_type="PRELIMINARY", skymap=cbc, time_created=t.format(1)
        ),
        f"{MOCK_ID}-initial": make_record(
            alert_type="INITIAL", skymap=cbc, time_created=t.format(20)
        ),
        f"{MOCK_ID}-update": make_record(
            alert_type="UPDATE", skymap=cbc, time_created=t.format(40), external_coinc=ext
        ),
        f"{MOCK_ID}-retraction": make_record(alert_type="RETRACTION", time_created=t.format(50)),
        "MS260102b-preliminary": make_record(
            "MS260102b",
            group="Burst",
            pipeline="CWB",
            search="AllSky",
            skymap=burst,
            time_created=t.format(5),
            event_time=burst_time,
        ),
    }
    files = {}
    for stem, record in records.items():
        files[f"{stem}.avro"] = encode(record, "avro")
        files[f"{stem}.json"] = encode(record, "json")
    return files
