"""The training configuration: one dataclass tree that Python users, YAML files and the CLI all fill in.

The experiment files ship inside the package (``experiments_dir()``; configs/ in a checkout links
there), so ``load_config("crd_audio.yaml")`` finds them from any directory.

A YAML file may name another with ``base: other.yaml`` (resolved next to it); its keys are
merged over the base's, mappings key by key. Dotted overrides (``optim.lr=0.01``) are
applied last. Every key is checked against the dataclasses, so a typo is an InputError
naming the key instead of a silently ignored setting.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crossmodal.errors import InputError

BASE_KEY = "base"


@dataclass
class RoomsConfig:
    """How the embedded synthetic rooms are generated: how many scenes, at what stored size, from which seed."""

    num: int = 1200
    size: tuple[int, int] = (120, 160)
    seed: int = 0


@dataclass
class SyntheticAVConfig:
    """How the embedded audio-visual events are generated: videos (count, length, frame size) and the labelled
    ESC-50-layout sound set generated with them (clips per class), from one seed."""

    num: int = 640
    seconds: float = 3.0
    size: tuple[int, int] = (128, 128)
    clips_per_class: int = 40
    seed: int = 0


RAW_FILLS = ("telea", "none")
"""How holes of registered raw depth are filled when cached: OpenCV's Telea inpainting (the labelled set's depth,
which students are evaluated on, is filled too), or not at all."""


@dataclass(frozen=True)
class NYURawCacheConfig:
    """How NYU's raw recordings are cached: frame size (h, w), every k-th synchronised frame, hole filling, and
    whether the HHA encoding of each frame is stored too."""

    size: tuple[int, int] = (240, 320)
    every: int = 1
    fill: str = "telea"
    hha: bool = False

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise InputError(f"--size must be two positive integers, got {self.size}")
        if self.every < 1:
            raise InputError(f"--every must be at least 1, got {self.every}")
        if self.fill not in RAW_FILLS:
            raise InputError(f"--fill must be one of {', '.join(RAW_FILLS)}, got {self.fill!r}")


@dataclass
class VideoConfig:
    """How videos become (frame, audio window) pairs: the decoded cache's samples per second of video, the audio
    window centred on each frame, and the stored frame size; other values prepare another cache."""

    fps: float = 2.0
    clip_seconds: float = 1.0
    frame_size: tuple[int, int] = (128, 128)


@dataclass
class AugmentConfig:
    """Training-time augmentation of a waveform target beyond the paired crop and flip: a random gain within
    +-``gain_db`` and a random shift within +-``shift_seconds`` (zero-filled); evaluation sees it unchanged."""

    gain_db: float = 6.0
    shift_seconds: float = 0.1


@dataclass
class DataConfig:
    """Which paired data set to train on, with its options, and how samples are shaped.

    ``name``: a data set of the catalog (``crossmodal.data.catalog``); ``options``: that data set's
    own options (a path, a split, generation settings...), checked against the options it declares,
    its defaults where unset. ``root`` is where generated data and caches live (default: $CROSSMODAL_DATA,
    else the user's cache directory, ``~/.cache/crossmodal`` on Linux). ``input_size`` is the (h, w) the images
    (RGB and depth, or video frames) are cropped and resized to. ``num_workers``: loader processes (None: none on
    the CPU, where the step is slow and seeded results stay as they are; on CUDA one per usable core but one, at most
    8); ``prefetch``: batches each worker loads ahead. ``augment_on``: where training samples are augmented: "host"
    (each sample in the loader, the CPU default, whose seeded results it keeps), "device" (workers deliver frames as
    stored and whole batches are cropped, flipped and jittered on the training device, ``crossmodal.data.batch_augment``)
    or "auto" (device on CUDA, host elsewhere).
    """

    name: str = "synthetic-rooms"
    source: str = "rgb"
    target: str = "depth"
    options: dict[str, Any] = field(default_factory=dict)
    root: str | None = None
    input_size: tuple[int, int] = (96, 128)
    depth_encoding: str = "metric"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int | None = None
    prefetch: int = 2
    augment_on: str = "auto"
    order: str = "shuffle"
    chunk_size: int = 256
    window_chunks: int = 16


LEGACY_DATA_KEYS = {
    "nyu": "data.options.path (or --data-path; data set nyu)",
    "folder": "data.options.path (or --data-path; data set rgbd-folder)",
    "videos": "data.options.path (or --data-path; data set video)",
    "cache": "data.options.cache (data sets video, synthetic-av) or data.options.path (data set video-cache)",
    "rooms": "data.options.num, size, seed (data set synthetic-rooms)",
    "av": "data.options.num, seconds, size, clips_per_class, seed (data set synthetic-av)",
    "video": "data.options.fps, clip_seconds, frame_size (audio data sets) and data.augment.gain_db, shift_seconds",
    "split": "data.options.split (data sets synthetic-rooms, nyu)",
    "strict": "data.options.strict (data set rgbd-folder)",
}
"""Keys of the data section before each data set had its own options, and where their values live now."""


@dataclass
class TeacherConfig:
    """Frozen RGB teacher(s); several specs make an ensemble (one objective term per teacher).

    ``cache``: compute each teacher's outputs once per sample on the un-augmented image and
    reuse them every epoch. Saves the teacher forward pass, but the teacher then describes
    the un-augmented view while the student sees the augmented one (crops, flips), which
    weakens the pairing; off by default. ``cache_dir``: keep the cache on disk there, memory-mapped
    and shared by later runs with the same teachers and data (``crossmodal.engine.teacher_cache``),
    instead of in memory.
    """

    specs: list[str] = field(default_factory=lambda: ["efficientnet_lite0"])
    cache: bool = False
    cache_dir: str | None = None


@dataclass
class StudentConfig:
    name: str = "resnet18"
    width: int = 32


@dataclass
class ObjectiveConfig:
    """The distillation objective by registry name, and options passed to its factory as-is."""

    name: str = "crd"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """SGD with momentum; the learning rate follows a cosine from ``lr`` to 0 over all steps."""

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4


@dataclass
class ScheduleConfig:
    epochs: int = 20
    batch_size: int = 32


@dataclass
class RunConfig:
    """Where a run goes and how it reports.

    ``dir``: the exact run directory; when unset a new ``<runs_dir>/<name>-<timestamp>``.
    ``wandb``: "auto" (online when logged in, else offline), "online", "offline", "disabled".
    ``device``: "auto" (CUDA when available), "cpu", "cuda", "cuda:N".
    ``amp`` (autocast to bf16, fp16 where bf16 is missing) and ``channels_last`` apply on CUDA only.
    AMP is off by default: on an H200 the default experiment's fastest step was float32 in every
    run of ``tools/bench_step.py`` (docs/training.md, "On a GPU"), its student and CRD being too small to gain
    from half precision; turn it on for large students or teachers.
    ``on_nonfinite``: what a step with a NaN or infinite loss does: "stop" (one sentence naming the
    step and the term; the last checkpoint is kept) or "skip" (no update; the epoch records count
    them, run so far, as ``skipped_steps``).
    ``sync_batchnorm``: under torchrun, BatchNorm layers of the student and the objective normalise
    by the statistics of the global batch (every rank's samples) instead of each rank's own.
    """

    name: str | None = None
    runs_dir: str = "runs"
    dir: str | None = None
    seed: int = 0
    device: str = "auto"
    wandb: str = "auto"
    log_every: int = 5
    amp: bool = False
    channels_last: bool = True
    progress: bool = True
    on_nonfinite: str = "stop"
    sync_batchnorm: bool = False


@dataclass
class TrainConfig:
    """Everything ``crossmodal-train`` needs; the defaults are configs/crd_depth.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def experiment(self) -> str:
        """Groups comparable runs: source->target on one data set, e.g. "rgb->depth/synthetic-rooms"."""
        return f"{self.data.source}->{self.data.target}/{self.data.name}"


def apply_changes(config: TrainConfig, changes: dict[str, Any], origin: str) -> TrainConfig:
    """A copy of ``config`` with a nested dict of changes applied, every key checked (``origin`` names them in errors)."""
    return _update(config, changes, prefix="", origin=origin)


def replace_checked(node: Any, changes: dict[str, Any], origin: str) -> Any:
    """A copy of any dataclass ``node`` (a config section, a protocol's settings) with ``changes`` applied, every key and type checked."""
    return _update(node, changes, prefix="", origin=origin)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) that YAML and ``torch.load(weights_only=True)`` accept."""
    return plain(dataclasses.asdict(config))


def plain(value: Any) -> Any:
    """``value`` as YAML and JSON hold it: dict keys as strings, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def config_from_dict(values: dict[str, Any], origin: str = "config") -> TrainConfig:
    """Build a TrainConfig from a nested dict; unknown keys and wrong types raise InputError.

    A data section written before data sets had their own options (a run directory or experiment
    file of an earlier version) is read as the options of the data set it names.
    """
    data = values.get("data")
    if isinstance(data, dict) and LEGACY_DATA_KEYS.keys() & data.keys():
        values = {**values, "data": _data_from_legacy(data)}
    return _update(TrainConfig(), values, prefix="", origin=origin)


def _data_from_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """The data section with the old per-format keys moved into the named data set's options (keys it never read dropped,
    values equal to the defaults left out, so a translated run equals the same run configured today)."""
    rooms, av, video = data.get("rooms") or {}, data.get("av") or {}, data.get("video") or {}
    sampling = {key: video.get(key) for key in ("fps", "clip_seconds", "frame_size")}
    default_sampling = config_to_dict(VideoConfig())
    given: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # data set -> (old values, their defaults)
        "synthetic-rooms": ({**rooms, "split": data.get("split")}, {**config_to_dict(RoomsConfig()), "split": "train"}),
        "nyu": ({"path": data.get("nyu"), "split": data.get("split")}, {"split": "train"}),
        "rgbd-folder": ({"path": data.get("folder"), "strict": data.get("strict")}, {"strict": False}),
        "synthetic-av": ({**av, **sampling, "cache": data.get("cache")}, {**config_to_dict(SyntheticAVConfig()), **default_sampling}),
        "video": ({"path": data.get("videos"), "cache": data.get("cache"), **sampling}, default_sampling),
        "video-cache": ({"path": data.get("cache"), "clip_seconds": video.get("clip_seconds")}, {"clip_seconds": VideoConfig.clip_seconds}),
    }
    values, defaults = given.get(data.get("name", DataConfig.name), ({}, {}))
    options = {key: value for key, value in values.items() if value is not None and plain(value) != defaults.get(key)}
    kept = {key: value for key, value in data.items() if key not in LEGACY_DATA_KEYS}
    augment = {key: video[key] for key in ("gain_db", "shift_seconds") if key in video}
    return {**kept, "options": {**options, **kept.get("options", {})}, **({"augment": augment} if augment else {})}


