"""UniMotion engine: decode, track, motion tokens, retargeting, rendering. Never imports Qt."""

__version__ = "0.1.0"
