"""Prefix extraction after Carlini et al. 2022, greedy and sampled, through a GenerationBackend.

Each sample is asked a k-token prefix of its encoded full text (k in `prefixes`; "first_line" is
THE prompt rule of lm/prompts.py) and must continue it with the next min(`suffix_tokens`,
remaining) tokens exactly. A prefix leaving fewer than `min_suffix` tokens is `too_short`: it is
not asked and its measures are null. Greedy: one request at temperature 0 (exact suffix, longest
common token run, ROUGE-L of the continuation). Sampled: one request with `n` = `samples` seeded
completions per prefix (leak@k; precision@1 of the sample ranked first by perplexity and by zlib
ratio). EOS is not special (ignore_eos). docs/metrics.md ("Extraction") states every formula.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.audit.extraction import MIN_SUFFIX, exposure_groups, group_members
from forgetflow.generation.base import GenerationBackend, SamplingParams, generate_each
from forgetflow.intervals import share_figures
from forgetflow.lm.prompts import FALLBACK_TOKENS, full_text, prefix_lengths
from forgetflow.lm.tokens import encode
from forgetflow.memorization.metrics.teacher_forced import zlib_ratio
from forgetflow.records import Completion, Figure, Sample

FIRST_LINE = "first_line"


class CarliniSettings(BaseModel):
    """Settings of the Carlini prefix extraction attack, greedy and sampled."""

    model_config = ConfigDict(extra="forbid")

    prefixes: list[Annotated[int, Field(ge=1)] | Literal["first_line"]] = Field(
        [32, 64, FIRST_LINE], min_length=1, description="the prefixes each sample is asked: a "
        "number k of leading tokens of its encoded text, or first_line (the prompt rule: a QA "
        "row's question, a record's first line, a window's context and first line)",
    )  # fmt: skip
    suffix_tokens: int = Field(
        50, ge=1, description="at most this many tokens after the prefix must come out exactly"
    )
    min_suffix: int = Field(
        MIN_SUFFIX, ge=1, description="a prefix leaving fewer tokens than this after it is "
        "too_short: not asked, its measures null",
    )  # fmt: skip
    samples: int = Field(16, ge=1, description="sampled completions per prefix (one request, n)")
    temperature: float = Field(1.0, gt=0.0, description="temperature of the sampled completions")
    top_k: int = Field(40, ge=0, description="top-k of the sampled completions (0: all tokens)")
    leak_at: list[Annotated[int, Field(ge=1)]] = Field(
        [1, 4, 16], min_length=1, description="k of leak@k: a prefix leaks at k when any of "
        "its first k samples starts with the exact suffix",
    )  # fmt: skip
    seed: int = Field(0, description="seed of the sampled completions")
    fallback_tokens: int = Field(
        FALLBACK_TOKENS, ge=1, description="first_line's prefix of a one-line text (after a "
        "window's context): its first this many tokens",
    )  # fmt: skip

    @model_validator(mode="after")
    def _consistent(self) -> CarliniSettings:
        if len(set(self.prefixes)) < len(self.prefixes):
            raise ValueError(f"prefixes {self.prefixes} repeat one: give each once")
        if len(set(self.leak_at)) < len(self.leak_at) or max(self.leak_at) > self.samples:
            raise ValueError(
                f"leak_at {self.leak_at}: each k once and at most samples={self.samples}"
            )
        if self.min_suffix > self.suffix_tokens:
            raise ValueError(f"min_suffix {self.min_suffix} exceeds suffix_tokens "
                             f"{self.suffix_tokens}: no suffix could be long enough")  # fmt: skip
        return self


class ExtractionError(ValueError):
    """The backend's answer cannot be measured (e.g. it gave no log-probabilities)."""


@dataclass(frozen=True)
class Probe:
    """One (sample, prefix): the prompt's token ids and the suffix that must follow them."""

    sample: Sample
    prefix: str  # "32", "64", "first_line"
    prompt: list[int]
    suffix: list[int]
    too_short: bool


