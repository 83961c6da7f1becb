"""Membership inference attacks (docs/metrics.md, "Membership inference"), teacher-forced on the
model in-process: each attack gives every sample a score oriented so that higher = more likely a
member, and roc.py turns the members' and non-members' scores into ROC-AUC and TPR at low FPR.

- `loss`, `zlib`, `min_k_20`, `min_kpp_20`: the memorization metrics of the same names
  (forgetflow.memorization.metrics), times their memorized direction;
- `reference`: the mean log-likelihood ratio of the model to a reference model on the same
  scored tokens, loss_reference - loss_model (only with a reference model);
- `neighbour`: log p(x) - mean_j log p(x~_j) over the scored tokens, where each of the seeded
  neighbours x~_j replaces a share of the scored tokens by one of the model's top predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.audit.roc import (
    RocSummary,
    holdout_warning,
    over_unlearning_warning,
    privleak,
    summarize,
)
from forgetflow.hashing import stable_seed
from forgetflow.lm.logprobs import sequence_logprob
from forgetflow.lm.tokens import pad_right
from forgetflow.memorization.el import LOGIT_ELEMENTS
from forgetflow.memorization.metrics import direction, score_samples, token_batches
from forgetflow.memorization.metrics.scoring import eval_mode, prepare
from forgetflow.memorization.windows import TokenizedSample
from forgetflow.records import Figure, Sample
from forgetflow.registry import unknown_name_message
from forgetflow.schemas import table_schema

METRIC_ATTACKS = ("loss", "zlib", "min_k_20", "min_kpp_20")  # memorization metrics as attacks
ATTACKS = (*METRIC_ATTACKS, "neighbour", "reference")
HEADLINE = "min_k_20"  # the attack behind the headline `privleak` (MUSE's choice)

# one row per (sample, attack); the stored artifact (schemas "membership") adds its `group`
STORED = table_schema("membership").schema
TABLE_SCHEMA = STORED.remove(STORED.get_field_index("group"))


class MembershipInputError(ValueError):
    """The attacks cannot run as asked (an unknown attack, no reference, an empty class)."""


@dataclass(frozen=True)
class NeighbourSettings:
    """Each sample gets `copies` neighbours; each replaces round(share x scored tokens) (at least
    one) scored tokens, at positions drawn without replacement, by one of the model's `top` most
    likely tokens there other than the original, drawn uniformly."""

    copies: int = 10
    share: float = 0.15
    top: int = 5


@dataclass(frozen=True)
class MembershipSettings:
    """What `membership` runs and how its figures are labelled."""

    variant: str = "model"  # the Figures' variant label
    group: str = "forget_vs_holdout"  # the Figures' group: which members against which holdout
    attacks: tuple[str, ...] | None = None  # None: every attack (reference only with a model)
    seed: int = 0  # the neighbours' positions and replacements
    fpr: float = 0.01  # TPR is reported at this FPR
    batch_size: int = 16
    neighbours: NeighbourSettings = field(default_factory=NeighbourSettings)
    retain_model: bool = False  # the variant is the retain model: check the holdout with it


@dataclass(frozen=True)
class MembershipResult:
    """The per-sample scores (TABLE_SCHEMA: one row per sample and attack), the Figures, each
    attack's ROC summary and the warnings (over-unlearning, an unrepresentative holdout)."""

    table: pa.Table
    figures: list[Figure]
    rocs: dict[str, RocSummary]
    warnings: list[str]


def check_attacks(names: Sequence[str]) -> None:
    """One error line for the first name that is no attack (the config's check too)."""
    for name in names:
        if name not in ATTACKS:
            raise MembershipInputError(unknown_name_message("membership attack", name, ATTACKS))


def resolve_attacks(asked: Sequence[str] | None, has_reference: bool) -> tuple[str, ...]:
    if asked is None:
        return tuple(a for a in ATTACKS if has_reference or a != "reference")
    check_attacks(asked)
    if "reference" in asked and not has_reference:
        raise MembershipInputError(
            "the reference attack needs a reference model (--reference, else the retain model)"
        )
    return tuple(dict.fromkeys(asked))


@torch.no_grad()
def membership(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: Sequence[Sample],
    nonmembers: Sequence[Sample],
    *,
    settings: MembershipSettings = MembershipSettings(),
    reference: PreTrainedModel | None = None,
) -> MembershipResult:
    """Every attack of `settings.attacks` on members (e.g. the forget set) against non-members
    (the holdout), with the model in eval mode (its mode restored after)."""
    if not members or not nonmembers:
        raise MembershipInputError(
            f"membership inference needs members and non-members, got {len(members)} and "
            f"{len(nonmembers)}"
        )
    attacks = resolve_attacks(settings.attacks, reference is not None)
    items = prepare(tokenizer, [*members, *nonmembers])
    scores = attack_scores(model, tokenizer, items, attacks=attacks, settings=settings,
                           reference=reference)  # fmt: skip
    m = len(members)
    rocs = {a: summarize(s[:m], s[m:], settings.fpr) for a, s in scores.items()}
    table = membership_table(items, m, scores, settings.variant)
    return MembershipResult(table, membership_figures(rocs, settings), rocs,
                            membership_warnings(rocs, settings))  # fmt: skip


