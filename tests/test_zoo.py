"""The distiller zoo: each loss against a hand computation of its paper's formula, gradients, shapes and options."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossmodal.distill import OBJECTIVES, ObjectiveContext, TrainingProgress, build_objective
from crossmodal.distill.at import AttentionTransfer
from crossmodal.distill.base import TeacherReads
from crossmodal.distill.combined import CombinedObjective
from crossmodal.distill.fsp import fsp_matrix
from crossmodal.distill.ft import factor_distance
from crossmodal.distill.kd import KD
from crossmodal.distill.stage_maps import common_size, matched
from crossmodal.distill.two_stage import pretrain_epochs
from crossmodal.errors import InputError
from crossmodal.models.features import Features, MapSpec

ZOO = ("at", "sp", "cc", "vid", "rkd", "pkt", "ab", "ft", "fsp", "nst", "dist")
TWO_STAGE = ("ab", "ft", "fsp")
PRETRAINING = TrainingProgress(epoch=1, step=0, steps_per_epoch=4, epochs=8)
DISTILLING = TrainingProgress(epoch=8, step=31, steps_per_epoch=4, epochs=8)
STUDENT_CHANNELS = (3, 4, 5, 6)
TEACHER_CHANNELS = (2, 5, 7, 9)
# non-square maps of different sizes on the two sides, as a 96 x 128 depth student beside a square RGB teacher
STUDENT_SIZES = ((6, 8), (3, 4), (2, 3), (2, 3))
TEACHER_SIZES = ((7, 7), (4, 4), (2, 2), (3, 3))


def context(teachers: int = 1, classes: int = 4) -> ObjectiveContext:
    return ObjectiveContext(
        student_dim=6, teacher_dims=[9] * teachers, num_samples=20,
        student_maps=[MapSpec(c, (4, 4)) for c in STUDENT_CHANNELS],
        teacher_maps=[[MapSpec(c, (4, 4)) for c in TEACHER_CHANNELS] for _ in range(teachers)],
        teacher_num_classes=[classes] * teachers,
    )


def student_features(batch: int = 5, seed: int = 0) -> Features:
    generator = torch.Generator().manual_seed(seed)
    return Features(
        pooled=torch.randn(batch, 6, generator=generator).requires_grad_(),
        maps=[torch.randn(batch, c, *size, generator=generator).requires_grad_() for c, size in zip(STUDENT_CHANNELS, STUDENT_SIZES)],
        logits=torch.randn(batch, 4, generator=generator).requires_grad_(),
    )


def teacher_features(batch: int = 5, seed: int = 1) -> Features:
    """Leaf tensors that require grad, so a test can see that no gradient reaches them."""
    generator = torch.Generator().manual_seed(seed)
    return Features(
        pooled=torch.randn(batch, 9, generator=generator).relu().requires_grad_(),
        maps=[torch.randn(batch, c, *size, generator=generator).requires_grad_() for c, size in zip(TEACHER_CHANNELS, TEACHER_SIZES)],
        logits=torch.randn(batch, 4, generator=generator).requires_grad_(),
    )


def one_map(student_map: torch.Tensor, teacher_map: torch.Tensor, pooled=None) -> tuple[Features, Features]:
    """Features with a single stage map each (for single-stage hand computations)."""
    batch = student_map.shape[0]
    return (Features(pooled=torch.zeros(batch, 6) if pooled is None else pooled[0], maps=[student_map]),
            Features(pooled=torch.zeros(batch, 9) if pooled is None else pooled[1], maps=[teacher_map]))


def single_stage_context(student_channels: int, teacher_channels: int) -> ObjectiveContext:
    return ObjectiveContext(
        student_dim=6, teacher_dims=[9], num_samples=20,
        student_maps=[MapSpec(student_channels, (4, 4))], teacher_maps=[[MapSpec(teacher_channels, (4, 4))]],
    )


def loss_of(name: str, ctx: ObjectiveContext, student: Features, teacher: Features, **options) -> float:
    objective = build_objective(name, ctx, options)
    (value,) = objective(student, [teacher], {"index": torch.arange(student.pooled.shape[0])}).values()
    return float(value)


# ---------------------------------------------------------------- stage maps


def test_maps_of_different_size_are_pooled_to_the_smaller_extent_per_axis():
    student, teacher = torch.randn(2, 3, 6, 8), torch.randn(2, 5, 7, 4)
    assert common_size(student, teacher) == (6, 4)
    pooled_student, pooled_teacher = matched(student, teacher)
    assert pooled_student.shape == (2, 3, 6, 4) and pooled_teacher.shape == (2, 5, 6, 4)
    assert torch.equal(pooled_student, F.adaptive_avg_pool2d(student, (6, 4)))
    # 8 columns into 4: each output is the mean of two neighbours
    assert torch.allclose(pooled_student[..., 0], student[..., 0:2].mean(-1))


def test_a_map_already_at_the_common_size_is_untouched():
    student, teacher = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    pooled_student, pooled_teacher = matched(student, teacher)
    assert torch.equal(pooled_student, student) and torch.equal(pooled_teacher, teacher)


# ---------------------------------------------------------------- hand computations


def test_attention_transfer_equals_the_authors_formula():
    generator = torch.Generator().manual_seed(3)
    student_map, teacher_map = torch.randn(2, 3, 2, 3, generator=generator), torch.randn(2, 5, 2, 3, generator=generator)
    squares = []
    for b in range(2):
        qs = np.array([[sum(float(student_map[b, c, h, w]) ** 2 for c in range(3)) / 3 for w in range(3)] for h in range(2)]).ravel()
        qt = np.array([[sum(float(teacher_map[b, c, h, w]) ** 2 for c in range(5)) / 5 for w in range(3)] for h in range(2)]).ravel()
        squares.extend((qs / np.linalg.norm(qs) - qt / np.linalg.norm(qt)) ** 2)
    loss = loss_of("at", single_stage_context(3, 5), *one_map(student_map, teacher_map), stages=[0], beta=1.0)
    assert loss == pytest.approx(float(np.mean(squares)), rel=1e-5)


def test_attention_p_is_the_exponent_of_the_activations():
    student_map, teacher_map = torch.rand(1, 1, 1, 2) + 0.5, torch.rand(1, 1, 1, 2) + 0.5
    qs = student_map.flatten().numpy() ** 4
    qt = teacher_map.flatten().numpy() ** 4
    expected = np.mean((qs / np.linalg.norm(qs) - qt / np.linalg.norm(qt)) ** 2)
    loss = loss_of("at", single_stage_context(1, 1), *one_map(student_map, teacher_map), stages=[0], p=4.0, beta=2.0)
    assert loss == pytest.approx(2.0 * expected, rel=1e-5)


def test_similarity_preserving_equals_the_paper_formula():
    generator = torch.Generator().manual_seed(4)
    student_map, teacher_map = torch.randn(3, 2, 2, 2, generator=generator), torch.randn(3, 4, 3, 1, generator=generator)

    def normalised_gram(feature_map):
        q = feature_map.reshape(3, -1).numpy().astype(np.float64)
        g = q @ q.T
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    expected = np.sum((normalised_gram(student_map) - normalised_gram(teacher_map)) ** 2) / 9
    loss = loss_of("sp", single_stage_context(2, 4), *one_map(student_map, teacher_map), stages=[0], beta=1.0)
    assert loss == pytest.approx(expected, rel=1e-5)


def test_neuron_selectivity_transfer_is_the_polynomial_kernel_mmd():
    generator = torch.Generator().manual_seed(5)
    student_map, teacher_map = torch.randn(2, 2, 1, 3, generator=generator), torch.randn(2, 3, 1, 3, generator=generator)
    total = 0.0
    for b in range(2):
        s = [v / np.linalg.norm(v) for v in student_map[b].reshape(2, -1).numpy()]
        t = [v / np.linalg.norm(v) for v in teacher_map[b].reshape(3, -1).numpy()]

        def k(x, y):
            return float(x @ y) ** 2

        total += (np.mean([k(x, y) for x in s for y in s]) + np.mean([k(x, y) for x in t for y in t])
                  - 2 * np.mean([k(x, y) for x in s for y in t]))
    loss = loss_of("nst", single_stage_context(2, 3), *one_map(student_map, teacher_map), stages=[0], beta=1.0)
    assert loss == pytest.approx(total / 2, rel=1e-5, abs=1e-7)


def test_nst_is_zero_for_identical_channel_sets():
    feature_map = torch.rand(2, 3, 2, 2)
    assert loss_of("nst", single_stage_context(3, 3), *one_map(feature_map, feature_map.clone()), stages=[0]) == pytest.approx(0, abs=1e-6)


def test_correlation_congruence_taylor_kernel_and_its_limit():
    generator = torch.Generator().manual_seed(6)
    student, teacher = torch.randn(3, 6, generator=generator), torch.randn(3, 9, generator=generator)
    gamma = 0.4

    def taylor(x, order):
        u = x.numpy().astype(np.float64)
        u = u / np.linalg.norm(u, axis=1, keepdims=True)
        return np.array([[math.exp(-2 * gamma) * sum((2 * gamma * float(a @ b)) ** p / math.factorial(p) for p in range(order + 1))
                          for b in u] for a in u])

    expected = np.sum((taylor(student, 2) - taylor(teacher, 2)) ** 2) / 9
    features = Features(pooled=student), Features(pooled=teacher)
    assert loss_of("cc", context(), *features, beta=1.0) == pytest.approx(expected, rel=1e-5)

    def gaussian(x):
        u = x.numpy().astype(np.float64)
        u = u / np.linalg.norm(u, axis=1, keepdims=True)
        return np.exp(-gamma * ((u[:, None] - u[None]) ** 2).sum(-1))

    # at a high order the expansion is the Gaussian RBF kernel itself
    exact = np.sum((gaussian(student) - gaussian(teacher)) ** 2) / 9
    assert loss_of("cc", context(), *features, beta=1.0, order=12) == pytest.approx(exact, rel=1e-4)


def _huber(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 1, 0.5 * x**2, np.abs(x) - 0.5)


def test_relational_kd_distance_and_angle_terms_equal_hand_computation():
    generator = torch.Generator().manual_seed(7)
    student, teacher = torch.randn(4, 6, generator=generator), torch.randn(4, 9, generator=generator)

    def distances(x):
        x = x.numpy().astype(np.float64)
        d = np.array([[np.linalg.norm(a - b) for b in x] for a in x])
        return d / d[~np.eye(4, dtype=bool)].mean()

    def angles(x):
        x = x.numpy().astype(np.float64)
        out = np.zeros((4, 4, 4))
        for i in range(4):
            for j in range(4):
                for k in range(4):
                    e_ij, e_kj = x[i] - x[j], x[k] - x[j]
                    if i != j and k != j:
                        out[j, i, k] = e_ij @ e_kj / (np.linalg.norm(e_ij) * np.linalg.norm(e_kj))
        return out

    distance = _huber(distances(student) - distances(teacher)).mean()
    angle = _huber(angles(student) - angles(teacher)).mean()
    features = Features(pooled=student), Features(pooled=teacher)
    assert loss_of("rkd", context(), *features, distance_weight=1.0, angle_weight=0.0, beta=1.0) == pytest.approx(distance, rel=1e-5)
    assert loss_of("rkd", context(), *features, distance_weight=0.0, angle_weight=1.0, beta=1.0) == pytest.approx(angle, rel=1e-5)
    assert loss_of("rkd", context(), *features, beta=2.0) == pytest.approx(2 * (25 * distance + 50 * angle), rel=1e-5)


def test_relational_kd_is_invariant_to_scaling_the_teacher_space():
    features = torch.randn(5, 9)
    student = Features(pooled=features.clone())
    assert loss_of("rkd", context(), student, Features(pooled=3.0 * features)) == pytest.approx(0, abs=1e-5)


def test_probabilistic_transfer_equals_the_authors_divergence():
    generator = torch.Generator().manual_seed(8)
    student, teacher = torch.randn(3, 6, generator=generator), torch.randn(3, 9, generator=generator)

    def probabilities(x):
        u = x.numpy().astype(np.float64)
        u = u / np.linalg.norm(u, axis=1, keepdims=True)
        k = (u @ u.T + 1) / 2
        return k / k.sum(axis=1, keepdims=True)

    p_t, p_s = probabilities(teacher), probabilities(student)
    expected = np.mean(p_t * np.log((p_t + 1e-7) / (p_s + 1e-7)))
    features = Features(pooled=student), Features(pooled=teacher)
    assert loss_of("pkt", context(), *features, beta=1.0) == pytest.approx(expected, rel=1e-4)


def test_dist_inter_and_intra_class_pearson_terms():
    generator = torch.Generator().manual_seed(9)
    student_logits, teacher_logits = torch.randn(5, 4, generator=generator), torch.randn(5, 4, generator=generator)
    tau = 3.0  # not 1 or 2, where tau ** 2 equals tau and 2 * tau

    def softmax(z):
        e = np.exp(z.numpy().astype(np.float64) / tau)
        return e / e.sum(axis=1, keepdims=True)

    ps, pt = softmax(student_logits), softmax(teacher_logits)
    inter = 1 - np.mean([np.corrcoef(ps[i], pt[i])[0, 1] for i in range(5)])
    intra = 1 - np.mean([np.corrcoef(ps[:, k], pt[:, k])[0, 1] for k in range(4)])
    features = Features(pooled=torch.zeros(5, 6), logits=student_logits), Features(pooled=torch.zeros(5, 9), logits=teacher_logits)
    loss = loss_of("dist", context(), *features, tau=tau, inter_weight=1.0, intra_weight=3.0, beta=0.5)
    assert loss == pytest.approx(0.5 * tau**2 * (inter + 3 * intra), rel=1e-5)


def test_dist_with_two_teachers_matches_their_averaged_prediction():
    generator = torch.Generator().manual_seed(10)
    student_logits = torch.randn(5, 4, generator=generator)
    first, second = torch.randn(5, 4, generator=generator), torch.randn(5, 4, generator=generator)
    objective = build_objective("dist", context(teachers=2), {})
    student = Features(pooled=torch.zeros(5, 6), logits=student_logits)
    two = objective(student, [Features(pooled=torch.zeros(5, 9), logits=first), Features(pooled=torch.zeros(5, 9), logits=second)], {})
    mean_probabilities = (first.softmax(1) + second.softmax(1)) / 2
    one = build_objective("dist", context(), {})(student, [Features(pooled=torch.zeros(5, 9), logits=mean_probabilities.log())], {})
    assert list(two) == ["dist"] and float(two["dist"]) == pytest.approx(float(one["dist"]), rel=1e-5)


def test_vid_is_the_gaussian_negative_log_likelihood_of_its_regressor():
    generator = torch.Generator().manual_seed(11)
    student_map, teacher_map = torch.randn(2, 3, 2, 2, generator=generator), torch.randn(2, 2, 2, 2, generator=generator)
    objective = build_objective("vid", single_stage_context(3, 2), {"stages": [0], "beta": 1.0})
    regressor = objective.regressors[0][0]
    assert torch.allclose(regressor.variance(), torch.full((2,), 5.0))
    with torch.no_grad():
        regressor.alpha.copy_(torch.tensor([0.3, -1.2]))
    convs = [module for module in regressor.mean if isinstance(module, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 2), (2, 2), (2, 2)]

    def conv(x, layer):  # a 1x1 convolution as a matrix product per position
        w = layer.weight.detach().numpy()[:, :, 0, 0].astype(np.float64)
        return np.einsum("oc,bchw->bohw", w, x) + layer.bias.detach().numpy()[None, :, None, None]

    x = student_map.numpy().astype(np.float64)
    mean = conv(np.maximum(conv(np.maximum(conv(x, convs[0]), 0), convs[1]), 0), convs[2])
    variance = np.log1p(np.exp(np.array([0.3, -1.2]))) + 1e-5
    nll = 0.5 * (np.log(variance)[None, :, None, None] + (teacher_map.numpy() - mean) ** 2 / variance[None, :, None, None])
    student, teacher = one_map(student_map, teacher_map)
    (loss,) = objective(student, [teacher], {}).values()
    assert loss.item() == pytest.approx(nll.mean(), rel=1e-5)


# ---------------------------------------------------------------- every method


@pytest.mark.parametrize("name", ZOO)
def test_gradients_reach_the_student_and_the_method_but_never_the_teacher(name):
    objective = build_objective(name, context(), {})
    objective.set_progress(PRETRAINING if name in ("ab", "fsp") else DISTILLING)  # the phase that trains the method's modules
    student, teacher = student_features(), teacher_features()
    (loss,) = objective(student, [teacher], {"index": torch.arange(5)}).values()
    assert torch.isfinite(loss)
    loss.backward()
    reached = [t for t in (student.pooled, *student.maps, student.logits) if t.grad is not None and t.grad.abs().sum() > 0]
    assert reached, f"{name}: no gradient reached the student"
    assert all(t.grad is None for t in (teacher.pooled, *teacher.maps, teacher.logits))
    frozen_now = {id(p) for p in objective.paraphrasers.parameters()} if name == "ft" else set()
    for parameter in objective.parameters():
        if id(parameter) in frozen_now:
            assert parameter.grad is None  # FT's paraphraser is fixed once pre-trained
        else:
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all()


@pytest.mark.parametrize("name", ("at", "sp", "nst", "vid", "ab", "ft", "fsp"))
def test_map_methods_read_exactly_the_stages_asked_for(name):
    objective = build_objective(name, context(), {"stages": [1, -1]})
    objective.set_progress(DISTILLING if name == "ft" else PRETRAINING)
    assert objective.stages == [1, 3]
    student, teacher = student_features(), teacher_features()
    objective(student, [teacher], {})[name].backward()
    assert [m.grad is not None for m in student.maps] == [False, True, False, True]


@pytest.mark.parametrize("name", ZOO)
def test_an_ensemble_has_one_term_per_teacher(name):
    objective = build_objective(name, context(teachers=2), {})
    objective.set_progress(PRETRAINING)
    terms = objective(student_features(), [teacher_features(seed=1), teacher_features(seed=2)], {})
    assert list(terms) == (["dist"] if name == "dist" else [f"{name}/0", f"{name}/1"])


@pytest.mark.parametrize("name", ZOO)
def test_beta_scales_the_loss(name):
    student, teacher = student_features(), teacher_features()
    objective = build_objective(name, context(), {"beta": 3.0})
    objective.set_progress(DISTILLING if name == "ft" else PRETRAINING)  # the phase that beta weighs
    (three,) = objective(student, [teacher], {}).values()
    objective.beta = 1.0
    (one,) = objective(student, [teacher], {}).values()
    assert three.item() == pytest.approx(3 * one.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("at", {"stages": [4]}, r"option stages=\[4\] is out of range for networks with 4 stage maps"),
        ("ft", {"stages": [-5]}, r"option stages=\[-5\] is out of range for networks with 4 stage maps"),
        ("vid", {"stages": [0, 9]}, r"option stages=\[0, 9\] is out of range for networks with 4 stage maps"),
        ("nst", {"stages": [7]}, r"option stages=\[7\] is out of range for networks with 4 stage maps"),
        ("ab", {"stages": [7]}, r"option stages=\[7\] is out of range for networks with 4 stage maps"),
        ("fsp", {"stages": [0, 7]}, r"option stages=\[0, 7\] is out of range for networks with 4 stage maps"),
        ("at", {"stages": []}, r"option stages must be a non-empty list of stage indices, got \[\]"),
        ("sp", {"stages": [1, -3]}, r"option stages=\[1, -3\] names a stage twice"),
        ("nst", {"stages": 2}, "option 'stages' must be a tuple, got 2"),
        ("at", {"p": 0}, "option p must be positive, got 0.0"),
        ("cc", {"order": 0}, "needs gamma > 0 and order >= 1, got gamma=0.4, order=0"),
        ("cc", {"gamma": 0}, "needs gamma > 0 and order >= 1, got gamma=0.0, order=2"),
        ("rkd", {"distance_weight": 0, "angle_weight": 0}, "weights must be non-negative and not both 0, got 0.0, 0.0"),
        ("rkd", {"distance_weight": -1}, "weights must be non-negative and not both 0, got -1.0, 50.0"),
        ("rkd", {"angle_weight": -1}, "weights must be non-negative and not both 0, got 25.0, -1.0"),
        ("dist", {"tau": -1}, "option tau must be positive, got -1.0"),
        ("dist", {"tau": 0}, "option tau must be positive, got 0.0"),
        ("kd", {"temperature": 0}, "option temperature must be positive, got 0.0"),
        ("pkt", {"stages": [1]}, "has no option 'stages'; its options are: beta"),
        ("fsp", {"stages": [2]}, r"pairs consecutive stages, so option stages needs at least two, got \[2\]"),
        ("ft", {"pretrain_fraction": 1.0}, r"option pretrain_fraction must lie in \(0, 1\), got 1.0"),
        ("fsp", {"pretrain_fraction": 0.0}, r"option pretrain_fraction must lie in \(0, 1\), got 0.0"),
        ("ab", {"pretrain_fraction": 1.0}, r"option pretrain_fraction must lie in \(0, 1\), got 1.0"),
        ("ab", {"margin": 0}, "option margin must be positive, got 0.0"),
        ("fsp", {"temperature": 0}, "option temperature must be positive, got 0.0"),
        ("ab", {"temperature": 0}, "option temperature must be positive, got 0.0"),
        ("ft", {"rate": 0}, r"option rate must lie in \(0, 4\], got 0.0"),
        ("ft", {"rate": 4.5}, r"option rate must lie in \(0, 4\], got 4.5"),
        ("fitnet", {"target": "logits"}, "option target='logits' is not one of: pooled, map"),
    ],
)
def test_bad_options_are_one_sentence(name, options, message):
    with pytest.raises(InputError, match=rf"^objective '{re.escape(name)}' {message}$"):
        build_objective(name, context(), options)


@pytest.mark.parametrize(("name", "options"), [
    ("ft", {"rate": 4.0}), ("ft", {"rate": 0.01}), ("kd", {"temperature": 1e-3}), ("dist", {"tau": 1e-3}),
    ("rkd", {"distance_weight": 0}), ("rkd", {"angle_weight": 0}), ("cc", {"order": 1}), ("fsp", {"stages": [0, 1]}),
    ("ab", {"pretrain_fraction": 0.99}), ("at", {"p": 0.5}), ("ab", {"margin": 1e-3}),
])
def test_options_at_the_edge_of_their_range_are_accepted(name, options):
    build_objective(name, context(), options)


TEACHER_READS = {
    "ab": TeacherReads(logits=True, stages=(1, 2, 3)), "at": TeacherReads(stages=(0, 1, 2, 3)), "cc": TeacherReads(pooled=True),
    "crd": TeacherReads(pooled=True), "crd+kd": TeacherReads(pooled=True, logits=True), "dist": TeacherReads(logits=True),
    "fitnet": TeacherReads(pooled=True), "fsp": TeacherReads(logits=True, stages=(0, 1, 2, 3)), "ft": TeacherReads(stages=(3,)),
    "kd": TeacherReads(logits=True), "none": TeacherReads(), "nst": TeacherReads(stages=(3,)), "pkt": TeacherReads(pooled=True),
    "rkd": TeacherReads(pooled=True), "sp": TeacherReads(stages=(3,)), "vid": TeacherReads(stages=(1, 2, 3)),
}


def test_every_objective_declares_exactly_the_teacher_outputs_it_reads():
    assert sorted(TEACHER_READS) == sorted(OBJECTIVES.names())
    for name, reads in TEACHER_READS.items():
        assert build_objective(name, context(), {}).teacher_reads() == reads, name
    assert build_objective("fitnet", context(), {"target": "map", "teacher_stage": 1}).teacher_reads() == TeacherReads(stages=(1,))
    assert build_objective("sp", context(), {"stages": [2, 0]}).teacher_reads() == TeacherReads(stages=(2, 0))


def test_map_methods_need_the_same_number_of_stages_on_both_sides():
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20, student_maps=[MapSpec(3, (4, 4))] * 4,
                           teacher_maps=[[MapSpec(3, (4, 4))] * 5])
    with pytest.raises(InputError, match="the student has 4 stage maps and the teachers \\[5\\]"):
        build_objective("at", ctx, {})


@pytest.mark.parametrize("name", ("dist", "ab", "fsp"))
def test_logit_methods_need_teacher_logits(name):
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20, teacher_num_classes=[None],
                           student_maps=context().student_maps, teacher_maps=context().teacher_maps)
    with pytest.raises(InputError, match="needs teachers with class logits"):
        build_objective(name, ctx, {})
    assert OBJECTIVES.get(name).needs_student_logits


# ---------------------------------------------------------------- two-stage methods


def test_pretraining_takes_the_first_eighth_of_the_epochs_and_at_least_one():
    assert [pretrain_epochs(0.125, epochs) for epochs in (1, 8, 9, 20, 240)] == [1, 1, 2, 3, 30]
    objective = build_objective("fsp", context(), {})
    phases = [objective.phase(TrainingProgress(epoch, 0, 4, 20)) for epoch in range(1, 21)]
    assert phases == ["pretrain"] * 3 + ["distill"] * 17
    assert build_objective("at", context(), {}).phase(PRETRAINING) == "distill"


def test_fsp_matrix_is_the_mean_outer_product_over_positions():
    generator = torch.Generator().manual_seed(12)
    first, second = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 2, 2, 2, generator=generator)
    pooled = F.avg_pool2d(first, 2).numpy().astype(np.float64)  # 4 x 4 -> the second map's 2 x 2
    expected = np.array([[[np.mean(pooled[b, i] * second[b, j].numpy()) for j in range(2)] for i in range(3)] for b in range(2)])
    assert np.allclose(fsp_matrix(first, second).numpy(), expected, rtol=1e-5, atol=1e-6)


def fsp_with_identity_connectors(maps: list[MapSpec]):
    """FSP (beta 1) over every one of ``maps`` on both sides, in pre-training, its connectors the identity."""
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20, teacher_num_classes=[4], student_maps=maps, teacher_maps=[maps])
    objective = build_objective("fsp", ctx, {"stages": list(range(len(maps))), "beta": 1.0})
    objective.set_progress(PRETRAINING)
    with torch.no_grad():
        for connector in objective.connectors[0]:
            connector.weight.copy_(torch.eye(connector.weight.shape[0]).view_as(connector.weight))
            connector.bias.zero_()
    return objective


def test_fsp_loss_with_identity_connectors_is_the_papers_flow_difference():
    objective = fsp_with_identity_connectors([MapSpec(2, (4, 4)), MapSpec(3, (8, 8))])
    generator = torch.Generator().manual_seed(13)
    s_maps = [torch.randn(2, 2, 4, 6, generator=generator), torch.randn(2, 3, 2, 3, generator=generator)]
    t_maps = [torch.randn(2, 2, 6, 6, generator=generator), torch.randn(2, 3, 3, 3, generator=generator)]
    student, teacher = Features(pooled=torch.zeros(2, 6), maps=s_maps), Features(pooled=torch.zeros(2, 9), maps=t_maps)
    expected = (fsp_matrix(*s_maps) - fsp_matrix(*t_maps)).pow(2).mean()
    assert objective(student, [teacher], {})["fsp"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_fsp_and_ab_turn_to_kd_on_the_teacher_logits_after_pretraining():
    student, teacher = student_features(), teacher_features()
    kd = build_objective("kd", context(), {})(student, [teacher], {})["kd"]
    for name in ("fsp", "ab"):
        objective = build_objective(name, context(), {"alpha": 2.0})
        objective.set_progress(DISTILLING)
        assert list(objective(student, [teacher], {})) == ["kd"]
        assert objective(student, [teacher], {})["kd"].item() == pytest.approx(2 * kd.item(), rel=1e-6)


def test_activation_boundary_loss_equals_the_papers_squared_hinge():
    ctx = single_stage_context(2, 2)
    objective = build_objective("ab", ObjectiveContext(**{**ctx.__dict__, "teacher_num_classes": [4]}), {"stages": [0], "margin": 0.5})
    objective.set_progress(PRETRAINING)
    connector = objective.connectors[0][0]
    with torch.no_grad():
        connector[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    connector.eval()  # BatchNorm at its initial statistics: the identity
    responses = torch.tensor([[[[0.8, -0.2]], [[-1.0, 0.1]]]])
    teacher_map = torch.tensor([[[[1.0, 2.0]], [[-0.5, 0.0]]]])
    # active teacher neurons want r >= 0.5: (0.5 - 0.8)+ = 0, (0.5 + 0.2)^2 = 0.49; silent ones want r <= -0.5: 0, (0.5 + 0.1)^2 = 0.36
    expected = (0 + 0.49 + 0 + 0.36) / 4
    student, teacher = one_map(responses, teacher_map)
    loss = objective(student, [teacher], {})["ab"].item()
    assert loss == pytest.approx(expected / (1 + 1e-5), rel=1e-4)


def test_factor_transfer_pretrains_the_paraphraser_alone_then_the_student():
    objective = build_objective("ft", context(), {})
    student, teacher = student_features(), teacher_features()
    objective.set_progress(PRETRAINING)
    objective(student, [teacher], {})["ft"].backward()
    assert all(m.grad is None for m in student.maps)
    assert all(p.grad is not None for p in objective.paraphrasers.parameters())
    assert all(p.grad is None for p in objective.translators.parameters())
    decoder_input = objective.paraphrasers[0][0].encoder(teacher.maps[3].detach())
    reconstruction = F.mse_loss(objective.paraphrasers[0][0].decoder(decoder_input), teacher.maps[3].detach())
    assert objective(student, [teacher], {})["ft"].item() == pytest.approx(reconstruction.item(), rel=1e-6)


def test_factor_distance_is_the_l1_gap_of_unit_factors():
    student_factor, teacher_factor = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 4, 4)
    pooled = F.avg_pool2d(teacher_factor, 2).flatten(1).numpy()
    s = student_factor.flatten(1).numpy()
    expected = np.mean(np.abs(s / np.linalg.norm(s, axis=1, keepdims=True) - pooled / np.linalg.norm(pooled, axis=1, keepdims=True)))
    assert factor_distance(student_factor, teacher_factor).item() == pytest.approx(expected, rel=1e-5)


def test_crd_on_several_stages_has_a_term_per_stage_on_the_maps_averaged_over_positions():
    objective = build_objective("crd", context(), {"stages": [2, 3], "feat_dim": 4, "num_negatives": 5})
    assert [(t.embed_student.linear.in_features, t.embed_teacher.linear.in_features) for t in objective.terms] == [(5, 7), (6, 9)]
    student, teacher = student_features(), teacher_features()
    loss = objective(student, [teacher], {"index": torch.arange(5)})["crd"]
    loss.backward()
    assert [m.grad is not None for m in student.maps] == [False, False, True, True] and student.pooled.grad is None
    assert {"crd/stage2/pos_score", "crd/stage3/log_z_student_anchor"} <= set(objective.diagnostics())
    assert len(build_objective("crd", context(teachers=2), {"stages": [1]}).terms) == 2


def test_relational_kd_is_invariant_to_scaling_below_unit_distances_too():
    features = torch.randn(5, 9)
    student = Features(pooled=features.clone())
    assert loss_of("rkd", context(), student, Features(pooled=1e-3 * features)) == pytest.approx(0, abs=1e-5)


def test_stage_and_option_edges_that_are_valid():
    assert build_objective("at", context(), {"stages": [-4, 3]}).stages == [0, 3]
    assert build_objective("fitnet", context(), {"target": "map", "student_stage": -4, "teacher_stage": 3}).teacher_stage == 3
    build_objective("rkd", context(), {"distance_weight": 5.0, "angle_weight": 5.0})
    for name in ("ab", "fsp"):
        objective = build_objective(name, context(), {"temperature": 0.5, "alpha": 0.3})
        assert (objective.second_phase.temperature, objective.second_phase.alpha) == (0.5, 0.3)


@pytest.mark.parametrize(("options", "message"), [
    ({"target": "map", "student_stage": 4}, "option student_stage=4 is out of range for a network with 4 stage maps"),
    ({"target": "map", "teacher_stage": -5}, "option teacher_stage=-5 is out of range for a network with 4 stage maps"),
])
def test_fitnet_stage_errors_name_the_option(options, message):
    with pytest.raises(InputError, match=f"^objective 'fitnet' {message}"):
        build_objective("fitnet", context(), options)


def test_stage_lists_hold_integers_only():
    for stages in ([1.5], [True], ["2"]):
        with pytest.raises(InputError, match=r"^objective 'at' option stages must be a non-empty list of stage indices"):
            build_objective("at", context(), {"stages": stages})


def test_unknown_options_are_all_named_beside_the_accepted_ones():
    with pytest.raises(InputError, match=r"^objective 'kd' has no option 'gamma', 'zeta'; its options are: alpha, temperature$"):
        build_objective("kd", context(), {"zeta": 1, "gamma": 2})
    with pytest.raises(InputError, match=r"^objective 'none' has no option 'beta'; its options are: none$"):
        build_objective("none", context(), {"beta": 1})
    with pytest.raises(InputError, match=r"^objective 'cc' option 'order' must be a int, got 'two'$"):
        build_objective("cc", context(), {"order": "two"})


def test_a_combined_objectives_option_errors_name_the_combination():
    with pytest.raises(InputError, match=r"^objective 'crd\+kd' option temperature must be positive, got 0.0$"):
        build_objective("crd+kd", context(), {"temperature": 0})
    with pytest.raises(InputError, match=r"^objective 'crd\+kd' option critic='cosine' is not one of: nce, infonce$"):
        build_objective("crd+kd", context(), {"critic": "cosine"})


def test_any_combination_names_itself_in_its_parts_errors():
    """The name comes from registration, not from strings in the parts: a combination registered here speaks as itself."""

    class KDPlusAT(CombinedObjective):
        part_classes = {"kd": KD, "at": AttentionTransfer}

    OBJECTIVES.register("kd+at")(KDPlusAT)
    try:
        with pytest.raises(InputError, match=r"^objective 'kd\+at' option temperature must be positive, got -1.0$"):
            build_objective("kd+at", context(), {"temperature": -1})
        with pytest.raises(InputError, match=r"^objective 'kd\+at' option stages=\[9\] is out of range for networks with 4 stage maps$"):
            build_objective("kd+at", context(), {"stages": [9]})
        with pytest.raises(InputError, match=r"^objective 'kd\+at' has no option 'tau'; its options are: alpha, beta, p, stages, temperature$"):
            build_objective("kd+at", context(), {"tau": 1})
    finally:
        OBJECTIVES.unregister("kd+at")


@pytest.mark.parametrize("name", ("ab", "fsp", "kd", "dist", "crd+kd"))
def test_logit_methods_name_themselves_when_the_teacher_has_no_logits(name):
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20, teacher_num_classes=[None],
                           student_maps=context().student_maps, teacher_maps=context().teacher_maps)
    with pytest.raises(InputError, match=rf"^objective '{re.escape(name)}' needs teachers with class logits; at least one teacher has none$"):
        build_objective(name, ctx, {})
    two = ObjectiveContext(student_dim=6, teacher_dims=[9, 9], num_samples=20, teacher_num_classes=[4, 5],
                           student_maps=context().student_maps, teacher_maps=context(teachers=2).teacher_maps)
    with pytest.raises(InputError, match=rf"^objective '{re.escape(name)}' needs all teachers to share one label set, got class counts \[4, 5\]$"):
        build_objective(name, two, {})


def test_activation_boundary_connectors_are_a_biasless_convolution_and_batchnorm():
    objective = build_objective("ab", context(), {})
    for connector, s in zip(objective.connectors[0], objective.stages):
        convolution, norm = connector
        assert convolution.bias is None and convolution.kernel_size == (1, 1)
        assert (convolution.in_channels, convolution.out_channels) == (STUDENT_CHANNELS[s], TEACHER_CHANNELS[s])
        assert isinstance(norm, torch.nn.BatchNorm2d) and norm.num_features == TEACHER_CHANNELS[s]


def test_combined_objectives_need_student_logits_and_pass_progress_to_their_parts():
    objective = build_objective("crd+kd", context(), {})
    assert OBJECTIVES.get("crd+kd").needs_student_logits and not OBJECTIVES.get("crd").needs_student_logits
    progress = TrainingProgress(epoch=2, step=7, steps_per_epoch=5, epochs=3)
    objective.set_progress(progress)
    assert objective.progress == progress and all(part.progress == progress for part in objective.parts.values())


def test_factor_transfer_modules_follow_the_paper_layout():
    layers = [type(layer).__name__ for layer in build_objective("ft", context(), {}).paraphrasers[0][0].encoder]
    assert layers == ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 3
    objective = build_objective("ft", context(), {"stages": [2, 3], "rate": 0.6})
    paraphraser, translator = objective.paraphrasers[0][1], objective.translators[0][1]
    assert [type(layer).__name__ for layer in paraphraser.decoder] == ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 2 + ["Conv2d"]
    assert [type(layer).__name__ for layer in translator] == ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 3
    assert all(layer.negative_slope == 0.1 for layer in translator if isinstance(layer, torch.nn.LeakyReLU))
    assert paraphraser.encoder[-3].out_channels == translator[-3].out_channels == round(0.6 * TEACHER_CHANNELS[3]) == 5
    assert objective.paraphrasers[0][0].encoder[-3].out_channels == 4  # round(0.6 * 7)
    assert translator[3].out_channels == 5 and translator[3].in_channels == STUDENT_CHANNELS[3]
    tiny = build_objective("ft", context(), {"rate": 0.01})
    assert tiny.translators[0][0][3].out_channels == tiny.translators[0][0][-3].out_channels == 1, "at least one factor channel"
    assert tiny.paraphrasers[0][0].encoder[-3].out_channels == 1


def test_factor_transfer_distils_the_sum_of_each_stages_factor_distance_times_beta():
    objective = build_objective("ft", context(), {"stages": [2, 3], "beta": 3.0})
    objective.set_progress(TrainingProgress(epoch=8, step=70, steps_per_epoch=10, epochs=8))
    assert not objective.pretraining
    student, teacher = student_features(), teacher_features()
    (loss,) = objective(student, [teacher], {}).values()
    expected = 0.0
    for s, paraphraser, translator in zip((2, 3), objective.paraphrasers[0], objective.translators[0]):
        with torch.no_grad():
            expected += float(factor_distance(translator(student.maps[s]), paraphraser.encoder(teacher.maps[s])))
    assert float(loss.detach()) == pytest.approx(3.0 * expected, rel=1e-5)


def test_vid_starts_every_channel_at_its_initial_variance():
    from crossmodal.distill.vid import INITIAL_VARIANCE

    objective = build_objective("vid", context(), {})
    for regressor in objective.regressors[0]:
        torch.testing.assert_close(regressor.variance().double(), torch.full_like(regressor.variance().double(), INITIAL_VARIANCE),
                                   rtol=1e-7, atol=0)


def test_fsp_averages_the_flow_differences_of_every_consecutive_pair():
    objective = fsp_with_identity_connectors([MapSpec(2, (4, 4)), MapSpec(3, (8, 8)), MapSpec(2, (16, 16))])
    generator = torch.Generator().manual_seed(14)
    s_maps = [torch.randn(2, 2, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 2, 2, 2, generator=generator)]
    t_maps = [torch.randn(2, 2, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 2, 2, 2, generator=generator)]
    student, teacher = Features(pooled=torch.zeros(2, 6), maps=s_maps), Features(pooled=torch.zeros(2, 9), maps=t_maps)
    first = (fsp_matrix(s_maps[0], s_maps[1]) - fsp_matrix(t_maps[0], t_maps[1])).pow(2).mean()
    second = (fsp_matrix(s_maps[1], s_maps[2]) - fsp_matrix(t_maps[1], t_maps[2])).pow(2).mean()
    assert objective(student, [teacher], {})["fsp"].item() == pytest.approx(((first + second) / 2).item(), rel=1e-6)
