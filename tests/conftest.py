"""Shared test setup: headless Qt, a private tracking cache, the shared media folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Tests never read or pollute the user's tracking cache; within a run, clips are tracked once."""
    os.environ["UNIMOTION_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from engine.runtime import setup

    setup(quiet=False)  # keep pytest's own output capture intact
    yield


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.exists():
        pytest.skip(f"shared media not found at {MEDIA}")
    return MEDIA
