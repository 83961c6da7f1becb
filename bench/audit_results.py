"""Bench: the audit's figures per unlearning method and scenario (issue 17), into docs/results.md.

    python bench/audit_results.py [--scenarios small,smollm2] [--methods grad_ascent,grad_diff,npo]
                                  [--out-dir bench/results/audit] [--home DIR] [--threads N]
                                  [--write-results docs/results.md] [--stresses int8,int4]
                                  [--table]

Each (scenario, method) cell is one pipeline run (Prefect's ephemeral mode, as `forgetflow demo`)
with that unlearning method: the scenario's preset with its other settings kept, the preset's own
method settings where it names that method, the method's defaults otherwise; `--stresses`
replaces the audit's stresses (recorded in the cell's config). Scenarios: `tiny` and
`small` (the demo on that world), `smollm2` (the real-smollm2 preset). A cell's figures are read
from the audit's MLflow child run (its metrics and `audit_summary.json`) and written atomically to
`<out-dir>/<scenario>-<method>.json` with the command, date, machine, the method, its steps, the
run's seconds, each stage's seconds and `audit_to_unlearning_time` (the audit stage's seconds over
the unlearning stage's); a cell whose JSON exists is loaded, not run again (resume).

Per cell: for before, after and the retain model, greedy extraction and leak@16 on forget, on each
exposure bucket (`forget_r<r>`) and on holdout, field leaks, every membership attack's AUC (forget
vs holdout), the verdicts' shares and counts (share x n, n the forget group's) and the model
verdict; per document (a windowed profile counts once any window came out) the same shares per
bucket; the loss AUC per exposure bucket, forget and retain (the positive control) each against
all of the holdout, and pooled over r >= 8 and over every member (from the audit's membership
table); after.int8 / after.int4 against after on forget (greedy extraction, field leaks, loss
AUC); what comes back on half B after 10 and 50 relearning steps (`<metric>_comes_back`).

A cell also keeps the run's `utility_summary.json` (the utility stage's figures per variant).
`--refresh` computes, for cells already run, the figures this bench takes from the run's stored
tables (pooled AUCs, profiles extracted) again from those tables, and reads the utility summary
again, without running the cell.

`--write-results FILE` replaces the section `## Audit results (issue 17)` of FILE (or appends it)
with one table per scenario from the cell JSONs present, every other byte of FILE unchanged.
The Markdown is written by bench/audit_results_markdown.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import torch
from audit_results_markdown import (
    EXTRACTION,
    METHODS,
    QUANTIZED,
    replace_section,
    results_section,
    run_table,
    scenario_table,
)
from audit_stored import MAIN_VARIANTS, stored_figures, verdict_counts
from mlflow.tracking import MlflowClient

from flows.environment import configure_environment
from flows.params import PipelineConfig
from flows.presets import demo_config, load_preset
from forgetflow.atomic import write_text
from forgetflow.audit.verdicts import VERDICTS
from forgetflow.paths import resolve_paths
from storage.artifacts import ArtifactStore
from storage.tracking import PARENT_TAG, read_ref

SCENARIOS = ("tiny", "small", "smollm2")
SMOLLM2 = "real-smollm2"
RELEARNED = ("after.relearn_10", "after.relearn_50")
QUANTIZED_METRICS = ("extraction_greedy", "field_leaks", "mia_auc_loss")
DOCUMENTS = ("extraction_greedy_documents", "leak_at_16_documents")


def scenario_config(
    scenario: str, method: str, home: str | None, stresses: list[str] | None = None
) -> PipelineConfig:
    """The scenario's preset with `method`: the preset's settings of it, or its defaults; with
    `stresses`, the audit's stresses replaced by them."""
    if scenario == "smollm2":
        config = load_preset(SMOLLM2)
        config = config if home is None else config.model_copy(update={"home": home})
    else:
        config = demo_config(home, scenario)
    raw = config.model_dump()
    if stresses is not None:
        raw["audit"]["stresses"] = stresses
    if config.unlearning.method.name != method:
        raw["name"] = f"{raw['name']}-{method}"
        raw["unlearning"]["method"] = {"name": method}
    return PipelineConfig.model_validate(raw)


