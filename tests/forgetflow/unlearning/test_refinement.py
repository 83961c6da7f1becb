from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from forgetflow.generation.base import PositionLimitError
from forgetflow.records import Sample
from forgetflow.unlearning import refinement
from forgetflow.unlearning.analogous import choose_embedding
from forgetflow.unlearning.refinement import (
    PAPER_THRESHOLDS,
    RefinementInputError,
    RefinementPrompt,
    RefinementRow,
    RefinementScores,
    RefinementThresholds,
    calibrate,
    flags,
    refinement_prompt,
    score_continuations,
    score_refinement,
)

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
LONG = " ".join(WORDS[i % len(WORDS)] + str(i) for i in range(160))  # well over 100 tokens


class WordCounts:
    """A fake encoder decided by construction: unit word-count vectors over the words of the
    texts of one call; identical texts give cosine 1, texts with no word in common 0."""

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        vocabulary: dict[str, int] = {}
        for text in texts:
            for word in text.lower().split():
                vocabulary.setdefault(word, len(vocabulary))
        rows = torch.zeros(len(texts), max(len(vocabulary), 1))
        for row, text in enumerate(texts):
            for word in text.lower().split():
                rows[row, vocabulary[word]] += 1.0
        return torch.nn.functional.normalize(rows, dim=-1)


def prompt(sample_id: str, reference: str) -> RefinementPrompt:
    return RefinementPrompt(sample_id, (1, 2, 3), reference, len(reference.split()))


def test_a_reproduced_suffix_is_flagged_and_an_unrelated_one_is_not() -> None:
    prompts = [prompt("kept", "the quick brown fox jumps over the lazy dog today"),
               prompt("gone", "the quick brown fox jumps over the lazy dog today")]  # fmt: skip
    continuations = [prompts[0].reference, "purple elephants dance under seven silver moons"]
    scores = score_continuations(prompts, continuations, WordCounts())
    kept, gone = scores.rows
    assert kept.bleu == pytest.approx(1.0) and kept.cosine == pytest.approx(1.0)
    assert gone.bleu == 0.0 and gone.cosine == pytest.approx(0.0)
    assert (kept.continuation, gone.reference) == (continuations[0], prompts[1].reference)
    assert flags(scores, PAPER_THRESHOLDS) == {"kept": True, "gone": False}


def test_the_model_fallback_gives_cosine_one_to_a_reproduced_suffix(tiny_model) -> None:
    model, tokenizer = tiny_model
    text = "Name: Norma Fisher\nEmail: norma.fisher@example.com"
    scores = score_continuations([prompt("s", text)], [text], choose_embedding(model, tokenizer))
    assert scores.rows[0].cosine == pytest.approx(1.0, abs=1e-3)
    assert scores.rows[0].bleu == pytest.approx(1.0)


def test_score_refinement_compares_the_generated_continuation(tiny_model, monkeypatch) -> None:
    _, tokenizer = tiny_model
    samples = [Sample("a", "forget", LONG), Sample("b", "forget", "one two three four five six")]

    def reproduce(model, tokenizer, prompts, batch_size):  # noqa: ANN001, ANN202
        return [p.reference if p.sample_id == "a" else "zulu yankee" for p in prompts]

    monkeypatch.setattr(refinement, "beam_continuations", reproduce)
    scores = score_refinement(None, tokenizer, samples, WordCounts())  # type: ignore[arg-type]
    assert scores.bleu == {"a": pytest.approx(1.0), "b": 0.0}
    assert flags(scores, PAPER_THRESHOLDS) == {"a": True, "b": False}


def test_both_scores_must_reach_their_thresholds() -> None:
    values = {"both": (0.5, 0.5), "bleu": (0.5, 0.1), "cos": (0.001, 0.9), "edge": (0.2, 0.4)}
    rows = tuple(RefinementRow(name, b, c, "", "") for name, (b, c) in values.items())
    got = flags(RefinementScores(rows), RefinementThresholds(0.2, 0.4, "test"))
    assert got == {"both": True, "bleu": False, "cos": False, "edge": True}
    assert (PAPER_THRESHOLDS.bleu, PAPER_THRESHOLDS.cosine) == (0.01, 0.3)


