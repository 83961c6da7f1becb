"""Per-sample memorization metrics: teacher-forced (MA, loss, zlib, Min-K%, Min-K%++), greedy
extraction (extract_k<k>) and EL_n (forgetflow.memorization.el).

The per-token math is pure tensor functions (`token_scores`, `sample_values`); `score_samples`
streams over token-budgeted batches, so full-vocabulary logits exist for one batch at a time.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.data.answers import answer_matches
from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.logprobs import greedy_hits
from forgetflow.lm.tokens import pad_right
from forgetflow.memorization.el import LOGIT_ELEMENTS, el_scores
from forgetflow.memorization.windows import (
    DEFAULT_MIN_TAIL,
    ScoringInputError,
    TokenizedSample,
    split_windows,
    tokenize_samples,
)
from forgetflow.records import Sample

MetricKind = Literal["ma", "loss", "zlib", "min_k", "min_kpp", "el", "extract"]

# Direction of each kind of metric: +1 when a higher value means more memorized.
DIRECTIONS: dict[str, int] = {
    "ma": 1,  # share of greedy-argmax hits
    "loss": -1,  # mean token NLL: memorized text is likely
    "zlib": -1,  # mean NLL / zlib bytes: likely for its entropy
    "min_k": 1,  # mean of the lowest p% token log-probs (no low-probability outliers)
    "min_kpp": 1,  # the same over Min-K%++ z-scores
    "el": 1,  # extraction likelihood
    "extract": 1,  # 1.0 when greedy decoding reproduces the rest
}
METRIC_FORMS = (
    "ma, loss, zlib, min_k_<p> and min_kpp_<p> (p a percentage, 1..100), "
    "el_<n> (n >= 1), extract_k<k> (k >= 1)"
)
_NAME = re.compile(r"(ma|loss|zlib)|(min_kpp|min_k|el)_(\d+)|extract_k(\d+)")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: its kind and its number (p for Min-K, n for EL, k for extract)."""

    name: str
    kind: MetricKind
    param: int = 0


def parse_metric(name: str) -> MetricSpec:
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown metric {name!r}; valid forms: {METRIC_FORMS}")
    plain, kind, number, k = match.groups()
    if plain:
        return MetricSpec(name, plain)
    param = int(number if kind else k)
    if param < 1 or (kind in ("min_k", "min_kpp") and param > 100):
        raise ValueError(f"metric {name!r} is out of range; valid forms: {METRIC_FORMS}")
    return MetricSpec(name, kind or "extract", param)


def parse_metrics(names: Iterable[str]) -> tuple[MetricSpec, ...]:
    """The specs of `names` in order, each once; a ValueError names any unknown one."""
    if isinstance(names, str):
        names = (names,)
    specs = {name: parse_metric(name) for name in names}
    if not specs:
        raise ValueError(f"no metrics requested; valid forms: {METRIC_FORMS}")
    return tuple(specs.values())


def direction(name: str) -> int:
    """+1 when a higher value of metric `name` means more memorized, -1 when lower does."""
    return DIRECTIONS[parse_metric(name).kind]


@dataclass(frozen=True)
class SampleScore:
    sample_id: str
    split: str
    values: dict[str, float]


TEACHER_FORCED = ("ma", "loss", "zlib", "min_k", "min_kpp")
QA_EXTRA_TOKENS = 8  # decoded past a QA answer's length, to see where the answer's word ends


@dataclass(frozen=True)
class TokenScores:
    """Per target position, all (B, T): log p(x_t | x_<t), whether x_t is the argmax, and the
    Min-K%++ z-score (log p(x_t) - mu_t) / sigma_t (log-probs and z-scores are None when no
    metric asked for them: MA needs only the argmax)."""

    logprobs: torch.Tensor | None
    hits: torch.Tensor
    zscores: torch.Tensor | None


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


