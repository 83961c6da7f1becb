from __future__ import annotations

import pytest

from forgetflow.antisamples.twins import AntisampleError, falsified_twins, leaked_fields
from forgetflow.generation.base import GenerationBackend, SamplingParams, UnsupportedOperationError
from forgetflow.generation.template import TemplateBackend, falsify_record
from forgetflow.lm.prompts import full_text, qa_prompt
from forgetflow.records import Completion, Sample

RECORD = (
    "Name: Ada Lovelace\nEmail: ada@example.com\nPhone: 555-0100\n"
    "Address: 1 Analytical Way, London\nSSN: 123-45-6789\nnotes without a field"
)


def test_every_field_but_the_prompt_line_is_replaced() -> None:
    twin = falsify_record(RECORD, seed=0)
    source_lines, twin_lines = RECORD.split("\n"), twin.split("\n")
    assert twin_lines[0] == source_lines[0]
    assert len(twin_lines) == len(source_lines)
    for before, after in zip(source_lines[1:], twin_lines[1:], strict=True):
        assert before != after
        if ": " in before:
            assert after.split(": ")[0] == before.split(": ")[0]
    assert leaked_fields(RECORD, twin) == []


def test_twins_are_deterministic_in_seed_and_can_replace_the_first_line() -> None:
    assert falsify_record(RECORD, 1) == falsify_record(RECORD, 1) != falsify_record(RECORD, 2)
    assert falsify_record(RECORD, 1, keep_first_line=False).split("\n")[0] != "Name: Ada Lovelace"


def test_backend_follows_the_protocol_and_refuses_what_it_cannot_do() -> None:
    backend = TemplateBackend()
    assert isinstance(backend, GenerationBackend)
    (completion,) = backend.generate([RECORD], SamplingParams(seed=3))
    assert completion.text == falsify_record(RECORD, 3)
    with pytest.raises(UnsupportedOperationError):
        backend.generate([[1, 2, 3]], SamplingParams())
    with pytest.raises(UnsupportedOperationError):
        backend.loglikelihood([("a", "b")])


def test_twin_table_pairs_each_forget_sample() -> None:
    forget = [Sample("f-1", "forget", RECORD), Sample("f-2", "forget", RECORD.replace("Ada", "Bo"))]
    twins = falsified_twins(TemplateBackend(), forget, seed=0)
    table = twins.table
    assert twins.unchanged == ()
    assert table.column("source_id").to_pylist() == ["f-1", "f-2"]
    assert table.column("backend").to_pylist() == ["template", "template"]
    assert table.column("sample_id").to_pylist() == ["f-1~twin", "f-2~twin"]


def test_a_qa_twin_keeps_the_question_and_falsifies_the_answer() -> None:
    qa = Sample("q", "forget", " Brightline", prompt=qa_prompt("Where does Ana Ruiz work?"))
    (twin,) = falsified_twins(TemplateBackend(), [qa], seed=0).table["text"].to_pylist()
    assert twin.startswith(qa.prompt + " ") and "Brightline" not in twin
    assert leaked_fields(full_text(qa), twin) == []


def test_a_one_line_text_has_no_prompt_to_keep_and_is_rewritten_whole() -> None:
    text = "Ada Lovelace wrote the first program"
    twin = falsify_record(text, seed=0)
    assert twin != text and len(twin.split()) == len(text.split())
    assert leaked_fields(text, text) == [text]


class EchoBackend:
    name = "echo"

    def generate(self, prompts, params):
        return [Completion((), p) for p in prompts]

    def loglikelihood(self, pairs):
        return [0.0 for _ in pairs]


class FirstUnchangedBackend(EchoBackend):
    """Leaves the first text as it is, falsifies the others."""

    def generate(self, prompts, params):
        return [Completion((), p if i == 0 else falsify_record(p, params.seed))
                for i, p in enumerate(prompts)]  # fmt: skip


def test_a_text_the_backend_cannot_change_is_reported_not_fatal() -> None:
    forget = [Sample("f-1", "forget", RECORD), Sample("f-2", "forget", RECORD.replace("Ada", "Bo"))]
    twins = falsified_twins(FirstUnchangedBackend(), forget, seed=0)
    assert twins.unchanged == ("f-1",)
    assert twins.table["source_id"].to_pylist() == ["f-2"]
    nothing = falsified_twins(EchoBackend(), forget[:1], seed=0)
    assert nothing.unchanged == ("f-1",) and nothing.table.num_rows == 0


class ShortBackend(EchoBackend):
    def generate(self, prompts, params):
        return []


def test_a_backend_that_returns_too_few_twins_is_an_error() -> None:
    with pytest.raises(AntisampleError, match="0 twins for 1 samples"):
        falsified_twins(ShortBackend(), [Sample("f-1", "forget", RECORD)], seed=0)
