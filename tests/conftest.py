"""Shared test setup: headless Qt, a private tracking cache, the shared media folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The shared test media sit beside the repository (../shared/media); UNIMOTION_TEST_MEDIA points elsewhere.
MEDIA = Path(os.environ.get("UNIMOTION_TEST_MEDIA") or Path(__file__).resolve().parents[2] / "shared" / "media")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Tests never read or pollute the user's tracking cache; within a run, clips are tracked once."""
    os.environ["UNIMOTION_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from engine.runtime import setup

    setup(quiet=False)  # keep pytest's own output capture intact
    yield


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def media() -> Path:
    """The shared media folder. Missing, it fails every test that needs it under CI=true (a CI run that
    skipped most suites would pass while testing nothing); on a developer's machine it skips them."""
    if not MEDIA.is_dir() or not any(MEDIA.glob("*.mp4")):
        message = f"shared test media not found at {MEDIA} (set UNIMOTION_TEST_MEDIA)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return MEDIA
