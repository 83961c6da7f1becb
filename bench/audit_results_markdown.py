"""The Markdown of bench/audit_results.py: the `## Audit results (issue 17)` section of
docs/results.md from the cell records (one table per scenario, the leak@16-vs-greedy sentence),
and its replacement in a results file with every other byte kept."""

from __future__ import annotations

import re
from collections.abc import Sequence

METHODS = ("grad_ascent", "grad_diff", "npo")
QUANTIZED = ("after.int8", "after.int4")
EXTRACTION = ("extraction_greedy", "leak_at_16")
SECTION = "## Audit results (issue 17)"
# the `_comes_back` figures in the table (the cell JSON holds them all)
BACK_SHOWN = ("extraction_greedy", "field_leaks", "token_match", "mia_auc_loss", "mia_auc_zlib",
              "mia_auc_min_k_20", "mia_auc_min_kpp_20")  # fmt: skip
VARIANTS_SHOWN = ("before", "after", "retain_model")
SHORT = {"still_extractable": "extractable", "leaks_fields": "leaks", "over_unlearned": "over",
         "membership_detectable": "detectable", "forgotten": "forgotten"}  # fmt: skip


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def pair(figures: dict) -> str:
    """`greedy / leak@16` of one group."""
    return f"{fmt(figures.get('extraction_greedy'))} / {fmt(figures.get('leak_at_16'))}"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main_rows(method: str, figures: dict, groups: list[str]) -> list[list[str]]:
    """One row per main variant: extraction per group (from the audit's stored tables where the
    cell has them, else its metrics), field leaks, AUCs, verdicts."""
    rows = []
    stored = figures.get("samples_extracted", {})
    for label, v in figures["variants"].items():
        mia = ", ".join(f"{a} {fmt(x)}" for a, x in v["mia_auc"].items()) or "-"
        n = f"{v['n']} ({v['verdict_n']})"
        counts = ", ".join(f"{SHORT[k]} {c}" for k, c in v["verdict_counts"].items()) or "-"
        shares = stored.get(label, v["extraction"])
        extraction = [pair(shares.get(g, {})) for g in groups]
        rows.append([method, label, n, *extraction, fmt(v["field_leaks"]), mia,
                     counts, v["model_verdict"] or "-"])  # fmt: skip
    return rows


def stress_rows(method: str, figures: dict, groups: list[str]) -> list[list[str]]:
    """after.int8 / after.int4 on forget (greedy, field leaks, loss AUC) and what comes back
    after relearning (half B, against the relearned retain model)."""
    rows, blank = [], ["-"] * (len(groups) - 1)
    for label in QUANTIZED:
        q = figures["quantized"].get(label)
        if q is not None:
            forget = f"{fmt(q['extraction_greedy'])} / -"
            rows.append([method, label, "", forget, *blank, fmt(q["field_leaks"]),
                         f"loss {fmt(q['mia_auc_loss'])}", "", ""])  # fmt: skip
    for label, back in figures["relearned"].items():
        shown = [m for m in BACK_SHOWN if f"{m}_comes_back" in back]
        text = ", ".join(f"{m} {signed(back[f'{m}_comes_back'])}" for m in shown)
        rows.append([method, f"{label} (comes back, half B)", "", *(["-"] * len(groups)), "",
                     text, "", ""])  # fmt: skip
    return rows


def leak_exceeds(records: list[dict]) -> tuple[int, int]:
    """(variant, group) pairs where leak@16 > greedy extraction, and all pairs with both."""
    pairs = [fig for r in records for v in r["figures"]["variants"].values()
             for fig in v["extraction"].values() if set(EXTRACTION) <= set(fig)]  # fmt: skip
    return sum(f["leak_at_16"] > f["extraction_greedy"] for f in pairs), len(pairs)


def leak_sentence(records: list[dict]) -> str:
    exceeds, total = leak_exceeds(records)
    if total == 0:
        return "No cell has both greedy extraction and leak@16."
    if exceeds == 0:
        return f"leak@16 never exceeds greedy extraction ({total} (variant, bucket) cells)."
    return f"leak@16 exceeds greedy extraction in {exceeds} of {total} (variant, bucket) cells."


def scenario_table(
    scenario: str, records: dict[str, dict], methods: Sequence[str] = METHODS
) -> list[str]:
    """A scenario's subsection: each cell's command and machine, one table (a method of
    `methods` without a cell JSON: "not run"), the leak sentence."""
    present = [records[m] for m in methods if m in records]
    groups = sorted({g for r in present for v in r["figures"]["variants"].values()
                     for g in v["extraction"]}, key=group_order)  # fmt: skip
    groups = groups or ["forget"]
    names = [g.replace("forget_r", "r=") for g in groups]
    header = [
        "method",
        "variant",
        "n",
        *(f"{g}: greedy / leak@16" for g in names),
        "field leaks",
        "MIA AUC (forget vs holdout)",
        "verdicts (counts)",
        "model verdict",
    ]
    lines = [f"### {scenario}", ""]
    for r in present:
        lines.append(f"- {r['method']}: `{r['command']}` ({r['date']}, {r['machine']['platform']},"
                     f" {r['machine']['cpu_count']} CPUs, {r['machine']['torch_threads']} torch"
                     f" threads; {r['config']['steps']} steps, {r['seconds']} s)")  # fmt: skip
    lines += ["", row(header), row(["---"] * len(header))]
    for method in methods:
        if method not in records:
            lines.append(row([method, "not run", *([""] * (len(header) - 2))]))
            continue
        figures = records[method]["figures"]
        lines += [row(r) for r in main_rows(method, figures, groups)]
        lines += [row(r) for r in stress_rows(method, figures, groups)]
    return [*lines, "", leak_sentence(present), "", *acceptance_table(present), ""]


