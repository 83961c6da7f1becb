from __future__ import annotations

import json

import pytest

from flows.cli import app
from forgetflow.scenarios.world.build import SIZES, WorldConfig, world_config


def test_world_build_reuses_a_built_world(tiny_world, capsys) -> None:
    app(["world", "build", "--size", "tiny", "--out", str(tiny_world.root.parent)],
        standalone_mode=False)  # fmt: skip
    out = capsys.readouterr().out
    assert f"world:          {tiny_world.root}" in out
    assert "retain model:" in out


def test_size_presets() -> None:
    assert world_config("tiny") == WorldConfig()
    small = world_config("small", seed=3)
    assert small.seed == 3 and small.forget_profiles // 6 == 32  # 32 per repetition bucket
    assert set(SIZES) == {"tiny", "small", "base"}
    with pytest.raises(ValueError, match="sizes"):
        world_config("huge")


def test_a_config_naming_a_size_gets_its_settings() -> None:
    """`data: {kind: world, world: {size: small}}` in a pipeline config is the small world (it
    kept tiny's numbers under small's name); a field the config gives still wins."""
    from flows.params import PipelineConfig

    config = PipelineConfig.model_validate({"data": {"kind": "world", "world": {"size": "small"}}})
    assert config.data.world == world_config("small")
    assert config.data.world.n_positions == SIZES["small"]["n_positions"]
    mine = WorldConfig.model_validate({"size": "small", "n_layer": 3})
    assert mine.n_layer == 3 and mine.forget_profiles == SIZES["small"]["forget_profiles"]


def test_world_check_prints_the_figures_and_passes_on_a_good_world(tiny_world, capsys) -> None:
    app(["world", "check", "--size", "tiny", "--out", str(tiny_world.root.parent), "--json"],
        standalone_mode=False)  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert figures["world"] == str(tiny_world.root) and figures["shortfalls"] == []
    assert set(figures["bucket_ma"]) == {"1", "2", "4", "8", "16", "32"}
    assert figures["top_extraction"] >= 0.9 and figures["qa_exposed"] >= 0.9


def test_world_commands_build_under_forgetflow_home_by_default(
    tiny_world, session_home, tmp_path, monkeypatch, capsys
) -> None:
    """Without --out a world goes to $FORGETFLOW_HOME/worlds, not to ./.forgetflow/worlds."""
    from flows.cli import world as world_cli

    seen = []

    def build_world(config, worlds_dir, progress=None):
        seen.append(worlds_dir)
        return tiny_world

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORGETFLOW_HOME", str(session_home))
    monkeypatch.setattr(world_cli, "build_world", build_world)
    app(["world", "build", "--size", "tiny"], standalone_mode=False)
    assert seen == [session_home.resolve() / "worlds"]


def test_world_options_override_the_sizes_settings(tmp_path, monkeypatch, invoke) -> None:
    from typer import BadParameter

    from flows.cli import world as cli_world

    class Built(Exception):
        pass

    asked: list[WorldConfig] = []

    def capture(config, worlds_dir, progress=None):
        asked.append(config)
        raise Built

    monkeypatch.setattr(cli_world, "build_world", capture)
    with pytest.raises(Built):
        invoke("world", "build", "--size", "small", "--qa-wordings", "3",
               "--retain-training", "stand_ins", "--out", str(tmp_path))  # fmt: skip
    with pytest.raises(Built):
        invoke("world", "check", "--size", "small", "--out", str(tmp_path))
    mine, preset = asked
    assert (mine.qa_wordings, mine.retain_training) == (3, "stand_ins")
    assert mine.forget_profiles == preset.forget_profiles and preset == world_config("small")
    with pytest.raises(BadParameter, match="less than or equal to 3"):  # exit 2, standalone
        invoke("world", "build", "--qa-wordings", "4", "--out", str(tmp_path))
