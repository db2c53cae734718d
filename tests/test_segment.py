"""Segmentation heads on a tiny synthetic set whose labels follow from the depth input, and crossmodal-segment."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from crossmodal.cli.segment import main as segment_main
from crossmodal.data.nyu import split_indices
from crossmodal.errors import InputError
from crossmodal.eval.render import label_palette, render_examples
from crossmodal.eval.seg_heads import build_segmentation_head
from crossmodal.eval.segment import HeadTraining, Segmenter, evaluate_segmenter, train_segmenter
from crossmodal.modalities import MODALITIES
from crossmodal.models.features import Features
from tests.nyu_files import random_frames
from tests.test_probe import INPUT_SIZE, fake_run, labelled_file


class TinyEncoder(nn.Module):
    """Two stages (strides 2 and 4) returning Features, with BatchNorm to check frozen statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.map_channels = [8, 16]
        self.feature_dim = 16

    def forward(self, x):
        first = self.stage1(x)
        second = self.stage2(first)
        return Features(pooled=second.mean(dim=(2, 3)), maps=[first, second])


def depth_threshold_set(num: int, seed: int) -> list[dict]:
    """Near half / far half scenes: class 0 below 0.5, class 1 above, one ignored row."""
    generator = torch.Generator().manual_seed(seed)
    items = []
    for index in range(num):
        split = int(torch.randint(4, 12, (), generator=generator))
        depth = torch.full((1, 16, 16), 0.2)
        depth[:, :, split:] = 0.8
        depth += 0.05 * torch.randn(depth.shape, generator=generator)
        seg = (depth[0] > 0.5).long()
        seg[0] = 255
        items.append({"target": depth, "seg": seg, "index": index})
    return items


@pytest.fixture(autouse=True)
def few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("kind, ratio", [("linear", 0.9), ("fcn", 0.3)])
def test_head_training_reduces_loss_and_leaves_frozen_encoder_untouched(kind, ratio):
    torch.manual_seed(0)
    encoder = TinyEncoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model = Segmenter(encoder, build_segmentation_head(kind, encoder.map_channels, 2))
    losses = train_segmenter(model, depth_threshold_set(32, seed=0), HeadTraining(epochs=6, batch_size=8, lr=0.1))
    assert losses[-1] < ratio * losses[0]
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), f"frozen encoder changed {key}"


def test_precomputed_maps_train_the_head_exactly_as_running_the_frozen_encoder_each_epoch():
    data = depth_threshold_set(24, seed=0)
    runs = []
    for precompute in (False, True):
        torch.manual_seed(0)
        encoder = TinyEncoder()
        model = Segmenter(encoder, build_segmentation_head("fcn", encoder.map_channels, 2))
        losses = train_segmenter(model, data, HeadTraining(epochs=3, batch_size=8, lr=1e-2, precompute_maps=precompute))
        runs.append((losses, model.head.state_dict()))
    (plain_losses, plain_head), (cached_losses, cached_head) = runs
    assert cached_losses == pytest.approx(plain_losses, rel=1e-5)
    assert all(torch.allclose(plain_head[k], cached_head[k], atol=1e-6) for k in plain_head)
    with pytest.raises(InputError, match="frozen encoder"):
        model = Segmenter(TinyEncoder(), build_segmentation_head("linear", [8, 16], 2), finetune=True)
        train_segmenter(model, data, HeadTraining(epochs=1, precompute_maps=True))


def test_finetuning_trains_the_encoder_too():
    torch.manual_seed(0)
    encoder = TinyEncoder()
    before = encoder.stage1[0].weight.clone()
    model = Segmenter(encoder, build_segmentation_head("linear", encoder.map_channels, 2), finetune=True)
    train_segmenter(model, depth_threshold_set(16, seed=0), HeadTraining(epochs=1, batch_size=8))
    assert not torch.equal(encoder.stage1[0].weight, before)


def test_evaluation_counts_every_labelled_test_pixel_once():
    torch.manual_seed(0)
    encoder = TinyEncoder()
    model = Segmenter(encoder, build_segmentation_head("fcn", encoder.map_channels, 2))
    train_segmenter(model, depth_threshold_set(32, seed=0), HeadTraining(epochs=6, batch_size=8, lr=1e-2))
    test_set = depth_threshold_set(10, seed=1)
    confusion, examples = evaluate_segmenter(model, test_set, num_classes=2, batch_size=4, num_examples=3)
    assert confusion.sum() == 10 * 15 * 16  # the first row of each label map is ignored
    assert np.trace(confusion) / confusion.sum() > 0.9
    assert len(examples) == 3 and examples[0].prediction.shape == (16, 16)
    grid = render_examples(examples, MODALITIES.get("depth").render, gap=4, min_tile_height=16)
    title = 24  # one band of column titles above the rows
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[0] == title + 3 * 16 + 2 * 4 and grid.shape[1] == 3 * 16 + 2 * 4
    assert render_examples(examples, MODALITIES.get("depth").render, gap=4, min_tile_height=40).shape[0] == title + 3 * 48 + 2 * 4
    named = render_examples(examples, MODALITIES.get("depth").render, gap=4, min_tile_height=40,
                            class_names=["far", "near"], caption="pixel acc 95.0%")
    legend_and_caption = named[title + 3 * 48 + 2 * 4:]
    assert legend_and_caption.shape[0] == 2 * title  # both classes fit one legend row; one caption line
    for label in (0, 1):  # each class's swatch is in the legend
        assert (legend_and_caption == label_palette()[label]).all(axis=-1).sum() >= 100


def test_palette_is_fixed_distinct_and_ignore_is_black():
    palette = label_palette()
    assert np.array_equal(palette, label_palette())
    assert len({tuple(colour) for colour in palette[:40]}) == 40
    assert palette[255].tolist() == [0, 0, 0]
    assert palette[:40].sum(axis=1).min() > 0


