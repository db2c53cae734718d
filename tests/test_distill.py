"""Distillation objectives: CRD against hand computations, its state, sampling, and the baselines."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossmodal.distill import OBJECTIVES, ObjectiveContext, build_objective
from crossmodal.distill.crd import CRD
from crossmodal.distill.memory import MemoryBank, draw_per_sample_negatives, draw_shared_negatives
from crossmodal.errors import InputError
from crossmodal.models.features import Features, MapSpec

TAU = 0.07


def crd_context(num_samples: int = 6, student_dim: int = 5, teacher_dims: tuple[int, ...] = (7,)) -> ObjectiveContext:
    return ObjectiveContext(student_dim=student_dim, teacher_dims=list(teacher_dims), num_samples=num_samples)


def maps(*channels: int) -> list[MapSpec]:
    """Stage-map shapes with these channels at strides 4, 8, ..."""
    return [MapSpec(c, (4 * 2**k, 4 * 2**k)) for k, c in enumerate(channels)]


def fix_negatives(objective: CRD, negatives: torch.Tensor) -> None:
    objective.draw_negatives = lambda index: negatives


def hand_direction_loss(anchor, bank, index, negatives, log_z: float, num_rows: int) -> torch.Tensor:
    """-log h(pos) - sum_k log(1 - h(neg_k)), batch mean, with plain exp formulas in float64."""
    num_negatives = negatives.shape[1]

    def critic(score):
        p = torch.exp(score / TAU) / math.exp(log_z)
        return p / (p + num_negatives / num_rows)

    positive = (anchor * bank[index]).sum(1)
    negative = torch.einsum("bd,bnd->bn", anchor, bank[negatives])
    return (-torch.log(critic(positive)) - torch.log(1 - critic(negative)).sum(1)).mean()


def hand_embed(embed, features) -> torch.Tensor:
    """Centre each feature over the batch (training-mode BatchNorm, no affine), project, normalise."""
    inputs = features.double()
    if isinstance(embed.centre, torch.nn.BatchNorm1d):
        inputs = (inputs - inputs.mean(0)) / torch.sqrt(inputs.var(0, unbiased=False) + embed.centre.eps)
    weight, bias = embed.linear.weight.double(), embed.linear.bias.double()
    raw = inputs @ weight.T + bias
    return raw / raw.norm(dim=1, keepdim=True)


def tiny_crd(**options) -> tuple[CRD, dict]:
    """M=6, N=3, dim 4, per-sample negatives fixed by hand, known Z in both directions."""
    torch.manual_seed(0)
    objective = build_objective("crd", crd_context(), {"feat_dim": 4, "num_negatives": 3, "sampling": "per-sample", **options})
    index = torch.tensor([0, 3])
    negatives = torch.tensor([[1, 2, 5], [0, 4, 4]])
    fix_negatives(objective, negatives)
    data = {
        "student": torch.randn(2, 5, requires_grad=True),
        "teacher": torch.randn(2, 7),
        "index": index,
        "negatives": negatives,
    }
    return objective, data


def run(objective, data, teacher_pooled=None):
    teacher = Features(pooled=data["teacher"] if teacher_pooled is None else teacher_pooled)
    return objective(Features(pooled=data["student"]), [teacher], {"index": data["index"]})


def test_crd_loss_equals_hand_computation_with_known_z():
    objective, data = tiny_crd(beta=0.5)
    term = objective.terms[0]
    log_z_student, log_z_teacher = 4.0, 6.0
    for normaliser, value in ((term.student_anchor_z, log_z_student), (term.teacher_anchor_z, log_z_teacher)):
        normaliser.log_z.fill_(value)
        normaliser.initialised.fill_(True)
    student_bank = term.student_memory.rows.double().clone()
    teacher_bank = term.teacher_memory.rows.double().clone()

    loss = run(objective, data)["crd"]

    u = hand_embed(term.embed_student, data["student"].detach())
    v = hand_embed(term.embed_teacher, data["teacher"])
    expected = 0.5 * (
        hand_direction_loss(u, teacher_bank, data["index"], data["negatives"], log_z_student, 6)
        + hand_direction_loss(v, student_bank, data["index"], data["negatives"], log_z_teacher, 6)
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def hand_infonce(anchor, bank, index, negatives) -> torch.Tensor:
    """-log of the positive's softmax share among (positive, negatives), with plain exp in float64."""
    positive = torch.exp((anchor * bank[index]).sum(1) / TAU)
    negative = torch.exp(torch.einsum("bd,bnd->bn", anchor, bank[negatives]) / TAU).sum(1)
    return (-torch.log(positive / (positive + negative))).mean()


