"""The data-set catalog: each data set's options checked in one sentence, the CLI's data flags, and configs written
before data sets had their own options still loading."""
from __future__ import annotations

import pytest
import yaml

from crossmodal.cli.common import run_cli
from crossmodal.cli.train import build_parser, config_from_args, train_main
from crossmodal.config import DataConfig, TrainConfig, apply_overrides, config_from_dict, config_to_dict, load_config
from crossmodal.data.catalog import DATA_SETS, data_options, data_sets_of
from crossmodal.data.rgbd_sets import SyntheticRoomsOptions
from crossmodal.errors import InputError

OLD_DATA_SECTION = {  # a run's data section as versions before data-set options wrote it (every key, defaults included)
    "name": "synthetic-rooms", "source": "rgb", "target": "depth", "root": None, "nyu": None, "split": "all",
    "folder": None, "rooms": {"num": 40, "size": [48, 64], "seed": 0}, "videos": None, "cache": None,
    "av": {"num": 640, "seconds": 3.0, "size": [128, 128], "clips_per_class": 40, "seed": 0},
    "video": {"fps": 2.0, "clip_seconds": 1.0, "frame_size": [128, 128], "gain_db": 3.0, "shift_seconds": 0.1},
    "input_size": [32, 48], "depth_encoding": "metric", "num_workers": 0, "strict": False, "order": "shuffle",
    "chunk_size": 256, "window_chunks": 16,
}


def parse(*argv: str) -> TrainConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def test_every_built_in_format_is_in_the_catalog_with_its_modality_default_first():
    assert [kind.name for kind in data_sets_of("depth", default="synthetic-rooms")] == ["synthetic-rooms", "nyu", "rgbd-folder", "nyu-raw", "sunrgbd"]
    assert [kind.name for kind in data_sets_of("audio", default="synthetic-av")] == ["synthetic-av", "video", "video-cache"]
    assert DATA_SETS.names() == ["esc50", "nyu", "nyu-raw", "rgbd-folder", "sunrgbd", "synthetic-av", "synthetic-rooms", "video", "video-cache"]
    assert DATA_SETS.get("esc50").open is None, "ESC-50 holds labelled sounds for evaluation only"


def test_options_default_where_unset_and_are_converted_to_their_types():
    assert data_options(DataConfig()) == SyntheticRoomsOptions()
    options = data_options(DataConfig(options={"num": "40", "size": [48, 64], "split": "all"}))
    assert (options.num, options.size, options.split) == (40, (48, 64), "all")
    assert data_options(DataConfig(name="nyu", options={"path": "~/nyu.mat"})).path == "~/nyu.mat"


@pytest.mark.parametrize("data, message", [
    (DataConfig(options={"nmu": 3, "zz": 1}),
     "data set 'synthetic-rooms' has no option 'nmu', 'zz'; its options are: num, size, seed, split"),
    (DataConfig(options={"num": "many"}),
     "config key 'num' in the options of data set 'synthetic-rooms' must be int, got 'many'"),
    (DataConfig(options={"num": 0}), "data set 'synthetic-rooms' options num and size must be positive, got 0 and (120, 160)"),
    (DataConfig(name="nyu", options={"split": "val"}), "data set 'nyu' option split='val' is not one of: train, test, all"),
    (DataConfig(name="synthetic-av", target="audio", options={"seconds": 1.0}),
     "data set 'synthetic-av' option seconds (1.0) must exceed clip_seconds (1.0): every video needs room for one audio window"),
    (DataConfig(name="video-cache", target="audio", options={"fps": 4}),
     "data set 'video-cache' has no option 'fps'; its options are: path, clip_seconds"),
])
def test_a_bad_option_is_one_sentence_naming_the_data_set_and_the_option(data, message):
    with pytest.raises(InputError) as caught:
        data_options(data)
    assert str(caught.value) == message


