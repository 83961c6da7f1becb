"""Teacher-forced metrics (MA, loss, zlib, Min-K%, Min-K%++): pure tensor functions over one
forward pass, which `teacher_forced` streams over token-budgeted batches (full-vocabulary logits
exist for one batch at a time)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence

import torch
from transformers import PreTrainedModel

from forgetflow.lm.logprobs import greedy_hits
from forgetflow.lm.tokens import pad_right
from forgetflow.memorization.metrics.registry import METRICS, MetricSpec, TokenScores
from forgetflow.memorization.windows import TokenizedSample


def token_scores(
    logits: torch.Tensor, targets: torch.Tensor, zscores: bool, logprobs: bool = True
) -> TokenScores:
    """From next-token logits (B, T, V) and the tokens that followed (B, T)."""
    hits = logits.argmax(dim=-1).eq(targets)
    if not (logprobs or zscores):
        return TokenScores(None, hits, None)
    logp = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    if not zscores:
        return TokenScores(picked, hits, None)
    probs = logp.exp()
    finite = torch.where(probs > 0, logp, torch.zeros_like(logp))  # 0 * -inf would be nan
    mu = (probs * finite).sum(dim=-1)  # (B, T): E_z log p(z)
    var = (probs * (finite - mu.unsqueeze(-1)).square()).sum(dim=-1)
    sigma = var.clamp(min=1e-12).sqrt()
    return TokenScores(picked, hits, (picked - mu) / sigma)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of each row's values where mask is set, (B,), in float64 (so a share of hits is
    exactly count / total)."""
    return values.double().masked_fill(~mask, 0.0).sum(dim=1) / mask.sum(dim=1)


def min_k_mean(values: torch.Tensor, mask: torch.Tensor, percent: int) -> torch.Tensor:
    """Mean of each row's lowest `percent`% masked values (at least one), (B,)."""
    ordered = values.masked_fill(~mask, math.inf).sort(dim=1).values  # ascending, masked last
    k = (mask.sum(dim=1) * percent // 100).clamp(min=1)  # (B,)
    lowest = torch.arange(values.shape[1], device=values.device).unsqueeze(0) < k.unsqueeze(1)
    return ordered.masked_fill(~lowest, 0.0).sum(dim=1) / k


def zlib_ratio(loss: float, text: str) -> float:
    """Carlini et al. 2021: log-perplexity (mean token NLL) over the zlib entropy in bytes."""
    return loss / len(zlib.compress(text.encode("utf-8")))


def needed(scores: TokenScores, spec: MetricSpec, field: str) -> torch.Tensor:
    value = getattr(scores, field)
    if value is None:
        raise ValueError(f"{spec.name} needs {field}: score with {field}=True")
    return value


@METRICS.register("ma", higher_is_memorized=True, uses=())
def accuracy(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], spec: MetricSpec
) -> list[float]:
    """Share of greedy-argmax hits (Jang et al.)."""
    return masked_mean(scores.hits.float(), mask).tolist()


@METRICS.register("loss", higher_is_memorized=False)
def loss(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], spec: MetricSpec
) -> list[float]:
    """Mean token NLL: memorized text is likely."""
    return (-masked_mean(needed(scores, spec, "logprobs"), mask)).tolist()


@METRICS.register("zlib", higher_is_memorized=False)
def zlib_loss(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], spec: MetricSpec
) -> list[float]:
    """Mean NLL / zlib bytes: likely for its entropy."""
    values = loss(scores, mask, texts, spec)
    return [zlib_ratio(v, t) for v, t in zip(values, texts, strict=True)]


@METRICS.register("min_k", higher_is_memorized=True, form="min_k_<p>", bounds=(1, 100))
def min_k(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], spec: MetricSpec
) -> list[float]:
    """Mean of the lowest p% token log-probs (no low-probability outliers)."""
    return min_k_mean(needed(scores, spec, "logprobs"), mask, spec.param).tolist()


@METRICS.register(
    "min_kpp", higher_is_memorized=True, form="min_kpp_<p>", bounds=(1, 100), uses={"zscores"}
)
def min_kpp(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], spec: MetricSpec
) -> list[float]:
    """The same over Min-K%++ z-scores."""
    return min_k_mean(needed(scores, spec, "zscores"), mask, spec.param).tolist()


def sample_values(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], specs: Sequence[MetricSpec]
) -> list[dict[str, float]]:
    """The teacher-forced metrics of each row over its masked (scored) positions."""
    columns = {s.name: list(s.family.compute(scores, mask, texts, s)) for s in specs if s.family}
    return [{name: column[row] for name, column in columns.items()} for row in range(len(texts))]


def token_batches(
    lengths: Sequence[int], batch_size: int, token_budget: int
) -> Iterator[list[int]]:
    """Indices by ascending length, at most `batch_size` rows and `token_budget` padded tokens
    a batch (a sequence longer than the budget goes alone)."""
    batch: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * lengths[index] > token_budget):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def scored_mask(items: Sequence[TokenizedSample], width: int) -> torch.Tensor:
    """(B, width) over target positions: position t-1 predicts x_t, scored for start <= t < end."""
    position = torch.arange(width).unsqueeze(0) + 1  # (1, width): the target's index t
    start = torch.tensor([i.start for i in items]).unsqueeze(1)
    end = torch.tensor([i.end for i in items]).unsqueeze(1)
    return (position >= start) & (position < end)


def teacher_forced(
    model: PreTrainedModel,
    pad_id: int,
    items: Sequence[TokenizedSample],
    specs: Sequence[MetricSpec],
    batch_size: int,
    token_budget: int,
) -> list[dict[str, float]]:
    out: list[dict[str, float]] = [{} for _ in items]
    if not specs:
        return out
    uses = frozenset().union(*(s.family.uses for s in specs if s.family))
    zscores, logprobs = "zscores" in uses, bool(uses)
    for batch in token_batches([len(i.ids) for i in items], batch_size, token_budget):
        chunk = [items[i] for i in batch]
        padded = pad_right([i.ids for i in chunk], pad_id)
        ids, attention = padded.input_ids.to(model.device), padded.attention_mask.to(model.device)
        mask = scored_mask(chunk, ids.shape[1] - 1).to(model.device)
        if logprobs:
            forward = model(input_ids=ids, attention_mask=attention, use_cache=False)
            scores = token_scores(forward.logits[:, :-1], ids[:, 1:], zscores, logprobs)
            del forward
        else:  # the argmax alone (MA), without full logits
            scores = TokenScores(None, greedy_hits(model, ids, mask), None)
        texts = [i.sample.text for i in chunk]
        for index, values in zip(batch, sample_values(scores, mask, texts, specs), strict=True):
            out[index] = values
    return out
