"""``rlmodule train`` settings from the command line: ``--set KEY=VALUE`` and ``--env-config``."""

from __future__ import annotations

import re

import pytest

from rlmodule_core.cli.main import main
from rlmodule_core.train.env_runner import EnvRunner, GymEnvFactory
from rlmodule_core.train.loop import build_config
from rlmodule_core.train.overrides import apply_overrides, parse_env_config, parse_overrides


def test_set_values_are_toml_scalars_lists_or_bare_words():
    parsed = parse_overrides([
        "lr=1e-3", "num_envs=8", "anneal_lr=false", "model.fcnet_hiddens=[32, 32]",
        "model.fcnet_activation=relu", 'model.conv_activation="elu"', "vf_clip_param=0.5",
    ])
    assert parsed == {
        "lr": 1e-3, "num_envs": 8, "anneal_lr": False, "vf_clip_param": 0.5,
        "model": {"fcnet_hiddens": [32, 32], "fcnet_activation": "relu", "conv_activation": "elu"},
    }


@pytest.mark.parametrize(
    "items, message",
    [
        (["lr"], "Expected --set KEY=VALUE"),
        (["model.=1"], "Expected --set KEY=VALUE"),
        (["lr=[1,"], "cannot read '\\[1,' as a TOML value"),
        (["lr=1", "lr=2"], "sets 'lr' more than once"),
        (["model=1", "model.use_lstm=true"], "sets 'model' and also a key inside it"),
    ],
)
def test_set_rejects_malformed_items(items, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(items)


def test_overrides_merge_into_tables_and_keep_other_keys():
    config = build_config("ppo", None, ["model.use_lstm=true", "gamma=0.9"])
    assert config.gamma == 0.9
    assert config.model["use_lstm"] is True
    assert config.model["fcnet_hiddens"] == [64, 64]  # the default model table is kept, not replaced
    with pytest.raises(ValueError, match="Cannot set keys inside 'lr'"):
        apply_overrides({"lr": 1.0}, {"lr": {"x": 1}})


def test_set_applies_over_a_config_file(tmp_path):
    (tmp_path / "c.toml").write_text("lr = 0.01\n[model]\nfcnet_hiddens = [16]\n")
    config = build_config("ppo", tmp_path / "c.toml", ["model.fcnet_activation=relu"])
    assert config.lr == 0.01 and config.model == {"fcnet_hiddens": [16], "fcnet_activation": "relu"}


@pytest.mark.parametrize(
    "item, message",
    [
        ("lrr=1", r"Unknown PPOConfig keys \['lrr'\]"),
        ("model.use_lstmm=true", r"Unknown model keys \['use_lstmm'\] for PPO"),
    ],
)
def test_set_unknown_keys_fail_before_training(tmp_path, capsys, item, message):
    out = tmp_path / "run"
    assert main(["train", "--set", item, "--framework", "numpy", "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("Unknown") == 1
    with pytest.raises(ValueError, match=message):
        build_config("ppo", None, [item])
    assert not out.exists()


def test_dqn_accepts_its_own_model_keys():
    assert build_config("dqn", None, ["model.num_atoms=51"]).model["num_atoms"] == 51
    with pytest.raises(ValueError, match="Unknown model keys"):
        build_config("ppo", None, ["model.num_atoms=51"])


def test_env_config_reaches_the_env_constructor():
    assert parse_env_config('{"max_episode_steps": 7}') == {"max_episode_steps": 7}
    runner = EnvRunner(GymEnvFactory("CartPole-v1", {"max_episode_steps": 7}), 1, seed=0)
    returns = runner.evaluate(_AlwaysLeft(runner), 2)
    assert returns == [7.0, 7.0]  # always pushing left ends CartPole after ~9 steps: cut at 7


class _AlwaysLeft:
    """A stand-in module: the env runner needs only forward_inference and a distribution."""

    def __init__(self, runner):
        from rlmodule_core.backend import registry

        self.backend = registry.get_backend("numpy")

    def forward_inference(self, batch, **kwargs):
        import numpy as np

        from rlmodule_core import Columns

        return {Columns.ACTIONS: np.zeros(len(batch[Columns.OBS]), np.int64)}


@pytest.mark.parametrize(
    "text, message",
    [
        ("{max_episode_steps: 7}", "expects a JSON object"),
        ("[1, 2]", "expects a JSON object .* received list"),
        ('{"no_such_kwarg": 1}', "does not fit 'CartPole-v1'.*no_such_kwarg"),
    ],
)
def test_bad_env_config_fails_before_training(tmp_path, capsys, text, message):
    out = tmp_path / "run"
    assert main(["train", "--env-config", text, "--framework", "numpy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "model.use_lstm=true", "--num-env-runners", "2"], "Recurrent PPO .* samples in this process only"),
        (["--set", "model.use_lstm=true", "--set", "model.lstm_use_prev_reward=true"],
         "does not feed previous actions or rewards"),
        (["--algo", "sac", "--env", "CartPole-v1", "--set", "model.use_lstm=true"], "does not support use_lstm"),
        (["--algo", "sac", "--env", "MountainCar-v0", "--set", "model.twin_qq=1"], r"Unknown model keys \['twin_qq'\]"),
    ],
)
def test_settings_the_trainer_cannot_use_fail_before_training(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["train", "--framework", "numpy", "--out", str(out), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()