def test_infonce_critic_equals_hand_computation_and_needs_no_z():
    objective, data = tiny_crd(beta=0.5, critic="infonce")
    term = objective.terms[0]
    student_bank = term.student_memory.rows.double().clone()
    teacher_bank = term.teacher_memory.rows.double().clone()

    loss = run(objective, data)["crd"]

    u = hand_embed(term.embed_student, data["student"].detach())
    v = hand_embed(term.embed_teacher, data["teacher"])
    expected = 0.5 * (
        hand_infonce(u, teacher_bank, data["index"], data["negatives"])
        + hand_infonce(v, student_bank, data["index"], data["negatives"])
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert not term.student_anchor_z.initialised and not term.teacher_anchor_z.initialised
    assert {key.split("/")[-1] for key in objective.diagnostics()} == {"pos_score", "neg_score"}
    with pytest.raises(InputError, match="critic='softmax' is not one of: nce, infonce"):
        build_objective("crd", crd_context(), {"critic": "softmax"})


def test_crd_gradients_reach_student_and_both_heads_but_not_the_teacher():
    objective, data = tiny_crd()
    teacher_network = torch.nn.Linear(3, 7)
    teacher_pooled = teacher_network(torch.randn(2, 3))

    sum(run(objective, data, teacher_pooled).values()).backward()

    term = objective.terms[0]
    assert data["student"].grad is not None and data["student"].grad.abs().sum() > 0
    for head in (term.embed_student, term.embed_teacher):
        assert head.linear.weight.grad is not None and head.linear.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher_network.parameters())
    assert not any(buffer.requires_grad for buffer in objective.buffers())


@pytest.mark.parametrize("momentum", [0.5, 0.8])
def test_memory_update_rule_is_exact_and_training_only(momentum):
    """At 0.5, m and 1 - m coincide; 0.8 tells a swapped blend apart."""
    objective, data = tiny_crd(momentum=momentum)
    term = objective.terms[0]
    before_student = term.student_memory.rows.clone()
    before_teacher = term.teacher_memory.rows.clone()

    objective.eval()
    run(objective, data)
    assert torch.equal(term.student_memory.rows, before_student)

    objective.train()
    run(objective, data)
    u = hand_embed(term.embed_student, data["student"].detach())
    v = hand_embed(term.embed_teacher, data["teacher"])
    index = data["index"]
    for bank, before, embedding in ((term.student_memory, before_student, u), (term.teacher_memory, before_teacher, v)):
        blended = momentum * before[index].double() + (1 - momentum) * embedding
        expected = blended / blended.norm(dim=1, keepdim=True)
        torch.testing.assert_close(bank.rows[index].double(), expected, rtol=1e-6, atol=1e-6)
        untouched = [row for row in range(6) if row not in index.tolist()]
        assert torch.equal(bank.rows[untouched], before[untouched])


def test_memory_bank_starts_with_unit_rows():
    bank = MemoryBank(100, 16)
    torch.testing.assert_close(bank.rows.norm(dim=1), torch.ones(100))
    assert (bank.rows < 0).any() and (bank.rows > 0).any()


