"""The paired training set a config asks for.

RGB -> depth: embedded synthetic rooms (default), NYU-Depth V2, or an RGB-D folder.
RGB -> audio: embedded synthetic audio-visual events (default), a folder of videos, or a
prepared video cache.

Generated data lives in the data directory ($CROSSMODAL_DATA, else ./data) under names keyed
by every generation parameter, so asking for a different set generates new files and never
reuses stale ones. Videos are decoded once into a cache (frames and audio tracks) next to
them in the data directory, keyed by the sampling settings.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.av_transforms import VideoPairTransform
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.synthetic.av import EVENT_CLASSES, GENERATOR_VERSION, generate_synthetic_av
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.data.transforms import PairedTransform
from crossmodal.data.video_cache import INDEX_FILE, SETTINGS_FILE, VideoAudioPairs, prepare_video_cache
from crossmodal.errors import InputError

DATA_SET_TARGETS = {
    "synthetic-rooms": "depth",
    "nyu": "depth",
    "rgbd-folder": "depth",
    "synthetic-av": "audio",
    "video": "audio",
    "video-cache": "audio",
}
"""Every data set and the modality it pairs with RGB."""
DATA_SETS = tuple(DATA_SET_TARGETS)
SOURCES = ("rgb",)
TARGET_CHANNELS = {"depth": 1, "audio": 1}
"""Supported target modalities (the item key of the same name) and their channel count."""
TARGET_INPUTS = {"depth": "image", "audio": "waveform"}
"""What a student of each target takes: images (B x C x H x W) or waveforms (B x C x T)."""
DATA_DIR_ENV = "CROSSMODAL_DATA"


def check_modalities(config: DataConfig) -> None:
    """Source must be RGB (the teachers are RGB networks); the data set must pair it with a supported target."""
    if config.source not in SOURCES:
        raise InputError(f"source {config.source!r} is not supported; the teachers are RGB networks, so use --source rgb")
    if config.target not in TARGET_CHANNELS:
        raise InputError(
            f"target {config.target!r} is not supported yet; supported targets: {', '.join(TARGET_CHANNELS)}"
        )
    if config.name not in DATA_SETS:
        raise InputError(f"unknown data set {config.name!r}; choose one of: {', '.join(DATA_SETS)}")
    paired = DATA_SET_TARGETS[config.name]
    if paired != config.target:
        fitting = ", ".join(name for name, target in DATA_SET_TARGETS.items() if target == config.target)
        raise InputError(
            f"data set {config.name!r} pairs rgb with {paired} and has no {config.target}, "
            f"so for --target {config.target} use --data {fitting}"
        )


def student_input(student: nn.Module) -> str:
    """"waveform" for audio students (they carry the ``sample_rate`` they expect), else "image"."""
    return "waveform" if hasattr(student, "sample_rate") else "image"


def check_student_input(student: nn.Module, name: str, target: str) -> None:
    """The student must take what the target modality is: images for depth, waveforms for audio."""
    needed, takes = TARGET_INPUTS.get(target), student_input(student)
    if needed is None:
        raise InputError(f"target {target!r} is not supported; supported targets: {', '.join(TARGET_INPUTS)}")
    if takes != needed:
        raise InputError(
            f"student {name!r} takes {takes}s, but target {target!r} needs a {needed} student "
            f"(set student.name, e.g. {'audio_resnet18' if needed == 'waveform' else 'resnet18'})"
        )


def data_dir(config: DataConfig) -> Path:
    """Where generated data lives: data.root, else $CROSSMODAL_DATA, else ./data."""
    return Path(config.root or os.environ.get(DATA_DIR_ENV) or "data").expanduser()


def rooms_file(config: DataConfig) -> Path:
    rooms = config.rooms
    height, width = rooms.size
    return data_dir(config) / f"synthetic-rooms-n{rooms.num}-{height}x{width}-seed{rooms.seed}.mat"


def synthetic_av_dir(config: DataConfig) -> Path:
    """The generated audio-visual events (videos/ with labels.csv, sounds/ in the ESC-50 layout)."""
    av = config.av
    height, width = av.size
    name = f"synthetic-av{GENERATOR_VERSION}-n{av.num}-{height}x{width}-{av.seconds:g}s-c{av.clips_per_class}-seed{av.seed}"
    return data_dir(config) / name


def synthetic_sound_set(config: DataConfig) -> Path:
    """The labelled ESC-50-layout sound set generated with the synthetic events."""
    return synthetic_av_dir(config) / "sounds"


def video_source_dir(config: DataConfig) -> Path | None:
    """The folder of raw videos behind an audio data set (None for a prepared cache)."""
    if config.name == "synthetic-av":
        return synthetic_av_dir(config) / "videos"
    if config.name == "video":
        return Path(config.videos or "").expanduser()
    return None


def video_cache_dir(config: DataConfig) -> Path:
    """Where an audio data set's (frame, audio window) cache lives.

    ``data.cache`` when given; otherwise in the data directory, named after the videos (for a
    user folder: its name and a hash of its absolute path) and the sampling settings.
    """
    if config.cache:
        return Path(config.cache).expanduser()
    video = config.video
    height, width = video.frame_size
    settings = f"fps{video.fps:g}-clip{video.clip_seconds:g}-{height}x{width}"
    if config.name == "synthetic-av":
        return data_dir(config) / f"{synthetic_av_dir(config).name}-cache-{settings}"
    source = (video_source_dir(config) or Path()).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return data_dir(config) / f"video-cache-{source.name}-{digest}-{settings}"


def _generate_synthetic_av(config: DataConfig, progress: bool) -> None:
    """Render the events into a temporary folder and rename it into place, so a half-written set is never used."""
    av, path = config.av, synthetic_av_dir(config)
    if av.num < 1 or av.clips_per_class < 1 or av.seconds <= config.video.clip_seconds or min(av.size) < 8:
        raise InputError(
            f"data.av needs num and clips_per_class >= 1, sides >= 8 and seconds > data.video.clip_seconds, "
            f"got {av.num}, {av.clips_per_class}, {av.size} and {av.seconds}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"generating {av.num} synthetic audio-visual event videos and {av.clips_per_class * len(EVENT_CLASSES)} "
        f"labelled sounds into {path} (first use only)",
        flush=True,
    )
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        generate_synthetic_av(
            temporary, num_videos=av.num, seed=av.seed, size=tuple(av.size), seconds=av.seconds,
            clips_per_class=av.clips_per_class, progress=progress,
        )
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _prepare_video_pairs(config: DataConfig, progress: bool) -> None:
    """Decode the videos into the cache (videos already there are skipped); fails if no video gives pairs."""
    source, cache, video = video_source_dir(config), video_cache_dir(config), config.video
    if source is None:
        return
    if config.name == "synthetic-av" and (cache / INDEX_FILE).is_file():
        return
    summary = prepare_video_cache(
        source, cache, fps=video.fps, clip_seconds=video.clip_seconds, size=tuple(video.frame_size), progress=progress
    )
    if summary.ok == 0:
        raise InputError(
            f"none of the videos in {source} has a readable picture and audio track of at least "
            f"{video.clip_seconds:g} s, so there are no frame/audio pairs to train on"
        )


def _check_cache_clip_length(config: DataConfig) -> None:
    """A prepared cache brings its own audio window length; the config (and so the probe) must agree."""
    settings_file = video_cache_dir(config) / SETTINGS_FILE
    if not settings_file.is_file():
        return
    clip_seconds = json.loads(settings_file.read_text()).get("clip_seconds")
    if clip_seconds != config.video.clip_seconds:
        raise InputError(
            f"video cache {video_cache_dir(config)} holds {clip_seconds} s audio windows but data.video.clip_seconds "
            f"is {config.video.clip_seconds}; pass --set data.video.clip_seconds={clip_seconds}"
        )


def prepare_data(config: DataConfig, progress: bool = True) -> None:
    """Make sure the data exists: generate synthetic rooms or events and cache videos if needed, check user paths.

    Run this in one process before others open the data (it writes files).
    """
    check_modalities(config)
    if config.name == "synthetic-av":
        if not synthetic_av_dir(config).is_dir():
            _generate_synthetic_av(config, progress)
        _prepare_video_pairs(config, progress)
    elif config.name == "video":
        if not config.videos:
            raise InputError("data set 'video' needs the folder of videos with sound: --videos DIR")
        if not Path(config.videos).expanduser().is_dir():
            raise InputError(f"video folder {config.videos} is not a directory (--videos)")
        _prepare_video_pairs(config, progress)
    elif config.name == "video-cache":
        if not config.cache:
            raise InputError("data set 'video-cache' needs a prepared video cache: --cache DIR")
        if not (Path(config.cache).expanduser() / INDEX_FILE).is_file():
            raise InputError(
                f"{config.cache} is not a video cache (no {INDEX_FILE}); prepare one with "
                "crossmodal-prepare video --src VIDEOS --out DIR, or train on the videos with --videos DIR"
            )
    elif config.name == "synthetic-rooms":
        path = rooms_file(config)
        if not path.is_file():
            if config.rooms.num < 1 or min(config.rooms.size) < 1:
                raise InputError(f"data.rooms needs a positive num and size, got {config.rooms.num} and {config.rooms.size}")
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {config.rooms.num} synthetic rooms into {path} (first use only)")
            temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            try:
                generated = generate_rooms(
                    temporary, config.rooms.num, size=tuple(config.rooms.size), seed=config.rooms.seed,
                    progress=progress, workers=None,
                )
                os.replace(generated, path)
            finally:
                temporary.unlink(missing_ok=True)
    elif config.name == "nyu":
        if not config.nyu:
            raise InputError("data set 'nyu' needs the path of nyu_depth_v2_labeled.mat or its cache: --nyu PATH")
        if not Path(config.nyu).expanduser().exists():
            raise InputError(f"NYU file {config.nyu} does not exist (--nyu)")
    elif config.name == "rgbd-folder":
        if not config.folder:
            raise InputError("data set 'rgbd-folder' needs its root directory: --folder PATH")
        if not Path(config.folder).expanduser().is_dir():
            raise InputError(f"RGB-D folder {config.folder} is not a directory (--folder)")


def open_items(config: DataConfig, transform: Any = None) -> Dataset:
    """The data set of raw items (dicts with "rgb", "depth", ...), ``transform`` applied per item."""
    check_modalities(config)
    if config.target == "audio":
        _check_cache_clip_length(config)
        items: Dataset = VideoAudioPairs(video_cache_dir(config), transform=transform)
    elif config.name == "synthetic-rooms":
        items = NYUDepthV2(rooms_file(config), split=config.split, transform=transform)
    elif config.name == "nyu":
        items = NYUDepthV2(Path(config.nyu or "").expanduser(), split=config.split, transform=transform)
    else:
        items = RGBDFolder(Path(config.folder or "").expanduser(), transform=transform)
    if len(items) == 0:
        raise InputError(f"data set {describe(config)} has no samples")
    return items


def build_train_dataset(config: DataConfig, augment: bool = True) -> Dataset:
    """Paired samples ("source", "target", "index", ...) for training; ``augment=False`` gives the
    deterministic centre-crop view (what a cached teacher sees)."""
    transform: Any
    if config.target == "audio":
        transform = VideoPairTransform(
            size=tuple(config.input_size), train=augment, gain_db=config.video.gain_db,
            shift_seconds=config.video.shift_seconds,
        )
    else:
        transform = PairedTransform(size=tuple(config.input_size), train=augment, depth_encoding=config.depth_encoding)
    raw = open_items(config)
    first = raw[0]
    if config.target not in first or "rgb" not in first:
        missing = "rgb" if config.target in first else config.target
        raise InputError(f"data set {describe(config)} has no {missing!r} modality, so it cannot train rgb -> {config.target}")
    raw.transform = transform
    return raw


def describe(config: DataConfig) -> str:
    """The data set and where it lives, for messages."""
    if config.target == "audio":
        location: Any = video_cache_dir(config)
    else:
        location = {"synthetic-rooms": rooms_file(config), "nyu": config.nyu, "rgbd-folder": config.folder}[config.name]
    return f"{config.name!r} at {location}"
