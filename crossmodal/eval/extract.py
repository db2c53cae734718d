"""Pooled features of a frozen network over a labelled data set, computed once and cached on disk.

Probing several regularisation strengths, or re-running a probe after a crash, must not pay
for another pass of the encoder. The cache file name carries a fingerprint of the weights and
of the extraction settings (data, input size, encoding, audio windows), so a changed
checkpoint or data set can never be served stale features.

``labelled_data`` finds the labelled evaluation data that a run's training data set brings
(its data set kind says which); the modality-specific protocols build on these pieces.
"""
from __future__ import annotations

import dataclasses
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
from crossmodal.data.catalog import DATA_SETS
from crossmodal.errors import InputError
from crossmodal.fileio import atomic_path


def labelled_data(config: TrainConfig, override: str | Path | None, what: str, how: str, data_set: str | None = None) -> Path:
    """The labelled evaluation data: what data set ``data_set`` brings (``override`` its path), else ``override``
    itself, else what the run's own training data set brings.

    ``what`` names the kind of data and ``how`` the way to pass it, for the error when there is none.
    """
    if data_set is None and override is not None:
        return Path(override).expanduser()
    data = config.data
    if data_set is not None:
        data = dataclasses.replace(config.data, name=data_set, options={"path": str(override)} if override is not None else {})
    path = DATA_SETS.get(data.name).labelled(data)
    if path is None:
        origin = f"data set {data.name!r}" if data_set is not None else f"the run trained on data set {data.name!r}, which"
        raise InputError(f"{origin} brings no {what}; {how}")
    return path


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
