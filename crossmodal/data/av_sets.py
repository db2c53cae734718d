"""The audio-visual training data sets: embedded synthetic events, a folder of videos, a prepared video cache.

Videos are decoded once into a (frame, audio window) cache in the data directory, named after
the videos and the sampling settings; generated events live under a name keyed by every
generation parameter, so other settings never reuse stale files.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.kinds import DataSetKind, data_dir, register_data_set
from crossmodal.data.synthetic.av import EVENT_CLASSES
from crossmodal.data.synthetic.av_set import GENERATOR_VERSION, generate_synthetic_av
from crossmodal.data.video_cache import INDEX_FILE, SETTINGS_FILE, VideoAudioPairs, prepare_video_cache
from crossmodal.errors import InputError
from crossmodal.fileio import atomic_path


def synthetic_av_dir(config: DataConfig) -> Path:
    """The generated audio-visual events (videos/ with labels.csv, sounds/ in the ESC-50 layout)."""
    av = config.av
    height, width = av.size
    name = f"synthetic-av{GENERATOR_VERSION}-n{av.num}-{height}x{width}-{av.seconds:g}s-c{av.clips_per_class}-seed{av.seed}"
    return data_dir(config) / name


def synthetic_sound_set(config: DataConfig) -> Path:
    """The labelled ESC-50-layout sound set generated with the synthetic events."""
    return synthetic_av_dir(config) / "sounds"


def _synthetic_videos(config: DataConfig) -> Path:
    return synthetic_av_dir(config) / "videos"


def _user_videos(config: DataConfig) -> Path:
    return Path(config.videos or "").expanduser()


def _sampling_name(config: DataConfig) -> str:
    video = config.video
    height, width = video.frame_size
    return f"fps{video.fps:g}-clip{video.clip_seconds:g}-{height}x{width}"


def synthetic_cache_dir(config: DataConfig) -> Path:
    """The synthetic events' (frame, audio window) cache: ``data.cache``, else next to the events, keyed by the sampling."""
    if config.cache:
        return Path(config.cache).expanduser()
    return data_dir(config) / f"{synthetic_av_dir(config).name}-cache-{_sampling_name(config)}"


def user_cache_dir(config: DataConfig) -> Path:
    """A video folder's cache: ``data.cache``, else in the data directory under the folder's name, a hash of its
    absolute path and the sampling settings."""
    if config.cache:
        return Path(config.cache).expanduser()
    source = _user_videos(config).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return data_dir(config) / f"video-cache-{source.name}-{digest}-{_sampling_name(config)}"


def _given_cache_dir(config: DataConfig) -> Path:
    return Path(config.cache or "").expanduser()


def _cache_videos(config: DataConfig, source: Path, cache: Path, progress: bool) -> None:
    """Decode the videos into the cache (videos already there and whole are skipped); fails if no video gives pairs.

    Before training, damage is looked for in each file's structure only; ``crossmodal-prepare video``
    also checks every file's checksum.
    """
    summary = prepare_video_cache(source, cache, config.video, progress=progress, check_content=False)
    if summary.ok == 0:
        raise InputError(
            f"none of the videos in {source} has a readable picture and audio track of at least "
            f"{config.video.clip_seconds:g} s, so there are no frame/audio pairs to train on"
        )


def _prepare_synthetic(config: DataConfig, progress: bool) -> None:
    """Render the events into a temporary folder and rename it into place, so a half-written set is never used."""
    av, path = config.av, synthetic_av_dir(config)
    if not path.is_dir():
        if av.seconds <= config.video.clip_seconds:
            raise InputError(
                f"data.av.seconds ({av.seconds}) must exceed data.video.clip_seconds ({config.video.clip_seconds}): "
                "every video needs room for one audio window"
            )
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
    if not config.videos:
        raise InputError("data set 'video' needs the folder of videos with sound: --videos DIR")
    if not _user_videos(config).is_dir():
        raise InputError(f"video folder {config.videos} is not a directory (--videos)")
    _cache_videos(config, _user_videos(config), user_cache_dir(config), progress)


def _prepare_cache(config: DataConfig, progress: bool) -> None:
    if not config.cache:
        raise InputError("data set 'video-cache' needs a prepared video cache: --cache DIR")
    if not (Path(config.cache).expanduser() / INDEX_FILE).is_file():
        raise InputError(
            f"{config.cache} is not a video cache (no {INDEX_FILE}); prepare one with "
            "crossmodal-prepare video --src VIDEOS --out DIR, or train on the videos with --videos DIR"
        )


def _pairs_in(cache_dir: Callable[[DataConfig], Path]) -> Callable[[DataConfig], Dataset]:
    """Opens the cache's pairs; a prepared cache brings its own audio window length, which the config must agree with."""

    def open_pairs(config: DataConfig) -> Dataset:
        cache = cache_dir(config)
        settings_file = cache / SETTINGS_FILE
        if settings_file.is_file():
            clip_seconds = json.loads(settings_file.read_text()).get("clip_seconds")
            if clip_seconds != config.video.clip_seconds:
                raise InputError(
                    f"video cache {cache} holds {clip_seconds} s audio windows but data.video.clip_seconds "
                    f"is {config.video.clip_seconds}; pass --set data.video.clip_seconds={clip_seconds}"
                )
        return VideoAudioPairs(cache)

    return open_pairs


SYNTHETIC_AV = register_data_set(DataSetKind(
    "synthetic-av", "audio", _prepare_synthetic, _pairs_in(synthetic_cache_dir), synthetic_cache_dir, labelled=synthetic_sound_set
))
VIDEO = register_data_set(DataSetKind("video", "audio", _prepare_videos, _pairs_in(user_cache_dir), user_cache_dir))
VIDEO_CACHE = register_data_set(DataSetKind("video-cache", "audio", _prepare_cache, _pairs_in(_given_cache_dir), _given_cache_dir))
