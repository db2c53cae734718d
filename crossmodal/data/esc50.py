"""ESC-50 style labelled sound sets (audio/*.wav + meta/esc50.csv) and their five-fold protocol.

The protocol: for each fold, train on the other folds and test on it; report the mean over
folds. Clips from one source recording share a fold, so folds must not be reshuffled. The
catalog's ``esc50`` data set is such a set: labelled sound for evaluating audio students, with no
video frames to pair with, so nothing to train on.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio.functional
from torch.utils.data import Dataset

from crossmodal.config import DataConfig
from crossmodal.constants import SAMPLE_RATE
from crossmodal.data.kinds import DataSetKind, data_options, register_data_set
from crossmodal.errors import InputError

REQUIRED_COLUMNS = ("filename", "fold", "target", "category")


@dataclass(frozen=True)
class FoldSplit:
    """One round of the fold protocol: train on train_folds, test on test_fold."""

    train_folds: list[int]
    test_fold: int


def _read_meta(root: Path) -> list[dict[str, Any]]:
    meta = root / "meta" / "esc50.csv"
    if not meta.exists():
        raise InputError(f"{meta} does not exist; an ESC-50 folder holds audio/*.wav and meta/esc50.csv")
    with open(meta, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{meta} lacks the column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}")
        try:
            rows = [
                {
                    "filename": row["filename"],
                    "fold": int(row["fold"]),
                    "target": int(row["target"]),
                    "category": row["category"],
                }
                for row in reader
            ]
        except ValueError as error:
            raise InputError(f"{meta} has a fold or target that is not an integer ({error})") from None
    if not rows:
        raise InputError(f"{meta} lists no clips")
    return rows


def esc50_fold_splits(root: str | Path) -> list[FoldSplit]:
    """The folds of the set at `root`, each in turn the test fold with the rest for training."""
    folds = sorted({row["fold"] for row in _read_meta(Path(root))})
    if len(folds) < 2:
        raise InputError(
            f"{Path(root) / 'meta' / 'esc50.csv'} has only fold(s) {folds}; the protocol needs at least two"
        )
    return [FoldSplit(train_folds=[f for f in folds if f != test], test_fold=test) for test in folds]


class ESC50(Dataset):
    """Clips of the given folds as mono 16 kHz waveforms.

    Items: "audio" float32 1 x T in [-1, 1], "label" (= target), "fold", "index".
    With clip_seconds set, every clip is centre-cropped or zero-padded to that length so
    clips batch together. class_names[target] is the category.
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        root: str | Path,
        folds: Sequence[int] | None = None,
        clip_seconds: float | None = None,
        transform: Callable[[dict], Any] | None = None,
    ) -> None:
        self.root = Path(root)
        rows = _read_meta(self.root)
        names: dict[int, str] = {}
        for row in rows:
            names.setdefault(row["target"], row["category"])
        self.class_names = [names.get(target, str(target)) for target in range(max(names) + 1)]
        if folds is not None:
            unknown = sorted(set(folds) - {row["fold"] for row in rows})
            if unknown:
                raise InputError(f"{self.root / 'meta' / 'esc50.csv'} has no fold(s) {unknown}")
            rows = [row for row in rows if row["fold"] in set(folds)]
        for row in rows:
            if not (self.root / "audio" / row["filename"]).exists():
                raise InputError(
                    f"{self.root / 'audio' / row['filename']} is listed in meta/esc50.csv but does not exist"
                )
        self._rows = rows
        self.labels = [row["target"] for row in rows]
        self.clip_samples = None if clip_seconds is None else round(clip_seconds * SAMPLE_RATE)
        self.transform = transform

    def __len__(self) -> int:
        return len(self._rows)

    def _load(self, path: Path) -> torch.Tensor:
        try:
            data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except RuntimeError as error:
            raise InputError(f"{path} cannot be read as audio ({error})") from None
        waveform = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
        if rate != SAMPLE_RATE:
            waveform = torchaudio.functional.resample(waveform, rate, SAMPLE_RATE)
        if self.clip_samples is not None:
            waveform = _fit_length(waveform, self.clip_samples)
        return waveform.unsqueeze(0)

    def __getitem__(self, index: int) -> Any:
        row = self._rows[index]
        item = {
            "audio": self._load(self.root / "audio" / row["filename"]),
            "label": row["target"],
            "fold": row["fold"],
            "index": index,
        }
        return item if self.transform is None else self.transform(item)


def _fit_length(waveform: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop or symmetrically zero-pad a 1-D waveform to `length` samples."""
    excess = waveform.shape[0] - length
    if excess >= 0:
        return waveform[excess // 2 : excess // 2 + length]
    before = -excess // 2
    return torch.nn.functional.pad(waveform, (before, -excess - before))


@dataclass(frozen=True, kw_only=True)
class ESC50Options:
    """``path``: the set's root (audio/, meta/esc50.csv)."""

    path: str | None = None


def _esc50_root(config: DataConfig) -> Path:
    path = data_options(config).path
    if not path:
        raise InputError("data set 'esc50' needs its root (audio/, meta/esc50.csv): --data PATH")
    return Path(path).expanduser()


def _prepare_esc50(config: DataConfig, progress: bool) -> None:
    if not _esc50_root(config).is_dir():
        raise InputError(f"ESC-50 root {_esc50_root(config)} is not a directory")


ESC50_SET = register_data_set(DataSetKind("esc50", "audio", ESC50Options, _prepare_esc50, None, _esc50_root, labelled=_esc50_root))
