"""A stage's result reused from the stage cache (storage/cache.py) when its inputs, settings and
the code are unchanged: the stage's MLflow child run is still made, tagged as reused and pointing
at the run that computed it, with its artifact refs and the stage's figures logged again so runs
compare and read alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from storage.cache import CacheEntry, StageCache, fingerprint
from storage.tracking import RunHandle
from tasks.context import StageContext

T = TypeVar("T")
REUSED_FROM = "forgetflow.reused_from"  # the run that computed a reused stage's result
CACHE_KEY = "forgetflow.cache_key"


def stage_cache(ctx: StageContext) -> StageCache:
    return StageCache(resolve_paths(ctx.home).home / "cache")


def reused_or_run(
    ctx: StageContext, stage: str, parts: object, compute: Callable[[RunHandle], T],
    figures: Callable[[T], Sequence[Figure]],
) -> T:  # fmt: skip
    """`compute(run)` in the stage's child run, or its cached result where `parts` (everything
    the result depends on but the code) and the code are unchanged and `ctx.reuse` is on."""
    cache = stage_cache(ctx)
    key = cache.key(stage, fingerprint({"environment": ctx.environment, "parts": parts}))
    hit = cache.get(stage, key) if ctx.reuse else None
    with ctx.tracker().stage_run(stage, ctx.parent_run_id) as run:
        run.set_tags({CACHE_KEY: key})
        if hit is not None:
            run.set_tags({REUSED_FROM: hit.run_id})
            run.copy_refs(hit.run_id)
            run.log_figures(figures(hit.value))
            print(f"{stage}: reused, unchanged since run {hit.run_id}")
            return hit.value
        value = compute(run)
    cache.put(stage, key, CacheEntry(run.run_id, value))
    return value
