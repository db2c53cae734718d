"""NYU-Depth V2's raw recordings as a training data set of the catalog: ``--data nyu-raw --data-path CACHE``.

Training reads the cache ``crossmodal-prepare nyu-raw`` writes (registration is too slow to run per step).
The labelled set (nyu_depth_v2_labeled.mat) was photographed in the same scenes, so frames of the scenes
its test split comes from are left out by default: a student evaluated on that split has never seen them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.data.kinds import DataSetKind, data_options, register_data_set
from crossmodal.data.labelled import LabelledSplits
from crossmodal.data.nyu import test_scene_names
from crossmodal.data.nyu_raw_cache import NYURawCache, read_index
from crossmodal.data.rgbd_sets import Transform, nyu_layout_splits
from crossmodal.errors import InputError


@dataclass(frozen=True, kw_only=True)
class NYURawOptions:
    """``path``: the cache; ``labelled``: nyu_depth_v2_labeled.mat or its cache, the evaluation set whose test
    scenes are left out of training unless ``exclude_test_scenes`` is false."""

    path: str | None = None
    labelled: str | None = None
    exclude_test_scenes: bool = True


def _options(config: DataConfig) -> NYURawOptions:
    options: NYURawOptions = data_options(config)
    return options


def _cache(config: DataConfig) -> Path:
    path = _options(config).path
    if not path:
        raise InputError("data set 'nyu-raw' needs the cache crossmodal-prepare nyu-raw wrote: --data-path CACHE (data.options.path)")
    return Path(path).expanduser()


def _labelled(config: DataConfig) -> Path | None:
    labelled = _options(config).labelled
    return Path(labelled).expanduser() if labelled else None


def _prepare(config: DataConfig, progress: bool) -> None:
    read_index(_cache(config))
    labelled = _labelled(config)
    if labelled is None and _options(config).exclude_test_scenes:
        raise InputError(
            "data set 'nyu-raw' leaves out the scenes of NYU's labelled test split, so it needs the labelled file: "
            "--set data.options.labelled=PATH/nyu_depth_v2_labeled.mat (or data.options.exclude_test_scenes=false to keep them)"
        )
    if labelled is not None and not labelled.exists():
        raise InputError(f"labelled NYU file {labelled} does not exist (data.options.labelled)")


def _open(config: DataConfig) -> Dataset:
    labelled = _labelled(config)
    excluded = test_scene_names(labelled) if labelled is not None and _options(config).exclude_test_scenes else set()
    return NYURawCache(_cache(config), exclude_scenes=excluded)


def _eval_splits(config: DataConfig, split: str, labels: str | None, transform: Transform | None) -> LabelledSplits:
    """The labelled set named by ``labelled``: a student of the raw recordings is judged on it."""
    labelled = _labelled(config)
    if labelled is None:
        raise InputError("data set 'nyu-raw' brings no labels; evaluate on the labelled set: --data nyu_depth_v2_labeled.mat --data-set nyu")
    return nyu_layout_splits(labelled, split, labels, transform)


NYU_RAW = register_data_set(DataSetKind("nyu-raw", "depth", NYURawOptions, _prepare, _open, _cache, eval_splits=_eval_splits))
