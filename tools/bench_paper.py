"""Does the accelerator wait? Each paper-scale experiment file trained end to end for a few hundred steps on data of its
size, against the rate of its own training step.

    python tools/bench_paper.py                 # every configs/paper/*.yaml, 200 steps each (a GPU's job: part 5 of tools/gpu_check.sh)
    python tools/bench_paper.py --quick         # a check that it runs on a CPU: tiny frames, a narrow student, 4 steps

Each file trains as written (its teacher, student, objective, batch and input size; the loader and augmentation
defaults of the device), on the embedded stand-in for its data at the stored size a real cache has: the rooms at
240 x 320 for the RGB-D files, the audio-visual events with 256 x 256 frames for the video file. Printed per file, all
from this one run: the median epoch's end-to-end samples/s (the first epoch, which starts the workers, left out), the
samples/s of the same training step on one batch already on the device, their ratio, the share of each epoch the
step waited for data, and the mean GPU utilisation while training (nvidia-smi, sampled every 200 ms).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
import torchvision

from crossmodal.config import TrainConfig, apply_overrides, load_config
from crossmodal.engine.trainer import Trainer
from crossmodal.errors import InputError
from crossmodal.models.teachers import build_teacher

from measure import median_seconds

PAPER_FILES = sorted(Path("configs/paper").glob("*.yaml"))
STAND_INS = {
    "depth": ["data.name=synthetic-rooms", "data.options={}", "data.options.size=[240, 320]", "data.options.split=all"],
    "audio": ["data.name=synthetic-av", "data.options={}", "data.options.size=[256, 256]", "data.options.frame_size=[256, 256]",
              "data.options.seconds=4"],
}
"""The embedded data each target's files train on here, at the stored size of a real cache."""
VIDEO_PAIRS = 6
"""Frame/sound pairs a 4-second stand-in video gives at the default 2 per second and 1-second windows (about)."""
QUICK = ["student.width=8", "schedule.batch_size=4", "data.input_size=[48, 48]", "objective.options.num_negatives=16",
         "run.device=cpu"]


class GPUUtilisation:
    """Mean utilisation of GPU 0 between start and stop, from nvidia-smi (None where it cannot be run)."""

    def __enter__(self) -> GPUUtilisation:
        try:
            self._process: subprocess.Popen[str] | None = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200", "-i", "0"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self._process = None
        self.mean: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        out, _ = self._process.communicate()
        samples = [float(line) for line in out.split() if line.strip().replace(".", "", 1).isdigit()]
        self.mean = statistics.mean(samples) if samples else None


def teacher_stand_ins(specs: list[str], work: Path) -> list[str]:
    """The teacher specs, each whose ImageNet weights are not on this machine replaced by its architecture with random
    weights (a GPU machine often has no internet; the step costs the same)."""
    usable = []
    for spec in specs:
        try:
            build_teacher(spec)
            usable.append(spec)
        except InputError:
            weights = work / f"{spec}-random.pth"
            torch.save(torchvision.models.get_model(spec).state_dict(), weights)
            print(f"teacher {spec}: no ImageNet weights here, random weights stand in (same cost)")
            usable.append(f"{spec}:{weights}")
    return usable


def stand_in_config(path: Path, frames: int, steps: int, run_dir: Path, quick: bool) -> TrainConfig:
    """The file's config on the embedded stand-in data, with enough epochs for ``steps`` steps."""
    config = load_config(path)
    config.teacher.specs = teacher_stand_ins(config.teacher.specs, run_dir.parent)
    videos = max(8, frames // VIDEO_PAIRS)
    count = frames if config.data.target == "depth" else videos
    overrides = [*STAND_INS[config.data.target], f"data.options.num={count}", *(QUICK if quick else [])]
    config = apply_overrides(config, overrides)
    per_epoch = max(1, (frames if config.data.target == "depth" else videos * VIDEO_PAIRS) // config.schedule.batch_size)
    epochs = max(2, math.ceil(steps / per_epoch) + 1)  # the first epoch starts the workers and is left out
    return apply_overrides(config, [f"schedule.epochs={epochs}", f"run.dir={run_dir}", "run.wandb=disabled", "run.progress=false"])


def measure(path: Path, frames: int, steps: int, work: Path, quick: bool) -> dict[str, Any]:
    config = stand_in_config(path, frames, steps, work / path.stem, quick)
    trainer = Trainer(config)
    with GPUUtilisation() as utilisation:
        trainer.fit()
    epochs = [json.loads(line) for line in (work / path.stem / "metrics.jsonl").read_text().splitlines() if '"epoch_time_s"' in line]
    timed = epochs[1:] or epochs
    batch = next(iter(trainer._loader(1)))
    step_s = median_seconds(lambda: trainer._step(batch), repeats=5 if quick else 30, device=trainer.device, warmup=2)
    return {
        "device": trainer.machine, "workers": trainer.loader_workers, "augment_on_device": trainer.batch_augment is not None,
        "steps": sum(1 for _ in timed) * trainer.steps_per_epoch,
        "end_to_end": statistics.median(record["samples_per_s"] for record in timed),
        "step_alone": config.schedule.batch_size / step_s,
        "waiting": statistics.median(record["data_wait_s"] / record["epoch_time_s"] for record in timed),
        "gpu_utilisation": utilisation.mean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=PAPER_FILES, help="experiment files (default: configs/paper/*.yaml)")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per file (default 200)")
    parser.add_argument("--frames", type=int, default=2048, help="stand-in frames (default 2048; rows of the memory bank)")
    parser.add_argument("--quick", action="store_true", help="tiny frames, a narrow student, 4 steps on the CPU: a check that it runs")
    args = parser.parse_args()
    steps, frames = (4, 16) if args.quick else (args.steps, args.frames)
    print(f"{'file':<16} {'end to end':>11} {'step alone':>11} {'ratio':>6} {'waiting':>8} {'GPU util.':>9}  (samples/s; {steps} steps)")
    with tempfile.TemporaryDirectory() as folder:
        for path in args.files:
            result = measure(path, frames, steps, Path(folder), args.quick)
            utilisation = "n/a" if result["gpu_utilisation"] is None else f"{result['gpu_utilisation']:.0f}%"
            print(f"{path.stem:<16} {result['end_to_end']:11.1f} {result['step_alone']:11.1f} "
                  f"{result['end_to_end'] / result['step_alone']:5.0%} {result['waiting']:8.0%} {utilisation:>9}  "
                  f"({result['device']}; {result['workers']} workers, augmentation on the "
                  f"{'device' if result['augment_on_device'] else 'host'})", flush=True)
    if torch.cuda.is_available():
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