def stage_seconds(runs: list) -> dict[str, float]:
    """Each stage's wall seconds, from its MLflow child run's start and end."""
    return {r.info.run_name: round((r.info.end_time - r.info.start_time) / 1000, 1) for r in runs
            if r.info.end_time is not None}  # fmt: skip


def child_runs(client: MlflowClient, parent_run_id: str) -> list:
    """The stage runs of a pipeline run."""
    parent = client.get_run(parent_run_id)
    return client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'")  # fmt: skip


def audit_run(
    tracking_uri: str, parent_run_id: str, home: str | None
) -> tuple[dict, dict, dict, dict, dict]:
    """The audit child run's metrics, its `audit_summary.json`, the verdict counts per variant
    (from its verdicts table), every stage's seconds and the acceptance's figures recomputed from
    its stored tables (`stored_figures`)."""
    client = MlflowClient(tracking_uri)
    runs = child_runs(client, parent_run_id)
    run = next(r for r in runs if r.info.run_name == "audit")
    with tempfile.TemporaryDirectory(prefix="audit-results-") as scratch:
        path = client.download_artifacts(run.info.run_id, "audit_summary.json", scratch)
        summary = json.loads(Path(path).read_text())
        tables = {}
        for role in ("verdicts", "membership", "audit_samples"):
            if f"artifact.{role}.uri" in run.data.tags:
                ref = read_ref(client, run.info.run_id, role, scratch)
                tables[role] = ArtifactStore(resolve_paths(home).artifacts).get_table(ref)
    counts = verdict_counts(tables["verdicts"]) if "verdicts" in tables else {}
    return dict(run.data.metrics), summary, counts, stage_seconds(runs), stored_figures(tables)


def run_figures(record: dict) -> dict:
    """A cell's run beyond its audit, from MLflow: the report's c(D_f) and model utility per
    variant, the unlearning run's steps and stop, and each stage's seconds."""
    client = MlflowClient(record["tracking_uri"])
    parent = client.get_run(record["parent_run_id"]).data.metrics
    runs = child_runs(client, record["parent_run_id"])
    unlearning = next(r for r in runs if r.info.run_name == "run_unlearning")
    report = {k.removeprefix("report/"): v for k, v in parent.items() if k.startswith("report/")}
    steps = client.get_metric_history(unlearning.info.run_id, "forget_ma_mean")
    return {
        "report": report,
        "stopped_by": unlearning.data.tags.get("stopped_by"),
        "scored_steps": [m.step for m in steps],
        "stage_seconds": record["stage_seconds"],
    }


def utility_summary(tracking_uri: str, parent_run_id: str) -> dict | None:
    """The run's `utility_summary.json` (its evaluate_utility child run's), None without."""
    client = MlflowClient(tracking_uri)
    runs = child_runs(client, parent_run_id)
    run = next((r for r in runs if r.info.run_name == "evaluate_utility"), None)
    if run is None or "utility_summary.json" not in {
        f.path for f in client.list_artifacts(run.info.run_id)
    }:
        return None  # a run from before the utility stage logged its summary
    with tempfile.TemporaryDirectory(prefix="audit-results-") as scratch:
        path = client.download_artifacts(run.info.run_id, "utility_summary.json", scratch)
        return json.loads(Path(path).read_text())