def test_calibrate_takes_the_holdout_quantile() -> None:
    rows = tuple(RefinementRow(f"h{i}", i / 100, 1 - i / 100, "", "") for i in range(101))
    got = calibrate(RefinementScores(rows))
    assert got.bleu == pytest.approx(0.95) and got.cosine == pytest.approx(0.95)
    assert got.rule == "holdout_q0.95"
    assert calibrate(RefinementScores(rows), quantile=0.5).bleu == pytest.approx(0.5)
    with pytest.raises(RefinementInputError, match="quantile"):
        calibrate(RefinementScores(rows), quantile=1.5)
    with pytest.raises(RefinementInputError, match="no scores"):
        calibrate(RefinementScores(()))


def body(tokenizer, text: str) -> list[int]:  # noqa: ANN001
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_a_long_text_asks_the_50_tokens_before_its_last_50(tiny_model) -> None:
    _, tokenizer = tiny_model
    ids = body(tokenizer, LONG)
    assert len(ids) >= 100
    got = refinement_prompt(tokenizer, Sample("a", "forget", LONG, prompt="ignored context"))
    assert list(got.prompt_ids[-50:]) == ids[-100:-50]
    assert got.reference == tokenizer.decode(ids[-50:]) and got.reference_tokens == 50


def test_a_short_text_asks_its_prompt_or_its_first_half(tiny_model) -> None:
    _, tokenizer = tiny_model
    qa = Sample("q", "forget", " Denver", prompt="Question: Where does Ana live?\nAnswer:")
    got = refinement_prompt(tokenizer, qa)
    assert list(got.prompt_ids[-len(body(tokenizer, qa.prompt)) :]) == body(tokenizer, qa.prompt)
    assert got.reference == " Denver"
    plain = "Name: Norma Fisher\nEmail: norma.fisher@example.com"
    ids = body(tokenizer, plain)
    got = refinement_prompt(tokenizer, Sample("p", "forget", plain))
    assert list(got.prompt_ids[-(len(ids) // 2) :]) == ids[: len(ids) // 2]
    assert got.reference == tokenizer.decode(ids[len(ids) // 2 :])


def test_a_text_too_short_to_split_is_one_clear_error(tiny_model) -> None:
    _, tokenizer = tiny_model
    for text in ("", "a"):
        with pytest.raises(RefinementInputError, match="too few to split") as err:
            refinement_prompt(tokenizer, Sample("tiny", "forget", text))
        assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_repeated_ids_are_refused(tiny_model) -> None:
    model, tokenizer = tiny_model
    twice = [Sample("s", "forget", "one two three"), Sample("s", "forget", "four five six")]
    with pytest.raises(RefinementInputError, match="repeat"):
        score_refinement(model, tokenizer, twice, WordCounts())


def test_beam_generation_on_the_tiny_model_is_deterministic(tiny_model) -> None:
    model, tokenizer = tiny_model
    samples = [
        Sample("plain", "forget", "Name: Norma Fisher\nEmail: norma.fisher@example.com"),
        Sample("q1", "forget", " Denver", prompt="Question: Where?\nAnswer:"),
        Sample("q2", "forget", " Denver", prompt="Question: Where does Ana Ruiz work?\nAnswer:"),
    ]
    first = score_refinement(model, tokenizer, samples, WordCounts(), batch_size=2)
    second = score_refinement(model, tokenizer, samples, WordCounts(), batch_size=2)
    assert first == second
    assert [r.sample_id for r in first.rows] == ["plain", "q1", "q2"]
    assert all(0.0 <= row.bleu <= 1.0 for row in first.rows)
    assert not model.training


def test_the_batches_share_a_budget() -> None:
    prompts = [prompt("a", "x y"), prompt("b", "x y z"), prompt("c", "u v"), prompt("d", "w v")]
    assert refinement.budget_batches(prompts, 2) == [[0, 2], [3], [1]]


def test_a_prompt_past_the_position_limit_is_refused(tiny_model) -> None:
    model, tokenizer = tiny_model
    limit = model.config.n_positions
    too_long = [RefinementPrompt("s", tuple(range(1, limit)), "x y", 2)]
    with pytest.raises(PositionLimitError):
        refinement.beam_continuations(model, tokenizer, too_long)
