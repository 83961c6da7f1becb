"""What the audit hands over: the per-sample table (one row per sample, variant and attack
measure: `audit_samples`) and the summary (`audit_summary.json`): per variant its headline
figures on its forget group, its model verdict, and the subject's model verdict."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import pyarrow as pa

from forgetflow.audit.leaks import slug
from forgetflow.audit.stage import AuditResult
from forgetflow.audit.variants import HALF_B, MAIN
from forgetflow.audit.verdicts import VERDICTS
from forgetflow.records import Figure
from forgetflow.schemas import table_schema

SAMPLES_SCHEMA = table_schema("audit_samples").schema
CARLINI_MEASURES = ("greedy_exact", "longest_common_run", "rouge_l", "precision_at_1_ppl",
                    "precision_at_1_zlib")  # fmt: skip
# keys every variant's summary holds (None where the attack did not run on it)
REQUIRED = ("extraction_greedy", "leak_at_16", "field_leaks", "forgotten_share", "privleak")
HEADLINE_ATTACKS = ("loss", "zlib", "min_k_20", "min_kpp_20", "neighbour")


def sample_rows(result: AuditResult) -> Iterator[dict]:
    """The rows of `audit_samples` (see the module); a measure that was not taken has no row."""
    for r in result.extraction.to_pylist():
        base = {"sample_id": r["sample_id"], "split": r["split"], "variant": r["model"]}
        yield base | {"attack": "greedy_remainder_exact", "value": float(r["exact"]), "detail": ""}
        yield base | {"attack": "greedy_remainder_token_match", "value": r["token_match"],
                      "detail": ""}  # fmt: skip
    if result.carlini is not None:
        leaks = [c for c in result.carlini.column_names if c.startswith("leak_at_")]
        measures = [*CARLINI_MEASURES, *leaks]
        for r in result.carlini.to_pylist():
            base = {"sample_id": r["sample_id"], "split": r["split"], "variant": r["variant"]}
            for name in measures:
                if r[name] is not None:
                    yield base | {"attack": f"carlini_{r['prefix']}_{name}",
                                  "value": float(r[name]), "detail": ""}  # fmt: skip
    if result.leaks is not None:
        for r in result.leaks.to_pylist():
            yield {"sample_id": r["sample_id"], "split": r["split"], "variant": r["variant"],
                   "attack": f"field_leak_{slug(r['field'])}", "value": float(r["leaked"]),
                   "detail": r["field"]}  # fmt: skip
    if result.facts is not None:
        for r in result.facts.to_pylist():
            base = {"sample_id": r["sample_id"], "split": r["split"], "variant": r["variant"],
                    "detail": f"phrasing {r['phrasing']}"}  # fmt: skip
            yield base | {"attack": "fact_greedy_given", "value": float(r["greedy_given"])}
            if r["sampled_hits"] is not None:
                yield base | {"attack": "fact_sampled_share",
                              "value": r["sampled_hits"] / r["samples"]}  # fmt: skip
    if result.membership is not None:
        for r in result.membership.to_pylist():
            base = {"sample_id": r["sample_id"], "split": r["split"], "variant": r["variant"]}
            yield base | {"attack": f"mia_{r['attack']}", "value": r["score"],
                          "detail": r["group"]}  # fmt: skip
    if result.verdicts is not None:
        for r in result.verdicts.to_pylist():
            base = {"sample_id": r["sample_id"], "split": "forget", "variant": r["variant"]}
            yield base | {"attack": "verdict", "value": 1.0, "detail": r["verdict"]}
            for name in VERDICTS:
                yield base | {"attack": f"verdict_{name}", "value": float(r[name]), "detail": ""}


def samples_table(result: AuditResult) -> pa.Table:
    """`audit_samples`: sample_id, split, variant, attack, value, detail (a verdict's name, a
    membership score's group, a field's name; "" otherwise)."""
    return pa.Table.from_pylist(list(sample_rows(result)), schema=SAMPLES_SCHEMA)


def summary_label(label: str, subject: str) -> str:
    """A variant's label in the summary: a stress of the subject by the stress's name
    (`after.int4` -> `int4`), every other label as is."""
    return label.removeprefix(f"{subject}.")


def clean(value: float | None) -> float | None:
    """JSON holds no NaN: None instead."""
    return None if value is None or not math.isfinite(value) else value


def variant_summary(label: str, family: str, figures: Sequence[Figure]) -> dict:
    """A variant's figures on its forget group (forget, or half B for a relearned variant) and
    its membership group, flat by metric, `forgotten_share` for the forgotten verdict's share,
    `n_prefixed` the samples with a Carlini prefix asked (a QA answer or a text too short for
    every prefix has none); the REQUIRED keys and each headline attack's AUC and TPR present
    (None where not run)."""
    forget = "forget" if family == MAIN else HALF_B
    groups = (forget, f"{forget}_vs_holdout")
    mine = [f for f in figures if f.variant == label and f.group in groups]
    out: dict[str, float | int | str | None] = {"group": forget}
    out |= {f.metric: clean(f.value) for f in mine}
    out["forgotten_share"] = out.pop("verdict_forgotten_share", None)
    prefixed = [f.n for f in mine if f.metric == "extraction_greedy"]
    out["n_prefixed"] = prefixed[0] if prefixed else 0  # samples with a Carlini prefix asked
    tpr = next((m for m in out if m.startswith("tpr_at_")), "tpr_at_1pct_fpr_loss")
    stem = tpr[: tpr.rindex("_fpr_") + 5]
    for attack in HEADLINE_ATTACKS:
        out.setdefault(f"mia_auc_{attack}", None)
        out.setdefault(f"{stem}{attack}", None)
    for key in REQUIRED:
        out.setdefault(key, None)
    return out


def verdict_counts(result: AuditResult, label: str) -> dict[str, int] | None:
    """How many of the variant's forget samples got each verdict (None: not judged)."""
    if result.verdicts is None:
        return None
    verdicts = [r["verdict"] for r in result.verdicts.to_pylist() if r["variant"] == label]
    return {name: verdicts.count(name) for name in VERDICTS} if verdicts else None


def audit_summary(result: AuditResult, subject: str) -> dict:
    """`{"variants": {label: {...}}, "model_verdict": ..., "model_verdict_reason": ...}`; the
    model verdict is the subject's (None when verdicts did not run)."""
    variants = {}
    for target in result.attacked:
        entry = variant_summary(target.label, target.family, result.figures)
        entry["n"] = len(target.forget)  # the forget samples it was attacked and judged on
        found = result.models.get(target.label)
        entry["verdict_counts"] = verdict_counts(result, target.label)
        entry["model_verdict"] = found.verdict if found else None
        entry["model_verdict_reason"] = found.reason if found else None
        if target.variant.parent is not None:
            entry["source"] = target.variant.parent
            entry["record"] = result.records.get(target.label, {})
        variants[summary_label(target.label, subject)] = entry
    subject_verdict = result.models.get(subject)
    return {
        "subject": subject,
        "variants": variants,
        "model_verdict": subject_verdict.verdict if subject_verdict else None,
        "model_verdict_reason": subject_verdict.reason if subject_verdict else None,
        "warnings": result.warnings,
    }
