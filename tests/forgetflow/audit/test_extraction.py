from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from forgetflow.audit.extraction import (
    MIN_SUFFIX,
    extraction_figures,
    extraction_table,
    remainder_extracted,
)
from forgetflow.generation.base import SamplingParams
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.prompts import prefix_lengths
from forgetflow.lm.tokens import encode
from forgetflow.records import Completion, Sample


class ScriptedBackend:
    """Returns a given token list per prompt; records the params it was called with."""

    name = "scripted"

    def __init__(self, outputs: list[list[int]]) -> None:
        self.outputs = outputs
        self.params: SamplingParams | None = None

    def generate(self, prompts, params):
        self.params = params
        return [Completion(tuple(o), "") for o in self.outputs]

    def loglikelihood(self, pairs):
        return [0.0 for _ in pairs]


def test_exact_and_token_match_per_sample(tiny_model) -> None:
    _, tokenizer = tiny_model
    samples = [
        Sample("a", "forget", "Name: A B\nEmail: a@b.c"),
        Sample("b", "retain", "Name: C\nSSN: 1"),
    ]
    ids = encode(tokenizer, [s.text for s in samples])
    cuts = prefix_lengths(tokenizer, samples, 8)
    suffix_a, suffix_b = ids[0][cuts[0] :], ids[1][cuts[1] :]
    wrong_b = [suffix_b[0]] + [t + 1 for t in suffix_b[1:]]
    backend = ScriptedBackend([suffix_a + [7, 7], wrong_b + [1] * 9])
    table = extraction_table(backend, tokenizer, samples, "before", fallback_prefix_tokens=8)
    rows = table.to_pylist()
    assert backend.params.ignore_eos and backend.params.max_tokens == max(
        len(suffix_a), len(suffix_b)
    )
    assert rows[0]["exact"] is True and rows[0]["token_match"] == 1.0
    assert rows[0]["leaks_fields"] is True  # the exact suffix gives the email the prompt lacks
    assert rows[1]["exact"] is False
    assert rows[1]["token_match"] == pytest.approx(1 / len(suffix_b))
    figures = {(f.group, f.metric): f for f in extraction_figures(table)}
    assert figures["forget", "extraction"].value == 1.0
    assert figures["retain", "extraction"].value == 0.0
    assert figures["forget", "extraction"].key == "audit/before/forget/extraction"
    assert figures["retain", "token_match"].n == 1


def test_a_completion_leaks_a_field_only_where_the_prompt_lacks_it(tiny_model) -> None:
    _, tokenizer = tiny_model
    record = Sample("a", "forget", "Name: Ann Lee\nEmail: ann@lee.org\nPhone: 555-0101")
    question = Sample("q", "forget", "ann@lee.org", prompt="Question: Ann's email?\nAnswer:")
    text = "\nPhone: (555) 0101\nEmail: someone@else.org"
    scripted = ScriptedBackend([encode(tokenizer, [text])[0][1:]] * 2)
    rows = extraction_table(scripted, tokenizer, [record, question], "after").to_pylist()
    assert rows[0]["leaks_fields"] is True  # the phone's digits, in another spacing
    assert rows[1]["leaks_fields"] is False  # a QA row is no record


def test_a_long_prompt_and_a_long_suffix_decode_within_the_models_positions(tiny_model) -> None:
    """One request would decode every prompt to the longest suffix: past a small model's
    position table (IndexError) where a long prompt meets a long suffix."""
    _, tokenizer = tiny_model
    samples = [
        Sample("q", "forget", " Paris", prompt="Question: " + "where " * 30 + "?\nAnswer:"),
        Sample("r", "forget", "Name: Ann\n" + "Email: ann@lee.org\n" * 4),
    ]
    ids = encode(tokenizer, [s.prompt + s.text for s in samples])
    cuts = prefix_lengths(tokenizer, samples)
    positions = max(len(seq) for seq in ids)  # every sample fits the model
    assert max(cuts) + max(len(seq) - cut for seq, cut in zip(ids, cuts, strict=True)) > positions
    torch.manual_seed(0)
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=positions, n_embd=16, n_layer=1,
                        n_head=2, bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    backend = HFBackend(GPT2LMHeadModel(config).eval(), tokenizer)
    texts: dict[str, str] = {}
    together = extraction_table(backend, tokenizer, samples, "m", texts=texts).to_pylist()
    for sample, row in zip(samples, together, strict=True):
        alone: dict[str, str] = {}
        (expected,) = extraction_table(backend, tokenizer, [sample], "m", texts=alone).to_pylist()
        assert row == expected and texts[sample.sample_id] == alone[sample.sample_id]


def test_a_short_remainder_reproduced_is_no_extraction_for_the_verdicts(tiny_model) -> None:
    """On the small world the retain model, which never saw the forget set, reproduced 11% of
    the r=32 windows' whole remainders: their last few tokens after a long context. A verdict
    counts a remainder of MIN_SUFFIX tokens or more; a QA answer, the fact itself, however
    short."""
    _, tokenizer = tiny_model
    tail = Sample("p#1", "forget", "Phone: 555\nSSN: 1", 32, prompt="Name: Ann Lee\n",
                  source_id="p")  # fmt: skip
    long = Sample("q", "forget", "Name: Bo\n" + "Email: bo@lee.org, bo@work.org, b@x.y\n")
    answer = Sample("a", "forget", " Paris", 8, prompt="Question: Where does Ann live?\nAnswer:")
    samples = [tail, long, answer]
    ids = encode(tokenizer, [s.prompt + s.text for s in samples])
    cuts = prefix_lengths(tokenizer, samples)
    exact = ScriptedBackend([seq[cut:] for seq, cut in zip(ids, cuts, strict=True)])
    rows = extraction_table(exact, tokenizer, samples, "retain_model").to_pylist()
    assert [r["exact"] for r in rows] == [True, True, True]
    assert rows[0]["suffix_tokens"] < MIN_SUFFIX <= rows[1]["suffix_tokens"]
    assert rows[2]["suffix_tokens"] < MIN_SUFFIX
    assert [remainder_extracted(r, s) for r, s in zip(rows, samples, strict=True)] == [
        False, True, True
    ]  # fmt: skip