@pytest.mark.parametrize("placement", ["device", "host"])
@pytest.mark.parametrize("num_rows", [10, 1000], ids=["rows-fewer-than-draws", "rows-more-than-draws"])
def test_per_sample_scores_are_each_anchors_dot_products_with_its_drawn_rows(num_rows, placement):
    """Both ways of scoring per-sample draws (whole bank then pick, or gather the drawn rows) give the plain sums."""
    torch.manual_seed(0)
    bank = MemoryBank(num_rows, 8, placement=placement)
    anchor = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 3, 5, 9])
    negatives = torch.randint(0, num_rows, (4, 5))
    positive, negative = bank.score(anchor.float(), index, negatives)
    rows = bank.rows.double()
    expected = torch.stack([torch.stack([anchor[b] @ rows[n] for n in negatives[b]]) for b in range(4)])
    torch.testing.assert_close(negative.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(positive.double(), (anchor * rows[index]).sum(1), rtol=1e-5, atol=1e-6)
    bank.update(index, torch.randn(4, 8))  # rewrites rows in place before backward, as a training step does
    negative.sum().backward()
    torch.testing.assert_close(anchor.grad, rows[negatives].sum(1), rtol=1e-5, atol=1e-6)


def first_step_log_z_estimates(objective, data) -> tuple[float, float]:
    term = objective.terms[0]
    u = hand_embed(term.embed_student, data["student"].detach())
    v = hand_embed(term.embed_teacher, data["teacher"])
    estimates = []
    for anchor, bank in ((u, term.teacher_memory.rows.double()), (v, term.student_memory.rows.double())):
        positive = (anchor * bank[data["index"]]).sum(1, keepdim=True)
        negative = torch.einsum("bd,bnd->bn", anchor, bank[data["negatives"]])
        scores = torch.cat([positive, negative], 1)
        estimates.append(math.log(torch.exp(scores / TAU).mean().item() * 6))
    return estimates[0], estimates[1]


def test_first_batch_z_is_mean_exp_score_times_m_and_then_fixed():
    objective, data = tiny_crd(z_mode="first-batch")
    term = objective.terms[0]
    expected = first_step_log_z_estimates(objective, data)
    run(objective, data)
    assert term.student_anchor_z.log_z.item() == pytest.approx(expected[0], rel=1e-5)
    assert term.teacher_anchor_z.log_z.item() == pytest.approx(expected[1], rel=1e-5)

    data["student"] = torch.randn(2, 5) * 3
    run(objective, data)
    assert term.student_anchor_z.log_z.item() == pytest.approx(expected[0], rel=1e-5)
    assert objective.diagnostics()["crd/log_z_student_anchor"] == pytest.approx(expected[0], rel=1e-5)


def test_loading_an_unset_z_makes_the_next_step_estimate_again():
    objective, data = tiny_crd(z_mode="first-batch")
    fresh_state = {key: value.clone() for key, value in objective.state_dict().items()}
    run(objective, data)
    objective.load_state_dict(fresh_state)
    data["student"] = torch.randn(2, 5) * 3
    expected, _ = first_step_log_z_estimates(objective, data)
    run(objective, data)
    assert objective.terms[0].student_anchor_z.log_z.item() == pytest.approx(expected, rel=1e-5)


def test_ema_z_moves_by_its_momentum():
    objective, data = tiny_crd(z_mode="ema", z_momentum=0.75)
    normaliser = objective.terms[0].student_anchor_z
    first, _ = first_step_log_z_estimates(objective, data)
    run(objective, data)
    assert normaliser.log_z.item() == pytest.approx(first, rel=1e-5)

    data["student"] = torch.randn(2, 5) * 3
    second, _ = first_step_log_z_estimates(objective, data)
    run(objective, data)
    expected = math.log(0.75 * math.exp(first) + 0.25 * math.exp(second))
    assert normaliser.log_z.item() == pytest.approx(expected, rel=1e-5)
    assert normaliser.log_z.item() != pytest.approx(first, rel=1e-3)


def train_toy(correlated: bool, sampling: str) -> tuple[float, float]:
    """Train only the CRD heads on fixed Gaussian pairs; return (mean positive score, final loss)."""
    generator = torch.Generator().manual_seed(1)
    num_samples, dim = 256, 16
    student = torch.randn(num_samples, dim, generator=generator)
    mixing = torch.randn(dim, dim, generator=generator)
    noise = torch.randn(num_samples, dim, generator=generator)
    teacher = student @ mixing + 0.1 * noise if correlated else noise
    torch.manual_seed(2)
    ctx = ObjectiveContext(student_dim=dim, teacher_dims=[dim], num_samples=num_samples)
    objective = build_objective("crd", ctx, {"feat_dim": 16, "num_negatives": 64, "sampling": sampling, "beta": 1.0})
    optimiser = torch.optim.Adam(objective.parameters(), lr=0.02)
    scores, losses = [], []
    for epoch in range(6):
        for index in torch.randperm(num_samples).split(32):
            loss = objective(Features(pooled=student[index]), [Features(pooled=teacher[index])], {"index": index})["crd"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if epoch == 5:
                scores.append(objective.diagnostics()["crd/pos_score"])
                losses.append(loss.item())
    return sum(scores) / len(scores), sum(losses) / len(losses)


def test_raw_embed_inputs_skip_centring():
    objective, data = tiny_crd(embed_inputs="raw")
    embed = objective.terms[0].embed_student
    assert isinstance(embed.centre, torch.nn.Identity)
    expected = data["student"].double() @ embed.linear.weight.double().T + embed.linear.bias.double()
    expected = expected / expected.norm(dim=1, keepdim=True)
    assert torch.allclose(hand_embed(embed, data["student"]), expected)
    assert torch.allclose(embed(data["student"]).double(), expected, atol=1e-6)


def test_unknown_embed_inputs_is_an_input_error():
    with pytest.raises(InputError, match="embed_inputs"):
        tiny_crd(embed_inputs="whitened")


@pytest.mark.parametrize("sampling", ["shared", "per-sample"])
def test_critic_separates_correlated_from_independent_pairs(sampling):
    correlated_score, correlated_loss = train_toy(True, sampling)
    independent_score, independent_loss = train_toy(False, sampling)
    assert correlated_score > independent_score + 0.3
    assert correlated_loss < independent_loss


def test_shared_negatives_avoid_every_batch_positive():
    torch.manual_seed(0)
    index = torch.tensor([3, 7, 7, 0, 49])
    negatives = draw_shared_negatives(index, 50, 5000)
    assert negatives.shape == (5000,)
    drawn = set(negatives.tolist())
    assert drawn.isdisjoint(index.tolist())
    assert drawn == set(range(50)) - set(index.tolist())


@pytest.mark.parametrize("index", [[3, 7, 7, 0, 49], [0, 1, 2], [49, 48, 47, 47], [25]])
def test_each_shared_draw_picks_the_allowed_row_of_its_rank(index):
    """The k-th uniform draw selects row number floor(u_k * A) among the A allowed rows, in order.

    Pinning the mapping keeps every seeded run's negatives (and so its tables) the same whatever
    way the rank is turned into a row id.
    """
    allowed = sorted(set(range(50)) - set(index))
    torch.manual_seed(5)
    uniforms = torch.rand(2000)
    torch.manual_seed(5)
    drawn = draw_shared_negatives(torch.tensor(index), 50, 2000)
    assert drawn.tolist() == [allowed[int(u * len(allowed))] for u in uniforms.tolist()]


def test_shared_draws_need_no_memory_per_bank_row():
    """A trillion rows would not fit a per-row mask: the draw must cost O(N log B), whatever M."""
    num_rows = 10**12
    index = torch.tensor([7, num_rows - 1, 7])
    drawn = draw_shared_negatives(index, num_rows, 1000)
    assert drawn.shape == (1000,)
    assert int(drawn.min()) >= 0 and int(drawn.max()) < num_rows - 1
    assert not set(drawn.tolist()) & {7, num_rows - 1}


def test_per_sample_scores_on_a_large_bank_gather_only_the_drawn_rows():
    """Scoring every row of a large bank would build B x M scores; a bank of 10^9 rows (one stored row, expanded) shows it does not."""
    bank = MemoryBank(2, 8)
    bank.rows = torch.randn(1, 8).expand(10**9, 8)
    anchor = torch.randn(3, 8)
    positive, negative = bank.score(anchor, torch.tensor([0, 5, 10**9 - 1]), torch.randint(0, 10**9, (3, 4)))
    expected = anchor @ bank.rows[0]
    torch.testing.assert_close(positive, expected)
    torch.testing.assert_close(negative, expected.unsqueeze(1).expand(3, 4))


def test_per_sample_negatives_avoid_only_the_anchor():
    torch.manual_seed(0)
    index = torch.tensor([0, 2, 4])
    negatives = draw_per_sample_negatives(index, 5, 400)
    assert negatives.shape == (3, 400)
    for anchor, row in zip(index.tolist(), negatives):
        assert set(row.tolist()) == set(range(5)) - {anchor}


def _chi_square_p_value(counts: np.ndarray) -> float:
    """p-value of the counts under a uniform distribution over their cells."""
    from scipy.stats import chisquare

    return float(chisquare(counts).pvalue)


def test_shared_negatives_are_uniform_over_the_allowed_rows():
    torch.manual_seed(1)
    index = torch.tensor([3, 7, 7, 0, 49])
    counts = np.bincount(draw_shared_negatives(index, 50, 200_000).numpy(), minlength=50)
    allowed = np.setdiff1d(np.arange(50), index.numpy())
    assert counts[index.numpy()].sum() == 0
    assert _chi_square_p_value(counts[allowed]) > 1e-4
    # every allowed row within 5 sigma of its expected count
    expected = 200_000 / len(allowed)
    assert np.abs(counts[allowed] - expected).max() < 5 * np.sqrt(expected)


def test_per_sample_negatives_are_uniform_and_independent_across_anchors():
    torch.manual_seed(2)
    index = torch.tensor([0, 9, 4])
    draws = draw_per_sample_negatives(index, 10, 90_000).numpy()
    for anchor, row in zip(index.tolist(), draws):
        counts = np.bincount(row, minlength=10)
        assert counts[anchor] == 0
        assert _chi_square_p_value(np.delete(counts, anchor)) > 1e-4
    # Independence: the joint counts of two anchors' draws match the product of their marginals.
    joint = np.zeros((10, 10))
    np.add.at(joint, (draws[0], draws[1]), 1)
    marginal = np.outer(joint.sum(1), joint.sum(0)) / joint.sum()
    cells = marginal > 0
    statistic = ((joint[cells] - marginal[cells]) ** 2 / marginal[cells]).sum()
    from scipy.stats import chi2

    assert chi2.sf(statistic, df=8 * 8) > 1e-4


def test_per_sample_and_shared_modes_score_the_same_negatives_alike():
    objective, data = tiny_crd()
    objective.eval()
    per_sample = run(objective, data)["crd"]
    shared_row = torch.tensor([1, 2, 4])
    fix_negatives(objective, shared_row)
    data["negatives"] = shared_row.expand(2, 3)
    shared = run(objective, data)["crd"]
    fix_negatives(objective, data["negatives"])
    assert shared.item() == pytest.approx(run(objective, data)["crd"].item(), rel=1e-6)
    assert shared.item() != pytest.approx(per_sample.item(), rel=1e-3)


def test_shared_sampling_needs_rows_beyond_the_batch():
    objective = build_objective("crd", crd_context(num_samples=4), {})
    with pytest.raises(InputError, match="batch size"):
        objective(Features(pooled=torch.randn(4, 5)), [Features(pooled=torch.randn(4, 7))], {"index": torch.arange(4)})


def test_num_negatives_is_capped_below_bank_size():
    objective = build_objective("crd", crd_context(num_samples=10), {"num_negatives": 100})
    assert objective.num_negatives == 9
    index = torch.arange(4)
    for sampling in ("shared", "per-sample"):
        objective.sampling = sampling
        loss = objective(Features(pooled=torch.randn(4, 5)), [Features(pooled=torch.randn(4, 7))], {"index": index})
        assert torch.isfinite(loss["crd"])


def test_crd_state_dict_round_trip_carries_banks_and_z():
    objective, data = tiny_crd()
    run(objective, data)
    state = objective.state_dict()
    assert {"terms.0.student_memory.rows", "terms.0.teacher_memory.rows", "terms.0.student_anchor_z.log_z"} <= set(state)
    torch.manual_seed(123)
    restored = build_objective("crd", crd_context(), {"feat_dim": 4, "num_negatives": 3})
    assert not torch.equal(restored.terms[0].teacher_memory.rows, objective.terms[0].teacher_memory.rows)
    restored.load_state_dict(state)
    for key, value in restored.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert bool(restored.terms[0].student_anchor_z.initialised)


def test_crd_ensemble_has_one_term_per_teacher():
    torch.manual_seed(0)
    objective = build_objective("crd", crd_context(teacher_dims=(7, 3)), {"feat_dim": 4, "num_negatives": 3})
    teachers = [Features(pooled=torch.randn(2, 7)), Features(pooled=torch.randn(2, 3))]
    terms = objective(Features(pooled=torch.randn(2, 5)), teachers, {"index": torch.tensor([1, 2])})
    assert set(terms) == {"crd/0", "crd/1"}
    assert objective.terms[0].embed_student is not objective.terms[1].embed_student
    assert {"crd/0/pos_score", "crd/1/neg_score", "crd/1/log_z_teacher_anchor"} <= set(objective.diagnostics())


def test_fitnet_pooled_matches_hand_computation():
    ctx = ObjectiveContext(student_dim=3, teacher_dims=[2], num_samples=4)
    objective = build_objective("fitnet", ctx, {"beta": 2.0})
    regressor = objective.regressors[0]
    with torch.no_grad():
        regressor.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]))
        regressor.bias.copy_(torch.tensor([0.0, 1.0]))
    student = torch.tensor([[1.0, 2.0, 3.0], [0.0, -2.0, 4.0]])
    teacher = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    # regressed: [[-2, 2.5], [-4, 0]]; squared errors: 4, 2.25, 25, 1
    loss = objective(Features(pooled=student), [Features(pooled=teacher)], {})["fitnet"]
    assert loss.item() == pytest.approx(2.0 * (4 + 2.25 + 25 + 1) / 4)


