"""Sky maps: reading, and the numbers follow-up teams ask for."""

from .map import SkyMap

__all__ = ["SkyMap"]