def test_data_flags_name_the_data_set_and_its_path():
    assert (parse("--data", "nyu", "--data-path", "x.mat").data.options) == {"path": "x.mat"}
    assert parse("--nyu", "x.mat").data == parse("--data", "nyu", "--data-path", "x.mat").data
    assert parse("--folder", "rgbd").data == parse("--data", "rgbd-folder", "--data-path", "rgbd").data
    kept = parse("--set", "data.options.num=40", "--data", "synthetic-rooms")
    assert kept.data.options == {"num": 40}, "--set comes last and reaches the chosen data set"
    other = parse("--config", "crd_depth.yaml", "--data", "nyu", "--data-path", "n.mat")
    assert other.data.options == {"path": "n.mat"}, "another data set starts from its own defaults"


@pytest.mark.parametrize("argv, message", [
    (["--nyu", "a.mat", "--folder", "b"], "error: --nyu and --folder name different data sets (nyu, rgbd-folder); give one"),
    (["--nyu", "a.mat", "--data-path", "b.mat"], "error: --data-path repeats --nyu, which gives the path already; give one"),
    (["--data", "nyu"], "error: data set 'nyu' needs the path of nyu_depth_v2_labeled.mat or its cache: --data-path PATH (data.options.path)"),
    (["--data", "synthetic-rooms", "--set", "data.options.split=val"],
     "error: data set 'synthetic-rooms' option split='val' is not one of: train, test, all"),
    (["--target", "audio", "--data", "esc50", "--data-path", "sounds"],
     "error: data set 'esc50' holds labelled audio for evaluation only, with no rgb to pair it with; train on: synthetic-av, video, video-cache"),
    (["--set", "data.rooms.num=40"],
     "error: config key 'data.rooms' in --set data.rooms.num=40 is a data set option now: data.options.num, size, seed (data set synthetic-rooms)"),
])
def test_data_mistakes_on_the_command_line_are_one_sentence(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(train_main, [*argv, "--wandb", "disabled"]) == 2
    assert capsys.readouterr().err.strip() == message


def test_a_run_config_written_before_data_set_options_loads_as_the_same_run_today():
    old = {"data": OLD_DATA_SECTION, "schedule": {"epochs": 2}}
    config = config_from_dict(old, origin="an old checkpoint")
    today = apply_overrides(TrainConfig(), [
        "data.options.num=40", "data.options.size=[48, 64]", "data.options.split=all", "data.input_size=[32, 48]",
        "data.augment.gain_db=3.0", "schedule.epochs=2",
        "data.num_workers=0",  # written explicitly then; unset now means "as the device suits", which was 0 on the CPU
    ])
    assert config_to_dict(config) == config_to_dict(today)
    assert config_from_dict(config_to_dict(config)) == config, "a translated config round-trips unchanged"


@pytest.mark.parametrize("old, options", [
    ({"name": "nyu", "nyu": "n.mat"}, {"path": "n.mat"}),
    ({"name": "rgbd-folder", "folder": "f", "strict": True}, {"path": "f", "strict": True}),
    ({"name": "video", "target": "audio", "videos": "v", "cache": "c", "video": {"fps": 4.0}}, {"path": "v", "cache": "c", "fps": 4.0}),
    ({"name": "video-cache", "target": "audio", "cache": "c", "video": {"clip_seconds": 0.5}}, {"path": "c", "clip_seconds": 0.5}),
    ({"name": "synthetic-av", "target": "audio", "av": {"num": 8, "seconds": 1.5}, "cache": "c"},
     {"num": 8, "seconds": 1.5, "cache": "c"}),
])
def test_an_old_experiment_file_still_loads_into_its_data_sets_options(tmp_path, old, options):
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"data": old}))
    config = load_config(path)
    assert (config.data.name, config.data.options) == (old["name"], options)
    data_options(config.data)


def test_generated_data_goes_to_the_users_cache_unless_told_otherwise(monkeypatch, tmp_path):
    from crossmodal.data.kinds import data_dir

    monkeypatch.delenv("CROSSMODAL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir(DataConfig()) == tmp_path / "cache" / "crossmodal"
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "elsewhere"))
    assert data_dir(DataConfig()) == tmp_path / "elsewhere"
    assert data_dir(DataConfig(root=str(tmp_path / "root"))) == tmp_path / "root"
