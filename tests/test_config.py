"""The config tree: YAML files with bases, dotted overrides, and errors that name the bad key."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from crossmodal.config import TrainConfig, apply_overrides, config_from_dict, config_to_dict, load_config, save_config
from crossmodal.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPERIMENTS = {"crd_depth.yaml": "crd", "fitnet_depth.yaml": "fitnet", "kd_depth.yaml": "kd", "crdkd_depth.yaml": "crd+kd", "none_depth.yaml": "none"}


def test_default_experiment_file_matches_dataclass_defaults():
    assert load_config(CONFIGS / "crd_depth.yaml") == TrainConfig()


@pytest.mark.parametrize("name, objective", sorted(EXPERIMENTS.items()))
def test_every_experiment_file_loads_with_its_objective(name, objective):
    config = load_config(CONFIGS / name)
    assert config.objective.name == objective
    assert config.data == TrainConfig().data


def test_base_file_is_merged_key_by_key(tmp_path):
    (tmp_path / "base.yaml").write_text("optim: {lr: 0.2, momentum: 0.5}\nobjective: {options: {tau: 0.1}}\n")
    (tmp_path / "exp.yaml").write_text("base: base.yaml\noptim: {lr: 0.01}\nobjective: {options: {num_negatives: 8}}\n")
    config = load_config(tmp_path / "exp.yaml")
    assert (config.optim.lr, config.optim.momentum) == (0.01, 0.5)
    assert config.objective.options == {"tau": 0.1, "num_negatives": 8}


def test_overrides_parse_yaml_values_and_reach_free_options():
    config = apply_overrides(
        TrainConfig(),
        ["optim.lr=0.01", "objective.options.num_negatives=4096", "data.input_size=[64, 80]", "teacher.specs=[resnet18, resnet50]", "run.amp=true"],
    )
    assert config.optim.lr == 0.01
    assert config.objective.options == {"num_negatives": 4096}
    assert config.data.input_size == (64, 80)
    assert config.teacher.specs == ["resnet18", "resnet50"]
    assert config.run.amp is True
    assert TrainConfig().objective.options == {}, "overrides must not mutate the defaults"


@pytest.mark.parametrize(
    "override, named",
    [("optim.lrr=0.1", "'optim.lrr'"), ("optimiser.lr=0.1", "'optimiser'"), ("data.rooms.num=3", "'data.rooms' .* is a data set option now: data.options.num")],
)
def test_unknown_override_key_names_the_key(override, named):
    with pytest.raises(InputError, match=named):
        apply_overrides(TrainConfig(), [override])


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("schedule: {epoch: 3}\n")
    with pytest.raises(InputError, match=r"'schedule.epoch'.*typo.yaml"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=fast", r"'optim.lr' in --set optim.lr=fast must be float, got 'fast'"),
        ("schedule.epochs=2.5", r"'schedule.epochs' .* must be int, got 2.5"),
        ("data.input_size=[1, 2, 3]", r"'data.input_size' .* needs 2 values, got \[1, 2, 3\]"),
        ("run.amp=3", r"'run.amp' .* must be bool, got 3"),
        ("optim=1", r"'optim' .* must be a mapping, got 1"),
        ("novalue", r"override 'novalue' must look like section.key=value"),
    ],
)
def test_ill_typed_or_malformed_overrides_are_input_errors(override, message):
    with pytest.raises(InputError, match=message):
        apply_overrides(TrainConfig(), [override])


def test_missing_file_and_base_cycle_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(InputError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_saved_config_round_trips_and_is_plain_data(tmp_path):
    config = apply_overrides(TrainConfig(), ["objective.name=kd", "objective.options.temperature=2.0", "data.options.size=[30, 40]"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    plain = config_to_dict(config)
    assert plain["data"]["options"]["size"] == [30, 40]
    torch.save(plain, tmp_path / "plain.pt")
    assert config_from_dict(torch.load(tmp_path / "plain.pt", weights_only=True)) == config
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["objective"]["name"] == "kd"


def test_experiment_name_groups_by_modalities_and_data():
    assert TrainConfig().experiment == "rgb->depth/synthetic-rooms"


def test_another_data_set_named_by_set_starts_from_its_own_options():
    config = apply_overrides(TrainConfig(), ["data.options.num=1200"])
    moved = apply_overrides(config, ["data.name=nyu-raw", "data.options.path=/cache"])
    assert moved.data.options == {"path": "/cache"}
    assert apply_overrides(moved, ["data.name=nyu-raw"]).data.options == {"path": "/cache"}  # the same set keeps them
