"""ESC-50 layout: reading, down-mix and resampling to 16 kHz, fixed-length clips, the fold protocol, errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from crossmodal.data.esc50 import ESC50, esc50_fold_splits
from crossmodal.errors import InputError

CATEGORIES = ["dog", "rain"]


def _write_set(root, rate: int = 44100, seconds: float = 0.5) -> None:
    """Two classes x five folds; class 0 is a 1 kHz stereo tone, class 1 a 3 kHz mono tone."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    t = np.arange(int(seconds * rate)) / rate
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category in enumerate(CATEGORIES):
            name = f"{fold}-{target}{fold}-A-{target}.wav"
            if target == 0:
                data = np.stack([0.6 * np.sin(2 * np.pi * 1000 * t), 0.2 * np.sin(2 * np.pi * 1000 * t)], axis=1)
            else:
                data = 0.3 * np.sin(2 * np.pi * 3000 * t)
            soundfile.write(root / "audio" / name, data, rate)
            rows.append(f"{name},{fold},{target},{category},False,{target}{fold},A")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def esc_root(tmp_path):
    _write_set(tmp_path / "esc")
    return tmp_path / "esc"


def test_fold_protocol_trains_on_four_folds_and_tests_on_the_fifth(esc_root):
    splits = esc50_fold_splits(esc_root)
    assert [split.test_fold for split in splits] == [1, 2, 3, 4, 5]
    for split in splits:
        assert len(split.train_folds) == 4 and split.test_fold not in split.train_folds
        assert sorted(split.train_folds + [split.test_fold]) == [1, 2, 3, 4, 5]
        train = ESC50(esc_root, folds=split.train_folds)
        test = ESC50(esc_root, folds=[split.test_fold])
        assert len(train) == 8 and len(test) == 2
        assert {train[i]["fold"] for i in range(len(train))}.isdisjoint({test[i]["fold"] for i in range(len(test))})


def test_items_are_mono_16khz_waveforms_with_target_labels(esc_root):
    data = ESC50(esc_root, folds=[3])
    assert data.sample_rate == 16000 and data.class_names == CATEGORIES
    tone, other = data[0], data[1]
    assert tone["audio"].dtype == torch.float32 and tone["audio"].shape == (1, 8000)
    assert (tone["label"], tone["fold"], tone["index"]) == (0, 3, 0) and other["label"] == 1
    spectrum = torch.fft.rfft(tone["audio"][0] * torch.hann_window(8000)).abs()
    assert int(spectrum.argmax()) * 16000 / 8000 == pytest.approx(1000, abs=4)  # pitch kept through 44.1 -> 16 kHz
    assert float(tone["audio"].abs().max()) == pytest.approx(0.4, abs=0.02)  # mean of 0.6 and 0.2 channels


def test_clip_seconds_centre_crops_or_pads(esc_root):
    padded = ESC50(esc_root, folds=[1], clip_seconds=1.0)[0]["audio"][0]
    assert padded.shape == (16000,)
    assert padded[:3000].abs().max() == 0 and padded[-3000:].abs().max() == 0 and padded[8000].abs() > 0
    assert ESC50(esc_root, folds=[1], clip_seconds=0.25)[0]["audio"].shape == (1, 4000)


def test_missing_csv_column_or_file_is_an_input_error(esc_root, tmp_path):
    with pytest.raises(InputError, match="esc50.csv does not exist"):
        ESC50(tmp_path)
    meta = esc_root / "meta" / "esc50.csv"
    lines = meta.read_text().splitlines()
    (esc_root / "audio" / lines[1].split(",")[0]).unlink()
    with pytest.raises(InputError, match="is listed in meta/esc50.csv but does not exist"):
        ESC50(esc_root)
    meta.write_text("\n".join(line.rsplit(",", 4)[0] for line in lines) + "\n")  # drop category onwards
    with pytest.raises(InputError, match="lacks the column"):
        esc50_fold_splits(esc_root)
    with pytest.raises(InputError, match="no fold"):
        _write_set(tmp_path / "other")
        ESC50(tmp_path / "other", folds=[6])
