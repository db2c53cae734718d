"""The sound label-efficiency protocol: nested class-stratified subsets of each fold's training clips, the student and
random init fine-tuned on them, and the curve with its fold spread in the report and the benchmark table."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crossmodal.cli.eval import main as eval_main
from crossmodal.errors import InputError
from crossmodal.eval.sound_label_efficiency import SoundLabelEfficiencySettings, WindowClassifier
from crossmodal.experiments.label_table import label_efficiency_table
from tests.test_audio_probe import CLASSES, audio_run  # noqa: F401  (the fixture)

torch.set_num_threads(1)


def test_a_clip_scores_as_its_whole_windows_mean_logits():
    clips = torch.arange(33, dtype=torch.float32).reshape(3, 11)  # two windows of 5 and a remainder that is dropped

    class Mean(torch.nn.Module):
        feature_dim = 1

        def forward(self, x):
            return type("F", (), {"pooled": x.mean(dim=-1)})()

    model = WindowClassifier(Mean(), 2, window=5)
    windows = clips[:, :10].reshape(6, 1, 5)
    assert torch.allclose(model.clip_logits(clips), model(windows).reshape(3, 2, 2).mean(dim=1))
    short = WindowClassifier(Mean(), 2, window=20)
    assert torch.allclose(short.clip_logits(clips), short(clips.unsqueeze(1))), "a clip shorter than a window is one window"


def test_settings_are_checked():
    with pytest.raises(InputError, match="anchor fraction 0.3"):
        SoundLabelEfficiencySettings(anchor=0.3).check()
    with pytest.raises(InputError, match="batch size at least 2"):
        SoundLabelEfficiencySettings(batch_size=1).check()


def test_each_fold_fine_tunes_on_nested_stratified_subsets_of_the_other_folds(audio_run, capsys):  # noqa: F811
    changes = ["fractions=[0.5,1.0]", "anchor=0.5", "epochs=1", "batch_size=4"]
    assert eval_main(["sound-label-efficiency", "--run", str(audio_run), "--device", "cpu", "--set", *changes]) == 0
    out = capsys.readouterr().out
    assert "fold 5, 100% (24 clips, 1 epochs), random init: top-1" in out
    report = json.loads((audio_run / "sound_label_efficiency.json").read_text())
    assert report["test_folds"] == [1, 2, 3, 4, 5] and report["num_labelled_per_fold"] == [[12] * 5, [24] * 5]
    assert report["epochs_per_fold"] == [[2] * 5, [1] * 5], "every fraction takes as many steps as the full part"
    labels = {k: k // 2 % 3 for k in range(30)}  # the tone set's clips, fold by fold: 3 classes x 2 clips
    for fold, order in zip(report["test_folds"], report["subset_orders"]):
        assert sorted(order) == [k for k in range(30) if k // 6 + 1 != fold], "the other folds' clips, each once"
        assert sorted(np.bincount([labels[k] for k in order[:12]])) == [4, 4, 4], "the half subset keeps every class's share"
    for name in ("student", "random init"):
        assert [len(point["folds"]) for point in report["curves"][name]] == [5, 5]
        point = report["curves"][name][1]
        assert np.isclose(point["top1"], np.mean([fold["top1"] for fold in point["folds"]]))
    assert report["labels_saved"]["metric"] == "top1" and report["window_seconds"] == 0.25
    assert (audio_run / "sound_label_efficiency.png").is_file()


def test_the_benchmark_table_shows_top1_per_fraction_and_what_random_init_needs():
    records = [{"method": method, "seed": seed, "label_fractions": [0.1, 1.0], "label_protocol": "sound-label-efficiency",
                "top1@0.1": base + 0.01 * seed, "top1@1": 0.8 + 0.01 * seed}
               for method, base in (("none", 0.3), ("crd", 0.5)) for seed in (0, 1)]
    table = label_efficiency_table(records, ["none", "crd"]).splitlines()
    assert table[0] == "| Method | top-1 at 10% labels | top-1 at 100% labels | Random init needs (to match at 10%) |"
    assert table[2].startswith("| Random init (none) | 30.5 ± 0.7 | 80.5 ± 0.7 |")
    assert "| 50.5 ± 0.7 |" in table[3]


def test_a_loaded_students_frozen_weights_are_fine_tuned_end_to_end_on_a_copy(monkeypatch):
    from crossmodal.eval import sound_label_efficiency as module
    from crossmodal.models.frozen import freeze
    from crossmodal.models.student_registry import build_student

    network = freeze(build_student(name="audio_resnet10", in_channels=1, width=4, num_classes=None))
    before = {name: value.clone() for name, value in network.state_dict().items()}
    trained = []
    monkeypatch.setattr(module.WindowClassifier, "clip_logits",
                        lambda self, clips: trained.append(self) or module.WindowClassifier.forward(self, clips[:, None, :self.window]))
    generator = torch.Generator().manual_seed(0)
    train = (torch.randn(8, 2000, generator=generator), torch.arange(8) % 2)
    test = (torch.randn(2, 2000, generator=generator), np.arange(2) % 2)
    module.finetune_and_score(network, train, test, 2, window=1000, epochs=1,
                              settings=SoundLabelEfficiencySettings(batch_size=4), device=torch.device("cpu"))
    encoder = trained[0].encoder
    conv = next(name for name, _ in encoder.named_parameters() if name.endswith("weight"))
    assert not torch.equal(encoder.state_dict()[conv], before[conv]), "the encoder's first weights moved: trained end to end"
    assert all(torch.equal(value, before[name]) for name, value in network.state_dict().items()), "the student itself is untouched"
    assert not any(parameter.requires_grad for parameter in network.parameters())
