"""SUN RGB-D as a data set of the catalog: ``--data sunrgbd --data-path SUNRGBD_OR_CACHE``.

It trains on the frames of its official train split (or all of them) from the unpacked folder or, much
faster, from the cache ``crossmodal-prepare sunrgbd`` writes; it gives evaluation the 37-class labels and
the 19-scene protocol (frames of other scenes are left out of the scene probe) on its official test split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.kinds import DataSetKind, data_options, num_items, register_data_set
from crossmodal.data.labelled import LabelledSplits, check_eval_split, validation_parts
from crossmodal.data.rgbd_sets import Transform
from crossmodal.data.sunrgbd import DEPTH_FOLDERS, LABEL_SETS, SCENE19_CLASSES, SEG37_CLASSES, SPLITS, SUNRGBD
from crossmodal.data.sunrgbd_cache import SUNRGBDCache, is_cache
from crossmodal.errors import InputError, OptionError

SUN_LABELS = LABEL_SETS[0]


@dataclass(frozen=True, kw_only=True)
class SUNRGBDOptions:
    """``path``: the SUNRGBD folder (kv1/ kv2/ realsense/ xtion/) or its cache; ``split``: which frames to train on;
    ``toolbox``: the SUNRGBDtoolbox folder when not beside the SUNRGBD folder and ``depth``: "depth" or "depth_bfx" (reading
    the folder itself; a cache keeps what it was prepared with)."""

    path: str | None = None
    split: str = "train"
    toolbox: str | None = None
    depth: str = "depth"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise OptionError(f"option split={self.split!r} is not one of: {', '.join(SPLITS)}")
        if self.depth not in DEPTH_FOLDERS:
            raise OptionError(f"option depth={self.depth!r} is not one of: {', '.join(DEPTH_FOLDERS)}")


def _path(config: DataConfig) -> Path:
    options: SUNRGBDOptions = data_options(config)
    if not options.path:
        raise InputError("data set 'sunrgbd' needs the SUNRGBD folder or its cache: --data-path PATH (data.options.path)")
    return Path(options.path).expanduser()


def _frames(config: DataConfig, split: str, labels: str | None, transform: Transform | None = None) -> Dataset:
    options: SUNRGBDOptions = data_options(config)
    path = _path(config)
    if is_cache(path):
        cache = SUNRGBDCache(path, split=split, transform=transform)
        if labels is not None and not cache.has_labels:
            raise InputError(f"SUN RGB-D cache {path} was prepared without labels; prepare it again without --no-labels")
        return cache
    return SUNRGBD(path, split=split, labels=labels, transform=transform, toolbox=options.toolbox, depth=options.depth)


def _prepare(config: DataConfig, progress: bool) -> None:
    path = _path(config)
    if not path.is_dir():
        raise InputError(f"SUN RGB-D folder or cache {path} is not a directory (--data-path)")


def _open(config: DataConfig) -> Dataset:
    options: SUNRGBDOptions = data_options(config)
    return _frames(config, options.split, None)


def _eval_splits(config: DataConfig, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    """The official train split to fit on and its test split to score (validation: a fifth of train), 37 classes, 19 scenes."""
    check_eval_split(split)
    if labels not in (None, SUN_LABELS):
        raise InputError(f"SUN RGB-D has one label set, {SUN_LABELS!r}; evaluate with labels={SUN_LABELS}")
    train = _frames(config, "train", SUN_LABELS, transform)
    where = str(_path(config))
    if split == "test":
        fit: Dataset = train
        scored: Dataset = _frames(config, "test", SUN_LABELS, transform)
    else:
        fit, scored = validation_parts(train, num_items(train), where)
    for part, frames in (("fit", fit), ("scored", scored)):
        if num_items(frames) == 0:
            raise InputError(f"SUN RGB-D {where} has no frames to {part} in its {'test' if part == 'scored' and split == 'test' else 'train'} split")
    return LabelledSplits(
        fit, scored, list(SEG37_CLASSES), list(SCENE19_CLASSES), where,
        identity={"data": str(_path(config).resolve()), "sun": "official split", "frames": num_items(train)},
    )


SUN_RGBD = register_data_set(DataSetKind("sunrgbd", "depth", SUNRGBDOptions, _prepare, _open, _path, eval_splits=_eval_splits))

