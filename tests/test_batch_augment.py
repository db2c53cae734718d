"""Device-side batch augmentation: the same crop and flip for RGB, depth and labels, the per-sample path's ranges."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossmodal.config import TrainConfig, apply_overrides
from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.data.av_transforms import VideoPairTransform
from crossmodal.data.batch_augment import (
    PairedBatchAugment,
    VideoBatchAugment,
    augments_on_device,
    collate_frames,
    crop_nearest,
    crop_resize,
    crop_resize_depth,
    draw_crop_boxes,
    draw_jitter,
    jitter_affines,
)
from crossmodal.data.resize import resize_depth, resize_labels, resize_rgb
from crossmodal.data.transforms import PairedTransform, _jitter_affine
from crossmodal.engine.trainer import check_config
from crossmodal.errors import InputError
from tests.waveforms import shifted

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def pattern_batch(count: int, height: int = 40, width: int = 50) -> list[dict]:
    """Frames whose every pixel says where it is: red = row, green = column; depth 1 + row + column / 100; labels = row."""
    rows = torch.arange(height)[:, None].expand(height, width)
    cols = torch.arange(width)[None].expand(height, width)
    rgb = torch.stack([rows, cols, torch.zeros_like(rows)]).to(torch.uint8)
    depth = (1.0 + rows + cols / 100.0).float()[None]
    return [{"rgb": rgb, "depth": depth, "seg": rows.clone(), "index": i, "scene_label": i % 3} for i in range(count)]


def test_one_crop_and_flip_moves_rgb_depth_and_labels_alike_pixel_for_pixel():
    # crops of exactly the output size (a quarter of 40 x 40 at aspect 1), so every output pixel is one source pixel
    settings = PairedTransform(size=(20, 20), scale=(0.25 * 40 / 50, 0.25 * 40 / 50), ratio=(1.0, 1.0), color_jitter=0.0, max_depth=100.0)
    augment = PairedBatchAugment(settings)
    items = pattern_batch(16)
    compact = collate_frames([augment.compact(item) for item in items])
    assert "seg" not in compact, "training takes no labels, so workers hand none over"
    compact["seg"] = torch.stack([item["seg"] for item in items])
    batch = augment(compact, torch.Generator().manual_seed(0))

    rgb = torch.round((batch["source"] * STD + MEAN) * 255.0)
    rows, cols = rgb[:, 0], rgb[:, 1]
    assert torch.equal(batch["seg"], rows.long()), "labels follow the RGB crop and flip"
    depth = batch["target"][:, 0] * 100.0
    assert torch.allclose(depth, 1.0 + rows + cols / 100.0, atol=1e-4), "depth follows the RGB crop and flip"
    steps = cols[:, :, 1:] - cols[:, :, :-1]
    mirrored = (steps == -1).all(dim=(1, 2))
    assert (mirrored | (steps == 1).all(dim=(1, 2))).all(), "each sample is one contiguous crop, mirrored or not"
    assert 0 < int(mirrored.sum()) < 16, "about half the samples are mirrored"
    assert (rows[:, 1:] - rows[:, :-1] == 1).all()
    corners = {(int(r[0, 0]), int(c[0].min())) for r, c in zip(rows, cols, strict=True)}
    assert len(corners) > 8, "every sample draws its own crop position"


@pytest.mark.parametrize(("crop", "size"), [((40, 60), (20, 30)), ((48, 64), (12, 16)), ((30, 45), (24, 32)), ((37, 53), (16, 20))])
def test_crop_resize_matches_the_per_sample_resizing(crop, size):
    generator = np.random.default_rng(1)
    integer_factor = crop[0] % size[0] == 0 and crop[1] % size[1] == 0
    if integer_factor:  # area averaging exactly: any frame, noise included
        frame = generator.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    else:  # footprints cut pixels: the two samplings agree on images without detail finer than a pixel
        y, x = np.mgrid[0:60, 0:80]
        planes = [np.sin(x / 5.0 + k) * np.cos(y / 7.0 - k) for k in range(3)]
        frame = np.round(127.5 + 127.0 * np.stack(planes, axis=-1)).astype(np.uint8)
    depth = generator.uniform(0.5, 9.0, (60, 80)).astype(np.float32)
    depth[generator.random((60, 80)) < 0.3] = 0.0
    labels = generator.integers(0, 40, (60, 80)).astype(np.int64)
    top, left = 7, 11
    box = torch.tensor([[top, left, *crop]])
    window = (slice(top, top + crop[0]), slice(left, left + crop[1]))

    rgb = crop_resize(torch.from_numpy(frame).permute(2, 0, 1)[None].float(), box, size)[0].permute(1, 2, 0)
    expected = resize_rgb(np.ascontiguousarray(frame[window]), size).astype(np.float32)
    assert np.abs(rgb.numpy() - expected).max() <= (0.51 if integer_factor else 6.0)
    assert np.abs(rgb.numpy() - expected).mean() <= (0.26 if integer_factor else 1.5)

    resized_depth = crop_resize_depth(torch.from_numpy(depth)[None, None], box, size)[0, 0].numpy()
    expected_depth = resize_depth(depth[window], size)
    if integer_factor:
        np.testing.assert_allclose(resized_depth, expected_depth, atol=1e-4)
    assert ((resized_depth > 0) == (expected_depth > 0)).mean() > 0.9, "missing where less than half the footprint was valid"

    nearest = crop_nearest(torch.from_numpy(labels)[None], box, size)[0].numpy()
    assert np.array_equal(nearest, resize_labels(np.ascontiguousarray(labels[window]), size)), "OpenCV's pixel-centred nearest"


def _host_draws(seed: int, strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The order and factors the per-sample path draws after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    order = torch.randperm(4)
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    factors = torch.zeros(4, dtype=torch.float64)
    for kind in order.tolist():
        unit = torch.rand(()).item()
        factors[kind] = -strength / 4 + strength / 2 * unit if kind == 3 else low + (high - low) * unit
    return order, factors


def test_the_batched_colour_jitter_is_the_per_sample_jitter_for_the_same_draws():
    mean_colours = torch.tensor([[0.2, 0.5, 0.7], [0.9, 0.1, 0.3], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    for seed in range(8):
        order, factors = _host_draws(seed, 0.4)
        for mean_colour in mean_colours:
            torch.manual_seed(seed)
            host_matrix, host_offset = _jitter_affine(0.4, mean_colour.numpy())
            matrix, offset = jitter_affines(order[None], factors[None], mean_colour[None])
            np.testing.assert_allclose(matrix[0].numpy(), host_matrix, atol=1e-12)
            np.testing.assert_allclose(offset[0].numpy(), host_offset, atol=1e-12)


def test_jitter_and_crop_draws_keep_the_per_sample_ranges():
    generator = torch.Generator().manual_seed(3)
    order, factors = draw_jitter(4000, 0.4, generator)
    assert all(sorted(row) == [0, 1, 2, 3] for row in order.tolist())
    assert factors[:, :3].min() >= 0.6 and factors[:, :3].max() <= 1.4 and factors[:, 3].abs().max() <= 0.1
    assert factors[:, :3].min() < 0.61 and factors[:, :3].max() > 1.39 and factors[:, 3].abs().max() > 0.099

    settings = PairedTransform(size=(96, 128))
    boxes = draw_crop_boxes(4000, 480, 640, settings, generator)
    top, left, height, width = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + height <= 480).all() and (left + width <= 640).all()
    area = (height * width).double() / (480 * 640)
    assert area.min() > 0.49 and area.max() <= 1.0
    relative_aspect = (width / height).double() / (128 / 96)
    assert relative_aspect.min() > 0.74 and relative_aspect.max() < 4 / 3 + 0.01


def test_the_device_batch_has_the_per_sample_contract_and_follows_its_generator():
    items = [{**item, "rgb": item["rgb"] // 2 + 60} for item in pattern_batch(6)]
    settings = PairedTransform(size=(24, 32))
    augment = PairedBatchAugment(settings)
    torch.manual_seed(0)
    host = settings(items[0])
    compact = collate_frames([augment.compact(item) for item in items])
    assert compact["rgb"].dtype == torch.uint8, "workers hand over bytes"
    host.pop("seg")
    first = augment(dict(compact), torch.Generator().manual_seed(5))
    again = augment(dict(compact), torch.Generator().manual_seed(5))
    other = augment(dict(compact), torch.Generator().manual_seed(6))
    assert set(first) == set(host) and all(first[key].dtype == torch.as_tensor(host[key]).dtype for key in host)
    assert first["source"].shape == (6, *host["source"].shape) and first["target"].shape == (6, *host["target"].shape)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["source"], other["source"])
    lowest, highest = ((torch.tensor([0.0, 255.0]).view(2, 1) / 255.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))
    assert (first["source"] >= lowest.view(1, 3, 1, 1) - 1e-5).all() and (first["source"] <= highest.view(1, 3, 1, 1) + 1e-5).all()


def test_hha_items_are_augmented_as_three_planes_in_unit_range():
    items = [{**item, "hha": item["rgb"].clone()} for item in pattern_batch(4)]
    augment = PairedBatchAugment(PairedTransform(size=(20, 20), depth_encoding="hha", color_jitter=0.0))
    batch = augment(collate_frames([augment.compact(item) for item in items]), torch.Generator().manual_seed(0))
    rgb = (batch["source"] * STD + MEAN)
    assert batch["target"].shape == (4, 3, 20, 20) and torch.allclose(batch["target"], rgb, atol=1e-5)
    with pytest.raises(InputError, match="no HHA encoding"):
        augment.compact(pattern_batch(1)[0])


def test_frames_of_different_sizes_in_one_batch_are_one_sentence():
    items = pattern_batch(1) + pattern_batch(1, 30, 50)
    augment = PairedBatchAugment(PairedTransform(size=(20, 20)))
    with pytest.raises(InputError, match=r"every frame must have one size, but frames of 30x50 and 40x50 met in one batch"):
        collate_frames([augment.compact(item) for item in items])


def test_video_clips_get_the_frame_augmentation_and_their_own_shift_and_gain():
    generator = torch.Generator().manual_seed(0)
    items = [{"rgb": torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8, generator=generator),
              "audio": torch.randn(1, 4000, generator=generator), "index": i, "label": i} for i in range(8)]
    augment = VideoBatchAugment(VideoPairTransform(size=(32, 32), gain_db=0.0, shift_seconds=0.05))
    batch = augment(collate_frames([augment.compact(item) for item in items]), torch.Generator().manual_seed(1))
    assert set(batch) == {"source", "target", "index", "label"} and batch["source"].shape == (8, 3, 32, 32)
    shifts = []
    for item, moved in zip(items, batch["target"], strict=True):
        waveform = item["audio"][0]
        shift = next(s for s in range(-800, 801) if torch.equal(moved[0], shifted(waveform, s)))
        shifts.append(shift)
    assert len(set(shifts)) > 4, "each clip draws its own shift"

    gains = VideoBatchAugment(VideoPairTransform(size=(32, 32), gain_db=6.0, shift_seconds=0.0))
    scaled = gains(collate_frames([gains.compact(item) for item in items]), torch.Generator().manual_seed(2))["target"]
    ratios = (scaled / torch.stack([item["audio"] for item in items])).mean(dim=(1, 2))
    assert (ratios >= 10 ** (-6 / 20) - 1e-4).all() and (ratios <= 10 ** (6 / 20) + 1e-4).all() and ratios.std() > 0.05


def test_auto_augments_on_cuda_only_and_other_places_are_refused():
    assert augments_on_device("auto", torch.device("cuda")) and not augments_on_device("auto", torch.device("cpu"))
    assert augments_on_device("device", torch.device("cpu")) and not augments_on_device("host", torch.device("cuda"))
    with pytest.raises(InputError, match="data.augment_on 'gpu' is not one of: auto, host, device"):
        check_config(apply_overrides(TrainConfig(), ["data.augment_on=gpu"]))


def test_evaluation_views_are_not_batch_augmented():
    with pytest.raises(ValueError, match="for training"):
        PairedBatchAugment(PairedTransform(train=False))
    assert math.isclose(PairedBatchAugment(PairedTransform()).settings.scale[0], 0.5), "settings come from the per-sample transform"
