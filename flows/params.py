"""The pipeline's typed parameters: the Prefect UI form, YAML presets and the CLI all use them.
PipelineConfig composes the settings each stage keeps beside its code (`<stage>/config.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forgetflow.antisamples.config import AntisampleConfig
from forgetflow.audit.config import AuditConfig
from forgetflow.data.loaders import DataInputError
from forgetflow.memorization.config import ScoringConfig
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.models.io import ModelLoadError, model_path
from forgetflow.models.pulled import CATALOG
from forgetflow.scenarios.fact_file import read_facts
from forgetflow.scenarios.sources import (
    DataSource,
    FactsFileSource,
    FilesSource,
    QuizFactsSource,
    WorldSource,
)
from forgetflow.unlearning.config import UnlearningConfig
from forgetflow.utility.config import UtilityConfig
from storage.tracking import TrackingConfig


class PipelineConfig(BaseModel):
    """One pipeline run: its data, each stage's settings and the threshold rules."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "forgetflow", min_length=1, description="the run's name: its MLflow parent run and its "
        "report's title",
    )  # fmt: skip
    seed: int = Field(
        0, description="seed of the run's random draws (the anti-samples' false details, "
        "the unlearning loop's batches); a scenario has its own seed",
    )  # fmt: skip
    home: str | None = Field(
        None, description="forgetflow's folder (artifacts, MLflow, worlds, checkpoints); null: "
        "$FORGETFLOW_HOME, else .forgetflow/ under the working directory",
    )  # fmt: skip
    experiment: str = Field("forgetflow", description="the MLflow experiment the run logs to")
    reuse: bool = Field(
        True, description="reuse a stage's stored result when its inputs (by content), settings "
        "and forgetflow's code are unchanged (its MLflow run is tagged forgetflow.reused_from); "
        "false: recompute every stage",
    )  # fmt: skip
    data: DataSource = Field(
        WorldSource(), description="the model and its forget, retain and holdout sets, by kind: "
        "world, finetuned, files, facts (on the world), facts_file (your own facts) or "
        "quiz_facts (a pretrained model's quiz facts); default: the tiny built-in world",
    )  # fmt: skip
    scoring: ScoringConfig = Field(
        ScoringConfig(), description="the memorization ledger before unlearning"
    )
    thresholds: Thresholds = Field(
        Thresholds(), description="the stopping rule and the outlier rule, calibrated on the "
        "holdout before unlearning",
    )  # fmt: skip
    antisamples: AntisampleConfig = Field(
        AntisampleConfig(),
        description="the anti-samples (falsified twins of the forget set, UnSTAR's round 0)",
    )
    unlearning: UnlearningConfig = Field(
        UnlearningConfig(), description="the unlearning method and its training loop"
    )
    audit: AuditConfig = Field(
        AuditConfig(), description="the extraction attacks before and after unlearning"
    )
    utility: UtilityConfig = Field(
        UtilityConfig(), description="utility on data no method trains on: general text, QA "
        "sets, forget quality against the retain model, the collapse flag",
    )  # fmt: skip
    tracking: TrackingConfig = Field(
        TrackingConfig(), description="the unlearned model in MLflow: logged (its weights, or "
        "by reference above 200 MB) and registered with its audit verdict",
    )  # fmt: skip

    @model_validator(mode="after")
    def antisamples_for_the_method(self) -> PipelineConfig:
        weight = getattr(self.unlearning.method, "antisample_weight", 0.0)
        if "falsified" not in self.antisamples.builders and weight > 0:
            raise ValueError(
                f"unlearning.method.antisample_weight is {weight} but antisamples.builders has "
                "no falsified twins: set the weight to 0 or add the falsified builder"
            )
        method = self.unlearning.method.name  # type: ignore[attr-defined]
        if "unstar" in self.antisamples.builders and method != "unstar":
            raise ValueError(
                f"antisamples.builders names unstar (UnSTAR's round 0) but the method is "
                f"{method}: drop unstar from the builders or use method unstar"
            )
        return self


