"""What one CRD step costs next to the student it trains, for both negative-sampling modes.

    python tools/bench_crd.py                          # CPU, or the GPU when there is one
    python tools/bench_crd.py --device cuda --repeats 50 --amp
    python tools/bench_crd.py --threads 1              # a busy, shared CPU

On a CPU that other jobs share, several torch threads spend the CRD step's many small ops
waiting for each other; one thread gives steadier numbers.

Timed, each as the median of several runs after two warm-up runs:

- the student's forward + backward on a depth batch: resnet18 at 1 x 120 x 160, width 32 (the
  reference for the ratios), at 1 x 96 x 128, width 32 (configs/depth_base.yaml) and at
  1 x 240 x 320, width 64 (the full-size network);
- the CRD step on pooled features: embed, score, loss, backward, memory-bank update, for
  ``shared`` and ``per-sample`` sampling at each N in --negatives;
- a plain gather of B x N bank rows (``index_select``), the floor for any method that
  materialises each anchor's negatives.

Targets: at N = 16384, ``shared`` costs at most 5 % of the student step, and ``per-sample``
no more than the plain gather.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from crossmodal.distill import ObjectiveContext, build_objective
from crossmodal.models.features import Features
from crossmodal.models.student_registry import build_student

from measure import median_seconds

TEACHER_DIM = 1280  # EfficientNet-Lite0's pooled feature size
STUDENT_SETTINGS = {"120x160 w32": ((120, 160), 32), "96x128 w32": ((96, 128), 32), "240x320 w64": ((240, 320), 64)}
DEFAULT_STUDENT = "120x160 w32"


def student_step(
    size: tuple[int, int], width: int, batch_size: int, device: torch.device, amp: bool
) -> Callable[[], None]:
    student = build_student("resnet18", in_channels=1, width=width).to(device).train()
    depth = torch.randn(batch_size, 1, *size, device=device)

    def step() -> None:
        student.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pooled = student(depth).pooled
        pooled.float().square().mean().backward()

    return step


def crd_step(
    sampling: str, num_negatives: int, student_dim: int, num_samples: int, batch_size: int, device: torch.device
) -> Callable[[], None]:
    ctx = ObjectiveContext(student_dim=student_dim, teacher_dims=[TEACHER_DIM], num_samples=num_samples)
    objective = build_objective("crd", ctx, {"sampling": sampling, "num_negatives": num_negatives}).to(device).train()
    student = torch.randn(batch_size, student_dim, device=device, requires_grad=True)
    teacher = Features(pooled=torch.randn(batch_size, TEACHER_DIM, device=device))

    def step() -> None:
        index = torch.randperm(num_samples, device=device)[:batch_size]
        objective.zero_grad(set_to_none=True)
        student.grad = None
        loss = objective(Features(pooled=student), [teacher], {"index": index})["crd"]
        loss.backward()

    return step


def gather_step(num_negatives: int, num_samples: int, batch_size: int, device: torch.device) -> Callable[[], None]:
    bank = torch.randn(num_samples, 128, device=device)

    def step() -> None:
        rows = torch.randint(0, num_samples, (batch_size * num_negatives,), device=device)
        bank.index_select(0, rows)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-samples", type=int, default=20000, help="memory-bank rows M (at least N + batch size)")
    parser.add_argument("--negatives", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each CRD step and gather")
    parser.add_argument("--student-repeats", type=int, default=3, help="timed runs of each student step")
    parser.add_argument("--amp", action="store_true", help="run the student under bfloat16 autocast")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    print(
        f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch_size}, "
        f"M = {args.num_samples}, student amp {args.amp}"
    )
    student_ms = {}
    for label, (size, width) in STUDENT_SETTINGS.items():
        step = student_step(size, width, args.batch_size, device, args.amp)
        student_ms[label] = 1000 * median_seconds(step, args.student_repeats, device)
        print(f"student resnet18 {label}: forward + backward {student_ms[label]:9.2f} ms")
    student_dim = build_student("resnet18", width=STUDENT_SETTINGS[DEFAULT_STUDENT][1]).feature_dim

    for num_negatives in args.negatives:
        gather = gather_step(num_negatives, args.num_samples, args.batch_size, device)
        gather_ms = 1000 * median_seconds(gather, args.repeats, device)
        print(f"\nN = {num_negatives}: plain gather of B x N bank rows {gather_ms:9.2f} ms")
        crd_ms = {}
        for sampling in ("shared", "per-sample"):
            step = crd_step(sampling, num_negatives, student_dim, args.num_samples, args.batch_size, device)
            crd_ms[sampling] = 1000 * median_seconds(step, args.repeats, device)
            ratios = ", ".join(f"{100 * crd_ms[sampling] / ms:5.1f} % of {label}" for label, ms in student_ms.items())
            print(f"  crd {sampling:10s} {crd_ms[sampling]:9.2f} ms = {crd_ms[sampling] / gather_ms:5.2f} x gather; {ratios}")
        shared_share = crd_ms["shared"] / student_ms[DEFAULT_STUDENT]
        print(
            f"  targets: shared <= 5 % of student {DEFAULT_STUDENT}: {'met' if shared_share <= 0.05 else 'missed'}; "
            f"per-sample <= gather: {'met' if crd_ms['per-sample'] <= gather_ms else 'missed'}"
        )

if __name__ == "__main__":
    main()
