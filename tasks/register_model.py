"""The unlearned model in MLflow's model registry: logged as an output of the pipeline run (its
weights up to MAX_LOGGED_BYTES, else by reference: URI and sha256) and registered as a new version
with the audit's model verdict and the forget set's digest as tags, the hashes before and after
and the thresholds in its description."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.memorization.thresholds import Thresholds
from forgetflow.records import Figure
from storage.artifacts import ArtifactRef
from storage.tracking import MAX_LOGGED_BYTES, ModelRecord, TrackingConfig
from tasks.context import InputRefs, StageContext


def after_verdict(figures: tuple[Figure, ...]) -> str:
    """The unlearned model's audit verdict: pass, fail or not_judged."""
    for f in figures:
        if f.stage == "audit" and f.metric == "model_verdict_pass" and f.variant == "after":
            return "pass" if f.value else "fail"
    return "not_judged"


@task(name="register_model", cache_policy=NO_CACHE)
def register_model(
    ctx: StageContext, inputs: InputRefs, model: ArtifactRef, audit_figures: tuple[Figure, ...],
    settings: TrackingConfig, run_name: str, method: str, thresholds: Thresholds,
) -> str:  # fmt: skip
    """Register the unlearned `model`; returns "<registered name> v<version>"."""
    size = sum(p.stat().st_size for p in model.path.rglob("*") if p.is_file())
    weights = model.path if settings.log_model_weights or size <= MAX_LOGGED_BYTES else None
    name = settings.registered_model or run_name
    description = (
        f"{method} on forget set sha256 {inputs.forget.sha256} ({inputs.forget.num_rows} rows). "
        f"Before: sha256 {inputs.model.sha256}. After: sha256 {model.sha256}, "
        f"{'weights logged' if weights else 'by reference: ' + model.uri}. "
        f"Thresholds: {thresholds.model_dump_json()}"
    )
    tags = {"forgetflow.verdict": after_verdict(audit_figures), "forgetflow.method": method,
            "forgetflow.forget_digest": inputs.forget.sha256[:12]}  # fmt: skip
    record = ModelRecord(name, model.uri, model.sha256, tags, description)
    version = ctx.tracker().register_model(ctx.parent_run_id, record, weights)
    return f"{name} v{version}"
