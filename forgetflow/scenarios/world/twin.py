"""More retain models of a world.

- A twin: trained on the same items in the same order as the world's retain model, from another
  initialisation seed. Forget quality between the two retain models is the null calibration of
  the KS test: two models that never saw the forget set should not be told apart
  (docs/metrics.md, "Forget quality").
- A stand-in retain model: trained on the target's stream with every forget item replaced by a
  stand-in of the same family and exposures (corpus.py), so for as many optimizer steps as the
  target; from the world's seed or another.
- A target twin: the target trained again from another initialisation seed (bench only: how far
  model utility moves between two targets).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forgetflow.models.io import load_tokenizer, save_model
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.world.build import (
    World,
    WorldConfig,
    corpus_of,
    retain_items,
    train_world_model,
)
from forgetflow.scenarios.world.corpus import Item


def twin_retain_model(world: World, init_seed: int, stand_ins: bool = False) -> Path:
    """The world's retain model trained again from `init_seed`, or a stand-in retain model where
    the world's retain model is not one (built once, into the world's folder as
    `retain_model_init<seed>` or `retain_model_standins_init<seed>`)."""
    config = WorldConfig(**world.manifest["config"])
    world_stand_ins = config.retain_training == "stand_ins"
    own = world_stand_ins or not stand_ins  # trained as the world's retain model is
    if init_seed == config.seed and own:
        raise ValueError(f"init seed {init_seed} is the world's own: give another one")
    folder = world.root / f"retain_model_{'' if own else 'standins_'}init{init_seed}"

    def kept() -> list[Item]:
        return retain_items(config, corpus_of(config), stand_ins or world_stand_ins)

    return _train_once(world, config, kept, init_seed, folder)


def twin_target_model(world: World, init_seed: int) -> Path:
    """The world's target trained again from `init_seed` on the same items in the same order
    (built once, into the world's folder as `model_init<seed>`): how far a figure moves
    between two targets that differ only in their initial weights."""
    config = WorldConfig(**world.manifest["config"])
    if init_seed == config.seed:
        raise ValueError(f"init seed {init_seed} is the world's own: give another one")

    def trained() -> list[Item]:
        return [i for i in corpus_of(config).items if i.repetitions > 0]

    return _train_once(world, config, trained, init_seed, world.root / f"model_init{init_seed}")


def _train_once(
    world: World,
    config: WorldConfig,
    items: Callable[[], list[Item]],
    init_seed: int,
    folder: Path,
) -> Path:
    """Train on `items()` into `folder` unless a model is already there (the items are drawn
    only when training)."""
    if not (folder / "config.json").is_file():
        tokenizer = load_tokenizer(world.model_dir)

        def write(staging: Path) -> None:
            model, _ = train_world_model(config, tokenizer, items(), None, init_seed,
                                         desc=f"world: {folder.name}")  # fmt: skip
            save_model(model, tokenizer, staging)

        build_once(folder, write)
    return folder
