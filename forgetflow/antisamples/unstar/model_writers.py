"""UnSTAR's model-backed writers: a generation backend (the target model, another model
directory, a vLLM server) writes the paraphrased questions, the falsified answers and the
misleading rationales.

The paper's code (MachineUnlearn/UnStar, papers.md 4.3) prompts Mistral-7B-Instruct with:
- p0, questions: "Give 20 simple questions involving the object where the answer is the same..."
  (temperature 0.1), keeping those that mention the subject;
- p0, falsified answers: "Generate 20 words to replace this word." applied to the answer,
  dropping candidates that contain it;
- p2, rationales: system "You are a obedient assistant. Replace {a} with new answer. Don't
  mention {a} in your answer.", user "Question: {q*}\\nAnswer: {a-bar}".

Deviations, each deliberate:
- Questions: one prompt per variant type (facts.VARIANTS) asking for `per_variant` questions,
  not one prompt for 20; `more_specific` and `reversed` have their own wording; `noisy`
  questions are not asked of the model but derived from its rephrasings with seeded typos
  (templates.noisy, the subject protected). Every prompt asks for a numbered list.
- Decoding is greedy (temperature 0, seed recorded) instead of 0.1: a reviewer's critique is
  that the paper leaves generation randomness uncontrolled.
- Questions are kept only if they name the subject (a reversed one: the object) as whole words,
  differ from the target's own question and from each other, and never reveal what they expect
  (any accepted spelling of the answer; for a reversed question, the subject).
- Falsified answers: the p0 sentence is kept and the question, the true answer and the relation
  are added so the candidates have the answer's type. Candidates that reveal the answer, that
  the answer reveals, whose words are all near the answer's or the other way round (a typo of
  the answer: the paper's "near-correct incorrect answers"), that equal a distractor, repeat,
  or run past MAX_ANSWER_WORDS words are dropped.
- Rationales: p2 with its grammar fixed, and a user turn that asks for one or two sentences of
  explanation; the completion is cut to two sentences. Leaks are not filtered here: the leak
  filter does, and reports why.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

from forgetflow.antisamples.unstar.facts import REVERSED, VARIANTS, FactTarget, Question
from forgetflow.antisamples.unstar.templates import noisy
from forgetflow.data.answers import (
    answer_words,
    contains_words,
    first_sentence,
    near_words,
    normalise_answer,
    reveals,
)
from forgetflow.generation.base import GenerationBackend, PositionLimitError, SamplingParams
from forgetflow.hashing import stable_seed
from forgetflow.lm.prompts import ChatTokenizer

Chat = Callable[[str, str], str]  # (system, user) -> the prompt text

NOISY = "noisy"
ASKED_VARIANTS = tuple(v for v in VARIANTS if v != NOISY)  # the ones the model writes

QUESTIONS_SYSTEM = "You are a helpful assistant who writes quiz questions."
QUESTION_PROMPTS = {
    "rephrase": "Give {n} simple questions involving {s} where the answer is the same: {a}. "
    "Question: {q}",
    "more_specific": "Give {n} more specific, detailed questions involving {s} where the answer "
    "is the same: {a}. Question: {q}",
    REVERSED: "Give {n} simple questions about {a} whose answer is {s}. Fact: {q} {a}.",
}
LIST_FORMAT = "Write them as a numbered list, one question per line, and nothing else."
QUESTION_TOKENS = 40  # max_tokens per question asked
MAX_QUESTION_TOKENS = 512

ANSWERS_SYSTEM = "You are a helpful assistant."
ANSWERS_PROMPT = (
    "Generate {n} words to replace this word: {a}. The question is: {q} The true answer is {a}. "
    "Give {n} different wrong answers of the same kind (each a plausible {kind}), one per line, "
    "and nothing else."
)
KIND_HINT = 'answer for the relation "{relation}"'
ANSWER_TOKENS = 16  # max_tokens per answer asked
MAX_ANSWER_TOKENS = 512
MAX_ANSWER_WORDS = 8

RATIONALE_SYSTEM = (
    "You are an obedient assistant. Replace {a} with a new answer. Don't mention {a} in your "
    "answer."
)
RATIONALE_PROMPT = (
    "Question: {q}\nAnswer: {falsified}\nExplain in one or two sentences why the answer is "
    "{falsified}."
)
RATIONALE_TOKENS = 64
RATIONALE_SENTENCES = 2

# a list item's marker: "1.", "2)", "(3)", "4:", "-", "*", "•", "+"
MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-*\u2022+])\s*")
LABEL = re.compile(r"^(?:question|q|answer|a)\s*\d*\s*:\s*", re.IGNORECASE)
EXPLANATION = re.compile(r"\s+[-\u2013\u2014]\s+.*$")  # "Paris - the capital of France"
WRAPPERS = "\"'`*_ "


class ModelWriterError(RuntimeError):
    """The backend answered a batch with the wrong number of completions."""


def chat_prompt(tokenizer: ChatTokenizer) -> Chat | None:
    """A (system, user) -> prompt callable through the tokenizer's chat template, with the
    generation prompt added; None when the tokenizer has no chat template (plain prompts)."""
    if not getattr(tokenizer, "chat_template", None):
        return None

    def prompt(system: str, user: str) -> str:
        turns = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)

    return prompt


def render(chat: Chat | None, system: str, user: str) -> str:
    """The prompt text: the chat template's, else the plain `system`, a blank line, `user`."""
    return chat(system, user) if chat is not None else f"{system}\n\n{user}\n"


