"""Where forgetflow keeps its files. Everything derives from one home folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "FORGETFLOW_HOME"


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def worlds(self) -> Path:
        return self.home / "worlds"

    @property
    def requests(self) -> Path:
        """Erasure requests built from the user's files (a facts file's forget and retain sets)."""
        return self.home / "requests"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def reports(self) -> Path:
        return self.home / "reports"


def resolve_paths(home: str | Path | None = None) -> Paths:
    """The explicit `home`, else $FORGETFLOW_HOME, else `.forgetflow` in the working directory."""
    chosen = home if home is not None else os.environ.get(HOME_ENV, ".forgetflow")
    return Paths(home=Path(chosen).expanduser().resolve())