def attack_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[TokenizedSample],
    *,
    attacks: Sequence[str],
    settings: MembershipSettings,
    reference: PreTrainedModel | None,
) -> dict[str, list[float]]:
    """Each attack's score of each item, in order (higher = more likely a member)."""
    metrics = [a for a in attacks if a in METRIC_ATTACKS]
    if "reference" in attacks and "loss" not in metrics:
        metrics.append("loss")
    scores: dict[str, list[float]] = {}
    if metrics:
        size = settings.batch_size
        rows = score_samples(model, tokenizer, items, batch_size=size, metrics=metrics)
        scores = {n: [direction(n) * r.values[n] for r in rows] for n in metrics}
    if "reference" in attacks and reference is not None:
        scores["reference"] = reference_scores(reference, tokenizer, items,
                                               model_scores=scores["loss"],
                                               batch_size=settings.batch_size)  # fmt: skip
    if "neighbour" in attacks:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        with eval_mode(model):
            scores["neighbour"] = neighbour_scores(model, items, settings, pad_id)
    return {a: scores[a] for a in attacks}


def vocab_size(model: PreTrainedModel) -> int:
    return int(model.config.get_text_config().vocab_size)


def reference_scores(
    reference: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[TokenizedSample],
    *,
    model_scores: Sequence[float],
    batch_size: int,
) -> list[float]:
    """log p_model(x) - log p_reference(x), per scored token on average: loss_ref - loss_model
    (`model_scores` are the model's oriented loss scores, -loss_model)."""
    largest = max(max(i.ids) for i in items)
    if largest >= vocab_size(reference):
        raise MembershipInputError(
            f"the reference model's vocabulary ({vocab_size(reference)} tokens) lacks token id "
            f"{largest}: the reference model must share the model's tokenizer"
        )
    rows = score_samples(reference, tokenizer, items, batch_size=batch_size, metrics=("loss",))
    return [r.values["loss"] + own for r, own in zip(rows, model_scores, strict=True)]


