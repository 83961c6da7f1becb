"""Where a pipeline run's model and splits come from: a built-in scenario (built once, then
reused), a facts request on the world, the user's own model and files, the user's own model
and facts file, or a pretrained model's quiz facts; `source_inputs` resolves any of them to a
model directory and one file per split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from forgetflow.models.io import check_model_dir, model_path
from forgetflow.paths import resolve_paths
from forgetflow.records import SPLITS
from forgetflow.scenarios.fact_file_request import FactFileRequest, build_fact_file_request
from forgetflow.scenarios.quiz_facts.fact_files import QuizDraw, QuizRequest, build_quiz_request
from forgetflow.scenarios.records.finetune import RecordsConfig, build_records
from forgetflow.scenarios.world.build import WorldConfig, build_world
from forgetflow.scenarios.world.fact_files import FactDraw, FactFiles, build_world_facts


class WorldSource(BaseModel):
    """The built-in memorization world (built once, then reused)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["world"] = Field("world", description="the built-in world scenario")
    world: WorldConfig = Field(
        WorldConfig(), description="the world's settings; default: the tiny world, seed 0"
    )


class FinetunedSource(BaseModel):
    """A pulled model fine-tuned on PII records (built once, then reused): its target model and
    its record splits."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["finetuned"] = Field(
        "finetuned", description="the fine-tuned records scenario (a pulled SmolLM2)"
    )
    records: RecordsConfig = Field(
        RecordsConfig(), description="the records and their fine-tuning; default: "
        "SmolLM2-135M-Instruct fine-tuned on 24 forget and 24 retain records",
    )  # fmt: skip


class FilesSource(BaseModel):
    """Your own model directory and split files (JSONL, JSON, Parquet, CSV, TXT or a saved
    dataset folder)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["files"] = Field("files", description="your own model and data files")
    model: str = Field(description="a local HF causal-LM directory, or a pulled model's name")
    forget: str = Field(description="the forget set's file: what the model must stop knowing")
    retain: str = Field(description="the retain set's file: what the model must keep")
    holdout: str = Field(description="non-members: the calibration for every threshold")
    retain_model: str | None = Field(
        None, description="a model trained like the target but without the forget set (a local "
        "HF directory): the gold standard the audit and utility compare with; none by default",
    )  # fmt: skip


class FactsSource(BaseModel):
    """A facts request on the built-in world: K of its facts to cut (fine-grained targets), each
    with keep-probes about its subject and its object (built once per setting, then reused)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["facts"] = Field("facts", description="a facts request on the built-in world")
    world: WorldConfig = Field(
        WorldConfig(), description="the world's settings; default: the tiny world, seed 0"
    )
    targets: int = Field(
        4, ge=1, description="facts to cut, drawn with `seed` among the retained people's facts "
        "seen at least `min_repetitions` times that the world's model answers",
    )  # fmt: skip
    min_repetitions: int = Field(
        8, ge=1, description="a target's least training exposures (the world gives 1 to 32)"
    )
    seed: int = Field(0, description="seed of the draw and of the keep-probes' split")
    answered_on: Literal["question", "paraphrase"] = Field(
        "paraphrase", description="what the model must answer for a fact to be drawn: question: "
        "its own question; paraphrase: its untrained paraphrase too (its evaluation's "
        "rephrasings can then qualify)",
    )  # fmt: skip
    targets_retain: bool = Field(
        True, description="train the targets-retain model (the world's model without the "
        "targets' facts; once per request): the gold standard beside before and after",
    )  # fmt: skip


class FactsFileSource(BaseModel):
    """Your own model and the facts it must stop giving: a JSONL file, one fact a line with its
    question and its keep-probes (docs/methods.md describes a line), and a holdout file of
    non-member QA rows (built once per file content and seed, then reused)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["facts_file"] = Field(
        "facts_file", description="a facts request from your own model and facts file"
    )
    model: str = Field(description="a local HF causal-LM directory, or a pulled model's name")
    facts: str = Field(
        description="the facts file (JSONL): per line subject, relation, answer, question, "
        "optional accepted, alternatives and paraphrases, and keep (keep-probes about the "
        "subject alone and about the object alone)"
    )
    holdout: str = Field(
        description="non-members (QA rows, in any format the files source reads): the "
        "calibration for every threshold"
    )
    seed: int = Field(0, description="seed of the keep-probes' split and the noisy questions")
    retain_model: str | None = Field(
        None, description="a model trained like the target but without these facts (a local "
        "HF directory): the gold standard the audit and utility compare with; none by default",
    )  # fmt: skip