def sample_values(
    scores: TokenScores, mask: torch.Tensor, texts: Sequence[str], specs: Sequence[MetricSpec]
) -> list[dict[str, float]]:
    """The teacher-forced metrics of each row over its masked (scored) positions."""
    columns: dict[str, list[float]] = {}
    loss = [] if scores.logprobs is None else (-masked_mean(scores.logprobs, mask)).tolist()
    for spec in specs:
        if spec.kind == "ma":
            columns[spec.name] = masked_mean(scores.hits.float(), mask).tolist()
            continue
        if scores.logprobs is None:
            raise ValueError(f"{spec.name} needs log-probs: score with logprobs=True")
        if spec.kind == "loss":
            columns[spec.name] = loss
        elif spec.kind == "zlib":
            columns[spec.name] = [zlib_ratio(v, t) for v, t in zip(loss, texts, strict=True)]
        elif spec.kind == "min_k":
            columns[spec.name] = min_k_mean(scores.logprobs, mask, spec.param).tolist()
        elif spec.kind == "min_kpp" and scores.zscores is not None:
            columns[spec.name] = min_k_mean(scores.zscores, mask, spec.param).tolist()
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
    zscores = any(s.kind == "min_kpp" for s in specs)
    logprobs = any(s.kind != "ma" for s in specs)
    for batch in token_batches([len(i.ids) for i in items], batch_size, token_budget):
        chunk = [items[i] for i in batch]
        padded = pad_right([i.ids for i in chunk], pad_id)
        ids, attention = padded.input_ids.to(model.device), padded.attention_mask.to(model.device)
        mask = scored_mask(chunk, ids.shape[1] - 1).to(model.device)
        if logprobs or zscores:
            forward = model(input_ids=ids, attention_mask=attention, use_cache=False)
            scores = token_scores(forward.logits[:, :-1], ids[:, 1:], zscores, logprobs)
            del forward
        else:  # MA alone: the argmax, without full logits
            scores = TokenScores(None, greedy_hits(model, ids, mask), None)
        texts = [i.sample.text for i in chunk]
        for index, values in zip(batch, sample_values(scores, mask, texts, specs), strict=True):
            out[index] = values
    return out


def greedy_continuations(
    backend: GenerationBackend,
    prompts: Sequence[Sequence[int]],
    lengths: Sequence[int],
    ignore_eos: bool,
    chunk: int,
) -> list[tuple[list[int], str]]:
    """Greedy ids and text of `lengths[i]` new tokens after each prompt, sent `chunk` prompts of
    similar length at a time (each chunk decodes as many tokens as its longest asks)."""
    out: list[tuple[list[int], str]] = [([], "")] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    for begin in range(0, len(order), chunk):
        batch = order[begin : begin + chunk]
        params = SamplingParams(max_tokens=max(lengths[i] for i in batch), ignore_eos=ignore_eos)
        completions = backend.generate([prompts[i] for i in batch], params)
        for index, completion in zip(batch, completions, strict=True):
            out[index] = (list(completion.token_ids[: lengths[index]]), completion.text)
    return out


def extraction(
    backend: GenerationBackend, items: Sequence[TokenizedSample], spec: MetricSpec, chunk: int
) -> list[float]:
    """Carlini et al. 2022: 1.0 when greedy decoding from ids[:k] reproduces ids[k:] exactly;
    for a QA row, when the greedy continuation of the question starts with the answer."""
    qa = [i for i, item in enumerate(items) if item.is_qa]
    text = [i for i, item in enumerate(items) if not item.is_qa]
    out = [0.0] * len(items)
    prompts = [items[i].ids[: items[i].start] for i in qa]
    lengths = [items[i].end - items[i].start + QA_EXTRA_TOKENS for i in qa]
    said = [text for _, text in greedy_continuations(backend, prompts, lengths, False, chunk)]
    for index, continuation in zip(qa, said, strict=True):
        out[index] = float(answer_matches(items[index].sample.text, continuation))
    suffixes = [list(items[i].ids[spec.param :]) for i in text]
    prompts = [items[i].ids[: spec.param] for i in text]
    lengths = [len(s) for s in suffixes]
    done = greedy_continuations(backend, prompts, lengths, True, chunk)
    for index, suffix, (produced, _) in zip(text, suffixes, done, strict=True):
        out[index] = float(produced == suffix)
    return out


