"""Stage 5: utility of every model variant on data no method trains on (general text's eval
half, the scenario's and the user's QA sets, the request's forget set against the retain model)."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.hashing import file_sha256
from forgetflow.scenarios.sources import DataSource
from forgetflow.scenarios.utility import scenario_qa
from forgetflow.utility.config import UtilityConfig
from forgetflow.utility.forget_quality import request_forget_set
from forgetflow.utility.measured import UtilityRun
from forgetflow.utility.sets import TextSet, UtilitySets, read_qa_file
from forgetflow.utility.stage import run_utility
from storage.tracking import RunHandle
from tasks.context import InputRefs, StageContext, StageResult, VariantRef
from tasks.reuse import reused_or_run


def pipeline_sets(
    ctx: StageContext, inputs: InputRefs, source: DataSource, settings: UtilityConfig, seed: int
) -> UtilitySets:
    """General text's halves from ingest; the request's forget set, the scenario's QA sets and
    the user's (retain-side)."""
    halves = {}
    for name, ref in (("guard", inputs.guard), ("eval", inputs.general)):
        passages = tuple(s.text for s in ctx.samples(ref)) if ref is not None else ()
        halves[name] = TextSet(name, passages, ref.uri if ref is not None else "none given")
    forget = request_forget_set(ctx.samples(inputs.forget), seed)
    qa = ([forget] if forget is not None else []) + scenario_qa(source, ctx.home, seed)
    qa += [read_qa_file(path, "retain") for path in settings.qa]
    return UtilitySets(halves["guard"], halves["eval"], tuple(qa))


def evaluate_utility_work(
    ctx: StageContext,
    run: RunHandle,
    inputs: InputRefs,
    variants: list[VariantRef],
    source: DataSource,
    settings: UtilityConfig,
    seed: int,
) -> StageResult:
    """The stage's work in its child run `run` (see evaluate_utility)."""
    sets = pipeline_sets(ctx, inputs, source, settings, seed).first_items(settings.max_items)
    run.log_params({"settings": settings.model_dump(mode="json"),
                    "qa_sets": ",".join(f"{s.name}:{s.role}:{len(s.items)}" for s in sets.qa),
                    "general_eval_passages": len(sets.eval.passages),
                    "variants": ",".join(v.label for v in variants)})  # fmt: skip
    result = run_utility(UtilityRun(ctx.variants(variants), sets), settings)
    ref = ctx.store.put_table(result.samples, "utility")
    run.log_figures(result.figures)
    run.log_dict(result.summary, "utility_summary.json")
    run.log_ref("utility", ref)
    return StageResult(ref, tuple(result.figures))


@task(name="evaluate_utility", cache_policy=NO_CACHE)
def evaluate_utility(
    ctx: StageContext, inputs: InputRefs, variants: list[VariantRef], source: DataSource,
    settings: UtilityConfig, seed: int,
) -> StageResult:  # fmt: skip
    parts = {
        "inputs": inputs,
        "variants": variants,
        "source": source,
        "settings": settings,
        "qa_files": [file_sha256(Path(path)) for path in settings.qa],  # read here, by content
        "seed": seed,
    }
    return reused_or_run(
        ctx,
        "evaluate_utility",
        parts,
        lambda run: evaluate_utility_work(ctx, run, inputs, variants, source, settings, seed),
        lambda result: result.figures,
    )
