"""The SkyMap object: a multi-order HEALPix probability map, with or without distance."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

import numpy as np

from ..errors import GwalertError, SkyMapError
from .healpix import MAX_LEVEL, pixel_area_sr, pixel_center, uniq_to_level_ipix

SkyMapSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]

_DISTANCE_COLUMNS = ("DISTMU", "DISTSIGMA", "DISTNORM")
_PIXEL_AREA = pixel_area_sr(np.arange(31))  # every level a 64-bit NUNIQ can hold


@dataclass(frozen=True, eq=False)
class SkyMap:
    """A sky map in multi-order (NUNIQ) form.

    ``uniq`` holds the NUNIQ index of every pixel, ``probdensity`` the probability per steradian.
    3-D maps also carry ``distmu``, ``distsigma`` (Mpc) and ``distnorm`` (Mpc^-2) of the
    per-pixel distance ansatz. Single-resolution maps are converted to this form on reading
    (with every pixel at the map's one order), so every method works on both.
    """

    uniq: np.ndarray
    probdensity: np.ndarray
    distmu: np.ndarray | None = None
    distsigma: np.ndarray | None = None
    distnorm: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------------------- reading
    @classmethod
    def read(cls, source: SkyMapSource) -> SkyMap:
        """Read a multi-order, single-resolution or gzip-compressed HEALPix FITS sky map.

        Single-resolution maps become the multi-order rows ligo.skymap's
        ``read_sky_map(path, moc=True)`` gives (equal sibling pixels merged), read in chunks.
        """
        from . import io as skyio

        try:
            rows = skyio.read(source)
        except SkyMapError:
            raise
        except GwalertError as exc:
            raise SkyMapError(str(exc)) from None
        return cls._from_rows(rows)

    @classmethod
    def from_table(cls, columns: dict[str, np.ndarray], header: dict[str, Any]) -> SkyMap:
        """A sky map from columns already in memory (multi-order, or flat NESTED/RING)."""
        from . import io as skyio

        cols = {k.upper(): v for k, v in columns.items()}
        ordering = str(header.get("ORDERING", "")).strip().upper()
        if "UNIQ" in cols:
            uniq = _int_column(cols, "UNIQ")
            if "PROBDENSITY" not in cols:
                raise SkyMapError("multi-order sky map has no PROBDENSITY column")
            kept = {
                c: _float_column(cols, c, uniq.size)
                for c in ("PROBDENSITY", *_DISTANCE_COLUMNS)
                if c in cols
            }
            rows = skyio.Rows(uniq=uniq, columns=kept, header=header)
        elif ordering in ("NESTED", "RING") or "PROB" in cols:
            rows = _from_flat(cols, header)
        else:
            raise SkyMapError(
                f"unknown pixel ordering {ordering or '(none)'}: expected NUNIQ, NESTED or RING"
            )
        return cls._from_rows(rows)

    @classmethod
    def _from_rows(cls, rows: Any) -> SkyMap:
        header = rows.header
        uniq = np.ascontiguousarray(rows.uniq, dtype=np.int64)
        if "PROBDENSITY" not in rows.columns:
            raise SkyMapError("multi-order sky map has no PROBDENSITY column")
        if uniq.size == 0:
            raise SkyMapError("sky map has no pixels")
        if uniq.min() < 4 or uniq.max() >= 16 << (2 * MAX_LEVEL):
            raise SkyMapError("UNIQ column holds indices outside the HEALPix range")
        dens = np.ascontiguousarray(rows.columns["PROBDENSITY"], dtype=np.float64)
        _check_probability(uniq, dens)
        dist = [rows.columns.get(c) for c in _DISTANCE_COLUMNS]
        has_dist = all(d is not None for d in dist)
        meta = {
            k: v
            for k, v in header.items()
            if not k.startswith(
                ("TTYPE", "TFORM", "TUNIT", "NAXIS", "TSCAL", "TZERO", "TNULL", "TDIM")
            )
        }
        return cls(
            uniq=uniq,
            probdensity=dens,
            distmu=dist[0] if has_dist else None,
            distsigma=dist[1] if has_dist else None,
            distnorm=dist[2] if has_dist else None,
            meta=meta,
        )

    # ------------------------------------------------------------------------ basic facts
    @property
    def has_distance(self) -> bool:
        """True for 3-D maps (CBC); Burst maps have no distance columns."""
        return self.distmu is not None

    @cached_property
    def level_ipix(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's (level, nested ipix), read-only (split from UNIQ once per map)."""
        level, ipix = uniq_to_level_ipix(self.uniq)
        level.flags.writeable = False
        ipix.flags.writeable = False
        return level, ipix

    @property
    def level(self) -> np.ndarray:
        return self.level_ipix[0]

    @cached_property
    def pixel_area(self) -> np.ndarray:
        """Solid angle of each row's pixel in steradians (``pixel_area_sr``'s values, read
        from a table of the levels: one gather)."""
        return _PIXEL_AREA.take(self.level)

    @property
    def prob(self) -> np.ndarray:
        """Probability contained in each row's pixel."""
        return self.probdensity * self.pixel_area

    def __len__(self) -> int:
        return int(self.uniq.size)

    def __repr__(self) -> str:
        """One line: object, rows, deepest order and whether it has distances (not arrays)."""
        kind = "3-D" if self.distmu is not None else "2-D"
        name = f"{self.object!r}, " if self.object else ""
        return f"<SkyMap {name}{len(self)} rows, order <= {self.mocorder}, {kind}>"

    def most_probable(self) -> tuple[float, float]:
        """(RA, Dec) in degrees of the centre of the pixel with the highest probability density.

        The same pixel and the same numbers as the LVK user guide's recipe
        (``argmax(PROBDENSITY)``, then astropy-healpix's ``healpix_to_lonlat``).
        """
        i = int(np.argmax(self.probdensity))
        level, ipix = uniq_to_level_ipix(self.uniq[i])
        return pixel_center(int(level), int(ipix))

    @property
    def distmean(self) -> float | None:
        """Posterior mean distance (Mpc) from the header's DISTMEAN; None without distance."""
        return _number(self.meta.get("DISTMEAN"))

    @property
    def diststd(self) -> float | None:
        """Posterior standard deviation of distance (Mpc) from the header's DISTSTD."""
        return _number(self.meta.get("DISTSTD"))

    @property
    def object(self) -> str | None:
        return _text(self.meta.get("OBJECT"))

    @property
    def date_obs(self) -> str | None:
        return _text(self.meta.get("DATE-OBS"))

    @property
    def instruments(self) -> tuple[str, ...]:
        text = _text(self.meta.get("INSTRUME")) or ""
        return tuple(s.strip() for s in text.split(",") if s.strip())

    @property
    def creator(self) -> str | None:
        return _text(self.meta.get("CREATOR"))

    @property
    def mocorder(self) -> int:
        value = self.meta.get("MOCORDER")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(self.level.max())

    # ------------------------------------------------------------------ derived tables
    # Built on first use and kept with the map (the map's arrays are never modified).
    @cached_property
    def ranking(self) -> Any:
        """Rows in ligo.skymap's credible-region order, with cumulative sums
        (:class:`gwalert.skymap.credible.Ranking`)."""
        from .credible import build_ranking

        return build_ranking(self)

    @cached_property
    def lookup(self) -> Any:
        """Position look-up index (:class:`gwalert.skymap.lookup.Lookup`)."""
        from .lookup import build_lookup

        return build_lookup(self)

    @cached_property
    def distance_rows(self) -> Any:
        """Rows with usable distance parameters for the marginal distance law
        (:class:`gwalert.skymap.distance.DistanceRows`; 3-D maps)."""
        from .distance import build_distance_rows

        return build_distance_rows(self)

    @cached_property
    def volume_model(self) -> Any:
        """Per-row constants of the exact 3-D credible regions
        (:class:`gwalert.skymap.volume.VolumeModel`; 3-D maps)."""
        from .volume import VolumeModel

        return VolumeModel(self)

    @cached_property
    def volume_constants(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: ln of the peak volume density, 1/DISTSIGMA, DISTMU/DISTSIGMA."""
        from .volume import volume_constants

        return volume_constants(self)

    # --------------------------------------------------------------------- analysis
    # Thin wrappers over the modules that hold the numerics. Positions, distances and
    # levels may be scalars, lists or arrays of any shape (broadcast together); results have
    # that shape (Python scalars for scalar inputs).
    def credible_area(self, p: Any = 0.9) -> Any:
        """Area (deg²) of the smallest region holding probability ``p``."""
        from .credible import credible_area

        return credible_area(self, p)

    def credible_volume(self, p: Any = 0.9) -> Any:
        """Volume (Mpc³) of the smallest 3-D region holding probability ``p`` (3-D maps)."""
        from .volume import credible_volume

        return credible_volume(self, p)

    def crossmatch(self, ra: Any, dec: Any, distance: Any = None) -> Any:
        """Per-target credible levels, areas, densities and (with distances) volumes, with
        ligo.skymap's field names: see :class:`gwalert.skymap.crossmatch.CrossmatchResult`."""
        from .crossmatch import crossmatch

        return crossmatch(self, ra, dec, distance)

    def probability_in_circle(self, ra: Any, dec: Any, radius: Any) -> Any:
        """Probability and area (deg²) inside circles of ``radius`` degrees
        (:class:`gwalert.skymap.fields.FieldProbability`, fields in the inputs' shape)."""
        from .fields import probability_in_circle

        return probability_in_circle(self, ra, dec, radius)

    def probability_in_polygon(self, ra: Any, dec: Any) -> Any:
        """Probability and area (deg²) inside a polygon with great-circle edges (vertices
        as sequences of RA and Dec)."""
        from .fields import probability_in_polygon

        return probability_in_polygon(self, ra, dec)

    def contains(self, ra: Any, dec: Any, p: Any = 0.9) -> Any:
        """True where (RA, Dec) lies inside the ``p`` credible region."""
        from .credible import contains

        return contains(self, ra, dec, p)

    def searched_prob(self, ra: Any, dec: Any) -> Any:
        """Credible level of each position (smallest region's probability containing it)."""
        from .credible import searched_prob

        return searched_prob(self, ra, dec)

    def searched_area(self, ra: Any, dec: Any) -> Any:
        """Area (deg²) of the smallest credible region containing each position."""
        from .credible import searched_area

        return searched_area(self, ra, dec)

    def probdensity_at(self, ra: Any, dec: Any) -> Any:
        """Probability per steradian at each position."""
        from .credible import probdensity_at

        return probdensity_at(self, ra, dec)

    def rows_at(self, ra: Any, dec: Any) -> Any:
        """Index of the row holding each position (-1 where the map has none)."""
        from .arrays import flat_positions, shaped
        from .lookup import rows_flat

        shape, ra_f, dec_f, _ = flat_positions(ra, dec)
        return shaped(rows_flat(self, ra_f, dec_f), shape)

    def distance_along(self, ra: Any, dec: Any) -> Any:
        """Conditional distance (mean, std) in Mpc along the line of sight (3-D maps)."""
        from .distance import distance_along

        return distance_along(self, ra, dec)

    def distance_posterior(self, r: Any) -> Any:
        """Marginal posterior density of distance (per Mpc) at ``r`` Mpc (3-D maps)."""
        from .distance import distance_posterior

        return distance_posterior(self, r)

    def distance_cdf(self, r: Any) -> Any:
        """Marginal cumulative distribution of distance at ``r`` Mpc (3-D maps)."""
        from .distance import distance_cdf

        return distance_cdf(self, r)

    def distance_moments(self) -> tuple[float, float]:
        """Marginal distance mean and std (Mpc) computed from the map's rows (3-D maps)."""
        from .distance import marginal_moments

        return marginal_moments(self)

    def moc(self, p: float = 0.9) -> Any:
        """The ``p`` credible region as a :class:`gwalert.skymap.moc.Moc`."""
        from .moc import moc

        return moc(self, p)

    def plot(self, path: Any, **kwargs: Any) -> None:
        """Draw an all-sky Mollweide PNG with 50/90% contours: see ``skymap.plot.plot``."""
        from . import plot

        plot.plot(self, path, **kwargs)


def _int_column(cols: dict[str, np.ndarray], name: str) -> np.ndarray:
    col = np.asarray(cols[name])
    if col.dtype.kind not in "iu" or col.ndim != 1:
        raise SkyMapError(f"column {name} is not an integer column")
    # unsigned UNIQ (ligo.skymap < 0.1.8) becomes int64, as ligo.skymap casts it
    return np.ascontiguousarray(col, dtype=np.int64)


def _float_column(cols: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    # 64-bit columns stay views into the file's bytes (either byte order): copying a
    # 19,200-row map's five columns costs more than the rest of reading it.
    col = np.asarray(cols[name])
    if col.dtype.kind not in "fiu":
        raise SkyMapError(f"column {name} is not numeric")
    if col.dtype.kind != "f" or col.dtype.itemsize != 8:
        col = col.astype(np.float64)
    if col.ndim != 1:
        col = col.ravel()  # a strided 1-D view stays a view (ravel would copy it)
    if col.size != n:
        raise SkyMapError(f"column {name} has {col.size} values for {n} pixels")
    return col


def _from_flat(cols: dict[str, np.ndarray], header: dict[str, Any]) -> Any:
    from . import io as skyio

    return skyio.from_flat_columns(cols, header)


_BLOCK = 4096


def _check_probability(uniq: np.ndarray, dens: np.ndarray) -> None:
    lowest, highest = dens.min(), dens.max()
    if np.isnan(lowest) or np.isnan(highest) or np.isinf(highest):
        raise SkyMapError("probability density has NaN or infinite values")
    if lowest < 0:
        raise SkyMapError("probability density has negative values")
    total = _weighted_sum(uniq, dens) * (4 * np.pi / 12)
    if not 0.98 <= total <= 1.02:
        raise SkyMapError(f"probabilities sum to {total:.6g}, not 1")


_FIRST_UNIQ = np.left_shift(4, 2 * np.arange(MAX_LEVEL + 2, dtype=np.int64))  # 4**(level + 1)


def _weighted_sum(uniq: np.ndarray, dens: np.ndarray) -> float:
    """Sum of density * 4**-level (the pixel area over 4 pi / 12)."""
    if uniq.size > 1 and np.all(uniq[1:] > uniq[:-1]):
        # a map sorted by UNIQ (as written): each level's rows are one run, summed at once
        bounds = np.searchsorted(uniq, _FIRST_UNIQ)
        present = np.flatnonzero(np.diff(bounds))
        sums = np.add.reduceat(dens, bounds[present])
        return float(np.dot(sums, np.ldexp(1.0, -2 * present)))
    # in blocks, so that the temporaries stay below glibc's mmap threshold (no fresh pages
    # to fault in)
    total = 0.0
    for start in range(0, uniq.size, _BLOCK):
        u = uniq[start : start + _BLOCK]
        if u.max() < 2**53:
            # floor(log2(uniq)) read off the float's exponent bits (exact below 2**53), and
            # 4**-level written straight into a float's exponent bits
            log2 = (u.astype(np.float64).view(np.int64) >> 52) - 1023
            weight = ((1023 - ((log2 - 2) >> 1) * 2) << 52).view(np.float64)
        else:
            weight = np.ldexp(1.0, -2 * uniq_to_level_ipix(u)[0])
        total += float(np.dot(dens[start : start + _BLOCK], weight))
    return total


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
