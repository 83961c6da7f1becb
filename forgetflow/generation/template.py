"""A template backend: rewrites "Field: value" records with fresh Faker values.

It stands in for a language model where the anti-sample is fully determined by a rule: every
field's value is replaced, except the prompt (lm/prompts.py: the first line; a QA row's text
"Question: ...\nAnswer: ..." keeps its question), so the twin teaches a false continuation of the
same prompt. This backend has no tokenizer, so the rule's one fallback (a one-line text's first
tokens) does not apply here: a one-line text has no prompt to keep and is rewritten whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from forgetflow.data.pii import fake_value, make_faker
from forgetflow.generation.base import Prompt, SamplingParams, UnsupportedOperationError
from forgetflow.generation.config import BACKENDS
from forgetflow.generation.registry import BackendRequest
from forgetflow.hashing import stable_seed
from forgetflow.lm.prompts import first_line_end
from forgetflow.records import Completion


def falsify_record(text: str, seed: int, keep_first_line: bool = True) -> str:
    """Each "Field: value" line gets a fresh value; lines without a field become random words."""
    faker = make_faker(stable_seed(seed, text))
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        if index == 0 and keep_first_line and first_line_end(text):
            out.append(line)
            continue
        field, sep, value = line.partition(": ")
        if sep:
            fresh = fake_value(faker, field)
            while fresh == value:
                fresh = fake_value(faker, field)
            out.append(f"{field}: {fresh}")
        else:
            out.append(" ".join(faker.words(max(1, len(line.split())))))
    return "\n".join(out)


class TemplateBackend:
    """Deterministic in (seed, prompt); text prompts only; cannot score log-likelihoods."""

    name = "template"
    max_positions = None

    def __init__(self, keep_first_line: bool = True) -> None:
        self.keep_first_line = keep_first_line

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        completions = []
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise UnsupportedOperationError("the template backend takes text prompts only")
            text = falsify_record(prompt, params.seed, self.keep_first_line)
            completions.append(Completion(token_ids=(), text=text))
        return completions

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        raise UnsupportedOperationError("the template backend has no model to score text with")


@BACKENDS.register("template", serves_model=False)
@contextmanager
def open_template(request: BackendRequest) -> Iterator[TemplateBackend]:
    """No model: falsified records (the model directory is ignored)."""
    yield TemplateBackend()
