"""The CUDA paths: the same CRD step as on the CPU, a short AMP + channels-last run, the teacher cache on the device.

Skipped without a CUDA device; ``tools/gpu_check.sh`` runs them on a GPU machine.
"""
from __future__ import annotations

import copy

import pytest
import torch

from crossmodal.distill import ObjectiveContext, build_objective
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.trainer import Trainer
from crossmodal.experiments.student_loading import load_trained_student
from crossmodal.models.features import Features
from tests.test_engine import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (tools/gpu_check.sh runs these on a GPU machine)")
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.mark.parametrize("negatives, placement", [("bank", "device"), ("bank", "host"), ("queue", "device")])
def test_a_crd_step_on_cuda_equals_the_cpu_step(negatives, placement):
    torch.manual_seed(0)
    ctx = ObjectiveContext(student_dim=16, teacher_dims=[24], num_samples=50)
    on_cpu = build_objective("crd", ctx, {"feat_dim": 8, "num_negatives": 20, "sampling": "per-sample", "negatives": negatives,
                                          "queue_size": 20, "bank_placement": placement})
    on_cuda = copy.deepcopy(on_cpu).to(CUDA)
    if placement == "host":
        assert on_cuda.terms[0].student_memory.rows.device.type == "cpu", "a host bank stays in host memory"
    negative_rows = torch.randint(0, 50, (6, 20))
    for objective in (on_cpu, on_cuda):
        objective.draw_negatives = lambda index, rows=negative_rows: rows.to(index.device)
    student, teacher, index = torch.randn(6, 16, requires_grad=True), torch.randn(6, 24), torch.arange(6) * 7
    cpu_loss = on_cpu(Features(pooled=student), [Features(pooled=teacher)], {"index": index})["crd"]
    student_cuda = student.detach().to(CUDA).requires_grad_()
    cuda_loss = on_cuda(Features(pooled=student_cuda), [Features(pooled=teacher.to(CUDA))], {"index": index.to(CUDA)})["crd"]
    (cpu_grad,) = torch.autograd.grad(cpu_loss, student)
    (cuda_grad,) = torch.autograd.grad(cuda_loss, student_cuda)
    assert cuda_loss.item() == pytest.approx(cpu_loss.item(), rel=1e-4)
    torch.testing.assert_close(cuda_grad.cpu(), cpu_grad, rtol=1e-3, atol=1e-5)
    for key, value in on_cpu.state_dict().items():
        torch.testing.assert_close(on_cuda.state_dict()[key].cpu(), value, rtol=1e-4, atol=1e-5, msg=key)


def test_a_short_amp_channels_last_run_trains_and_its_student_loads_on_the_cpu(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, "run.device=cuda", "run.amp=true", "run.channels_last=true", "schedule.epochs=1",
                         f"teacher.cache_dir={tmp_path / 'cache'}", "teacher.cache=true")
    run = Trainer(config).fit()
    state = load_checkpoint(run)
    assert state["finished"] and state["objective"]["terms.0.teacher_memory.rows"].dtype == torch.float32
    student = load_trained_student(run).model
    assert next(student.parameters()).device.type == "cpu"
    assert torch.isfinite(student(torch.zeros(2, 1, 32, 48)).pooled).all()
