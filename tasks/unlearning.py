"""Stage 3: unlearning; saves the new model and appends the after-training scores to the ledger."""

from __future__ import annotations

from collections import defaultdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.memorization.ledger import summary
from forgetflow.training import TrainingConfig
from forgetflow.unlearning import unlearn_model
from storage.artifacts import ArtifactRef
from tasks.context import InputRefs, StageContext, UnlearningRefs


@task(name="run_unlearning", cache_policy=NO_CACHE)
def run_unlearning(
    ctx: StageContext, inputs: InputRefs, ledger_ref: ArtifactRef, twins_ref: ArtifactRef,
    method: object, training: TrainingConfig, seed: int,
) -> UnlearningRefs:  # fmt: skip
    store = ctx.store
    with ctx.tracker().stage_run("run_unlearning", ctx.parent_run_id) as run:
        run.log_params({"method": method.model_dump(), "training": training.model_dump(),
                        "seed": seed})  # fmt: skip
        splits = {"forget": ctx.samples(inputs.forget), "retain": ctx.samples(inputs.retain),
                  "holdout": ctx.samples(inputs.holdout)}  # fmt: skip
        staged = store.stage_dir()
        out = unlearn_model(ctx.model_dir(inputs.model), staged, method, training, seed, splits,
                            store.get_table(twins_ref), store.get_table(ledger_ref))  # fmt: skip
        curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for row in out.log.to_pylist():
            curves[row["name"]].append((row["step"], row["value"]))
        for name, points in sorted(curves.items()):
            run.log_curve(name, points)
        run.log_metrics({f"after_{k}": v for k, v in summary(out.ledger, out.steps).items()})
        refs = UnlearningRefs(
            model=store.put_dir(staged, "model"),
            ledger=store.put_table(out.ledger, "ledger"),
            training_log=store.put_table(out.log, "training_log"),
        )
        for role in ("model", "ledger", "training_log"):
            run.log_ref(role, getattr(refs, role))
        return refs
