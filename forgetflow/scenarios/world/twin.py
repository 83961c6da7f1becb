"""More retain models of a world.

- A twin: trained on the same items in the same order as the world's retain model, from another
  initialisation seed. Forget quality between the two retain models is the null calibration of
  the KS test: two models that never saw the forget set should not be told apart
  (docs/metrics.md, "Forget quality").
- A stand-in retain model: trained on the target's stream with every forget item replaced by a
  stand-in of the same family and exposures (corpus.py), so for as many optimizer steps as the
  target; from the world's seed or another.
"""

from __future__ import annotations

from pathlib import Path

from forgetflow.models.io import load_tokenizer, save_model
from forgetflow.scenarios.build import build_once
from forgetflow.scenarios.world.build import World, WorldConfig, corpus_of, train_world_model


def twin_retain_model(world: World, init_seed: int, stand_ins: bool = False) -> Path:
    """The world's retain model trained again from `init_seed`, or a stand-in retain model
    (built once, into the world's folder as `retain_model_init<seed>` or
    `retain_model_standins_init<seed>`)."""
    config = WorldConfig(**world.manifest["config"])
    if init_seed == config.seed and not stand_ins:
        raise ValueError(f"init seed {init_seed} is the world's own: give another one")
    folder = world.root / f"retain_model_{'standins_' if stand_ins else ''}init{init_seed}"
    if not (folder / "config.json").is_file():
        tokenizer = load_tokenizer(world.retain_model_dir)
        corpus = corpus_of(config)
        own = [i for i in corpus.items if i.repetitions > 0 and i.split != "forget"]
        kept = corpus.stand_in_training() if stand_ins else own

        def write(staging: Path) -> None:
            model, _ = train_world_model(config, tokenizer, kept, None, init_seed)
            save_model(model, tokenizer, staging)

        build_once(folder, write)
    return folder