class ConfigFileError(ValueError):
    """A pipeline config file is missing, not YAML, or not a valid PipelineConfig."""


# the path fields of the sources that name the user's own files (relative to the config file)
USER_FILES = {"files": ("model", "forget", "retain", "holdout", "retain_model"),
              "facts_file": ("model", "facts", "holdout", "retain_model"),
              "quiz_facts": ("model",)}  # fmt: skip
UserSource = TypeVar("UserSource", FilesSource, FactsFileSource, QuizFactsSource)
MODEL_FIELDS = ("model", "retain_model")  # a local directory, or a pulled model's name
NAMED = {
    "files": "a files source names a model and its forget, retain and holdout files",
    "facts_file": "a facts_file source names a model, a facts file and a holdout file",
    "quiz_facts": "a quiz_facts source names a model (a pulled model's name or a directory)",
}


def problems(err: ValidationError) -> str:
    """Every problem of a config on one line: where in the file, what is wrong, what to do."""
    found = []
    for error in err.errors():
        where = ".".join(str(part) for part in error["loc"])
        parts = where.split(".")
        kind = parts[1] if len(parts) > 2 and parts[0] == "data" else ""
        if error["type"] == "missing" and kind in NAMED:
            found.append(f"{where} is missing: {NAMED[kind]}")
        else:
            found.append(f"{where}: {error['msg']}")
    return "; ".join(found) + "; fix these keys (docs/cli.md describes a config)"


def resolve_files(data: UserSource, base: Path) -> UserSource:
    """A user source's file and model paths resolved against `base` (a pulled model's name
    stays a name)."""
    given = data.model_dump(include=set(USER_FILES[data.kind]), exclude_none=True)
    fields = {k: str((base / v).resolve()) for k, v in given.items()}
    for key in MODEL_FIELDS:
        name = given.get(key)
        if name in CATALOG and not (base / name).exists():
            fields[key] = name
    return data.model_copy(update=fields)


def load_config(path: str | Path) -> PipelineConfig:
    """A PipelineConfig from YAML; relative file paths in it resolve against the file's folder."""
    file = Path(path)
    if not file.is_file():
        raise ConfigFileError(f"config file {file} does not exist")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
        config = PipelineConfig.model_validate(raw)
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{file} is not valid YAML: {err}") from err
    except ValidationError as err:
        raise ConfigFileError(f"{file} is not a valid pipeline config: {problems(err)}") from err
    if isinstance(config.data, FilesSource | FactsFileSource | QuizFactsSource):
        data = resolve_files(config.data, file.parent.resolve())
        config = config.model_copy(update={"data": data})
    utility = config.utility
    if utility.text or utility.qa:
        base = file.parent.resolve()
        resolved = {key: [str((base / v).resolve()) for v in getattr(utility, key)]
                    for key in ("text", "qa")}  # fmt: skip
        config = config.model_copy(update={"utility": utility.model_copy(update=resolved)})
    if config.home is not None and not Path(config.home).is_absolute():
        config = config.model_copy(update={"home": str((file.parent / config.home).resolve())})
    return config


def missing_inputs(config: PipelineConfig) -> None:
    """Fail before any run starts when a configured model directory or data file is absent."""
    for key in ("text", "qa"):
        for name in getattr(config.utility, key):
            if not Path(name).is_file():
                raise ConfigFileError(f"utility.{key} file {name} does not exist")
    data = config.data
    if not isinstance(data, FilesSource | FactsFileSource | QuizFactsSource):
        return
    try:
        for key in MODEL_FIELDS:
            if getattr(data, key, None) is not None:
                model_path(getattr(data, key), config.home)
    except ModelLoadError as err:
        raise ConfigFileError(str(err)) from err
    for key in (k for k in USER_FILES[data.kind] if k not in MODEL_FIELDS):
        path = Path(getattr(data, key))
        if not path.exists():
            raise ConfigFileError(f"{key} data {path} does not exist")
    if isinstance(data, FactsFileSource):
        try:
            read_facts(data.facts)
        except DataInputError as err:
            raise ConfigFileError(str(err)) from err
