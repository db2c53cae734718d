"""Decode a video file into (frame at t, audio window centred at t) samples with PyAV.

PyAV bundles FFmpeg, so any container and codec FFmpeg reads works; the audio is
down-mixed to mono and resampled to 16 kHz by FFmpeg's resampler whatever the source
layout and rate, so every sample has the same waveform format.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
import numpy as np

from crossmodal.constants import SAMPLE_RATE
from crossmodal.data.resize import resize_rgb
from crossmodal.errors import InputError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".webm", ".mov")


@contextlib.contextmanager
def ffmpeg_log_callback_off() -> Iterator[None]:
    """Run FFmpeg with PyAV's Python log callback removed (the state PyAV starts in), then restore it.

    Importing torchvision (the teachers do) installs that callback; a frame-threaded FFmpeg
    decoder thread that logs then waits for the GIL held by the thread waiting for it, and
    decoding hangs. Decoding here is single-threaded besides (one thread per codec context),
    and every PyAV encode and decode of this package runs in a function (or generator) that
    this wraps whole, so its containers and streams are released before the callback comes back.
    """
    previous = av.logging.get_level()
    av.logging.set_level(None)
    try:
        yield
    finally:
        av.logging.set_level(previous)


def list_videos(src_dir: str | Path) -> list[Path]:
    """Video files under src_dir (recursively), sorted, as paths relative to src_dir."""
    root = Path(src_dir)
    found = (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(p.relative_to(root) for p in found)


@dataclass
class DecodedAudio:
    """A whole audio track as mono int16 at SAMPLE_RATE; sample 0 plays at `start` seconds."""

    samples: np.ndarray
    start: float

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SAMPLE_RATE


def _unreadable(path: Path, error: Exception) -> InputError:
    return InputError(f"{path} cannot be decoded ({type(error).__name__}: {error})")


@ffmpeg_log_callback_off()
def decode_audio(path: str | Path) -> DecodedAudio:
    """The first audio track of `path`, down-mixed to mono and resampled to 16 kHz int16.

    s16 output matters: FFmpeg normalises the down-mix matrix for integer formats, so a
    stereo track becomes the mean of its channels rather than a clipped sum.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError(f"{path} has no audio track")
            stream = container.streams.audio[0]
            stream.codec_context.thread_count = 1
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            chunks: list[np.ndarray] = []
            start: float | None = None
            for frame in container.decode(stream):
                if start is None:
                    start = float(frame.time) if frame.time is not None else 0.0
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise _unreadable(path, error) from error
    samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    if start is None or len(samples) == 0:
        raise InputError(f"{path} has an audio track with no samples")
    return DecodedAudio(samples=samples, start=start)


def sample_times(start: float, end: float, fps: float, clip_seconds: float) -> np.ndarray:
    """Times k/fps whose whole clip window [t - clip/2, t + clip/2] lies inside [start, end].

    Multiples of 1/fps rather than offsets from `start`, so sample times are round numbers
    whatever small start delay the container reports.
    """
    half = clip_seconds / 2
    first = math.ceil((start + half) * fps - 1e-6)
    last = math.floor((end - half) * fps + 1e-6)
    return np.arange(first, last + 1, dtype=np.float64) / fps if last >= first else np.zeros(0)


def _centre_crop_resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop to the target aspect ratio, then resize, so objects keep their shape."""
    height, width = rgb.shape[:2]
    target = size[1] / size[0]
    if width / height > target:
        keep = max(1, round(height * target))
        left = (width - keep) // 2
        rgb = rgb[:, left : left + keep]
    else:
        keep = max(1, round(width / target))
        top = (height - keep) // 2
        rgb = rgb[top : top + keep]
    return resize_rgb(np.ascontiguousarray(rgb), size)


def frames_at(path: str | Path, times: np.ndarray, size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (k, frame shown at times[k]) as size-(h, w) RGB uint8, for the times the video covers.

    The frame shown at t is the last one whose presentation time is <= t. Decoding runs once
    through the stream; only the frames that are kept are converted to RGB.
    """
    with ffmpeg_log_callback_off():
        yield from _decode_frames_at(Path(path), times, size)


def _decode_frames_at(path: Path, times: np.ndarray, size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    tolerance = 1e-4
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video track")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # no decoder threads to deadlock; workers parallelise across videos
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            k = 0
            shown = None
            shown_time = -math.inf
            for index, frame in enumerate(container.decode(stream)):
                frame_time = float(frame.time) if frame.time is not None else index / rate
                while k < len(times) and frame_time > times[k] + tolerance:
                    if shown is not None:
                        yield k, _centre_crop_resize(shown.to_ndarray(format="rgb24"), size)
                    k += 1
                if k == len(times):
                    return
                shown, shown_time = frame, frame_time
            while shown is not None and k < len(times) and times[k] < shown_time + 1.0 / rate - tolerance:
                yield k, _centre_crop_resize(shown.to_ndarray(format="rgb24"), size)
                k += 1
    except (av.FFmpegError, OSError, ValueError) as error:
        raise _unreadable(path, error) from error
