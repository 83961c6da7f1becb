"""The presets in flows/deployments/ are the one source: the demo, prefect.yaml and the package
data all come from them."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from flows.params import PipelineConfig, load_config
from flows.presets import (
    PresetError,
    demo_config,
    deployable_presets,
    load_preset,
    preset_names,
    render_prefect_yaml,
)
from flows.unlearning_pipeline import unlearning_pipeline

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "flows" / "deployments"


def test_the_demo_is_the_demo_yaml() -> None:
    assert demo_config() == load_config(PRESETS / "demo-tiny.yaml")
    assert demo_config().name == "demo-tiny"


def test_demo_overrides_size_backend_and_home() -> None:
    config = demo_config("/tmp/ff-home", size="small", backend="vllm")
    assert config.name == "demo-small" and config.home == "/tmp/ff-home"
    assert config.data.world.size == "small" and config.data.world.seed == 0
    assert config.audit.generator.name == "vllm"
    assert config.unlearning == demo_config().unlearning


def test_presets_are_package_data_and_examples_are_not_deployed() -> None:
    assert set(preset_names()) == {p.stem for p in PRESETS.glob("*.yaml")}
    papers = ["paper-icu", "paper-sga", "paper-ta", "paper-tau"]
    assert deployable_presets() == ["demo-tiny", "facts-unstar", *papers, "real-smollm2",
                                    "unstar-templated"]  # fmt: skip
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["flows"]
    for path in PRESETS.glob("*.yaml"):
        assert any(fnmatch(str(path.relative_to(ROOT / "flows")), g) for g in globs), path.name
    with pytest.raises(PresetError, match="demo-tiny"):
        load_preset("demo-huge")


def test_the_committed_prefect_yaml_is_rendered_from_the_presets() -> None:
    committed = (ROOT / "prefect.yaml").read_text()
    assert committed == render_prefect_yaml(), "stale: run `forgetflow deployments render`"
    spec = yaml.safe_load(committed)
    for deployment in spec["deployments"]:
        assert deployment["entrypoint"] == "flows/unlearning_pipeline.py:unlearning_pipeline"
        config = PipelineConfig.model_validate(deployment["parameters"]["config"])
        assert config == load_preset(deployment["name"])


def test_the_example_config_validates() -> None:
    config = load_config(PRESETS / "own-model.example.yaml")
    assert config.data.kind == "files"
    assert Path(config.data.forget).is_absolute()


def test_the_facts_file_example_validates_with_model_written_roles() -> None:
    config = load_config(PRESETS / "facts-file.example.yaml")
    assert config.data.kind == "facts_file" and config.unlearning.method.name == "unstar"
    assert Path(config.data.facts).is_absolute() and Path(config.data.holdout).is_absolute()
    assert config.data.facts == str((PRESETS / "data" / "facts.jsonl").resolve())
    roles = config.unlearning.method.roles  # the user's relations have no templates
    assert {roles.questions.generator, roles.answers.generator, roles.rationales.generator} == {
        "target"
    }


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
    config = load_preset("real-smollm2")
    assert config.data.kind == "finetuned"
    records = config.data.records
    assert records.base == "smollm2-135m-instruct" and records.buckets == [1, 4, 16]
    assert (records.forget_per_bucket, records.retain_per_bucket, records.holdout) == (8, 8, 24)
    assert not any(m.startswith("el_") for m in config.scoring.metrics)


def test_the_unstar_templated_preset_cuts_quiz_facts_of_a_pulled_model() -> None:
    config = load_preset("unstar-templated")
    assert config.data.kind == "quiz_facts" and config.data.model == "smollm2-135m-instruct"
    assert config.data.targets == 3 and config.unlearning.method.name == "unstar"
    roles = config.unlearning.method.roles
    assert (roles.questions.generator, roles.answers.generator) == ("template", "template")
    assert (roles.rationales.generator, roles.rationales.model) == (
        "model",
        "smollm2-135m-instruct",
    )
    assert config.unlearning.method.lora is not None  # the lr is a LoRA adapter's