def probes(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample], settings: CarliniSettings
) -> list[Probe]:
    """Every (sample, prefix) pair, sample-major, prefixes in the settings' order."""
    sequences = encode(tokenizer, [full_text(s) for s in samples])
    lines = prefix_lengths(tokenizer, samples, settings.fallback_tokens)
    out = []
    for sample, seq, line in zip(samples, sequences, lines, strict=True):
        for kind in settings.prefixes:
            cut = line if kind == FIRST_LINE else min(kind, len(seq))
            short = len(seq) - cut < settings.min_suffix
            suffix = seq[cut : cut + settings.suffix_tokens]
            out.append(Probe(sample, str(kind), seq[:cut], suffix, short))
    return out


def longest_common_run(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest run of consecutive tokens that occurs in both sequences."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common subsequence (tokens in order, gaps allowed)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: Sequence[int], reference: Sequence[int]) -> float:
    """ROUGE-L F1 on token ids: P = LCS/|candidate|, R = LCS/|reference|, F = 2PR/(P+R)."""
    lcs = lcs_length(candidate, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def greedy_measures(probe: Probe, completion: Completion) -> dict:
    """Exact suffix, longest common run and ROUGE-L of the continuation's first |suffix| tokens."""
    produced = list(completion.token_ids[: len(probe.suffix)])
    return {
        "greedy_exact": produced == probe.suffix,
        "longest_common_run": longest_common_run(produced, probe.suffix),
        "rouge_l": rouge_l(produced, probe.suffix),
    }


def mean_nll(completion: Completion, tokens: int) -> float:
    """Mean negative log-probability of a completion's first `tokens` tokens."""
    scores = (completion.logprobs or ())[:tokens]
    return -sum(scores) / max(len(scores), 1)


def sampled_measures(
    probe: Probe,
    completions: Sequence[Completion],
    tokenizer: PreTrainedTokenizerBase,
    settings: CarliniSettings,
) -> dict:
    """leak@k and precision@1 (the sample ranked first by perplexity, and by zlib ratio, is the
    exact suffix) of one prefix's samples, each judged on its first |suffix| tokens."""
    size = len(probe.suffix)
    exact = [list(c.token_ids[:size]) == probe.suffix for c in completions]
    nll = [mean_nll(c, size) for c in completions]
    texts = [tokenizer.decode(list(c.token_ids[:size]), skip_special_tokens=True)
             for c in completions]  # fmt: skip
    zlib = [zlib_ratio(v, t) for v, t in zip(nll, texts, strict=True)]
    row = {f"leak_at_{k}": any(exact[:k]) for k in settings.leak_at}
    row["precision_at_1_ppl"] = exact[min(range(len(nll)), key=nll.__getitem__)]
    row["precision_at_1_zlib"] = exact[min(range(len(zlib)), key=zlib.__getitem__)]
    return row


def with_logprobs(completions: list[Completion], backend: GenerationBackend) -> list[Completion]:
    """The completions, refused when the backend gave no log-probabilities (ranking needs them)."""
    if any(c.logprobs is None for c in completions):
        raise ExtractionError(f"backend {backend.name} returned no log-probabilities: "
                              "precision@1 ranks samples by them; use hf or vllm")  # fmt: skip
    return completions


def table_schema(settings: CarliniSettings) -> pa.Schema:
    """Columns of `carlini_extraction`'s table (the leak@k columns follow the settings)."""
    leaks = [(f"leak_at_{k}", pa.bool_()) for k in settings.leak_at]
    return pa.schema(
        [("sample_id", pa.string()), ("split", pa.string()), ("repetitions", pa.int64()),
         ("variant", pa.string()), ("prefix", pa.string()), ("prefix_tokens", pa.int64()),
         ("suffix_tokens", pa.int64()), ("too_short", pa.bool_()), ("greedy_exact", pa.bool_()),
         ("longest_common_run", pa.int64()), ("rouge_l", pa.float64()), *leaks,
         ("precision_at_1_ppl", pa.bool_()), ("precision_at_1_zlib", pa.bool_())]
    )  # fmt: skip


def carlini_extraction(
    backend: GenerationBackend,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    variant_label: str,
    settings: CarliniSettings,
    sampled: bool | Collection[str] = True,
) -> pa.Table:
    """One row per (sample, prefix): greedy and sampled extraction of its suffix (null measures
    where too_short or not sampled); `sampled`: every sample (True), none (False) or those with
    these ids. Two backend requests (greedy, and sampled with n) where the model's positions
    allow."""
    every = probes(tokenizer, samples, settings)
    asked = [p for p in every if not p.too_short]
    measures = {id(p): {} for p in asked}
    if asked:
        greedy = SamplingParams(ignore_eos=True, seed=settings.seed)
        done = generate_each(backend, [p.prompt for p in asked], lengths(asked), greedy)
        for probe, completion in zip(asked, done, strict=True):
            measures[id(probe)].update(greedy_measures(probe, completion))
    drawing = [p for p in asked if sampled is True
               or (sampled is not False and p.sample.sample_id in sampled)]  # fmt: skip
    if drawing:
        params = sampling(settings)
        prompts = [p.prompt for p in drawing]
        drawn = with_logprobs(generate_each(backend, prompts, lengths(drawing), params), backend)
        for i, probe in enumerate(drawing):
            chunk = drawn[i * settings.samples : (i + 1) * settings.samples]
            measures[id(probe)].update(sampled_measures(probe, chunk, tokenizer, settings))
    rows = [probe_row(p, variant_label, measures.get(id(p), {})) for p in every]
    return pa.Table.from_pylist(rows, schema=table_schema(settings))


def lengths(probes: Sequence[Probe]) -> list[int]:
    """Each probe's suffix length: the tokens its continuation is judged on."""
    return [len(p.suffix) for p in probes]


def sampling(settings: CarliniSettings) -> SamplingParams:
    """The sampled completions' parameters: n seeded samples per prompt, with log-probabilities;
    generate_each sets each request's length."""
    return SamplingParams(
        temperature=settings.temperature, top_k=settings.top_k, n=settings.samples,
        seed=settings.seed, ignore_eos=True, logprobs=True,
    )  # fmt: skip


def probe_row(probe: Probe, variant: str, measures: dict) -> dict:
    """A table row: the probe's identity and lengths, and its measures (absent: null)."""
    sample = probe.sample
    return {
        "sample_id": sample.sample_id, "split": sample.split, "repetitions": sample.repetitions,
        "variant": variant, "prefix": probe.prefix, "prefix_tokens": len(probe.prompt),
        "suffix_tokens": len(probe.suffix), "too_short": probe.too_short, **measures,
    }  # fmt: skip


SHARES = ("greedy_exact", "precision_at_1_ppl", "precision_at_1_zlib")
MEANS = ("longest_common_run", "rouge_l")


def figure_metrics(table: pa.Table) -> list[tuple[str, str]]:
    """(column, metric stem) of each reported figure: shares of the boolean columns, means of
    the longest common run and ROUGE-L."""
    leaks = [c for c in table.column_names if c.startswith("leak_at_")]
    names = {"greedy_exact": "extraction_greedy"}
    return [(c, names.get(c, c)) for c in (SHARES[0], *leaks, *SHARES[1:], *MEANS)]


def carlini_figures(table: pa.Table) -> list[Figure]:
    """Per variant, prefix and group (each split, then its exposure buckets): the share of
    asked (not too_short) prefixes extracted greedily / leaked at k / ranked first exactly,
    each with its Wilson interval (`_low`, `_high`), and the mean longest common run and
    ROUGE-L; lower is better. Metric `<stem>_k<k>` or `<stem>_first_line`; n: the prefixes
    asked. A group with none asked gets no figure."""
    rows = table.filter(pc.invert(table["too_short"])).to_pylist()
    metrics = figure_metrics(table)
    out = []
    for variant in dict.fromkeys(table["variant"].to_pylist()):
        for prefix in dict.fromkeys(table["prefix"].to_pylist()):
            tail = prefix if prefix == FIRST_LINE else f"k{prefix}"
            for split, group, reps in exposure_groups(table):
                picked = [r for r in rows if r["variant"] == variant and r["prefix"] == prefix
                          and r["split"] == split and reps in (None, r["repetitions"])]  # fmt: skip
                template = Figure("audit", tail, variant, group, 0.0, False)
                out += group_figures(template, picked, metrics)
    return out


def group_figures(
    template: Figure, rows: list[dict], metrics: list[tuple[str, str]]
) -> list[Figure]:
    """One group's figures (template.metric: the prefix's tail); none without rows."""
    out: list[Figure] = []
    if not rows:
        return out
    for column, stem in metrics:
        named = replace(template, metric=f"{stem}_{template.metric}")
        values = [r[column] for r in rows if r[column] is not None]  # None: not sampled
        if not values:
            continue
        if column in MEANS:
            out.append(replace(named, value=sum(values) / len(values), n=len(values)))
        else:
            out += share_figures(named, sum(values), len(values))
    return out


def largest_leak(table: pa.Table) -> str | None:
    """The leak@k column of the largest k (None without one)."""
    leaks = [c for c in table.column_names if c.startswith("leak_at_")]
    return max(leaks, key=lambda c: int(c.removeprefix("leak_at_")), default=None)


def sample_flags(table: pa.Table) -> dict[tuple[str, str], dict[str, bool | None]]:
    """Per (sample_id, variant) with a prefix asked: `greedy`, the exact suffix came out
    greedily at any prefix; `leaked`, at any prefix one of the samples up to the largest k gave
    it (None where not sampled)."""
    column = largest_leak(table)
    out: dict[tuple[str, str], dict[str, bool | None]] = {}
    for row in table.filter(pc.invert(table["too_short"])).to_pylist():
        held = out.setdefault((row["sample_id"], row["variant"]), {"greedy": False, "leaked": None})
        held["greedy"] = held["greedy"] or row["greedy_exact"]
        found = row[column] if column else None
        if found is not None:
            held["leaked"] = bool(held["leaked"]) or found
    return out


def sample_figures(table: pa.Table, documents: Mapping[str, str] | None = None) -> list[Figure]:
    """Per variant and group, over the samples with a prefix asked: `extraction_greedy`, the
    share extracted greedily at any prefix, and `leak_at_<k>` for the largest k, the share that
    leaked at any prefix (sampled variants only); Wilson intervals, lower is better.

    Where samples are windows of longer documents (`documents`: window id -> document id), the
    same shares per document too (`extraction_greedy_documents`, `leak_at_<k>_documents`; n the
    documents): a document counts once any of its windows came out."""
    flags = sample_flags(table)
    leak = largest_leak(table)
    out: list[Figure] = []
    for (variant, group), ids in group_members(table).items():
        picked = {i: flags[i, variant] for i in sorted(ids) if (i, variant) in flags}
        if not picked:
            continue
        greedy = Figure("audit", "extraction_greedy", variant, group, 0.0, False)
        out += flag_figures(greedy, leak, list(picked.values()))
        if documents and any(i in documents for i in picked):
            whole = document_flags(picked, documents)
            named = replace(greedy, metric="extraction_greedy_documents")
            out += flag_figures(named, leak and f"{leak}_documents", whole)
    return out


def flag_figures(
    greedy: Figure, leak: str | None, flags: list[dict[str, bool | None]]
) -> list[Figure]:
    """The greedy share of `flags` as `greedy`, and the leaked share (of those sampled) as metric
    `leak`."""
    out = share_figures(greedy, sum(f["greedy"] for f in flags), len(flags))
    sampled = [f["leaked"] for f in flags if f["leaked"] is not None]
    if leak and sampled:
        out += share_figures(replace(greedy, metric=leak), sum(sampled), len(sampled))
    return out


def document_flags(
    flags: Mapping[str, dict[str, bool | None]], documents: Mapping[str, str]
) -> list[dict[str, bool | None]]:
    """Per document (a sample that is no window is its own): greedy when any of its windows came
    out greedily; leaked when any leaked (None where none was sampled)."""
    out: dict[str, dict[str, bool | None]] = {}
    for sample_id, flag in flags.items():
        held = out.setdefault(
            documents.get(sample_id, sample_id), {"greedy": False, "leaked": None}
        )
        held["greedy"] = bool(held["greedy"] or flag["greedy"])
        if flag["leaked"] is not None:
            held["leaked"] = bool(held["leaked"]) or flag["leaked"]
    return list(out.values())
