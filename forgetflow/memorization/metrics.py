"""Per-sample memorization metrics from one teacher-forced pass."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm import batches, encode, pad_right, target_logprobs
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


class ScoringInputError(ValueError):
    """A sample cannot be scored (e.g. fewer than two tokens)."""


@torch.no_grad()
def score_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    batch_size: int = 16,
) -> list[SampleScore]:
    """MA (teacher-forced argmax accuracy) and mean token NLL of each sample.

    MA(x) = (1/(T-1)) * sum_{t=1..T-1} [argmax p(. | x_<t) == x_t], as in Jang et al.
    """
    sequences = encode(tokenizer, [s.text for s in samples])
    for sample, seq in zip(samples, sequences, strict=True):
        if len(seq) < 2:
            raise ScoringInputError(f"sample {sample.sample_id!r} has fewer than 2 tokens")
    scores: list[SampleScore] = []
    for offset, chunk in enumerate(batches(sequences, batch_size)):
        logprobs, hits, valid = target_logprobs(model, pad_right(chunk, tokenizer.pad_token_id))
        counts = valid.sum(dim=1).tolist()  # (B,)
        matched = (hits & valid).sum(dim=1).tolist()
        nll = (-(logprobs * valid).sum(dim=1)).tolist()
        for row in range(len(chunk)):
            sample = samples[offset * batch_size + row]
            values = {"ma": matched[row] / counts[row], "loss": nll[row] / counts[row]}
            scores.append(SampleScore(sample.sample_id, sample.split, values))
    return scores