def experiments_dir() -> Path:
    """The experiment files shipped with the package (one YAML per experiment)."""
    return Path(str(resources.files(__package__).joinpath("configs")))


def experiment_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself when it exists; else, for a bare file name such as ``crd_audio.yaml``, the shipped experiment of that name."""
    given = Path(path)
    shipped = experiments_dir() / given.name
    if not given.exists() and given.name == str(path) and shipped.is_file():
        return shipped
    return given


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a YAML experiment file (following ``base:`` links) into a TrainConfig; a bare name finds a shipped experiment."""
    resolved = experiment_path(path)
    return config_from_dict(_read_yaml_with_bases(resolved, seen=()), origin=str(resolved))


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def parse_setting(text: str, what: str = "override", shape: str = "section.key=value") -> tuple[str, Any]:
    """``key=value`` -> (key, the value parsed as YAML: ``4096``, ``true``, ``[a, b]``; nothing after ``=``: None);
    anything else is an InputError saying ``{what} {text!r} must look like {shape}``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"{what} {text!r} must look like {shape}")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply ``dotted.key=value`` strings (``parse_setting``)."""
    for override in overrides:
        key, value = parse_setting(override)
        nested: Any = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        config = _update(config, nested, prefix="", origin=f"--set {override}")
    return config


