"""Training pairs for the warp-guided generator, prepared once into shards (`python main.py prepare-data`).

Self-reenactment: for each corpus clip, a few reference frames (spread over the clip); for each reference and
every `target_stride`-th other frame, the instant render of the reference posed with that frame's tokens
(placement taken relative to the reference frame). Stored per pair, as crops of `size` px cut with the very
functions the renderer uses (engine/render/dit_warp.py): the reference crop around the reference's person
(once per reference), the warp crop, the real frame's crop, the reference's background plate (the instant
renderer's stage 2, person removed) cropped at that same box ("aligned": the background a moved limb uncovers;
version 2 used the reference frame itself, whose person in the reference pose the model learnt to copy), and
the motion vector (tokens + relative placement).

A shard is a folder per clip, written under a temporary name and renamed when complete (meta.json last), so
an interrupted preparation leaves no half shard: running again skips finished clips and redoes the rest.
Unreadable clips, clips without a person, and references the instant renderer refuses are skipped with a
one-line warning. Tracking goes through the cache (set UNIMOTION_CACHE to reuse a warm one).

Augmentation happens at training time (engine/train/generator.py), on these crops.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import UserFacingError
from engine.jobs import CancelToken, Job, Progress

DATA_VERSION = 3  # 3: "aligned" is the reference's background plate at the target's box (2: the frame itself)
META = "meta.json"
ARRAYS = ("refs", "ref_index", "warp", "target", "aligned", "motion", "frame")
# Written since stop 16, read when present (older shards of the same version train as before): the instant
# renderer's pixel layers at the warp's box (alpha, inside, drawn; engine/render/dit_warp.LAYER_CHANNELS), which
# the preview's residual gate reads; the gate's calibration needs them.
OPTIONAL_ARRAYS = ("layers",)
# Whole clips kept out of training, one of each framing, for early stopping on people the model never saw.
DEFAULT_HOLDOUT = ("clip_face_woman_glasses_speech.mp4", "clip_halfbody_woman_hand_gesture.mp4",
                   "clip_fullbody_woman_squats.mp4")


class DataError(UserFacingError):
    """Prepared data that is missing, incomplete, of another version or of another crop size."""


@dataclass(frozen=True)
class PrepareConfig:
    corpus: str = "../shared/corpus"  # folder of clip_*.mp4 (never the validation media)
    out: str = "out/generator/data"
    size: int = 128  # crop side the model sees
    frame_side: int = 256  # frames are decoded (and rendered) at this long side
    refs_per_clip: int = 3
    target_stride: int = 2  # every n-th frame is a target
    max_clips: int = 0  # 0 = all (tests use a few)
    holdout: tuple[str, ...] = DEFAULT_HOLDOUT

    def __post_init__(self) -> None:
        for n in ("size", "frame_side", "refs_per_clip", "target_stride"):
            v = getattr(self, n)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"PrepareConfig.{n}: must be a positive integer, got {v!r}")
        if self.max_clips < 0:
            raise ValueError(f"PrepareConfig.max_clips: must be >= 0, got {self.max_clips}")
        if self.frame_side < self.size:
            raise ValueError(f"PrepareConfig.frame_side: must be >= size ({self.size}), got {self.frame_side}")

    def key(self) -> dict:
        """What a shard's content depends on (a shard made with other values, or by other guidance code, is
        redone)."""
        d = dataclasses.asdict(self)
        for n in ("corpus", "out", "max_clips", "holdout"):
            d.pop(n)
        return {"version": DATA_VERSION, **d, "guidance": guidance_fingerprint()}


# The code a pair's guidance and motion come from. A shard's key held only the preparation's settings, so pairs
# prepared before the instant renderer changed were kept as they were (stop 19: the held-out pairs of a gate
# re-calibration had to be deleted by hand after a renderer fix); the generator must learn the warp it is given.
GUIDANCE_SOURCES = ("engine/render/instant", "engine/render/dit_warp.py", "engine/tokens")


@lru_cache(maxsize=1)
def guidance_fingerprint() -> str:
    """A short hash of GUIDANCE_SOURCES' Python files (paths and bytes)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for rel in GUIDANCE_SOURCES:
        p = root / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


# --- preparation ---------------------------------------------------------------------------------------

def relative_placement(placement: np.ndarray, ref: int, target: int) -> np.ndarray:
    """Placement of `target` as seen from the reference frame: the instant renderer treats the reference as
    (0, 0, 1); shifts are in the start's torso lengths, so they are divided by the reference's zoom."""
    p_r, p_t = placement[ref], placement[target]
    z = max(float(p_r[2]), 1e-3)
    return np.array([(p_t[0] - p_r[0]) / z, (p_t[1] - p_r[1]) / z, p_t[2] / z], np.float32)


