"""Greedy extraction (extract_k<k>, Carlini et al. 2022) through a generation backend."""

from __future__ import annotations

from collections.abc import Sequence

from forgetflow.data.answers import answer_matches
from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.memorization.metrics.registry import METRICS, MetricSpec, ScoringRun
from forgetflow.memorization.windows import ScoringInputError, TokenizedSample

QA_EXTRA_TOKENS = 8  # decoded past a QA answer's length, to see where the answer's word ends


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
    """Carlini et al. 2022: 1.0 when greedy decoding from ids[:k] reproduces ids[k:] exactly (a
    window's prefix is its context and its own first k - 1 tokens); for a QA row, when the
    greedy continuation of the question starts with the answer."""
    qa = [i for i, item in enumerate(items) if item.is_qa]
    text = [i for i, item in enumerate(items) if not item.is_qa]
    out = [0.0] * len(items)
    prompts = [items[i].ids[: items[i].start] for i in qa]
    lengths = [items[i].end - items[i].start + QA_EXTRA_TOKENS for i in qa]
    said = [text for _, text in greedy_continuations(backend, prompts, lengths, False, chunk)]
    for index, continuation in zip(qa, said, strict=True):
        out[index] = float(answer_matches(items[index].sample.text, continuation))
    cuts = [items[i].start - 1 + spec.param for i in text]  # a window's prefix: its context too
    suffixes = [list(items[i].ids[cut : items[i].end]) for i, cut in zip(text, cuts, strict=True)]
    prompts = [items[i].ids[:cut] for i, cut in zip(text, cuts, strict=True)]
    lengths = [len(s) for s in suffixes]
    done = greedy_continuations(backend, prompts, lengths, True, chunk)
    for index, suffix, (produced, _) in zip(text, suffixes, done, strict=True):
        out[index] = float(produced == suffix)
    return out


def check(item: TokenizedSample, spec: MetricSpec) -> None:
    size = item.end - item.start + 1  # a window's own tokens and one before them
    if not item.is_qa and size <= spec.param:
        raise ScoringInputError(
            f"{spec.name} asked for sample {item.sample.sample_id!r} of {size} tokens: "
            f"extraction from a {spec.param}-token prefix needs more than {spec.param}"
        )


@METRICS.register(
    "extract", higher_is_memorized=True, form="extract_k<k>", teacher_forced=False, uses=(),
    decodes=True, check=check,
)  # fmt: skip
def extract(run: ScoringRun, items: Sequence[TokenizedSample], spec: MetricSpec) -> list[float]:
    """1.0 when greedy decoding reproduces the rest (the answer, for a QA row)."""
    return extraction(run.backend, items, spec, run.batch_size)
