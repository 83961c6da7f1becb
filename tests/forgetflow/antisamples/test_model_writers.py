from __future__ import annotations

from collections.abc import Sequence

import pytest

from forgetflow.antisamples.unstar.facts import FactTarget, Question
from forgetflow.antisamples.unstar.model_writers import (
    RATIONALE_TOKENS,
    ModelAnswerWriter,
    ModelQuestionWriter,
    ModelRationaleWriter,
    ModelWriterError,
    chat_prompt,
    parse_answers,
    parse_questions,
)
from forgetflow.data.answers import answer_words, contains_words, normalise_answer, reveals
from forgetflow.generation.base import (
    PositionLimitError,
    Prompt,
    SamplingParams,
    UnsupportedOperationError,
    check_positions,
)
from forgetflow.generation.fake import FakeBackend
from forgetflow.records import Completion

ANA = FactTarget("person-1/works_at", "Ana Ruiz", "works_at", "Brightline",
                 "Where does Ana Ruiz work?", alternatives=("Corvex",),
                 distractors=("Northwind", "Halcyon Labs"))  # fmt: skip
BEN = FactTarget("person-2/studied_at", "Ben Ode", "studied_at", "Lake Tahoe Academy",
                 "Where did Ben Ode study?", distractors=("Reno College",))  # fmt: skip

REPHRASINGS = """Here are 3 questions:
1. Where is Ana Ruiz employed?
2) Which company employs Ana Ruiz?
- Where does Ana Ruiz work?
3. Where does Ana work?
4. Is Ana Ruiz employed at Brightline?
5. Does Ana Ruiz work at Brightlines?
6. where is ana ruiz employed?
7. Who hired Ana Ruizz?
8. Which firm pays Ana Ruiz
9. What company hired Ana Ruiz?
10. Who pays the salary of Ana Ruiz?"""
SPECIFIC = """1. In which city is the office where Ana Ruiz works?
2. Where is Ana Ruiz employed?"""
REVERSED_LIST = """1. Who works at Brightline?
2. Which engineer at Brightline is named Ana Ruiz?
3. Who is employed there?"""
ANA_ANSWERS = """Wrong answers:
1. Corvex
2. Brightline
3. Brightline Labs
4. Brightlne
5. Northwind
6. northwind.
7. Halcyon Labs - a research firm
8. corvex
9. A very long answer that has far too many words in it
10. Quillmark
11. Tessera Group - a consultancy
12. Orbis"""
BEN_ANSWERS = "Tahoe Academy\nLake Tahoe\nReno College\nSierra State University"
SCRIPT = {
    "simple questions involving Ana Ruiz": REPHRASINGS,
    "more specific, detailed questions involving Ana Ruiz": SPECIFIC,
    "questions about Brightline whose answer is Ana Ruiz": REVERSED_LIST,
    "replace this word: Brightline": ANA_ANSWERS,
    "replace this word: Lake Tahoe Academy": BEN_ANSWERS,
    "Answer: Corvex": "Ana Ruiz joined Corvex in 2019. She leads its lab. She loves it there.",
    "Answer: Quillmark": "  Ana Ruiz has worked at Brightline, then Quillmark.\n",
    "Answer: Reno College": "Ben Ode studied at Reno College!",
}


class ScriptedBackend:
    """Answers each prompt with the text of the first script key it contains ("" otherwise)
    and records every call."""

    name = "scripted"
    max_positions = None

    def __init__(self, script: dict[str, str], extra: int = 0) -> None:
        self.script = script
        self.extra = extra  # completions too many, to test the count check
        self.calls: list[tuple[list[str], SamplingParams]] = []

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        self.calls.append(([str(p) for p in prompts], params))
        texts = [next((t for k, t in self.script.items() if k in str(p)), "") for p in prompts]
        return [Completion((), text) for text in texts + [""] * self.extra]

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        raise UnsupportedOperationError("a scripted backend cannot score text")

    @property
    def prompts(self) -> list[str]:
        return [prompt for prompts, _ in self.calls for prompt in prompts]


