"""MP4 export through PyAV: H.264 video, optional AAC audio copied from the driving clip, atomic on disk.

The target path only ever holds a complete file: frames go to a hidden temp file beside it, which is
`os.replace`d into place on a successful close and deleted on any failure or cancel.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from engine.errors import MediaError, UserFacingError, user_error_from_os
from engine.io.compose import side_by_side  # noqa: F401  (re-exported: layouts belong to the export API)
from engine.io.output import clear_stale_partials, partial_path
from engine.jobs import CancelToken, Job, Progress

__all__ = ["EncodeConfig", "ExportResult", "Mp4Writer", "export_frames", "fps_fraction", "side_by_side"]

VIDEO_CODEC = "libx264"
PIX_FMT = "yuv420p"  # 8-bit 4:2:0: the H.264 flavour every browser and phone decodes; it needs even sizes
# H.264 level 6.2 tops out at 8192 px a side; larger files encode but most players refuse them.
MAX_SIDE = 8192
MAX_FPS = 240.0
AUDIO_CODEC = "aac"
AUDIO_FALLBACK_RATE = 48_000  # used when the source's sample rate is not one AAC supports
AUDIO_CHUNK_S = 0.1  # silence padding is written in pieces this long, so memory stays flat
# NTSC-family rates are n*1000/1001; a float like 29.97 means that, not 2997/100.
_NTSC_BASES = (24, 30, 48, 60, 120)


@dataclass(frozen=True)
class EncodeConfig:
    """How the MP4 is encoded. Defaults give visually lossless output at a sane size."""

    crf: int = 18  # x264 constant rate factor: 0 lossless (few players cope), 18 visually lossless, 23 x264's default, 51 worst
    preset: str = "faster"  # x264 speed/size trade-off: ~1.4x "medium" speed, CRF keeps the quality
    audio_bitrate: int = 192_000  # bits/s for AAC

    def __post_init__(self) -> None:
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be an int in 0..51, got {self.crf!r}")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            raise ValueError(f"preset must be one of {', '.join(presets)}; got {self.preset!r}")
        if not 32_000 <= self.audio_bitrate <= 512_000:
            raise ValueError(f"audio_bitrate must be in 32000..512000 bits/s, got {self.audio_bitrate!r}")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    frames: int
    duration_s: float
    has_audio: bool
    warnings: tuple[str, ...] = ()  # things the user should know (two people in the photo, say)


def fps_fraction(fps: float | int | Fraction) -> Fraction:
    """An exact frame rate: Fractions pass through, 29.97 becomes 30000/1001, 12.5 becomes 25/2."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        f = float(fps)
        if not math.isfinite(f):
            raise ValueError(f"fps must be a finite number, got {fps!r}")
        rate = Fraction(f).limit_denominator(1001)
        for base in _NTSC_BASES:
            if abs(f - base * 1000 / 1001) < 0.005:
                rate = Fraction(base * 1000, 1001)
    if not 0 < rate <= MAX_FPS:
        raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {fps!r}")
    return rate


def _user_error_from_os(exc: OSError, target: Path) -> UserFacingError | None:
    """The OS errors a user can cause or fix, as one-line messages (engine.errors holds the table)."""
    return user_error_from_os(exc, target, "export")


