from __future__ import annotations

import dataclasses
import math
import zlib

import pyarrow.parquet as pq
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from forgetflow.generation.fake import FakeBackend
from forgetflow.generation.hf import HFBackend
from forgetflow.lm.prompts import prefix_lengths, qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.memorization.metrics import (
    ScoringInputError,
    direction,
    min_k_mean,
    parse_metrics,
    sample_values,
    score_samples,
    token_batches,
    token_scores,
    zlib_ratio,
)
from forgetflow.memorization.metrics import el as el_metric
from forgetflow.records import Sample


def world_samples(world, split: str, n: int) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()[:n]
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows]


def generate_loop_ma(model, ids: list[int]) -> float:
    """Jang et al.'s reference: one greedy `generate` step per prefix length."""
    hits = 0
    for t in range(1, len(ids)):
        prefix = torch.tensor([ids[:t]])
        out = model.generate(prefix, attention_mask=torch.ones_like(prefix), max_new_tokens=1,
                             do_sample=False, pad_token_id=0)  # fmt: skip
        hits += int(out[0, -1]) == ids[t]
    return hits / (len(ids) - 1)


def test_teacher_forced_ma_equals_the_generate_loop(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "forget", 3) + world_samples(tiny_world, "holdout", 3)
    scores = score_samples(model, tokenizer, samples, batch_size=4)  # padding across lengths
    for sample, score in zip(samples, scores, strict=True):
        reference = generate_loop_ma(model, encode(tokenizer, [sample.text])[0])
        assert score.values["ma"] == reference
        assert score.sample_id == sample.sample_id and score.split == sample.split


