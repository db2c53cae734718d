"""The audio-visual training data sets: embedded synthetic events, a folder of videos, a prepared video cache.

Videos are decoded once into a (frame, audio window) cache in the data directory, named after
the videos and the sampling settings; generated events live under a name keyed by every
generation parameter, so other settings never reuse stale files.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig, SyntheticAVConfig, VideoConfig
from crossmodal.data.kinds import DataSetKind, data_dir, data_options, register_data_set
from crossmodal.data.synthetic.av import EVENT_CLASSES
from crossmodal.data.synthetic.av_set import GENERATOR_VERSION, generate_synthetic_av
from crossmodal.data.video_cache import INDEX_FILE, SETTINGS_FILE, VideoAudioPairs, prepare_video_cache
from crossmodal.errors import InputError, OptionError
from crossmodal.fileio import atomic_path


@dataclass(frozen=True, kw_only=True)
class _Sampling:
    """How videos become (frame, audio window) pairs: cache samples per second, the audio window, the stored frame size."""

    fps: float = VideoConfig.fps
    clip_seconds: float = VideoConfig.clip_seconds
    frame_size: tuple[int, int] = VideoConfig.frame_size

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.clip_seconds <= 0:
            raise OptionError(f"options fps ({self.fps}) and clip_seconds ({self.clip_seconds}) must be positive")

    @property
    def video(self) -> VideoConfig:
        return VideoConfig(self.fps, self.clip_seconds, self.frame_size)


@dataclass(frozen=True, kw_only=True)
class SyntheticAVOptions(_Sampling):
    """The embedded events (count, seconds, frame size, labelled clips per class, seed), how they are sampled, and
    ``cache``: where their frame/audio cache goes (default: beside them, named after the sampling)."""

    num: int = SyntheticAVConfig.num
    seconds: float = SyntheticAVConfig.seconds
    size: tuple[int, int] = SyntheticAVConfig.size
    clips_per_class: int = SyntheticAVConfig.clips_per_class
    seed: int = SyntheticAVConfig.seed
    cache: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seconds <= self.clip_seconds:
            raise OptionError(
                f"option seconds ({self.seconds}) must exceed clip_seconds ({self.clip_seconds}): every video needs room for one audio window"
            )

    @property
    def av(self) -> SyntheticAVConfig:
        return SyntheticAVConfig(self.num, self.seconds, self.size, self.clips_per_class, self.seed)


@dataclass(frozen=True, kw_only=True)
class VideoOptions(_Sampling):
    """``path``: a folder of videos with sound (labels.csv optional); ``cache``: where to decode them (default: the
    data directory, named after the folder and the sampling)."""

    path: str | None = None
    cache: str | None = None


@dataclass(frozen=True, kw_only=True)
class VideoCacheOptions:
    """``path``: a cache prepared by ``crossmodal-prepare video``; ``clip_seconds``: its audio window (checked against it)."""

    path: str | None = None
    clip_seconds: float = VideoConfig.clip_seconds


def synthetic_av_dir(config: DataConfig) -> Path:
    """The generated audio-visual events (videos/ with labels.csv, sounds/ in the ESC-50 layout)."""
    av = data_options(config).av
    height, width = av.size
    name = f"synthetic-av{GENERATOR_VERSION}-n{av.num}-{height}x{width}-{av.seconds:g}s-c{av.clips_per_class}-seed{av.seed}"
    return data_dir(config) / name


def synthetic_sound_set(config: DataConfig) -> Path:
    """The labelled ESC-50-layout sound set generated with the synthetic events."""
    return synthetic_av_dir(config) / "sounds"


def _synthetic_videos(config: DataConfig) -> Path:
    return synthetic_av_dir(config) / "videos"


def _user_videos(config: DataConfig) -> Path:
    return Path(data_options(config).path or "").expanduser()


def _sampling_name(config: DataConfig) -> str:
    video = data_options(config).video
    height, width = video.frame_size
    return f"fps{video.fps:g}-clip{video.clip_seconds:g}-{height}x{width}"


def synthetic_cache_dir(config: DataConfig) -> Path:
    """The synthetic events' (frame, audio window) cache: the ``cache`` option, else next to the events, keyed by the sampling."""
    cache = data_options(config).cache
    if cache:
        return Path(cache).expanduser()
    return data_dir(config) / f"{synthetic_av_dir(config).name}-cache-{_sampling_name(config)}"


