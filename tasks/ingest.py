"""Turn the configured inputs into artifacts (no stage run of its own: the parent run logs them)."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.data.loaders import load_request
from forgetflow.data.samples import samples_table
from forgetflow.memorization.metrics import window_tail
from forgetflow.memorization.windows import window_samples
from forgetflow.models.io import load_tokenizer, max_positions
from forgetflow.paths import resolve_paths
from forgetflow.records import Sample
from forgetflow.scenarios.sources import (
    DataSource,
    facts_request_folder,
    retain_model_dir,
    source_inputs,
)
from forgetflow.scenarios.utility import scenario_text
from forgetflow.utility.sets import read_text_file, split_general
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


def general_refs(
    ctx: StageContext, source: DataSource, files: list[str], seed: int,
    units: Callable[[list[Sample]], list[Sample]],
) -> dict[str, ArtifactRef]:  # fmt: skip
    """General text (the source's and the user's files), split with `seed` into the guard and
    eval halves, each registered as a samples artifact (the guard's in the model's `units`, as
    the unlearning loop scores it; the eval half whole, as utility windows and prompts it);
    none without general text."""
    texts = scenario_text(source, ctx.home) + [read_text_file(f) for f in files]
    if not texts:
        return {}
    halves = split_general(texts, seed)
    rows = {half.name: [Sample(f"{half.name}-{k:04d}", half.name, text)
                        for k, text in enumerate(half.passages)] for half in halves}  # fmt: skip
    rows["guard"] = units(rows["guard"])
    for half in halves:
        print(f"general text, {half.name} half: {len(half.passages)} passages from {half.source}")
    return {name: ctx.store.put_table(samples_table(r), "samples") for name, r in rows.items()}


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(
    ctx: StageContext, source: DataSource, window: int, metrics: list[str], utility_text: list[str],
    seed: int,
) -> InputRefs:  # fmt: skip
    """Build (or reuse) a scenario's model and splits, or take the user's model and files, and
    register the model and each split as artifacts; general text (the scenario's and
    `utility_text`) split with `seed` into the utility guard's half and utility's eval half.

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

    def units(rows: list[Sample]) -> list[Sample]:
        return window_samples(rows, tokenizer, window, tail, longest)

    general = general_refs(ctx, source, utility_text, seed, units)
    folder = facts_request_folder(source, ctx.home)  # a facts request's targets and questions
    facts = ctx.store.ref_dir(folder, "facts_request") if folder is not None else None
    return InputRefs(model=ctx.store.ref_dir(model_dir, "model"), kind=kind,
                     retain_model=retain_ref, guard=general.get("guard"),
                     general=general.get("eval"), facts=facts, **refs)  # fmt: skip
