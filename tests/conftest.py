"""Shared test setup: headless Qt, a private tracking cache, the shared media and corpus folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The shared test media sit beside the repository (../shared/media); UNIMOTION_TEST_MEDIA points elsewhere.
MEDIA = Path(os.environ.get("UNIMOTION_TEST_MEDIA") or Path(__file__).resolve().parents[2] / "shared" / "media")
CORPUS = Path(os.environ.get("UNIMOTION_TEST_CORPUS") or MEDIA.parent / "corpus")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Tests never read or pollute the user's tracking cache; within a run, clips are tracked once."""
    os.environ["UNIMOTION_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from engine.runtime import setup

    setup(quiet=False)  # keep pytest's own output capture intact
    yield


def require_input(present: bool, message: str) -> None:
    """A test input (shared media, a corpus file) that is missing fails the test, in CI and on a developer's
    machine alike: a suite that skipped what it could not find would pass while testing nothing. The message
    says which folder was looked in and which variable points elsewhere."""
    if not present:
        pytest.fail(message)


@pytest.fixture(scope="session")
def media() -> Path:
    """The shared media folder (../shared/media)."""
    require_input(MEDIA.is_dir() and any(MEDIA.glob("*.mp4")),
                  f"shared test media not found at {MEDIA} (set UNIMOTION_TEST_MEDIA)")
    return MEDIA


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The training corpus folder (../shared/corpus)."""
    require_input(CORPUS.is_dir() and any(CORPUS.glob("clip_*.mp4")),
                  f"corpus not found at {CORPUS} (set UNIMOTION_TEST_CORPUS)")
    return CORPUS