def _read_yaml_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    resolved = path.resolve()
    if resolved in seen:
        raise InputError(f"config file {path} is its own base (base: links form a cycle)")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise InputError(f"config file {path} is not UTF-8 text; save it as UTF-8 YAML") from None
    except yaml.YAMLError as error:
        raise InputError(f"config file {path} is not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(values, dict):
        raise InputError(f"config file {path} must hold a mapping of sections, not {type(values).__name__}")
    base = values.pop(BASE_KEY, None)
    if base is None:
        return values
    base_values = _read_yaml_with_bases(path.parent / str(base), seen + (resolved,))
    return _deep_merge(base_values, values)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _update(node: Any, values: Any, prefix: str, origin: str) -> Any:
    """A copy of dataclass ``node`` with ``values`` (a nested dict) applied, checked against its fields."""
    if not isinstance(values, dict):
        raise InputError(f"config key {prefix.rstrip('.') or '<root>'!r} in {origin} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(type(node))
    fields = {f.name for f in dataclasses.fields(node)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(node, DataConfig) and key in LEGACY_DATA_KEYS:
            raise InputError(f"config key {dotted!r} in {origin} is a data set option now: {LEGACY_DATA_KEYS[key]}")
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise InputError(f"unknown config key {dotted!r} in {origin}; known keys here: {known}")
        current = getattr(node, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _update(current, value, f"{dotted}.", origin)
        elif _is_free_mapping(hints[key]) and isinstance(value, dict):
            changes[key] = _deep_merge(current, value)
        else:
            changes[key] = _coerce(value, hints[key], dotted, origin)
    if isinstance(node, DataConfig) and changes.get("name", node.name) != node.name and "options" not in values:
        changes["options"] = {}  # options belong to one data set; another starts from its own defaults
    return dataclasses.replace(node, **changes)


def _number(text: str) -> float | None:
    """``text`` as a number when it reads as one ("1e-3", "5e4", " 0.1 "), else None."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def _is_free_mapping(hint: Any) -> bool:
    return typing.get_origin(hint) is dict


def _coerce(value: Any, hint: Any, key: str, origin: str) -> Any:
    """Check ``value`` against a field's type hint, converting lists to tuples and ints to floats."""
    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin_type in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key, origin)
    if origin_type is tuple and len(args) == 2 and args[1] is Ellipsis:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_coerce(v, args[0], key, origin) for v in items)
    if origin_type is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise InputError(f"config key {key!r} in {origin} needs {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key, origin) for v, a in zip(value, args))
    if origin_type is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(v, args[0], key, origin) for v in items]
    if origin_type is dict:
        if not isinstance(value, dict):
            raise InputError(f"config key {key!r} in {origin} must be a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (float, int) and isinstance(value, str):
        number = _number(value)
        if number is not None and (hint is float or float(number).is_integer()):
            return hint(number)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if hint is Path and isinstance(value, (str, Path)):
        return Path(value).expanduser()
    raise InputError(f"config key {key!r} in {origin} must be {getattr(hint, '__name__', hint)}, got {value!r}")
