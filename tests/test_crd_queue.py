"""CRD with a queue of momentum keys as negatives (``negatives: queue``): loss, gradients and state against hand computations."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crossmodal.distill import ObjectiveContext, build_objective
from crossmodal.distill.queue import NegativeQueue
from crossmodal.errors import InputError
from crossmodal.models.features import Features

TAU = 0.07
KEY_MOMENTUM = 0.8


def queue_crd(**options):
    """M=6 samples, a queue of 4 keys of dim 3, raw embedding inputs (no BatchNorm), two anchors."""
    torch.manual_seed(0)
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6)
    objective = build_objective("crd", ctx, {
        "negatives": "queue", "queue_size": 4, "key_momentum": KEY_MOMENTUM, "feat_dim": 3, "embed_inputs": "raw", **options,
    })
    term = objective.terms[0]
    with torch.no_grad():  # key heads away from the heads, so the momentum step shows
        for key_head in (term.key_student, term.key_teacher):
            for parameter in key_head.parameters():
                parameter.add_(torch.randn_like(parameter))
    generator = torch.Generator().manual_seed(1)
    student = torch.randn(2, 5, generator=generator, dtype=torch.float64).requires_grad_()
    teacher = torch.randn(2, 7, generator=generator)
    return objective, term, student, teacher


def hand_head(weight, bias, features):
    raw = features.double() @ weight.double().T + bias.double()
    return raw / raw.norm(dim=1, keepdim=True)


def blended(key_head, head):
    """The key head's (weight, bias) after one momentum step towards the head."""
    return [KEY_MOMENTUM * k.detach().double() + (1 - KEY_MOMENTUM) * h.detach().double()
            for k, h in zip(key_head.parameters(), head.parameters())]


def hand_nce(anchor, key, queue, log_z):
    """-log h(pos) - sum_k log(1 - h(neg_k)) with every queued key a negative: N = M = K, noise prior 1."""
    def critic(score):
        p = torch.exp(score / TAU) / math.exp(log_z)
        return p / (p + 1.0)

    positive = (anchor * key).sum(1)
    negative = anchor @ queue.T
    return (-torch.log(critic(positive)) - torch.log(1 - critic(negative)).sum(1)).mean()


def hand_infonce(anchor, key, queue):
    positive = torch.exp((anchor * key).sum(1) / TAU)
    negative = torch.exp(anchor @ queue.T / TAU).sum(1)
    return (-torch.log(positive / (positive + negative))).mean()


def hand_loss(term, student, teacher, critic: str, log_zs=(None, None)):
    """The queue CRD loss (beta 1) from plain formulas in float64, as a function of the student features."""
    u = hand_head(term.embed_student.linear.weight, term.embed_student.linear.bias, student)
    v = hand_head(term.embed_teacher.linear.weight, term.embed_teacher.linear.bias, teacher)
    student_key = hand_head(*blended(term.key_student.linear, term.embed_student.linear), student.detach())
    teacher_key = hand_head(*blended(term.key_teacher.linear, term.embed_teacher.linear), teacher)
    student_queue, teacher_queue = term.student_queue.keys.double().clone(), term.teacher_queue.keys.double().clone()
    if critic == "infonce":
        return hand_infonce(u, teacher_key, teacher_queue) + hand_infonce(v, student_key, student_queue), (student_key, teacher_key)
    loss = hand_nce(u, teacher_key, teacher_queue, log_zs[0]) + hand_nce(v, student_key, student_queue, log_zs[1])
    return loss, (student_key, teacher_key)


def step(objective, student, teacher):
    return objective(Features(pooled=student.float()), [Features(pooled=teacher)], {"index": torch.tensor([0, 3])})["crd"]


@pytest.mark.parametrize("critic", ["nce", "infonce"])
def test_queue_loss_and_student_gradient_equal_a_hand_computation(critic):
    objective, term, student, teacher = queue_crd(critic=critic, beta=1.0)
    log_zs = (4.0, 6.0)
    for normaliser, value in zip((term.student_anchor_z, term.teacher_anchor_z), log_zs):
        normaliser.log_z.fill_(value)
        normaliser.initialised.fill_(True)
    expected, _ = hand_loss(term, student, teacher, critic, log_zs)
    (expected_grad,) = torch.autograd.grad(expected, student)

    loss = step(objective, student, teacher)
    (grad,) = torch.autograd.grad(loss, student)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(grad.double(), expected_grad, rtol=1e-4, atol=1e-7)


def test_a_training_step_moves_the_key_heads_by_their_momentum_and_enqueues_the_keys_first_in_first_out():
    objective, term, student, teacher = queue_crd()
    expected_heads = {name: blended(getattr(term, name).linear, getattr(term, f"embed_{name.split('_')[1]}").linear)
                      for name in ("key_student", "key_teacher")}
    _, (student_key, teacher_key) = hand_loss(term, student, teacher, "infonce")
    before = term.student_queue.keys.clone()

    step(objective, student, teacher)

    for name, (weight, bias) in expected_heads.items():
        assert torch.allclose(getattr(term, name).linear.weight.double(), weight) and torch.allclose(getattr(term, name).linear.bias.double(), bias)
    assert torch.allclose(term.student_queue.keys[:2].double(), student_key, atol=1e-6)
    assert torch.allclose(term.teacher_queue.keys[:2].double(), teacher_key, atol=1e-6)
    assert torch.equal(term.student_queue.keys[2:], before[2:]) and term.student_queue.pointer.item() == 2


