"""PairedTransform keeps RGB, depth and labels aligned through every augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import maximum_filter, minimum_filter
from torch.utils.data import DataLoader

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.data.transforms import DEPTH_ENCODINGS, PairedTransform
from crossmodal.errors import InputError

CELL = 16
HEIGHT, WIDTH = 96, 128
PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255], [128, 64, 32]])


def checker_item(index: int = 0) -> dict:
    """RGB colour, depth and seg class all encode the same asymmetric cell pattern."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    classes = (rows // CELL * 3 + cols // CELL * 2 + (cols // CELL) ** 2) % len(PALETTE)
    return {
        "rgb": torch.from_numpy(PALETTE[classes].astype(np.uint8).transpose(2, 0, 1).copy()),
        "depth": torch.from_numpy(1.0 + 0.5 * classes.astype(np.float32))[None],
        "seg": torch.from_numpy(classes.astype(np.int64)),
        "scene_label": 4,
        "scene": "kitchen",
        "index": index,
    }


def to_uint8_rgb(source: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((source * std + mean) * 255).permute(1, 2, 0).numpy()


def interior(seg: np.ndarray, margin: int = 2) -> np.ndarray:
    """Pixels at least ``margin`` from a class boundary and from the image border.

    The border counts as a boundary because a cell edge just beyond it can still blend
    into the outermost RGB/depth pixels while nearest-neighbour labels never show it.
    """
    size = 2 * margin + 1
    lowest = minimum_filter(seg, size=size, mode="nearest")
    highest = maximum_filter(seg, size=size, mode="nearest")
    same = (lowest == seg) & (highest == seg)
    border = np.ones_like(same)
    border[margin:-margin, margin:-margin] = False
    return same & ~border


@pytest.mark.parametrize("size", [(48, 64), (160, 160)])
def test_rgb_depth_and_seg_stay_aligned_under_random_crops_and_flips(size):
    transform = PairedTransform(size=size, scale=(0.3, 1.0), color_jitter=0.0, max_depth=10.0)
    item = checker_item()
    torch.manual_seed(0)
    for _ in range(40):
        sample = transform(item)
        seg = sample["seg"].numpy()
        inside = interior(seg)
        assert inside.mean() > 0.1
        depth = sample["target"][0].numpy() * 10.0
        np.testing.assert_allclose(depth[inside], 1.0 + 0.5 * seg[inside], atol=1e-4)
        np.testing.assert_allclose(to_uint8_rgb(sample["source"])[inside], PALETTE[seg[inside]], atol=1.5)


def test_flip_mirrors_rgb_depth_and_seg_together():
    item = checker_item()
    reference = PairedTransform(size=(48, 64), train=False)(item)
    transform = PairedTransform(size=(48, 64), scale=(1.0, 1.0), ratio=(1.0, 1.0), color_jitter=0.0)
    torch.manual_seed(1)
    seen = set()
    for _ in range(20):
        sample = transform(item)
        flipped = not torch.equal(sample["seg"], reference["seg"])
        seen.add(flipped)
        for key in ("source", "target", "seg"):
            expected = reference[key].flip(-1) if flipped else reference[key]
            assert torch.equal(sample[key], expected), key
    assert seen == {False, True}


def test_missing_depth_is_never_blended_into_valid_depth():
    generator = torch.Generator().manual_seed(0)
    depth = torch.full((1, HEIGHT, WIDTH), 2.0)
    depth[torch.rand(1, HEIGHT, WIDTH, generator=generator) < 0.3] = 0.0
    depth[:, 20:60, 30:90] = 0.0
    item = {"rgb": torch.zeros(3, HEIGHT, WIDTH, dtype=torch.uint8), "depth": depth, "index": 0}
    for size in [(40, 56), (120, 160)]:
        transform = PairedTransform(size=size, scale=(0.2, 1.0), max_depth=10.0)
        torch.manual_seed(2)
        for _ in range(30):
            metres = transform(item)["target"].numpy() * 10.0
            valid = metres > 0
            assert valid.any() and (~valid).any()
            np.testing.assert_allclose(metres[valid], 2.0, atol=1e-4)


def test_large_hole_stays_missing():
    item = checker_item()
    hole = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    hole[32:80, 40:100] = True
    item["depth"] = item["depth"].masked_fill(hole, 0.0)
    item["seg"] = hole.long()
    transform = PairedTransform(size=(48, 64), scale=(0.3, 1.0))
    torch.manual_seed(3)
    for _ in range(20):
        sample = transform(item)
        seg = sample["seg"].numpy()
        target = sample["target"][0].numpy()
        inside = interior(seg)
        assert (target[inside & (seg == 1)] == 0).all()
        assert (target[inside & (seg == 0)] > 0).all()


def test_colour_jitter_changes_rgb_only():
    item = checker_item()
    plain = PairedTransform(size=(48, 64), color_jitter=0.0)
    jittered = PairedTransform(size=(48, 64), color_jitter=0.4)
    for seed in range(5):
        torch.manual_seed(seed)
        a = plain(item)
        torch.manual_seed(seed)
        b = jittered(item)
        assert torch.equal(a["target"], b["target"]) and torch.equal(a["seg"], b["seg"])
        assert not torch.allclose(a["source"], b["source"], atol=0.05)


def test_colour_jitter_keeps_grey_pixels_grey():
    levels = torch.arange(HEIGHT * WIDTH, dtype=torch.int64).reshape(HEIGHT, WIDTH) % 256
    item = {"rgb": levels.to(torch.uint8).expand(3, -1, -1).clone(), "depth": torch.ones(1, HEIGHT, WIDTH), "index": 0}
    transform = PairedTransform(size=(48, 64), color_jitter=0.8)
    torch.manual_seed(4)
    for _ in range(10):
        rgb = to_uint8_rgb(transform(item)["source"])
        assert np.abs(rgb - rgb[..., :1]).max() <= 1.01


def test_same_seed_same_sample_and_different_seed_different_sample():
    item = checker_item()
    transform = PairedTransform(size=(48, 64))
    torch.manual_seed(7)
    first = [transform(item) for _ in range(3)]
    torch.manual_seed(7)
    second = [transform(item) for _ in range(3)]
    for a, b in zip(first, second):
        for key in ("source", "target", "seg"):
            assert torch.equal(a[key], b[key])
    assert not torch.equal(first[0]["source"], first[1]["source"])


def test_eval_mode_is_deterministic_and_centre_crops_to_the_output_aspect():
    columns = torch.arange(200).expand(100, -1)
    item = {
        "rgb": torch.zeros(3, 100, 200, dtype=torch.uint8),
        "depth": (1.0 + columns.float() / 100)[None],
        "seg": columns.clone(),
        "index": 3,
    }
    transform = PairedTransform(size=(50, 50), train=False)
    state = torch.get_rng_state()
    a, b = transform(item), transform(item)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a["source"], b["source"]) and torch.equal(a["target"], b["target"])
    seg = a["seg"].numpy()
    assert seg.min() >= 50 and seg.max() <= 149 and seg.max() - seg.min() >= 95
    assert a["index"] == 3 and "label" not in a


