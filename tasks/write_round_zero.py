"""Stage 2 for UnSTAR: round 0 (every question and falsified answer its writers write, the
before model's probe and the first anti-samples), written before any training."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forgetflow.antisamples.unstar.round_zero import RoundZeroError, round_zero
from forgetflow.models.io import load_model
from forgetflow.unlearning.methods.unstar import UnstarConfig, round_settings
from storage.tracking import RunHandle
from tasks.context import InputRefs, RoundZeroRefs, StageContext, facts_request
from tasks.reuse import reused_or_run


def write_round_zero_work(
    ctx: StageContext,
    run: RunHandle,
    inputs: InputRefs,
    method: UnstarConfig,
    seed: int,
) -> RoundZeroRefs:
    """The stage's work in its child run `run` (see write_round_zero)."""
    request = facts_request(ctx, inputs)
    if request is None:
        raise RoundZeroError(
            "antisamples.builders names unstar (UnSTAR's round 0), which needs a facts "
            "request: use a facts data source or drop unstar from the builders"
        )
    run.log_params({"roles": method.roles.model_dump(), "seed": seed,
                    "per_variant": method.per_variant, "rationale": method.rationale,
                    "answer": method.answer})  # fmt: skip
    model, tokenizer = load_model(ctx.model_dir(inputs.model))
    zero = round_zero(round_settings(method), request, model, tokenizer, seed)
    written, rounds = zero.tables()
    refs = RoundZeroRefs(ctx.store.put_table(written, "unstar_written"),
                         ctx.store.put_table(rounds, "unstar_rounds"))  # fmt: skip
    rows = list(zero.rows)
    run.log_metrics({"questions": float(sum(r["kind"] == "question"
                                            for r in written.to_pylist())),
                     "probed": float(len(rows)),
                     "still_answered": float(sum(r["still_answered"] for r in rows)),
                     "accepted": float(sum(r["accepted"] for r in rows)),
                     "rejected": float(sum(bool(r["leak_reason"]) for r in rows))})  # fmt: skip
    run.set_tags({k: rows[0][k] for k in ("question_writer", "answer_writer",
                                          "rationale_writer")} if rows else {})  # fmt: skip
    run.log_ref("written", refs.written)
    run.log_ref("first_round", refs.first_round)
    return refs


@task(name="write_round_zero", cache_policy=NO_CACHE)
def write_round_zero(
    ctx: StageContext, inputs: InputRefs, method: UnstarConfig, seed: int
) -> RoundZeroRefs:  # fmt: skip
    parts = {"inputs": inputs, "method": method, "seed": seed}
    return reused_or_run(
        ctx,
        "write_round_zero",
        parts,
        lambda run: write_round_zero_work(ctx, run, inputs, method, seed),
        lambda refs: (),
    )
