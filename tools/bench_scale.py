"""Does CRD scale with the data? Step time and peak memory against the bank size M, and the cost of keeping 2 ranks in step.

    python tools/bench_scale.py --quick        # M up to 10^6, few repeats: under 5 minutes on 2 CPU cores
    python tools/bench_scale.py                # more repeats
    python tools/bench_scale.py --quick --device cuda   # part 1 and 2 on a GPU (tools/gpu_check.sh)

Printed, each from one run of this script:

1. The CRD objective's step (embed, score N = 4096 negatives, loss, backward, memory-bank
   update; ``shared`` sampling, B = 64, 128-d embeddings, a 1280-d teacher) at M = 10^4, 10^5 and
   10^6 bank rows, each in its own process so its peak resident memory is its own: the ratio
   of each step to the M = 10^4 one (target: at most 1.2 at M = 10^6) and the memory; then the
   same at M = 10^6 with bfloat16 banks and with host-placed banks (``bank_placement: host``; on a
   CPU this measures the gather of the distinct rows read, not a transfer), the queue variant (``negatives: queue``, K = N keys,
   no per-sample state, so no M), and ``per-sample`` sampling (B x N draws) at M = 10^4 and 10^6.
2. What half-precision banks do to the loss: 50 training steps of the objective at M = 10^4
   from one seed with float32, bfloat16 and float16 banks; the largest relative gap of the
   loss to the float32 run's.
3. The per-step cost of synchronising two ranks: two gloo processes each run the same CRD step
   on their half of a batch (the memory banks gather the global batch, Z sums every rank's
   scores, BatchNorm statistics are averaged), against one process running the half batch alone;
   the difference is set against the default depth student's forward and backward step
   (ResNet-18 width 32, 96 x 128, batch 32; target: at most 5 %).

With ``--device cuda`` parts 1 and 2 run on the GPU, in this one process: peak memory is what
PyTorch allocated on the device for each setting, and host-placed banks pay the real copy of
the rows read through pinned memory. Part 3 needs a GPU per rank (NCCL), so it is left out.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from measure import CPU, median_seconds, peak_mib

TEACHER_DIM = 1280
BATCH = 64
NEGATIVES = 4096
"""Fewer than the smallest bank's rows, so every M draws the same number (CRD caps N at M - 1)."""
BANK_ROWS = (10**4, 10**5, 10**6)


VARIANTS = {
    "bank": {},
    "bank-bfloat16": {"bank_dtype": "bfloat16"},
    "bank-float16": {"bank_dtype": "float16"},
    "bank-host": {"bank_placement": "host"},
    "queue": {"negatives": "queue", "queue_size": NEGATIVES},
    "per-sample": {"sampling": "per-sample"},
}


def crd_step(num_samples: int, batch: int, variant: str = "bank", learn: bool = False, device: torch.device = CPU) -> Callable[[], torch.Tensor]:
    """One step of the CRD objective on fixed random features on ``device`` (``learn``: with an SGD step of its heads); returns the loss."""
    from crossmodal.distill import ObjectiveContext, build_objective
    from crossmodal.models.features import Features

    ctx = ObjectiveContext(student_dim=256, teacher_dims=[TEACHER_DIM], num_samples=num_samples)
    objective = build_objective("crd", ctx, {"num_negatives": NEGATIVES, **VARIANTS[variant]}).train().to(device)
    student = torch.randn(batch, 256, device=device, requires_grad=True)
    teacher = Features(pooled=torch.randn(batch, TEACHER_DIM, device=device))
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.5) if learn else None
    generator = torch.Generator().manual_seed(0)

    def step() -> float:
        index = torch.randint(0, num_samples, (batch,), generator=generator).to(device)
        objective.zero_grad(set_to_none=True)
        student.grad = None
        loss = objective(Features(pooled=student), [teacher], {"index": index})["crd"]
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        return loss.detach()

    return step


