"""Label efficiency: nested stratified subsets, the labels-saved interpolation, and the protocol on a tiny run."""
from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from crossmodal.cli import benchmark
from crossmodal.cli.eval import main as eval_main
from crossmodal.errors import InputError
from crossmodal.eval.label_curves import AT_MOST, INTERPOLATED, MORE_THAN, fraction_needed, labels_saved
from crossmodal.eval.label_efficiency import LabelEfficiencySettings
from crossmodal.eval.label_subsets import equal_step_epochs, labelled_order, nested_subsets, subset_size
from crossmodal.experiments.label_table import label_efficiency_table, plot_label_curves
from tests.test_probe import fake_run, labelled_file


def test_subsets_are_nested_prefixes_of_one_seeded_order():
    order = labelled_order(200, seed=3)
    subsets = nested_subsets(order, (0.01, 0.05, 0.1, 0.25, 1.0))
    sizes = [len(subsets[f]) for f in (0.01, 0.05, 0.1, 0.25, 1.0)]
    assert sizes == [2, 10, 20, 50, 200]
    assert sorted(subsets[1.0]) == list(range(200))
    assert set(subsets[0.01]) <= set(subsets[0.05]) <= set(subsets[0.1]) <= set(subsets[0.25])
    assert labelled_order(200, seed=3) == order and labelled_order(200, seed=4) != order
    assert subset_size(0.001, 200) == 1  # never an empty subset
    with pytest.raises(InputError, match=r"label fraction 1.5 must be in \(0, 1\]"):
        subset_size(1.5, 200)


def test_every_prefix_of_a_stratified_order_holds_each_class_near_its_share():
    strata = [0] * 60 + [1] * 30 + [2] * 10
    order = labelled_order(100, seed=0, strata=strata)
    assert sorted(order) == list(range(100))
    assert Counter(strata[i] for i in order[:10]) == {0: 6, 1: 3, 2: 1}
    for k in range(1, 101):
        counts = Counter(strata[i] for i in order[:k])
        for label, total in Counter(strata).items():
            assert abs(counts[label] - k * total / 100) < 2, (k, label, counts)
    unstratified = labelled_order(100, seed=0)
    assert max(abs(Counter(strata[i] for i in unstratified[:k])[2] - k / 10) for k in range(1, 101)) >= 2
    with pytest.raises(InputError, match="99 class labels for 100 frames"):
        labelled_order(100, seed=0, strata=strata[:99])


def test_fraction_needed_interpolates_in_log_fraction_on_a_hand_made_curve():
    fractions, scores = [0.01, 0.1, 1.0], [0.10, 0.30, 0.50]
    halfway = fraction_needed(fractions, scores, 0.40)
    assert halfway.kind == INTERPOLATED and math.isclose(halfway.fraction, math.sqrt(0.1))  # halfway between 10 % and 100 %
    quarter = fraction_needed(fractions, scores, 0.15)
    assert math.isclose(quarter.fraction, 10 ** -1.75)  # a quarter of the way from 1 % to 10 % in log fraction
    assert fraction_needed(fractions, scores, 0.30).fraction == pytest.approx(0.1)
    for reached_at_once in (0.05, 0.10):
        first = fraction_needed(fractions, scores, reached_at_once)
        assert (first.kind, first.fraction, first.describe()) == (AT_MOST, 0.01, "at most 1%")
    beyond = fraction_needed(fractions, scores, 0.60)
    assert (beyond.kind, beyond.fraction, beyond.describe()) == (MORE_THAN, 1.0, "more than 100%")
    dip = fraction_needed([0.01, 0.1, 0.5, 1.0], [0.1, 0.5, 0.3, 0.6], 0.4)  # the first crossing counts
    assert 0.01 < dip.fraction < 0.1
    # random init needs sqrt(0.1) = 31.6 % to reach what the distilled curve scores at 10 %
    saved = labels_saved(fractions, scores, [0.30, 0.40, 0.55], anchor=0.1)
    assert math.isclose(saved.fraction, math.sqrt(0.1)) and saved.describe() == "31.6%"
    with pytest.raises(InputError, match="anchor 0.2 is not one of the measured fractions"):
        labels_saved(fractions, scores, scores, anchor=0.2)
    with pytest.raises(InputError, match="must be positive and increasing"):
        fraction_needed([0.1, 0.01], [0.1, 0.2], 0.15)


