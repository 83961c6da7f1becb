"""Bench: build a world from scratch, time it, and measure how it memorizes.

    python bench/world.py --size small --json

prints the build time (target and retain model together, on this machine's threads), the
parameter count, the memorization figures of `scenarios.world.checks` and any shortfall against
the world's promises. A fresh temporary folder is used unless `--out` names one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from forgetflow.lm.dtypes import cpu_capability
from forgetflow.scenarios.world.build import build_world, world_config
from forgetflow.scenarios.world.checks import shortfalls, world_figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["tiny", "small", "base"], default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder of worlds (default: a fresh temp one)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    config = world_config(args.size, args.seed)
    with tempfile.TemporaryDirectory(prefix="forgetflow-bench-") as scratch:
        out = args.out or Path(scratch)
        fresh = not (out / f"{config.size}-{config.content_key()}").exists()
        start = time.perf_counter()
        world = build_world(config, out)
        build_s = time.perf_counter() - start
        figures = world_figures(world)
    result = {
        "bench": "world",
        "size": args.size,
        "seed": args.seed,
        "build_s": round(build_s, 1) if fresh else None,  # None: an existing world was reused
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": cpu_capability(),
        "parameters": world.manifest["parameters"],
        "train_steps": world.manifest["train_steps"],
        **figures.as_dict(),
        "shortfalls": shortfalls(figures),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