def test_segment_cli_writes_scores_and_picture(tmp_path, capsys):
    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "tiny.mat"))
    argv = ["--run", str(run), "--head", "fcn", "--classes", "13", "--epochs", "1", "--examples", "2",
            "--device", "cpu", "--wandb", "disabled"]
    assert segment_main(argv) == 0
    report = json.loads((run / "segment.json").read_text())
    assert report["labels"] == "nyu13" and len(report["per_class_iou"]) == 13
    frames, test = random_frames(28, *INPUT_SIZE, seed=0), split_indices(28, "test")
    assert report["split"] == "test" and report["num_scored"] == len(test) == 12
    confusion = np.asarray(report["confusion"])
    assert confusion.sum() == report["labelled_pixels"] == sum(int((frames[i].labels > 0).sum()) for i in test) == 9203
    hits, truth, predicted = np.diag(confusion), confusion.sum(1), confusion.sum(0)
    present = truth > 0
    assert report["miou"] == pytest.approx(np.mean(hits[present] / (truth + predicted - hits)[present]), abs=1e-12)
    assert report["pixel_accuracy"] == pytest.approx(hits.sum() / 9203, abs=1e-12) and len(report["train_losses"]) == 1
    assert (run / "segment.png").stat().st_size > 0
    assert "mIoU" in capsys.readouterr().out


def test_segment_cli_rejects_data_without_pixel_labels(tmp_path, capsys):
    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "unlabelled.mat", unlabelled=True))
    assert segment_main(["--run", str(run), "--epochs", "1", "--device", "cpu", "--wandb", "disabled"]) == 2
    assert "no labelled pixels" in capsys.readouterr().err


def test_segment_cli_survives_a_broken_wandb(tmp_path, monkeypatch, capsys):
    import wandb

    def broken_init(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(wandb, "init", broken_init)
    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "tiny.mat"))
    assert segment_main(["--run", str(run), "--epochs", "1", "--device", "cpu", "--wandb", "offline"]) == 0
    assert (run / "segment.json").is_file()
    assert "warning: wandb" in capsys.readouterr().err


def test_train_then_probe_then_segment(tmp_path):
    """A one-epoch CRD run on a few synthetic rooms, then both evaluations on its checkpoint."""
    from dataclasses import replace

    from crossmodal.cli.probe import main as probe_main
    from crossmodal.config import TrainConfig
    from crossmodal.engine.trainer import Trainer

    config = TrainConfig()
    config = replace(
        config,
        data=replace(config.data, root=str(tmp_path / "data"), input_size=(48, 64),
                     options={"num": 30, "size": (48, 64)}),
        student=replace(config.student, name="resnet10", width=4),
        schedule=replace(config.schedule, epochs=1, batch_size=8),
        run=replace(config.run, dir=str(tmp_path / "run"), device="cpu", wandb="disabled", progress=False),
    )
    run = Trainer(config).fit()
    assert probe_main(["--run", str(run), "--device", "cpu"]) == 0
    assert segment_main(["--run", str(run), "--epochs", "1", "--device", "cpu", "--wandb", "disabled"]) == 0
    probe, segment = json.loads((run / "probe.json").read_text()), json.loads((run / "segment.json").read_text())
    assert probe["num_train"] + probe["num_test"] == 30
    assert segment["checkpoint"] == str(run / "last.pt") and segment["labelled_pixels"] > 0


def test_the_segment_commands_defaults_are_the_benchmarks_protocol():
    from crossmodal.cli.segment import LABEL_SETS, build_parser
    from crossmodal.eval.catalog import PROTOCOLS
    from crossmodal.eval.reports import EvalSettings

    args = build_parser().parse_args(["--run", "RUN"])
    benchmark = PROTOCOLS.get("segmentation").benchmark_settings(EvalSettings(), seed=0)
    assert (LABEL_SETS[args.classes], args.head, args.epochs, args.batch_size, args.lr, args.split, args.seed) == (
        benchmark.labels, benchmark.head, benchmark.epochs, benchmark.batch_size, benchmark.lr, benchmark.split, benchmark.seed)
    assert (benchmark.labels, benchmark.epochs) == ("nyu13", 10)


def test_median_frequency_balancing_weighs_rare_classes_up_and_absent_ones_out():
    from crossmodal.eval.segment import balanced_class_weights

    seg = torch.zeros(10, 10, dtype=torch.int64)
    seg[0] = 1  # class 1: 10 of the 100 pixels; class 0: 90; class 2: none
    seg[9, :5] = 255  # ignored pixels count for no class
    samples = [{"seg": seg}]
    weights = balanced_class_weights(samples, 3)
    shares = torch.tensor([85 / 95, 10 / 95])
    expected = shares.median() / shares  # the median of two is the lower one here, as torch.median takes it
    assert torch.allclose(weights[:2], expected.float()) and weights[2] == 0
    with pytest.raises(InputError, match="no labelled pixels"):
        balanced_class_weights([{"seg": torch.full((2, 2), 255)}], 3)


def test_a_class_balanced_head_is_asked_for_through_crossmodal_eval(tmp_path):
    from crossmodal.cli.eval import main as eval_main

    run = fake_run(tmp_path / "run", labelled_file(tmp_path / "tiny.mat"))
    assert eval_main(["segmentation", "--run", str(run), "--device", "cpu", "--wandb", "disabled",
                      "--set", "epochs=1", "labels=nyu40", "class_balanced=true"]) == 0
    report = json.loads((run / "segment.json").read_text())
    assert report["class_balanced"] is True and report["labels"] == "nyu40"
