"""Stage 3: unlearning; saves the new model and appends the after-training scores to the ledger."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from forgetflow.antisamples.unstar.build import rounds_figures
from forgetflow.antisamples.unstar.round_zero import round_zero_from
from forgetflow.hashing import content_key
from forgetflow.memorization.ledger import ledger_figures
from forgetflow.memorization.thresholds import Thresholds
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.run import unlearn_model
from storage.artifacts import ArtifactRef
from storage.tracking import RunHandle
from tasks.context import InputRefs, RoundZeroRefs, StageContext, UnlearningRefs, facts_request
from tasks.reuse import reused_or_run

ROUNDS = "unstar_rounds"


def checkpoint_dir(
    ctx: StageContext, inputs: InputRefs, ledger: ArtifactRef, twins: ArtifactRef | None,
    zero: RoundZeroRefs | None, method: BaseModel, training: TrainingConfig,
    thresholds: Thresholds, seed: int,
) -> Path:  # fmt: skip
    """Where this stage's checkpoints go: one folder per model, data, method, training and seed,
    so that re-running a crashed pipeline resumes its unlearning from the last checkpoint."""
    what = [inputs.model.sha256, inputs.forget.sha256, inputs.retain.sha256,
            inputs.holdout.sha256, inputs.guard.sha256 if inputs.guard else "no guard text",
            inputs.facts.sha256 if inputs.facts else "no facts request",
            ledger.sha256, twins.sha256 if twins else "no anti-samples",
            *((zero.written.sha256, zero.first_round.sha256) if zero else ("no round 0",)),
            method.model_dump_json(),
            training.model_dump_json(exclude={"checkpoint_every"}),
            thresholds.model_dump_json(), str(seed)]  # fmt: skip
    key = content_key(what)
    return resolve_paths(ctx.home).home / "checkpoints" / f"{method.name}-{key}"  # type: ignore[attr-defined]


def run_unlearning_work(
    ctx: StageContext,
    run: RunHandle,
    inputs: InputRefs,
    ledger_ref: ArtifactRef,
    twins_ref: ArtifactRef | None,
    zero_refs: RoundZeroRefs | None,
    method: BaseModel,
    training: TrainingConfig,
    seed: int,
    thresholds: Thresholds,
    outlier_metric: str,
) -> UnlearningRefs:
    """The stage's work in its child run `run` (see run_unlearning)."""
    store = ctx.store
    run.log_params({"method": method.model_dump(), "training": training.model_dump(),
                    "thresholds": thresholds.model_dump(), "seed": seed})  # fmt: skip
    splits = {"forget": ctx.samples(inputs.forget), "retain": ctx.samples(inputs.retain),
              "holdout": ctx.samples(inputs.holdout)}  # fmt: skip
    if inputs.guard is not None:  # general text's guard half: the utility guard's rows
        splits["guard"] = ctx.samples(inputs.guard)
    staged = store.stage_dir()
    checkpoints = checkpoint_dir(ctx, inputs, ledger_ref, twins_ref, zero_refs, method,
                                 training, thresholds, seed)  # fmt: skip
    run.set_tags({"checkpoints": str(checkpoints)})
    twins = store.get_table(twins_ref) if twins_ref else None
    zero = None
    if zero_refs is not None:  # UnSTAR's round 0, written by stage 2
        zero = round_zero_from(store.get_table(zero_refs.written),
                               store.get_table(zero_refs.first_round))  # fmt: skip
    out = unlearn_model(ctx.model_dir(inputs.model), staged, method, training, seed, splits,
                        twins, store.get_table(ledger_ref), checkpoints,
                        thresholds, facts_request(ctx, inputs), zero)  # fmt: skip
    run.set_tags({"stopped_by": out.stopped_by})
    if out.best_step is not None:
        run.log_metrics({"best_step": float(out.best_step)})
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in out.log.to_pylist():
        curves[row["name"]].append((row["step"], row["value"]))
    for name, points in sorted(curves.items()):
        run.log_curve(name, points)
    last = [Figure("unlearning", name, "after", "", points[-1][1])
            for name, points in curves.items() if points[-1][0] == out.steps]  # fmt: skip
    after = ledger_figures(out.ledger, out.steps, "after", outlier_metric, thresholds.outliers)
    quantiles = ledger_figures(out.ledger, out.steps, "after", outlier_metric,
                               thresholds.outliers, quantiles=True)  # fmt: skip
    run.log_figures(quantiles)
    rounds = out.tables.get(ROUNDS)
    refs = UnlearningRefs(
        model=store.put_dir(staged, "model"),
        ledger=store.put_table(out.ledger, "ledger"),
        training_log=store.put_table(out.log, "training_log"),
        steps=out.steps,
        figures=tuple(last + after + rounds_figures(rounds.to_pylist() if rounds else [])),
        rounds=store.put_table(rounds, ROUNDS) if rounds is not None else None,
        stopped_by=out.stopped_by,
    )
    for role in ("model", "ledger", "training_log", "rounds"):
        if getattr(refs, role) is not None:
            run.log_ref(role, getattr(refs, role))
    return refs


@task(name="run_unlearning", cache_policy=NO_CACHE)
def run_unlearning(
    ctx: StageContext, inputs: InputRefs, ledger_ref: ArtifactRef, twins_ref: ArtifactRef | None,
    zero_refs: RoundZeroRefs | None, method: BaseModel, training: TrainingConfig, seed: int,
    thresholds: Thresholds, outlier_metric: str,
) -> UnlearningRefs:  # fmt: skip
    parts = {
        "inputs": inputs,
        "ledger": ledger_ref,
        "twins": twins_ref,
        "zero": zero_refs,
        "method": method,
        "training": training,
        "seed": seed,
        "thresholds": thresholds,
        "outlier_metric": outlier_metric,
    }
    return reused_or_run(
        ctx,
        "run_unlearning",
        parts,
        lambda run: run_unlearning_work(
            ctx,
            run,
            inputs,
            ledger_ref,
            twins_ref,
            zero_refs,
            method,
            training,
            seed,
            thresholds,
            outlier_metric,
        ),
        lambda refs: refs.figures,
    )
