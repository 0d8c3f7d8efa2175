"""Multi-Order Coverage maps (IVOA MOC 1.1/2.0) of credible regions: JSON, ASCII and FITS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SkyMapError
from .arrays import levels
from .healpix import SQDEG_PER_SR, level_ipix_to_uniq, pixel_area_sr, uniq_to_level_ipix

if TYPE_CHECKING:
    from .map import SkyMap


@dataclass(frozen=True)
class Moc:
    """A HEALPix Multi-Order Coverage map (IVOA MOC 1.1/2.0): the NUNIQ indices of its cells,
    with complete sibling groups merged into their parent."""

    uniq: np.ndarray

    @property
    def order(self) -> int:
        return int(uniq_to_level_ipix(self.uniq)[0].max()) if self.uniq.size else 0

    @property
    def area(self) -> float:
        """Area in deg²."""
        return float(np.sum(pixel_area_sr(uniq_to_level_ipix(self.uniq)[0]))) * SQDEG_PER_SR

    def cells(self) -> dict[int, list[int]]:
        """Order -> sorted nested indices."""
        level, ipix = uniq_to_level_ipix(self.uniq)
        out: dict[int, list[int]] = {}
        for lv in np.unique(level):
            out[int(lv)] = sorted(int(i) for i in ipix[level == lv])
        return out

    def to_json(self) -> dict[str, list[int]]:
        """The MOC JSON serialisation (``{"order": [ipix, ...]}``) that Aladin reads."""
        return {str(k): v for k, v in self.cells().items()}

    def to_string(self) -> str:
        """The MOC ASCII serialisation (``order/ipix-ipix,ipix order/...``)."""
        parts = []
        for order, pix in self.cells().items():
            ranges = []
            start = prev = pix[0]
            for p in pix[1:] + [None]:
                if p is not None and p == prev + 1:
                    prev = p
                    continue
                ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
                if p is not None:
                    start = prev = p
            parts.append(f"{order}/" + ",".join(ranges))
        return " ".join(parts)

    def to_fits(self) -> bytes:
        """A MOC FITS file (binary table of NUNIQ indices) for Aladin and mocpy."""
        import io

        from astropy.io import fits

        col = fits.Column("UNIQ", "K", array=np.sort(self.uniq))
        hdu = fits.BinTableHDU.from_columns([col])
        for key, value in (
            ("PIXTYPE", "HEALPIX"),
            ("ORDERING", "NUNIQ"),
            ("COORDSYS", "C"),
            ("MOCORDER", self.order),
            ("MOCDIM", "SPACE"),
            ("MOCVERS", "2.0"),
            ("MOCTOOL", "gwalert"),
        ):
            hdu.header[key] = value
        buf = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
        return buf.getvalue()

    def write(self, path: str) -> None:
        """Write as FITS (``.fits``), JSON (``.json``) or ASCII (anything else)."""
        import json

        if path.endswith((".fits", ".fits.gz")):
            data = self.to_fits()
        elif path.endswith(".json"):
            data = json.dumps(self.to_json()).encode()
        else:
            data = (self.to_string() + "\n").encode()
        from ..safefiles import write_path

        write_path(path, data)


def normalize_uniq(uniq: np.ndarray) -> np.ndarray:
    """Merge every complete group of four siblings into its parent, repeatedly."""
    uniq = np.unique(np.asarray(uniq, np.int64))
    while uniq.size >= 4:
        level, ipix = uniq_to_level_ipix(uniq)
        parent = np.where(level > 0, level_ipix_to_uniq(np.maximum(level - 1, 0), ipix >> 2), -1)
        # Groups of four consecutive entries with the same parent at level > 0.
        same = (parent[:-3] == parent[3:]) & (parent[:-3] >= 0) & ((ipix[:-3] & 3) == 0)
        starts = np.flatnonzero(same)
        if starts.size == 0:
            break
        drop = np.zeros(uniq.size, bool)
        for k in range(4):
            drop[starts + k] = True
        uniq = np.unique(np.concatenate([uniq[~drop], parent[starts]]))
    return uniq


def moc(sm: SkyMap, p: float = 0.9) -> Moc:
    """The ``p`` credible region as a MOC: the rows whose credible level is at most ``p``."""
    lv = levels(p)
    if lv.ndim:
        raise SkyMapError("a MOC is made for one credible level")
    return Moc(normalize_uniq(sm.uniq[sm.ranking.searched_prob <= float(lv)]))
