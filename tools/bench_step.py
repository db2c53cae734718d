"""The default training step on one device: throughput per precision and memory layout, CRD's share, peak memory.

    python tools/bench_step.py                       # on CUDA when there is one, else the CPU
    python tools/bench_step.py --device cpu --steps 2 --batch-size 4   # a quick check that it runs

Builds the trainer of the default experiment (``configs/crd_depth.yaml``: depth student, frozen
EfficientNet-Lite0 teacher, CRD) and times its real training step (teacher forward, student
forward and backward, CRD with its memory-bank update, optimiser step) on one fixed batch, for
each setting of ``run.amp`` (bf16 autocast, or fp16 where bf16 is unsupported) and
``run.channels_last``. Both apply on CUDA only, so on the CPU there is one row. Printed, all from
this one run: milliseconds per step (median), samples per second, the ratio to the fp32
contiguous step, the CRD objective's forward and backward as a share of the step, and the
peak memory (CUDA: allocated by PyTorch; CPU: the process's resident peak).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from crossmodal.config import apply_overrides, load_config
from crossmodal.engine.trainer import Trainer

from measure import median_seconds, peak_mib


def measure(overrides: list[str], warmup: int, repeats: int) -> dict[str, float]:
    """Step time, CRD's forward+backward time and peak memory for the default experiment with ``overrides``."""
    with tempfile.TemporaryDirectory() as folder:
        config = apply_overrides(load_config(Path("configs/crd_depth.yaml")), [
            *overrides, f"run.dir={Path(folder) / 'run'}", "run.wandb=disabled", "run.progress=false",
        ])
        trainer = Trainer(config)
        device = trainer.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        batch = next(iter(trainer._loader(1)))
        trainer.student.train()
        trainer.objective.train()
        step_ms = 1000 * median_seconds(lambda: trainer._step(batch), repeats, device, warmup)

        on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        teacher_outs = trainer._teacher_outputs(on_device)
        with trainer._autocast():
            student_out = trainer.student(on_device["target"].contiguous(memory_format=trainer._memory_format))
        features = student_out.apply(lambda tensor: tensor.detach().float().requires_grad_())

        def objective_step() -> None:
            sum(trainer.objective(features, teacher_outs, on_device).values()).backward()

        objective_ms = 1000 * median_seconds(objective_step, repeats, device, warmup)
        return {"step_ms": step_ms, "objective_ms": objective_ms, "peak_mib": peak_mib(device),
                "batch": float(config.schedule.batch_size), "device": str(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N (default auto)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting, after as many warm-up steps (default 20)")
    parser.add_argument("--batch-size", type=int, help="default: the experiment's")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. data.options.num=40")
    args = parser.parse_args()
    common = [f"run.device={args.device}", *args.overrides] + ([f"schedule.batch_size={args.batch_size}"] if args.batch_size else [])
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    settings = [(amp, layout) for amp in (False, True) for layout in (False, True)] if cuda else [(False, False)]
    if cuda:
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        print(f"device: CPU ({torch.get_num_threads()} torch threads), torch {torch.__version__}")
    results = {}
    for amp, layout in settings:
        results[amp, layout] = measure([*common, f"run.amp={str(amp).lower()}", f"run.channels_last={str(layout).lower()}"],
                                       warmup=args.steps, repeats=args.steps)
    base = results[False, False]["step_ms"]
    print(f"default experiment's training step, batch {int(results[False, False]['batch'])}, median of {args.steps}:")
    for (amp, layout), result in results.items():
        label = f"{'AMP' if amp else 'fp32'}, {'channels-last' if layout else 'contiguous'}"
        print(f"  {label:<20} {result['step_ms']:8.2f} ms  {1000 * result['batch'] / result['step_ms']:8.1f} samples/s  "
              f"{base / result['step_ms']:4.2f}x fp32  CRD {100 * result['objective_ms'] / result['step_ms']:4.1f} % of the step  "
              f"peak {result['peak_mib']:8.1f} MiB")


if __name__ == "__main__":
    main()