def user_cache_dir(config: DataConfig) -> Path:
    """A video folder's cache: the ``cache`` option, else in the data directory under the folder's name, a hash of its
    absolute path and the sampling settings."""
    cache = data_options(config).cache
    if cache:
        return Path(cache).expanduser()
    source = _user_videos(config).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return data_dir(config) / f"video-cache-{source.name}-{digest}-{_sampling_name(config)}"


def _given_cache_dir(config: DataConfig) -> Path:
    return Path(data_options(config).path or "").expanduser()


def _cache_videos(config: DataConfig, source: Path, cache: Path, progress: bool) -> None:
    """Decode the videos into the cache (videos already there and whole are skipped); fails if no video gives pairs.

    Before training, damage is looked for in each file's structure only; ``crossmodal-prepare video``
    also checks every file's checksum.
    """
    video = data_options(config).video
    summary = prepare_video_cache(source, cache, video, progress=progress, check_content=False)
    if summary.ok == 0:
        raise InputError(
            f"none of the videos in {source} has a readable picture and audio track of at least "
            f"{video.clip_seconds:g} s, so there are no frame/audio pairs to train on"
        )


def _prepare_synthetic(config: DataConfig, progress: bool) -> None:
    """Render the events into a temporary folder and rename it into place, so a half-written set is never used."""
    av, path = data_options(config).av, synthetic_av_dir(config)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"generating {av.num} synthetic audio-visual event videos and {av.clips_per_class * len(EVENT_CLASSES)} "
            f"labelled sounds into {path} (first use only)",
            flush=True,
        )
        with atomic_path(path) as temporary:
            generate_synthetic_av(temporary, av, progress=progress)
    if not (synthetic_cache_dir(config) / INDEX_FILE).is_file():
        _cache_videos(config, _synthetic_videos(config), synthetic_cache_dir(config), progress)


def _prepare_videos(config: DataConfig, progress: bool) -> None:
    if not data_options(config).path:
        raise InputError("data set 'video' needs the folder of videos with sound: --data-path DIR (or --videos DIR)")
    if not _user_videos(config).is_dir():
        raise InputError(f"video folder {_user_videos(config)} is not a directory (--data-path)")
    _cache_videos(config, _user_videos(config), user_cache_dir(config), progress)


def _prepare_cache(config: DataConfig, progress: bool) -> None:
    if not data_options(config).path:
        raise InputError("data set 'video-cache' needs a prepared video cache: --data-path DIR (or --cache DIR)")
    if not (_given_cache_dir(config) / INDEX_FILE).is_file():
        raise InputError(
            f"{_given_cache_dir(config)} is not a video cache (no {INDEX_FILE}); prepare one with "
            "crossmodal-prepare video --src VIDEOS --out DIR, or train on the videos with --videos DIR"
        )


def _pairs_in(cache_dir: Callable[[DataConfig], Path]) -> Callable[[DataConfig], Dataset]:
    """Opens the cache's pairs; a prepared cache brings its own audio window length, which the options must agree with."""

    def open_pairs(config: DataConfig) -> Dataset:
        cache = cache_dir(config)
        settings_file = cache / SETTINGS_FILE
        expected = data_options(config).clip_seconds
        if settings_file.is_file():
            clip_seconds = json.loads(settings_file.read_text()).get("clip_seconds")
            if clip_seconds != expected:
                raise InputError(
                    f"video cache {cache} holds {clip_seconds} s audio windows but the data set option clip_seconds "
                    f"is {expected}; pass --set data.options.clip_seconds={clip_seconds}"
                )
        return VideoAudioPairs(cache)

    return open_pairs


SYNTHETIC_AV = register_data_set(DataSetKind(
    "synthetic-av", "audio", SyntheticAVOptions, _prepare_synthetic, _pairs_in(synthetic_cache_dir), synthetic_cache_dir,
    labelled=synthetic_sound_set,
))
VIDEO = register_data_set(DataSetKind("video", "audio", VideoOptions, _prepare_videos, _pairs_in(user_cache_dir), user_cache_dir))
VIDEO_CACHE = register_data_set(DataSetKind(
    "video-cache", "audio", VideoCacheOptions, _prepare_cache, _pairs_in(_given_cache_dir), _given_cache_dir
))