def test_fitnet_map_hint_compares_both_maps_at_their_common_size():
    ctx = ObjectiveContext(
        student_dim=3, teacher_dims=[2], num_samples=4, student_maps=maps(1, 2), teacher_maps=[maps(3, 1)]
    )
    objective = build_objective("fitnet", ctx, {"target": "map", "student_stage": 1, "teacher_stage": 0})
    conv = objective.regressors[0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (2, 3, (1, 1))
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, -1.0]).view(3, 2, 1, 1))
        conv.bias.zero_()
    student_map = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    teacher_map = torch.zeros(1, 3, 4, 4)
    # the 4 x 4 teacher map is pooled to the student's 2 x 2; regressed channels are 5, 3, -2
    loss = objective(
        Features(pooled=torch.zeros(1, 3), maps=[torch.zeros(1, 1, 8, 8), student_map]),
        [Features(pooled=torch.zeros(1, 2), maps=[teacher_map, torch.zeros(1, 1, 2, 2)])],
        {},
    )["fitnet"]
    assert loss.item() == pytest.approx((25 + 9 + 4) / 3)


def test_fitnet_rejects_a_stage_out_of_range():
    ctx = ObjectiveContext(student_dim=3, teacher_dims=[2], num_samples=4, student_maps=maps(1), teacher_maps=[maps(3)])
    with pytest.raises(InputError, match="student_stage"):
        build_objective("fitnet", ctx, {"target": "map", "student_stage": 2})


