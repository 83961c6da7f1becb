"""PII field leaks through a GenerationBackend: each record is asked its name line (THE prompt
rule's first line, lm/prompts.py) and decoded greedily and, unless off, with n seeded samples,
each as long as the record's remainder; a field leaks when its normalised value occurs in any of
those completions and not in the prompt (fields.py). One row per (record, field asked about);
a sample that is no record (a QA row, a text without "Field: value" lines) has none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.audit.extraction import exposure_groups
from forgetflow.audit.fields import field_leaks
from forgetflow.data.pii import record_fields
from forgetflow.generation.base import GenerationBackend, SamplingParams, generate_each
from forgetflow.intervals import share_figures
from forgetflow.lm.prompts import full_text, prefix_lengths
from forgetflow.lm.tokens import encode
from forgetflow.records import Completion, Figure, Sample

SCHEMA = pa.schema([("sample_id", pa.string()), ("split", pa.string()),
                    ("repetitions", pa.int64()), ("variant", pa.string()),
                    ("field", pa.string()), ("leaked", pa.bool_()),
                    ("sampled", pa.bool_())])  # fmt: skip


def is_record(sample: Sample) -> bool:
    """A text (not a QA row) with "Field: value" lines of its own: a window is one where its own
    stretch holds them, not where only its context does (a record's first window asks them; a
    later window would ask the same record again, from the name line at the start of its
    context)."""
    return not sample.is_qa and bool(record_fields(sample.text))


def field_leak_table(
    backend: GenerationBackend,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    variant: str,
    sampled: SamplingParams | None,
    greedy: Mapping[str, str] | None = None,
) -> pa.Table:
    """Per record of `samples` and field its name line lacks: whether the greedy completion or
    any of the `sampled` ones (its temperature, top-k, n and seed; None: greedy only) gives the
    field's value. `greedy`: the greedy completions by sample id where already decoded (the
    whole-remainder extraction's, extraction.py), else asked here. Two backend requests where the
    model's positions allow."""
    records = [s for s in samples if is_record(s)]
    if not records:
        return SCHEMA.empty_table()
    sequences = encode(tokenizer, [full_text(s) for s in records])
    cuts = prefix_lengths(tokenizer, records)
    prompts = [seq[:cut] for seq, cut in zip(sequences, cuts, strict=True)]
    rest = [len(seq) - cut for seq, cut in zip(sequences, cuts, strict=True)]
    if greedy is None:
        done = generate_each(backend, prompts, rest, SamplingParams(ignore_eos=True))
        texts = [[text_of(tokenizer, c)] for c in done]
    else:
        texts = [[greedy[s.sample_id]] for s in records]
    if sampled is not None:
        drawn = generate_each(backend, prompts, rest, sampled)
        for i, held in enumerate(texts):
            held += [text_of(tokenizer, c) for c in drawn[i * sampled.n : (i + 1) * sampled.n]]
    rows = []
    for sample, prompt, completions in zip(records, prompts, texts, strict=True):
        asked = field_leaks(full_text(sample), tokenizer.decode(prompt), completions)
        rows += [{"sample_id": sample.sample_id, "split": sample.split,
                  "repetitions": sample.repetitions, "variant": variant, "field": field,
                  "leaked": leaked, "sampled": sampled is not None}
                 for field, leaked in asked.items()]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def leaking_samples(table: pa.Table) -> set[tuple[str, str]]:
    """(sample_id, variant) of every record with a leaked field."""
    leaked = table.filter(pc.field("leaked"))
    return set(zip(leaked["sample_id"].to_pylist(), leaked["variant"].to_pylist(), strict=True))


def field_leak_figures(table: pa.Table) -> list[Figure]:
    """Per variant and group (each split, then its exposure buckets): `field_leaks`, the share
    of records with any field leaked, and `field_leak_<field>` per field, each over the records
    it was asked about, with Wilson intervals; lower is better."""
    rows = table.to_pylist()
    out: list[Figure] = []
    for variant in dict.fromkeys(table["variant"].to_pylist()):
        for split, group, reps in exposure_groups(table):
            picked = [r for r in rows if r["variant"] == variant and r["split"] == split
                      and reps in (None, r["repetitions"])]  # fmt: skip
            if not picked:
                continue
            template = Figure("audit", "field_leaks", variant, group, 0.0, False)
            by_sample: dict[str, bool] = {}
            for r in picked:
                by_sample[r["sample_id"]] = by_sample.get(r["sample_id"], False) or r["leaked"]
            out += share_figures(template, sum(by_sample.values()), len(by_sample))
            for field in dict.fromkeys(r["field"] for r in picked):
                hits = [r["leaked"] for r in picked if r["field"] == field]
                named = replace(template, metric=f"field_leak_{slug(field)}")
                out += share_figures(named, sum(hits), len(hits))
    return out


def slug(field: str) -> str:
    """A field name as a metric name: lowercase, runs of other characters as one underscore."""
    return "_".join("".join(c if c.isalnum() else " " for c in field.lower()).split())


def text_of(tokenizer: PreTrainedTokenizerBase, completion: Completion) -> str:
    """A completion's tokens as text: all of them (at least its record's remainder; a value
    given in another spacing may take more)."""
    return tokenizer.decode(list(completion.token_ids), skip_special_tokens=True)
