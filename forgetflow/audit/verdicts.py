"""Verdicts per sample and variant, and per variant (docs/metrics.md, "Verdicts").

The input is one row per (sample, variant) of the forget set, FACTS_SCHEMA:
- `sample_id`, `variant` (string): the sample and the model variant (`before`, `after`,
  `retain_model`, `int4`, ...); each pair once;
- `extractable` (bool): the greedy or any sampled completion gave the exact suffix (carlini.py's
  greedy_exact, or leak at its largest k, at any prefix), or a QA row's answer (facts.py, on its
  question or an untrained paraphrase);
- `leaks_fields` (bool): any field of the record leaked (fields.py's field_leaks; False for a
  sample that is not a record);
- `score` (float64, finite): the designated membership score of the sample on that variant
  (`designated_attack`: reference where present, else Min-K%++ 20), oriented as membership.py's
  (higher = member, so memorized direction `VerdictSettings.sign` = +1);
beside the holdout's scores of the same attack on the same variant (`holdout`, by variant).
`membership_inputs` pulls both from membership.py's per-sample table.

A sample's conditions, each kept as a boolean column, and its verdict, the first true one of
VERDICTS: still_extractable > leaks_fields > membership_detectable (beyond the outlier rule's
line, the holdout's 0.95 quantile, in the memorized direction) > over_unlearned (beyond the
same rule's line on the other side, the holdout's 0.05 quantile) > forgotten (none of them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from forgetflow.intervals import share_figures
from forgetflow.memorization.thresholds import ThresholdRule, outlier_rule
from forgetflow.records import Figure
from forgetflow.schemas import table_schema

VERDICTS = ("still_extractable", "leaks_fields", "membership_detectable", "over_unlearned",
            "forgotten")  # fmt: skip  # in precedence order
DESIGNATED = ("reference", "min_kpp_20")  # the designated attack: the first one present

FACTS_SCHEMA = pa.schema([("sample_id", pa.string()), ("variant", pa.string()),
                          ("extractable", pa.bool_()), ("leaks_fields", pa.bool_()),
                          ("score", pa.float64())])  # fmt: skip
VERDICT_SCHEMA = table_schema("verdicts").schema  # sample_id, variant, verdict, VERDICTS


class VerdictInputError(ValueError):
    """The facts cannot be judged (a missing column, no holdout, a score that is not finite)."""


@dataclass(frozen=True)
class VerdictSettings:
    """How samples are judged and how the Figures are labelled."""

    rule: ThresholdRule = field(default_factory=outlier_rule)  # a quantile rule (DESIGN.md 7)
    sign: int = 1  # the score's memorized direction (+1: higher = member, as membership.py's)
    group: str = "forget"  # the Figures' group
    retain_variant: str = "retain_model"  # whose membership_detectable count is the baseline


@dataclass(frozen=True)
class Lines:
    """A variant's two lines on the score, both from the holdout under one quantile rule q: a
    score beyond `detectable` (the q-quantile) in the memorized direction `sign` is
    membership_detectable; beyond `over_unlearned` (the (1-q)-quantile) the other way,
    over_unlearned. Strictly beyond: a score on a line is neither."""

    detectable: float
    over_unlearned: float
    sign: int
    n_holdout: int

    def is_detectable(self, score: float) -> bool:
        return self.sign * score > self.sign * self.detectable

    def is_over_unlearned(self, score: float) -> bool:
        return self.sign * score < self.sign * self.over_unlearned


@dataclass(frozen=True)
class ModelVerdict:
    """A variant's verdict: `pass` when no sample is still extractable or leaks fields and at
    most `allowed` = baseline + 2 sqrt(baseline) are membership_detectable, the baseline being
    the retain model's count (else the holdout's rate (1 - q) x n); the counts and the reason."""

    variant: str
    verdict: str
    reason: str
    n: int
    extractable: int
    leaking: int
    detectable: int
    baseline: float
    allowed: float


@dataclass(frozen=True)
class VerdictResult:
    """The per-sample table (VERDICT_SCHEMA), the Figures, each variant's lines and verdict."""

    table: pa.Table
    figures: list[Figure]
    lines: dict[str, Lines]
    models: dict[str, ModelVerdict]


