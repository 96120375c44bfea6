"""The tracked-clip file: tokens, placement, confidences, landmarks, timing and provenance. No pickle.

Layout (format_version 1): an .npz of plain numeric arrays plus one `meta` entry holding UTF-8 JSON:
  meta                 JSON: format_version, fps, width, height, source_name, source_hash, tracker, warnings,
                       channels (per group: name, unit, neutral), engine_version, encoder (the token
                       encoder's fingerprint: the tracking cache re-encodes tokens made by other code)
  tokens/<group>       (T, C) float32, channels as listed in meta.channels[group]
  confidence/<group>   (T,) float32, 0 = not tracked in that frame (values then hold the nearest frame)
  placement            (T, 3) float32: dx, dy (torso lengths from the start), scale
  times                (T,) float64 seconds (variable frame rate preserved)
  face_neutral         (E,) float64: the performer's raw expression neutral
  landmarks/<array>    the ClipLandmarks arrays (px; NaN where missing)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import __version__
from engine.errors import MediaError, OutputError, user_error_from_os
from engine.io.output import clear_stale_partials, partial_path
from engine.tokens import schema
from engine.tokens.schema import CHANNELS, GROUP_NAMES, MotionTokens, TokenGroup
from engine.track.types import ClipLandmarks


@dataclass
class TrackedClip:
    tokens: MotionTokens
    landmarks: ClipLandmarks
    times: np.ndarray
    fps: float
    face_neutral: np.ndarray
    source_name: str = ""
    source_hash: str = ""
    tracker: str = ""  # the TrackerConfig it was tracked with, as JSON
    encoder: str = ""  # engine.cache.encoder_key() of the code that encoded the tokens ("" if not known)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> tuple[int, int]:
        return self.landmarks.width, self.landmarks.height


def save_clip(clip: TrackedClip, path: str | Path) -> None:
    """Write atomically: a crash mid-write never leaves a broken file where a good one was."""
    path = Path(path)
    meta = {
        "format_version": schema.TOKEN_FORMAT_VERSION,  # read now: a new channel bumps it
        "engine_version": __version__,
        "fps": clip.fps,
        "width": clip.landmarks.width,
        "height": clip.landmarks.height,
        "source_name": clip.source_name,
        "source_hash": clip.source_hash,
        "tracker": clip.tracker,
        "encoder": clip.encoder,
        "warnings": clip.warnings,
        "channels": {g: [{"name": c.name, "unit": c.unit, "neutral": c.neutral} for c in CHANNELS[g]]
                     for g in GROUP_NAMES},
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
              "placement": clip.tokens.placement, "times": clip.times.astype(np.float64),
              "face_neutral": np.asarray(clip.face_neutral, np.float64)}
    for g, grp in clip.tokens.groups().items():
        arrays[f"tokens/{g}"] = grp.values
        arrays[f"confidence/{g}"] = grp.confidence
    for k in ClipLandmarks.ARRAYS:
        arrays[f"landmarks/{k}"] = getattr(clip.landmarks, k)
    if path.is_dir():
        raise OutputError(f"Cannot write the token file: {path} is a folder")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_partials(path)  # left by a run that was killed (SIGKILL, power loss)
        tmp = partial_path(path)
        with open(tmp, "xb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise user_error_from_os(exc, path) or exc from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _refuse_non_finite(path: Path, tokens: MotionTokens) -> None:
    """NaN or infinity in a token file (hand-edited, or written by another tool) would render a frozen face
    and warn per frame; refuse the file at once, naming where."""
    arrays = {**{g: grp.values for g, grp in tokens.groups().items()},
              **{f"{g} confidence": grp.confidence for g, grp in tokens.groups().items()},
              "placement": tokens.placement}
    for name, a in arrays.items():
        bad = ~np.isfinite(a)
        if bad.any():
            frame = int(np.argwhere(bad)[0][0])
            raise MediaError(f"{path.name}: {name} holds NaN or infinite values (first at frame {frame}); "
                             "the token file is damaged")


def load_clip(path: str | Path, *, check_tokens: bool = True) -> TrackedClip:
    """Read a token file; MediaError for anything that is not one of this version, or whose tokens are not
    finite. `check_tokens=False` is for the tracking cache, which re-encodes the tokens from the landmarks."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            version = meta.get("format_version")
            if version != schema.TOKEN_FORMAT_VERSION:
                raise MediaError(f"{path.name}: token file format {version}, this version reads "
                                 f"{schema.TOKEN_FORMAT_VERSION}")
            for g in GROUP_NAMES:
                names = [c["name"] for c in meta["channels"][g]]
                if names != [c.name for c in CHANNELS[g]]:
                    raise MediaError(f"{path.name}: channels of {g} do not match this version")
            tokens = MotionTokens(**{g: TokenGroup(g, z[f"tokens/{g}"], z[f"confidence/{g}"])
                                     for g in GROUP_NAMES}, placement=z["placement"])
            if check_tokens:
                _refuse_non_finite(path, tokens)
            lm = ClipLandmarks(width=int(meta["width"]), height=int(meta["height"]),
                               **{k: z[f"landmarks/{k}"] for k in ClipLandmarks.ARRAYS})
            return TrackedClip(tokens=tokens, landmarks=lm, times=z["times"], fps=float(meta["fps"]),
                               face_neutral=z["face_neutral"], source_name=meta.get("source_name", ""),
                               source_hash=meta.get("source_hash", ""), tracker=meta.get("tracker", ""),
                               encoder=meta.get("encoder", ""),
                               warnings=list(meta.get("warnings", [])))
    except MediaError:
        raise
    except FileNotFoundError:
        raise MediaError(f"{path.name}: no such file") from None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise MediaError(f"{path.name}: not a UniMotion token file (damaged, or another kind of file)") from None
