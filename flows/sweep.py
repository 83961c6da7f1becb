"""Sweeps: a grid of methods x settings x seeds over one base config, each cell a pipeline run in
a task submitted to the flow's task runner, then a summary table and a Pareto plot.

    forgetflow sweep --config SWEEP.yaml

Each cell is a whole pipeline run (its own MLflow parent run, its own seed for every draw); the
stages a cell shares with another (scoring the same model on the same data, anti-samples) are
computed once and reused through the stage cache. Cells run one at a time by default
(`concurrency`: more threads share the machine's cores).
"""

# No `from __future__ import annotations`: Prefect builds the flow's parameter model from real
# annotations.
import itertools
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.params import ConfigFileError, PipelineConfig, load_config, problems
from flows.presets import load_preset, preset_names
from flows.unlearning_pipeline import run_pipeline
from forgetflow.atomic import write_text
from forgetflow.paths import resolve_paths
from forgetflow.report import plots
from forgetflow.report.sweep import FORGET, UTILITY, Cell, pareto_front, summarize, summary_table


class SweepConfig(BaseModel):
    """A grid over a base pipeline config."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sweep", min_length=1, description="the sweep's name (its folder)")
    base: dict[str, Any] = Field(
        description="the base pipeline config: a preset's name, a config file (relative to the "
        "sweep file) or a PipelineConfig mapping (absolute paths)"
    )
    methods: list[dict[str, Any]] = Field(
        min_length=1, description="each a method's config (`name` and its settings)"
    )
    set: dict[str, Any] = Field(
        default_factory=dict, description="dotted config key -> the value every cell takes "
        "(e.g. data.world.size: small)",
    )  # fmt: skip
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted config key -> the values it takes (e.g. "
        "unlearning.training.lr: [1e-5, 3e-5]); every combination runs",
    )  # fmt: skip
    seeds: list[int] = Field([0], min_length=1, description="each cell's pipeline seed")
    concurrency: int = Field(1, ge=1, description="cells run at once (threads)")

    @model_validator(mode="after")
    def cells_validate(self) -> "SweepConfig":
        """Every cell is a valid pipeline config before any runs."""
        self.cells()
        return self

    def cells(self) -> list[tuple[Cell, PipelineConfig]]:
        """Every (method, settings, seed) with its pipeline config, in grid order."""
        keys = sorted(self.grid)
        out = []
        for method in self.methods:
            for values in itertools.product(*(self.grid[k] for k in keys)):
                settings = dict(zip(keys, values, strict=True))
                for seed in self.seeds:
                    config = cell_config(self, method, settings, seed)
                    out.append((Cell(method.get("name", "?"), settings, seed, {}), config))
        return out


def set_dotted(mapping: dict, key: str, value: object) -> None:
    """`mapping` with the value at dotted `key` set, creating the mappings on the way."""
    *path, last = key.split(".")
    for part in path:
        mapping = mapping.setdefault(part, {})
        if not isinstance(mapping, dict):
            raise ValueError(f"grid key {key!r}: {part!r} is not a section of the config")
    mapping[last] = value


def cell_config(sweep: SweepConfig, method: dict, settings: dict, seed: int) -> PipelineConfig:
    raw = yaml.safe_load(yaml.safe_dump(sweep.base))  # a deep copy
    unlearning = raw.setdefault("unlearning", {})
    unlearning["method"] = method
    for key, value in [*sweep.set.items(), *settings.items()]:
        set_dotted(raw, key, value)
    tag = "-".join(f"{k.rsplit('.', 1)[-1]}{v}" for k, v in sorted(settings.items()))
    raw |= {"seed": seed, "name": "-".join(filter(None, (sweep.name, method.get("name"), tag,
                                                          f"s{seed}")))}  # fmt: skip
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"cell {raw['name']}: {problems(err)}") from err


def load_sweep(path: str | Path) -> SweepConfig:
    """A SweepConfig from YAML; `base` may name a preset or a config file (relative to it)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigFileError(f"sweep file {file} does not exist")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
        base = raw.get("base")
        if isinstance(base, str):
            found = load_preset(base) if base in preset_names() else load_config(
                file.parent / base)  # fmt: skip
            raw["base"] = found.model_dump(mode="json", exclude_unset=True)
        return SweepConfig.model_validate(raw)
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{file} is not valid YAML: {err}") from err
    except ValidationError as err:
        raise ConfigFileError(f"{file} is not a valid sweep: {problems(err)}") from err


@task(name="sweep_cell", cache_policy=NO_CACHE)
def sweep_cell(cell: Cell, config: PipelineConfig) -> Cell:
    """One cell: a whole pipeline run; its headline figures and MLflow run id."""
    result = run_pipeline(config)
    return Cell(cell.method, cell.settings, cell.seed, result.headline, result.parent_run_id)


@flow(name="unlearning-sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def unlearning_sweep(sweep: SweepConfig) -> str:
    """Every cell of the sweep, then its summary (Markdown) and Pareto plot; returns the
    summary's path."""
    cells = sweep.cells()
    futures = [sweep_cell.with_options(task_run_name=config.name).submit(cell, config)
               for cell, config in cells]  # fmt: skip
    done = [future.result() for future in futures]
    summaries = summarize(done)
    folder = resolve_paths(cells[0][1].home).home / "sweeps" / sweep.name
    folder.mkdir(parents=True, exist_ok=True)
    runs = "\n".join(f"- {c.method} {c.settings} seed {c.seed}: MLflow run {c.run_id}"
                     for c in done)  # fmt: skip
    write_text(folder / "summary.md", f"# Sweep {sweep.name}\n\n{summary_table(summaries)}\n\n"
               f"Cells:\n\n{runs}\n")  # fmt: skip
    front = pareto_front(summaries)
    points = [(s.label, s.mean.get(FORGET), s.spread.get(FORGET), s.mean.get(UTILITY),
               s.spread.get(UTILITY), best) for s, best in zip(summaries, front, strict=True)
              if FORGET in s.mean and UTILITY in s.mean]  # fmt: skip
    figure = plots.pareto(points, "c(D_f) after (lower is better)", "model utility after")
    if figure is not None:
        (folder / "pareto.png").write_bytes(plots.png_bytes(figure))
    print(summary_table(summaries))
    return str(folder / "summary.md")


def run_sweep(sweep: SweepConfig) -> str:
    """The sweep flow with its configured concurrency."""
    runner = ThreadPoolTaskRunner(max_workers=sweep.concurrency)
    return unlearning_sweep.with_options(task_runner=runner)(sweep)