def hand_kl(teacher_probs: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> float:
    student_log_probs = torch.log_softmax(student_logits.double() / temperature, dim=1)
    kl = (teacher_probs * (teacher_probs.log() - student_log_probs)).sum(1).mean()
    return kl.item() * temperature**2


def test_kd_matches_hand_computation():
    ctx = ObjectiveContext(student_dim=3, teacher_dims=[2], num_samples=4, teacher_num_classes=[3])
    objective = build_objective("kd", ctx, {"alpha": 0.5})
    assert objective.needs_student_logits
    student = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    teacher = torch.tensor([[4.0, 0.0, 0.0], [0.0, 8.0, -4.0]])
    terms = objective(Features(pooled=torch.zeros(2, 3), logits=student), [Features(torch.zeros(2, 2), logits=teacher)], {})
    teacher_probs = torch.exp(teacher.double() / 4) / torch.exp(teacher.double() / 4).sum(1, keepdim=True)
    assert terms["kd"].item() == pytest.approx(0.5 * hand_kl(teacher_probs, student, 4.0), rel=1e-5)


def test_kd_ensemble_averages_teacher_probabilities():
    ctx = ObjectiveContext(student_dim=3, teacher_dims=[2, 2], num_samples=4, teacher_num_classes=[3, 3])
    objective = build_objective("kd", ctx, {"temperature": 2.0})
    student = torch.tensor([[1.0, 0.0, -1.0]])
    teachers = [torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 6.0]])]
    teacher_outs = [Features(pooled=torch.zeros(1, 2), logits=logits) for logits in teachers]
    terms = objective(Features(pooled=torch.zeros(1, 3), logits=student), teacher_outs, {})
    mixture = sum(torch.softmax(t.double() / 2, dim=1) for t in teachers) / 2
    assert terms["kd"].item() == pytest.approx(hand_kl(mixture, student, 2.0), rel=1e-5)


