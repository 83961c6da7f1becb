"""Utility figures of several `forgetflow evaluate` outputs side by side, as a Markdown table
(docs/results.md): one row per (output, variant) with model utility and the sets it is over,
general-text perplexity, retain-side ROUGE-L and MCQ accuracy with their n, forget quality and
forget ROUGE-L against the retain model, and the collapse flag with its reasons.

    forgetflow evaluate --model AFTER --retain-model RETAIN --scenario records \\
        --forget FORGET.parquet --out after-npo
    python bench/utility_table.py before=before-out npo=after-npo ...

Each argument is LABEL=DIR, DIR an evaluate output (variants model and retain_model), or
LABEL=CELL.json, an audit bench cell (bench/audit_results.py) whose run's utility stage measured
before, after and the retain model. A row is named `LABEL/variant`; a retain model already shown
with the same printed figures under another label is shown once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = (
    "| model | model utility (sets) | general ppl | retain ROUGE-L (n) | MCQ accuracy (n) "
    "| forget quality (n) | forget ROUGE-L | collapsed |\n|---|---|---|---|---|---|---|---|"
)


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def row(name: str, figures: dict) -> str:
    """One variant's Markdown row from its `utility_summary.json` entry."""
    sets = ", ".join(figures.get("model_utility_sets", [])) or "none qualify"
    collapsed = "yes: " + "; ".join(figures["collapse_reasons"]) if figures["collapsed"] else "no"
    quality = figures.get("forget_quality")
    return (
        f"| {name} | {number(figures.get('model_utility'))} ({sets}) "
        f"| {number(figures.get('general_ppl'), 1)} "
        f"| {number(figures.get('retain_rouge_l'))} ({figures.get('retain_n', 0)}) "
        f"| {number(figures.get('mcq_accuracy'))} ({figures.get('mcq_n', 0)}) "
        f"| {'-' if quality is None else f'{quality:.2g}'} ({figures.get('forget_quality_n', 0)}) "
        f"| {number(figures.get('forget_rouge_l'))} | {collapsed} |"
    )


def summary_of(path: Path) -> dict | None:
    """The utility summary of an evaluate output folder or of an audit bench cell's JSON."""
    if path.is_dir() and (path / "utility_summary.json").is_file():
        return json.loads((path / "utility_summary.json").read_text())
    if path.is_file() and path.suffix == ".json":
        return json.loads(path.read_text()).get("utility_summary")
    return None


def table(summaries: dict[str, dict]) -> str:
    lines, shown = [HEADER], set()
    for label, summary in summaries.items():
        variants = summary["variants"]
        for variant, figures in variants.items():
            key = row("", figures)  # as printed
            if variant == "retain_model" and key in shown:
                continue
            shown.add(key)
            lines.append(row(f"{label}/{variant}", figures))
    return "\n".join(lines)


def main(args: list[str]) -> None:
    summaries = {}
    for arg in args:
        label, sep, path = arg.partition("=")
        summary = summary_of(Path(path)) if sep else None
        if summary is None:
            sys.exit(
                f"error: {arg!r} is not LABEL=DIR (an evaluate output) or LABEL=CELL.json "
                "(an audit bench cell with a utility summary); give one of them"
            )
        summaries[label] = summary
    print(table(summaries))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python bench/utility_table.py LABEL=DIR|CELL.json ...")
    main(sys.argv[1:])
