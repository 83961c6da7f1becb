"""Stage 1: memorization scoring of forget and holdout, and the ledger."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.memorization.ledger import outliers, summary
from forgetflow.memorization.stage import score_to_ledger
from forgetflow.models import load_model
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext


@task(name="score_memorization", cache_policy=NO_CACHE)
def score_memorization(ctx: StageContext, inputs: InputRefs, params: dict) -> ArtifactRef:
    """`params`: ScoringParams as a dict (batch_size, metrics, outlier_metric, threshold,
    quantile, window)."""
    rule = (params["outlier_metric"], params["threshold"], params["quantile"])
    with ctx.tracker().stage_run("score_memorization", ctx.parent_run_id) as run:
        run.log_params({**params, "metrics": ",".join(params["metrics"])})
        model, tokenizer = load_model(ctx.model_dir(inputs.model))
        samples = ctx.samples(inputs.forget, inputs.holdout)
        ledger = score_to_ledger(model, tokenizer, samples, 0, params["batch_size"],
                                 tuple(params["metrics"]), params["window"])  # fmt: skip
        ref = ctx.store.put_table(ledger, "ledger")
        run.log_metrics(summary(ledger, 0, *rule))
        found = outliers(ledger, 0, *rule)
        run.log_dict({"metric": found.metric, "rule": found.rule, "threshold": found.threshold,
                      "outliers": list(found.sample_ids)}, "outliers.json")  # fmt: skip
        run.log_ref("ledger", ref)
        run.log_file(ref.path, "ledger")
        return ref
