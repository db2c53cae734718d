"""RGBDFolder reads paired folders faithfully and names the file behind every problem."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from crossmodal.data.rgbd_folder import RGBDFolder
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError

H, W = 12, 16


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def red_image(height: int = H, width: int = W) -> np.ndarray:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 10
    return rgb


def test_png_rgb_and_uint16_millimetre_depth(tmp_path):
    write_rgb(tmp_path / "rgb" / "0001.png", red_image())
    depth_mm = np.full((H, W), 1500, dtype=np.uint16)
    depth_mm[0, :4] = 0
    write_png(tmp_path / "depth" / "0001.png", depth_mm)

    dataset = RGBDFolder(tmp_path)
    item = dataset[0]
    assert len(dataset) == 1 and not dataset.has_labels
    assert set(item) == {"rgb", "depth", "index"}
    assert item["rgb"].shape == (3, H, W) and item["rgb"].dtype == torch.uint8
    assert item["rgb"][:, 5, 5].tolist() == [200, 0, 10]
    assert item["depth"].shape == (1, H, W) and item["depth"].dtype == torch.float32
    assert item["depth"][0, 5, 5].item() == pytest.approx(1.5)
    assert (item["depth"][0, 0, :4] == 0).all()


def test_depth_scale_is_applied_to_png_depth(tmp_path):
    write_rgb(tmp_path / "rgb" / "a.png", red_image())
    write_png(tmp_path / "depth" / "a.png", np.full((H, W), 5000, dtype=np.uint16))
    assert RGBDFolder(tmp_path, depth_scale=5000.0)[0]["depth"].unique().tolist() == [1.0]


def test_npy_depth_with_nan_inf_and_negative_becomes_missing(tmp_path):
    write_rgb(tmp_path / "rgb" / "x.jpg", red_image())
    depth = np.full((H, W), 2.25, dtype=np.float64)
    depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, np.inf, -1.0
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "x.npy", depth)

    item_depth = RGBDFolder(tmp_path)[0]["depth"][0]
    assert item_depth.dtype == torch.float32
    assert item_depth[0, :3].tolist() == [0.0, 0.0, 0.0]
    assert item_depth[1:].unique().tolist() == [2.25]


def test_labels_are_class_ids_with_255_ignore(tmp_path):
    labels = np.arange(H * W, dtype=np.uint16).reshape(H, W) % 41
    labels[0] = 255
    for stem in ("b", "a"):
        write_rgb(tmp_path / "rgb" / f"{stem}.png", red_image())
        write_png(tmp_path / "depth" / f"{stem}.png", np.ones((H, W), dtype=np.uint16))
        write_png(tmp_path / "labels" / f"{stem}.png", labels)

    dataset = RGBDFolder(tmp_path)
    assert dataset.has_labels
    assert [rgb.stem for rgb, _, _ in dataset.samples] == ["a", "b"]
    item = dataset[1]
    assert item["index"] == 1
    assert item["seg"].dtype == torch.int64
    np.testing.assert_array_equal(item["seg"].numpy(), labels)


def test_unpaired_files_are_all_named(tmp_path):
    for stem in ("0001", "0003"):
        write_rgb(tmp_path / "rgb" / f"{stem}.png", red_image())
    for stem in ("0001", "0007"):
        write_png(tmp_path / "depth" / f"{stem}.png", np.ones((H, W), dtype=np.uint16))

    with pytest.raises(InputError) as error:
        RGBDFolder(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    assert "rgb/0003.png has no depth/0003.*" in message
    assert "depth/0007.png has no rgb" in message
    assert "0001" not in message


def test_missing_label_file_is_named(tmp_path):
    for stem in ("a", "b"):
        write_rgb(tmp_path / "rgb" / f"{stem}.png", red_image())
        write_png(tmp_path / "depth" / f"{stem}.png", np.ones((H, W), dtype=np.uint16))
    write_png(tmp_path / "labels" / "a.png", np.zeros((H, W), dtype=np.uint8))
    with pytest.raises(InputError, match=r"rgb/b\.png has no labels/b\.\*"):
        RGBDFolder(tmp_path)


def test_rgb_and_depth_of_different_sizes(tmp_path):
    write_rgb(tmp_path / "rgb" / "f.png", red_image())
    write_png(tmp_path / "depth" / "f.png", np.ones((H // 2, W // 2), dtype=np.uint16))
    with pytest.raises(InputError, match=rf"rgb/f\.png is {H}x{W} but depth/f\.png is {H // 2}x{W // 2}"):
        RGBDFolder(tmp_path)[0]


def test_missing_root_empty_rgb_and_duplicate_stems(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        RGBDFolder(tmp_path / "nowhere")
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    with pytest.raises(InputError, match="holds no"):
        RGBDFolder(tmp_path)
    write_rgb(tmp_path / "rgb" / "a.png", red_image())
    write_rgb(tmp_path / "rgb" / "a.jpg", red_image())
    with pytest.raises(InputError, match="two files for 'a'"):
        RGBDFolder(tmp_path)


def test_unreadable_and_wrong_type_images(tmp_path):
    (tmp_path / "rgb").mkdir()
    (tmp_path / "rgb" / "a.png").write_bytes(b"not an image")
    write_png(tmp_path / "depth" / "a.png", np.ones((H, W), dtype=np.uint16))
    with pytest.raises(InputError, match="rgb/a.png is neither a PNG nor a JPEG file"):
        RGBDFolder(tmp_path)
    write_rgb(tmp_path / "rgb" / "a.png", red_image())
    write_png(tmp_path / "depth" / "a.png", np.ones((H, W), dtype=np.uint8))
    with pytest.raises(InputError, match="depth/a.png must be single-channel 16-bit, got 8-bit with 1 channels"):
        RGBDFolder(tmp_path)


def test_transform_is_applied(tmp_path):
    write_rgb(tmp_path / "rgb" / "a.png", red_image(24, 32))
    write_png(tmp_path / "depth" / "a.png", np.full((24, 32), 2000, dtype=np.uint16))
    write_png(tmp_path / "labels" / "a.png", np.full((24, 32), 3, dtype=np.uint8))
    sample = RGBDFolder(tmp_path, transform=PairedTransform(size=(12, 16)))[0]
    assert set(sample) == {"source", "target", "index", "seg", "target_empty"} and not sample["target_empty"]
    assert sample["target"].unique().tolist() == pytest.approx([0.2])
    assert sample["seg"].unique().tolist() == [3]


def test_every_unusable_file_is_reported_together_before_any_pixel_is_read(tmp_path):
    for stem in "abcde":
        write_rgb(tmp_path / "rgb" / f"{stem}.png", red_image())
        write_png(tmp_path / "depth" / f"{stem}.png", np.ones((H, W), dtype=np.uint16))
    write_png(tmp_path / "depth" / "a.png", np.ones((H, W, 3), dtype=np.uint16))
    write_png(tmp_path / "depth" / "b.png", np.ones((H + 1, W), dtype=np.uint16))
    (tmp_path / "depth" / "c.png").unlink()
    np.save(tmp_path / "depth" / "c.npy", np.ones((2, H, W)))
    (tmp_path / "rgb" / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 3)
    with pytest.raises(InputError) as caught:
        RGBDFolder(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"RGB-D folder {tmp_path} has 4 unusable file(s): ")
    assert "depth/a.png must be single-channel 16-bit, got 16-bit with 3 channels" in message
    assert f"rgb/b.png is {H}x{W} but depth/b.png is {H + 1}x{W}" in message
    assert "depth/c.npy must be a 2-D array of metres, got float64 (2, 12, 16)" in message
    assert "rgb/d.png is a PNG without its IHDR header" in message
    assert "\n" not in message


def test_truncated_files_are_counted_in_one_warning_or_stop_a_strict_run(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    for stem in "abc":
        write_rgb(tmp_path / "rgb" / f"{stem}.jpg", noise)
        write_png(tmp_path / "depth" / f"{stem}.png", np.ones((H, W), dtype=np.uint16))
    jpeg = (tmp_path / "rgb" / "b.jpg").read_bytes()
    (tmp_path / "rgb" / "b.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    png = (tmp_path / "depth" / "c.png").read_bytes()
    (tmp_path / "depth" / "c.png").write_bytes(png[:-12])
    with pytest.warns(UserWarning, match=r"2 of 6 files end early \(truncated\) .*rgb/b.jpg; depth/c.png"):
        dataset = RGBDFolder(tmp_path)
    assert len(dataset) == 3
    with pytest.raises(InputError, match=r"has 2 unusable file\(s\): rgb/b.jpg ends early \(truncated\); depth/c.png ends early"):
        RGBDFolder(tmp_path, strict=True)


def test_a_cut_npy_depth_file_is_found_by_its_header(tmp_path):
    write_rgb(tmp_path / "rgb" / "a.png", red_image())
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "a.npy", np.ones((H, W), dtype=np.float32))
    data = (tmp_path / "depth" / "a.npy").read_bytes()
    (tmp_path / "depth" / "a.npy").write_bytes(data[:-100])
    with pytest.raises(InputError, match=f"depth/a.npy is cut short: its header promises {4 * H * W} bytes of data"):
        RGBDFolder(tmp_path)