def by_variant(metrics: dict[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    """`audit/<variant>/<group>/<metric>` keys as {variant: {group: {metric: value}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == "audit":
            out.setdefault(parts[1], {}).setdefault(parts[2], {})[parts[3]] = value
    return out


def bucket_groups(groups: dict[str, dict[str, float]]) -> list[str]:
    """forget, its exposure buckets by r, holdout: the groups present among them."""
    buckets = sorted((g for g in groups if re.fullmatch(r"forget_r\d+", g)),
                     key=lambda g: int(g.removeprefix("forget_r")))  # fmt: skip
    return [g for g in ("forget", *buckets, "holdout") if g in groups]


def variant_figures(groups: dict[str, dict[str, float]], summary: dict, counts: dict) -> dict:
    """A main variant's figures: extraction per bucket, MIA AUCs with their 95% intervals,
    verdict shares and counts, model verdict."""
    forget = groups.get("forget", {})
    shares = {v: forget[f"verdict_{v}_share"] for v in VERDICTS if f"verdict_{v}_share" in forget}
    mia = groups.get("forget_vs_holdout", {})
    return {
        "n": summary.get("n"),
        "verdict_n": sum(counts.values()) if counts else None,
        "extraction": {
            g: {m: groups[g][m] for m in EXTRACTION if m in groups[g]}
            for g in bucket_groups(groups)
        },
        "documents": {
            g: {m: groups[g][m] for m in DOCUMENTS if m in groups[g]}
            for g in bucket_groups(groups)
            if any(m in groups[g] for m in DOCUMENTS)
        },
        "mia_auc_loss_buckets": {
            g: groups[g]["mia_auc_loss"]
            for g in sorted(groups, key=bucket_order)
            if re.fullmatch(r"(forget|retain)_r\d+_vs_holdout", g) and "mia_auc_loss" in groups[g]
        },
        "positive_control_auc_loss": groups.get("retain_vs_holdout", {}).get("mia_auc_loss"),
        "field_leaks": forget.get("field_leaks"),
        "mia_auc": {m.removeprefix("mia_auc_"): v for m, v in mia.items() if is_auc(m)},
        "mia_auc_ci": {
            m.removeprefix("mia_auc_"): [mia.get(f"{m}_low"), mia.get(f"{m}_high")]
            for m in mia
            if is_auc(m)
        },
        "verdict_shares": shares,
        "verdict_counts": counts,
        "model_verdict": summary.get("model_verdict"),
    }


def bucket_order(group: str) -> tuple[str, int]:
    """`forget_r8_vs_holdout` before `forget_r16_vs_holdout`; splits by name."""
    split, _, rest = group.partition("_r")
    return split, int(rest.split("_")[0]) if rest[:1].isdigit() else -1


def is_auc(metric: str) -> bool:
    """An attack's AUC, not one of its interval's ends."""
    return metric.startswith("mia_auc_") and not metric.endswith(("_low", "_high"))


def cell_figures(
    metrics: dict[str, float], summary: dict, counts: dict, stored: dict | None = None
) -> dict:
    """The figures of one cell (see the module), from the audit run's metrics, its summary, its
    verdict counts and the figures computed from its stored tables (`stored_figures`)."""
    groups = by_variant(metrics)
    labels = summary["variants"]
    relearned = {}
    for label in RELEARNED:
        mine = groups.get(label, {})
        back = mine.get("forget_half_b", {}) | mine.get("forget_half_b_vs_holdout", {})
        relearned[label] = {m: v for m, v in sorted(back.items()) if is_back(m)}
    return {
        "variants": {
            v: variant_figures(groups.get(v, {}), labels.get(v, {}), counts.get(v, {}))
            for v in MAIN_VARIANTS
            if v in groups
        },
        "quantized": {
            v: {m: quantized(groups[v], m) for m in QUANTIZED_METRICS}
            for v in ("after", *QUANTIZED)
            if v in groups
        },
        "relearned": {v: back for v, back in relearned.items() if back},
        **(stored or {}),
        "model_verdict": summary.get("model_verdict"),
        "model_verdict_reason": summary.get("model_verdict_reason"),
    }


def is_back(metric: str) -> bool:
    """A `<metric>_comes_back` figure, not one of its interval's ends."""
    return metric.endswith("_comes_back") and not metric.endswith(
        ("_low_comes_back", "_high_comes_back")
    )


def quantized(groups: dict[str, dict[str, float]], metric: str) -> float | None:
    """A rounded variant's figure on forget (an AUC: forget vs holdout)."""
    group = "forget_vs_holdout" if metric.startswith("mia_auc_") else "forget"
    return groups.get(group, {}).get(metric)


def run_cell(
    scenario: str, method: str, home: str | None, command: str, stresses: list[str] | None
) -> dict:
    """Run the pipeline for one cell and return its JSON record."""
    config = scenario_config(scenario, method, home, stresses)
    configure_environment(resolve_paths(config.home))
    from flows.unlearning_pipeline import unlearning_pipeline  # after the environment is set

    start = time.perf_counter()
    result = unlearning_pipeline(config)
    seconds = time.perf_counter() - start
    found = audit_run(result.tracking_uri, result.parent_run_id, config.home)
    metrics, summary, counts, stages, stored = found
    ratio = stages["audit"] / stages["run_unlearning"] if stages.get("run_unlearning") else None
    return {
        "bench": "audit_results", "scenario": scenario, "method": method, "command": command,
        "date": now(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "config": {"name": config.name, "method": config.unlearning.method.model_dump(),
                   "steps": config.unlearning.training.steps,
                   "stresses": config.audit.stresses},
        "seconds": round(seconds, 1), "stage_seconds": stages,
        "audit_to_unlearning_time": None if ratio is None else round(ratio, 2),
        "tracking_uri": result.tracking_uri, "parent_run_id": result.parent_run_id,
        "figures": cell_figures(metrics, summary, counts, stored),
        "audit_metrics": metrics,
        "audit_summary": summary,
        "verdict_counts": counts,
        "utility_summary": utility_summary(result.tracking_uri, result.parent_run_id),
    }  # fmt: skip


def cell(
    scenario: str,
    method: str,
    out_dir: Path,
    home: str | None,
    command: str,
    refresh: bool,
    stresses: list[str] | None = None,
) -> dict:
    """A cell's record: loaded when its JSON exists (with `refresh`, its figures computed from
    the run's stored tables are computed again and written back), else run and written
    atomically."""
    path = out_dir / f"{scenario}-{method}.json"
    if not path.exists():
        print(f"{scenario} / {method}: running", file=sys.stderr)
        record = run_cell(scenario, method, home, command, stresses)
        write_text(path, json.dumps(record, indent=1) + "\n")
        print(f"{scenario} / {method}: {record['seconds']} s -> {path}", file=sys.stderr)
        return record
    record = json.loads(path.read_text())
    if not refresh:
        print(f"{scenario} / {method}: {path} exists, not run again", file=sys.stderr)
        return record
    *_, stored = audit_run(record["tracking_uri"], record["parent_run_id"], home)
    record["figures"] |= stored
    record["utility_summary"] = utility_summary(record["tracking_uri"], record["parent_run_id"])
    record["refreshed"] = {"command": command, "date": now()}
    write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"{scenario} / {method}: stored figures computed again -> {path}", file=sys.stderr)
    return record


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="small,smollm2", help=f"of {','.join(SCENARIOS)}")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out-dir", type=Path, default=Path("bench/results/audit"))
    parser.add_argument("--home", help="forgetflow's folder (default: FORGETFLOW_HOME's)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--write-results", type=Path, help="the results file to write into")
    refresh = "cells already run: their figures from the stored tables again"
    parser.add_argument("--refresh", action="store_true", help=refresh)
    stresses = "the audit's stresses, comma-separated ('' for none; default: the preset's)"
    parser.add_argument("--stresses", help=stresses)
    table = "print each scenario's Markdown table of the cells present for --methods, run none"
    parser.add_argument("--table", action="store_true", help=table)
    args = parser.parse_args()
    stressed = None if args.stresses is None else [s for s in args.stresses.split(",") if s]
    scenarios, methods = args.scenarios.split(","), args.methods.split(",")
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(["python", *sys.argv])
    if args.table:
        for scenario in scenarios:
            cells = present_cells(args.out_dir, scenario, methods)
            print("\n".join(scenario_table(scenario, cells, methods)))
            print(run_table({m: run_figures(r) for m, r in cells.items()}))
        return
    records = {s: {m: cell(s, m, args.out_dir, args.home, command, args.refresh, stressed)
                   for m in methods} for s in scenarios}  # fmt: skip
    if args.write_results is not None:
        found = {s: present_cells(args.out_dir, s) for s in scenarios}
        section = results_section(found, command)
        write_text(args.write_results, replace_section(args.write_results.read_text(), section))
    print(json.dumps({s: {m: r["figures"] for m, r in cells.items()}
                      for s, cells in records.items()}))  # fmt: skip


def present_cells(
    out_dir: Path, scenario: str, methods: Sequence[str] = METHODS
) -> dict[str, dict]:
    """The cell JSONs of a scenario in `out_dir`, by method."""
    paths = {m: out_dir / f"{scenario}-{m}.json" for m in methods}
    return {m: json.loads(p.read_text()) for m, p in paths.items() if p.exists()}


if __name__ == "__main__":
    main()
