"""The acceptance's figures that bench/audit_results.py computes itself from an audit run's stored
tables (its `membership` and `audit_samples`), apart from the audit's own Figures: pooled loss
AUCs, per-sample extraction shares per exposure bucket, profiles extracted, verdict counts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.audit.verdicts import VERDICTS

MAIN_VARIANTS = ("before", "after", "retain_model")
POOLED_FROM = (1, 8)  # the acceptance's forget r >= 8 loss AUC; r >= 1 is every member


def stored_figures(tables: dict) -> dict:
    """The acceptance's figures computed here from the audit's stored tables, apart from its own
    Figures: `pooled_auc_loss`, `profiles_greedy` and `samples_extracted` (empty without the
    tables)."""
    if "membership" not in tables:
        return {}
    membership = tables["membership"].to_pylist()
    out = {"pooled_auc_loss": pooled_aucs(membership)}
    if "audit_samples" in tables:
        flags = sample_flags(tables["audit_samples"], membership)
        out["profiles_greedy"] = profiles_greedy(flags)
        out["samples_extracted"] = samples_extracted(flags)
    return out


def pooled_aucs(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{variant: {"<group> r>=<r>": loss AUC}}: the members with at least r exposures (forget and
    retain, r in POOLED_FROM) against all of the holdout, by scikit-learn on the audit's own
    scores (its membership table's rows)."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, dict[str, float]] = {}
    for variant in MAIN_VARIANTS:
        for group in ("forget", "retain"):
            mine = [r for r in rows if r["variant"] == variant and r["attack"] == "loss"
                    and r["group"] == f"{group}_vs_holdout"]  # fmt: skip
            holdout = [r["score"] for r in mine if not r["member"]]
            for least in POOLED_FROM:
                members = [r["score"] for r in mine if r["member"] and r["repetitions"] >= least]
                if members and holdout:
                    labels = [1] * len(members) + [0] * len(holdout)
                    auc = roc_auc_score(labels, members + holdout)
                    out.setdefault(variant, {})[f"{group} r>={least}"] = float(auc)
    return out


def sample_flags(samples: pa.Table, membership: list[dict]) -> dict[tuple[str, str], dict]:
    """{(variant, sample_id): split, exposures, `greedy` (its exact suffix came out greedily at
    any Carlini prefix), `leaked` (at any prefix one of 16 samples gave it; None where not
    sampled)} for the main variants, from the audit's `audit_samples` rows."""
    reps = {r["sample_id"]: r["repetitions"] for r in membership}
    carlini = pc.match_substring_regex(samples["attack"], r"^carlini_.*_(greedy_exact|leak_at_16)$")
    main = pc.is_in(samples["variant"], pa.array(MAIN_VARIANTS))
    flags: dict[tuple[str, str], dict] = {}
    for r in samples.filter(pc.and_(carlini, main)).to_pylist():
        held = flags.setdefault((r["variant"], r["sample_id"]), {
            "split": r["split"], "reps": reps.get(r["sample_id"], -1),
            "greedy": False, "leaked": None})  # fmt: skip
        if r["attack"].endswith("_greedy_exact"):
            held["greedy"] = held["greedy"] or r["value"] >= 1.0
        else:
            held["leaked"] = bool(held["leaked"]) or r["value"] >= 1.0
    return flags


def samples_extracted(flags: dict[tuple[str, str], dict]) -> dict[str, dict[str, dict]]:
    """{variant: {group: {"extraction_greedy": share, "leak_at_16": share of those sampled}}}
    per split (forget, holdout) and exposure bucket (`forget_r<r>`), over the samples asked."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for (variant, _), f in flags.items():
        groups.setdefault((variant, f["split"]), []).append(f)
        if f["reps"] >= 1:  # a member's bucket (holdout's exposures are 0)
            groups.setdefault((variant, f"{f['split']}_r{f['reps']}"), []).append(f)
    out: dict[str, dict[str, dict]] = {}
    for (variant, group), mine in groups.items():
        sampled = [f["leaked"] for f in mine if f["leaked"] is not None]
        shares = {"extraction_greedy": sum(f["greedy"] for f in mine) / len(mine)}
        if sampled:
            shares["leak_at_16"] = sum(sampled) / len(sampled)
        out.setdefault(variant, {})[group] = shares
    return out


def profiles_greedy(flags: dict[tuple[str, str], dict]) -> dict[str, dict[str, list[int]]]:
    """{variant: {"r<r>": [profiles extracted, profiles]}}: a forget profile (its windows
    `<id>#<k>` together) counts once any window's exact suffix came out greedily at any Carlini
    prefix."""
    found: dict[str, dict[tuple[str, int], bool]] = {}
    for (variant, sample_id), f in flags.items():
        if f["split"] != "forget":
            continue
        document, _, k = sample_id.rpartition("#")
        key = (document if k.isdigit() else sample_id, f["reps"])
        mine = found.setdefault(variant, {})
        mine[key] = mine.get(key, False) or f["greedy"]
    out: dict[str, dict[str, list[int]]] = {}
    for variant in MAIN_VARIANTS:
        for (_, r), extracted in sorted(found.get(variant, {}).items(), key=lambda x: x[0][1]):
            held = out.setdefault(variant, {}).setdefault(f"r{r}", [0, 0])
            held[0] += extracted
            held[1] += 1
    return out


def verdict_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """{variant: {verdict: samples}} from the verdicts table, every verdict named (0 included)."""
    counts: dict[str, dict[str, int]] = {}
    for r in table.select(["variant", "verdict"]).to_pylist():
        mine = counts.setdefault(r["variant"], dict.fromkeys(VERDICTS, 0))
        mine[r["verdict"]] += 1
    return counts