def budgeted_batches(model: PreTrainedModel, lengths: Sequence[int], batch_size: int):
    """Index batches whose full-vocabulary logits fit the scoring stage's budget."""
    budget = max(1, LOGIT_ELEMENTS // vocab_size(model))
    return token_batches(lengths, batch_size, budget)


def top_candidates(
    model: PreTrainedModel,
    items: Sequence[TokenizedSample],
    top: int,
    *,
    batch_size: int,
    pad_id: int,
) -> list[torch.Tensor]:
    """Per item, (scored tokens, top): the model's `top` most likely tokens at each scored
    position (given the original text before it), the original token left out, best first."""
    out: list[torch.Tensor] = [torch.empty(0)] * len(items)
    sequences = [list(i.ids[: i.end]) for i in items]
    for batch in budgeted_batches(model, [len(s) for s in sequences], batch_size):
        padded = pad_right([sequences[i] for i in batch], pad_id)
        ids = padded.input_ids.to(model.device)
        logits = model(input_ids=ids, attention_mask=padded.attention_mask.to(model.device),
                       use_cache=False).logits  # fmt: skip
        for row, index in enumerate(batch):
            item = items[index]
            scored = logits[row, item.start - 1 : item.end - 1].float()  # predicts x_start..
            best = scored.topk(top + 1, dim=-1).indices  # (scored tokens, top + 1)
            original = ids[row, item.start : item.end].unsqueeze(-1)
            kept = best.masked_fill(best.eq(original), -1)
            out[index] = torch.stack([r[r.ge(0)][:top] for r in kept]).cpu()
        del logits
    return out


def neighbour_copies(
    item: TokenizedSample, candidates: torch.Tensor, settings: NeighbourSettings, seed: int
) -> list[list[int]]:
    """The item's neighbours (its ids up to its end), drawn with a generator seeded by `seed`
    and the sample id: for each copy, positions among the scored tokens without replacement,
    then one candidate index per position."""
    rng = np.random.default_rng(stable_seed(seed, item.sample.sample_id))
    scored = item.end - item.start
    k = max(1, int(settings.share * scored + 0.5))
    copies = []
    for _ in range(settings.copies):
        positions = rng.choice(scored, size=k, replace=False)
        picks = rng.integers(0, settings.top, size=k)
        ids = list(item.ids[: item.end])
        for position, pick in zip(positions.tolist(), picks.tolist(), strict=True):
            ids[item.start + position] = int(candidates[position, pick])
        copies.append(ids)
    return copies


def sequence_logprobs(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    starts: Sequence[int],
    *,
    batch_size: int,
    pad_id: int,
) -> list[float]:
    """log p of each sequence's tokens from index starts[i] on, given those before."""
    out = [0.0] * len(sequences)
    for batch in budgeted_batches(model, [len(s) for s in sequences], batch_size):
        padded = pad_right([sequences[i] for i in batch], pad_id, [starts[i] for i in batch])
        for index, value in zip(batch, sequence_logprob(model, padded).tolist(), strict=True):
            out[index] = float(value)
    return out


@torch.no_grad()
def neighbour_scores(
    model: PreTrainedModel,
    items: Sequence[TokenizedSample],
    settings: MembershipSettings,
    pad_id: int,
) -> list[float]:
    """log p(x) - mean_j log p(x~_j) over each item's scored tokens."""
    options = settings.neighbours
    size = settings.batch_size
    candidates = top_candidates(model, items, options.top, batch_size=size, pad_id=pad_id)
    sequences, starts = [], []
    for item, ranked in zip(items, candidates, strict=True):
        sequences += [list(item.ids[: item.end])]
        sequences += neighbour_copies(item, ranked, options, settings.seed)
        starts += [item.start] * (options.copies + 1)
    logp = sequence_logprobs(model, sequences, starts, batch_size=size, pad_id=pad_id)
    width = options.copies + 1
    rows = [logp[i * width : (i + 1) * width] for i in range(len(items))]
    return [row[0] - sum(row[1:]) / options.copies for row in rows]


def membership_table(
    items: Sequence[TokenizedSample], n_members: int, scores: dict[str, list[float]], variant: str
) -> pa.Table:
    """One row per (sample, attack), members first, attacks in the order asked."""
    rows = [
        {"sample_id": item.sample.sample_id, "split": item.sample.split,
         "repetitions": item.sample.repetitions, "member": index < n_members,
         "variant": variant, "attack": attack, "score": values[index]}
        for attack, values in scores.items()
        for index, item in enumerate(items)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMA)


def tpr_metric(attack: str, fpr: float) -> str:
    """`tpr_at_1pct_fpr_<attack>` for fpr = 0.01."""
    return f"tpr_at_{fpr * 100:g}pct_fpr_{attack}"


def membership_figures(rocs: dict[str, RocSummary], settings: MembershipSettings) -> list[Figure]:
    """Per attack: mia_auc_<attack> with its interval (_low, _high) and n = members +
    non-members, and the TPR at the settings' FPR where resolvable (n = non-members); when it is
    not, one `min_resolvable_fpr` figure (1 / non-members). An AUC has no better direction (0.5
    is the goal on the forget set, 1 on a positive control), so higher_is_better is None."""
    out = []
    for attack, roc in rocs.items():
        n = roc.n_members + roc.n_nonmembers
        for suffix, value in (("", roc.auc), ("_low", roc.low), ("_high", roc.high)):
            out.append(figure(settings, f"mia_auc_{attack}{suffix}", value, n))
        if roc.tpr is not None:
            out.append(figure(settings, tpr_metric(attack, roc.fpr), roc.tpr, roc.n_nonmembers))
    unresolved = [roc for roc in rocs.values() if roc.tpr is None]
    if unresolved:
        roc = unresolved[0]
        out.append(figure(settings, "min_resolvable_fpr", roc.min_resolvable_fpr, roc.n_nonmembers))
    return out


def figure(settings: MembershipSettings, metric: str, value: float, n: int) -> Figure:
    """An audit Figure of the settings' variant and group; no better direction (see above)."""
    return Figure("audit", metric, settings.variant, settings.group, value, None, n)


def membership_warnings(rocs: dict[str, RocSummary], settings: MembershipSettings) -> list[str]:
    """Over-unlearning on any variant; an unrepresentative holdout on the retain model."""
    out = []
    for attack, roc in rocs.items():
        what = f"{settings.variant} {settings.group} {attack}"
        out.append(over_unlearning_warning(roc, what))
        if settings.retain_model:
            out.append(holdout_warning(roc, what))
    return [w for w in out if w is not None]


def privleak_figures(
    rocs: dict[str, RocSummary], retain: dict[str, RocSummary], settings: MembershipSettings
) -> list[Figure]:
    """privleak_<attack> = (AUC_variant - AUC_retain) / AUC_retain for each attack both ran, and
    the headline `privleak` (Min-K% 20); closer to 0 is better, so higher_is_better is None."""
    out = []
    for attack in [a for a in rocs if a in retain]:
        value = privleak(rocs[attack].auc, retain[attack].auc)
        n = rocs[attack].n_members + rocs[attack].n_nonmembers
        out.append(figure(settings, f"privleak_{attack}", value, n))
        if attack == HEADLINE:
            out.append(figure(settings, "privleak", value, n))
    return out
