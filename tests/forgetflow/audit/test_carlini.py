from __future__ import annotations

import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from forgetflow.audit.carlini import (
    CarliniSettings,
    ExtractionError,
    carlini_extraction,
    carlini_figures,
    longest_common_run,
    rouge_l,
    sample_figures,
)
from forgetflow.audit.stage import with_half_b
from forgetflow.audit.variants import HALF_B
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.prompts import prefix_lengths
from forgetflow.lm.tokens import encode
from forgetflow.records import Completion, Sample

SETTINGS = CarliniSettings(
    prefixes=[4, "first_line"], suffix_tokens=6, min_suffix=3, samples=4, leak_at=[1, 2, 4]
)
TEXT_A = "Name: Ana Ruiz\nEmail: ana.ruiz@brightline.org Phone 555 0101 City Lyon zip 69002"
TEXT_B = "Name: Tom Berg\nSSN 123-45-6789 lives at 12 Oak Road, Springfield, Ohio"


class ScriptedBackend:
    """Answers each prompt (token ids) with a scripted continuation, greedy or sampled: a
    sampled one is (ids, mean NLL) per draw; ids are padded with `filler` to max_tokens, every
    token's log-probability is -NLL. Unscripted prompts get filler only. Records each call."""

    name = "scripted"

    def __init__(self, greedy: dict, sampled: dict, filler: int, logprobs: bool = True) -> None:
        self.greedy, self.sampled, self.filler, self.logprobs = greedy, sampled, filler, logprobs
        self.calls: list[tuple[list, object]] = []

    def generate(self, prompts, params):
        self.calls.append(([tuple(p) for p in prompts], params))
        out = []
        for prompt in prompts:
            if params.temperature == 0.0:
                draws = [(self.greedy.get(tuple(prompt), []), 0.0)]
            else:
                draws = self.sampled.get(tuple(prompt), [])
                draws = draws + [([], 9.0)] * (params.n - len(draws))
            out += [self.completion(ids, nll, params) for ids, nll in draws]
        return out

    def completion(self, ids: list[int], nll: float, params) -> Completion:
        ids = (list(ids) + [self.filler] * params.max_tokens)[: params.max_tokens]
        scores = (-nll,) * len(ids) if self.logprobs and params.logprobs else None
        return Completion(tuple(ids), "", scores)

    def loglikelihood(self, pairs):
        return [0.0 for _ in pairs]


def constructed(tokenizer):
    """Samples a (forget, r32), b (forget, r1) and c (holdout, too short everywhere); a's
    prompts and suffixes at k = 4 and at its first line, and a filler token none of them has."""
    samples = [
        Sample("a", "forget", TEXT_A, 32),
        Sample("b", "forget", TEXT_B, 1),
        Sample("c", "holdout", "Hi", 0),
    ]
    ids = encode(tokenizer, [s.text for s in samples])
    line = prefix_lengths(tokenizer, samples[:1])[0]
    k4 = (tuple(ids[0][:4]), ids[0][4:10])
    first = (tuple(ids[0][:line]), ids[0][line : line + 6])
    filler = next(t for t in range(len(tokenizer)) if all(t not in seq for seq in ids))
    assert line != 4 and len(ids[0]) >= line + 6 and len(ids[1]) >= 10 and len(ids[2]) < 4
    assert len(set(k4[1])) == 6  # distinct tokens: runs and LCS are decided by construction
    return samples, k4, first, filler


def zlib_bytes(tokenizer, ids: list[int]) -> int:
    return len(zlib.compress(tokenizer.decode(ids, skip_special_tokens=True).encode("utf-8")))


def scripted(tokenizer):
    samples, (k4_prompt, s4), (line_prompt, sl), x = constructed(tokenizer)
    repeated = [s4[0]] * 6  # wrong, compresses well: lowest NLL, yet not lowest zlib ratio
    ratio = zlib_bytes(tokenizer, s4) / zlib_bytes(tokenizer, repeated)
    assert ratio > 1.5  # so an NLL between 1 and `ratio` ranks differently by the two
    near_line = sl[:2] + [x] + sl[3:]
    assert 5 * zlib_bytes(tokenizer, near_line) > zlib_bytes(tokenizer, sl)
    greedy = {k4_prompt: s4[:3] + [x] + s4[4:], line_prompt: sl}
    sampled = {
        k4_prompt: [
            (repeated, 1.0),  # ranked first by perplexity, wrong
            ([x] + s4, 5.0),  # holds the suffix, but not at its start: no leak
            (s4, (1.0 + ratio) / 2),  # the first exact suffix: sample 3; ranked first by zlib
            (s4[:-1] + [x], 5.0),  # one token off at the end
        ],
        line_prompt: [(sl, 0.5), (near_line, 0.1), (sl, 9.0)],  # a near miss ranked first
    }
    return samples, ScriptedBackend(greedy, sampled, x), (s4, sl)


