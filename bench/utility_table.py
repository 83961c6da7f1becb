"""Utility figures of several `forgetflow evaluate` outputs side by side, as a Markdown table
(docs/results.md): one row per (output, variant) with model utility and the sets it is over,
general-text perplexity, retain-side ROUGE-L and MCQ accuracy with their n, forget quality and
forget ROUGE-L against the retain model, and the collapse flag with its reasons.

    forgetflow evaluate --model AFTER --retain-model RETAIN --scenario records \\
        --forget FORGET.parquet --out after-npo
    python bench/utility_table.py before=before-out npo=after-npo ...

Each argument is LABEL=DIR; a variant row is named `LABEL/variant` (variant: model or
retain_model); a variant already shown under another label is shown once.
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


def table(outputs: dict[str, Path]) -> str:
    lines, shown = [HEADER], set()
    for label, folder in outputs.items():
        variants = json.loads((folder / "utility_summary.json").read_text())["variants"]
        for variant, figures in variants.items():
            key = json.dumps(figures, sort_keys=True, default=str)
            if variant == "retain_model" and key in shown:
                continue
            shown.add(key)
            lines.append(row(f"{label}/{variant}", figures))
    return "\n".join(lines)


def main(args: list[str]) -> None:
    outputs = {}
    for arg in args:
        label, sep, folder = arg.partition("=")
        if not sep or not (Path(folder) / "utility_summary.json").is_file():
            sys.exit(f"error: {arg!r} is not LABEL=DIR with DIR an evaluate output; give one")
        outputs[label] = Path(folder)
    print(table(outputs))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python bench/utility_table.py LABEL=DIR [LABEL=DIR ...]")
    main(sys.argv[1:])
