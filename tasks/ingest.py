"""Turn the configured inputs into artifacts (no stage run of its own: the parent run logs them)."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.data.loaders import load_request
from forgetflow.data.samples import samples_table
from forgetflow.models.io import check_model_dir, model_path
from forgetflow.paths import resolve_paths
from forgetflow.records import SPLITS
from forgetflow.scenarios.records.finetune import RecordsConfig, build_records
from forgetflow.scenarios.world.build import WorldConfig, build_world
from tasks.context import InputRefs, StageContext


def _ingest(ctx: StageContext, model_dir: Path, files: dict[str, str]) -> InputRefs:
    check_model_dir(model_dir)
    cache = resolve_paths(ctx.home).home / "datasets-cache"
    loaded = load_request({split: files[split] for split in SPLITS}, cache)
    refs = {
        split: ctx.store.put_table(samples_table(one.samples), "samples")
        for split, one in loaded.items()
    }
    kind = loaded["forget"].kind
    for split, one in loaded.items():
        print(f"{split}: {len(one.samples)} {kind} samples from {one.path}")
    return InputRefs(model=ctx.store.ref_dir(model_dir, "model"), kind=kind, **refs)


@task(name="ingest_world", cache_policy=NO_CACHE)
def ingest_world(ctx: StageContext, world: WorldConfig) -> InputRefs:
    """Build (or reuse) the built-in world and register its model and splits."""
    built = build_world(world, resolve_paths(ctx.home).worlds)
    return _ingest(ctx, built.model_dir, {k: str(v) for k, v in built.splits.items()})


@task(name="ingest_finetuned", cache_policy=NO_CACHE)
def ingest_finetuned(ctx: StageContext, records: RecordsConfig) -> InputRefs:
    """Fine-tune (or reuse) the records scenario's models and register its target and splits."""
    built = build_records(records, ctx.home)
    return _ingest(ctx, built.model_dir, {k: str(v) for k, v in built.splits.items()})


@task(name="ingest_files", cache_policy=NO_CACHE)
def ingest_files(ctx: StageContext, model: str, splits: dict[str, str]) -> InputRefs:
    """Register a user's model directory (or a pulled or fine-tuned model's name) and read their
    split files through `datasets`."""
    return _ingest(ctx, model_path(model), splits)
