"""Pooled features of a frozen network over a labelled data set, computed once and cached on disk.

Probing several regularisation strengths, or re-running a probe after a crash, must not pay
for another pass of the encoder. The cache file name carries a fingerprint of the weights and
of the extraction settings (data, input size, encoding, audio windows), so a changed
checkpoint or data set can never be served stale features.

Labelled data per target: depth students are judged on NYU-layout files (scene labels);
audio students on an ESC-50-layout sound set or on a video cache whose videos had labels.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from crossmodal.config import TrainConfig
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError
from crossmodal.fileio import atomic_path
from crossmodal.models.features import Features

ESC50_CLIP_SECONDS = 5.0
"""ESC-50 clips are 5 s long; shorter ones are zero-padded to it so clips batch together."""


def labelled_data(config: TrainConfig, override: str | Path | None, what: str, how: str) -> Path:
    """The labelled evaluation data: ``override`` if given, else what the run's own training data set brings.

    ``what`` names the kind of data and ``how`` the way to pass it, for the error when there is none.
    """
    if override is not None:
        return Path(override).expanduser()
    from crossmodal.modalities import MODALITIES

    path = MODALITIES.get(config.data.target).data_set(config.data.name).labelled(config.data)
    if path is None:
        raise InputError(f"the run trained on data set {config.data.name!r}, which brings no {what}; {how}")
    return path


def labelled_data_path(config: TrainConfig, override: str | Path | None = None) -> Path:
    """The NYU-layout file (or cache) holding labels: ``override`` if given, else the run's own data set."""
    path = labelled_data(
        config, override, "labels to evaluate on", "pass --data with an NYU-Depth V2 .mat, its cache or a synthetic rooms file"
    )
    if not path.exists():
        raise InputError(f"labelled data {path} does not exist; pass --data with an NYU-layout file or cache")
    return path


class WindowAveraged(nn.Module):
    """An audio encoder applied to consecutive ``window``-sample pieces of each clip, pooled features averaged.

    A student trained on short windows sees clips of that length only: its per-window
    normalisation and pooling statistics belong to one window, so a long clip is judged as
    the mean of its windows (the remainder shorter than a window is dropped; a clip shorter
    than one window is used whole).
    """

    def __init__(self, model: nn.Module, window: int) -> None:
        super().__init__()
        self.model = model
        self.window = window

    def forward(self, waveform: torch.Tensor) -> Features:
        batch, channels, length = waveform.shape
        count = length // self.window
        if count <= 1:
            return self.model(waveform)
        pieces = waveform[..., : count * self.window].reshape(batch, channels, count, self.window)
        pooled = self.model(pieces.transpose(1, 2).reshape(batch * count, channels, self.window)).pooled
        return Features(pooled=pooled.reshape(batch, count, -1).mean(dim=1), maps=[], logits=None)


def audio_extraction_settings(identity: Path, part: str, window_seconds: float, clip_seconds: float | None) -> dict[str, Any]:
    """What, besides the weights, decides audio features: the data (its index file), the part, the windowing."""
    stat = identity.stat()
    return {
        "data": str(identity.resolve()),
        "data_bytes": stat.st_size,
        "data_mtime_ns": stat.st_mtime_ns,
        "part": part,
        "window_seconds": window_seconds,
        "clip_seconds": clip_seconds,
    }


def open_labelled_split(config: TrainConfig, path: Path, split: str, labels: str = "nyu40") -> Dataset:
    """One split of NYU-layout data through the deterministic eval transform at the run's input size and encoding."""
    transform = PairedTransform(
        size=tuple(config.data.input_size), train=False, depth_encoding=config.data.depth_encoding
    )
    dataset = NYUDepthV2(path, split=split, labels=labels, transform=transform)
    if len(dataset) == 0:
        raise InputError(f"labelled data {path} has no samples in its {split} split")
    return dataset


def extraction_settings(config: TrainConfig, path: Path, split: str, label_key: str) -> dict[str, Any]:
    """What, besides the weights, decides the extracted features: data identity and input shaping."""
    stat = path.stat()
    return {
        "data": str(path.resolve()),
        "data_bytes": stat.st_size,
        "data_mtime_ns": stat.st_mtime_ns,
        "split": split,
        "input_size": list(config.data.input_size),
        "depth_encoding": config.data.depth_encoding,
        "label_key": label_key,
    }


def weights_fingerprint(model: nn.Module) -> str:
    """16 hex digits of a SHA-256 over every parameter and buffer (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """8 hex digits identifying extraction settings given as a JSON-able dict."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


@torch.inference_mode()
def extract_pooled(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    num_workers: int = 0,
    input_key: str = "target",
    label_key: str = "label",
) -> tuple[np.ndarray, np.ndarray]:
    """(N x D float32 pooled features, N int64 labels) of every sample, the model in eval mode."""
    model.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    features, labels = [], []
    for batch in loader:
        out = model(batch[input_key].to(device))
        features.append(out.pooled.float().cpu().numpy())
        labels.append(torch.as_tensor(batch[label_key]).long().numpy())
    if not features:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(features), np.concatenate(labels)


def cached_features(
    cache_dir: Path,
    name: str,
    compute: Callable[[], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Load ``cache_dir/<name>.npz`` or compute and store it; returns (features, labels, came_from_cache)."""
    path = Path(cache_dir) / f"{name}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return stored["features"], stored["labels"], True
        except (OSError, ValueError, KeyError):
            path.unlink()
    features, labels = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        np.savez(handle, features=features, labels=labels)
    return features, labels, False
