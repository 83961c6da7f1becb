"""The pipeline's orchestration cost and its re-runs (issue: review surface), on the tiny world:

    python bench/pipeline.py --json [--home DIR] [--out bench/results/pipeline.json] [--quick]

In one process, after the world is built, Prefect's ephemeral server is up and a warm-up flow
run (another seed) is done, each timed from the flow call to its return:

- `first_s` and `rerun_s`: the demo preset run with an empty stage cache, then the same config
  again (every stage reused); `rerun_ratio` = rerun_s / first_s (goal: <= 0.05).
- `flow_s` and `direct_s`: the same config with `reuse: false` through the flow, and through
  the same stage entry functions and tracking calls called directly (each task's function
  without Prefect's task engine, the flow's body without its flow engine);
  `orchestration_overhead` = flow_s / direct_s (goal: <= 1.10).
- `server_start_s`: the ephemeral server's start, apart from every figure above.

`--quick` runs the audit without stresses and one membership attack and utility on 4 items (the
figures then measure a lighter run). `sweep_speedup` (a sweep of 4 methods x 2 seeds against 8
separate runs) is not measured yet: 16 pipeline runs, about 30 minutes here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.environment import configure_environment  # noqa: E402
from flows.params import PipelineConfig  # noqa: E402
from flows.presets import demo_config  # noqa: E402
from forgetflow.atomic import write_text  # noqa: E402
from forgetflow.paths import resolve_paths  # noqa: E402
from forgetflow.scenarios.world.build import WorldConfig, build_world  # noqa: E402

TASKS = ("ingest", "score_memorization", "generate_antisamples", "write_round_zero",
         "run_unlearning", "audit", "evaluate_utility", "register_model",
         "write_report")  # fmt: skip


def config_for(home: str, quick: bool, **update: object) -> PipelineConfig:
    config = demo_config(home).model_dump()
    if quick:
        config["audit"] |= {"stresses": [], "mia_attacks": ["loss"]}
        config["utility"] |= {"max_items": 4, "fluency_prompts": 4}
    return PipelineConfig.model_validate(config | update)


def timed(call, *args) -> float:  # noqa: ANN001
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def direct(pipeline_module, config: PipelineConfig) -> float:  # noqa: ANN001
    """The flow's body with each task replaced by its function: no Prefect engine at all."""
    saved = {name: getattr(pipeline_module, name) for name in TASKS}
    try:
        for name, task in saved.items():
            setattr(pipeline_module, name, task.fn)
        return timed(pipeline_module.unlearning_pipeline.fn, config)
    finally:
        for name, task in saved.items():
            setattr(pipeline_module, name, task)


def measure(home: str, quick: bool) -> dict:
    configure_environment(resolve_paths(home))
    build_world(WorldConfig(), resolve_paths(home).worlds)
    from prefect.testing.utilities import prefect_test_harness

    import flows.unlearning_pipeline as pipeline

    start = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=120):
        server = time.perf_counter() - start
        pipeline.unlearning_pipeline(config_for(home, quick, seed=1, name="warm-up"))
        config = config_for(home, quick, name="bench")
        first = timed(pipeline.unlearning_pipeline, config)
        rerun = timed(pipeline.unlearning_pipeline, config)
        fresh = config.model_copy(update={"reuse": False})
        flow = timed(pipeline.unlearning_pipeline, fresh)
        plain = direct(pipeline, fresh)
    return {"first_s": first, "rerun_s": rerun, "rerun_ratio": rerun / first, "flow_s": flow,
            "direct_s": plain, "orchestration_overhead": flow / plain,
            "server_start_s": server, "sweep_speedup": None,
            "sweep_speedup_absent": "not measured yet (16 pipeline runs)"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--home", default=None, help="forgetflow's folder (default: a new one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/pipeline.json")
    parser.add_argument("--quick", action="store_true", help="a lighter audit and utility")
    args = parser.parse_args()
    home = args.home or f"/tmp/forgetflow-bench-pipeline-{os.getpid()}"
    figures = measure(home, args.quick)
    figures |= {"quick": args.quick, "torch_threads": torch.get_num_threads(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "date": datetime.now().date().isoformat()}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1) if args.json else
          f"rerun_ratio {figures['rerun_ratio']:.3f}, orchestration_overhead "
          f"{figures['orchestration_overhead']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
