"""Observation planning (``gwalert plan``): pure functions over a :class:`~gwalert.skymap.SkyMap`.

- ``footprints``: field-of-view shapes (gnomonic squares/rectangles, circles, chip polygons);
- ``telescopes``: built-in instruments, every figure with its public source;
- ``tiling``: gwalert's own field grid, or a survey's grid from a CSV file;
- ``coverage``: exact probability of fields and of their union on the multi-order map;
- ``selection``: greedy and MILP (HiGHS) maximum coverage, with the optimality gap;
- ``tiles``: a tiles-only plan; ``schedule``: a night from a site (``night``: its edges and
  the fields' altitudes); ``galaxies``: catalog ranking and galaxy-centred fields; ``plot``:
  the picture; ``store``: stored plans and their changes; ``setup``: field of view and
  constraints from options and telescope; ``rows``: a plan's rows as CSV (astropy runs
  offline through :mod:`gwalert.earth`).
"""
