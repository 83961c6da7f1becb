"""A QA erasure request (question + answer rows) through `forgetflow run --config`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from flows.cli import app
from forgetflow.data.samples import samples_from_table
from forgetflow.lm.prompts import full_text, qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.models.io import load_tokenizer
from forgetflow.paths import resolve_paths
from storage.artifacts import ArtifactStore
from storage.tracking import default_tracking_uri, read_ref

ROWS_PER_SPLIT = 4


def qa_files(world, folder: Path) -> dict[str, str]:
    """A few of the world's QA facts per split, as a user's JSONL files (no repetitions), with
    their paraphrased questions and how many of them training saw."""
    rows = [r for r in world.table("qa").to_pylist() if r["family"] == "qa"]
    files = {}
    for split in ("forget", "retain", "holdout"):
        picked = [r for r in rows if r["split"] == split][:ROWS_PER_SPLIT]
        keys = ("sample_id", "question", "answer", "paraphrased_questions", "trained_paraphrases")
        lines = [json.dumps({k: r[k] for k in keys}) for r in picked]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        files[split] = f"{split}.jsonl"
    return files


def test_a_qa_request_runs_the_whole_pipeline_asking_the_questions(
    prefect_harness, tiny_world, session_home, tmp_path, capsys, quick_utility
) -> None:
    files = qa_files(tiny_world, tmp_path)
    config = tmp_path / "qa.yaml"
    config.write_text(yaml.safe_dump({
        "name": "qa-request", "home": str(session_home),
        "data": {"kind": "files", "model": str(tiny_world.model_dir), **files},
        "scoring": {"metrics": ["ma", "loss"], "batch_size": 4},
        "unlearning": {"training": {"steps": 2, "batch_size": 2}},
        "utility": quick_utility,  # not what this tests
    }))  # fmt: skip
    code = app(["run", "--config", str(config)], standalone_mode=False) or 0
    output = "".join(capsys.readouterr())
    assert code == 0, output
    client = MlflowClient(default_tracking_uri(resolve_paths(session_home).mlflow_db))
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("forgetflow").experiment_id],
        filter_string="tags.mlflow.runName = 'qa-request'",
    )
    assert parent.info.status == "FINISHED" and parent.data.params["input.kind"] == "qa"
    store = ArtifactStore(resolve_paths(session_home).artifacts)
    forget_ref = read_ref(client, parent.info.run_id, "input.forget", tmp_path)
    forget = {s.sample_id: s for s in samples_from_table(store.get_table(forget_ref))}
    asked = [json.loads(line) for line in (tmp_path / "forget.jsonl").read_text().splitlines()]
    assert {i: (s.prompt, s.text) for i, s in forget.items()} == {
        r["sample_id"]: (qa_prompt(r["question"]), " " + r["answer"]) for r in asked
    }
    untrained = {r["sample_id"]: tuple(r["paraphrased_questions"][r["trained_paraphrases"]:])
                 for r in asked}  # fmt: skip
    assert {i: s.paraphrases for i, s in forget.items()} == untrained and all(untrained.values())
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    audit = next(r for r in children if r.info.run_name == "audit")
    extraction = store.get_table(read_ref(client, audit.info.run_id, "extraction", tmp_path))
    asked_facts = store.get_table(read_ref(client, audit.info.run_id, "audit_samples", tmp_path))
    facts = Counter((r["variant"], r["attack"]) for r in asked_facts.to_pylist()
                    if r["split"] == "forget" and r["attack"].startswith("fact_"))  # fmt: skip
    phrasings = sum(1 + len(u) for u in untrained.values())  # the question and each paraphrase
    for variant in ("before", "after"):  # sampled too on the forget set
        assert facts[variant, "fact_greedy_given"] == facts[variant, "fact_sampled_share"]
        assert facts[variant, "fact_greedy_given"] == phrasings
        assert 0.0 <= audit.data.metrics[f"audit/{variant}/forget/fact_leak_at_16"] <= 1.0
    assert facts["after.int4", "fact_greedy_given"] == phrasings  # greedy only
    assert facts["after.int4", "fact_sampled_share"] == 0
    assert "audit/after/holdout/fact_greedy" in audit.data.metrics
    tokenizer = load_tokenizer(tiny_world.model_dir)
    rows = [r for r in extraction.to_pylist() if r["split"] == "forget"]
    base = [r for r in rows if r["model"] in ("before", "after")]
    assert {r["sample_id"] for r in base} == set(forget) and len(base) == 2 * ROWS_PER_SPLIT
    # the stresses of after: rounded on the whole forget set, relearned attacked on half B
    counts = Counter(r["model"] for r in rows)
    assert counts["after.int8"] == counts["after.int4"] == ROWS_PER_SPLIT
    assert counts["after.relearn_10"] == counts["after.relearn_50"] == ROWS_PER_SPLIT // 2
    for row in rows:  # the attack asked the question; the suffix it had to produce is the answer
        sample = forget[row["sample_id"]]
        ids = encode(tokenizer, [full_text(sample)])[0]
        cut = row["prefix_tokens"]
        assert tokenizer.decode(ids[:cut], skip_special_tokens=True) == sample.prompt
        assert tokenizer.decode(ids[cut:], skip_special_tokens=True) == sample.text