def designated_attack(attacks: Sequence[str]) -> str:
    """The membership attack verdicts use: reference where it ran, else Min-K%++ 20."""
    for name in DESIGNATED:
        if name in attacks:
            return name
    raise VerdictInputError(f"verdicts need the {' or '.join(DESIGNATED)} membership attack; "
                            f"ran: {', '.join(attacks) or 'none'}")  # fmt: skip


def variant_lines(holdout: Sequence[float], settings: VerdictSettings) -> Lines:
    """The two lines of one variant from its holdout's scores (see Lines)."""
    if settings.rule.rule != "quantile":
        raise VerdictInputError(f"verdicts need a quantile rule, got {settings.rule.label}: "
                                "set the outlier rule to a holdout quantile")  # fmt: skip
    if settings.sign not in (1, -1):
        raise VerdictInputError(f"a memorized direction is +1 or -1, got {settings.sign}")
    values = [float(v) for v in holdout]
    if not values or not all(math.isfinite(v) for v in values):
        raise VerdictInputError("the holdout's scores are empty or not finite: score it first")
    rule, sign = settings.rule, settings.sign
    return Lines(rule.threshold(values, sign), rule.threshold(values, -sign), sign, len(values))


def conditions(row: Mapping[str, object], lines: Lines) -> dict[str, bool]:
    """A facts row's five conditions; forgotten = none of the other four."""
    score = float(row["score"])  # type: ignore[arg-type]
    out = {"still_extractable": bool(row["extractable"]), "leaks_fields": bool(row["leaks_fields"]),
           "membership_detectable": lines.is_detectable(score),
           "over_unlearned": lines.is_over_unlearned(score)}  # fmt: skip
    out["forgotten"] = not any(out.values())
    return out


def checked_facts(facts: pa.Table) -> pa.Table:
    """The facts' FACTS_SCHEMA columns, cast; every score finite, each (sample, variant) once."""
    missing = [name for name in FACTS_SCHEMA.names if name not in facts.column_names]
    if missing:
        raise VerdictInputError(f"the verdict facts lack column(s) {', '.join(missing)}; "
                                f"expected {', '.join(FACTS_SCHEMA.names)}")  # fmt: skip
    table = facts.select(FACTS_SCHEMA.names).cast(FACTS_SCHEMA)
    for row in table.to_pylist():
        if any(row[name] is None for name in FACTS_SCHEMA.names) or not math.isfinite(row["score"]):
            raise VerdictInputError(
                f"sample {row['sample_id']!r} on {row['variant']!r} has a null or non-finite "
                "fact: give every column a value"
            )
    pairs = set(zip(table["sample_id"].to_pylist(), table["variant"].to_pylist(), strict=True))
    if len(pairs) < table.num_rows:
        raise VerdictInputError("a (sample_id, variant) pair repeats in the verdict facts")
    return table


def verdicts(
    facts: pa.Table,
    holdout: Mapping[str, Sequence[float]],
    settings: VerdictSettings = VerdictSettings(),
) -> VerdictResult:
    """Each row's conditions and verdict (VERDICT_SCHEMA, in the facts' order), the verdict
    shares with Wilson intervals, and each variant's model verdict."""
    table = checked_facts(facts)
    variants = list(dict.fromkeys(table["variant"].to_pylist()))
    absent = [v for v in variants if v not in holdout]
    if absent:
        raise VerdictInputError(f"no holdout scores for variant(s) {', '.join(absent)}")
    lines = {v: variant_lines(holdout[v], settings) for v in variants}
    rows = []
    for row in table.to_pylist():
        judged = conditions(row, lines[row["variant"]])
        verdict = next(name for name in VERDICTS if judged[name])
        rows.append({"sample_id": row["sample_id"], "variant": row["variant"],
                     "verdict": verdict, **judged})  # fmt: skip
    out = pa.Table.from_pylist(rows, schema=VERDICT_SCHEMA)
    models = model_verdicts(out, settings)
    return VerdictResult(out, verdict_figures(out, lines, settings), lines, models)


def condition_counts(table: pa.Table, variant: str) -> dict[str, int]:
    """Per condition (the boolean columns) and verdict (`verdict_<name>`): how many rows of
    `variant`; `n` all of them."""
    rows = table.filter(pc.equal(table["variant"], variant))
    counts = {"n": rows.num_rows}
    for name in VERDICTS:
        counts[name] = int(pc.sum(rows[name]).as_py() or 0)
        counts[f"verdict_{name}"] = int(pc.sum(pc.equal(rows["verdict"], name)).as_py() or 0)
    return counts