def measure_bank(num_samples: int, repeats: int, variant: str, device: torch.device = CPU) -> dict[str, float]:
    """The CRD step's median time and peak memory: on the CPU, in a fresh process, its peak resident memory;
    on CUDA, in this process, what PyTorch allocated on the device for this setting alone."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step = crd_step(num_samples, BATCH, variant, device=device)
    seconds = median_seconds(step, repeats, device)
    return {"step_ms": 1000 * seconds, "peak_mib": peak_mib(device)}


def precision_gaps(num_samples: int, steps: int, device: torch.device = CPU) -> dict[str, float]:
    """Largest |loss - float32 loss| / float32 loss over ``steps`` steps from one seed, per bank precision."""
    torch.set_num_threads(1)
    losses = {}
    for variant in ("bank", "bank-bfloat16", "bank-float16"):
        torch.manual_seed(0)
        step = crd_step(num_samples, BATCH, variant, learn=True, device=device)
        losses[variant] = [float(step()) for _ in range(steps)]
    return {variant: max(abs(a - b) / abs(b) for a, b in zip(losses[variant], losses["bank"])) for variant in losses if variant != "bank"}


def student_step_ms(repeats: int) -> float:
    from crossmodal.models.student_registry import build_student

    torch.set_num_threads(1)
    student = build_student("resnet18", in_channels=1, width=32).train()
    depth = torch.randn(32, 1, 96, 128)

    def step() -> None:
        student.zero_grad(set_to_none=True)
        student(depth).pooled.square().mean().backward()

    return 1000 * median_seconds(step, repeats)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_ranks(rank: int, world: int, port: int, num_samples: int, repeats: int) -> dict[str, float]:
    """The CRD step on half a batch in each of ``world`` processes (world 1: one process alone)."""
    import torch.distributed as dist

    from crossmodal.distributed import average_buffers

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    step = crd_step(num_samples, BATCH // 2)
    norms = torch.nn.BatchNorm2d(64)  # what average_buffers also keeps in step: a student's BatchNorm statistics

    def synchronised_step() -> None:
        step()
        average_buffers(norms)

    seconds = median_seconds(synchronised_step, repeats)
    if world > 1:
        dist.destroy_process_group()
    return {"step_ms": 1000 * seconds}


def run_child(arguments: list[str]) -> dict[str, float]:
    result = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats: under 5 minutes on 2 CPU cores")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the objective runs (default cpu)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 5 if args.quick else 20
    if args.child:
        kind, *values = args.child
        if kind == "bank":
            print(json.dumps(measure_bank(int(values[0]), int(values[1]), values[2])))
        elif kind == "precision":
            print(json.dumps(precision_gaps(int(values[0]), int(values[1]))))
        else:
            rank, world, port, rows, child_repeats = map(int, values)
            print(json.dumps(measure_ranks(rank, world, port, rows, child_repeats)))
        return

    def bank(rows: int, variant: str) -> dict[str, float]:
        if device.type == "cuda":
            return measure_bank(rows, repeats, variant, device)
        return run_child(["--child", "bank", str(rows), str(repeats), variant])

    start = time.perf_counter()
    where = f"on {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "1 torch thread"
    print(f"CRD step: B = {BATCH}, N = {NEGATIVES}, shared sampling, {where}, median of {repeats}")
    banks = {rows: bank(rows, "bank") for rows in BANK_ROWS}
    base = banks[BANK_ROWS[0]]["step_ms"]
    base_memory = banks[BANK_ROWS[0]]["peak_mib"]

    def show(label: str, result: dict[str, float]) -> None:
        print(f"  {label:<24}: {result['step_ms']:8.2f} ms  ({result['step_ms'] / base:4.2f} x M = {BANK_ROWS[0]:,})  "
              f"peak memory {result['peak_mib']:7.1f} MiB (+{result['peak_mib'] - base_memory:6.1f})")

    for rows, result in banks.items():
        show(f"M = {rows:,}", result)
    ratio = banks[BANK_ROWS[-1]]["step_ms"] / base
    print(f"  target: step at M = {BANK_ROWS[-1]:,} <= 1.2 x step at M = {BANK_ROWS[0]:,}: {ratio:.2f} -> {'met' if ratio <= 1.2 else 'missed'}")
    show(f"M = {BANK_ROWS[-1]:,}, bfloat16 banks", bank(BANK_ROWS[-1], "bank-bfloat16"))
    show(f"M = {BANK_ROWS[-1]:,}, host banks", bank(BANK_ROWS[-1], "bank-host"))
    show(f"queue of {NEGATIVES:,} keys", bank(BANK_ROWS[-1], "queue"))
    per_sample = {rows: bank(rows, "per-sample") for rows in (BANK_ROWS[0], BANK_ROWS[-1])}
    for rows, result in per_sample.items():
        show(f"M = {rows:,}, per-sample", result)
    print(f"  per-sample sampling: step at M = {BANK_ROWS[-1]:,} = "
          f"{per_sample[BANK_ROWS[-1]]['step_ms'] / per_sample[BANK_ROWS[0]]['step_ms']:.2f} x its step at M = {BANK_ROWS[0]:,}")
    gaps = precision_gaps(BANK_ROWS[0], 50, device) if device.type == "cuda" else run_child(["--child", "precision", str(BANK_ROWS[0]), "50"])
    print(f"\nHalf-precision banks, 50 steps at M = {BANK_ROWS[0]:,} from one seed: largest relative loss gap to float32: "
          + ", ".join(f"{variant.split('-')[1]} {100 * gap:.3f} %" for variant, gap in gaps.items()))
    if device.type == "cuda":
        print(f"\nRank synchronisation needs a GPU per rank (NCCL): not measured here.\n{time.perf_counter() - start:.0f} s")
        return

    rows = BANK_ROWS[1]
    alone = run_child(["--child", "ranks", "0", "1", "0", str(rows), str(repeats)])["step_ms"]
    port = _free_port()
    processes = [subprocess.Popen([sys.executable, __file__, "--child", "ranks", str(rank), "2", str(port), str(rows), str(repeats)],
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for rank in range(2)]
    ranked = [json.loads(process.communicate()[0].strip().splitlines()[-1])["step_ms"] for process in processes]
    student = student_step_ms(max(3, repeats // 2))
    overhead = max(ranked) - alone
    print(f"\n2 gloo ranks, M = {rows:,}, B = {BATCH // 2} per rank: CRD step {max(ranked):.2f} ms against {alone:.2f} ms alone "
          f"(synchronisation {overhead:.2f} ms)")
    print(f"  default depth student step (ResNet-18 w32, 96x128, batch 32): {student:.1f} ms; "
          f"synchronisation = {100 * overhead / student:.1f} % of it (target <= 5 %: {'met' if overhead <= 0.05 * student else 'missed'})")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
