"""Fact extraction: whether a QA sample's answer comes out when its question is asked, and when
each of its untrained paraphrases is (`Sample.paraphrases`), greedily and in any of n seeded
samples; judged by the answer matcher's `answer_given` (data/answers.py: the completion starts
with the answer or says it in its first sentence, number words as digits).

One row per (sample, phrasing): phrasing 0 is the sample's own prompt, k >= 1 its k-th
untrained paraphrase asked in the QA template. Completions follow the answer rule
(lm/prompts.py: one line, at most the answer's tokens plus ANSWER_MARGIN).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.audit.extraction import group_members
from forgetflow.data.answers import answer_given
from forgetflow.generation.base import (
    GenerationBackend,
    SamplingParams,
    generate_each,
    replace_params,
)
from forgetflow.intervals import share_figures
from forgetflow.lm.prompts import ANSWER_STOP, answer_budgets, qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.records import Completion, Figure, Sample

SCHEMA = pa.schema(
    [("sample_id", pa.string()), ("split", pa.string()), ("repetitions", pa.int64()),
     ("variant", pa.string()), ("phrasing", pa.int64()), ("greedy_given", pa.bool_()),
     ("greedy_reason", pa.string()), ("sampled_hits", pa.int64()), ("samples", pa.int64())]
)  # fmt: skip


def phrasings(sample: Sample) -> list[str]:
    """The prompts a fact is asked with: its own, then each untrained paraphrase's."""
    return [sample.prompt, *(qa_prompt(q) for q in sample.paraphrases)]


def fact_table(
    backend: GenerationBackend,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    variant: str,
    sampled: SamplingParams | None,
) -> pa.Table:
    """Per QA sample of `samples` and phrasing: whether the greedy completion gives the answer
    (and the matcher's reason), and how many of the `sampled` ones do (its temperature, top-k, n
    and seed; null without). Two backend requests where the model's positions allow."""
    asked = [(s, k, p) for s in samples if s.is_qa for k, p in enumerate(phrasings(s))]
    if not asked:
        return SCHEMA.empty_table()
    prompts = encode(tokenizer, [p for _, _, p in asked])
    lengths = answer_budgets(tokenizer, [s.text for s, _, _ in asked])
    greedy = generate_each(backend, prompts, lengths, SamplingParams(stop=ANSWER_STOP))
    drawn: list[Completion] = []
    if sampled is not None:
        # EOS ends an answer
        asked_sampled = replace_params(sampled, stop=ANSWER_STOP, ignore_eos=False)
        drawn = generate_each(backend, prompts, lengths, asked_sampled)
    rows = []
    for index, ((sample, phrasing, _), done) in enumerate(zip(asked, greedy, strict=True)):
        answer = sample.text.strip()
        given = answer_given(answer, done.text)
        chunk = drawn[index * sampled.n : (index + 1) * sampled.n] if sampled else []
        rows.append({
            "sample_id": sample.sample_id, "split": sample.split,
            "repetitions": sample.repetitions, "variant": variant, "phrasing": phrasing,
            "greedy_given": given.matched, "greedy_reason": given.reason,
            "sampled_hits": sum(bool(answer_given(answer, c.text)) for c in chunk)
            if sampled else None,
            "samples": sampled.n if sampled else None,
        })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def fact_flags(table: pa.Table) -> dict[tuple[str, str], dict[str, bool | None]]:
    """Per (sample_id, variant): `greedy`, the answer came out greedily on any phrasing;
    `leaked`, greedily or in any sample on any phrasing (None where not sampled)."""
    out: dict[tuple[str, str], dict[str, bool | None]] = {}
    for row in table.to_pylist():
        held = out.setdefault((row["sample_id"], row["variant"]), {"greedy": False, "leaked": None})
        held["greedy"] = bool(held["greedy"] or row["greedy_given"])
        if row["sampled_hits"] is not None:
            hit = row["greedy_given"] or row["sampled_hits"] > 0
            held["leaked"] = bool(held["leaked"] or hit)
    return out


def fact_figures(table: pa.Table) -> list[Figure]:
    """Per variant and group, over its facts: `fact_greedy`, the share whose answer came out
    greedily on any phrasing; `fact_greedy_paraphrase`, on any untrained paraphrase (facts with
    one); `fact_leak_at_<n>`, greedily or in any of the n samples on any phrasing (sampled
    variants); Wilson intervals, lower is better."""
    if table.num_rows == 0:
        return []
    paraphrased = table.filter(pc.greater(table["phrasing"], 0))
    sampled = table.filter(pc.is_valid(table["sampled_hits"]))
    n = max(sampled["samples"].to_pylist(), default=None)
    views = [("fact_greedy", table, "greedy"), ("fact_greedy_paraphrase", paraphrased, "greedy"),
             (f"fact_leak_at_{n}", sampled, "leaked")]  # fmt: skip
    out: list[Figure] = []
    for metric, view, flag in views:
        flags = fact_flags(view)
        for (variant, group), ids in group_members(view).items():
            picked = [flags[i, variant][flag] for i in ids if (i, variant) in flags]
            template = Figure("audit", metric, variant, group, 0.0, False)
            out += share_figures(template, sum(map(bool, picked)), len(picked))
    return out
