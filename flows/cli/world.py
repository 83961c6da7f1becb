"""`forgetflow world ...`: build the built-in memorization world on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from flows.environment import quiet_progress_bars
from forgetflow.paths import resolve_paths
from forgetflow.scenarios.world.build import World, WorldConfig, build_world
from forgetflow.scenarios.world.checks import shortfalls, world_figures
from forgetflow.scenarios.world.facts import TRAINED_PARAPHRASES

app = typer.Typer(help="The built-in memorization world.", no_args_is_help=True)


Size = Annotated[Literal["tiny", "small", "base"], typer.Option(help="world size")]
Seed = Annotated[int, typer.Option(help="the world's seed")]
Out = Annotated[
    Path | None, typer.Option(help="folder of worlds [default: $FORGETFLOW_HOME/worlds]")
]
QaWordings = Annotated[
    int | None,
    typer.Option(min=1, max=TRAINED_PARAPHRASES + 1,
                 help="wordings each person's QA item trains in [default: the size's]"),
]  # fmt: skip
RetainTraining = Annotated[
    Literal["without_forget", "stand_ins"] | None,
    typer.Option(help="how the retain model trains [default: the size's]"),
]


def built(
    size: str,
    seed: int,
    out: Path | None,
    qa_wordings: int | None = None,
    retain_training: str | None = None,
) -> World:
    """The world of these settings (a size's, but for the options given), built with a progress
    bar unless it exists already; `out` defaults to the worlds folder of forgetflow's home
    ($FORGETFLOW_HOME or ./.forgetflow)."""
    quiet_progress_bars()
    given = {"qa_wordings": qa_wordings, "retain_training": retain_training}
    config = WorldConfig(size=size, seed=seed, **{k: v for k, v in given.items() if v is not None})
    with Progress(transient=True) as progress:
        task = progress.add_task("training", total=None)

        def report(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total,
                            description=f"training (loss {loss:.3f})")  # fmt: skip

        return build_world(config, out if out is not None else resolve_paths().worlds, report)


@app.command()
def build(
    size: Size = "tiny",
    seed: Seed = 0,
    out: Out = None,
    qa_wordings: QaWordings = None,
    retain_training: RetainTraining = None,
) -> None:
    """Build (or reuse) a world: data, tokenizer, target and retain models, manifest."""
    world = built(size, seed, out, qa_wordings, retain_training)
    typer.echo(f"world:          {world.root}")
    typer.echo(f"target model:   {world.model_dir}")
    typer.echo(f"retain model:   {world.retain_model_dir}")
    steps = world.manifest["train_steps"]
    typer.echo(f"train steps:    target {steps['target']}, retain {steps['retain']}")


@app.command("retain-twin")
def retain_twin(
    size: Size = "tiny",
    seed: Seed = 0,
    init_seed: Annotated[int, typer.Option(help="the twin's initialisation seed")] = 1,
    stand_ins: Annotated[
        bool,
        typer.Option(
            "--stand-ins",
            help="train on the target's stream with each forget "
            "item replaced by a stand-in (as many steps as the target)",
        ),
    ] = False,  # fmt: skip
    out: Out = None,
    qa_wordings: QaWordings = None,
    retain_training: RetainTraining = None,
) -> None:
    """Train (or reuse) another retain model of a world: from another initialisation seed (the
    null calibration of forget quality: two models that never saw the forget set), or on
    stand-ins for the forget items (for as many optimizer steps as the target)."""
    from flows.cli.errors import fail
    from forgetflow.scenarios.world.twin import twin_retain_model

    world = built(size, seed, out, qa_wordings, retain_training)
    try:
        folder = twin_retain_model(world, init_seed, stand_ins)
    except ValueError as err:
        fail(err)
    typer.echo(f"retain model:   {world.retain_model_dir}")
    typer.echo(f"its twin:       {folder}")


@app.command()
def check(
    size: Size = "tiny",
    seed: Seed = 0,
    out: Out = None,
    qa_wordings: QaWordings = None,
    retain_training: RetainTraining = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Measure how a world memorizes (building it first if needed); exit 1 on any shortfall."""
    world = built(size, seed, out, qa_wordings, retain_training)
    figures = world_figures(world)
    found = shortfalls(figures)
    if as_json:
        typer.echo(json.dumps({"world": str(world.root), **figures.as_dict(),
                               "shortfalls": found}, indent=2))  # fmt: skip
    else:
        table = Table("figure", "value", title=f"world {world.root.name}")
        table.add_row("holdout MA", f"{figures.holdout_ma:.3f}")
        for r, ma in figures.bucket_ma.items():
            table.add_row(f"forget MA r={r}", f"{ma:.3f} ({ma - figures.holdout_ma:+.3f})")
        table.add_row("top-bucket extraction", f"{figures.top_extraction:.0%}")
        table.add_row("  by the retain model", f"{figures.retain_top_extraction:.0%}")
        table.add_row("QA answered, r >= 8", f"{figures.qa_exposed:.0%}")
        table.add_row("retain model QA: forget", f"{figures.retain_qa_forget:.0%}")
        table.add_row("retain model QA: holdout", f"{figures.retain_qa_holdout:.0%}")
        Console().print(table)
        for line in found:
            typer.echo(f"shortfall: {line}", err=True)
    if found:
        raise typer.Exit(1)
