"""Which retain model a twin is: trained as the world's retain model is, from another seed; a
stand-in retain model only where the world's is not one."""

from __future__ import annotations

import pytest

from forgetflow.scenarios.world import twin
from forgetflow.scenarios.world.build import World, WorldConfig


def world_of(config: WorldConfig, root) -> World:
    manifest = {"config": config.model_dump()}
    return World(root, root / "model", root / "retain_model", {}, manifest)


@pytest.fixture
def trained(monkeypatch) -> list[tuple[str, list]]:
    calls: list[tuple[str, list]] = []

    def record(world, config, items, init_seed, folder):
        calls.append((folder.name, items()))
        return folder

    monkeypatch.setattr(twin, "_train_once", record)
    return calls


def test_a_twin_of_a_stand_in_retain_model_trains_on_stand_ins(tmp_path, trained) -> None:
    world = world_of(WorldConfig(retain_training="stand_ins"), tmp_path)
    twin.twin_retain_model(world, init_seed=1)
    twin.twin_retain_model(world, init_seed=2, stand_ins=True)  # the same kind of model
    assert [name for name, _ in trained] == ["retain_model_init1", "retain_model_init2"]
    for _, items in trained:
        splits = {i.split for i in items}
        assert "substitute" in splits and "forget" not in splits
    with pytest.raises(ValueError, match="the world's own"):
        twin.twin_retain_model(world, init_seed=0)


def test_a_world_without_stand_ins_trains_them_only_on_request(tmp_path, trained) -> None:
    world = world_of(WorldConfig(), tmp_path)
    twin.twin_retain_model(world, init_seed=1)
    twin.twin_retain_model(world, init_seed=0, stand_ins=True)  # not the world's own model
    (plain, kept), (stand_in, substituted) = trained
    assert (plain, stand_in) == ("retain_model_init1", "retain_model_standins_init0")
    assert not {"forget", "substitute"} & {i.split for i in kept}
    assert "substitute" in {i.split for i in substituted}
    assert len(substituted) > len(kept)