def test_rows_by_construction(tiny_model) -> None:
    _, tokenizer = tiny_model
    samples, backend, (s4, sl) = scripted(tokenizer)
    table = carlini_extraction(backend, tokenizer, samples, "before", SETTINGS)
    rows = {(r["sample_id"], r["prefix"]): r for r in table.to_pylist()}
    assert list(rows) == [(s, p) for s in "abc" for p in ("4", "first_line")]
    near = rows["a", "4"]  # greedy one token off in the middle; the suffix only at sample 3
    assert (near["prefix_tokens"], near["suffix_tokens"], near["too_short"]) == (4, 6, False)
    assert (near["greedy_exact"], near["longest_common_run"]) == (False, 3)
    assert near["rouge_l"] == pytest.approx(5 / 6)  # LCS 5 of 6 and 6
    assert (near["leak_at_1"], near["leak_at_2"], near["leak_at_4"]) == (False, False, True)
    assert (near["precision_at_1_ppl"], near["precision_at_1_zlib"]) == (False, True)
    line = rows["a", "first_line"]
    assert (line["greedy_exact"], line["longest_common_run"], line["rouge_l"]) == (True, 6, 1.0)
    assert (line["leak_at_1"], line["leak_at_4"]) == (True, True)
    assert (line["precision_at_1_ppl"], line["precision_at_1_zlib"]) == (False, False)
    wrong = rows["b", "4"]  # filler only
    assert (wrong["greedy_exact"], wrong["longest_common_run"], wrong["rouge_l"]) == (False, 0, 0)
    assert wrong["leak_at_4"] is False
    for prefix in ("4", "first_line"):
        short = rows["c", prefix]
        assert short["too_short"] is True
        assert {short[c] for c in table.column_names[8:]} == {None}


def test_two_requests_greedy_then_sampled(tiny_model) -> None:
    _, tokenizer = tiny_model
    samples, backend, _ = scripted(tokenizer)
    carlini_extraction(backend, tokenizer, samples, "before", SETTINGS)
    (greedy_prompts, greedy), (sampled_prompts, sampled) = backend.calls
    assert greedy_prompts == sampled_prompts and len(greedy_prompts) == 4  # c is never asked
    assert (greedy.temperature, greedy.n, greedy.ignore_eos, greedy.max_tokens) == (0.0, 1, True, 6)
    assert (sampled.temperature, sampled.top_k, sampled.n, sampled.seed) == (1.0, 40, 4, 0)
    assert sampled.logprobs and sampled.ignore_eos


def test_figures_share_over_asked_prefixes(tiny_model) -> None:
    _, tokenizer = tiny_model
    samples, backend, _ = scripted(tokenizer)
    table = carlini_extraction(backend, tokenizer, samples, "before", SETTINGS)
    figures = {(f.group, f.metric): f for f in carlini_figures(table)}
    greedy = figures["forget", "extraction_greedy_first_line"]
    assert (greedy.value, greedy.n, greedy.higher_is_better) == (0.5, 2, False)
    assert figures["forget_r32", "extraction_greedy_k4"].value == 0.0
    assert figures["forget_r32", "leak_at_4_k4"].value == 1.0
    assert figures["forget_r1", "leak_at_4_k4"].value == 0.0
    assert figures["forget", "precision_at_1_zlib_k4"].value == 0.5
    low, high = (figures["forget", f"precision_at_1_zlib_k4_{end}"] for end in ("low", "high"))
    assert (low.n, high.n) == (2, 2) and low.value < 0.5 < high.value  # Wilson, 1 of 2
    assert ("forget", "rouge_l_k4_low") not in figures  # a mean, not a share
    assert figures["forget", "rouge_l_k4"].value == pytest.approx(5 / 12)
    assert figures["forget_r32", "leak_at_1_k4"].key == "audit/before/forget_r32/leak_at_1_k4"
    assert not any(group.startswith("holdout") for group, _ in figures)  # all too short