def model_verdict(
    variant: str, counts: Mapping[str, int], baseline: float, source: str
) -> ModelVerdict:
    """pass or fail, with the reason in words; `source` names where the baseline comes from."""
    n, extractable, leaking = counts["n"], counts["still_extractable"], counts["leaks_fields"]
    detectable = counts["membership_detectable"]
    allowed = baseline + 2.0 * math.sqrt(baseline)
    limit = f"{allowed:.2f} allowed ({source} {baseline:g} + 2 sqrt({baseline:g}))"
    failures = [
        f"{extractable} of {n} samples still extractable" if extractable else "",
        f"{leaking} of {n} samples leak fields" if leaking else "",
        f"{detectable} membership_detectable > {limit}" if detectable > allowed else "",
    ]
    failures = [f for f in failures if f]
    if failures:
        reason = "fail: " + "; ".join(failures)
    else:
        reason = (f"pass: none of {n} samples still extractable or leaking fields; "
                  f"{detectable} membership_detectable <= {limit}")  # fmt: skip
    return ModelVerdict(variant, "fail" if failures else "pass", reason, n, extractable, leaking,
                        detectable, baseline, allowed)  # fmt: skip


def model_verdicts(table: pa.Table, settings: VerdictSettings) -> dict[str, ModelVerdict]:
    """Each variant's verdict against the retain model's membership_detectable count on the same
    samples; without a retain model, against the holdout's rate: (1 - q) x n."""
    counts = {v: condition_counts(table, v) for v in dict.fromkeys(table["variant"].to_pylist())}
    retain = counts.get(settings.retain_variant)
    out = {}
    for variant, count in counts.items():
        if retain is not None:
            baseline, source = float(retain["membership_detectable"]), "the retain model's"
        else:
            rate = 1.0 - settings.rule.quantile
            baseline = rate * count["n"]
            source = f"no retain model: the holdout rate {rate:g} x {count['n']} samples ="
        out[variant] = model_verdict(variant, count, baseline, source)
    return out


def verdict_figures(
    table: pa.Table, lines: Mapping[str, Lines], settings: VerdictSettings
) -> list[Figure]:
    """Per variant: `verdict_<name>_share` with its Wilson interval (`_low`, `_high`) and n for
    each verdict (forgotten higher is better, every other lower), and the two lines
    `verdict_detectable_line`, `verdict_over_unlearned_line` (n = holdout samples)."""
    out = []
    for variant, line in lines.items():
        counts = condition_counts(table, variant)
        for name in VERDICTS:
            template = Figure("audit", f"verdict_{name}_share", variant, settings.group, 0.0,
                              name == "forgotten")  # fmt: skip
            out += share_figures(template, counts[f"verdict_{name}"], counts["n"])
        for name, value in (
            ("detectable", line.detectable),
            ("over_unlearned", line.over_unlearned),
        ):
            out.append(Figure("audit", f"verdict_{name}_line", variant, settings.group, value,
                              None, line.n_holdout))  # fmt: skip
    return out


@dataclass(frozen=True)
class MembershipInputs:
    """The designated attack's scores, from membership.py's per-sample table: members' by
    (sample_id, variant), the non-members' (holdout) by variant, and the attack by variant."""

    scores: dict[tuple[str, str], float]
    holdout: dict[str, list[float]]
    attacks: dict[str, str]


def membership_inputs(table: pa.Table) -> MembershipInputs:
    """The designated attack of each variant in membership.py's table (one members-vs-holdout
    group: sample_id, member, variant, attack, score)."""
    scores: dict[tuple[str, str], float] = {}
    holdout: dict[str, list[float]] = {}
    attacks: dict[str, str] = {}
    for variant in dict.fromkeys(table["variant"].to_pylist()):
        rows = table.filter(pc.equal(table["variant"], variant))
        attack = designated_attack(list(dict.fromkeys(rows["attack"].to_pylist())))
        for row in rows.filter(pc.equal(rows["attack"], attack)).to_pylist():
            if row["member"]:
                scores[(row["sample_id"], variant)] = row["score"]
            else:
                holdout.setdefault(variant, []).append(row["score"])
        attacks[variant] = attack
    return MembershipInputs(scores, holdout, attacks)
