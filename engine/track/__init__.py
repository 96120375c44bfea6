"""Whole-body landmark tracking (MediaPipe Holistic, offline, from the installed package)."""
