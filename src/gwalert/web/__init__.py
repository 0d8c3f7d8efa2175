"""``gwalert serve``: a read-only web dashboard over the store that ``gwalert listen`` writes.

- :mod:`.app` builds the Starlette application (routes, security headers, token check);
- :mod:`.queries` reads the store (and the optional tables newer listeners write);
- :mod:`.index` keeps every notice's list facts in memory, :mod:`.facts` turns stored rows
  into the pages' facts, :mod:`.health` reads feed status, dead letters and counts;
- :mod:`.maps` renders sky-map PNGs once per notice into a disk cache;
- :mod:`.fmt` formats numbers as an astronomer reads them (FAR as "1 per 12 years").

Templates and static assets ship inside this package (no CDN).
"""

from .app import create_app

__all__ = ["create_app"]