def test_loss_is_the_mean_token_nll(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    sample = world_samples(tiny_world, "retain", 1)[0]
    ids = torch.tensor(encode(tokenizer, [sample.text]))
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss.item()
    got = score_samples(model, tokenizer, [sample])[0].values["loss"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_batching_does_not_change_scores(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "holdout", 6)
    one = score_samples(model, tokenizer, samples, batch_size=1)
    many = score_samples(model, tokenizer, samples, batch_size=6)
    for a, b in zip(one, many, strict=True):
        assert a.values["ma"] == b.values["ma"]
        assert a.values["loss"] == pytest.approx(b.values["loss"], abs=1e-5)


def test_memorized_samples_score_above_holdout(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    rows = pq.read_table(tiny_world.splits["forget"]).to_pylist()
    top = [Sample(r["sample_id"], "forget", r["text"]) for r in rows if r["repetitions"] == 32]
    forget = score_samples(model, tokenizer, top)
    holdout = score_samples(model, tokenizer, world_samples(tiny_world, "holdout", 8))
    assert min(s.values["ma"] for s in forget) > max(s.values["ma"] for s in holdout)


def test_a_sample_too_short_to_score_is_named(tiny_model) -> None:
    model, tokenizer = tiny_model
    with pytest.raises(ScoringInputError, match="'tiny'"):
        score_samples(model, tokenizer, [Sample("tiny", "forget", "")])


# --- the per-token math on hand-made logits -------------------------------------------------------


def direct_scores(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, p: int):
    """Each metric written out token by token, for one row of (T, V) logits."""
    logp, z, hits = [], [], []
    for t in range(logits.shape[0]):
        if not mask[t]:
            continue
        row = [float(x) for x in logits[t]]
        norm = math.log(sum(math.exp(x) for x in row))
        probs = [math.exp(x - norm) for x in row]
        mu = sum(q * (x - norm) for q, x in zip(probs, row, strict=True))
        var = sum(q * (x - norm - mu) ** 2 for q, x in zip(probs, row, strict=True))
        logp.append(row[targets[t]] - norm)
        z.append((logp[-1] - mu) / math.sqrt(var))
        hits.append(row.index(max(row)) == targets[t])
    k = max(1, len(logp) * p // 100)
    return {"ma": sum(hits) / len(hits), "loss": -sum(logp) / len(logp),
            f"min_k_{p}": sum(sorted(logp)[:k]) / k,
            f"min_kpp_{p}": sum(sorted(z)[:k]) / k}  # fmt: skip


def test_teacher_forced_scores_equal_their_formulas_on_fixed_logits() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 9, 7, generator=gen) * 3  # (B, T, V)
    targets = torch.randint(0, 7, (2, 9), generator=gen)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False  # a shorter row, padded
    specs = parse_metrics(["ma", "loss", "zlib", "min_k_40", "min_kpp_40"])
    got = sample_values(token_scores(logits, targets, zscores=True), mask, ["ab", "cd"], specs)
    for row in range(2):
        expected = direct_scores(logits[row], targets[row].tolist(), mask[row].tolist(), 40)
        for name, value in expected.items():
            assert got[row][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
        assert got[row]["zlib"] == pytest.approx(expected["loss"] / len(zlib.compress(b"ab")))


def test_min_k_is_the_mean_of_the_lowest_share() -> None:
    values = torch.tensor([[-1.0, -5.0, -3.0, -2.0, -4.0]])
    full = torch.ones_like(values, dtype=torch.bool)
    assert min_k_mean(values, full, 40).item() == pytest.approx(-4.5)  # 2 of 5
    assert min_k_mean(values, full, 10).item() == pytest.approx(-5.0)  # at least one token
    assert min_k_mean(values, full, 100).item() == pytest.approx(-3.0)
    no_lowest = torch.tensor([[True, False, True, True, True]])  # -5 is padding
    assert min_k_mean(values, no_lowest, 50).item() == pytest.approx(-3.5)


def test_min_kpp_standardises_by_the_next_token_distribution() -> None:
    # p = (1/2, 1/4, 1/4): mu = -1.5 ln 2, sigma = 0.5 ln 2, so z = +1 for token 0, -1 for token 1
    logits = torch.tensor([[[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]]).log()
    scores = token_scores(logits, torch.tensor([[0, 1]]), zscores=True)
    assert scores.zscores is not None
    assert scores.zscores.tolist()[0] == pytest.approx([1.0, -1.0], abs=1e-5)
    assert scores.hits.tolist() == [[True, False]]
    assert scores.logprobs.tolist()[0] == pytest.approx([-math.log(2), -2 * math.log(2)])


def test_zlib_is_the_log_perplexity_over_the_compressed_size(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    sample = world_samples(tiny_world, "holdout", 1)[0]
    values = score_samples(model, tokenizer, [sample], metrics=("loss", "zlib"))[0].values
    assert zlib_ratio(3.0, "hello") == 3.0 / len(zlib.compress(b"hello"))
    assert values["zlib"] == pytest.approx(
        values["loss"] / len(zlib.compress(sample.text.encode()))
    )


# --- names and directions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sign"),
    [
        ("ma", 1),
        ("loss", -1),
        ("zlib", -1),
        ("min_k_20", 1),
        ("min_kpp_10", 1),
        ("el_10", 1),
        ("extract_k32", 1),
    ],  # fmt: skip
)
def test_each_metric_declares_its_direction(name: str, sign: int) -> None:
    assert direction(name) == sign


def test_an_unknown_metric_is_named_with_the_valid_forms(tiny_model) -> None:
    model, tokenizer = tiny_model
    for bad in ("bogus", "min_k_0", "min_k_120", "extract_k", "el_"):
        with pytest.raises(ValueError, match=f"'{bad}'.*min_k_<p>.*extract_k<k>"):
            parse_metrics(["ma", bad])
    with pytest.raises(ValueError, match="'perplexity'"):
        score_samples(model, tokenizer, [Sample("a", "forget", "x y")], metrics=["perplexity"])
    assert [s.param for s in parse_metrics(["min_k_20", "el_5", "extract_k32"])] == [20, 5, 32]


def test_token_budget_batches_keep_input_order(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "holdout", 5)
    lengths = [90, 10, 50, 10, 200]
    batches = list(token_batches(lengths, batch_size=4, token_budget=120))
    assert batches == [[1, 3], [2], [0], [4]]  # ascending; rows x longest <= 120, or one row
    metrics = ("ma", "loss", "min_kpp_20")
    small = score_samples(model, tokenizer, samples, metrics=metrics, token_budget=100)
    big = score_samples(model, tokenizer, samples, metrics=metrics, token_budget=10_000)
    assert [s.sample_id for s in small] == [s.sample_id for s in samples]
    for a, b in zip(small, big, strict=True):
        assert a.values == pytest.approx(b.values, abs=1e-5)


def test_scoring_runs_without_dropout_and_restores_the_mode(tiny_world, tiny_model) -> None:
    _, tokenizer = tiny_model
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=1,
                        n_head=2, embd_pdrop=0.5, resid_pdrop=0.5, attn_pdrop=0.5)  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    samples = world_samples(tiny_world, "holdout", 3)
    metrics = ("ma", "loss", "min_kpp_20", "el_2")
    expected = score_samples(model, tokenizer, samples, metrics=metrics)
    model.train()  # dropout at 0.5 would move every loss far beyond the tolerance
    scores = score_samples(model, tokenizer, samples, metrics=metrics)
    assert model.training
    for got, want in zip(scores, expected, strict=True):
        assert got.values == pytest.approx(want.values, abs=1e-6)
    model.eval()
    score_samples(model, tokenizer, samples, metrics=("ma",))
    assert not model.training


# --- extraction -----------------------------------------------------------------------------------


def test_top_forget_profiles_extract_from_their_name_line_and_holdout_do_not(
    tiny_world, tiny_model
) -> None:
    model, tokenizer = tiny_model
    rows = pq.read_table(tiny_world.splits["forget"]).to_pylist()
    top = [Sample(r["sample_id"], "forget", r["text"]) for r in rows if r["repetitions"] == 32]
    holdout = world_samples(tiny_world, "holdout", 6)
    cuts = prefix_lengths(tokenizer, top + holdout, fallback_tokens=32)
    metrics = [f"extract_k{k}" for k in sorted(set(cuts))]  # each sample's own k among them
    scores = score_samples(model, tokenizer, top + holdout, batch_size=12, metrics=metrics)
    got = [s.values[f"extract_k{k}"] for s, k in zip(scores, cuts, strict=True)]
    assert got == [1.0] * len(top) + [0.0] * len(holdout)


def test_extraction_needs_a_suffix(tiny_model) -> None:
    model, tokenizer = tiny_model
    with pytest.raises(ScoringInputError, match="extract_k50.*'short'"):
        score_samples(
            model, tokenizer, [Sample("short", "forget", "Name: Ann")], metrics=["extract_k50"]
        )


# --- QA rows --------------------------------------------------------------------------------------


def qa_samples(world, repetitions: int, n: int) -> list[Sample]:
    rows = [r for r in world.table("qa").to_pylist() if r["family"] == "qa"]
    return [Sample(r["sample_id"], r["split"], " " + r["answer"], r["repetitions"],
                   prompt=qa_prompt(r["question"]))
            for r in rows if r["repetitions"] == repetitions][:n]  # fmt: skip


def test_qa_rows_score_the_answer_tokens_given_the_question(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = qa_samples(tiny_world, 32, 2) + qa_samples(tiny_world, 0, 2)
    scores = score_samples(model, tokenizer, samples, batch_size=3, metrics=("ma", "loss"))
    for sample, score in zip(samples, scores, strict=True):
        question = encode(tokenizer, [sample.prompt])[0]
        ids = encode(tokenizer, [sample.prompt + sample.text])[0]
        assert ids[: len(question)] == question  # so the answer is ids[len(question):]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)
        positions = range(len(question) - 1, len(ids) - 1)  # predicting the answer tokens
        logp = torch.log_softmax(logits, dim=-1)
        hits = [int(logits[t].argmax()) == ids[t + 1] for t in positions]
        nll = [-float(logp[t, ids[t + 1]]) for t in positions]
        assert score.values["ma"] == sum(hits) / len(hits)
        assert score.values["loss"] == pytest.approx(sum(nll) / len(nll), rel=1e-5)


def test_qa_extraction_is_whether_the_greedy_answer_matches(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    known = qa_samples(tiny_world, 32, 3)
    wrong = [dataclasses.replace(s, sample_id=s.sample_id + "-wrong", text=" Nowhere Town")
             for s in known]  # fmt: skip
    unseen = qa_samples(tiny_world, 0, 3)
    scores = score_samples(model, tokenizer, known + wrong + unseen, metrics=["extract_k32"])
    assert [s.values["extract_k32"] for s in scores] == [1.0] * 3 + [0.0] * 6


def test_el_on_a_qa_row_is_refused(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    sample = qa_samples(tiny_world, 32, 1)[0]
    with pytest.raises(ScoringInputError, match=f"el_10.*{sample.sample_id!r}"):
        score_samples(model, tokenizer, [sample], metrics=["ma", "el_10"])


def test_el_is_delegated_to_the_el_module(tiny_world, tiny_model, monkeypatch) -> None:
    model, tokenizer = tiny_model
    calls = []

    def el_scores(model, sequences, n, start=1, batch_size=16):
        calls.append((sequences, n, start))
        return [0.5] * len(sequences)

    monkeypatch.setattr(el_metric, "el_scores", el_scores)
    samples = world_samples(tiny_world, "forget", 2)
    scores = score_samples(model, tokenizer, samples, metrics=["ma", "el_5"])
    assert [s.values["el_5"] for s in scores] == [0.5, 0.5]
    assert calls == [(encode(tokenizer, [s.text for s in samples]), 5, 1)]


class Recording:
    """A backend that decodes with another and keeps what it was asked."""

    name = "recording"

    def __init__(self, inner) -> None:
        self.inner, self.prompts = inner, []

    def generate(self, prompts, params):
        self.prompts += list(prompts)
        return self.inner.generate(prompts, params)

    def loglikelihood(self, pairs):
        return self.inner.loglikelihood(pairs)


def test_extraction_decodes_through_the_given_backend(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = world_samples(tiny_world, "forget", 5) + qa_samples(tiny_world, 32, 2)
    plain = score_samples(model, tokenizer, samples, batch_size=3, metrics=["ma", "extract_k8"])
    backend = Recording(HFBackend(model, tokenizer, batch_size=2))
    routed = score_samples(model, tokenizer, samples, batch_size=3, metrics=["ma", "extract_k8"],
                           generator=backend)  # fmt: skip
    assert [s.values for s in routed] == [s.values for s in plain]
    assert [s.values["extract_k8"] for s in plain][-2:] == [1.0, 1.0]  # the known answers
    assert len(backend.prompts) == len(samples)  # every row decoded once, through it
    fake = score_samples(model, tokenizer, samples, metrics=["ma", "extract_k8"],
                         generator=FakeBackend())  # fmt: skip
    assert [s.values["ma"] for s in fake] == [s.values["ma"] for s in plain]  # on the model
    assert [s.values["extract_k8"] for s in fake] == [0.0] * len(samples)


def test_ma_alone_takes_the_argmax_path_and_agrees_with_full_logits(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = (world_samples(tiny_world, "forget", 5) + world_samples(tiny_world, "holdout", 5)
               + qa_samples(tiny_world, 32, 2) + qa_samples(tiny_world, 0, 2))  # fmt: skip
    fast = score_samples(model, tokenizer, samples, batch_size=3, metrics=("ma",))
    full = score_samples(model, tokenizer, samples, batch_size=3, metrics=("ma", "loss"))
    assert [s.values["ma"] for s in fast] == [s.values["ma"] for s in full]
    for sample, score in zip(samples[:3], fast[:3], strict=True):  # and Jang et al.'s definition
        assert score.values["ma"] == generate_loop_ma(model, encode(tokenizer, [sample.text])[0])
