"""Earth orientation from the installed tables only: observatory servers are offline.

astropy turns UTC into UT1 (Earth rotation) and applies polar motion from the IERS tables
installed with it (``astropy-iers-data``). By default it downloads a fresh table when the
requested times lie past the installed predictions, and refuses (``ValueError``) when it
cannot. gwalert never downloads at run time: :func:`installed_tables` makes astropy use what
is installed, whatever the date, and :func:`staleness` says in one line what that costs.

The cost: UT1-UTC is known to milliseconds while the table covers the time; past its end
astropy holds the last value. |UT1-UTC| is kept below 0.9 s by leap seconds, so the error
stays below 1.8 s of Earth rotation (27 arcsec of hour angle) and polar motion adds under
1 arcsec: an airmass changes by less than 0.001 at airmass 3.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

#: Worst error of UT1 (seconds of time) past the installed table's end (see module doc).
UT1_ERROR_PAST_TABLE = 1.8
#: Polar motion's worst contribution (arcsec).
POLAR_MOTION = 1.0


@contextmanager
def installed_tables() -> Iterator[None]:
    """Within the block astropy uses the installed IERS and leap-second tables: no download,
    no error and no warning for times past them (see :func:`staleness`)."""
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", module=r"astropy\..*")
        warnings.filterwarnings("ignore", module=r"erfa\..*")
        warnings.filterwarnings("ignore", message=r".*(IERS|polar motion|dubious year|ERFA).*")
        stack.enter_context(data_conf.set_temp("allow_internet", False))
        stack.enter_context(iers.conf.set_temp("auto_download", False))
        stack.enter_context(iers.conf.set_temp("auto_max_age", None))
        stack.enter_context(iers.conf.set_temp("iers_degraded_accuracy", "ignore"))
        yield


def _table() -> Any:
    from astropy.utils import iers

    with installed_tables():
        return iers.IERS_Auto.open()


def table_end() -> Any:
    """The last date (astropy Time) for which the installed IERS table gives UT1-UTC."""
    from astropy.time import Time

    return Time(float(_table()["MJD"][-1].value), format="mjd", scale="utc")


#: astropy calls a table whose predictions are older than this stale (``auto_max_age``).
STALE_DAYS = 30.0


def staleness(times: Any, max_airmass: float = 3.0) -> str | None:
    """One line saying what the installed tables cost for ``times`` (astropy Time, scalar or
    array) when the table is stale for them (past its end, or predictions older than
    ``STALE_DAYS``), else None."""
    import numpy as np
    from astropy.time import Time

    table = _table()
    end = Time(float(table["MJD"][-1].value), format="mjd", scale="utc")
    predicted = float(table.meta["predictive_mjd"])
    last = float(np.max(np.atleast_1d(times.utc.mjd)))
    age = Time.now().utc.mjd - predicted
    if last > end.mjd:
        ut1 = UT1_ERROR_PAST_TABLE
        what = f"ends {end.utc.isot[:10]}; later times use its last Earth-rotation values"
    elif last > predicted and age > STALE_DAYS:
        ut1 = 0.00025 * (last - predicted) ** 0.75  # IERS Bulletin A's prediction accuracy
        what = f"is {age:.0f} days old; its predictions give UT1 to {1000 * ut1:.0f} ms"
    else:
        return None
    arcsec = ut1 * 15.0 + POLAR_MOTION
    alt = math.asin(1.0 / max_airmass)
    d_airmass = math.cos(alt) / math.sin(alt) ** 2 * math.radians(arcsec / 3600.0)
    return (
        f"note: the installed IERS table (astropy-iers-data) {what}: positions good to "
        f"{arcsec:.2g}″, airmass to {d_airmass:.1g} at airmass {max_airmass:g} (negligible; "
        "update astropy-iers-data to refresh)"
    )
