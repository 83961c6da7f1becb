"""The pipeline's typed parameters: the Prefect UI form, YAML presets and the CLI all use them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from forgetflow.generation.registry import BackendConfig, serves_model
from forgetflow.memorization.metrics import parse_metrics
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.models.io import ModelLoadError, model_path
from forgetflow.models.pulled import CATALOG
from forgetflow.records import SPLITS
from forgetflow.scenarios.sources import DataSource, FilesSource, WorldSource
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.methods.grad_diff import GradDiffConfig
from forgetflow.unlearning.methods.registry import method_config_union

# every registered method's config, by `name` (the Prefect form lists each)
MethodConfig = method_config_union()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def model_backend(generator: BackendConfig) -> BackendConfig:
    """Stages that decode with the model under study take hf or vllm."""
    if not serves_model(generator.name):
        raise ValueError(f"this stage decodes with a model: hf or vllm, not {generator.name!r}")
    return generator


ModelBackend = Annotated[BackendConfig, AfterValidator(model_backend)]


class ScoringParams(Strict):
    batch_size: int = Field(16, ge=1)
    metrics: list[str] = Field(
        ["ma", "loss", "zlib", "min_k_20", "min_kpp_20"],
        description="ma, loss, zlib, min_k_P, min_kpp_P, el_N, extract_kK",
    )
    outlier_metric: str = Field(
        "ma", description="one of the metrics: the one outliers, c(D_f) and the report judge by"
    )
    window: int = Field(200, ge=2, description="longer texts are scored in windows")
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="who decodes extract_kK: hf or vllm"
    )

    @field_validator("metrics")
    @classmethod
    def known_metrics(cls, names: list[str]) -> list[str]:
        parse_metrics(names)
        return names

    @model_validator(mode="after")
    def outlier_metric_is_scored(self) -> ScoringParams:
        if self.outlier_metric not in self.metrics:
            raise ValueError(f"outlier_metric {self.outlier_metric!r} is not in metrics")
        return self


class AntisampleParams(Strict):
    builders: list[Literal["falsified"]] = Field(
        ["falsified"],
        description="the anti-sample builders to run (falsified: a twin of each forget sample "
        "with the same prompt and false details); [] turns the stage off",
    )
    generator: BackendConfig = Field(
        BackendConfig(name="template"), description="falsified twins: the template generator"
    )
    keep_first_line: bool = Field(True, description="keep the prompt line in each twin")

    @field_validator("generator")
    @classmethod
    def template_only(cls, generator: BackendConfig) -> BackendConfig:
        if generator.name != "template":
            raise ValueError(
                f"anti-samples come from the template generator for now, not {generator.name!r}"
            )
        return generator


class UnlearningParams(Strict):
    method: MethodConfig = Field(
        GradDiffConfig(), description="the method by name (grad_ascent, grad_diff, npo, simnpo, "
        "idk_dpo) and its settings",
    )  # fmt: skip
    training: TrainingConfig = TrainingConfig()

    @field_validator("method", mode="before")
    @classmethod
    def grad_diff_by_default(cls, method: object) -> object:
        """A method without a name is GradDiff (configs written before the other methods)."""
        if isinstance(method, dict) and "name" not in method:
            return {"name": "grad_diff", **method}
        return method


class AuditParams(Strict):
    prefix_tokens: int = Field(32, ge=1, description="prompt length for texts with no newline")
    generator: ModelBackend = Field(
        BackendConfig(name="hf"), description="who decodes the attack: hf or vllm"
    )


class PipelineConfig(Strict):
    name: str = Field("forgetflow", min_length=1)
    seed: int = 0
    home: str | None = Field(None, description="forgetflow's folder; default $FORGETFLOW_HOME")
    experiment: str = "forgetflow"
    data: DataSource = WorldSource()
    scoring: ScoringParams = ScoringParams()
    thresholds: Thresholds = Field(
        Thresholds(), description="the stopping rule and the outlier rule, calibrated on the "
        "holdout before unlearning",
    )  # fmt: skip
    antisamples: AntisampleParams = AntisampleParams()
    unlearning: UnlearningParams = UnlearningParams()
    audit: AuditParams = AuditParams()

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
        fields = {
            k: str((base / v).resolve()) for k, v in config.data.model_dump().items() if k != "kind"
        }
        if config.data.model in CATALOG and not (base / config.data.model).exists():
            fields["model"] = config.data.model  # a pulled model's name
        config = config.model_copy(update={"data": FilesSource(**fields)})
    if config.home is not None and not Path(config.home).is_absolute():
        config = config.model_copy(update={"home": str((file.parent / config.home).resolve())})
    return config


def missing_inputs(config: PipelineConfig) -> None:
    """Fail before any run starts when a configured model directory or data file is absent."""
    if not isinstance(config.data, FilesSource):
        return
    try:
        model_path(config.data.model)
    except ModelLoadError as err:
        raise ConfigFileError(str(err)) from err
    for split in SPLITS:
        path = Path(getattr(config.data, split))
        if not path.exists():
            raise ConfigFileError(f"{split} data {path} does not exist")