MOTION_LIMIT = 1000.0  # |channel| above this is a tracking failure (degrees stay within 180, ratios near 1)


def motion_vector(tokens, frame: int, placement: np.ndarray) -> np.ndarray:
    """(MOTION_DIM,) float32: the frame's MotionTokens.flat() and its (relative) placement; NaN and infinite
    values (an untracked group, a lost placement) -> 0, the rest clipped to +-MOTION_LIMIT."""
    flat = tokens.flat()[frame].astype(np.float32)
    return sanitise_motion(np.concatenate([flat, placement]).astype(np.float32))


def sanitise_motion(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(m, -MOTION_LIMIT, MOTION_LIMIT).astype(np.float32)


def reference_frames(n: int, present: np.ndarray, count: int) -> list[int]:
    """`count` frames spread over the clip (at 10%..90% of the tracked frames)."""
    ok = np.where(present)[0]
    if len(ok) == 0:
        return []
    picks = np.quantile(ok, np.linspace(0.1, 0.9, count)) if count > 1 else [np.median(ok)]
    return sorted({int(ok[np.abs(ok - q).argmin()]) for q in picks})


def prepare_clip(path: Path, cfg: PrepareConfig, cancel: CancelToken | None = None) -> Job[dict[str, np.ndarray]]:
    """All pairs of one clip as arrays (see ARRAYS). Raises UserFacingError for an unusable clip."""
    from engine.analyze import track_clip
    from engine.io.video import iter_frames
    from engine.render.base import Reference
    from engine.render.dit_warp import VISIBLE, crop_square, layer_image, person_box, photo_plate
    from engine.render.instant.renderer import InstantRenderer
    from engine.tokens import retarget

    clip = yield from track_clip(path, cancel=cancel)
    frames = [f.rgb for f in iter_frames(path, max_side=cfg.frame_side)]
    n = min(len(frames), len(clip))
    if n < 2:
        raise UserFacingError(f"{path.name}: fewer than two frames decoded")
    h, w = frames[0].shape[:2]
    lm = clip.landmarks
    present = lm.present("face") | lm.present("body")
    refs = reference_frames(n, present[:n], cfg.refs_per_clip)
    if not refs:
        raise UserFacingError(f"{path.name}: nobody tracked in any frame")
    renderer = InstantRenderer()
    out: dict[str, list] = {k: [] for k in ARRAYS + OPTIONAL_ARRAYS}
    targets = [j for j in range(0, n, cfg.target_stride) if present[j]]
    for r in refs:
        ref = Reference(rgb=frames[r], landmarks=lm.frame(r).rescaled(w, h), name=f"{path.stem}#{r}")
        try:
            renderer.analysis(ref)
        except UserFacingError as exc:
            yield Progress(0, None, f"skipped reference frame {r} of {path.name}: {exc}")
            continue
        rig = ref.rig()
        plate = photo_plate(renderer, ref)
        visible = ref.landmarks.body_conf >= VISIBLE
        k = len(out["refs"])
        out["refs"].append(crop_square(frames[r], person_box(ref.landmarks, w, h), cfg.size))
        for done, j in enumerate(targets):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if j == r:
                continue
            tok = clip.tokens.frame(j)
            tok.placement[0] = relative_placement(clip.tokens.placement, r, j)
            target_lm = retarget.apply(tok, rig)
            layers: dict = {}
            warp = renderer.warp(ref, target_lm, layers=layers)
            box = person_box(target_lm, w, h, visible)
            out["layers"].append(crop_square(layer_image(layers), box, cfg.size))
            out["ref_index"].append(k)
            out["warp"].append(crop_square(warp, box, cfg.size))
            out["target"].append(crop_square(frames[j], box, cfg.size))
            out["aligned"].append(crop_square(plate, box, cfg.size))
            out["motion"].append(motion_vector(clip.tokens, j, tok.placement[0]))
            out["frame"].append(j)
            if done % 50 == 0:
                yield Progress(done, len(targets), f"{path.name}: reference {k + 1}/{len(refs)}")
        renderer.forget(ref)
    if not out["warp"]:
        raise UserFacingError(f"{path.name}: no usable pairs")
    return {"refs": np.stack(out["refs"]), "ref_index": np.array(out["ref_index"], np.int32),
            "warp": np.stack(out["warp"]), "target": np.stack(out["target"]), "aligned": np.stack(out["aligned"]),
            "motion": np.stack(out["motion"]), "frame": np.array(out["frame"], np.int32),
            "layers": np.stack(out["layers"])}


def write_shard(folder: Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write arrays as .npy (memory-mappable) into a temporary folder, meta.json last, then rename."""
    tmp = folder.with_name(f".tmp_{folder.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for k in ARRAYS + tuple(k for k in OPTIONAL_ARRAYS if k in arrays):
        np.save(tmp / f"{k}.npy", arrays[k])
    (tmp / META).write_text(json.dumps({**meta, "pairs": int(len(arrays["warp"]))}, indent=1) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def shard_ok(folder: Path, key: dict) -> bool:
    meta = folder / META
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("key") == key
    except (json.JSONDecodeError, OSError):
        return False


def prepare(cfg: PrepareConfig, cancel: CancelToken | None = None) -> Job[dict]:
    """Prepare every corpus clip (finished shards are kept). Returns a summary: clips, pairs, skipped."""
    corpus, out = Path(cfg.corpus), Path(cfg.out)
    clips = sorted(corpus.glob("clip_*.mp4")) if corpus.is_dir() else []
    if not clips:
        raise DataError(f"no clip_*.mp4 in {corpus}")
    if cfg.max_clips:
        clips = clips[:cfg.max_clips]
    out.mkdir(parents=True, exist_ok=True)
    summary = {"clips": 0, "pairs": 0, "skipped": [], "holdout": []}
    key = cfg.key()
    for i, path in enumerate(clips):
        folder = out / path.stem
        yield Progress(i, len(clips), f"Preparing {path.name}")
        if not shard_ok(folder, key):
            try:
                arrays = yield from _quiet(prepare_clip(path, cfg, cancel), i, len(clips))
            except UserFacingError as exc:
                summary["skipped"].append(path.name)
                yield Progress(i, len(clips), f"warning: skipped {path.name}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a damaged file must not end a long preparation
                summary["skipped"].append(path.name)
                yield Progress(i, len(clips), f"warning: skipped {path.name}: {type(exc).__name__}: {exc}")
                continue
            write_shard(folder, arrays, {"key": key, "clip": path.name, "framing": _framing(path.name)})
        meta = json.loads((folder / META).read_text())
        summary["clips"] += 1
        summary["pairs"] += meta["pairs"]
        if path.name in cfg.holdout:
            summary["holdout"].append(path.name)
    yield Progress(len(clips), len(clips), f"Prepared {summary['clips']} clips, {summary['pairs']} pairs")
    return summary


def _quiet(job, i: int, total: int) -> Job:
    """Forward a clip's job as clip-level progress (its own counts are per reference)."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        yield Progress(i, total, p.message)


def _framing(name: str) -> str:
    for kind in ("fullbody", "halfbody", "face"):
        if f"_{kind}_" in name:
            return kind
    return "other"


# --- reading -------------------------------------------------------------------------------------------

@dataclass
class Shard:
    name: str
    framing: str
    arrays: dict[str, np.ndarray]  # memory-mapped

    def __len__(self) -> int:
        return int(len(self.arrays["warp"]))


def load_shards(folder: str | Path, size: int, *, include: set[str] | None = None,
                exclude: set[str] | None = None) -> list[Shard]:
    """The complete shards under `folder` (interrupted ones are ignored), checked for version and size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"no prepared data at {folder}; run `python main.py prepare-data` first")
    shards = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta_path = sub / META
        if not meta_path.is_file():
            continue  # an interrupted shard: prepare-data redoes it
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{meta_path}: unreadable ({exc}); delete the folder and prepare again") from exc
        key = meta.get("key", {})
        if key.get("version") != DATA_VERSION:
            raise DataError(f"{sub.name}: prepared with data version {key.get('version')}, this engine reads "
                            f"{DATA_VERSION}; prepare the data again")
        if key.get("size") != size:
            raise DataError(f"{sub.name}: crops are {key.get('size')} px, the model needs {size} px")
        clip = meta.get("clip", sub.name)
        if (include is not None and clip not in include) or (exclude is not None and clip in exclude):
            continue
        try:
            arrays = {k: np.load(sub / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
            arrays.update({k: np.load(sub / f"{k}.npy", mmap_mode="r") for k in OPTIONAL_ARRAYS
                           if (sub / f"{k}.npy").is_file()})
        except (OSError, ValueError) as exc:
            raise DataError(f"{sub.name}: a damaged array ({exc}); delete the folder and prepare again") from exc
        n = len(arrays["warp"])
        if any(len(arrays[k]) != n for k in ("ref_index", "target", "aligned", "motion", "frame")
               + tuple(k for k in OPTIONAL_ARRAYS if k in arrays)) or \
                arrays["warp"].shape[1:] != (size, size, 3):
            raise DataError(f"{sub.name}: arrays of mismatched lengths or shapes; prepare the data again")
        shards.append(Shard(clip, meta.get("framing", "other"), arrays))
    if not shards:
        raise DataError(f"no complete shards in {folder}; run `python main.py prepare-data`")
    return shards


def iter_pairs(shards: list[Shard]) -> Iterator[tuple[int, int]]:
    for s, shard in enumerate(shards):
        for i in range(len(shard)):
            yield s, i
