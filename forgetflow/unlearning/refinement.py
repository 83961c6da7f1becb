"""ICU's iterative unlearning refinement (IUR) scorer: is each forget sample still memorized?
(Tang et al., "Learn while Unlearn", `val_score`.)

Each sample is cut into a prompt and a reference (`refinement_prompt`), the model continues the
prompt by beam search (2 beams, no sampling, left-padded batches) for as many new tokens as the
reference has (ICU's 50 for a full-length one), and the continuation is compared with the
reference by BLEU and by embedding cosine. A sample is still memorized (flagged: keep unlearning
it) when BOTH reach their thresholds.

- BLEU: sacrebleu's sentence BLEU on lowercased text, without smoothing (ICU: nltk's
  sentence_bleu on lowercased words, default, unsmoothed), divided by 100 so it lies in [0, 1].
- Cosine: the two texts' unit embeddings (analogous.py's encoders: the pulled MiniLM or the
  model's mean hidden state). ICU uses BERTScore-F1 here; the paper's 0.3 is on that scale.
- Thresholds: `calibrate` takes a holdout quantile (default 0.95) of the scores of non-members
  under the model before unlearning; `PAPER_THRESHOLDS` is ICU's fixed pair (BLEU 0.01,
  similarity 0.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sacrebleu
import torch
from transformers import GenerationConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import check_positions
from forgetflow.generation.hf import pad_left
from forgetflow.lm.tokens import encode
from forgetflow.models.io import positions_in
from forgetflow.records import Sample
from forgetflow.unlearning.analogous import TextEncoder

PROMPT_TOKENS = 50  # ICU: tokens [100:150] of a 200-token sequence
SUFFIX_TOKENS = 50  # ICU: tokens [150:200], and max_new_tokens
NUM_BEAMS = 2


class RefinementInputError(ValueError):
    """A sample, a score set or a threshold setting the refinement scorer cannot use."""


@dataclass(frozen=True)
class RefinementPrompt:
    """What the model is asked (token ids, special tokens included) and the true continuation
    (its decoded text and its token count: the continuation's budget of new tokens)."""

    sample_id: str
    prompt_ids: tuple[int, ...]
    reference: str
    reference_tokens: int


def split_specials(
    tokenizer: PreTrainedTokenizerBase, ids: list[int]
) -> tuple[list[int], list[int]]:
    """(leading special tokens, the ids after them without trailing special tokens)."""
    special = set(tokenizer.all_special_ids)
    lead = next((i for i, t in enumerate(ids) if t not in special), len(ids))
    end = len(ids)
    while end > lead and ids[end - 1] in special:
        end -= 1
    return ids[:lead], ids[lead:end]


def refinement_prompt(tokenizer: PreTrainedTokenizerBase, sample: Sample) -> RefinementPrompt:
    """The sample's prompt and reference, on the token ids of its `text`:

    - at least 100 tokens: the prompt is the 50 tokens before its last 50, the reference its
      last 50 (ICU's fixed windows; a `prompt` field is not used);
    - fewer, with a `prompt` (a QA question, a window's context): the prompt is that prompt (at
      most its last 50 tokens) and the reference the text's first 50 tokens;
    - fewer, without one: the prompt is its first half (n // 2 tokens), the reference the rest.

    The tokenizer's leading special tokens (BOS) open every prompt. A text with no token, or a
    promptless one with a single token, leaves nothing to compare: a RefinementInputError."""
    lead, body = split_specials(tokenizer, encode(tokenizer, [sample.text])[0])
    short = len(body) < PROMPT_TOKENS + SUFFIX_TOKENS
    if short and sample.prompt:
        asked_lead, asked = split_specials(tokenizer, encode(tokenizer, [sample.prompt])[0])
        prompt, reference = asked_lead + asked[-PROMPT_TOKENS:], body[:SUFFIX_TOKENS]
    elif short:
        prompt, reference = lead + body[: len(body) // 2], body[len(body) // 2 :]
    else:
        cut = len(body) - SUFFIX_TOKENS
        prompt, reference = lead + body[cut - PROMPT_TOKENS : cut], body[cut:]
    if not reference or not prompt or (short and not sample.prompt and len(body) < 2):
        raise RefinementInputError(
            f"sample {sample.sample_id!r}: its text has {len(body)} token(s), too few to split "
            "into a prompt and a continuation; drop it or give it a prompt"
        )
    text = tokenizer.decode(reference, skip_special_tokens=True)
    return RefinementPrompt(sample.sample_id, tuple(prompt), text, len(reference))


def beam_config(tokenizer: PreTrainedTokenizerBase, new_tokens: int) -> GenerationConfig:
    """ICU's decoding: 2 beams, no sampling, `new_tokens` new tokens (50 for a full-length
    reference); what it leaves unset comes from the model's own generation config, as in ICU's
    `model.generate` call."""
    return GenerationConfig(num_beams=NUM_BEAMS, do_sample=False, max_new_tokens=new_tokens,
                            pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id)  # fmt: skip


def budget_batches(prompts: Sequence[RefinementPrompt], batch_size: int) -> list[list[int]]:
    """Prompt indices in batches of at most `batch_size` whose references have one token count
    (so a continuation does not depend on its batch-mates), in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(prompt.reference_tokens, []).append(index)
    return [group[start : start + batch_size]
            for group in groups.values() for start in range(0, len(group), batch_size)]  # fmt: skip


@torch.no_grad()
def beam_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[RefinementPrompt],
    batch_size: int = 8,
) -> list[str]:
    """Each prompt's beam-search continuation of as many new tokens as its reference has (50 for
    a full-length one), decoded without special tokens; left-padded batches of at most
    `batch_size` prompts with equal budgets. The model's mode is kept."""
    if batch_size < 1:
        raise RefinementInputError(f"batch_size={batch_size}: must be at least 1")
    check_positions(positions_in(model.config.to_dict()), [p.prompt_ids for p in prompts],
                    max((p.reference_tokens for p in prompts), default=0))  # fmt: skip
    device = next(model.parameters()).device
    texts = [""] * len(prompts)
    was_training = model.training
    model.eval()
    for batch in budget_batches(prompts, batch_size):
        new_tokens = prompts[batch[0]].reference_tokens
        ids, mask = (t.to(device) for t in pad_left([prompts[i].prompt_ids for i in batch],
                                                    tokenizer.pad_token_id))  # fmt: skip
        out = model.generate(input_ids=ids, attention_mask=mask,
                             generation_config=beam_config(tokenizer, new_tokens))  # fmt: skip
        for index, row in zip(batch, out[:, ids.shape[1] :].tolist(), strict=True):
            texts[index] = tokenizer.decode(row[:new_tokens], skip_special_tokens=True)
    model.train(was_training)
    return texts


@dataclass(frozen=True)
class RefinementRow:
    """One sample's scores, with the texts compared (kept for logging)."""

    sample_id: str
    bleu: float
    cosine: float
    continuation: str
    reference: str


@dataclass(frozen=True)
class RefinementScores:
    """Per-sample BLEU and cosine of the model's continuation against the true one."""

    rows: tuple[RefinementRow, ...]

    @property
    def bleu(self) -> dict[str, float]:
        return {r.sample_id: r.bleu for r in self.rows}

    @property
    def cosine(self) -> dict[str, float]:
        return {r.sample_id: r.cosine for r in self.rows}


def sentence_bleu(continuation: str, reference: str) -> float:
    """sacrebleu's sentence BLEU / 100 in [0, 1]: lowercased, 13a words, no smoothing."""
    score = sacrebleu.sentence_bleu(continuation, [reference], smooth_method="none",
                                    lowercase=True).score  # fmt: skip
    return min(max(score / 100.0, 0.0), 1.0)


def score_continuations(
    prompts: Sequence[RefinementPrompt], continuations: Sequence[str], embed: TextEncoder
) -> RefinementScores:
    """BLEU and cosine of each continuation against its prompt's reference."""
    if len(prompts) != len(continuations):
        raise RefinementInputError(
            f"{len(continuations)} continuations for {len(prompts)} prompts: give one each"
        )
    references = [p.reference for p in prompts]
    vectors = embed.encode([*continuations, *references]).float()
    cosines = (vectors[: len(prompts)] * vectors[len(prompts) :]).sum(dim=-1).tolist()
    rows = tuple(
        RefinementRow(p.sample_id, sentence_bleu(c, p.reference), float(cos), c, p.reference)
        for p, c, cos in zip(prompts, continuations, cosines, strict=True)
    )
    return RefinementScores(rows)


def score_refinement(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    embed: TextEncoder,
    batch_size: int = 8,
) -> RefinementScores:
    """Every sample's refinement scores under `model` (see the module docstring); sample ids
    must be unique."""
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise RefinementInputError(f"sample ids repeat ({repeated[:3]}): give each one id")
    prompts = [refinement_prompt(tokenizer, s) for s in samples]
    if not prompts:
        return RefinementScores(())
    continuations = beam_continuations(model, tokenizer, prompts, batch_size)
    return score_continuations(prompts, continuations, embed)


@dataclass(frozen=True)
class RefinementThresholds:
    """A sample is still memorized when its BLEU and its cosine both reach these; `rule` says
    where they come from (`paper`, or `holdout_q<quantile>`)."""

    bleu: float
    cosine: float
    rule: str


PAPER_THRESHOLDS = RefinementThresholds(bleu=0.01, cosine=0.3, rule="paper")  # ICU's b and a


def calibrate(holdout: RefinementScores, quantile: float = 0.95) -> RefinementThresholds:
    """The `quantile` of the holdout's BLEU and of its cosine (linear interpolation), scored
    under the model before unlearning: a non-member reaches each in at most 1 - quantile of
    cases, and both together no more often."""
    if not 0.0 < quantile <= 1.0:
        raise RefinementInputError(f"quantile={quantile}: must lie in (0, 1], e.g. 0.95")
    if not holdout.rows:
        raise RefinementInputError("the holdout has no scores to calibrate on: score it first")
    bleu = float(np.quantile([r.bleu for r in holdout.rows], quantile))
    cosine = float(np.quantile([r.cosine for r in holdout.rows], quantile))
    return RefinementThresholds(bleu, cosine, f"holdout_q{quantile:g}")


def flags(scores: RefinementScores, thresholds: RefinementThresholds) -> dict[str, bool]:
    """Sample id -> still memorized (BLEU >= its threshold AND cosine >= its threshold)."""
    return {r.sample_id: r.bleu >= thresholds.bleu and r.cosine >= thresholds.cosine
            for r in scores.rows}  # fmt: skip
