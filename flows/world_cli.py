"""`forgetflow world ...`: build the built-in memorization world on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import Progress

from flows.environment import quiet_progress_bars
from forgetflow.data.world import WorldConfig, build_world, world_config

app = typer.Typer(help="The built-in memorization world.", no_args_is_help=True)


@app.command()
def build(
    size: Annotated[Literal["tiny", "small", "base"], typer.Option(help="world size")] = "tiny",
    seed: Annotated[int, typer.Option(help="the world's seed")] = 0,
    out: Annotated[Path, typer.Option(help="folder of worlds")] = Path(".forgetflow/worlds"),
) -> None:
    """Build (or reuse) a world: data, tokenizer, target and retain models, manifest."""
    quiet_progress_bars()
    config: WorldConfig = world_config(size, seed)
    with Progress(transient=True) as progress:
        task = progress.add_task("training", total=None)

        def report(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total,
                            description=f"training (loss {loss:.3f})")  # fmt: skip

        world = build_world(config, out, report)
    typer.echo(f"world:          {world.root}")
    typer.echo(f"target model:   {world.model_dir}")
    typer.echo(f"retain model:   {world.retain_model_dir}")
    steps = world.manifest["train_steps"]
    typer.echo(f"train steps:    target {steps['target']}, retain {steps['retain']}")
