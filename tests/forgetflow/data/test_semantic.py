from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgetflow.data.answers import SEMANTIC_MIN, Match, semantic_match
from forgetflow.models.embedder import Embedder
from forgetflow.models.io import ModelLoadError
from forgetflow.scenarios.world.facts import make_people, object_items, qa_items

FALSE_MATCH_LIMIT = 0.01


class Fixed:
    """A similarity that answers one number."""

    def __init__(self, score: float) -> None:
        self.score = score

    def similarity(self, a: str, b: str) -> float:
        return self.score


def test_semantic_match_says_its_cosine_and_why_not() -> None:
    assert semantic_match("Paris", "in Paris", Fixed(SEMANTIC_MIN)) == Match(True, "cosine:0.70")
    assert semantic_match("Paris", "Lyon", Fixed(0.69)) == Match(False, "cosine:0.69")
    assert semantic_match("Paris", "Paris", Fixed(0.5), threshold=0.4).matched
    assert semantic_match("Paris", "Paris", None) == Match(False, "no_embedder")
    assert semantic_match(" ", "Paris", Fixed(1.0)) == Match(False, "empty_answer")


def test_an_embedder_other_than_mean_pooling_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))  # fmt: skip
    with pytest.raises(ModelLoadError, match="only mean pooling"):
        Embedder(tmp_path)
    with pytest.raises(ModelLoadError, match="no sentence-transformers directory"):
        Embedder(tmp_path / "1_Pooling")


@pytest.mark.real_model
def test_minilm_matches_at_most_one_percent_of_perturbed_answers(minilm: Embedder) -> None:
    """Calibration on the world's facts: a perturbed answer, alone or in the answer's sentence,
    reaches SEMANTIC_MIN at most 1% of the time; the answer itself always does."""
    people = make_people(60, seed=0)
    items = [q for p in people for q in qa_items(p)] + object_items(people, seed=0)
    trials = false = 0
    for item in items[:200]:
        assert semantic_match(item.answer, item.answer, minilm).matched
        for wrong in item.perturbed_answers:
            for text in (wrong, item.paraphrased_answer.replace(item.answer, wrong)):
                trials += 1
                false += semantic_match(item.answer, text, minilm).matched
    assert trials >= 1000 and false / trials <= FALSE_MATCH_LIMIT, f"{false} of {trials}"
    rows = minilm.encode(["Ann lives in Paris.", "Paris", "a b c"])
    assert rows.shape == (3, 384)
    assert all(abs(float(r.norm()) - 1.0) < 1e-4 for r in rows)
