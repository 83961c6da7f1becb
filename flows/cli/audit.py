"""`forgetflow audit`: every attack on a model (and the variants the stresses make of it),
beside a retain model where one is given: `audit_samples.parquet` and `audit_summary.json`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from flows.environment import quiet_progress_bars

STRESS_KINDS = ("relearn", "quantize")


def stress_names(given: str) -> list[str]:
    """`--stresses relearn,quantize` (kinds) or registered names (relearn_10, int4) as stresses;
    "" or none: no stress."""
    from forgetflow.audit.stresses.registry import STRESSES

    out: list[str] = []
    for part in [p.strip() for p in given.split(",") if p.strip() and p.strip() != "none"]:
        if part in STRESS_KINDS:
            out += [n for n in STRESSES.names() if STRESSES.meta(n).get("kind") == part]
        else:
            STRESSES.get(part)  # an unknown name: one line with the registered ones
            out.append(part)
    return list(dict.fromkeys(out))


def audit(
    model: Annotated[Path, typer.Option(help="the model directory to audit (HF, safetensors)")],
    forget: Annotated[
        Path,
        typer.Option(
            help="the samples it must have forgotten (any file "
            "the loader reads: JSONL/JSON/Parquet/CSV/TXT)"
        ),
    ],
    holdout: Annotated[
        Path, typer.Option(help="non-members of the same kind (the attacks' negatives)")
    ],
    out: Annotated[Path, typer.Option(help="the folder to write (must not hold an audit)")],
    retain: Annotated[
        Path | None,
        typer.Option(help="samples it must keep: the membership attacks' positive control"),
    ] = None,
    retain_model: Annotated[
        Path | None, typer.Option(help="a model trained without the forget set: the gold standard")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="the reference attack's model (else the retain model)")
    ] = None,
    stresses: Annotated[
        str,
        typer.Option(
            help="comma-separated: relearn, quantize or stress "
            "names (relearn_10, relearn_50, int8, int4)"
        ),
    ] = "",
    backend: Annotated[
        str,
        typer.Option(help="who decodes the extraction attacks: hf or vllm (a server it starts)"),
    ] = "hf",
    samples: Annotated[
        int, typer.Option(min=1, help="sampled completions per prefix (leak@k up to this k)")
    ] = 16,
    seed: Annotated[int, typer.Option(help="neighbours, sampled completions, halves")] = 0,
    window: Annotated[
        int,
        typer.Option(
            help="split longer text rows into windows <id>#<k> (as the pipeline's ingest does)"
        ),
    ] = 200,
) -> None:
    """Attack MODEL on FORGET against HOLDOUT: extraction (greedy, Carlini prefixes, sampled
    leak@k), field leaks, membership inference, stresses, and a verdict per sample and model."""
    from flows.cli.errors import fail
    from flows.cli.score import write_atomically
    from forgetflow.atomic import staged_dir
    from forgetflow.audit.attacks import AuditData
    from forgetflow.audit.carlini import CarliniSettings
    from forgetflow.audit.config import AuditConfig
    from forgetflow.audit.stage import AuditRun, run_audit
    from forgetflow.audit.summary import audit_summary, samples_table
    from forgetflow.data.loaders import DataInputError, load_request
    from forgetflow.generation.config import BackendConfig
    from forgetflow.generation.server import ServerError
    from forgetflow.memorization.thresholds import outlier_rule
    from forgetflow.memorization.windows import window_samples
    from forgetflow.models.io import ModelLoadError, load_tokenizer, max_positions
    from forgetflow.records import ModelVariant

    quiet_progress_bars()
    try:
        if backend not in ("hf", "vllm"):
            raise ValueError(f"--backend must be hf or vllm, got {backend!r}")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"--out {out} exists and is not an empty folder: give a new one")
        leak_at = [k for k in (1, 4, 16) if k < samples] + [samples]
        carlini = CarliniSettings(samples=samples, seed=seed, leak_at=leak_at)
        settings = AuditConfig(stresses=stress_names(stresses), carlini=carlini,
                               generator=BackendConfig(name=backend))  # type: ignore[arg-type]  # fmt: skip
        files = {"forget": forget, "holdout": holdout} | ({"retain": retain} if retain else {})
        loaded = load_request(files)
        tokenizer = load_tokenizer(model)
        split = {name: window_samples(list(held.samples), tokenizer, window,
                                      max_length=max_positions(model))
                 for name, held in loaded.items()}  # fmt: skip
        variants = [ModelVariant("model", model)]
        if retain_model is not None:
            load_tokenizer(retain_model)  # a bad directory fails here, before any attack
            variants.append(ModelVariant("retain_model", retain_model))
        data = AuditData(split["forget"], split.get("retain", []), split["holdout"])
        if out.exists():
            out.rmdir()  # empty: the staged folder takes its place
        with staged_dir(out) as staging:
            run = AuditRun(variants, "model", staging / "work", outlier_rule(), seed,
                           reference_dir=reference)  # fmt: skip
            found = run_audit(data, run, settings)
            shutil.rmtree(staging / "work", ignore_errors=True)
            write_atomically(samples_table(found), staging / "audit_samples.parquet")
            summary = audit_summary(found, "model")
            (staging / "audit_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    except (DataInputError, ModelLoadError, ServerError, ValueError) as err:
        fail(err)
    for warning in found.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"audited {len(found.attacked)} variants on {len(data.forget)} forget samples "
               f"-> {out}")  # fmt: skip
    typer.echo(f"model verdict: {summary['model_verdict_reason'] or 'not judged'}")
