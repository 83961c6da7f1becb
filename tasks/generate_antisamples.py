"""Stage 2: anti-samples (falsified twins of the forget records)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.antisamples.twins import falsified_twins, leaked_fields
from forgetflow.generation.template import TemplateBackend
from forgetflow.lm.prompts import full_text
from storage.artifacts import ArtifactRef
from storage.tracking import RunHandle
from tasks.context import InputRefs, StageContext
from tasks.reuse import reused_or_run


def generate_antisamples_work(
    ctx: StageContext,
    run: RunHandle,
    inputs: InputRefs,
    keep_first_line: bool,
    seed: int,
) -> ArtifactRef:
    """The stage's work in its child run `run` (see generate_antisamples)."""
    backend = TemplateBackend(keep_first_line=keep_first_line)
    run.log_params({"backend": backend.name, "keep_first_line": keep_first_line, "seed": seed})
    forget = ctx.samples(inputs.forget)
    twins = falsified_twins(backend, forget, seed)
    texts = dict(zip(twins.table["source_id"].to_pylist(), twins.table["text"].to_pylist(),
                     strict=True))  # fmt: skip
    leaks = sum(len(leaked_fields(full_text(s), texts[s.sample_id]))
                for s in forget if s.sample_id in texts)  # fmt: skip
    if twins.unchanged:
        shown = ", ".join(twins.unchanged[:10])
        print(f"{len(twins.unchanged)} forget samples the {backend.name} backend could not "
              f"change train without an anti-sample: {shown}")  # fmt: skip
    ref = ctx.store.put_table(twins.table, "antisamples")
    run.log_metrics({"antisamples": twins.table.num_rows, "leaked_fields": leaks,
                     "unchanged": len(twins.unchanged)})  # fmt: skip
    run.set_tags({"backend": backend.name, "unchanged_ids": ",".join(twins.unchanged)[:4000]})
    run.log_ref("antisamples", ref)
    return ref


@task(name="generate_antisamples", cache_policy=NO_CACHE)
def generate_antisamples(
    ctx: StageContext, inputs: InputRefs, keep_first_line: bool, seed: int
) -> ArtifactRef:  # fmt: skip
    parts = {"inputs": inputs, "keep_first_line": keep_first_line, "seed": seed}
    return reused_or_run(
        ctx,
        "generate_antisamples",
        parts,
        lambda run: generate_antisamples_work(ctx, run, inputs, keep_first_line, seed),
        lambda ref: (),
    )
