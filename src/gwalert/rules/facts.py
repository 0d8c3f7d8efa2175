"""What the rules read from one notice: its fields, its summary, and sky-map numbers computed
at most once for all rules. A number the summary holds (``area_90``, ``distmean``) is read from
it, never recomputed (one truth for rules, actions and the dashboard); one it lacks because its
analysis ran and found none (no ``skymap_error``) stays None. Only a caller without a summary,
or a summary whose sky-map analysis failed, gets it computed from the map (a failure then makes
the rule "could not be evaluated", which a retry evaluates again)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..alerts import Notice
    from .targets import Targets


class Facts:
    """A notice, its summary and sky-map numbers computed at most once for all rules."""

    def __init__(self, notice: Notice, summary: Mapping[str, Any] | None = None) -> None:
        self.notice = notice
        self.summary = dict(summary or {})
        self._cache: dict[Any, Any] = {}

    @property
    def kind(self) -> str:
        """``real``, ``mock``, ``test`` or ``other``."""
        n = self.notice
        kinds = {"real": n.is_real, "mock": n.is_mock, "test": n.is_test}
        return next((k for k, v in kinds.items() if v), "other")

    def _stored(self, key: str) -> bool:
        """Whether the summary's ``key`` is the analysis's answer (a number, or None from an
        analysis that did not fail)."""
        if key not in self.summary:
            return False
        return _number(self.summary[key]) is not None or not self.summary.get("skymap_error")

    def skymap(self) -> Any:
        if "skymap" not in self._cache:
            from ..budget import abandoned
            from ..errors import SkyMapError

            try:  # a map whose analysis ran out of time is never read here
                skymap = None if abandoned(self.notice.content_hash) else self.notice.skymap
                self._cache["skymap"] = skymap
            except SkyMapError:
                self._cache["skymap"] = None
        return self._cache["skymap"]

    def area_90(self) -> float | None:
        if self._stored("area_90"):
            return _number(self.summary["area_90"])
        if "area_90" not in self._cache:
            sky = self.skymap()
            self._cache["area_90"] = None if sky is None else float(sky.credible_area(0.9))
        return self._cache["area_90"]

    def distance(self) -> float | None:
        if self._stored("distmean"):
            return _number(self.summary["distmean"])
        sky = self.skymap()
        return None if sky is None or not sky.has_distance else sky.distmean

    def prob_in_circle(self, ra: float, dec: float, radius: float) -> float | None:
        key = ("circle", ra, dec, radius)
        if key not in self._cache:
            sky = self.skymap()
            self._cache[key] = (
                None
                if sky is None
                else float(sky.probability_in_circle(ra, dec, radius).probability)
            )
        return self._cache[key]

    def searched_prob(self, targets: Targets) -> list[float] | None:
        key = ("crossmatch", targets.file)
        if key not in self._cache:
            sky = self.skymap()
            if sky is None:
                self._cache[key] = None
            else:
                import numpy as np

                result = sky.crossmatch(np.asarray(targets.ra), np.asarray(targets.dec))
                values = np.atleast_1d(np.asarray(result.searched_prob, float))
                self._cache[key] = [float(v) for v in values]
        return self._cache[key]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
