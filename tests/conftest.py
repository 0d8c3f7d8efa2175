"""Shared fixtures. ``../shared`` (beside the repository) holds real LVK samples; tests that use
it skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
NOTICES = SHARED / "notices"
SKYMAPS = SHARED / "skymaps"
CATALOGS = SHARED / "catalogs"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


@pytest.fixture
def shared_notices() -> Path:
    if not NOTICES.is_dir():
        pytest.skip("../shared/data/notices not available")
    return NOTICES
