"""Built-in table of widely used follow-up instruments.

Each figure carries its public source in a comment. Field shapes are simplified to one circle or
one rectangle of the same area as the camera's light-sensitive footprint (chip gaps ignored);
``--footprint FILE`` gives an exact chip layout. Overheads are typical published values and vary
with the night's operations: they are defaults the command line can override. Mean slew rates
(including settling) are rough assumptions unless a source is named for them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import GwalertError
from .footprints import Footprint, circle, rectangle


@dataclass(frozen=True)
class Telescope:
    name: str
    aliases: tuple[str, ...]
    shape: str  # "square" (width x height, degrees) or "circle" (radius, degrees)
    size: tuple[float, ...]
    site: str | None  # a name gwalert.observability.site() knows; None for space telescopes
    exposure: float  # s, a typical follow-up exposure
    readout: float  # s, readout/overhead between exposures (slews overlap it)
    slew_rate: float  # deg/s, mean rate including settling (0 = not scheduled from the ground)
    filters: tuple[str, ...]
    filter_change: float  # s

    def footprint(self) -> Footprint:
        fp = circle(self.size[0]) if self.shape == "circle" else rectangle(*self.size)
        return Footprint(name=self.name, radius=fp.radius, polygons=fp.polygons)


TELESCOPES: tuple[Telescope, ...] = (
    # ZTF: 47 deg² field, 30 s exposures, 10 s readout ("Readout Time 10 sec", median 15 s
    # between exposures: https://www.ztf.caltech.edu/page/technical and
    # https://www.ptf.caltech.edu/page/ztf_technical), g/r/i: Bellm et al. 2019, PASP 131,
    # 018002; overhead between exposures ~8.7 s: Dekany et al. 2020, PASP 132, 038001. Filter
    # exchange time and slew rate: assumed. As a 6.86° square of the same area.
    Telescope(
        "ZTF",
        ("p48", "palomar 48"),
        "square",
        (6.86, 6.86),
        "Palomar",
        30.0,
        10.0,
        2.5,
        ("g", "r", "i"),
        100.0,
    ),
    # DECam on the Blanco 4 m: 3 deg² (2.2° wide), 20 s readout: Flaugher et al. 2015, AJ 150,
    # 150 and NOIRLab's DECam characteristics page; overheads: the larger of readout and slew,
    # plus 5-8 s for hexapod moves and filter changes (NOIRLab DECam user guide, "Exposure
    # Time Calculator (ETC) and Overheads"); 90 s exposures as in GW follow-up (Soares-Santos
    # et al. 2016, ApJL 823, L33). As a circle of 3 deg²; slew rate assumed.
    Telescope(
        "DECam",
        ("blanco", "ctio 4m"),
        "circle",
        (0.977,),
        "Cerro Tololo",
        90.0,
        20.0,
        1.0,
        ("g", "r", "i", "z"),
        8.0,
    ),
    # Rubin Observatory LSST camera: 9.6 deg² (3.5° diameter), 2 x 15 s visits, 2 s readout,
    # ~7°/s slews (~5 s slew+settle between neighbours), 120 s filter change, ugrizy:
    # Ivezić et al. 2019, ApJ 873, 111.
    Telescope(
        "Rubin",
        ("lsst", "rubin observatory", "vera rubin"),
        "circle",
        (1.748,),
        "Rubin Observatory",
        30.0,
        2.0,
        7.0,
        ("u", "g", "r", "i", "z", "y"),
        120.0,
    ),
    # ATLAS: 30 deg² (5.4° x 5.4°) per unit, 30 s exposures, ~10 s readout, c and o filters:
    # Tonry et al. 2018, PASP 130, 064505 (the Haleakalā unit).
    Telescope(
        "ATLAS",
        ("atlas-hko",),
        "square",
        (5.4, 5.4),
        "Haleakala",
        30.0,
        10.0,
        2.0,
        ("c", "o"),
        30.0,
    ),
    # Pan-STARRS1: 7 deg² (3° diameter) GPC1 on Haleakalā, grizy + w: Chambers et al. 2016,
    # arXiv:1612.05560; ~30 s typical exposures ("7 square degrees in each 30 seconds
    # exposure": pan-starrs.ifa.hawaii.edu, survey strategies). Readout and slew: assumed.
    Telescope(
        "Pan-STARRS1",
        ("ps1", "panstarrs", "pan-starrs"),
        "circle",
        (1.5,),
        "Haleakala",
        30.0,
        10.0,
        2.0,
        ("g", "r", "i", "z", "y", "w"),
        60.0,
    ),
    # GOTO (one mount of 8 unit telescopes, La Palma): ~40 deg², 20th magnitude in 3 minutes:
    # Dyer et al. 2020, Proc. SPIE 11445, 114457G (as a 7.8° x 5.1° rectangle of that area;
    # readout and slew assumed).
    Telescope(
        "GOTO",
        ("goto-n", "goto north"),
        "square",
        (7.8, 5.1),
        "Roque de los Muchachos",
        180.0,
        10.0,
        2.0,
        ("L",),
        0.0,
    ),
    # BlackGEM: 2.7 deg² (1.65° x 1.65°) per telescope, 60 s exposures, ugqriz, La Silla:
    # Groot et al. 2024, PASP 136, 115003.
    Telescope(
        "BlackGEM",
        ("bg", "black gem"),
        "square",
        (1.65, 1.65),
        "La Silla",
        60.0,
        10.0,
        2.0,
        ("u", "g", "q", "r", "i", "z"),
        30.0,
    ),
    # KMTNet: 4 deg² (2° x 2°) 18k x 18k mosaic, BVRI, three sites (CTIO here): Kim et al.
    # 2016, JKAS 49, 37; 120 s exposures (a typical value, not from that paper).
    Telescope(
        "KMTNet",
        ("kmtnet-ctio", "kmtn"),
        "square",
        (2.0, 2.0),
        "Cerro Tololo",
        120.0,
        30.0,
        1.0,
        ("B", "V", "R", "I"),
        30.0,
    ),
    # Swope 1 m (Las Campanas): 29.7' x 29.8' field, 60 s exposures as in the search that found
    # SSS17a: Coulter et al. 2017, Science 358, 1556.
    Telescope(
        "Swope",
        ("swope 1m",),
        "square",
        (0.495, 0.497),
        "Las Campanas",
        60.0,
        30.0,
        1.0,
        ("u", "g", "r", "i", "B", "V"),
        30.0,
    ),
    # Swift-XRT: 23.6' diameter field (Burrows et al. 2005, SSRv 120, 165); ~60 s tiles as in
    # Evans et al. 2016, MNRAS 455, 1522. Space: tiles only, no site.
    Telescope(
        "Swift-XRT",
        ("xrt", "swift"),
        "circle",
        (0.1967,),
        None,
        60.0,
        0.0,
        0.0,
        ("0.3-10 keV",),
        0.0,
    ),
    # Swift-UVOT: 17' x 17' field (Roming et al. 2005, SSRv 120, 95).
    Telescope("Swift-UVOT", ("uvot",), "square", (0.283, 0.283), None, 60.0, 0.0, 0.0, ("u",), 0.0),
)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def telescope(name: str) -> Telescope:
    """A telescope by name or alias (case and punctuation ignored), or a did-you-mean error."""
    key = _key(name)
    names: dict[str, str] = {}
    for t in TELESCOPES:
        for n in (t.name, *t.aliases):
            if _key(n) == key:
                return t
            names[_key(n)] = t.name
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.5)
    hint = f" (did you mean {names[close[0]]!r}?)" if close else ""
    raise GwalertError(
        f"--telescope {name}: unknown telescope{hint}; known: "
        f"{', '.join(t.name for t in TELESCOPES)}"
    )
