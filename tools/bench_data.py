"""How much faster a DataLoader reads the prepared NYU cache than the .mat it came from.

    python tools/bench_data.py                      # builds a 480x640 file of room-like frames
    python tools/bench_data.py --mat nyu_depth_v2_labeled.mat --num-workers 4

Both loaders deliver the same items at --size: the cache stores frames resized once, the
.mat loader resizes every item with the same functions. The first epoch of each (worker
start-up, page cache) is not timed.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from crossmodal.data.matlab import NYUMatWriter
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.nyu_cache import prepare_nyu_cache
from crossmodal.data.nyu_meta import load_meta
from crossmodal.data.resize import parse_size, resize_depth, resize_labels, resize_rgb


class ResizeItem:
    """Resizes a dataset item the way the cache does, so both loaders yield identical batches."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        rgb = resize_rgb(np.ascontiguousarray(item["rgb"].numpy().transpose(1, 2, 0)), self.size)
        return {
            **item,
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
            "depth": torch.from_numpy(resize_depth(item["depth"][0].numpy(), self.size)[None]),
            "seg": torch.from_numpy(resize_labels(item["seg"].numpy(), self.size)),
        }


def room_frame(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, ...]:
    """A wall, a floor and a bed-sized box with shading, sensor noise and depth holes."""
    names = load_meta().raw_class_names
    part_ids = np.array([names.index(name) + 1 for name in ("floor", "wall", "bed")], dtype=np.uint16)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.4, 0.6)
    floor = rows > horizon
    depth = np.where(floor, 1.5 * height / np.maximum(rows - horizon, 1.0), 4.0 + cols / width).astype(np.float32)
    depth = np.clip(depth, 0.5, 10.0)
    part = np.where(floor, 0, 1)
    top, left = int(horizon), int(rng.uniform(0.1, 0.5) * width)
    box = (slice(top - height // 8, top + height // 4), slice(left, left + width // 3))
    part[box] = 2
    depth[box] = rng.uniform(2.0, 3.0)
    colour = rng.uniform(40, 220, (3, 3))[part]
    shade = (1.2 - 0.4 * rows / height)[..., None]
    rgb = np.clip(colour * shade + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    raw_depth = depth + rng.normal(0, 0.01, depth.shape).astype(np.float32)
    raw_depth[rng.random(((height + 7) // 8, (width + 7) // 8)).repeat(8, 0).repeat(8, 1)[:height, :width] < 0.15] = 0
    return rgb, depth, raw_depth.astype(np.float32), part_ids[part]


def write_room_mat(path: Path, num_frames: int, height: int = 480, width: int = 640) -> Path:
    rng = np.random.default_rng(0)
    scenes = load_meta().scene_types
    with NYUMatWriter(path, num_frames, height, width, list(load_meta().raw_class_names)) as writer:
        for i in range(num_frames):
            writer.write(i, *room_frame(rng, height, width), scenes[i % len(scenes)])
    return path


def samples_per_second(dataset: NYUDepthV2, num_workers: int, batch_size: int, epochs: int) -> float:
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, persistent_workers=num_workers > 0
    )
    for _ in loader:  # warm-up epoch
        pass
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            pass
    return epochs * len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mat", type=Path, help="an NYU labeled .mat; default: build one of room-like frames")
    parser.add_argument("--frames", type=int, default=64, help="frames to build when --mat is not given")
    parser.add_argument("--size", default="240x320", help="item size HxW for both loaders")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch")
    parser.add_argument("--work-dir", type=Path, help="where to put the built file and cache (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        mat = args.mat or write_room_mat(Path(work) / "rooms.mat", args.frames)
        start = time.perf_counter()
        cache = prepare_nyu_cache(mat, Path(work) / "cache", size=size, progress=False)
        prepare_s = time.perf_counter() - start
        from_cache = NYUDepthV2(cache, split="all")
        from_mat = NYUDepthV2(mat, split="all", transform=ResizeItem(size) if size else None)
        cache_mb = (cache / "frames.h5").stat().st_size / 2**20
        source = from_mat.frames
        print(f"source  {mat}: {len(from_mat)} frames {source.height}x{source.width}, {mat.stat().st_size / 2**20:.0f} MiB")
        print(f"cache   {args.size}: {cache_mb:.0f} MiB, prepared in {prepare_s:.1f} s ({len(from_mat) / prepare_s:.1f} frame/s)")
        rates = {}
        for name, dataset in (("cache", from_cache), ("mat", from_mat)):
            rates[name] = samples_per_second(dataset, args.num_workers, args.batch_size, args.epochs)
            loader = f"num_workers={args.num_workers}, batch_size={args.batch_size}"
            print(f"{name:7} {rates[name]:8.1f} samples/s  ({loader})")
        print(f"ratio   cache/mat = {rates['cache'] / rates['mat']:.2f}x")


if __name__ == "__main__":
    main()
