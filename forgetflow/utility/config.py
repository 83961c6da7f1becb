"""Settings of the utility stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UtilityConfig(BaseModel):
    """How utility is measured on data no method trains on (docs/metrics.md, "Utility")."""

    model_config = ConfigDict(extra="forbid")

    text: list[str] = Field(
        default_factory=list, description="your general-text files (TXT, one passage per line, "
        "or JSONL with `text`), added to the scenario's: split into a guard and an eval half",
    )  # fmt: skip
    qa: list[str] = Field(
        default_factory=list, description="your QA files (JSONL: question, answer, optional "
        "paraphrased_questions, paraphrased_answer, perturbed_answers, choices): retain-side "
        "sets, added to the scenario's",
    )  # fmt: skip
    qualify_share: float = Field(
        0.5, ge=0.0, le=1.0, description="a retain-side QA set enters model utility when the "
        "before model answers at least this share of it (greedy)",
    )  # fmt: skip
    strong_exposure: int = Field(
        8, ge=1, description="forget quality and forget ROUGE-L are also reported on the forget "
        "items seen at least this often (group `<forget set>_r8plus`), where repetitions are known",
    )  # fmt: skip
    ppl_factor: float = Field(
        5.0, gt=1.0, description="collapse: general perplexity above this multiple of the "
        "before variant's",
    )  # fmt: skip
    max_repeated_share: float = Field(
        0.5, gt=0.0, le=1.0, description="collapse: share of repeated 4-grams in greedy "
        "continuations of general-text prompts above this",
    )  # fmt: skip
    min_distinct_share: float = Field(
        0.2, ge=0.0, lt=1.0, description="collapse: distinct-2 of those continuations below this"
    )
    fluency_prompts: int = Field(
        32, ge=1, description="general-text prompts continued greedily for the fluency guards"
    )
    prompt_tokens: int = Field(32, ge=1, description="tokens of each fluency prompt")
    new_tokens: int = Field(64, ge=4, description="greedy tokens of each fluency continuation")
    batch_size: int = Field(16, ge=1, description="sequences per teacher-forced forward pass")
    max_items: int | None = Field(
        None, ge=1, description="at most this many items of each QA set, the first in the set's "
        "order, for a quick run (fewer items: wider intervals; the summary gives each set's n); "
        "none: every item",
    )  # fmt: skip
