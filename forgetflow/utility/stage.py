"""The utility stage's entry: every model variant measured on the utility sets (general text's
eval half, the QA sets, the forget items), then the figures, the per-sample table and the
summary (utility/summary.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.hf import HFBackend
from forgetflow.memorization.windows import window_samples
from forgetflow.models.io import load_model, max_positions
from forgetflow.records import ModelVariant, Sample
from forgetflow.utility.config import UtilityConfig
from forgetflow.utility.fluency import Fluency, continuation_prompts, fluency
from forgetflow.utility.measured import UtilityResult, UtilityRun, VariantScores
from forgetflow.utility.perplexity import unit_nlls
from forgetflow.utility.qa import score_items
from forgetflow.utility.sets import UtilitySets
from forgetflow.utility.summary import judge

WINDOW = 256  # general-text tokens scored per window (fewer where the model's positions are)


def passage_nlls(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    passages: Sequence[str],
    longest: int | None,
    batch_size: int = 16,
) -> list[tuple[float, int]]:
    """(NLL sum, tokens) of each passage, scored in windows that fit the model's `longest`
    positions (None: no known limit), `batch_size` windows per forward pass."""
    window = min(WINDOW, longest // 2) if longest else WINDOW
    if not passages:
        return []
    docs = [Sample(f"general-{k:04d}", "general_eval", text) for k, text in enumerate(passages)]
    units = window_samples(docs, tokenizer, window, max_length=longest)
    per_unit = unit_nlls(model, tokenizer, units, batch_size)
    totals = {d.sample_id: [0.0, 0] for d in docs}
    for unit, (total, count) in zip(units, per_unit, strict=True):
        held = totals[unit.source_id or unit.sample_id]
        held[0], held[1] = held[0] + total, held[1] + count
    return [(float(t), int(c)) for t, c in totals.values()]


def measure(variant: ModelVariant, sets: UtilitySets, config: UtilityConfig) -> VariantScores:
    """Everything utility measures on one variant."""
    model, tokenizer = load_model(variant.model_dir)
    backend = HFBackend(model, tokenizer, batch_size=config.batch_size)
    longest = max_positions(variant.model_dir)
    size = config.batch_size
    passages = passage_nlls(model, tokenizer, sets.eval.passages, longest, size)
    qa = {one.name: score_items(model, tokenizer, backend, one.items, size) for one in sets.qa}
    measured = Fluency(0, 0, 0, 0, 0)  # no general text: no fluency guard
    if sets.eval.passages:
        prompts = continuation_prompts(tokenizer, sets.eval.passages, config.fluency_prompts,
                                       config.prompt_tokens)  # fmt: skip
        measured = fluency(backend, prompts, config.new_tokens)
    return VariantScores(variant.label, tuple(passages), qa, measured)


def run_utility(run: UtilityRun, config: UtilityConfig) -> UtilityResult:
    """Measure every variant, then judge them together (summary.py)."""
    labels = [v.label for v in run.variants]
    if run.subject not in labels:
        raise ValueError(f"the subject {run.subject!r} is not among the variants {labels}")
    run = dataclasses.replace(run, sets=run.sets.first_items(config.max_items))
    scores = {v.label: measure(v, run.sets, config) for v in run.variants}
    return judge(scores, run, config)