def test_kd_needs_teacher_logits():
    ctx = ObjectiveContext(student_dim=3, teacher_dims=[2], num_samples=4, teacher_num_classes=[None])
    with pytest.raises(InputError, match="logits"):
        build_objective("kd", ctx, {})


def test_crd_kd_reuses_both_parts_with_their_weights():
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6, teacher_num_classes=[3])
    options = {"feat_dim": 4, "num_negatives": 3, "alpha": 2.0, "beta": 3.0, "temperature": 2.0}
    student = Features(pooled=torch.randn(2, 5), logits=torch.randn(2, 3))
    teacher = Features(pooled=torch.randn(2, 7), logits=torch.randn(2, 3))
    batch = {"index": torch.tensor([0, 4])}

    torch.manual_seed(0)
    combined = build_objective("crd+kd", ctx, options)
    torch.manual_seed(1)
    terms = combined(student, [teacher], batch)
    torch.manual_seed(0)
    crd = build_objective("crd", ctx, {"feat_dim": 4, "num_negatives": 3, "beta": 3.0})
    torch.manual_seed(1)
    kd = build_objective("kd", ctx, {"alpha": 2.0, "temperature": 2.0})

    assert combined.needs_student_logits
    assert set(terms) == {"kd", "crd"}
    assert terms["crd"].item() == pytest.approx(crd(student, [teacher], batch)["crd"].item(), rel=1e-6)
    assert terms["kd"].item() == pytest.approx(kd(student, [teacher], batch)["kd"].item(), rel=1e-6)
    assert "parts.crd.terms.0.teacher_memory.rows" in combined.state_dict()
    assert "crd/pos_score" in combined.diagnostics()


