"""The quantization stresses int8 and int4 (audit/stresses/quantize.py) on the tiny world's
model: registered by name, each makes a variant `<source>.int<bits>` whose directory is a plain
float model that loads and generates, with a `quantization.json` stating what was rounded and
what was left untouched; rounding it again changes no bit; int4 moves weights more than int8."""

from __future__ import annotations

import json

import pytest
import torch

from forgetflow.audit.stresses import STRESSES, UnknownStressError, apply_stress
from forgetflow.hashing import dir_sha256
from forgetflow.models.io import load_model
from forgetflow.records import ModelVariant


@pytest.fixture(scope="module")
def stressed(tiny_world, tmp_path_factory) -> dict[str, ModelVariant]:
    root = tmp_path_factory.mktemp("stressed")
    after = ModelVariant("after", tiny_world.model_dir)
    return {name: apply_stress(name, after, root) for name in ("int8", "int4")}


def weights(variant: ModelVariant) -> dict[str, torch.Tensor]:
    model, _ = load_model(variant.model_dir)
    return {name: p.detach() for name, p in model.named_parameters()}


def test_the_stresses_are_registered_and_an_unknown_one_is_one_line() -> None:
    assert {"int8", "int4"} <= set(STRESSES.names())
    assert STRESSES.meta("int4")["bits"] == 4 and STRESSES.meta("int8")["kind"] == "quantize"
    with pytest.raises(UnknownStressError) as caught:
        STRESSES.get("int3")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("unknown stress 'int3'; registered: ")
    assert "'int4'" in message and "'int8'" in message and "did you mean 'int" in message


def test_a_stress_makes_a_labelled_variant_with_its_record(stressed, tiny_world) -> None:
    variant = stressed["int4"]
    assert variant.label == "after.int4" and variant.parent == "after"
    assert variant.model_dir.name == "after.int4" and (variant.model_dir / "config.json").is_file()
    record = json.loads((variant.model_dir / "quantization.json").read_text())
    assert (record["bits"], record["levels"], record["group_size"]) == (4, 7, 128)
    assert record["group_axis"] == "input" and record["scheme"].startswith("symmetric absmax")
    assert record["source"]["sha256"] == dir_sha256(tiny_world.model_dir)
    assert record["source"]["label"] == "after"
    layers = json.loads((tiny_world.model_dir / "config.json").read_text())["n_layer"]
    assert len(record["modules"]) == 4 * layers
    assert {"transformer.wte.weight", "transformer.ln_f.weight"} <= set(record["untouched"])
    assert "embeddings, the LM head, norms" in record["left_untouched"]


def test_the_variant_loads_and_generates(stressed) -> None:
    model, tokenizer = load_model(stressed["int4"].model_dir)
    assert next(model.parameters()).dtype == torch.float32
    ids = tokenizer("Name:", return_tensors="pt").input_ids
    out = model.generate(
        ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert out.shape == (1, ids.shape[1] + 4)


def test_a_quantized_variant_quantizes_to_itself(stressed, tmp_path) -> None:
    for name, variant in stressed.items():
        again = apply_stress(name, variant, tmp_path)
        assert again.label == f"after.{name}.{name}" and again.parent == f"after.{name}"
        once, twice = weights(variant), weights(again)
        assert all(torch.equal(once[key], twice[key]) for key in once), name


def test_int4_moves_the_rounded_weights_more_than_int8(stressed, tiny_world) -> None:
    source = weights(ModelVariant("after", tiny_world.model_dir))
    record = json.loads((stressed["int4"].model_dir / "quantization.json").read_text())
    rounded = [f"{module['name']}.weight" for module in record["modules"]]
    error = {}
    for name, variant in stressed.items():
        got = weights(variant)
        error[name] = max(float((got[k] - source[k]).abs().max()) for k in rounded)
        assert all(torch.equal(got[k], source[k]) for k in record["untouched"])
    assert 0 < error["int8"] and error["int4"] > 4 * error["int8"]  # steps 1/7 vs 1/127


def test_a_rerun_reuses_the_written_variant(stressed, tiny_world) -> None:
    record = stressed["int8"].model_dir / "quantization.json"
    written = record.stat().st_mtime_ns
    after = ModelVariant("after", tiny_world.model_dir)
    again = apply_stress("int8", after, stressed["int8"].model_dir.parent)
    assert again == stressed["int8"] and record.stat().st_mtime_ns == written
