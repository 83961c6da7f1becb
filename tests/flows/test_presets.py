"""The presets users run (CLI demo, YAML, prefect.yaml) are one and the same config."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.params import PipelineConfig, load_config
from flows.presets import demo_config
from flows.unlearning_pipeline import unlearning_pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_demo_yaml_equals_the_builtin_demo() -> None:
    assert load_config(ROOT / "deployments" / "demo-tiny.yaml") == demo_config()


def test_prefect_yaml_deploys_the_demo_config() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    assert deployment["entrypoint"] == "flows/unlearning_pipeline.py:unlearning_pipeline"
    assert PipelineConfig.model_validate(deployment["parameters"]["config"]) == demo_config()


def test_the_example_config_validates() -> None:
    config = load_config(ROOT / "deployments" / "own-model.example.yaml")
    assert config.data.kind == "files"
    assert Path(config.data.forget).is_absolute()


def test_the_flow_exposes_a_typed_parameter_form() -> None:
    schema = unlearning_pipeline.parameters.model_dump()
    config_schema = schema["properties"]["config"]
    assert "$ref" in str(config_schema) or "allOf" in str(config_schema)
    definitions = schema["definitions"]
    assert {"PipelineConfig", "WorldSource", "FilesSource", "GradDiffConfig"} <= set(definitions)
    deployment = unlearning_pipeline.to_deployment(
        name="check", parameters={"config": demo_config().model_dump(mode="json")}
    )
    assert deployment.parameters["config"]["name"] == "demo-tiny"


def test_the_real_smollm2_preset_validates() -> None:
    config = load_config(ROOT / "deployments" / "real-smollm2.yaml")
    assert config.data.kind == "finetuned"
    records = config.data.records
    assert records.base == "smollm2-135m-instruct" and records.buckets == [1, 4, 16]
    assert (records.forget_per_bucket, records.retain_per_bucket, records.holdout) == (8, 8, 24)
    assert not any(m.startswith("el_") for m in config.scoring.metrics)
