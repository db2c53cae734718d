"""A tiny SUN RGB-D download in the real layout: frame folders of three sensors, allsplit.mat, SUNRGBDMeta.mat, SUNRGBD2Dseg.mat.

Written independently of the reader: depth PNGs hold millimetres rotated left by 3 bits (the inverse of
read3dPoints.m's rotate-right), allsplit.mat and SUNRGBDMeta.mat are MATLAB v5 files from scipy with
machine-prefixed paths (trailing "/" on some, as in the published copy), and SUNRGBD2Dseg.mat is a v7.3 file
(HDF5 behind MATLAB's 512-byte header) whose struct array field ``seglabel`` holds object references to uint8
label images stored transposed, in SUNRGBDMeta order, which here is neither sorted nor the split file's order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.io

OFFICIAL_PREFIX = "/n/fs/sun3d/data/SUNRGBD/"
KV1_K = "518.857901 0 284.582449\n0 519.469611 208.736166\n0 0 1\n"
KV2_K = "529.500000 0.000000 365.000000 \n0.000000 531.250000 265.000000 \n0.000000 0.000000 1.000000 \n"
XTION_K = "570.342205 0 310 0 570.342205 225 0 0 1"


@dataclass
class Frame:
    path: str  # frame folder relative to SUNRGBD/
    split: str  # "train" or "test"
    rgb: np.ndarray  # H x W x 3 uint8, RGB order
    depth_stored: np.ndarray  # H x W uint16, the PNG's values
    intrinsics_text: str
    scene: str
    seg: np.ndarray  # H x W uint8 stored ids (0 void, 1..37)
    name: str  # stem of image/<name>.jpg and depth/<name>.png


@dataclass
class Tree:
    root: Path  # .../SUNRGBD
    toolbox: Path  # .../SUNRGBDtoolbox
    frames: list[Frame]
    meta_order: list[str] = field(default_factory=list)  # frame path of each SUNRGBDMeta / SUNRGBD2Dseg entry

    def frame(self, path: str) -> Frame:
        return next(frame for frame in self.frames if frame.path == path)


def rotate_left3(millimetres: np.ndarray) -> np.ndarray:
    """The stored value whose uint16 rotate-right by 3 bits is ``millimetres``."""
    wide = np.asarray(millimetres, dtype=np.uint32)
    return (((wide << 3) & 0xFFFF) | (wide >> 13)).astype(np.uint16)


def _frame(path: str, split: str, size: tuple[int, int], colour: tuple[int, int, int], intrinsics: str, scene: str, seed: int) -> Frame:
    rng = np.random.default_rng(seed)
    height, width = size
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[:] = colour
    rgb[:4, :4] = 255  # a white block in the top-left corner
    millimetres = rng.integers(400, 8000, size, dtype=np.uint16)
    millimetres[0, 0] = 1234
    millimetres[-1, -1] = 0
    seg = rng.integers(0, 38, size, dtype=np.uint8)
    seg[0, :3] = (37, 0, 1)  # bag, void, wall in the top-left corner
    seg[-1, -1] = 5
    return Frame(path, split, rgb, rotate_left3(millimetres), intrinsics, scene, seg, path.rsplit("/", 1)[-1].split("_")[0])


def default_frames() -> list[Frame]:
    """Five frames of three sensors in three image sizes; kv1 8x12, kv2 6x10, xtion 7x9 (H x W)."""
    kinect2 = "kv2/kinect2data/{}_2014-05-26_14-23-37_260595134347_rgbf000103-resize"
    return [
        _frame("kv1/NYUdata/NYU0002", "train", (8, 12), (200, 30, 20), KV1_K, "study", 1),
        _frame("kv1/NYUdata/NYU0001", "test", (8, 12), (20, 180, 40), KV1_K, "bedroom", 2),
        _frame(kinect2.format("000065"), "train", (6, 10), (30, 40, 190), KV2_K, "office", 3),
        _frame(kinect2.format("000002"), "test", (6, 10), (90, 90, 90), KV2_K, "classroom", 4),
        _frame("xtion/sun3ddata/hotel_umd/maryland_hotel3/0000103-000004139993", "train", (7, 9), (160, 120, 30), XTION_K, "hotel_room", 5),
    ]


def write_frame(root: Path, frame: Frame) -> Path:
    folder = root / frame.path
    for sub in ("image", "depth", "extrinsics", "annotation2Dfinal"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(folder / "image" / f"{frame.name}.jpg"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert cv2.imwrite(str(folder / "depth" / f"{frame.name}.png"), frame.depth_stored)
    (folder / "intrinsics.txt").write_text(frame.intrinsics_text)
    (folder / "scene.txt").write_text(frame.scene)
    (folder / "extrinsics" / "20150118235401.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    (folder / "annotation2Dfinal" / "index.json").write_text("{}")
    return folder


def _cell(strings: list[str], column: bool = False) -> np.ndarray:
    cell = np.empty((len(strings), 1) if column else (1, len(strings)), dtype=object)
    for i, text in enumerate(strings):
        cell.flat[i] = text
    return cell


def split_entry(path: str, prefix: str = OFFICIAL_PREFIX) -> str:
    """As in the published copy: kinect2data entries without a trailing "/", all others with one."""
    return prefix + path + ("" if "/kinect2data/" in path else "/")


def write_split(path: Path, train: list[str], test: list[str], prefix: str = OFFICIAL_PREFIX) -> Path:
    """allsplit.mat: alltrain, alltest (1 x N cells) and trainvalsplit.train/.val (N x 1 cells of alltrain's entries)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    train_entries = [split_entry(p, prefix) for p in train]
    half = (len(train) + 1) // 2
    scipy.io.savemat(path, {
        "alltrain": _cell(train_entries),
        "alltest": _cell([split_entry(p, prefix) for p in test]),
        "trainvalsplit": {"train": _cell(train_entries[:half], column=True), "val": _cell(train_entries[half:], column=True)},
    })
    return path


def write_meta(path: Path, frames: list[tuple[str, str]], prefix: str = OFFICIAL_PREFIX) -> Path:
    """SUNRGBDMeta.mat: a 1 x N struct array with the toolbox's path fields; ``frames`` are (frame path, file stem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["sequenceName", "rgbpath", "depthpath", "rgbname", "depthname", "sensorType", "K"]
    meta = np.empty((1, len(frames)), dtype=[(name, object) for name in fields])
    for i, (frame, stem) in enumerate(frames):
        meta[0, i] = (
            "SUNRGBD/" + frame, f"{prefix}{frame}/image/{stem}.jpg", f"{prefix}{frame}/depth/{stem}.png",
            f"{stem}.jpg", f"{stem}.png", frame.split("/", 1)[0], np.eye(3),
        )
    scipy.io.savemat(path, {"SUNRGBDMeta": meta}, do_compression=True)
    return path


def _matlab_header() -> bytes:
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {time.strftime('%a %b %d %H:%M:%S %Y')} HDF5 schema 1.00 ."
    return (text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM").ljust(512, b"\x00")


def write_seg(path: Path, labels: list[np.ndarray]) -> Path:
    """SUNRGBD2Dseg.mat: struct array SUNRGBD2Dseg (1 x N) whose fields seglabel and seglabelall are N x 1 reference
    tables (as h5py sees MATLAB's 1 x N) to uint8 images stored W x H, the HDF5 view of MATLAB's H x W."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as file:
        refs = file.create_group("#refs#")
        group = file.create_group("SUNRGBD2Dseg")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for key in ("seglabel", "seglabelall"):
            table = np.empty((len(labels), 1), dtype=h5py.ref_dtype)
            for i, label in enumerate(labels):
                stored = refs.create_dataset(f"{key}_{i}", data=np.ascontiguousarray(label.T, dtype=np.uint8))
                stored.attrs["MATLAB_class"] = np.bytes_("uint8")
                table[i, 0] = stored.ref
            group.create_dataset(key, data=table, dtype=h5py.ref_dtype)
    with open(path, "r+b") as raw:
        raw.write(_matlab_header())
    return path


def write_tree(base: Path, frames: list[Frame] | None = None, prefix: str = OFFICIAL_PREFIX) -> Tree:
    """SUNRGBD/ and SUNRGBDtoolbox/ side by side under ``base``, as the two archives unpack.

    The split file lists each split in reverse path order. The meta (and label) order is one frame that is in no
    split and not on disk (its label image is 5 x 5 ones), then the test frames, then the train frames, each in
    split-file order: a reader that pairs label images with frames by position, in sorted order or in the split
    file's, gets a wrong or misfitting image.
    """
    frames = default_frames() if frames is None else frames
    root, toolbox = base / "SUNRGBD", base / "SUNRGBDtoolbox"
    for frame in frames:
        write_frame(root, frame)
    train = sorted((f.path for f in frames if f.split == "train"), reverse=True)
    test = sorted((f.path for f in frames if f.split == "test"), reverse=True)
    write_split(toolbox / "traintestSUNRGBD" / "allsplit.mat", train, test, prefix)
    by_path = {frame.path: frame for frame in frames}
    extra = "kv1/b3dodata/img_0001"
    order = [extra, *test, *train]
    write_meta(toolbox / "Metadata" / "SUNRGBDMeta.mat", [(p, by_path[p].name if p in by_path else "img_0001") for p in order], prefix)
    write_seg(toolbox / "Metadata" / "SUNRGBD2Dseg.mat", [by_path[p].seg if p in by_path else np.ones((5, 5), np.uint8) for p in order])
    return Tree(root, toolbox, frames, order)
