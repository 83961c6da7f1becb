"""Greedy prefix -> suffix extraction attack: prompt with a record's first line, decode the rest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import GenerationBackend, SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.lm import encode, prefix_lengths
from forgetflow.models import load_model
from forgetflow.records import Sample


def extraction_table(
    backend: GenerationBackend,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    model_label: str,
    fallback_prefix_tokens: int = 32,
) -> pa.Table:
    """Per sample: exact suffix reproduction (bool) and the share of suffix tokens matched.

    Greedy decoding is prefix-consistent, so all prompts decode to the longest suffix length
    and each is compared on its own suffix length; EOS is not special (ignore_eos).
    """
    texts = [s.text for s in samples]
    sequences = encode(tokenizer, texts)
    cuts = prefix_lengths(tokenizer, texts, fallback_prefix_tokens)
    suffixes = [seq[cut:] for seq, cut in zip(sequences, cuts, strict=True)]
    longest = max((len(s) for s in suffixes), default=0)
    prompts = [seq[:cut] for seq, cut in zip(sequences, cuts, strict=True)]
    params = SamplingParams(max_tokens=max(longest, 1), ignore_eos=True)
    completions = backend.generate(prompts, params)
    exact, match = [], []
    for suffix, completion in zip(suffixes, completions, strict=True):
        produced = list(completion.token_ids[: len(suffix)])
        hits = sum(a == b for a, b in zip(produced, suffix, strict=False))
        exact.append(produced == suffix)
        match.append(hits / len(suffix) if suffix else 1.0)
    return pa.table(
        {
            "sample_id": [s.sample_id for s in samples],
            "split": [s.split for s in samples],
            "repetitions": pa.array([s.repetitions for s in samples], pa.int64()),
            "model": [model_label] * len(samples),
            "prefix_tokens": cuts,
            "suffix_tokens": [len(s) for s in suffixes],
            "exact": exact,
            "token_match": match,
        }
    )


def extraction_summary(table: pa.Table) -> dict[str, float]:
    """`{model}_{group}_extraction` (share exactly extracted) and `..._token_match` means, where
    a group is a split (`forget`) and, when exposures are known, a split's bucket (`forget_r32`)."""
    groups: dict[tuple[str, str], list[tuple[bool, float]]] = defaultdict(list)
    columns = ["model", "split", "repetitions", "exact", "token_match"]
    for row in table.select(columns).to_pylist():
        pair = (row["exact"], row["token_match"])
        groups[(row["model"], row["split"])].append(pair)
        if row["repetitions"] >= 0:
            groups[(row["model"], f"{row['split']}_r{row['repetitions']}")].append(pair)
    out: dict[str, float] = {}
    for (model, group), rows in sorted(groups.items()):
        out[f"{model}_{group}_extraction"] = sum(e for e, _ in rows) / len(rows)
        out[f"{model}_{group}_token_match"] = sum(m for _, m in rows) / len(rows)
    return out


def top_bucket(table: pa.Table, split: str) -> str:
    """The group the headline uses: a split's most-exposed bucket when known, else the split."""
    reps = [r for s, r in zip(table["split"].to_pylist(), table["repetitions"].to_pylist(),
                              strict=True) if s == split and r >= 0]  # fmt: skip
    return f"{split}_r{max(reps)}" if reps else split


def audit_models(
    model_dirs: dict[str, Path],
    samples: Sequence[Sample],
    fallback_prefix_tokens: int = 32,
    batch_size: int = 32,
) -> pa.Table:
    """The extraction table of every labelled model (e.g. "before" and "after") over `samples`."""
    tables = []
    for label, model_dir in model_dirs.items():
        model, tokenizer = load_model(model_dir)
        backend = HFBackend(model, tokenizer, batch_size)
        tables.append(extraction_table(backend, tokenizer, samples, label, fallback_prefix_tokens))
    return pa.concat_tables(tables)
