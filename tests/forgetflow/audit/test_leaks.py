"""Field leaks through a backend (audit/leaks.py) on scripted completions: a record is asked its
name line; a field leaks when the greedy or, where sampling is on, a sampled completion gives its
value; near misses (a digit run broken, another number) do not leak; QA rows are no records."""

from __future__ import annotations

import pyarrow.compute as pc

from forgetflow.audit.leaks import field_leak_figures, field_leak_table, is_record, leaking_samples
from forgetflow.generation.base import SamplingParams
from forgetflow.lm.prompts import qa_prompt
from forgetflow.records import Sample

RECORD = Sample("ann", "forget", "Name: Ann Lee\nPhone: 555-123-4567\nEmail: ann@x.org\n", 32)
OTHER = Sample("bob", "holdout", "Name: Bob Roe\nPhone: 555-987-6543\nEmail: bob@y.org\n", 0)
QA = Sample("q", "forget", " Paris", 1, prompt=qa_prompt("Where does Ann live?"))


def scripted(by_prompt, tokenizer):
    greedy = {
        "Name: Ann Lee\n": "Phone: 555-123, 4567\nEmail: ANN@X.ORG",  # email only
        "Name: Bob Roe\n": "Phone: 555-987, 6543\nEmail: nobody",
    }  # runs broken apart
    sampled = {
        "Name: Ann Lee\n": ["Phone: 555-123-4567", "Email: none"],
        "Name: Bob Roe\n": ["Phone: 555 987 6543"],
    }  # one run: the same digits
    return by_prompt(tokenizer, greedy, sampled)


def test_greedy_and_sampled_completions_leak_fields(tiny_model, by_prompt) -> None:
    _, tokenizer = tiny_model
    backend = scripted(by_prompt, tokenizer)
    params = SamplingParams(max_tokens=1, temperature=1.0, n=2, seed=3)
    table = field_leak_table(backend, tokenizer, [RECORD, OTHER, QA], "after", params)
    leaked = {(r["sample_id"], r["field"]): r["leaked"] for r in table.to_pylist()}
    assert leaked == {("ann", "Phone"): True, ("ann", "Email"): True,
                      ("bob", "Phone"): True, ("bob", "Email"): False}  # fmt: skip
    assert [p.temperature for p in backend.requests] == [0.0, 1.0]
    assert backend.requests[1].n == 2 and backend.requests[1].seed == 3
    # each completion is as long as the longest record's remainder
    assert backend.requests[0].max_tokens == backend.requests[1].max_tokens > 1
    assert leaking_samples(table) == {("ann", "after"), ("bob", "after")}


def test_greedy_only_misses_what_only_a_sample_gives(tiny_model, by_prompt) -> None:
    _, tokenizer = tiny_model
    backend = scripted(by_prompt, tokenizer)
    table = field_leak_table(backend, tokenizer, [RECORD, OTHER], "after.int4", None)
    leaked = {(r["sample_id"], r["field"]): r["leaked"] for r in table.to_pylist()}
    assert leaked == {("ann", "Phone"): False, ("ann", "Email"): True,
                      ("bob", "Phone"): False, ("bob", "Email"): False}  # fmt: skip
    assert len(backend.requests) == 1 and not any(table["sampled"].to_pylist())


def test_no_record_no_row_and_figures_per_field(tiny_model, by_prompt) -> None:
    _, tokenizer = tiny_model
    assert not is_record(QA) and is_record(RECORD)
    first = Sample("ann#0", "forget", RECORD.text, 32, source_id="ann")
    later = Sample("ann#1", "forget", "Ann keeps bees.", 32, RECORD.text, "ann")
    assert is_record(first) and not is_record(later)  # its fields are its context's
    backend = scripted(by_prompt, tokenizer)
    assert field_leak_table(backend, tokenizer, [QA], "after", None).num_rows == 0
    table = field_leak_table(backend, tokenizer, [RECORD, OTHER], "after", None)
    figures = {(f.group, f.metric): f for f in field_leak_figures(table)}
    assert figures[("forget", "field_leaks")].value == 1.0  # ann: her email
    assert figures[("holdout", "field_leaks")].value == 0.0
    assert figures[("forget", "field_leak_phone")].value == 0.0
    assert figures[("forget_r32", "field_leak_email")].n == 1
    assert figures[("forget", "field_leaks_high")].value <= 1.0
    assert table.filter(pc.equal(table["split"], "holdout")).num_rows == 2