def test_none_gives_no_terms():
    objective = build_objective("none", crd_context(), {})
    batch = {"index": torch.tensor([0, 1])}
    assert objective(Features(pooled=torch.randn(2, 5)), [Features(pooled=torch.randn(2, 7))], batch) == {}
    assert list(objective.parameters()) == []


def test_registry_lists_every_objective():
    assert OBJECTIVES.names() == [
        "ab", "at", "cc", "crd", "crd+kd", "dist", "fitnet", "fsp", "ft", "kd", "none", "nst", "pkt", "rkd", "sp", "vid",
    ]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("crdd", {}, "unknown objective 'crdd'"),
        ("crd", {"negative": 5}, "no option 'negative'"),
        ("crd", {"negatives": "list"}, r"option negatives='list' is not one of: bank, queue"),
        ("crd", {"bank_dtype": "int8"}, r"option bank_dtype='int8' is not one of: float32, float16, bfloat16"),
        ("crd", {"key_momentum": 1.0}, r"option key_momentum must lie in \[0, 1\), got 1.0"),
        ("crd", {"queue_size": 0}, "num_negatives, queue_size, feat_dim and tau must be positive"),
        ("crd+kd", {"gamma": 1.0}, "no option 'gamma'"),
        ("crd", {"sampling": "random"}, "sampling"),
        ("crd", {"z_mode": "last"}, "z_mode"),
        ("crd", {"num_negatives": "many"}, "num_negatives"),
        ("crd", {"z_momentum": 1.0}, "z_momentum"),
        ("none", {"beta": 1.0}, "no option 'beta'"),
    ],
)
def test_mistakes_raise_input_error(name, options, message):
    ctx = ObjectiveContext(student_dim=5, teacher_dims=[7], num_samples=6, teacher_num_classes=[3])
    with pytest.raises(InputError, match=message):
        build_objective(name, ctx, options)


def test_string_options_are_converted():
    objective = build_objective("crd", crd_context(num_samples=100), {"num_negatives": "16", "tau": "0.1"})
    assert objective.num_negatives == 16
    assert objective.terms[0].tau == pytest.approx(0.1)


def test_crd_step_is_finite_under_bfloat16_autocast():
    torch.manual_seed(0)
    objective = build_objective("crd", crd_context(num_samples=64), {"num_negatives": 32})
    student = torch.randn(8, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        teacher = Features(pooled=torch.randn(8, 7).bfloat16())
        loss = objective(Features(pooled=student.bfloat16()), [teacher], {"index": torch.arange(8)})["crd"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(student.grad).all()
