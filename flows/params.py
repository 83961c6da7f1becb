"""The pipeline's typed parameters: the Prefect UI form, YAML presets and the CLI all use them.
PipelineConfig composes the settings each stage keeps beside its code (`<stage>/config.py`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forgetflow.antisamples.config import AntisampleConfig
from forgetflow.audit.config import AuditConfig
from forgetflow.memorization.config import ScoringConfig
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.models.io import ModelLoadError, model_path
from forgetflow.models.pulled import CATALOG
from forgetflow.records import SPLITS
from forgetflow.scenarios.sources import DataSource, FilesSource, WorldSource
from forgetflow.unlearning.config import UnlearningConfig
from forgetflow.utility.config import UtilityConfig


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
    data: DataSource = Field(
        WorldSource(), description="the model and its forget, retain and holdout sets, by kind: "
        "world, finetuned or files; default: the tiny built-in world",
    )  # fmt: skip
    scoring: ScoringConfig = Field(
        ScoringConfig(), description="the memorization ledger before unlearning"
    )
    thresholds: Thresholds = Field(
        Thresholds(), description="the stopping rule and the outlier rule, calibrated on the "
        "holdout before unlearning",
    )  # fmt: skip
    antisamples: AntisampleConfig = Field(
        AntisampleConfig(), description="the anti-samples (falsified twins of the forget set)"
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

    @model_validator(mode="after")
    def antisamples_for_the_method(self) -> PipelineConfig:
        weight = getattr(self.unlearning.method, "antisample_weight", 0.0)
        if not self.antisamples.builders and weight > 0:
            raise ValueError(
                f"unlearning.method.antisample_weight is {weight} but antisamples.builders is "
                "[] (off): set the weight to 0 or turn a builder on"
            )
        return self


class ConfigFileError(ValueError):
    """A pipeline config file is missing, not YAML, or not a valid PipelineConfig."""


def problems(err: ValidationError) -> str:
    """Every problem of a config on one line: where in the file, what is wrong, what to do."""
    found = []
    for error in err.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing" and where.startswith("data.files."):
            found.append(f"{where} is missing: a files source names a model and its forget, "
                         "retain and holdout files")  # fmt: skip
        else:
            found.append(f"{where}: {error['msg']}")
    return "; ".join(found) + "; fix these keys (docs/cli.md describes a config)"


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
    if isinstance(config.data, FilesSource):
        base = file.parent.resolve()
        given = config.data.model_dump(exclude={"kind"}, exclude_none=True)
        fields = {k: str((base / v).resolve()) for k, v in given.items()}
        for key in ("model", "retain_model"):
            name = given.get(key)
            if name in CATALOG and not (base / name).exists():
                fields[key] = name  # a pulled model's name
        config = config.model_copy(update={"data": FilesSource(**fields)})
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
    if not isinstance(config.data, FilesSource):
        return
    try:
        model_path(config.data.model, config.home)
        if config.data.retain_model is not None:
            model_path(config.data.retain_model, config.home)
    except ModelLoadError as err:
        raise ConfigFileError(str(err)) from err
    for split in SPLITS:
        path = Path(getattr(config.data, split))
        if not path.exists():
            raise ConfigFileError(f"{split} data {path} does not exist")
