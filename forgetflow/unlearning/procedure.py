"""Procedures: methods that drive the unlearning loop themselves, one or more times, and may edit
the weights between runs (task vectors, TAU's two phases, ICU's refinement, UnSTAR's rounds).

A procedure is `run(config, context) -> TrainingResult`, registered with `kind="procedure"`
(methods/registry.py). Its ProcedureContext:
- `train(loss_config, {"steps": 10})` runs the loop once on the current weights with a registered
  loss method and the stage's training settings with those fields replaced; `finetune(...)` runs
  it by descent on the forget rows (finetune.py); `train_rows(rows, ...)` runs it on rows of the
  procedure's making in place of the forget rows (UnSTAR's anti-samples), leaving the ledger as
  it was. A run whose settings name `lora` trains an adapter and merges it into the weights at
  its end (the paper's "fuse adapter into M" after each UnSTAR round). A run's `stop(log)`,
  asked after every step, may end it (and may score edited weights meanwhile: edit, `score()`,
  restore);
- `weights()` copies the parameters, `set_weights(...)` writes some or all of them in place;
- `score()` scores the forget set into the ledger at the current step; `log(values)` records the
  procedure's own figures; `result(stopped_by)` is what `run` returns;
- `state` (from a run's `stop`) is the running loop's state: its `extra` holds the procedure's
  own per-run state (ICU's flags), which the run's checkpoints keep and a `weigh` may read.

Steps count on across runs: a run's first step follows the last one's, so the ledger's steps stay
in order and the drive always reads the newest scoring. A loop run's reference model (NPO's,
a KL term's) is the weights at the start of that run.

Resuming: with a checkpoint folder, run k (from 1) checkpoints in `<folder>/<k>-<method name>/`
and saves its end there too. A re-run of an interrupted procedure replays it: every finished run
returns at once with its saved state, the interrupted one continues from its last checkpoint,
and the procedure's own work between runs (weight edits, scorings) runs again, so it must be a
deterministic function of the weights and the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import torch
from pydantic import BaseModel
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.dtypes import effective_dtype
from forgetflow.lm.prompts import QA_STYLE, QuestionStyle, asked_question
from forgetflow.records import Sample
from forgetflow.unlearning.finetune import DESCENT, FinetuneConfig
from forgetflow.unlearning.methods.registry import LossMethod, Procedure
from forgetflow.unlearning.scoring import Scorer
from forgetflow.unlearning.state import LoopState, StepLog, TrainingResult, Weigh

if TYPE_CHECKING:  # not at run time: a procedure's module imports this one while the registry
    # discovers it, which config.py's method union may start before config.py is complete
    from forgetflow.unlearning.config import TrainingConfig
    from forgetflow.unlearning.inputs import LoopInputs


class ProcedureError(ValueError):
    """A procedure asked the context for something it cannot do."""


class RunningLoop(Protocol):
    state: LoopState

    def run(self) -> TrainingResult: ...


class LoopFactory(Protocol):
    """Builds one loop run (loop.UnlearningLoop): the context gets it from unlearn(), which
    imports this module."""

    def __call__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, inputs: LoopInputs
    ) -> RunningLoop: ...


Stop = Callable[[StepLog], str]


def restyled(sample: Sample, style: QuestionStyle) -> Sample:
    """A QA row asked in the QA template, asked in `style` instead (other rows as they are)."""
    question = asked_question(sample.prompt)
    if style is QA_STYLE or question is None or not sample.text.startswith(" "):
        return sample
    return replace(sample, prompt=style.prompt(question), text=style.answer(sample.text[1:]))


class ProcedureContext:
    """What a procedure drives the loop with; `inputs` are the stage's (its samples, settings,
    seed, ledger before unlearning), `ledger` and `logs` grow with every run and scoring."""

    def __init__(
        self, name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
        inputs: LoopInputs, make_loop: LoopFactory,
    ) -> None:  # fmt: skip
        self.name, self.model, self.tokenizer, self.inputs = name, model, tokenizer, inputs
        self.make_loop = make_loop
        dtype = effective_dtype(inputs.config.drive.dtype, next(model.parameters()).device)
        self.scorer = Scorer(tokenizer, inputs.forget, inputs.holdout, inputs.config.drive, dtype)
        self.step = inputs.first_step  # optimizer steps taken so far, every run together
        self.logs: list[StepLog] = []
        self.runs = 0
        self._ledger = inputs.ledger
        self._running: RunningLoop | None = None
        self._guarded: TrainingResult | None = None

    @property
    def ledger(self) -> pa.Table | None:
        """Every scoring so far (during a loop run, that run's ledger)."""
        return self._running.state.ledger if self._running is not None else self._ledger

    def train(
        self, method: BaseModel, training: Mapping[str, Any] | None = None,
        stop: Stop | None = None, *, loss: LossMethod | None = None,
        auxiliary: Mapping[str, Sequence[Sample]] | None = None, weigh: Weigh | None = None,
    ) -> TrainingResult:  # fmt: skip
        """One loop run on the current weights with the loss method `method` (a registered loss
        method's config, or the config of `loss`, one of the procedure's own) and the stage's
        training settings with `training`'s fields replaced; `auxiliary` adds row sets tied to
        the forget samples, `weigh` sets each drawn forget row's loss weight from the run's
        state (`state.extra`, which the procedure's `stop` may change and checkpoints keep)."""
        return self._run(method, loss, training, stop, auxiliary=auxiliary, weigh=weigh)

    @property
    def state(self) -> LoopState:
        """The running loop run's state (from a run's `stop`)."""
        if self._running is None:
            raise ProcedureError(f"procedure {self.name!r}: context.state outside a loop run")
        return self._running.state

    def finetune(
        self, training: Mapping[str, Any] | None = None, stop: Stop | None = None
    ) -> TrainingResult:
        """One loop run by descent on the forget rows' NLL: the model learns the forget set."""
        return self._run(FinetuneConfig(), DESCENT, training, stop)

    def train_rows(
        self, rows: Sequence[Sample], method: BaseModel, loss: LossMethod,
        training: Mapping[str, Any] | None = None, style: QuestionStyle = QA_STYLE,
    ) -> TrainingResult:  # fmt: skip
        """One loop run with `rows` as its forget rows, trained with `loss` (its config
        `method`), the stage's retain rows beside them (its QA rows asked in `style`, as
        `rows` are); no scoring, and the procedure's ledger stays as it was (the ledger scores
        the stage's forget set, not these rows)."""
        ledger = self._ledger
        rows_run = {"drive": {}, **(training or {})}
        retain = [restyled(r, style) for r in self.inputs.retain]
        result = self._run(method, loss, rows_run, None, forget=rows, retain=retain)
        self._ledger = ledger
        return result

    def training(self, overrides: Mapping[str, Any] | None) -> TrainingConfig:
        """The stage's training settings with `overrides`' fields replaced, validated."""
        if not overrides:
            return self.inputs.config
        config = self.inputs.config
        return type(config).model_validate({**config.model_dump(exclude_unset=True), **overrides})

    def _run(
        self, method: BaseModel, loss: LossMethod | None, training: Mapping[str, Any] | None,
        stop: Stop | None, forget: Sequence[Sample] | None = None,
        retain: Sequence[Sample] | None = None,
        auxiliary: Mapping[str, Sequence[Sample]] | None = None, weigh: Weigh | None = None,
    ) -> TrainingResult:  # fmt: skip
        if self._running is not None:
            raise ProcedureError(f"procedure {self.name!r}: a loop run started inside another")
        self.runs += 1
        folder = self.inputs.checkpoint_dir
        config = self.training(training)
        inputs = replace(self.inputs, method=method, config=config,
                         ledger=self.ledger if forget is None else None, loss=loss,
                         first_step=self.step, stop=stop,
                         forget=self.inputs.forget if forget is None else forget,
                         retain=self.inputs.retain if retain is None else retain,
                         auxiliary={**(self.inputs.auxiliary if forget is None else {}),
                                    **(auxiliary or {})}, weigh=weigh,
                         checkpoint_dir=folder / f"{self.runs}-{method.name}" if folder else None)  # type: ignore[attr-defined]  # fmt: skip
        self._running = self.make_loop(self.model, self.tokenizer, inputs)
        try:
            result = self._running.run()
        finally:
            self._running = None
        if config.lora is not None and result.model is not None:
            self.model = result.model.merge_and_unload()  # type: ignore[operator]
            result = replace(result, model=self.model)
        self._ledger, self.step = result.ledger, result.steps
        self.logs.extend(result.logs)
        self._guarded = result  # the utility guard's checkpoint and history, the last run's
        return result

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of every parameter, by name."""
        return {name: p.detach().clone() for name, p in self.model.named_parameters()}

    @torch.no_grad()
    def set_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Write `weights` into the parameters of those names, in place (an optimizer running
        meanwhile keeps its state: edit, score and restore leave training as it was)."""
        params = dict(self.model.named_parameters())
        unknown = sorted(set(weights) - set(params))
        if unknown:
            raise ProcedureError(
                f"procedure {self.name!r}: {', '.join(unknown[:3])} are no parameters of the "
                "model; use the names context.weights() gives"
            )
        for name, value in weights.items():
            params[name].copy_(value)

    def score(self) -> pa.Table:
        """Score the current weights into the ledger at the current step (the holdout too when
        the ledger is empty) and return the ledger; during a loop run (from its `stop`), into
        that run's ledger, which its checkpoints keep."""
        if self._running is None:
            self._ledger = self.scorer(self.model, self._ledger, self.step)
            return self._ledger
        state = self._running.state
        state.ledger = self.scorer(self.model, state.ledger, state.step)
        return state.ledger

    def log(self, values: Mapping[str, float]) -> StepLog:
        """Record the procedure's own figures at the current step (the hooks see them)."""
        if self._running is not None:
            raise ProcedureError(
                f"procedure {self.name!r}: context.log during a loop run; add figures to the "
                "step's log.values in `stop` instead"
            )
        log = StepLog(self.step, dict(values))
        self.logs.append(log)
        for hook in self.inputs.hooks:
            hook(log)
        return log

    def result(
        self, stopped_by: str, tables: Mapping[str, pa.Table] | None = None
    ) -> TrainingResult:
        """What the procedure did: every run's logs and its own, the ledger, the steps, the last
        run's utility guard (its restored checkpoint and history), and its own `tables` by
        artifact name."""
        best, guard = (
            (self._guarded.best_step, list(self._guarded.guard)) if self._guarded else (None, [])
        )
        return TrainingResult(list(self.logs), self.ledger, self.step, stopped_by, best,
                              self.model, guard, tables=dict(tables or {}))  # fmt: skip


def run_procedure(
    procedure: Procedure, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
    inputs: LoopInputs, make_loop: LoopFactory,
) -> TrainingResult:  # fmt: skip
    """Run `procedure` with `inputs.method` as its config; the model ends in eval mode."""
    name = inputs.method.name  # type: ignore[attr-defined]
    if inputs.config.lora is not None:
        raise ProcedureError(
            f"procedure {name!r}: training.lora is not supported by procedures yet; train "
            "every weight (remove training.lora)"
        )
    context = ProcedureContext(name, model, tokenizer, inputs, make_loop)
    result = procedure.run(inputs.method, context)
    if not isinstance(result, TrainingResult):
        raise ProcedureError(
            f"procedure {name!r} returned {type(result).__name__}: return "
            "context.result(stopped_by)"
        )
    model.eval()
    return result