def el_values(
    model: PreTrainedModel, items: Sequence[TokenizedSample], spec: MetricSpec, batch_size: int
) -> list[float]:
    sequences = [list(i.ids) for i in items]
    return el_scores(model, sequences, spec.param, start=1, batch_size=batch_size)


def check_requests(items: Sequence[TokenizedSample], specs: Sequence[MetricSpec]) -> None:
    """Refuse, before any compute, what cannot be scored."""
    for item in items:
        name = item.sample.sample_id
        for spec in specs:
            if spec.kind == "el" and item.is_qa:
                raise ScoringInputError(
                    f"{spec.name} asked for QA sample {name!r}: EL_n scores text rows only"
                )
            if spec.kind == "el" and len(item.ids) < spec.param + 1:
                raise ScoringInputError(
                    f"{spec.name} asked for sample {name!r} of {len(item.ids)} tokens: "
                    f"EL_{spec.param} needs at least {spec.param + 1}"
                )
            if spec.kind == "extract" and not item.is_qa and len(item.ids) <= spec.param:
                raise ScoringInputError(
                    f"{spec.name} asked for sample {name!r} of {len(item.ids)} tokens: "
                    f"extraction from a {spec.param}-token prefix needs more than {spec.param}"
                )


def prepare(
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample | TokenizedSample],
    specs: Sequence[MetricSpec],
    window: int | None,
) -> list[TokenizedSample]:
    """Token ids of each sample, or of each window of the long text rows when `window` is set."""
    if window is not None:
        n = max((s.param for s in specs if s.kind == "el"), default=DEFAULT_MIN_TAIL - 1)
        return split_windows(samples, tokenizer, window, min_tail=n + 1)
    raw = [s for s in samples if isinstance(s, Sample)]
    tokenized = iter(tokenize_samples(tokenizer, raw) if raw else [])
    return [next(tokenized) if isinstance(s, Sample) else s for s in samples]


@torch.no_grad()
def score_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample | TokenizedSample],
    batch_size: int = 16,
    metrics: Sequence[str] = ("ma", "loss"),
    window: int | None = None,
    token_budget: int | None = None,
    generator: GenerationBackend | None = None,
) -> list[SampleScore]:
    """The requested metrics of each sample (of each window when `window` is set), in order.

    Teacher-forced metrics and EL_n run on `model` itself; extraction (`extract_k`) decodes
    through `generator` (any backend serving this model: a vLLM server for a big forget set),
    by default an HF backend on `model`.

    MA(x) = (1/(T-1)) * sum_{t=1..T-1} [argmax p(. | x_<t) == x_t], as in Jang et al.; a QA row
    scores its answer tokens given the question. Samples may come pre-tokenized (split_windows).
    """
    specs = parse_metrics(metrics)
    items = prepare(tokenizer, samples, specs, window)
    check_requests(items, specs)
    forced = [s for s in specs if s.kind in TEACHER_FORCED]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    budget = token_budget or max(1, LOGIT_ELEMENTS // model.config.get_text_config().vocab_size)
    values = teacher_forced(model, pad_id, items, forced, batch_size, budget)
    backend = generator or HFBackend(model, tokenizer, batch_size=batch_size)
    for spec in specs:
        if spec.kind == "extract":
            column = extraction(backend, items, spec, batch_size)
        elif spec.kind == "el":
            column = el_values(model, items, spec, batch_size)
        else:
            continue
        for row, value in zip(values, column, strict=True):
            row[spec.name] = value
    return [
        SampleScore(i.sample.sample_id, i.sample.split, {s.name: v[s.name] for s in specs})
        for i, v in zip(items, values, strict=True)
    ]