def test_every_fraction_trains_as_many_steps_as_the_full_set():
    assert equal_step_epochs(10, 16, 1600, 1600) == 10  # 100 batches per epoch: 1000 steps
    assert equal_step_epochs(10, 16, 160, 1600) == 100  # ten batches per epoch
    assert equal_step_epochs(10, 16, 10, 1600) == 1000  # one batch per epoch
    assert equal_step_epochs(10, 16, 170, 1600) == 100  # the loader drops the last partial batch
    with pytest.raises(InputError, match="anchor fraction 0.3 must be one of the fractions"):
        LabelEfficiencySettings(anchor=0.3).check()
    with pytest.raises(InputError, match="must be increasing, distinct"):
        LabelEfficiencySettings(fractions=(0.5, 0.1)).check()


TINY = ["--set", "fractions=[0.25,1.0]", "anchor=0.25", "epochs=1", "batch_size=8", "head=linear"]


def test_label_efficiency_on_a_run_writes_both_curves_the_subsets_and_a_plot(tmp_path, capsys):
    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "tiny.mat"))
    assert eval_main(["label-efficiency", "--run", str(run), "--device", "cpu", "--wandb", "disabled", *TINY]) == 0
    report = json.loads((run / "label_efficiency.json").read_text())
    assert report["fractions"] == [0.25, 1.0] and report["num_labelled"] == [4, 16] and report["num_fit"] == 16
    assert sorted(report["subset_order"]) == list(range(16)) and report["stratified_by_scene"]
    assert report["epochs_per_fraction"] == [2, 1]  # 4 frames: one batch an epoch, two epochs for two steps
    assert set(report["curves"]) == {"student", "random init"}
    for curve in report["curves"].values():
        assert len(curve) == 2 and all(0 <= point["miou"] <= point["pixel_accuracy"] <= 1 for point in curve)
    assert report["curves"]["student"] != report["curves"]["random init"]
    assert report["labels_saved"]["kind"] in (INTERPOLATED, AT_MOST, MORE_THAN)
    assert (run / "label_efficiency.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "label efficiency (nyu13, linear head, fine-tuned end to end)" in out
    assert "the mIoU this student reaches with 25% of the labels" in out


def test_a_random_init_student_seeded_as_the_reference_gives_the_reference_curve(tmp_path):
    """The student and the reference go through one code path: the same weights give the same curve to the bit."""
    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "tiny.mat"))
    out = tmp_path / "reference"
    assert eval_main(["label-efficiency", "--random-init", "resnet10", "--width", "4", "--like", str(run), "--seed", "5",
                      "--device", "cpu", "--wandb", "disabled", "--out", str(out), *TINY]) == 0
    report = json.loads((out / "label_efficiency.json").read_text())
    assert report["curves"]["student"] == report["curves"]["random init"]
    assert report["labels_saved"]["kind"] == AT_MOST  # equal curves: reached at the smallest fraction


def curve_record(method: str, seed: int, mious: list[float]) -> dict:
    fractions = [0.01, 0.1, 1.0]
    return {"method": method, "seed": seed, "label_fractions": fractions, **{f"miou@{f:g}": m for f, m in zip(fractions, mious)}}


def test_the_benchmark_table_averages_curves_over_seeds_and_says_what_random_init_needs(tmp_path):
    records = [
        curve_record("none", 0, [0.05, 0.25, 0.45]), curve_record("none", 1, [0.15, 0.35, 0.55]),
        curve_record("crd", 0, [0.30, 0.40, 0.60]), curve_record("crd", 1, [0.30, 0.40, 0.50]),
        {"method": "kd", "seed": 0, "miou": 0.3},  # judged without the protocol: no row
    ]
    table = label_efficiency_table(records, ["none", "kd", "crd"])
    assert table is not None
    rows = table.splitlines()
    assert rows[0] == "| Method | mIoU at 1% labels | mIoU at 10% labels | mIoU at 100% labels | Random init needs (to match at 10%) |"
    assert rows[2] == "| Random init (none) | 10.0 ± 7.1 | 30.0 ± 7.1 | 50.0 ± 7.1 | – |"
    # CRD's mean at 10 % is 40; random init's mean curve goes 30 -> 50 between 10 % and 100 %: halfway, sqrt(0.1)
    assert rows[3] == "| CRD | 30.0 ± 0.0 | 40.0 ± 0.0 | 55.0 ± 7.1 | 31.6% |"
    assert len(rows) == 4
    assert label_efficiency_table([{"method": "crd", "seed": 0, "miou": 0.3}], ["crd"]) is None
    assert plot_label_curves(records, ["none", "crd"], tmp_path / "curve.png", "t").stat().st_size > 1000


def test_a_benchmark_protocol_that_applies_to_no_target_is_a_one_line_error(capsys):
    assert benchmark.main(["--targets", "audio", "--protocols", "label-efficiency"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--protocols label-efficiency: no protocol of that name applies to audio" in error and "\n" not in error
