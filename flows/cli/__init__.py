"""The `forgetflow` command: one module per command group, assembled here."""

from __future__ import annotations

import typer

from flows.cli.audit import audit
from flows.cli.config import app as config_app
from flows.cli.deployments import app as deployments_app
from flows.cli.evaluate import evaluate
from flows.cli.models import app as models_app
from flows.cli.pipeline import demo, run, serve
from flows.cli.report import report
from flows.cli.score import score
from flows.cli.sweep import sweep
from flows.cli.world import app as world_app

app = typer.Typer(help="Make a language model forget what it must not keep, and prove it.",
                  no_args_is_help=True, add_completion=False)  # fmt: skip
app.command()(run)
app.command()(demo)
app.command()(serve)
app.add_typer(world_app, name="world")
app.add_typer(models_app, name="models")
app.add_typer(deployments_app, name="deployments")
app.add_typer(config_app, name="config")
app.command()(score)
app.command()(audit)
app.command()(evaluate)
app.command()(report)
app.command()(sweep)


if __name__ == "__main__":
    app()
