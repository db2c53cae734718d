"""Image and array headers read without decoding: sizes, channels, bit depths and truncation, checked against what OpenCV and NumPy write."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from crossmodal.data.file_headers import HeaderError, ImageHeader, image_header, npy_header


@pytest.mark.parametrize(
    ("array", "suffix", "flags", "expected"),
    [
        (np.zeros((5, 7, 3), np.uint8), ".png", [], ImageHeader(5, 7, 3, 8, True)),
        (np.zeros((5, 7), np.uint16), ".png", [], ImageHeader(5, 7, 1, 16, True)),
        (np.zeros((5, 7, 4), np.uint8), ".png", [], ImageHeader(5, 7, 4, 8, True)),
        (np.zeros((9, 4, 3), np.uint8), ".jpg", [], ImageHeader(9, 4, 3, 8, True)),
        (np.zeros((9, 4), np.uint8), ".jpg", [], ImageHeader(9, 4, 1, 8, True)),
        (np.zeros((9, 4, 3), np.uint8), ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], ImageHeader(9, 4, 3, 8, True)),
    ],
)
def test_headers_match_what_opencv_wrote(tmp_path, array, suffix, flags, expected):
    path = tmp_path / f"image{suffix}"
    assert cv2.imwrite(str(path), array, flags)
    assert image_header(path) == expected


def test_content_decides_not_the_suffix_and_cut_files_are_incomplete(tmp_path):
    png = tmp_path / "really_a_png.jpg"
    assert cv2.imwrite(str(tmp_path / "a.png"), np.zeros((3, 3), np.uint8))
    png.write_bytes((tmp_path / "a.png").read_bytes())
    assert image_header(png).complete
    png.write_bytes((tmp_path / "a.png").read_bytes()[:-5])
    assert not image_header(png).complete
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(HeaderError, match="neither a PNG nor a JPEG"):
        image_header(tmp_path / "text.png")
    (tmp_path / "stub.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    with pytest.raises(HeaderError, match="markers end before its frame header"):
        image_header(tmp_path / "stub.jpg")


def test_npy_headers_give_shape_and_dtype_and_refuse_objects_and_cut_data(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3), np.float32))
    assert npy_header(tmp_path / "a.npy") == ((2, 3), np.dtype(np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HeaderError, match="Python objects"):
        npy_header(tmp_path / "objects.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-1])
    with pytest.raises(HeaderError, match="promises 24 bytes of data, the file holds 23"):
        npy_header(tmp_path / "cut.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(HeaderError, match="not a NumPy .npy file"):
        npy_header(tmp_path / "text.npy")
