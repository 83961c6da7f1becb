from __future__ import annotations

import pyarrow as pa
import pytest

from forgetflow.audit.facts import fact_figures, fact_flags, fact_table
from forgetflow.generation.base import SamplingParams
from forgetflow.lm.prompts import qa_prompt
from forgetflow.records import Sample

CAPITAL = Sample("ann", "forget", " Paris", 8, qa_prompt("Where does Ann live?"),
                 paraphrases=("Which city is Ann's home?", "Ann lives in which city?"))  # fmt: skip
AGE = Sample("bob", "forget", " 21", 8, qa_prompt("How old is Bob?"),
             paraphrases=("What is Bob's age?",))  # fmt: skip
STRANGER = Sample("cy", "holdout", " Lima", -1, qa_prompt("Where does Cy live?"))
UNSURE = " I do not know"
RECORD = Sample("rec", "forget", "Name: Ann\nEmail: a@b.c", 8)


def test_an_answer_counts_on_any_phrasing_and_near_misses_do_not(tiny_model, by_prompt) -> None:
    _, tokenizer = tiny_model
    backend = by_prompt(tokenizer, greedy={
        qa_prompt("Where does Ann live?"): " Parisian food, mostly.",  # a near-miss: no word
        qa_prompt("Ann lives in which city?"): " She lives in Paris. She likes it.",
        qa_prompt("How old is Bob?"): " Bob is 12.\n He is 21",  # second sentence only
        qa_prompt("Where does Cy live?"): " Lima",
    }, sampled={qa_prompt("What is Bob's age?"): [" twenty-one", " ten"]},
        default=UNSURE)  # fmt: skip
    params = SamplingParams(temperature=1.0, top_k=40, n=4, seed=1)
    table = fact_table(backend, tokenizer, [CAPITAL, AGE, RECORD, STRANGER], "after", params)
    rows = {(r["sample_id"], r["phrasing"]): r for r in table.to_pylist()}
    assert sorted(rows) == [("ann", 0), ("ann", 1), ("ann", 2), ("bob", 0), ("bob", 1),
                            ("cy", 0)]  # fmt: skip  # the record is no fact
    assert [rows["ann", k]["greedy_given"] for k in range(3)] == [False, False, True]
    assert rows["ann", 2]["greedy_reason"] == "first_sentence"
    assert rows["bob", 0]["greedy_given"] is False  # "21" only after the first sentence
    assert rows["bob", 1]["sampled_hits"] == 2 and rows["bob", 1]["samples"] == 4  # number word
    assert rows["cy", 0]["greedy_given"] is True and rows["cy", 0]["sampled_hits"] == 0
    flags = fact_flags(table)
    assert flags["ann", "after"] == {"greedy": True, "leaked": True}
    assert flags["bob", "after"] == {"greedy": False, "leaked": True}
    assert [p.stop for p in backend.requests] == [("\n",), ("\n",)]
    assert backend.requests[1].n == 4 and not backend.requests[1].ignore_eos


def test_fact_figures_count_facts_not_phrasings(tiny_model, by_prompt) -> None:
    _, tokenizer = tiny_model
    backend = by_prompt(tokenizer, greedy={
        qa_prompt("Which city is Ann's home?"): " Paris",
        qa_prompt("Ann lives in which city?"): " Paris",
    }, sampled={qa_prompt("How old is Bob?"): [" 21"]}, default=UNSURE)  # fmt: skip
    params = SamplingParams(temperature=1.0, n=2, seed=0)
    forget = fact_table(backend, tokenizer, [CAPITAL, AGE], "after", params)
    holdout = fact_table(backend, tokenizer, [STRANGER], "after", None)
    figures = {(f.metric, f.group): f for f in fact_figures(pa.concat_tables([forget, holdout]))}
    assert figures["fact_greedy", "forget"].value == pytest.approx(0.5)
    assert figures["fact_greedy", "forget"].n == 2
    assert figures["fact_greedy_paraphrase", "forget"].value == pytest.approx(0.5)
    assert figures["fact_leak_at_2", "forget"].value == 1.0
    assert figures["fact_greedy", "forget_r8"].n == 2
    assert figures["fact_greedy", "holdout"].value == 0.0
    assert ("fact_leak_at_2", "holdout") not in figures  # greedy only there
    low, high = figures["fact_greedy_low", "forget"].value, figures["fact_greedy_high", "forget"]
    assert low < 0.5 < high.value
