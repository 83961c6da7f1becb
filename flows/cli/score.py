"""`forgetflow score`: per-sample memorization scores of a model on a file, as Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
import typer

from flows.environment import quiet_progress_bars
from forgetflow.atomic import staged_file

DEFAULT_METRICS = "ma,loss,zlib,min_k_20,min_kpp_20"


def write_atomically(table: pa.Table, out: Path) -> None:
    """The file appears whole or not at all."""
    with staged_file(out) as staging:
        pq.write_table(table, staging)


def score_table(scores, metrics: list[str], outlier_ids: set[str] | None) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "sample_id": pa.array([s.sample_id for s in scores], pa.string())
    }
    for metric in metrics:
        columns[metric] = pa.array([s.values[metric] for s in scores], pa.float64())
    if outlier_ids is not None:
        columns["outlier"] = pa.array([s.sample_id in outlier_ids for s in scores], pa.bool_())
    return pa.table(columns)


def score(
    model: Annotated[str, typer.Option(help="a model directory (HF, safetensors)")],
    data: Annotated[Path, typer.Option(help="JSONL/JSON/Parquet/CSV or a saved HF dataset")],
    out: Annotated[Path, typer.Option(help="the Parquet file to write")],
    metrics: Annotated[str, typer.Option(help="comma-separated metric names")] = DEFAULT_METRICS,
    holdout: Annotated[
        Path | None, typer.Option(help="non-member samples: sets the outlier threshold")
    ] = None,
    outlier_metric: Annotated[str, typer.Option(help="the metric outliers are judged on")] = "ma",
    threshold: Annotated[
        str,
        typer.Option(
            help="the outlier rule: quantile:Q (5% of non-members flagged at "
            "quantile:0.95), or mean (half of them)"
        ),
    ] = "quantile:0.95",
    window: Annotated[
        int, typer.Option(help="split longer text rows into windows <id>#<k> (as ingest does)")
    ] = 200,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    generator: Annotated[
        str, typer.Option(help="who decodes extract_kK: hf, or vllm (a server it starts)")
    ] = "hf",
) -> None:
    """Score every sample of DATA with MODEL; one column per metric (+ `outlier` with a holdout)."""
    from flows.cli.errors import fail
    from forgetflow.data.loaders import DataInputError, load_request
    from forgetflow.generation.registry import BackendConfig
    from forgetflow.generation.server import ServerError
    from forgetflow.memorization.ledger import ledger_rows, outliers
    from forgetflow.memorization.metrics import (
        ScoringInputError,
        parse_metrics,
        score_samples,
        window_tail,
    )
    from forgetflow.memorization.score import extraction_backend
    from forgetflow.memorization.thresholds import ThresholdRule
    from forgetflow.memorization.windows import window_samples
    from forgetflow.models.io import ModelLoadError, load_model, max_positions

    quiet_progress_bars()
    try:
        names = [m.strip() for m in metrics.split(",") if m.strip()]
        parse_metrics(names)
        rule_name, _, q = threshold.partition(":")
        if holdout is not None and outlier_metric not in names:
            names.append(outlier_metric)
            parse_metrics(names)
        if rule_name not in ("mean", "quantile") or (rule_name == "quantile") != bool(q):
            raise ValueError(f"--threshold must be mean or quantile:Q, got {threshold!r}")
        if q and not 0 < float(q) < 1:
            raise ValueError(f"--threshold quantile must lie in (0, 1), got {q}")
        rule = ThresholdRule(rule=rule_name, quantile=float(q) if q else 0.95)  # type: ignore[arg-type]
        if out.suffix.lower() != ".parquet":
            raise ValueError(f"--out must name a .parquet file, got {out}")
        files = {"forget": data} | ({"holdout": holdout} if holdout is not None else {})
        loaded = load_request(files)
        typer.echo(f"data: {loaded['forget'].kind} rows ({data})")
        samples = list(loaded["forget"].samples)
        reference = list(loaded["holdout"].samples) if holdout is not None else []
        if generator not in ("hf", "vllm"):
            raise ValueError(f"--generator must be hf or vllm, got {generator!r}")
        backend = BackendConfig(name=generator, batch_size=batch_size)  # type: ignore[arg-type]
        loaded, tokenizer = load_model(model)
        logs = out.parent / f"{out.stem}-logs"
        units = window_samples(samples + reference, tokenizer, window, window_tail(names),
                               max_positions(model))  # fmt: skip
        with extraction_backend(backend, model, logs, (loaded, tokenizer), names) as decoder:
            scored = score_samples(loaded, tokenizer, units, batch_size, tuple(names),
                                   generator=decoder)  # fmt: skip
        forget = [s for s in scored if s.split == "forget"]
        outlier_ids = None
        if holdout is not None:  # the pipeline's rule, on a one-step ledger of these scores
            found = outliers(ledger_rows(scored, 0), 0, outlier_metric, rule)
            outlier_ids = set(found.sample_ids)
        write_atomically(score_table(forget, names, outlier_ids), out)
    except (DataInputError, ModelLoadError, ScoringInputError, ServerError, ValueError) as err:
        fail(err)
    typer.echo(f"scored {len(forget)} samples -> {out}")
    if outlier_ids is not None:
        typer.echo(
            f"outliers ({outlier_metric} beyond the holdout {threshold}): {len(outlier_ids)}"
        )
