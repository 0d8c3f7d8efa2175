"""astropy without the network: the IERS tables installed with astropy, never a download.

Earth-orientation data only move sky positions by arcseconds, far below what an airmass or a
Moon separation needs; dates beyond the installed tables use astropy's degraded-accuracy mode
instead of failing. (A stand-in until gwalert.observability holds the one shared helper.)
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def offline_astropy() -> Iterator[None]:
    from astropy.utils import iers

    with (
        warnings.catch_warnings(),
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        iers.conf.set_temp("iers_degraded_accuracy", "ignore"),
    ):
        warnings.filterwarnings("ignore", module=r"astropy\..*")
        warnings.filterwarnings("ignore", message=r".*(IERS|polar motion|dubious year|ERFA).*")
        yield
