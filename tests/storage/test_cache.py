"""The stage cache (storage/cache.py): what a key depends on, and when an entry is a miss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forgetflow.memorization.thresholds import ThresholdRule
from storage.artifacts import ArtifactRef
from storage.cache import CacheEntry, StageCache, code_version, fingerprint, refs_in


@dataclass(frozen=True)
class Result:
    table: ArtifactRef
    more: dict


def ref_at(path: Path) -> ArtifactRef:
    return ArtifactRef(path.as_uri(), "ledger", 1, 3, "ab" * 32)


def test_the_code_version_follows_every_source_file(tmp_path) -> None:
    for package in ("forgetflow", "tasks", "storage"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    before = code_version(tmp_path)
    (tmp_path / "tasks" / "a.py").write_text("x = 2\n")
    code_version.cache_clear()
    assert code_version(tmp_path) != before
    code_version.cache_clear()


def test_settings_and_dataclasses_key_by_value(tmp_path) -> None:
    cache = StageCache(tmp_path)
    rule = ThresholdRule(rule="quantile", quantile=0.9)
    same = cache.key("s", fingerprint({"rule": rule, "path": Path("/x")}))
    assert same == cache.key("s", fingerprint({"rule": rule.model_copy(), "path": Path("/x")}))
    other = ThresholdRule(rule="quantile", quantile=0.8)
    assert same != cache.key("s", fingerprint({"rule": other, "path": Path("/x")}))
    assert same != cache.key("t", fingerprint({"rule": rule, "path": Path("/x")}))


def test_an_entry_whose_artifacts_are_gone_is_a_miss(tmp_path) -> None:
    kept, gone = tmp_path / "kept.parquet", tmp_path / "gone.parquet"
    kept.write_bytes(b"1")
    cache = StageCache(tmp_path / "cache")
    value = Result(ref_at(kept), {"more": [ref_at(kept)]})
    assert refs_in(value) == [kept, kept]
    cache.put("s", "k1", CacheEntry("run-1", value))
    assert cache.get("s", "k1") == CacheEntry("run-1", value)
    cache.put("s", "k2", CacheEntry("run-2", Result(ref_at(kept), {"more": [ref_at(gone)]})))
    assert cache.get("s", "k2") is None and cache.get("s", "absent") is None