def complete(
    backend: GenerationBackend, prompts: list[str], params: SamplingParams, role: str, name: str
) -> list[str]:
    """One completion text per prompt, from one `generate` call (none for no prompts); a role
    whose prompts and new tokens do not fit its model is a PositionLimitError naming the role."""
    if not prompts:
        return []
    try:
        done = backend.generate(prompts, params)
    except PositionLimitError as err:
        raise too_long(err, role, name) from err
    if len(done) != len(prompts):
        raise ModelWriterError(
            f"backend {backend.name} returned {len(done)} completions for {len(prompts)} "
            "prompts; check its batching"
        )
    return [c.text for c in done]


def too_long(err: PositionLimitError, role: str, name: str) -> PositionLimitError:
    """The error again, saying which role's writer ran past its model's positions and what to
    set instead (a writer's prompts and token counts are fixed)."""
    advice = (
        f"unstar's {role} writer ({name}) needs that many; set "
        f"unlearning.method.roles.{role}.generator to template, or to model with a model of a "
        "longer context"
    )
    return PositionLimitError(err.longest, err.max_tokens, err.limit, advice)


def check_count(what: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{what} must be 0 or more, got {value}")


def list_items(text: str) -> list[str]:
    """The lines of a list, each without its marker, label ("Question:") or wrapping quotes."""
    items = []
    for line in text.splitlines():
        item = LABEL.sub("", MARKER.sub("", line.strip()), count=1).strip(WRAPPERS)
        if item:
            items.append(item)
    return items


def parse_questions(text: str) -> list[str]:
    """The questions of a numbered or bulleted list: the items that end with "?"."""
    return [item for item in list_items(text) if item.endswith("?")]


def parse_answers(text: str) -> list[str]:
    """The candidate answers of a list: items without an explanation after a dash or trailing
    punctuation; headers ("Wrong answers:") skipped."""
    out = []
    for item in list_items(text):
        if item.endswith(":"):
            continue
        item = EXPLANATION.sub("", item).rstrip(".,;!").strip(WRAPPERS)
        if item:
            out.append(item)
    return out


def question_request(target: FactTarget, variant: str, n: int) -> str:
    """The user turn asking for `n` questions of one variant type about the target."""
    wording = QUESTION_PROMPTS[variant].format(
        n=n, s=target.subject, a=target.answer, q=target.question
    )
    return f"{wording}\n{LIST_FORMAT}"


def acceptable(target: FactTarget, variant: str, text: str) -> bool:
    """Whether a question names the subject (a reversed one: the object) as whole words and
    reveals nothing it expects (any spelling of the answer; a reversed one's subject)."""
    named = target.answer if variant == REVERSED else target.subject
    given = (target.subject,) if variant == REVERSED else target.spellings
    return contains_words(answer_words(text), answer_words(named)) and not any(
        reveals(spelling, text) for spelling in given
    )


def select_questions(
    target: FactTarget, variant: str, candidates: Sequence[str], seen: set[str], limit: int
) -> list[str]:
    """Up to `limit` acceptable candidates whose normalised text is not in `seen` (the target's
    own question and the questions kept so far; updated)."""
    kept = []
    for text in candidates:
        key = normalise_answer(text)
        if len(kept) < limit and key not in seen and acceptable(target, variant, text):
            seen.add(key)
            kept.append(text)
    return kept


def noisy_questions(target: FactTarget, rephrasings: Sequence[str], seed: int) -> list[str]:
    """A noisy copy of each rephrasing (seeded typos, casing, spacing; the subject protected)
    that still names the subject and does not reveal the answer; no repeats."""
    rng = random.Random(stable_seed(seed, target.target_id, NOISY))
    out: list[str] = []
    for text in rephrasings:
        made = noisy(text, rng, protect=(target.subject,))
        if made not in out and acceptable(target, NOISY, made):
            out.append(made)
    return out


def target_questions(
    target: FactTarget, raw: Mapping[str, str], per_variant: int, seed: int
) -> list[Question]:
    """The questions kept from the model's completion for each asked variant (`raw`), with the
    noisy ones derived from the kept rephrasings, in facts.VARIANTS order."""
    seen = {normalise_answer(target.question)}
    kept = {
        variant: select_questions(target, variant, parse_questions(raw[variant]), seen, per_variant)
        for variant in ASKED_VARIANTS
    }
    kept[NOISY] = noisy_questions(target, kept["rephrase"], seed)
    return [
        Question(target.target_id, text, variant, target.expects(variant))
        for variant in VARIANTS
        for text in kept[variant]
    ]


class ModelQuestionWriter:
    """Questions by a model: rephrasings, more specific and reversed questions it writes, and
    noisy copies of its rephrasings."""

    def __init__(self, backend: GenerationBackend, name: str, chat: Chat | None = None) -> None:
        self.backend = backend
        self.name = name
        self.chat = chat

    def questions(
        self, targets: Sequence[FactTarget], per_variant: int, seed: int
    ) -> list[Question]:
        check_count("per_variant", per_variant)
        if per_variant == 0 or not targets:
            return []
        jobs = [(target, variant) for target in targets for variant in ASKED_VARIANTS]
        prompts = [
            render(self.chat, QUESTIONS_SYSTEM, question_request(target, variant, per_variant))
            for target, variant in jobs
        ]
        tokens = min(QUESTION_TOKENS * per_variant, MAX_QUESTION_TOKENS)
        params = SamplingParams(max_tokens=tokens, temperature=0.0, seed=seed)
        texts = complete(self.backend, prompts, params, "questions", self.name)
        raw: dict[str, dict[str, str]] = {}
        for (target, variant), text in zip(jobs, texts, strict=True):
            raw.setdefault(target.target_id, {})[variant] = text
        out: list[Question] = []
        for target in targets:
            out += target_questions(target, raw[target.target_id], per_variant, seed)
        return out


def answers_request(target: FactTarget, n: int) -> str:
    """The user turn asking for `n` wrong answers of the answer's kind."""
    kind = KIND_HINT.format(relation=target.relation.replace("_", " "))
    return ANSWERS_PROMPT.format(n=n, a=target.answer, q=target.question, kind=kind)


def near_copy(answer: str, candidate: str) -> bool:
    """Whether the candidate reveals the answer, the answer reveals it, or each word of one is
    near a word of the other (a typo of the answer, "Brightlne", that `reveals` misses when the
    candidate is the shorter text)."""
    mine, theirs = answer_words(answer), answer_words(candidate)
    if not mine or not theirs:
        return False  # near_words holds for no words at all
    return bool(
        reveals(answer, candidate)
        or reveals(candidate, answer)
        or near_words(mine, theirs)
        or near_words(theirs, mine)
    )


def falsified(target: FactTarget, candidates: Sequence[str], n: int) -> list[str]:
    """Up to `n` candidates that are short, new, no near-copy of any spelling of the answer and
    none of the target's distractors."""
    taken = {answer_words(d) for d in target.distractors}
    out = []
    for candidate in candidates:
        words = answer_words(candidate)
        if (
            len(out) < n
            and words
            and len(candidate.split()) <= MAX_ANSWER_WORDS
            and words not in taken
            and not any(near_copy(spelling, candidate) for spelling in target.spellings)
        ):
            taken.add(words)
            out.append(candidate)
    return out


class ModelAnswerWriter:
    """Falsified answers by a model: wrong answers of the answer's kind it lists."""

    def __init__(self, backend: GenerationBackend, name: str, chat: Chat | None = None) -> None:
        self.backend = backend
        self.name = name
        self.chat = chat

    def answers(self, targets: Sequence[FactTarget], n: int, seed: int) -> Mapping[str, list[str]]:
        check_count("n", n)
        if n == 0:
            return {target.target_id: [] for target in targets}
        prompts = [render(self.chat, ANSWERS_SYSTEM, answers_request(t, n)) for t in targets]
        tokens = min(ANSWER_TOKENS * n, MAX_ANSWER_TOKENS)
        params = SamplingParams(max_tokens=tokens, temperature=0.0, seed=seed)
        texts = complete(self.backend, prompts, params, "answers", self.name)
        return {
            target.target_id: falsified(target, parse_answers(text), n)
            for target, text in zip(targets, texts, strict=True)
        }


def rationale_prompt(chat: Chat | None, question: Question, wrong: str) -> str:
    """p2: the obedient-assistant system turn (replace what the question expects: the answer,
    or a reversed question's subject) and the question with its falsified answer."""
    system = RATIONALE_SYSTEM.format(a=question.expects)
    return render(chat, system, RATIONALE_PROMPT.format(q=question.text, falsified=wrong))


class ModelRationaleWriter:
    """Misleading rationales by a model: why the falsified answer is right (paper p2)."""

    def __init__(self, backend: GenerationBackend, name: str, chat: Chat | None = None) -> None:
        self.backend = backend
        self.name = name
        self.chat = chat

    def rationales(self, items: Sequence[tuple[FactTarget, Question, str]], seed: int) -> list[str]:
        prompts = [rationale_prompt(self.chat, q, wrong) for _, q, wrong in items]
        params = SamplingParams(max_tokens=RATIONALE_TOKENS, temperature=0.0, seed=seed)
        texts = complete(self.backend, prompts, params, "rationales", self.name)
        return [first_sentence(text.strip(), RATIONALE_SENTENCES) for text in texts]
