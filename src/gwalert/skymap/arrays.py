"""How the sky-map methods take and give numbers: any shape in, the same shape out.

Every public method accepts scalars, lists or arrays of any shape (broadcast together) and
returns results of that shape: a Python ``float`` / ``bool`` for scalar inputs, an ndarray
otherwise. Internally all work is done on 1-D arrays (``flat_positions``), never on 0-d ones:
numpy turns an index into a 0-d array into a scalar copy, and writing into it is lost.

Vector work runs in blocks (``ROW_BLOCK`` rows, ``TARGET_BLOCK`` targets): numpy temporaries
above glibc's mmap threshold (128 kB by default) are mapped and unmapped on every operation,
and the page faults then cost more than the arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SkyMapError

ROW_BLOCK = 6144  # rows per block of vector work
TARGET_BLOCK = 8192  # targets per block of look-ups and crossmatch
# Elements per matrix-vector product: OpenBLAS threads products above 9,216 elements (dot
# products above 10,000), and its threads cost 100x the arithmetic on a loaded machine.
BLAS_BLOCK = 8192


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a @ b`` of two 1-D arrays, summed in blocks that OpenBLAS runs on one thread."""
    if a.size <= BLAS_BLOCK:
        return float(a @ b)
    step = BLAS_BLOCK
    return float(sum(a[lo : lo + step] @ b[lo : lo + step] for lo in range(0, a.size, step)))


def rows_dot(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each row of ``m`` (n, k) dotted with ``v`` (k,), or with each row of ``v`` (j, k) as an
    (n, j) array: numpy's own loops (einsum), never BLAS, whose threads would start on
    products of many rows."""
    if v.ndim == 1:
        return np.einsum("ij,j->i", m, v)
    return np.einsum("ij,kj->ik", m, v)


def flat_positions(
    ra_deg: Any, dec_deg: Any, *more: Any
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, list[np.ndarray]]:
    """(broadcast shape, RA, Dec, further arrays) as 1-D float64 arrays; refuses non-finite
    coordinates and declinations beyond ±90°."""
    try:
        arrays = np.broadcast_arrays(
            np.asarray(ra_deg, float),
            np.asarray(dec_deg, float),
            *(np.asarray(m, float) for m in more),
        )
    except (TypeError, ValueError) as exc:
        raise SkyMapError(f"coordinates must be numbers of matching shapes: {exc}") from None
    shape = arrays[0].shape
    ra, dec = (np.ascontiguousarray(a).reshape(-1) for a in arrays[:2])
    # finite RA: its extremes are (NaN propagates through min and max); Dec within ±90°:
    # its extremes are (comparisons with NaN are false). Four reductions, no temporaries.
    ok = ra.size == 0 or (
        bool(np.isfinite(ra.min()))
        and bool(np.isfinite(ra.max()))
        and bool(dec.min() >= -90)
        and bool(dec.max() <= 90)
    )
    if not ok:
        raise SkyMapError("coordinates must be finite, with declinations within ±90°")
    return shape, ra, dec, [np.ascontiguousarray(a).reshape(-1) for a in arrays[2:]]


def wrap_ra(ra: np.ndarray) -> np.ndarray:
    """RA in degrees brought into [0, 360) as astropy's ``Longitude`` does (what ligo.skymap's
    crossmatch reads, so positions on pixel edges round alike); ``ra`` itself when already
    there."""
    if ra.size == 0 or (ra.min() >= 0.0 and ra.max() < 360.0):
        return ra
    out = ra - (ra // 360.0) * 360.0
    out[out >= 360.0] -= 360.0
    out[out < 0.0] += 360.0
    return out


def levels(p: Any) -> np.ndarray:
    """Credible levels as a float64 array (any shape), refused outside [0, 1]."""
    try:
        out = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise SkyMapError("credible levels must be probabilities between 0 and 1") from None
    if not np.all((out >= 0) & (out <= 1)):  # NaN fails too
        raise SkyMapError("credible levels must be probabilities between 0 and 1")
    return out


def shaped(values: np.ndarray, shape: tuple[int, ...]) -> Any:
    """``values`` (1-D) in ``shape``: a Python scalar when the shape is ()."""
    if shape == ():
        return values.reshape(-1)[0].item()
    return values.reshape(shape)