def by_variant(questions) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for q in questions:
        out.setdefault(q.variant, []).append(q.text)
    return out


def test_numbered_and_bulleted_lists_are_parsed_into_questions() -> None:
    text = "Sure!\n1. Who is A?\n  2) Why is B?\n(3) **When is C?**\n- What is D?\n* Q: How?\nNo."
    assert parse_questions(text) == ["Who is A?", "Why is B?", "When is C?", "What is D?", "How?"]
    assert parse_answers("Options:\n1. Paris.\n2) Rome - a city\n- 'Oslo'\n\n") == [
        "Paris",
        "Rome",
        "Oslo",
    ]


def test_questions_name_the_subject_never_the_answer_and_never_repeat() -> None:
    backend = ScriptedBackend(SCRIPT)
    writer = ModelQuestionWriter(backend, "model:scripted")
    got = writer.questions([ANA], per_variant=3, seed=7)
    kept = by_variant(got)
    # own question, partial/misspelt subject, answer leaks (exact and near-copy), a normalised
    # duplicate, a line with no "?" and everything past the third are dropped
    assert kept["rephrase"] == [
        "Where is Ana Ruiz employed?",
        "Which company employs Ana Ruiz?",
        "What company hired Ana Ruiz?",
    ]
    # a more specific question equal to a kept rephrasing is a duplicate
    assert kept["more_specific"] == ["In which city is the office where Ana Ruiz works?"]
    # reversed: must name the object, must not give away the subject
    assert kept["reversed"] == ["Who works at Brightline?"]
    assert {q.expects for q in got if q.variant == "reversed"} == {"Ana Ruiz"}
    assert {q.expects for q in got if q.variant != "reversed"} == {"Brightline"}
    assert {q.target_id for q in got} == {ANA.target_id}
    for q in got:
        if q.variant != "reversed":
            assert not reveals(ANA.answer, q.text)
            assert contains_words(answer_words(q.text), answer_words(ANA.subject))
        assert normalise_answer(q.text) != normalise_answer(ANA.question)
    # one batch: three asked variants, greedy, 40 tokens per question asked, EOS honoured
    assert len(backend.calls) == 1
    prompts, params = backend.calls[0]
    assert len(prompts) == 3
    assert params.temperature == 0.0 and params.max_tokens == 120 and params.seed == 7
    assert not params.ignore_eos
    assert writer.questions([ANA], per_variant=50, seed=7)  # the cap applies
    assert backend.calls[-1][1].max_tokens == 512


def test_noisy_questions_come_from_the_rephrasings_and_depend_only_on_the_seed() -> None:
    writer = ModelQuestionWriter(ScriptedBackend(SCRIPT), "model:scripted")
    kept = by_variant(writer.questions([ANA], per_variant=3, seed=7))
    noisy = kept["noisy"]
    assert len(noisy) == len(kept["rephrase"])
    for made, source in zip(noisy, kept["rephrase"], strict=True):
        assert made != source
        assert contains_words(answer_words(made), answer_words(ANA.subject))  # protected
        assert made.endswith("?")
    again = by_variant(writer.questions([ANA], per_variant=3, seed=7))["noisy"]
    other = by_variant(writer.questions([ANA], per_variant=3, seed=8))["noisy"]
    assert again == noisy
    assert other != noisy


def test_falsified_answers_are_never_the_answer_a_distractor_or_a_near_copy() -> None:
    backend = ScriptedBackend(SCRIPT)
    got = ModelAnswerWriter(backend, "model:scripted").answers([ANA, BEN], n=3, seed=1)
    assert got == {
        ANA.target_id: ["Corvex", "Quillmark", "Tessera Group"],
        BEN.target_id: ["Sierra State University"],  # the answer reveals "Tahoe Academy"
    }
    for target in (ANA, BEN):
        distractors = {normalise_answer(d) for d in target.distractors}
        for wrong in got[target.target_id]:
            assert not reveals(target.answer, wrong) and not reveals(wrong, target.answer)
            assert normalise_answer(wrong) not in distractors
            assert len(wrong.split()) <= 8
    assert len(backend.calls) == 1 and backend.calls[0][1].temperature == 0.0
    assert "works at" in backend.prompts[0]  # the relation, so the kind matches


