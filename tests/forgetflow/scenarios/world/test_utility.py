"""The world's utility sets, and forget quality's calibration on the tiny world: the target is
told from the retain model on its well-exposed forget facts, a second retain model (another
initialisation seed) is not."""

from __future__ import annotations

import pytest

from forgetflow.records import ModelVariant
from forgetflow.scenarios.world.twin import twin_retain_model
from forgetflow.scenarios.world.utility import general_text, world_qa_sets
from forgetflow.utility.config import UtilityConfig
from forgetflow.utility.measured import UtilityRun
from forgetflow.utility.sets import UtilitySets, split_general


def test_the_world_gives_facts_no_method_trains_on(tiny_world) -> None:
    sets = {s.name: s for s in world_qa_sets(tiny_world, seed=0)}
    assert {n: s.role for n, s in sets.items()} == {"retain_facts": "retain", "objects": "retain",
                                                     "holdout_facts": "control",
                                                     "forget_facts": "forget"}  # fmt: skip
    qa = tiny_world.table("qa").to_pylist()
    trained = {r["item_id"]: r["question"] for r in qa}
    targets = set(tiny_world.table("targets")["item_id"].to_pylist())
    for item in sets["retain_facts"].items:  # asked with an untrained paraphrase
        assert item.question != trained[item.item_id] and item.item_id not in targets
        assert sorted(item.choices) == sorted([item.answer, *item.perturbed_answers])
    assert all(i.question == trained[i.item_id] for i in sets["forget_facts"].items)
    assert not sets["retain_facts"].gated and sets["objects"].gated
    assert len(general_text(tiny_world).passages) == 20


@pytest.fixture(scope="module")
def calibration(tiny_world):
    from forgetflow.utility.stage import run_utility

    twin = twin_retain_model(tiny_world, init_seed=1)
    guard, held = split_general([general_text(tiny_world)], seed=0)
    sets = UtilitySets(guard, held, tuple(world_qa_sets(tiny_world, seed=0)))
    variants = [ModelVariant("before", tiny_world.model_dir),
                ModelVariant("retain_model", tiny_world.retain_model_dir),
                ModelVariant("twin", twin)]  # fmt: skip
    return run_utility(UtilityRun(variants, sets), UtilityConfig())


def test_forget_quality_tells_the_target_from_the_retain_model_and_not_a_second_one(
    calibration,
) -> None:
    variants = calibration.summary["variants"]
    assert variants["before"]["forget_quality_strong"] < 0.05  # facts seen 8 times or more
    assert variants["twin"]["forget_quality_strong"] >= 0.05  # the null: another init seed
    assert variants["twin"]["forget_quality"] >= 0.05


def test_the_target_answers_its_well_exposed_forget_facts_and_the_retain_model_does_not(
    calibration,
) -> None:
    rows = [r for r in calibration.samples.to_pylist() if r["set"] == "forget_facts"
            and r["metric"] == "rouge_l" and r["repetitions"] >= 8]  # fmt: skip

    def mean_of(label: str) -> float:
        mine = [r["value"] for r in rows if r["variant"] == label]
        return sum(mine) / len(mine)

    assert mean_of("before") - mean_of("retain_model") >= 0.5
    assert "retain_facts" in calibration.summary["variants"]["before"]["model_utility_sets"]
