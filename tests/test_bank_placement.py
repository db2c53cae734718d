"""CRD memory banks kept in host memory (``bank_placement: host``): the same loss, gradients and bank updates as on the device."""
from __future__ import annotations

import copy

import pytest
import torch

from crossmodal.distill import ObjectiveContext, build_objective
from crossmodal.errors import InputError
from crossmodal.models.features import Features

CTX = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=40)


def twins(sampling: str):
    """A device-bank CRD and a host-bank CRD with the same weights and rows."""
    torch.manual_seed(0)
    on_device = build_objective("crd", CTX, {"feat_dim": 4, "num_negatives": 15, "sampling": sampling, "z_mode": "ema", "momentum": 0.3})
    on_host = build_objective("crd", CTX, {"feat_dim": 4, "num_negatives": 15, "sampling": sampling, "z_mode": "ema", "momentum": 0.3,
                                           "bank_placement": "host"})
    on_host.load_state_dict(on_device.state_dict())
    return on_device, on_host


def train_steps(objective, steps: int = 3):
    """Loss and student gradient of each of ``steps`` training steps, on fixed batches (repeated ids included) and negatives."""
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(7)
    results = []
    for _ in range(steps):
        student = torch.randn(5, 6, generator=generator, requires_grad=True)
        teacher = torch.randn(5, 9, generator=generator)
        index = torch.tensor([3, 17, 3, 39, 0])
        loss = objective(Features(pooled=student), [Features(pooled=teacher)], {"index": index})["crd"]
        (gradient,) = torch.autograd.grad(loss, student)
        results.append((loss.detach(), gradient))
    return results


@pytest.mark.parametrize("sampling", ["shared", "per-sample"])
def test_a_host_bank_trains_like_a_device_bank(sampling):
    on_device, on_host = twins(sampling)
    for (device_loss, device_grad), (host_loss, host_grad) in zip(train_steps(on_device), train_steps(on_host)):
        torch.testing.assert_close(host_loss, device_loss, rtol=1e-6, atol=0)
        torch.testing.assert_close(host_grad, device_grad, rtol=1e-5, atol=1e-7)
    for key, value in on_device.state_dict().items():
        torch.testing.assert_close(on_host.state_dict()[key], value, rtol=1e-6, atol=1e-7, msg=key)
    assert not torch.equal(on_host.state_dict()["terms.0.student_memory.rows"], twins(sampling)[1].state_dict()["terms.0.student_memory.rows"])


def test_moving_the_objective_leaves_host_banks_where_they_are_and_moves_the_rest():
    on_device, on_host = twins("shared")
    on_device.to(torch.float64), on_host.to(torch.float64)  # a move every device-bank buffer follows
    assert on_device.terms[0].student_memory.rows.dtype == torch.float64
    assert on_host.terms[0].student_memory.rows.dtype == torch.float32
    assert on_host.terms[0].teacher_memory.rows.dtype == torch.float32
    assert on_host.terms[0].embed_student.linear.weight.dtype == torch.float64
    assert on_host.terms[0].student_anchor_z.log_z.dtype == torch.float64
    moved = copy.deepcopy(on_host)
    assert moved.terms[0].student_memory.on_host


def test_bank_placement_options_are_checked():
    with pytest.raises(InputError, match="option bank_placement='gpu' is not one of: device, host"):
        build_objective("crd", CTX, {"bank_placement": "gpu"})
    with pytest.raises(InputError, match="bank_placement=host applies to negatives=bank"):
        build_objective("crd", CTX, {"bank_placement": "host", "negatives": "queue"})