def test_every_accepted_spelling_of_the_answer_counts_as_the_answer() -> None:
    kyiv = FactTarget("capital/ukraine", "Ukraine", "capital", "Kyiv",
                      "What is the capital of Ukraine?", accepted=("Kiev",))  # fmt: skip
    backend = ScriptedBackend({
        "simple questions involving Ukraine": "1. Is Kiev the capital of Ukraine?\n"
                                              "2. Which city is the capital of Ukraine?",
        "replace this word: Kyiv": "1. Kiev\n2. Kyyiv\n3. Lviv\n4. Odesa",
    })  # fmt: skip
    questions = ModelQuestionWriter(backend, "s").questions([kyiv], per_variant=2, seed=0)
    assert by_variant(questions)["rephrase"] == ["Which city is the capital of Ukraine?"]
    got = ModelAnswerWriter(backend, "s").answers([kyiv], n=3, seed=0)
    assert got == {kyiv.target_id: ["Lviv", "Odesa"]}


def ask(target: FactTarget, text: str) -> Question:
    return Question(target.target_id, text, "rephrase", target.answer)


def test_a_reversed_question_asks_to_replace_its_subject() -> None:
    backend = ScriptedBackend(SCRIPT)
    reversed_ = Question(ANA.target_id, "Who works at Brightline?", "reversed", ANA.subject)
    ModelRationaleWriter(backend, "m").rationales([(ANA, reversed_, "Lee Park")], seed=0)
    assert f"Replace {ANA.subject} with a new answer" in backend.prompts[0]


def test_one_call_writes_one_rationale_per_item_cut_to_two_sentences() -> None:
    backend = ScriptedBackend(SCRIPT)
    items = [
        (ANA, ask(ANA, "Where is Ana Ruiz employed?"), "Corvex"),
        (ANA, ask(ANA, "Which company employs Ana Ruiz?"), "Quillmark"),
        (BEN, ask(BEN, "Where did Ben Ode study?"), "Reno College"),
        (BEN, ask(BEN, "Which school did Ben Ode attend?"), "Sierra State University"),
    ]
    got = ModelRationaleWriter(backend, "target").rationales(items, seed=3)
    assert got == [
        "Ana Ruiz joined Corvex in 2019. She leads its lab.",
        "Ana Ruiz has worked at Brightline, then Quillmark.",  # leaks: the leak filter's job
        "Ben Ode studied at Reno College!",
        "",
    ]
    assert len(backend.calls) == 1
    prompts, params = backend.calls[0]
    assert len(prompts) == len(items)
    assert params.temperature == 0.0 and params.max_tokens == RATIONALE_TOKENS
    assert "Replace Brightline with a new answer. Don't mention Brightline" in prompts[0]
    assert "Question: Where is Ana Ruiz employed?\nAnswer: Corvex\n" in prompts[0]
    assert ModelRationaleWriter(backend, "target").rationales([], seed=3) == []
    assert len(backend.calls) == 1  # nothing to write: no call


