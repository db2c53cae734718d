"""Pinned facts of the objectives: every documented default, CRD's option boundaries and messages, its
diagnostics and heads, and how declared teacher reads combine. A changed default changes every
benchmark number, so each one is written out here rather than read back from the code."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from crossmodal.distill import OBJECTIVES, ObjectiveContext, TrainingProgress, build_objective
from crossmodal.distill import memory as memory_module
from crossmodal.distill.base import TeacherReads
from crossmodal.distill.crd import Embed
from crossmodal.distill.memory import LogNormaliser, MemoryBank, draw_shared_negatives, random_unit_rows
from crossmodal.errors import InputError
from crossmodal.models.features import Features

CRD_DEFAULTS = {
    "feat_dim": 128, "num_negatives": 16384, "tau": 0.07, "momentum": 0.5, "z_mode": "first-batch", "z_momentum": 0.99,
    "sampling": "shared", "embed_inputs": "centred", "critic": "nce", "stages": (), "negatives": "bank", "queue_size": 16384,
    "key_momentum": 0.99, "key_encoder": "head", "bank_dtype": "float32", "bank_placement": "device", "beta": 0.8,
}
KD_DEFAULTS = {"temperature": 4.0, "alpha": 1.0}
PRETRAINED_KD = {"pretrain_fraction": 0.125, "alpha": 1.0, "temperature": 4.0}

# name: (options and defaults, paper_weight, title)
DOCUMENTED = {
    "ab": ({"stages": (1, 2, 3), "margin": 1.0, "beta": 1.0, **PRETRAINED_KD}, None, "AB"),
    "at": ({"stages": (0, 1, 2, 3), "p": 2.0, "beta": 100.0}, 1000.0, "AT"),
    "cc": ({"gamma": 0.4, "order": 2, "beta": 2.0}, 0.02, "CC"),
    "crd": (CRD_DEFAULTS, None, "CRD"),
    "crd+kd": ({**KD_DEFAULTS, **CRD_DEFAULTS}, None, "CRD+KD"),
    "dist": ({"tau": 1.0, "inter_weight": 1.0, "intra_weight": 1.0, "beta": 1.0}, 1.0, "DIST"),
    "fitnet": ({"target": "pooled", "student_stage": -1, "teacher_stage": -1, "beta": 1.0}, None, "FitNet"),
    "fsp": ({"stages": (0, 1, 2, 3), "beta": 0.005, **PRETRAINED_KD}, 50.0, "FSP"),
    "ft": ({"stages": (3,), "rate": 0.5, "beta": 2000.0, "pretrain_fraction": 0.125}, 200.0, "FT"),
    "kd": (KD_DEFAULTS, None, "KD"),
    "none": ({}, None, "Random init (none)"),
    "nst": ({"stages": (3,), "beta": 50.0}, 50.0, "NST"),
    "pkt": ({"beta": 30000.0}, 30000.0, "PKT"),
    "rkd": ({"distance_weight": 25.0, "angle_weight": 50.0, "beta": 0.1}, 1.0, "RKD"),
    "sp": ({"stages": (3,), "beta": 300.0}, 3000.0, "SP"),
    "vid": ({"stages": (1, 2, 3), "beta": 10.0}, 1.0, "VID"),
}


def test_every_objective_and_its_documented_defaults():
    assert sorted(OBJECTIVES.names()) == sorted(DOCUMENTED)
    for name, (defaults, paper_weight, title) in DOCUMENTED.items():
        objective = OBJECTIVES.get(name)
        assert objective.name == name and objective.title == title, name
        assert objective.option_defaults() == defaults and list(objective.option_defaults()) == list(defaults), name
        assert objective.paper_weight == paper_weight, name


def test_building_with_no_options_builds_the_defaults():
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20000)
    crd = build_objective("crd", ctx, {})
    term = crd.terms[0]
    assert (crd.num_negatives, crd.sampling, crd.negatives, crd.beta, crd.stages) == (16384, "shared", "bank", 0.8, [])
    assert term.tau == 0.07 and term.critic == "nce" and term.student_memory.momentum == 0.5
    assert term.student_memory.rows.shape == term.teacher_memory.rows.shape == (20000, 128)
    assert term.student_memory.rows.dtype == torch.float32 and not term.teacher_memory.on_host
    for normaliser in (term.student_anchor_z, term.teacher_anchor_z):
        assert (normaliser.mode, normaliser.momentum) == ("first-batch", 0.99)
    for head, width in ((term.embed_student, 6), (term.embed_teacher, 9)):
        assert isinstance(head.centre, nn.BatchNorm1d) and not head.centre.affine and head.centre.num_features == width
        assert (head.linear.in_features, head.linear.out_features) == (width, 128)
    assert MemoryBank(3, 2).momentum == 0.5 and not MemoryBank(3, 2).on_host
    assert (LogNormaliser().mode, LogNormaliser().momentum) == ("first-batch", 0.99)
    assert isinstance(Embed(4, 2).centre, nn.BatchNorm1d) and isinstance(Embed(4, 2, "raw").centre, nn.Identity)


def test_the_queue_variant_passes_every_option_on():
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=50)
    crd = build_objective("crd", ctx, {"negatives": "queue", "queue_size": 7, "feat_dim": 5, "key_momentum": 0.3, "z_mode": "ema",
                                       "z_momentum": 0.6, "embed_inputs": "raw", "critic": "infonce", "bank_dtype": "bfloat16"})
    term = crd.terms[0]
    assert term.key_momentum == 0.3 and term.critic == "infonce" and term.tau == 0.07
    assert term.student_queue.keys.shape == term.teacher_queue.keys.shape == (7, 5)
    assert term.student_queue.keys.dtype == term.teacher_queue.keys.dtype == torch.bfloat16
    assert all((z.mode, z.momentum) == ("ema", 0.6) for z in (term.student_anchor_z, term.teacher_anchor_z))
    assert all(isinstance(head.centre, nn.Identity) for head in (term.embed_student, term.embed_teacher, term.key_student, term.key_teacher))
    banked = build_objective("crd", ctx, {"z_mode": "ema", "z_momentum": 0.6, "embed_inputs": "raw", "bank_dtype": "float16", "momentum": 0.2})
    term = banked.terms[0]
    assert term.student_memory.rows.dtype == term.teacher_memory.rows.dtype == torch.float16
    assert term.student_memory.momentum == term.teacher_memory.momentum == 0.2
    assert all((z.mode, z.momentum) == ("ema", 0.6) for z in (term.student_anchor_z, term.teacher_anchor_z))
    assert isinstance(term.embed_teacher.centre, nn.Identity)


CTX = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=10)


@pytest.mark.parametrize("options", [
    {"num_negatives": 1}, {"feat_dim": 1}, {"tau": 1e-9}, {"queue_size": 1, "negatives": "queue"}, {"momentum": 0.0},
    {"momentum": 0.999}, {"z_momentum": 1e-9}, {"z_momentum": 0.999}, {"key_momentum": 0.0, "negatives": "queue"},
])
def test_crd_accepts_the_edges_of_every_range(options):
    build_objective("crd", CTX, options)


@pytest.mark.parametrize("options, message", [
    ({"num_negatives": 0}, "options num_negatives, queue_size, feat_dim and tau must be positive"),
    ({"feat_dim": 0}, "options num_negatives, queue_size, feat_dim and tau must be positive"),
    ({"tau": 0.0}, "options num_negatives, queue_size, feat_dim and tau must be positive"),
    ({"queue_size": 0}, "options num_negatives, queue_size, feat_dim and tau must be positive"),
    ({"momentum": 1.0}, r"option momentum must lie in \[0, 1\), got 1.0"),
    ({"momentum": -0.1}, r"option momentum must lie in \[0, 1\), got -0.1"),
    ({"z_momentum": 0.0}, r"option z_momentum must lie in \(0, 1\), got 0.0"),
    ({"z_momentum": 1.0}, r"option z_momentum must lie in \(0, 1\), got 1.0"),
    ({"key_momentum": 1.0}, r"option key_momentum must lie in \[0, 1\), got 1.0"),
    ({"z_mode": "last"}, "option z_mode='last' is not one of: first-batch, ema"),
    ({"sampling": "all"}, "option sampling='all' is not one of: shared, per-sample"),
    ({"embed_inputs": "whitened"}, "option embed_inputs='whitened' is not one of: centred, raw"),
    ({"critic": "jsd"}, "option critic='jsd' is not one of: nce, infonce"),
    ({"negatives": "stream"}, "option negatives='stream' is not one of: bank, queue"),
    ({"bank_dtype": "int8"}, "option bank_dtype='int8' is not one of: float32, float16, bfloat16"),
    ({"stages": [7]}, r"option stages=\[7\] is out of range"),
])
def test_crd_option_errors_name_the_option_and_its_range(options, message):
    with pytest.raises(InputError, match=r"^objective 'crd' .*" + message):
        build_objective("crd", CTX, options)


def test_crd_needs_two_samples_and_more_samples_than_a_shared_batch():
    build_objective("crd", ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=2), {})
    with pytest.raises(InputError, match=r"^objective 'crd' needs at least 2 training samples for its memory bank, got 1$"):
        build_objective("crd", ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=1), {})
    crd = build_objective("crd", CTX, {})
    assert crd.draw_negatives(torch.arange(9)).shape == (9,)
    with pytest.raises(InputError, match=r"sampling 'shared' needs more training samples \(10\) than the batch size \(10\)"):
        crd.draw_negatives(torch.arange(10))


def test_crd_diagnostics_are_the_mean_scores_and_each_directions_log_z():
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=12)
    torch.manual_seed(0)
    crd = build_objective("crd", ctx, {"feat_dim": 3, "num_negatives": 6, "tau": 0.5, "embed_inputs": "raw"})
    assert crd.diagnostics() == {}
    crd(Features(pooled=torch.randn(3, 4)), [Features(pooled=torch.randn(3, 5))], {"index": torch.tensor([0, 5, 9])})
    term = crd.terms[0]
    (sp, sn, sz), (tp, tn, tz) = term.last_scores["student_anchor"], term.last_scores["teacher_anchor"]
    diagnostics = crd.diagnostics()
    assert set(diagnostics) == {"crd/pos_score", "crd/neg_score", "crd/log_z_student_anchor", "crd/log_z_teacher_anchor"}
    # scores are kept over tau: the diagnostics undo it (v.u), averaged over the two directions
    assert diagnostics["crd/pos_score"] == pytest.approx(float((sp.mean() + tp.mean()) * 0.5 / 2), rel=1e-6)
    assert diagnostics["crd/neg_score"] == pytest.approx(float((sn.mean() + tn.mean()) * 0.5 / 2), rel=1e-6)
    assert (diagnostics["crd/log_z_student_anchor"], diagnostics["crd/log_z_teacher_anchor"]) == (float(sz), float(tz))
    assert -1 <= diagnostics["crd/pos_score"] <= 1


def test_queue_diagnostics_name_both_directions_and_infonce_has_no_z():
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=12)
    for critic, keys in (("nce", {"pos_score", "neg_score", "log_z_student_anchor", "log_z_teacher_anchor"}), ("infonce", {"pos_score", "neg_score"})):
        crd = build_objective("crd", ctx, {"negatives": "queue", "queue_size": 5, "feat_dim": 3, "critic": critic})
        crd(Features(pooled=torch.randn(3, 4)), [Features(pooled=torch.randn(3, 5))], {"index": torch.tensor([0, 5, 9])})
        assert set(crd.diagnostics()) == {f"crd/{key}" for key in keys}


def test_teacher_reads_combine_as_a_union_keeping_the_first_order_of_stages():
    pooled, logits = TeacherReads(pooled=True), TeacherReads(logits=True)
    assert (pooled | logits) == TeacherReads(pooled=True, logits=True)
    assert (pooled | pooled) == pooled and (logits | TeacherReads()) == logits
    assert (TeacherReads(stages=(3, 1)) | TeacherReads(stages=(1, 0))) == TeacherReads(stages=(3, 1, 0))
    assert (TeacherReads() | TeacherReads()) == TeacherReads(pooled=False, logits=False, stages=())
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=12)
    assert build_objective("crd", ctx, {}).teacher_reads() == TeacherReads(pooled=True)


def test_random_unit_rows_are_normalised_uniform_draws_in_chunks_equal_to_one_draw():
    torch.manual_seed(3)
    expected = torch.nn.functional.normalize(torch.rand(10, 3) * 2 - 1, dim=1)
    torch.manual_seed(3)
    assert torch.equal(random_unit_rows(10, 3, chunk=4), expected)
    torch.manual_seed(3)
    assert torch.equal(random_unit_rows(10, 3, dtype=torch.float16, chunk=3), expected.half())


def test_shared_negatives_reach_the_last_allowed_row_and_a_draw_of_one_stays_in_range(monkeypatch):
    torch.manual_seed(0)
    draws = draw_shared_negatives(torch.tensor([0, 2]), num_rows=5, num_negatives=400)
    assert set(draws.tolist()) == {1, 3, 4}
    monkeypatch.setattr(memory_module.torch, "rand", lambda n, device=None: torch.ones(n))  # float rounding can give rank = count
    assert draw_shared_negatives(torch.tensor([0, 2]), num_rows=5, num_negatives=3).tolist() == [4, 4, 4]
    assert draw_shared_negatives(torch.tensor([4]), num_rows=5, num_negatives=2).tolist() == [3, 3]


@pytest.mark.parametrize("sampling", ["shared", "per-sample"])
def test_a_half_precision_bank_scores_in_the_anchors_precision_for_both_samplings(sampling):
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=12)
    losses = []
    for dtype in ("bfloat16", "float32"):
        torch.manual_seed(0)
        crd = build_objective("crd", ctx, {"feat_dim": 3, "num_negatives": 6, "sampling": sampling, "bank_dtype": dtype})
        torch.manual_seed(1)
        student = torch.randn(3, 4)
        loss = crd(Features(pooled=student), [Features(pooled=torch.randn(3, 5))], {"index": torch.tensor([0, 5, 9])})["crd"]
        assert loss.dtype == torch.float32
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=0.02)


def _zoo_context() -> ObjectiveContext:
    from crossmodal.models.features import MapSpec

    maps = [MapSpec(c, (4, 4)) for c in (3, 4, 5, 6)]
    return ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20000, student_maps=maps, teacher_maps=[maps],
                            teacher_num_classes=[4])


def _zoo_features(seed: int) -> Features:
    generator = torch.Generator().manual_seed(seed)
    return Features(pooled=torch.randn(5, 6 if seed == 0 else 9, generator=generator),
                    maps=[torch.randn(5, c, 4, 4, generator=generator) for c in (3, 4, 5, 6)], logits=torch.randn(5, 4, generator=generator))


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_an_objective_built_without_options_is_the_one_its_documented_defaults_build(name):
    """The defaults a config leaves out are the documented ones (not only those the signature advertises)."""
    built = []
    for options in ({}, dict(DOCUMENTED[name][0])):
        torch.manual_seed(0)
        objective = build_objective(name, _zoo_context(), options)
        objective.set_progress(TrainingProgress(epoch=8, step=70, steps_per_epoch=10, epochs=8))  # past any pre-training
        torch.manual_seed(1)
        losses = objective(_zoo_features(0), [_zoo_features(1)], {"index": torch.arange(5), "target": torch.zeros(5, 1)})
        built.append((objective, {key: float(value.detach()) for key, value in losses.items()}))
    (implicit, implicit_losses), (explicit, explicit_losses) = built
    assert implicit_losses == explicit_losses
    assert implicit.state_dict().keys() == explicit.state_dict().keys()
    assert all(torch.equal(value, explicit.state_dict()[key]) for key, value in implicit.state_dict().items())
    assert vars(implicit).keys() == vars(explicit).keys()
    for key, value in vars(implicit).items():
        if not key.startswith("_") and isinstance(value, (int, float, str, tuple, list)):
            assert value == getattr(explicit, key), (name, key)


def test_the_queue_defaults_size_and_centred_heads_at_scale():
    crd = build_objective("crd", ObjectiveContext(student_dim=6, teacher_dims=[9], num_samples=20000), {"negatives": "queue"})
    term = crd.terms[0]
    assert term.student_queue.keys.shape == (16384, 128) and term.key_momentum == 0.99
    assert all(isinstance(head.centre, nn.BatchNorm1d) for head in (term.embed_student, term.embed_teacher, term.key_student))


def test_crd_contract_errors_are_exact():
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=10)
    with pytest.raises(InputError, match=r"^objective 'crd' option bank_placement=host applies to negatives=bank; a queue's rows stay"):
        build_objective("crd", ctx, {"bank_placement": "host", "negatives": "queue"})
    with pytest.raises(InputError, match=r"^objective 'crd' option key_encoder=student applies to negatives=queue; a bank stores"):
        build_objective("crd", ctx, {"key_encoder": "student"})
    with pytest.raises(ValueError, match=r"^CRD with key_encoder=student needs the student in its ObjectiveContext$"):
        build_objective("crd", ctx, {"key_encoder": "student", "negatives": "queue"})
    crd = build_objective("crd", ctx, {})
    with pytest.raises(ValueError, match=r"^CRD was built for 1 teachers but got 2 outputs$"):
        crd(Features(pooled=torch.randn(2, 4)), [Features(pooled=torch.randn(2, 5))] * 2, {"index": torch.tensor([0, 1])})
    from crossmodal.models.features import MapSpec

    maps = [MapSpec(c, (4, 4)) for c in (3, 4, 5, 6)]
    staged = build_objective("crd", ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=10, student_maps=maps, teacher_maps=[maps]),
                             {"stages": [3, 1]})
    assert staged.teacher_reads() == TeacherReads(stages=(3, 1))


def test_a_host_bank_of_half_precision_scores_in_float32():
    ctx = ObjectiveContext(student_dim=4, teacher_dims=[5], num_samples=12)
    torch.manual_seed(0)
    crd = build_objective("crd", ctx, {"feat_dim": 3, "num_negatives": 6, "bank_dtype": "bfloat16", "bank_placement": "host"})
    loss = crd(Features(pooled=torch.randn(3, 4)), [Features(pooled=torch.randn(3, 5))], {"index": torch.tensor([0, 5, 9])})["crd"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert crd.terms[0].student_memory.rows.dtype == torch.bfloat16


def test_per_teacher_objectives_and_logit_methods_say_what_they_were_given():
    ctx = _zoo_context()
    with pytest.raises(ValueError, match=r"^AttentionTransfer was built for 1 teachers but got 2 outputs$"):
        build_objective("at", ctx, {})(_zoo_features(0), [_zoo_features(1)] * 2, {})
    no_student_logits = Features(pooled=_zoo_features(0).pooled, maps=_zoo_features(0).maps)
    for name, title in (("kd", "KD"), ("dist", "DIST")):
        objective = build_objective(name, ctx, {})
        with pytest.raises(ValueError, match=rf"^{title} needs logits from the student and from every teacher$"):
            objective(no_student_logits, [_zoo_features(1)], {})
        with pytest.raises(ValueError, match=rf"^{title} needs logits from the student and from every teacher$"):
            objective(_zoo_features(0), [Features(pooled=_zoo_features(1).pooled)], {})