def test_the_queue_wraps_around_and_keeps_only_the_newest_keys():
    queue = NegativeQueue(4, 2)
    first, second = torch.arange(6.0).view(3, 2), torch.arange(6.0, 12.0).view(3, 2)
    queue.enqueue(first)
    queue.enqueue(second)  # positions 3, 0, 1
    assert queue.keys.tolist() == [[8.0, 9.0], [10.0, 11.0], [4.0, 5.0], [6.0, 7.0]] and queue.pointer.item() == 2
    queue.enqueue(torch.arange(12.0, 22.0).view(5, 2))  # more than the queue holds: the newest four, from position 2
    assert queue.keys.tolist() == [[18.0, 19.0], [20.0, 21.0], [14.0, 15.0], [16.0, 17.0]] and queue.pointer.item() == 2, "the oldest next"


def test_gradients_reach_the_student_and_both_heads_never_the_key_heads_and_eval_changes_nothing():
    objective, term, student, teacher = queue_crd()
    step(objective, student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (*term.embed_student.parameters(), *term.embed_teacher.parameters()))
    assert all(not p.requires_grad and p.grad is None for p in (*term.key_student.parameters(), *term.key_teacher.parameters()))

    objective.eval()
    state = {k: v.clone() for k, v in objective.state_dict().items()}
    step(objective, student, teacher)
    assert all(torch.equal(value, objective.state_dict()[key]) for key, value in state.items()), "evaluation changes no state"


def test_queue_state_round_trips_and_the_queue_is_capped_below_the_data_size():
    objective, term, student, teacher = queue_crd()
    step(objective, student, teacher)
    state = objective.state_dict()
    assert {"terms.0.student_queue.keys", "terms.0.teacher_queue.pointer", "terms.0.key_teacher.linear.weight"} <= set(state)
    restored, *_ = queue_crd()
    restored.load_state_dict(state)
    assert all(torch.equal(value, restored.state_dict()[key]) for key, value in state.items())
    capped, *_ = queue_crd(queue_size=100)
    assert capped.terms[0].student_queue.num_rows == 5


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_banks_and_queues_store_rounded_rows_and_score_in_float32(dtype):
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6)
    for negatives, buffer in (("bank", "student_memory.rows"), ("queue", "student_queue.keys")):
        torch.manual_seed(0)
        objective = build_objective("crd", ctx, {"negatives": negatives, "bank_dtype": dtype, "feat_dim": 3, "num_negatives": 3})
        assert objective.state_dict()[f"terms.0.{buffer}"].dtype == getattr(torch, dtype)
        torch.manual_seed(0)
        full = build_objective("crd", ctx, {"negatives": negatives, "feat_dim": 3, "num_negatives": 3})
        student, teacher = torch.randn(2, 5), torch.randn(2, 7)
        losses = []
        for crd in (objective, full):
            torch.manual_seed(1)  # the same negatives for both
            losses.append(step(crd, student, teacher))
        half_loss, full_loss = losses
        assert half_loss.dtype == torch.float32
        assert half_loss.item() == pytest.approx(full_loss.item(), rel=0.02), "rounding the stored rows barely moves the loss"


class TinyStudent(nn.Module):
    """A student of one linear layer (4 inputs, 5 pooled features)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 5)

    def forward(self, target):
        return Features(pooled=self.linear(target))


def test_a_momentum_student_encodes_the_student_keys():
    torch.manual_seed(0)
    network = TinyStudent()
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6, student=network)
    objective = build_objective("crd", ctx, {"negatives": "queue", "queue_size": 4, "key_momentum": KEY_MOMENTUM, "feat_dim": 3,
                                             "embed_inputs": "raw", "key_encoder": "student", "critic": "infonce", "beta": 1.0})
    term = objective.terms[0]
    assert not any(p.requires_grad for p in objective.key_network.parameters())
    assert "key_network.linear.weight" in objective.state_dict() and not any(k.startswith("_student") for k in objective.state_dict())
    start = [p.detach().double().clone() for p in network.parameters()]
    with torch.no_grad():  # the student learned since the copy was made (as after an optimiser step)
        for parameter in network.parameters():
            parameter.add_(torch.randn_like(parameter))
    target, teacher = torch.randn(2, 4), torch.randn(2, 7)
    key_weight, key_bias = (KEY_MOMENTUM * old + (1 - KEY_MOMENTUM) * new.detach().double() for old, new in zip(start, network.parameters()))
    key_features = target.double() @ key_weight.T + key_bias  # the momentum student's pooled features
    student = network(target).pooled
    u = hand_head(term.embed_student.linear.weight, term.embed_student.linear.bias, student)
    v = hand_head(term.embed_teacher.linear.weight, term.embed_teacher.linear.bias, teacher)
    student_key = hand_head(*blended(term.key_student.linear, term.embed_student.linear), key_features)
    teacher_key = hand_head(*blended(term.key_teacher.linear, term.embed_teacher.linear), teacher)
    queues = term.student_queue.keys.double().clone(), term.teacher_queue.keys.double().clone()
    expected = hand_infonce(u, teacher_key, queues[1]) + hand_infonce(v, student_key, queues[0])

    loss = objective(Features(pooled=student), [Features(pooled=teacher)], {"index": torch.tensor([0, 3]), "target": target})["crd"]

    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(objective.key_network.linear.weight.double(), key_weight)
    torch.testing.assert_close(term.student_queue.keys[:2].double(), student_key, atol=1e-6, rtol=0)
    loss.backward()
    assert network.linear.weight.grad.abs().sum() > 0 and objective.key_network.linear.weight.grad is None


def test_key_encoder_options_are_checked():
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6)
    with pytest.raises(InputError, match="option key_encoder='teacher' is not one of: head, student"):
        build_objective("crd", ctx, {"negatives": "queue", "key_encoder": "teacher"})
    with pytest.raises(InputError, match="key_encoder=student applies to negatives=queue"):
        build_objective("crd", ctx, {"key_encoder": "student"})
