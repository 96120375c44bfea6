"""Landmark index tables for MediaPipe's body (33), hand (21) and face (478) layouts.

They live in engine/vocabulary.py, the one module that names the body's parts; this module keeps the
tracker's older import path (`from engine.track import landmarks as L`) working.
"""
from __future__ import annotations

from engine.vocabulary import *  # noqa: F401,F403