def acceptance_table(records: list[dict]) -> list[str]:
    """Per method and main variant, the acceptance's figures, computed by the bench from the
    audit's stored tables: forget profiles extracted greedily per exposure bucket, the forget
    r >= 8 loss AUC and the positive control (retain vs holdout loss AUC, every retain member
    and r >= 8)."""
    buckets = sorted(
        {
            int(b[1:])
            for r in records
            for held in r["figures"].get("profiles_greedy", {}).values()
            for b in held
        }
    )
    header = ["method", "variant", *(f"profiles r={b}: greedy" for b in buckets),
              "loss AUC forget r>=8", "loss AUC retain vs holdout (all / r>=8)"]  # fmt: skip
    lines = [row(header), row(["---"] * len(header))]
    for r in records:
        figures = r["figures"]
        for label in figures["variants"]:
            profiles = figures.get("profiles_greedy", {}).get(label, {})
            shares = [share(profiles.get(f"r{b}")) for b in buckets]
            pooled = figures.get("pooled_auc_loss", {}).get(label, {})
            control = f"{fmt(pooled.get('retain r>=1'))} / {fmt(pooled.get('retain r>=8'))}"
            lines.append(
                row([r["method"], label, *shares, fmt(pooled.get("forget r>=8")), control])
            )
    if len(lines) == 2:
        return []
    return ["Acceptance figures, computed by the bench from the audit's stored tables (a profile "
            "counts once any of its windows came out at any prefix; AUCs against all of the "
            "holdout):", "", *lines]  # fmt: skip


def share(pair: list[int] | None) -> str:
    """`k/n (share)` of a [k, n] pair."""
    return "-" if not pair else f"{pair[0]}/{pair[1]} ({pair[0] / pair[1]:.2f})"


def group_order(group: str) -> tuple[int, int]:
    if group == "forget":
        return (0, 0)
    if group.startswith("forget_r"):
        return (1, int(group.removeprefix("forget_r")))
    return (2, 0)


def run_table(runs: dict[str, dict]) -> str:
    """Per method: c(D_f) and model utility before -> after (the retain model's), the unlearning
    run's last step with a forget MA scoring (TA scores its edits apart: "-") and its stop,
    and the unlearning and audit stages' seconds."""
    lines = [row(["method", "c(D_f) before -> after (retain model)",
                  "model utility before -> after (retain model)", "last MA scoring (stop)",
                  "unlearning s", "audit s"]), row(["---"] * 6)]  # fmt: skip
    for method, run in runs.items():
        r, seconds = run["report"], run["stage_seconds"]
        outliers = [count(r.get(f"{v}/forget/outliers")) for v in VARIANTS_SHOWN]
        utility = [fmt(r.get(f"{v}/model_utility")) for v in VARIANTS_SHOWN]
        last = run["scored_steps"][-1] if run["scored_steps"] else "-"
        lines.append(row([method, f"{outliers[0]} -> {outliers[1]} ({outliers[2]})",
                          f"{utility[0]} -> {utility[1]} ({utility[2]})",
                          f"{last} ({run['stopped_by']})", count(seconds.get("run_unlearning")),
                          count(seconds.get("audit"))]))  # fmt: skip
    return "\n".join(lines)


def results_section(records: dict[str, dict[str, dict]], cmd: str) -> str:
    """The `## Audit results (issue 17)` section from the cell records present."""
    lines = [SECTION, "", f"Command: `{cmd}` (one JSON per (scenario, method) cell, a finished "
             "cell is loaded, not rerun). Per group `greedy / leak@16`: the share of samples "
             "greedily extracted at any prefix and the share leaked within 16 samples (computed by "
             "the bench from the audit's stored `audit_samples` table); verdict "
             "counts are samples per verdict (n: the extraction's samples, in brackets the "
             "verdicts'); stresses: after.int8 / after.int4 on forget (AUC: loss), and each "
             "metric's rise on half B after relearning over the relearned "
             "retain model's (`<metric>_comes_back`).", ""]  # fmt: skip
    for scenario, cells in records.items():
        lines += scenario_table(scenario, cells)
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """`text` with its `## Audit results (issue 17)` section (to the next `## ` heading or the
    end) replaced by `section`, or `section` appended; every other byte kept."""
    start = re.search(rf"^{re.escape(SECTION)}[ \t]*$", text, flags=re.MULTILINE)
    if start is None:
        glue = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{glue}\n{section.rstrip()}\n"
    after = re.search(r"^## ", text[start.end() :], flags=re.MULTILINE)
    end = len(text) if after is None else start.end() + after.start()
    tail = "\n" if after is None else "\n\n"
    return text[: start.start()] + section.rstrip() + tail + text[end:]