class QuizFactsSource(BaseModel):
    """A pretrained model's own knowledge: `targets` capitals it answers among the quiz facts
    (forgetflow/scenarios/quiz_facts/), each with keep-probes (its country's other facts, other
    countries' capitals), and capitals it does not answer as the holdout (built once per model
    content, targets and seed, then reused). There is no retain model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["quiz_facts"] = Field(
        "quiz_facts", description="a facts request on a pretrained model's quiz facts"
    )
    model: str = Field(
        description="a pulled model's name (e.g. smollm2-135m-instruct), or a local HF "
        "causal-LM directory: the model probed on the quiz facts and unlearned"
    )
    targets: int = Field(
        3, ge=1, description="capitals to cut, among those the model answers in the most of "
        "their 4 completion wordings (ties drawn with `seed`)",
    )  # fmt: skip
    seed: int = Field(0, description="seed of the draw, the keep-probes' split and the holdout")


DataSource = Annotated[
    WorldSource | FinetunedSource | FilesSource | FactsSource | FactsFileSource | QuizFactsSource,
    Field(discriminator="kind"),
]


def facts_files(source: FactsSource, home: str | Path | None) -> tuple[FactFiles, Path | None]:
    """A facts source's request files and its targets-retain model (built or reused)."""
    world = build_world(source.world, resolve_paths(home).worlds)
    draw = FactDraw(source.targets, source.min_repetitions, source.seed,
                    source.answered_on == "paraphrase")  # fmt: skip
    return build_world_facts(world, draw, source.targets_retain)


def fact_file_request(source: FactsFileSource, home: str | Path | None) -> FactFileRequest:
    """A facts file's request (built or reused); every problem of the file is one error."""
    root = resolve_paths(home).requests
    return build_fact_file_request(Path(source.facts), Path(source.holdout), source.seed, root)


def quiz_request(source: QuizFactsSource, home: str | Path | None) -> QuizRequest:
    """A pretrained model's quiz facts request (built or reused)."""
    draw = QuizDraw(source.targets, source.seed)
    return build_quiz_request(model_path(source.model, home), draw, resolve_paths(home).requests)


def facts_request_folder(source: DataSource, home: str | Path | None) -> Path | None:
    """The folder of a facts request's request.json (its targets and questions), or None for a
    sequences request."""
    if isinstance(source, FactsSource):
        return facts_files(source, home)[0].folder
    if isinstance(source, FactsFileSource):
        return fact_file_request(source, home).folder
    if isinstance(source, QuizFactsSource):
        return quiz_request(source, home).folder
    return None


def source_inputs(source: DataSource, home: str | Path | None) -> tuple[Path, dict[str, str]]:
    """The model directory and the file of each split a source names; a scenario is built (or
    reused) first."""
    if isinstance(source, FilesSource):
        model_dir = model_path(source.model, home)
        files = {split: getattr(source, split) for split in SPLITS}
    elif isinstance(source, FactsSource):
        model_dir = build_world(source.world, resolve_paths(home).worlds).model_dir
        files = {k: str(v) for k, v in facts_files(source, home)[0].splits.items()}
    elif isinstance(source, FactsFileSource):
        model_dir = model_path(source.model, home)
        files = {k: str(v) for k, v in fact_file_request(source, home).splits.items()}
    elif isinstance(source, QuizFactsSource):
        model_dir = model_path(source.model, home)
        files = {k: str(v) for k, v in quiz_request(source, home).splits.items()}
    else:
        if isinstance(source, WorldSource):
            built = build_world(source.world, resolve_paths(home).worlds)
        else:
            built = build_records(source.records, home)
        model_dir, files = built.model_dir, {k: str(v) for k, v in built.splits.items()}
    check_model_dir(model_dir)
    return model_dir, files


def retain_model_dir(source: DataSource, home: str | Path | None) -> Path | None:
    """The retain model a source gives (a scenario always builds one; the user's files or facts
    file may name one; a pretrained model's quiz facts have none), or None."""
    if isinstance(source, FilesSource | FactsFileSource):
        return model_path(source.retain_model, home) if source.retain_model else None
    if isinstance(source, QuizFactsSource):
        return None
    if isinstance(source, WorldSource):
        return build_world(source.world, resolve_paths(home).worlds).retain_model_dir
    if isinstance(source, FactsSource):
        return facts_files(source, home)[1]
    return build_records(source.records, home).retain_model_dir
