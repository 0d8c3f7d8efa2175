"""Sky maps: reading, and the numbers follow-up teams ask for.

``SkyMap`` (numpy) is imported on first use: ``gwalert parse`` reads a notice's map through
``peek`` without numpy when it can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .map import SkyMap

__all__ = ["SkyMap"]


def __getattr__(name: str) -> Any:
    if name == "SkyMap":
        from .map import SkyMap

        return SkyMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