def test_output_keys_types_and_scene_label():
    sample = PairedTransform(size=(48, 64))(checker_item(index=9))
    assert set(sample) == {"source", "target", "index", "seg", "label", "target_empty"}
    assert sample["source"].shape == (3, 48, 64) and sample["source"].dtype == torch.float32
    assert sample["target"].shape == (1, 48, 64) and sample["target"].dtype == torch.float32
    assert sample["seg"].shape == (48, 64) and sample["seg"].dtype == torch.int64
    assert sample["index"] == 9 and sample["label"] == 4


def test_seg_ignore_value_survives():
    item = checker_item()
    item["seg"][:, :64] = 255
    sample = PairedTransform(size=(48, 64), scale=(1.0, 1.0), ratio=(1.0, 1.0))(item)
    assert set(np.unique(sample["seg"].numpy())) <= {255, *range(len(PALETTE))}
    assert (sample["seg"] == 255).float().mean() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("train", [True, False])
def test_nan_and_inf_depth_never_reach_the_target(train):
    depth = torch.full((1, HEIGHT, WIDTH), 3.0)
    depth[:, ::2, ::3] = float("nan")
    depth[:, 1::4] = float("inf")
    item = {"rgb": torch.zeros(3, HEIGHT, WIDTH, dtype=torch.uint8), "depth": depth, "index": 0}
    for encoding in DEPTH_ENCODINGS.names():
        target = PairedTransform(size=(48, 64), train=train, depth_encoding=encoding)(item)["target"]
        assert torch.isfinite(target).all() and (target >= 0).all() and (target <= 1).all()


def test_depth_encodings():
    depth = torch.tensor([0.0, 0.25, 0.5, 2.0, 10.0, 20.0])
    metric = DEPTH_ENCODINGS.get("metric")(depth, 0.5, 10.0)
    np.testing.assert_allclose(metric, [0.0, 0.025, 0.05, 0.2, 1.0, 1.0])
    inverse = DEPTH_ENCODINGS.get("inverse")(depth, 0.5, 10.0)
    np.testing.assert_allclose(inverse, [0.0, 1.0, 1.0, 0.25, 0.05, 0.025])
    assert metric.dtype == inverse.dtype == torch.float32


def test_inverse_encoding_through_the_transform():
    item = {"rgb": torch.zeros(3, 40, 40, dtype=torch.uint8), "depth": torch.full((1, 40, 40), 2.0), "index": 0}
    item["depth"][:, :, :20] = 0
    target = PairedTransform(size=(20, 20), train=False, depth_encoding="inverse", min_depth=0.5)(item)["target"]
    assert set(torch.unique(target).tolist()) == {0.0, 0.25}


class TransformedItems(torch.utils.data.Dataset):
    def __init__(self, count: int) -> None:
        self.items = [checker_item(index=i) for i in range(count)]
        self.transform = PairedTransform(size=(48, 64))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.transform(self.items[i])


def test_default_collate_batches_samples():
    batch = next(iter(DataLoader(TransformedItems(6), batch_size=4)))
    assert batch["source"].shape == (4, 3, 48, 64)
    assert batch["target"].shape == (4, 1, 48, 64)
    assert batch["seg"].shape == (4, 48, 64)
    assert batch["index"].tolist() == [0, 1, 2, 3]
    assert batch["label"].tolist() == [4, 4, 4, 4]


def test_dataloader_workers_reproduce_an_epoch_from_the_seed():
    def epoch() -> list[torch.Tensor]:
        loader = DataLoader(
            TransformedItems(4), batch_size=2, num_workers=2, generator=torch.Generator().manual_seed(5)
        )
        return [batch["source"] for batch in loader]

    first, second = epoch(), epoch()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0][0], first[1][0])


def test_invalid_options_raise_input_error():
    with pytest.raises(InputError, match="metric"):
        PairedTransform(depth_encoding="log")
    with pytest.raises(InputError, match="scale"):
        PairedTransform(scale=(0.0, 1.0))
    with pytest.raises(InputError, match="min_depth"):
        PairedTransform(min_depth=20.0, max_depth=10.0)


def test_mismatched_item_sizes_raise_input_error():
    item = checker_item()
    item["depth"] = item["depth"][:, :-1]
    with pytest.raises(InputError, match="different sizes"):
        PairedTransform(size=(48, 64))(item)
