"""What real RGB-D data costs: prepare throughput per core, cache size, loader throughput per worker, and a CRD
run with at least 100k memory-bank rows read from a raw-layout cache.

    python tools/bench_rgbd.py            # everything (under 5 minutes on one core of the EPYC)
    python tools/bench_rgbd.py --quick    # fewer frames and a 20k-row run (about a minute)

Run with one torch thread per process (OMP_NUM_THREADS=1), so "per core" means one core. Printed, all from
this one run:
  * prepare, frames/s per core: NYU raw (synchronise, decode, register, resize, fill) with and without HHA;
    HHA alone on a 480 x 640 frame; SUN RGB-D (decode JPEG and PNG, rotate depth bits, crop, resize) at its
    largest sensor size (kv2, 530 x 730) with and without HHA; and MB per 1000 cached frames at 240 x 320.
  * loader, samples/s of one worker (the training transform, in this process) from each cache at the default
    input size (96 x 128) and at 224 x 224, and the workers needed to feed --step-rate samples/s.
  * scale: the default CRD experiment on a raw-layout cache of --rows frames (a few rendered scenes' frames
    repeated: the bank's cost depends on its rows, not their content), ms per step with the loader in the
    process, and the process's peak resident memory.
The frames are the embedded rooms written as Kinect dumps (``crossmodal-prepare synthetic-nyu-raw``) and the
same renders written as SUN RGB-D frame folders; real recordings decode at the same sizes.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import scipy.io
import torch

from crossmodal.config import NYURawCacheConfig, apply_overrides, load_config
from crossmodal.data.hha import encode_hha
from crossmodal.data.kinect_registration import RGB_LENS
from crossmodal.data.nyu_raw import scene_folders
from crossmodal.data.nyu_raw_cache import NYURawCache, cache_scene, prepare_raw_cache, read_index
from crossmodal.data.sunrgbd import SUNRGBD
from crossmodal.data.sunrgbd_cache import SUNRGBDCache, fitted_frame, prepare_sunrgbd_cache
from crossmodal.data.synthetic.raw_scenes import generate_raw_scenes
from crossmodal.data.transforms import PairedTransform
from crossmodal.engine.trainer import Trainer

from measure import peak_mib

SUN_SIZE = (530, 730)
SUN_K = np.array([[529.5, 0.0, 365.0], [0.0, 531.25, 265.0], [0.0, 0.0, 1.0]])
README_STEP_RATE = 2234.0
"""Samples/s of the default training step on an H200 (docs/training.md, "On a GPU": tools/bench_step.py --device cuda)."""


def frames_per_second(run: Callable[[], object], frames: int) -> float:
    start = time.perf_counter()
    run()
    return frames / (time.perf_counter() - start)


def prepare_rates(raw: Path, work: Path) -> dict[str, float]:
    """Frames/s on one core of each prepare path, and MB per 1000 cached frames."""
    folders = scene_folders(raw)
    frames = sum(len(list(folder.glob("d-*.pgm"))) for folder in folders)
    rates: dict[str, float] = {}
    for hha in (False, True):
        out = work / f"raw-cache-{hha}"
        (out / "scenes").mkdir(parents=True)
        settings = NYURawCacheConfig(hha=hha)
        rates[f"nyu_raw{'_hha' if hha else ''}"] = frames_per_second(
            lambda out=out, settings=settings: [cache_scene(f, out, settings) for f in folders], frames)
        size = sum(path.stat().st_size for path in (out / "scenes").glob("*.h5"))
        rates[f"nyu_raw{'_hha' if hha else ''}_mb_per_1000"] = size / frames * 1000 / 1e6
        prepare_raw_cache(raw, out, settings, workers=1, progress=False)  # every scene is done: this writes the index
    depth = NYURawCache(prepare_raw_cache(raw, work / "probe-cache", NYURawCacheConfig(size=(480, 640), fill="telea"),
                                          workers=1, progress=False).out)[0]["depth"][0].numpy()
    rates["hha_480x640"] = frames_per_second(lambda: [encode_hha(depth, RGB_LENS.matrix) for _ in range(5)], 5)
    return rates


def write_sun_tree(raw: Path, root: Path, count: int) -> None:
    """The raw renders as SUN RGB-D kv2 frame folders at kv2's size, with allsplit.mat (every fifth frame a test frame)."""
    cache = NYURawCache(prepare_raw_cache(raw, root.parent / "sun-source", NYURawCacheConfig(size=SUN_SIZE), workers=1, progress=False).out)
    paths = []
    for i in range(count):
        item = cache[i % len(cache)]
        folder = root / "kv2" / "kinect2data" / f"{i:06d}_2014-05-26_14-23-37_260595134347_rgbf000103-resize"
        for sub in ("image", "depth"):
            (folder / sub).mkdir(parents=True)
        rgb = item["rgb"].numpy().transpose(1, 2, 0)
        cv2.imwrite(str(folder / "image" / f"{i:06d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        millimetres = np.rint(item["depth"][0].numpy() * 1000).astype(np.uint32)
        cv2.imwrite(str(folder / "depth" / f"{i:06d}.png"), (((millimetres << 3) & 0xFFFF) | (millimetres >> 13)).astype(np.uint16))
        (folder / "intrinsics.txt").write_text(" ".join(f"{v:g}" for v in SUN_K.ravel()))
        (folder / "scene.txt").write_text("office")
        paths.append(f"/n/fs/sun3d/data/SUNRGBD/kv2/kinect2data/{folder.name}")
    cells = {name: np.array([[np.array(p) for p in part]], dtype=object)
             for name, part in (("alltrain", [p for k, p in enumerate(paths) if k % 5 != 4]), ("alltest", paths[4::5]))}
    split = root.parent / "SUNRGBDtoolbox" / "traintestSUNRGBD" / "allsplit.mat"
    split.parent.mkdir(parents=True)
    scipy.io.savemat(split, cells)


def sun_rates(root: Path) -> dict[str, float]:
    source = SUNRGBD(root, split="all", labels=None)
    rates = {f"sun{'_hha' if hha else ''}": frames_per_second(lambda hha=hha: [fitted_frame(source[i], (240, 320), hha) for i in range(len(source))],
                                                               len(source)) for hha in (False, True)}
    out = prepare_sunrgbd_cache(root, root.parent / "sun-cache", labels=False, workers=1, progress=False)
    rates["sun_mb_per_1000"] = (out / "frames.h5").stat().st_size / len(source) * 1000 / 1e6
    return rates


def loader_rate(dataset: Any, size: tuple[int, int], seconds: float) -> float:
    """Samples/s of one worker: items through the training transform, in order, for about ``seconds``."""
    transform = PairedTransform(size=size, train=True)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        transform(dataset[count % len(dataset)])
        count += 1
    return count / (time.perf_counter() - start)


def tiled_cache(source: Path, out: Path, rows: int, scenes: int) -> Path:
    """A raw-layout cache of ``rows`` frames in ``scenes`` scene files, repeating the frames of the cache ``source``."""
    index = read_index(source)
    frames = [h5py.File(source / "scenes" / f"{scene['name']}.h5", "r") for scene in index["scenes"]]
    rgb = np.concatenate([file["rgb"][()] for file in frames])
    depth = np.concatenate([file["depth"][()] for file in frames])
    (out / "scenes").mkdir(parents=True)
    shutil.copy(source / "settings.json", out / "settings.json")
    per_scene, listed = math.ceil(rows / scenes), []
    for s in range(scenes):
        n = min(per_scene, rows - s * per_scene)
        take = np.arange(s * per_scene, s * per_scene + n) % len(rgb)
        name = f"office_{s + 1:04d}"
        with h5py.File(out / "scenes" / f"{name}.h5", "w") as file:
            file.create_dataset("rgb", data=rgb[take], chunks=(1, *rgb.shape[1:]))
            file.create_dataset("depth", data=depth[take], chunks=(1, *depth.shape[1:]))
        listed.append({"name": name, "frames": int(n)})
    (out / "index.json").write_text(json.dumps({"scenes": listed, "skipped": {}, "frames": rows}))
    return out


def scale_run(cache: Path, steps: int, work: Path) -> dict[str, float]:
    """The default CRD experiment trained on ``cache``: ms per step, loading included, and peak resident MiB."""
    config = apply_overrides(load_config(Path("configs/crd_depth.yaml")), [
        "data.name=nyu-raw", f"data.options.path={cache}", "data.options.exclude_test_scenes=false",
        f"run.dir={work / 'run'}", "run.wandb=disabled", "run.progress=false",
    ])
    trainer = Trainer(config)
    trainer.student.train()
    trainer.objective.train()
    times = []
    batches = iter(trainer._loader(1))
    for _ in range(steps):
        start = time.perf_counter()
        trainer._step(next(batches))
        times.append(time.perf_counter() - start)
    return {"rows": float(len(trainer.dataset)), "step_ms": 1000 * statistics.median(times[2:]),  # type: ignore[arg-type]
            "peak_mib": peak_mib(), "batch": float(config.schedule.batch_size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and a smaller bank (about a minute)")
    parser.add_argument("--rows", type=int, default=None, help="memory-bank rows of the CRD run (default 100000; --quick 20000)")
    parser.add_argument("--step-rate", type=float, default=README_STEP_RATE,
                        help=f"samples/s the loader must feed (default {README_STEP_RATE:g}, the H200 step rate of docs/training.md)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = args.rows or (20_000 if args.quick else 100_000)
    scenes, per_scene = (2, 3) if args.quick else (4, 10)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        raw = generate_raw_scenes(work / "raw", seed=0, scenes=scenes, frames=per_scene, workers=1, progress=False)
        print(f"prepare (one core, {scenes * per_scene} frames of 480 x 640):")
        rates = prepare_rates(raw, work)
        write_sun_tree(raw, work / "SUNRGBD", scenes * per_scene)
        rates.update(sun_rates(work / "SUNRGBD"))
        for key in ("nyu_raw", "nyu_raw_hha", "hha_480x640", "sun", "sun_hha"):
            print(f"  {key:<12} {rates[key]:6.1f} frames/s")
        print(f"  cache at 240x320: NYU raw {rates['nyu_raw_mb_per_1000']:.0f} MB per 1000 frames "
              f"({rates['nyu_raw_hha_mb_per_1000']:.0f} with HHA), SUN RGB-D {rates['sun_mb_per_1000']:.0f}")
        print(f"  NYU raw, 407k frames on 16 cores: {407_000 / (16 * rates['nyu_raw']) / 3600:.1f} h "
              f"({407_000 / (16 * rates['nyu_raw_hha']) / 3600:.1f} h with HHA)")

        seconds = 3.0 if args.quick else 10.0
        sources = {"nyu-raw cache": NYURawCache(work / "raw-cache-False"), "sunrgbd cache": SUNRGBDCache(work / "sun-cache", "all")}
        print(f"loader (one worker, training transform; workers to feed {args.step_rate:g} samples/s):")
        for name, dataset in sources.items():
            for size in ((96, 128), (224, 224)):
                rate = loader_rate(dataset, size, seconds)
                print(f"  {name:<14} {size[0]}x{size[1]:<4} {rate:7.1f} samples/s  -> {math.ceil(args.step_rate / rate)} workers")

        small = prepare_raw_cache(raw, work / "small-cache", NYURawCacheConfig(size=(96, 128)), workers=1, progress=False).out
        big = tiled_cache(small, work / "big-cache", rows, scenes=max(1, rows // 1000))
        result = scale_run(big, 12 if args.quick else 30, work)
        print(f"scale: CRD (default experiment, batch {result['batch']:.0f}) on a raw-layout cache of {result['rows']:.0f} frames "
              f"at 96x128: {result['step_ms']:.0f} ms per step with loading, peak resident memory {result['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
