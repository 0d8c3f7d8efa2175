"""Sky positions from a CSV file: one reader for a rule's ``targets`` file and for
``gwalert skymap --catalog``.

One set of column rules for both: the first header among :data:`RA_COLUMNS` /
:data:`DEC_COLUMNS` (degrees) / :data:`DIST_COLUMNS` (Mpc, optional) / :data:`NAME_COLUMNS`
(case-insensitive); the delimiter (comma, semicolon, tab or space) is sniffed; blank lines are
skipped. Each caller words its own errors from :class:`CsvError`'s ``kind``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GwalertError

NAME_COLUMNS = (
    "name",
    "id",
    "objname",
    "galaxy",
    "gwgc",
    "hyperleda",
    "2mass",
    "pgc",
    "gladeid",
    "glade_id",
)
#: Name cells that mean "no name".
PLACEHOLDERS = ("", "---", "<na>", "nan", "none", "null", "--")
RA_COLUMNS = ("ra", "ra_deg", "raj2000", "_raj2000", "ra_j2000")
DEC_COLUMNS = ("dec", "dec_deg", "dej2000", "_dej2000", "decj2000", "dec_j2000", "de")
DIST_COLUMNS = ("distance", "dist", "distmpc", "dist_mpc", "distance_mpc", "d_l", "dl", "lumdist")


class CsvError(GwalertError):
    """Why a position file cannot be used. ``kind``: ``os``, ``csv`` (unreadable), ``empty``
    (no header), ``columns`` (no ra/dec), ``rows`` (no data rows), ``limit`` (too many rows),
    ``number`` (a cell is not a number; ``missing``: a required cell is empty); ``row`` counts
    data rows from 1 and ``line`` is the file's line; ``detail``: the reader's own error."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        row: int | None = None,
        line: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.detail = detail
        self.kind = kind
        self.row = row
        self.line = line


@dataclass(frozen=True)
class Positions:
    """The rows of a position file, in file order."""

    ra: Any  # numpy arrays of float
    dec: Any
    distance: Any | None  # NaN where empty; None without a distance column
    #: One name per row ("" when the row has none), or None without a name column.
    names: list[str] | None
    lines: list[int]


@dataclass(frozen=True)
class Targets:
    """A rule's ``targets``: a notice matches when at least one target qualifies: it lies
    inside the ``credible_level`` credible region (ligo.skymap's ``searched_prob``), or the
    circle of ``radius`` degrees around it holds at least ``prob_min``."""

    file: str
    ra: tuple[float, ...]
    dec: tuple[float, ...]
    names: tuple[str, ...]
    credible_level: float | None = None
    prob_min: float | None = None
    radius: float | None = None


def read_positions(path: str | Path, *, limit: int | None = None) -> Positions:
    """Read a position file; raise :class:`CsvError`."""
    import numpy as np

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(65536)
            fh.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t ")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(fh, dialect)
            header = next(reader, None)
            rows: list[list[str]] = []
            lines: list[int] = []
            for r in reader:
                if any(cell.strip() for cell in r):
                    if limit is not None and len(rows) >= limit:
                        raise CsvError("limit", f"more than {limit} rows")
                    rows.append(r)
                    lines.append(reader.line_num)
    except OSError as exc:
        raise CsvError("os", str(exc.strerror or exc)) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CsvError("csv", f"not a readable CSV file ({exc})", detail=str(exc)) from None
    if not header:
        raise CsvError("empty", "empty file")
    cols = [h.strip().lower() for h in header]

    def find(candidates: tuple[str, ...]) -> int | None:
        return next((cols.index(c) for c in candidates if c in cols), None)

    i_ra, i_dec, i_dist = find(RA_COLUMNS), find(DEC_COLUMNS), find(DIST_COLUMNS)
    i_names = [cols.index(c) for c in NAME_COLUMNS if c in cols]
    if i_ra is None or i_dec is None:
        raise CsvError(
            "columns", f"needs 'ra' and 'dec' columns (degrees); found {', '.join(header)}"
        )
    if not rows:
        raise CsvError("rows", "no rows")

    def column(i: int, what: str, required: bool) -> Any:
        out = np.empty(len(rows))
        for n, r in enumerate(rows):
            text = r[i].strip() if i < len(r) else ""
            where = f"row {n + 1} (line {lines[n]})"
            try:
                out[n] = float(text) if text else math.nan
            except ValueError:
                raise CsvError(
                    "number", f"{where}: {what} {text!r} is not a number", row=n + 1, line=lines[n]
                ) from None
            if required and not math.isfinite(out[n]):
                raise CsvError("missing", f"{where}: {what} is missing", row=n + 1, line=lines[n])
        return out

    ra = column(i_ra, "ra", True)
    dec = column(i_dec, "dec", True)
    dist = column(i_dist, "distance", False) if i_dist is not None else None
    names = [_name(r, i_names) for r in rows] if i_names else None
    return Positions(ra, dec, dist, names, lines)


def _name(row: list[str], columns: list[int]) -> str:
    """The first real name among the name columns (astropy-written CSVs hold b'...' text)."""
    for i in columns:
        text = row[i].strip() if i < len(row) else ""
        if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
            text = text[2:-1]
        if text.lower() not in PLACEHOLDERS:
            return text
    return ""


#: Most rows a rule's ``targets`` CSV may hold.
MAX_TARGETS = 100_000


def read_targets(path: Path) -> tuple[tuple[float, ...], tuple[float, ...], tuple[str, ...]]:
    """A rule's targets file: RA, Dec and names (``#n`` for a row without one); raise
    ``OptionError("targets.file", ...)`` with the rules' wording."""
    from ..options import OptionError

    def error(text: str) -> OptionError:
        return OptionError("targets.file", f"{path}{text}")

    try:
        pos = read_positions(path, limit=MAX_TARGETS)
    except CsvError as exc:
        if exc.kind in ("columns", "empty"):
            raise error(": needs a header with 'ra' and 'dec' columns (degrees)") from None
        if exc.kind == "rows":
            raise error(": no targets") from None
        if exc.kind == "limit":
            raise error(f": more than {MAX_TARGETS} targets") from None
        if exc.kind in ("number", "missing"):
            raise error(f":{exc.line}: ra/dec are not numbers") from None
        if exc.kind == "csv":
            raise error(f": not a CSV file ({exc.detail})") from None
        raise error(f": {exc}") from None
    for n, (r, d) in enumerate(zip(pos.ra, pos.dec, strict=True)):
        if not (0 <= r <= 360 and -90 <= d <= 90):
            raise error(f":{pos.lines[n]}: ra/dec out of range")
    names = [(pos.names[n] if pos.names else "") or f"#{n + 1}" for n in range(len(pos.lines))]
    return (tuple(float(v) for v in pos.ra), tuple(float(v) for v in pos.dec), tuple(names))
