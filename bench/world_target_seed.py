"""A world's target model trained again from another initialisation seed (same items, same
order), to measure how far model utility moves between two models that differ only in their
initial weights (issue: utility on data no method trains on; docs/results.md):

    W=$(forgetflow world build --size small | sed -n 's/^world: *//p')
    python bench/world_target_seed.py $W 1          # writes $W/model_init1
    forgetflow evaluate --model $W/model_init1 --retain-model $W/retain_model --scenario $W --out ev
"""

from __future__ import annotations

import sys
from pathlib import Path

from forgetflow.scenarios.world.build import load_world
from forgetflow.scenarios.world.twin import twin_target_model

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/world_target_seed.py WORLD_DIR INIT_SEED")
    try:
        print(twin_target_model(load_world(Path(sys.argv[1])), int(sys.argv[2])))
    except ValueError as err:
        sys.exit(f"error: {err}")
