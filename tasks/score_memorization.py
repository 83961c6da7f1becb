"""Stage 1: memorization scoring of forget and holdout, and the ledger."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.generation.registry import BackendConfig, backend_params
from forgetflow.memorization.ledger import beside_figures, ledger_figures, outliers
from forgetflow.memorization.score import score_model
from forgetflow.memorization.thresholds import ThresholdRule
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from storage.tracking import RunHandle
from tasks.context import InputRefs, StageContext, StageResult
from tasks.reuse import reused_or_run


def retain_beside(
    ctx: StageContext, inputs: InputRefs, ledger: pa.Table, rule: tuple[str, ThresholdRule],
    batch_size: int, generator: BackendConfig, logs: Path,
) -> tuple[list[Figure], pa.Table | None]:  # fmt: skip
    """The retain model's (the gold standard's) mean and c(D_f) on the forget set under the
    target's line, and its scores; none without a retain model."""
    if inputs.retain_model is None:
        return [], None
    gold = score_model(ctx.model_dir(inputs.retain_model), ctx.samples(inputs.forget),
                       (rule[0],), batch_size, generator, logs)  # fmt: skip
    return beside_figures(ledger, gold, "retain_model", *rule), gold


def score(
    ctx: StageContext, run: RunHandle, inputs: InputRefs, params: dict,
    outlier_rule: ThresholdRule,
) -> StageResult:  # fmt: skip
    """The stage's work in its child run `run` (see score_memorization)."""
    rule = (params["outlier_metric"], outlier_rule)
    run.log_params({k: v for k, v in params.items() if k not in ("metrics", "generator")}
                   | {"metrics": ",".join(params["metrics"]),
                      "outlier_rule": outlier_rule.label})  # fmt: skip
    generator = BackendConfig.model_validate(params["generator"])
    run.log_params({f"generator.{k}": v for k, v in backend_params(generator).items()})
    samples = ctx.samples(inputs.forget, inputs.holdout)
    logs = resolve_paths(ctx.home).home / "logs" / ctx.parent_run_id / "scoring"
    try:
        metrics = tuple(params["metrics"])
        model_dir = ctx.model_dir(inputs.model)
        ledger = score_model(model_dir, samples, metrics, params["batch_size"], generator, logs)
        beside, gold = retain_beside(ctx, inputs, ledger, rule, params["batch_size"], generator,
                                     logs)  # fmt: skip
    finally:
        for log in sorted(logs.glob("*.log")):  # a vLLM server's log
            run.log_file(log, "logs")
    ref = ctx.store.put_table(ledger, "ledger")
    run.log_figures([*ledger_figures(ledger, 0, "before", *rule, quantiles=True), *beside])
    found = outliers(ledger, 0, *rule)
    run.log_dict({"metric": found.metric, "rule": found.rule, "threshold": found.threshold,
                  "outliers": list(found.sample_ids)}, "outliers.json")  # fmt: skip
    run.log_ref("ledger", ref)
    run.log_file(ref.path, "ledger")
    refs = {} if gold is None else {"ledger_retain": ctx.store.put_table(gold, "ledger")}
    return StageResult(ref, (*ledger_figures(ledger, 0, "before", *rule), *beside), (), refs)


@task(name="score_memorization", cache_policy=NO_CACHE)
def score_memorization(
    ctx: StageContext, inputs: InputRefs, params: dict, outlier_rule: ThresholdRule
) -> StageResult:
    """`params`: ScoringParams as a dict (batch_size, metrics, outlier_metric, window: applied
    at ingest, only logged here, generator: the backend that decodes extraction metrics);
    `outlier_rule` flags outliers. With a retain model, its c(D_f) on the forget set under the
    same line is reported beside. Reused when nothing it uses changed (tasks/reuse.py)."""
    parts = {"inputs": inputs, "params": params, "outlier_rule": outlier_rule}
    return reused_or_run(ctx, "score_memorization", parts,
                         lambda run: score(ctx, run, inputs, params, outlier_rule),
                         lambda result: result.figures)  # fmt: skip
