"""What feeding a training step costs the CPU, per data path, with augmentation per sample on the host and on the device.

    python tools/bench_loader.py            # about 6 minutes on one core
    python tools/bench_loader.py --quick    # under 3 minutes on 2 cores (fewer frames, shorter timings)

Run with one torch thread (it sets it), so "per core" means one core. For each data path (a prepared NYU cache, an
RGB-D folder of PNG files, a NYU raw-layout cache, a video cache) at input 96 x 128 (the default) and 224 x 224, all
from this one run:
  * host: ms of one core per sample for what a loader worker does today -- read the item and put it through the
    per-sample training transform (crop, resize, flip, colour jitter, normalisation);
  * device path, worker half: ms per sample to read the item and hand over its frames as stored (uint8 RGB, depth
    as cached), batch collation included (``data.augment_on: device``), and host / worker-half;
  * the workers each needs to feed --step-rate samples/s;
  * device path, batch half (the crop, resize, flip and jitter of whole batches): ms per sample on this CPU, and on
    CUDA when there is one -- the work that moves off the loader.
The frames are the embedded rooms (NYU-layout file, PNG folder and raw-layout Kinect dumps, rendered at 480 x 640)
and the embedded audio-visual events; real data of those sizes costs the same per pixel.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from crossmodal.config import DataConfig, NYURawCacheConfig, RoomsConfig, TrainConfig, apply_overrides
from crossmodal.data.batch_augment import collate_frames
from crossmodal.data.nyu import NYUDepthV2
from crossmodal.data.nyu_cache import prepare_nyu_cache
from crossmodal.data.nyu_raw_cache import prepare_raw_cache
from crossmodal.data.synthetic.raw_scenes import generate_raw_scenes
from crossmodal.data.synthetic.rooms import generate_rooms
from crossmodal.modalities import MODALITIES
from crossmodal.modalities.training_set import build_train_dataset, prepare_data

README_STEP_RATE = 2234.0
"""Samples/s of the default depth training step on an H200 (docs/training.md, "On a GPU": tools/bench_step.py --device cuda)."""
SIZES = ((96, 128), (224, 224))
BATCH = 32


def make_sources(work: Path, frames: int) -> dict[str, list[str]]:
    """Each data path's config overrides, its files written under ``work``."""
    mat = work / "rooms-480x640.mat"
    generate_rooms(mat, RoomsConfig(frames, (480, 640), 0), progress=False, workers=1)
    nyu_cache = prepare_nyu_cache(mat, work / "nyu-cache", progress=False)
    folder = work / "rgbd-folder"
    write_folder(NYUDepthV2(mat, split="all"), folder)
    raw = generate_raw_scenes(work / "raw", seed=0, scenes=2, frames=max(1, frames // 2), workers=1, progress=False)
    raw_cache = prepare_raw_cache(raw, work / "raw-cache", NYURawCacheConfig(), workers=1, progress=False).out
    return {
        "nyu cache (240x320)": ["data.name=nyu", f"data.options.path={nyu_cache}"],
        "rgbd folder (480x640 png)": ["data.name=rgbd-folder", f"data.options.path={folder}"],
        "nyu-raw cache (240x320)": ["data.name=nyu-raw", f"data.options.path={raw_cache}", "data.options.exclude_test_scenes=false"],
        "video cache (256x256)": ["data.target=audio", "data.name=synthetic-av", f"data.root={work}", "data.options.num=8",
                                  "data.options.seconds=4", "data.options.size=[256, 256]", "data.options.frame_size=[256, 256]"],
    }


def write_folder(frames: Dataset, root: Path) -> None:
    """``frames`` as an RGB-D folder: rgb/ 8-bit PNG, depth/ 16-bit PNG in millimetres."""
    for sub in ("rgb", "depth"):
        (root / sub).mkdir(parents=True)
    for i in range(len(frames)):  # type: ignore[arg-type]  # a map-style set
        item = frames[i]
        rgb = item["rgb"].numpy().transpose(1, 2, 0)
        cv2.imwrite(str(root / "rgb" / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "depth" / f"{i:05d}.png"), np.rint(item["depth"][0].numpy() * 1000).astype(np.uint16))


def ms_per_sample(step: Callable[[int], int], seconds: float) -> float:
    """Milliseconds per sample of ``step`` (called with a running count, returns the samples it handled) over about
    ``seconds``, after one untimed call."""
    step(0)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step(done)
    return 1000.0 * (time.perf_counter() - start) / done


def measure(overrides: list[str], size: tuple[int, int], seconds: float, cuda: bool) -> dict[str, float]:
    data = data_config(overrides, size)
    prepare_data(data, progress=False)
    host = build_train_dataset(data)
    augment = MODALITIES.get(data.target).batch_augment(data)
    compact = build_train_dataset(data, transform=augment.compact)
    count = len(host)  # type: ignore[arg-type]  # a map-style set

    def batch_of(dataset: Dataset, start: int, collate: Callable[[list[Any]], Any]) -> Any:
        return collate([dataset[(start + k) % count] for k in range(BATCH)])

    result = {
        "host": ms_per_sample(lambda start: len(batch_of(host, start, default_collate)["index"]), seconds),
        "worker": ms_per_sample(lambda start: len(batch_of(compact, start, collate_frames)["index"]), seconds),
    }
    batch = batch_of(compact, 0, collate_frames)
    generator = torch.Generator().manual_seed(0)
    result["batch_cpu"] = ms_per_sample(lambda _: len(augment(dict(batch), generator)["index"]), seconds)
    if cuda:
        on_gpu = {key: value.cuda() if isinstance(value, torch.Tensor) else value for key, value in batch.items()}

        def gpu_step(_: int) -> int:
            augment(dict(on_gpu), generator)
            torch.cuda.synchronize()
            return BATCH

        result["batch_cuda"] = ms_per_sample(gpu_step, seconds)
    return result


def data_config(overrides: list[str], size: tuple[int, int]) -> DataConfig:
    return apply_overrides(TrainConfig(), [*overrides, f"data.input_size=[{size[0]}, {size[1]}]"]).data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and shorter timings (under 3 minutes)")
    parser.add_argument("--step-rate", type=float, default=README_STEP_RATE,
                        help=f"samples/s the loader must feed (default {README_STEP_RATE:g}, the H200 step rate of docs/training.md)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cuda = torch.cuda.is_available()
    seconds = 2.0 if args.quick else 6.0
    with tempfile.TemporaryDirectory() as folder:
        sources = make_sources(Path(folder), 24 if args.quick else 64)
        print(f"ms of one core per sample; workers to feed {args.step_rate:g} samples/s "
              f"(batch {BATCH}; device half on this CPU{' and on CUDA' if cuda else ''})")
        header = f"{'data path':<27} {'input':<8} {'host':>7} {'worker half':>12} {'ratio':>6} {'workers host -> device':>23} {'batch half, CPU':>16}"
        print(header + (f" {'CUDA':>7}" if cuda else ""))
        for name, overrides in sources.items():
            for size in SIZES:
                result = measure(overrides, size, seconds, cuda)
                workers = " -> ".join(str(math.ceil(args.step_rate * result[key] / 1000.0)) for key in ("host", "worker"))
                line = (f"{name:<27} {size[0]}x{size[1]:<4} {result['host']:7.3f} {result['worker']:12.3f} "
                        f"{result['host'] / result['worker']:5.1f}x {workers:>23} {result['batch_cpu']:16.3f}")
                print(line + (f" {result['batch_cuda']:7.4f}" if cuda else ""), flush=True)


if __name__ == "__main__":
    main()
