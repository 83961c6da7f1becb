"""Turn the configured inputs into artifacts (no stage run of its own: the parent run logs them)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.data.loaders import load_request
from forgetflow.data.samples import samples_table
from forgetflow.memorization.metrics import window_tail
from forgetflow.memorization.windows import window_samples
from forgetflow.models.io import load_tokenizer, max_positions
from forgetflow.paths import resolve_paths
from forgetflow.scenarios.sources import DataSource, retain_model_dir, source_inputs
from tasks.context import InputRefs, StageContext


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(ctx: StageContext, source: DataSource, window: int, metrics: list[str]) -> InputRefs:
    """Build (or reuse) a scenario's model and splits, or take the user's model and files, and
    register the model and each split as artifacts.

    Here, once, every text row longer than `window` tokens of the model's tokenizer becomes
    windows `<id>#<k>` (a tail too short for `metrics` joins the window before it): every later
    stage works on the same units."""
    model_dir, files = source_inputs(source, ctx.home)
    cache = resolve_paths(ctx.home).home / "datasets-cache"
    loaded = load_request(files, cache)
    tokenizer, tail = load_tokenizer(model_dir), window_tail(metrics)
    longest = max_positions(model_dir)
    units = {split: window_samples(one.samples, tokenizer, window, tail, longest)
             for split, one in loaded.items()}  # fmt: skip
    refs = {
        split: ctx.store.put_table(samples_table(rows), "samples") for split, rows in units.items()
    }
    kind = loaded["forget"].kind
    for split, one in loaded.items():
        count = len(units[split])
        note = f", {count} units after windowing" if count > len(one.samples) else ""
        print(f"{split}: {len(one.samples)} {kind} samples from {one.path}{note}")
    retain = retain_model_dir(source, ctx.home)
    retain_ref = ctx.store.ref_dir(retain, "model") if retain is not None else None
    return InputRefs(model=ctx.store.ref_dir(model_dir, "model"), kind=kind,
                     retain_model=retain_ref, **refs)  # fmt: skip