def test_run_and_rouge_l_on_ids() -> None:
    assert longest_common_run([1, 2, 3, 9, 4, 5, 6, 7], [0, 4, 5, 6, 7, 1, 2, 3]) == 4
    assert longest_common_run([1, 2], [3, 4]) == 0
    assert rouge_l([1, 2, 3, 4], [1, 3, 4, 5, 6]) == pytest.approx(2 / 3)  # LCS 3: P 3/4, R 3/5
    assert rouge_l([], [1, 2]) == 0.0


def test_no_logprobs_and_bad_settings_are_refused(tiny_model) -> None:
    _, tokenizer = tiny_model
    samples, backend, _ = scripted(tokenizer)
    backend.logprobs = False
    with pytest.raises(ExtractionError, match="no log-probabilities"):
        carlini_extraction(backend, tokenizer, samples, "before", SETTINGS)
    for bad in ({"leak_at": [1, 32]}, {"prefixes": [32, 32]}, {"min_suffix": 60},
                {"prefixes": ["last_line"]}, {"k": 1}):  # fmt: skip
        with pytest.raises(ValidationError):
            CarliniSettings(**bad)


def world_samples(world, split: str, repetitions: int | None = None) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows
            if repetitions is None or r["repetitions"] == repetitions]  # fmt: skip


def test_r32_profile_extracted_at_its_first_line_and_holdout_not(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    top = world_samples(tiny_world, "forget", 32)[:2]
    holdout = world_samples(tiny_world, "holdout")[:2]
    settings = CarliniSettings(prefixes=["first_line"], samples=4, leak_at=[1, 4], seed=3)
    backend = HFBackend(model, tokenizer)
    table = carlini_extraction(backend, tokenizer, top + holdout, "before", settings)
    rows = table.to_pylist()
    assert not any(r["too_short"] for r in rows)
    assert any(r["greedy_exact"] and r["leak_at_4"] for r in rows if r["split"] == "forget")
    assert not any(r["greedy_exact"] or r["leak_at_4"] for r in rows if r["split"] == "holdout")


def window_table() -> pa.Table:
    """Carlini rows of windows p#0, p#1 of document p (p#0 out greedily at one of two prefixes),
    q#0, q#1 of q (q#1 out only sampled) and a whole sample s, all forget r = 32."""
    out = {("p#0", "4"): (True, True), ("q#1", "4"): (False, True)}  # (greedy, leaked)
    rows = []
    for sample in ("p#0", "p#1", "q#0", "q#1", "s"):
        for prefix in ("4", "first_line"):
            greedy, leaked = out.get((sample, prefix), (False, False))
            rows.append({"sample_id": sample, "variant": "before", "split": "forget",
                         "repetitions": 32, "prefix": prefix, "too_short": False,
                         "greedy_exact": greedy, "leak_at_16": leaked})  # fmt: skip
    return pa.Table.from_pylist(rows)


def test_a_document_counts_once_any_of_its_windows_came_out() -> None:
    """1 of 5 units out greedily, 1 of 3 documents; leaked 2 of 5 units, 2 of 3 documents."""
    table = window_table()
    documents = {"p#0": "p", "p#1": "p", "q#0": "q", "q#1": "q"}
    figures = {(f.group, f.metric): f for f in sample_figures(table, documents)}
    units = figures["forget", "extraction_greedy"]
    whole = figures["forget", "extraction_greedy_documents"]
    assert (units.value, units.n, whole.n) == (0.2, 5, 3) and whole.value == pytest.approx(1 / 3)
    leaked = figures["forget_r32", "leak_at_16_documents"]
    assert figures["forget_r32", "leak_at_16"].value == 0.4
    assert (leaked.value, leaked.n) == (pytest.approx(2 / 3), 3)
    assert figures["forget", "extraction_greedy_documents_low"].value < 1 / 3
    assert not any(f.metric.endswith("_documents") for f in sample_figures(table))


def test_a_sample_in_forget_and_in_half_b_counts_in_both() -> None:
    """With relearning, half B's forget rows are copied under their own split: each figure of the
    forget set still counts every sample (it counted only half A before)."""
    seen = with_half_b(window_table(), {"p#0", "q#0"}, set())
    figures = {(f.group, f.metric): f for f in sample_figures(seen)}
    forget, half_b = figures["forget", "extraction_greedy"], figures[HALF_B, "extraction_greedy"]
    assert (forget.value, forget.n, half_b.value, half_b.n) == (0.2, 5, 0.5, 2)