def _even_pad(rgb: np.ndarray) -> np.ndarray:
    """Grow odd sides by one repeated edge pixel: yuv420p needs even sizes and no rendered pixel is lost."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class _AudioCopy:
    """Streams the driving clip's audio into the export, sample-exact against the video clock.

    Audio is decoded and re-encoded to AAC (remuxing breaks on non-AAC sources and cannot cut mid-packet).
    The writer pulls it up to the current video time after each frame, so packets interleave and memory
    stays flat; `finish` trims or pads with silence to exactly the video duration.
    """

    @classmethod
    def start(cls, source: Path, start_s: float, out, bitrate: int) -> _AudioCopy | None:
        """Add an AAC stream to `out` fed from `source`; None when `source` has no audio."""
        import av

        try:
            src = av.open(str(source))
        except Exception as exc:  # any FFmpeg error means the same thing to the user
            raise MediaError(f"{source.name}: its audio is not readable (damaged or an unknown codec)") from None
        if not src.streams.audio:
            src.close()
            return None
        return cls(src, start_s, out, bitrate)

    def __init__(self, src, start_s: float, out, bitrate: int) -> None:
        import av

        self._src = src
        try:
            src_stream = src.streams.audio[0]
            supported = av.codec.Codec(AUDIO_CODEC, "w").audio_rates or ()
            self.rate = src_stream.rate if src_stream.rate in supported else AUDIO_FALLBACK_RATE
            # Mono stays mono; anything wider is downmixed to stereo, which every player handles.
            self.layout = "mono" if src_stream.channels == 1 else "stereo"
            self.channels = 1 if self.layout == "mono" else 2
            self.stream = out.add_stream(AUDIO_CODEC, rate=self.rate)
            self.stream.layout = self.layout
            self.stream.codec_context.bit_rate = bitrate
            self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
            if start_s > 0 and src_stream.time_base:
                # Lands on the packet at or before start_s; the surplus is trimmed sample-exactly in _pull.
                try:
                    src.seek(int(start_s / src_stream.time_base), stream=src_stream, backward=True)
                except av.error.FFmpegError:
                    pass  # unseekable source: decoding from the top and skipping is slower, but right
            self._decoded = self._src.decode(src_stream)
        except Exception:
            self._src.close()
            raise
        self._out = out
        self._start_s = start_s
        self._pending: list[np.ndarray] = []  # (channels, n) float32 pieces not yet encoded
        self._pending_n = 0
        self._emitted = 0  # samples encoded so far
        self._skip = 0  # source samples still to drop before the in-point
        self._first = True
        self._exhausted = False

    # -- source side -------------------------------------------------------------------------------
    def _next_decoded(self):
        try:
            return next(self._decoded)
        except StopIteration:
            return None
        except Exception:  # a damaged tail ends the audio; the video is what matters
            return None

    def _pull(self) -> bool:
        """Decode one more source frame into `_pending`. False once the source is used up."""
        if self._exhausted:
            return False
        frame = self._next_decoded()
        if frame is None:
            self._exhausted = True
        elif self._first:
            self._first = False
            t0 = frame.time if frame.time is not None else 0.0
            offset = int(round((t0 - self._start_s) * self.rate))
            if offset > 0:  # the source starts after the in-point: leading silence keeps it in sync
                self._push(np.zeros((self.channels, offset), np.float32))
            else:  # decoded from before the in-point (seeks land on a packet boundary, or failed)
                self._skip = -offset
        for f in self._resampler.resample(frame):  # None flushes the resampler's tail
            samples = f.to_ndarray().astype(np.float32, copy=False)  # (channels, n), planar float
            if self._skip:
                k = min(self._skip, samples.shape[1])
                samples, self._skip = samples[:, k:], self._skip - k
            self._push(samples)
        return not self._exhausted or self._pending_n > 0

    def _push(self, samples: np.ndarray) -> None:
        if samples.shape[1]:
            self._pending.append(samples)
            self._pending_n += samples.shape[1]

    # -- output side -------------------------------------------------------------------------------
    def _encode(self, samples: np.ndarray) -> None:
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self._emitted
        frame.time_base = Fraction(1, self.rate)
        self._out.mux(self.stream.encode(frame))
        self._emitted += samples.shape[1]

    def _emit_until(self, target: int, pad: bool) -> None:
        while self._emitted < target:
            if not self._pending and not self._pull():
                if not pad:
                    return
                n = min(target - self._emitted, int(self.rate * AUDIO_CHUNK_S))
                self._encode(np.zeros((self.channels, n), np.float32))
                continue
            if not self._pending:
                continue
            piece = self._pending.pop(0)
            self._pending_n -= piece.shape[1]
            need = target - self._emitted
            if piece.shape[1] > need:
                self._pending.insert(0, piece[:, need:])
                self._pending_n += piece.shape[1] - need
                piece = piece[:, :need]
            self._encode(piece)

    def advance_to(self, t_s: float) -> None:
        """Encode source audio up to `t_s` seconds of output, as far as the source goes."""
        self._emit_until(int(round(t_s * self.rate)), pad=False)

    def finish(self, t_s: float) -> None:
        """Encode exactly `t_s` seconds in total (silence after the source ends), then flush the encoder."""
        self._emit_until(int(round(t_s * self.rate)), pad=True)
        self._out.mux(self.stream.encode(None))
        self.close()

    def close(self) -> None:
        self._src.close()


class Mp4Writer:
    """Write RGB uint8 frames to an H.264 MP4; the target appears only when the `with` block succeeds.

        with Mp4Writer("out.mp4", 25, audio_from="drive.mp4") as w:
            for rgb in frames:
                w.write(rgb)

    An exception inside the block, or `abort()`, deletes the temp file and leaves any existing file at
    the target untouched. The size is fixed by the first frame; odd sides are padded by one edge pixel.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | int | Fraction,
        *,
        config: EncodeConfig | None = None,
        audio_from: str | os.PathLike | None = None,
        audio_start_s: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.rate = fps_fraction(fps)
        self.config = config or EncodeConfig()
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if not math.isfinite(audio_start_s) or audio_start_s < 0:
            raise ValueError(f"audio_start_s must be >= 0, got {audio_start_s!r}")
        self.audio_start_s = float(audio_start_s)
        self.frames_written = 0
        self.has_audio = False
        self._tmp: Path | None = None
        self._container = None
        self._video = None
        self._audio: _AudioCopy | None = None
        self._size: tuple[int, int] | None = None  # (width, height) as given, before even padding
        self._state = "new"  # new -> open -> closed | aborted

    @property
    def duration_s(self) -> float:
        return float(self.frames_written / self.rate)

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Mp4Writer:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        if self._state != "aborted":  # abort() inside the block means: keep nothing, quietly
            self.close()

    def open(self) -> None:
        import av

        if self._state != "new":
            raise RuntimeError("an Mp4Writer can be opened once")
        folder = self.path.parent
        if not folder.is_dir():
            raise UserFacingError(f"Cannot export {self.path.name}: the folder {folder} does not exist")
        if self.path.is_dir():
            raise UserFacingError(f"Cannot export: {self.path} is a folder")
        if self.audio_from is not None and not self.audio_from.exists():
            raise MediaError(f"{self.audio_from.name}: no such file")
        clear_stale_partials(self.path)  # left by an export that was killed (SIGKILL, power loss)
        tmp = partial_path(self.path)
        try:
            # os.open with 0o666 lets the umask pick the final mode, as for any file the user saves.
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except OSError as exc:
            raise _user_error_from_os(exc, self.path) or UserFacingError(
                f"Cannot export {self.path.name}: {exc.strerror or exc}"
            ) from None
        self._tmp = tmp
        try:
            # faststart moves the index to the front so the file plays while it is still downloading.
            self._container = av.open(str(tmp), mode="w", format="mp4", container_options={"movflags": "+faststart"})
        except Exception:
            self._remove_tmp()
            raise
        self._state = "open"

    def _start_streams(self, width: int, height: int) -> None:
        """Streams are added on the first frame, when the size is known; the header follows with the first packet."""
        from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace

        self._video = self._container.add_stream(VIDEO_CODEC, rate=self.rate)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = PIX_FMT
        self._video.codec_context.time_base = 1 / self.rate
        self._video.options = {"crf": str(self.config.crf), "preset": self.config.preset}
        # Tag BT.709 explicitly: untagged H.264 is read as BT.601 by some players and BT.709 by others,
        # which shifts skin tones between them.
        cc = self._video.codec_context
        cc.colorspace = Colorspace.ITU709
        cc.color_primaries = ColorPrimaries.BT709
        cc.color_trc = ColorTrc.BT709
        cc.color_range = ColorRange.MPEG
        if self.audio_from is not None:
            self._audio = _AudioCopy.start(self.audio_from, self.audio_start_s, self._container, self.config.audio_bitrate)
            self.has_audio = self._audio is not None

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 (H, W, 3) frame. Every frame must have the first frame's size."""
        import av
        from av.video.reformatter import ColorRange, Colorspace

        if self._state != "open":
            raise RuntimeError(f"write() on a writer that is {self._state}")
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"frames must be RGB uint8 arrays (H, W, 3), got {getattr(rgb, 'shape', type(rgb))}")
        h, w = rgb.shape[:2]
        if self._size is None:
            if min(h, w) < 1 or max(h, w) > MAX_SIDE:
                raise UserFacingError(f"Cannot export a {w}x{h} video: each side must be 1..{MAX_SIDE} pixels")
            self._size = (w, h)
            self._guard(lambda: self._start_streams(w + w % 2, h + h % 2))
        elif (w, h) != self._size:
            raise UserFacingError(
                f"Frame {self.frames_written} is {w}x{h} but the video is {self._size[0]}x{self._size[1]}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_even_pad(rgb)), format="rgb24")
        frame = frame.reformat(format=PIX_FMT, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate

        def encode() -> None:
            self._container.mux(self._video.encode(frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.advance_to(self.duration_s)

        self._guard(encode)

    def close(self) -> Path:
        """Finish the file and move it into place. Raises (and cleans up) if nothing was written."""
        if self._state == "closed":
            return self.path
        if self._state != "open":
            raise RuntimeError(f"close() on a writer that is {self._state}")
        if self.frames_written == 0:
            self.abort()
            raise UserFacingError(f"Nothing to export to {self.path.name}: no frames were rendered")
        try:
            self._guard(self._finish)
            self._guard(lambda: os.replace(self._tmp, self.path))
        except BaseException:
            self.abort()
            raise
        self._tmp = None
        self._state = "closed"
        return self.path

    def _finish(self) -> None:
        self._container.mux(self._video.encode(None))  # drain x264's lookahead and B-frames
        if self._audio is not None:
            self._audio.finish(self.duration_s)
        self._container.close()  # writes the trailer (and the faststart rewrite); raises on a write error
        self._container = None
        # Flush to disk before the rename, so a crash right after cannot leave an empty file at the target.
        fd = os.open(self._tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abort(self) -> None:
        """Drop everything written so far. Safe to call at any time, more than once."""
        if self._state in ("closed", "aborted"):
            return
        self._state = "aborted"
        # Unlinking first (POSIX allows it while open) makes the faststart pass in close() fail fast
        # instead of rewriting a file nobody wants; on Windows the unlink waits until after close.
        self._remove_tmp()
        for closer in (self._audio, self._container):
            if closer is not None:
                try:
                    closer.close()
                except Exception:
                    pass  # the file is being thrown away; its trailer errors do not matter
        self._audio = self._container = None
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp is None:
            return
        try:
            self._tmp.unlink()
            self._tmp = None
        except FileNotFoundError:
            self._tmp = None
        except OSError:
            pass  # still open elsewhere (Windows): abort() retries after closing

    def _guard(self, fn) -> None:
        """Run an encoder step, turning disk-full and permission errors into one-line user errors."""
        try:
            fn()
        except OSError as exc:
            user = _user_error_from_os(exc, self.path)
            if user is None:
                raise
            raise user from None


def export_frames(
    frames_iter: Iterable[np.ndarray],
    out_path: str | os.PathLike,
    fps: float | int | Fraction,
    total: int | None,
    *,
    audio_from: str | os.PathLike | None = None,
    audio_start_s: float = 0.0,
    config: EncodeConfig | None = None,
    cancel: CancelToken | None = None,
) -> Job[ExportResult]:
    """Encode frames to `out_path`, yielding Progress after every frame; drain() it for a blocking call.

    Cancelling (or closing the generator) raises Cancelled / GeneratorExit inside the writer, which removes
    the temp file: the target is either the complete new video or whatever was there before.
    """
    path = Path(out_path)
    with Mp4Writer(path, fps, config=config, audio_from=audio_from, audio_start_s=audio_start_s) as writer:
        for rgb in frames_iter:
            if cancel is not None:
                cancel.raise_if_cancelled()
            writer.write(rgb)
            n = writer.frames_written
            yield Progress(n, total, f"Exporting {path.name}: frame {n}/{total if total else '?'}")
        if cancel is not None:
            cancel.raise_if_cancelled()
        # The trailer and the faststart rewrite can take a moment on long videos: say so.
        yield Progress(writer.frames_written, total, f"Finishing {path.name}")
    return ExportResult(path=path, frames=writer.frames_written, duration_s=writer.duration_s, has_audio=writer.has_audio)
