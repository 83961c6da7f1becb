"""A second retain model of a world: trained on the same items in the same order as the world's
retain model, from another initialisation seed. Forget quality between the two retain models is
the null calibration of the KS test: two models that never saw the forget set should not be
told apart (docs/metrics.md, "Forget quality")."""

from __future__ import annotations

from pathlib import Path

from forgetflow.models.io import load_tokenizer, save_model
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.world.build import World, WorldConfig, corpus_of, train_world_model


def twin_retain_model(world: World, init_seed: int) -> Path:
    """The world's retain model trained again from `init_seed` (built once, into the world's
    folder as `retain_model_init<seed>`)."""
    config = WorldConfig(**world.manifest["config"])
    if init_seed == config.seed:
        raise ValueError(f"init seed {init_seed} is the world's own: give another one")
    folder = world.root / f"retain_model_init{init_seed}"
    if not (folder / "config.json").is_file():
        tokenizer = load_tokenizer(world.retain_model_dir)
        kept = [i for i in corpus_of(config).items if i.repetitions > 0 and i.split != "forget"]

        def write(staging: Path) -> None:
            model, _ = train_world_model(config, tokenizer, kept, None, init_seed)
            save_model(model, tokenizer, staging)

        build_once(folder, write)
    return folder