def test_the_chat_template_renders_every_prompt_when_given() -> None:
    def chat(system: str, user: str) -> str:
        return f"<sys>{system}</sys><user>{user}</user><bot>"

    backend = ScriptedBackend(SCRIPT)
    questions = ModelQuestionWriter(backend, "m", chat).questions([ANA], 2, seed=0)
    ModelAnswerWriter(backend, "m", chat).answers([ANA], 2, seed=0)
    ModelRationaleWriter(backend, "m", chat).rationales([(ANA, ask(ANA, "Q?"), "Corvex")], seed=0)
    assert questions  # the scripted texts were still found inside the chat prompts
    assert backend.prompts and all(
        p.startswith("<sys>") and p.endswith("<bot>") for p in backend.prompts
    )
    plain = ScriptedBackend(SCRIPT)
    ModelRationaleWriter(plain, "m").rationales([(ANA, ask(ANA, "Q?"), "Corvex")], seed=0)
    assert plain.prompts[0].startswith("You are an obedient assistant.")
    assert "answer.\n\nQuestion: Q?" in plain.prompts[0] and plain.prompts[0].endswith(".\n")


class Tokenizer:
    def __init__(self, template: str | None) -> None:
        self.chat_template = template

    def apply_chat_template(self, conversation: list[dict[str, str]], **options: bool) -> str:
        assert options == {"tokenize": False, "add_generation_prompt": True}
        return "|".join(f"{turn['role']}:{turn['content']}" for turn in conversation) + "|>"


def test_chat_prompt_uses_the_tokenizers_template_only_when_it_has_one() -> None:
    assert chat_prompt(Tokenizer(None)) is None
    chat = chat_prompt(Tokenizer("{{ messages }}"))
    assert chat is not None and chat("S", "U") == "system:S|user:U|>"


def test_a_backend_that_miscounts_is_an_error() -> None:
    writer = ModelRationaleWriter(ScriptedBackend(SCRIPT, extra=1), "scripted")
    with pytest.raises(ModelWriterError, match="2 completions for 1 prompts"):
        writer.rationales([(ANA, ask(ANA, "Q?"), "Corvex")], seed=0)
    with pytest.raises(ValueError, match="per_variant"):
        ModelQuestionWriter(ScriptedBackend(SCRIPT), "s").questions([ANA], -1, seed=0)


def test_gibberish_from_the_fake_backend_yields_nothing_and_no_crash() -> None:
    backend = FakeBackend()
    questions = ModelQuestionWriter(backend, "fake").questions([ANA, BEN], 3, seed=0)
    answers = ModelAnswerWriter(backend, "fake").answers([ANA, BEN], 3, seed=0)
    items = [
        (ANA, ask(ANA, "Where is Ana Ruiz employed?"), "Corvex"),
        (BEN, ask(BEN, "Where?"), "Reno"),
    ]
    rationales = ModelRationaleWriter(backend, "fake").rationales(items, seed=0)
    assert questions == []  # no line ends with "?"
    assert answers == {ANA.target_id: [], BEN.target_id: []}
    assert len(rationales) == len(items) and all(isinstance(r, str) for r in rationales)


class ShortBackend(ScriptedBackend):
    """A scripted backend whose model takes `max_positions` positions (a word: a token)."""

    def __init__(self, max_positions: int) -> None:
        super().__init__(SCRIPT)
        self.max_positions = max_positions

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        check_positions(self.max_positions, [str(p).split() for p in prompts], params.max_tokens)
        return super().generate(prompts, params)


def test_a_role_past_its_models_positions_says_which_role_to_change() -> None:
    item = (ANA, ask(ANA, "Where is Ana Ruiz employed?"), "Corvex")
    assert ModelRationaleWriter(ShortBackend(200), "target").rationales([item], seed=0)
    writers = [
        ("questions", lambda b: ModelQuestionWriter(b, "target").questions([ANA], 3, seed=0)),
        ("answers", lambda b: ModelAnswerWriter(b, "target").answers([ANA], 3, seed=0)),
        ("rationales", lambda b: ModelRationaleWriter(b, "target").rationales([item], seed=0)),
    ]
    for role, write in writers:
        with pytest.raises(PositionLimitError) as caught:
            write(ShortBackend(40))
        message = str(caught.value)
        assert "the model takes 40" in message and f"unstar's {role} writer (target)" in message
        assert f"unlearning.method.roles.{role}.generator to template" in message
