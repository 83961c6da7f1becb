"""`forgetflow evaluate`: utility of a model (beside a retain model where one is given) on data no
method trains on: `utility_samples.parquet` and `utility_summary.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.environment import quiet_progress_bars

if TYPE_CHECKING:
    from forgetflow.utility.sets import QASet, TextSet

WORLD_SIZES = ("tiny", "small", "base")


def scenario_sets(scenario: str, seed: int) -> tuple[list[TextSet], list[QASet]]:
    """(general text, QA sets) of a scenario given by name (a world's size, or `records`) or by
    a built world's folder."""
    from forgetflow.paths import resolve_paths
    from forgetflow.scenarios.sources import FinetunedSource, WorldSource
    from forgetflow.scenarios.utility import scenario_qa, scenario_text
    from forgetflow.scenarios.world.build import load_world, world_config
    from forgetflow.scenarios.world.utility import general_text, world_qa_sets

    folder = Path(scenario)
    if (folder / "world.json").is_file():
        world = load_world(folder)
        return [general_text(world)], world_qa_sets(world, seed)
    if scenario in WORLD_SIZES:
        source = WorldSource(world=world_config(scenario))
    elif scenario == "records":
        source = FinetunedSource()
    else:
        raise ValueError(f"--scenario {scenario!r} is no scenario: give tiny, small, base, "
                         "records or a built world's folder (holding world.json)")  # fmt: skip
    home = resolve_paths().home
    return scenario_text(source, home), scenario_qa(source, home, seed)


def forget_set(path: Path, seed: int) -> QASet:
    """A forget set from a utility QA file (JSONL rows with `question`: TOFU's metrics), or from
    any file the loader reads (records: their PII fields; QA rows: without perturbed answers)."""
    from forgetflow.data.loaders import load_split
    from forgetflow.utility.forget_quality import request_forget_set
    from forgetflow.utility.sets import read_qa_file

    if path.suffix == ".jsonl" and path.is_file():
        first = next((line for line in path.read_text().splitlines() if line.strip()), "")
        if '"question"' in first:
            return read_qa_file(path, "forget", name="forget")
    found = request_forget_set(list(load_split(path, "forget").samples), seed)
    if found is None:
        raise ValueError(f"--forget {path}: no record fields and no QA rows; give records "
                         "(one 'Field: value' line each) or QA rows")  # fmt: skip
    return found


def evaluate(
    model: Annotated[Path, typer.Option(help="the model directory to evaluate (HF, safetensors)")],
    out: Annotated[Path, typer.Option(help="the folder to write (new or empty)")],
    retain_model: Annotated[
        Path | None,
        typer.Option(help="a model trained without the forget set: forget quality's reference"),
    ] = None,  # fmt: skip
    forget: Annotated[
        Path | None, typer.Option(help="the forget set: a utility QA JSONL file, or records")
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="a scenario's utility sets: tiny, small, base (worlds), "
            "records, or a built world's folder"
        ),
    ] = None,  # fmt: skip
    utility_text: Annotated[
        list[Path] | None,
        typer.Option(help="general text: TXT (a passage per line) or JSONL `text` (repeatable)"),
    ] = None,  # fmt: skip
    utility_qa: Annotated[
        list[Path] | None,
        typer.Option(
            help="retain-side QA JSONL: question, answer, optional "
            "paraphrased_questions, paraphrased_answer, "
            "perturbed_answers, choices (repeatable)"
        ),
    ] = None,  # fmt: skip
    seed: Annotated[int, typer.Option(help="the general text's halves, Faker alternatives")] = 0,
) -> None:
    """Utility of MODEL on data no method trains on: general-text perplexity and fluency, QA
    probability, ROUGE-L, truth ratio, MCQ, model utility, the collapse flag; with a forget set
    and a retain model, forget quality (KS) and forget ROUGE-L."""
    from flows.cli.errors import fail
    from flows.cli.score import write_atomically
    from forgetflow.atomic import staged_dir
    from forgetflow.data.loaders import DataInputError
    from forgetflow.models.io import ModelLoadError, load_tokenizer
    from forgetflow.records import ModelVariant
    from forgetflow.utility.config import UtilityConfig
    from forgetflow.utility.measured import UtilityRun
    from forgetflow.utility.sets import (
        TextSet,
        UtilitySets,
        read_qa_file,
        read_text_file,
        split_general,
    )
    from forgetflow.utility.stage import run_utility

    quiet_progress_bars()
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"--out {out} exists and is not an empty folder: give a new one")
        if scenario is not None and (utility_text or utility_qa):
            raise ValueError("give --scenario or --utility-text/--utility-qa, not both")
        texts, qa = scenario_sets(scenario, seed) if scenario else ([], [])
        texts += [read_text_file(p) for p in utility_text or []]
        qa += [read_qa_file(p, "retain") for p in utility_qa or []]
        if forget is not None:
            qa.insert(0, forget_set(forget, seed))
        if not texts and not qa:
            raise ValueError("nothing to evaluate on: give --scenario, --utility-text or "
                             "--utility-qa")  # fmt: skip
        variants = [ModelVariant("model", model)]
        for path in [model] + ([retain_model] if retain_model else []):
            load_tokenizer(path)  # a bad directory fails here, before any measurement
        if retain_model is not None:
            variants.append(ModelVariant("retain_model", retain_model))
        none = TextSet("none", (), "no general text given")
        halves = split_general(texts, seed) if texts else (none, none)
        sets = UtilitySets(*halves, tuple(qa))
        if out.exists():
            out.rmdir()  # empty: the staged folder takes its place
        with staged_dir(out) as staging:
            found = run_utility(UtilityRun(variants, sets, subject="model"), UtilityConfig())
            write_atomically(found.samples, staging / "utility_samples.parquet")
            (staging / "utility_summary.json").write_text(
                json.dumps(found.summary, indent=2) + "\n"
            )
    except (DataInputError, ModelLoadError, ValueError) as err:
        fail(err)
    entry = found.summary["variants"]["model"]
    typer.echo(f"evaluated {len(variants)} model(s) on {len(sets.qa)} QA set(s) and "
               f"{len(sets.eval.passages)} general-text passages -> {out}")  # fmt: skip
    for key in ("model_utility", "general_ppl", "forget_quality", "collapsed"):
        typer.echo(f"{key}: {entry.get(key, 'absent: ' + entry['absent'].get(key, ''))}")
