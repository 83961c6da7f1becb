from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forgetflow.hashing import file_sha256
from storage.artifacts import (
    ENVIRONMENT_FILE,
    ENVIRONMENT_KEY,
    ArtifactRef,
    ArtifactStore,
    IntegrityError,
    MissingArtifactError,
    SchemaMismatchError,
)


def samples(n: int = 3) -> pa.Table:
    return pa.table(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "split": ["forget"] * n,
            "text": [f"text {i}" for i in range(n)],
            "repetitions": [1] * n,
            "prompt": [""] * n,
            "source_id": [""] * n,
            "paraphrases": pa.array([[]] * n, pa.list_(pa.string())),
        }
    )


def test_table_round_trip_is_content_addressed(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put_table(samples(), "samples")
    assert (ref.schema_name, ref.schema_version, ref.num_rows) == ("samples", 4, 3)
    assert ref.path.name == f"{ref.sha256}.parquet"
    assert store.get_table(ref).to_pylist() == samples().to_pylist()
    assert store.put_table(samples(), "samples") == ref  # same content, same ref
    assert not list((tmp_path / ".staging").iterdir())  # nothing left half-written


def test_column_order_is_normalised(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    shuffled = samples().select(
        ["text", "paraphrases", "source_id", "repetitions", "prompt", "sample_id", "split"]
    )
    assert store.get_table(store.put_table(shuffled, "samples")).column_names == [
        "sample_id",
        "split",
        "text",
        "repetitions",
        "prompt",
        "source_id",
        "paraphrases",
    ]


def test_writing_a_table_with_wrong_columns_raises(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(SchemaMismatchError, match="wants columns"):
        store.put_table(samples().drop_columns(["text"]), "samples")
    bad_type = pa.table({"sample_id": ["a"], "split": ["forget"], "step": ["x"],
                         "metric": ["ma"], "value": [1.0]})  # fmt: skip
    with pytest.raises(SchemaMismatchError, match="ledger"):
        store.put_table(bad_type, "ledger")


def test_reading_a_file_of_another_schema_raises(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put_table(samples(), "samples")
    forged = ArtifactRef(ref.uri, "ledger", 1, ref.num_rows, ref.sha256)
    with pytest.raises(SchemaMismatchError, match="does not match ledger v1"):
        store.get_table(forged)
    newer = ArtifactRef(ref.uri, "samples", 99, ref.num_rows, ref.sha256)
    with pytest.raises(SchemaMismatchError, match="schema version 99"):
        store.get_table(newer)


def test_an_older_samples_artifact_is_one_line_naming_both_versions(tmp_path: Path) -> None:
    """A samples table of schema version 2 (no prompt, no source_id), as earlier pipelines wrote
    it, with its ref; and the same file under a ref that claims the current version."""
    store = ArtifactStore(tmp_path)
    old = samples().drop_columns(["prompt", "source_id", "paraphrases"])
    path = tmp_path / "samples" / "old.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(old.replace_schema_metadata({"forgetflow.schema_version": "2"}), path)
    digest = file_sha256(path)
    for claimed in (2, 4):
        ref = ArtifactRef(path.as_uri(), "samples", claimed, old.num_rows, digest)
        with pytest.raises(SchemaMismatchError) as raised:
            store.get_table(ref)
        message = str(raised.value)
        assert "\n" not in message
        assert message == (
            f"{path.as_uri()} is a samples artifact of schema version 2; this forgetflow reads "
            "version 4: re-run the pipeline to rebuild it"
        )


def test_hash_mismatch_raises(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put_table(samples(), "samples")
    pq.write_table(samples(4), ref.path)  # modified behind the store's back
    with pytest.raises(IntegrityError, match="was modified"):
        store.get_table(ref)


def test_missing_artifact_raises(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put_table(samples(), "samples")
    ref.path.unlink()
    with pytest.raises(MissingArtifactError, match="missing"):
        store.verify(ref)


def test_directory_artifacts_are_hashed_and_verified(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    staged = store.stage_dir()
    (staged / "config.json").write_text("{}")
    (staged / "sub").mkdir()
    (staged / "sub" / "w.bin").write_bytes(b"\x00\x01")
    ref = store.put_dir(staged, "model")
    assert ref.num_rows == 2 and store.get_dir(ref) == ref.path
    (ref.path / "sub" / "w.bin").write_bytes(b"\x00\x02")
    with pytest.raises(IntegrityError):
        store.verify(ref)


def test_external_directory_is_referenced_in_place(tmp_path: Path) -> None:
    outside = tmp_path / "user-model"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    store = ArtifactStore(tmp_path / "store")
    ref = store.ref_dir(outside, "model")
    assert store.get_dir(ref) == outside.resolve()
    with pytest.raises(MissingArtifactError):
        store.ref_dir(tmp_path / "nope", "model")


def test_every_artifact_carries_the_writing_runs_environment(tmp_path: Path) -> None:
    environment = {"seed": "3", "torch_threads": "1", "device": "cpu"}
    store = ArtifactStore(tmp_path / "store", environment)
    table = pa.table({"step": [1], "name": ["loss"], "value": [0.5]})
    ref = store.put_table(table, "training_log")
    written = pq.read_schema(ref.path).metadata[ENVIRONMENT_KEY]
    assert json.loads(written) == environment
    staged = store.stage_dir()
    (staged / "report.md").write_text("# report")
    folder = store.get_dir(store.put_dir(staged, "report"))
    assert json.loads((folder / ENVIRONMENT_FILE).read_text()) == environment
