"""The audit stage's entry (audit/stage.py) on the tiny world, with a cheap attack set: every
variant and stressed variant attacked, the relearned ones on half B only, what comes back after
relearning, verdicts per family against the family's retain model, and the outputs (the
per-sample table in its schema, the summary with every label and key)."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from forgetflow.audit.attacks import AuditData
from forgetflow.audit.carlini import CarliniSettings
from forgetflow.audit.config import AuditConfig
from forgetflow.audit.stage import AuditRun, run_audit
from forgetflow.audit.stresses.relearn import split_samples
from forgetflow.audit.summary import REQUIRED, audit_summary, samples_table
from forgetflow.audit.variants import HALF_B
from forgetflow.memorization.thresholds import outlier_rule
from forgetflow.records import ModelVariant, Sample
from forgetflow.schemas import table_schema
from forgetflow.unlearning.config import TrainingConfig

CHEAP = AuditConfig(
    carlini=CarliniSettings(prefixes=["first_line"], samples=2, leak_at=[1, 2]),
    mia_attacks=["loss", "min_kpp_20", "reference"], stressed_attacks=["loss", "min_kpp_20"],
    stresses=["int8", "relearn_10"],
)  # fmt: skip


def world_samples(world, split: str) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows]


@pytest.fixture(scope="module")
def audited(tiny_world, tmp_path_factory):
    data = AuditData(*(world_samples(tiny_world, s) for s in ("forget", "retain", "holdout")))
    variants = [ModelVariant("before", tiny_world.model_dir),
                ModelVariant("after", tiny_world.model_dir, "before"),
                ModelVariant("retain_model", tiny_world.retain_model_dir)]  # fmt: skip
    work = tmp_path_factory.mktemp("audit")
    run = AuditRun(variants, "after", work, outlier_rule(), seed=0,
                   training=TrainingConfig(lr=1e-3, batch_size=4))  # fmt: skip
    return data, work, run_audit(data, run, CHEAP)


def test_every_variant_and_stress_is_attacked_and_the_scratch_is_removed(audited) -> None:
    _, work, found = audited
    labels = [t.label for t in found.attacked]
    assert labels == ["before", "after", "retain_model", "after.int8", "after.relearn_10",
                      "retain_model.relearn_10"]  # fmt: skip
    assert set(found.carlini["variant"].to_pylist()) == set(labels)
    assert found.records["after.int8"]["bits"] == 8
    assert found.records["after.relearn_10"]["steps"] == 10
    assert not list(work.glob("stressed-*"))  # the stressed models are scratch


def test_relearned_variants_are_attacked_on_half_b_only(audited) -> None:
    data, _, found = audited
    half_b = {s.sample_id for s in split_samples(data.forget, 0)[1]}
    table = found.carlini
    for label in ("after.relearn_10", "retain_model.relearn_10"):
        rows = table.filter(pc.equal(table["variant"], label))
        forget = {r["sample_id"] for r in rows.to_pylist() if r["split"] == "forget"}
        assert forget == half_b
    after = table.filter(pc.equal(table["variant"], "after"))
    assert {r["sample_id"] for r in after.to_pylist() if r["split"] == "forget"} > half_b


def test_half_b_figures_and_what_comes_back(audited) -> None:
    _, _, found = audited
    by_key = {(f.variant, f.group, f.metric): f for f in found.figures}
    for variant in ("before", "after", "after.relearn_10", "retain_model.relearn_10"):
        assert (variant, HALF_B, "extraction_greedy") in by_key
        assert (variant, f"{HALF_B}_vs_holdout", "mia_auc_loss") in by_key
    assert ("after.relearn_10", HALF_B, "extraction_greedy") in by_key
    assert ("after.relearn_10", "forget", "extraction_greedy") not in by_key
    back = by_key[("after.relearn_10", HALF_B, "extraction_greedy_comes_back")]
    mine = by_key[("after.relearn_10", HALF_B, "extraction_greedy")].value
    control = by_key[("retain_model.relearn_10", HALF_B, "extraction_greedy")].value
    assert back.value == pytest.approx(mine - control)
    # the relearned subject's privleak is against the retain model relearned the same way
    assert ("after.relearn_10", f"{HALF_B}_vs_holdout", "privleak_loss") in by_key
    assert ("after.int8", "forget_vs_holdout", "privleak_loss") in by_key


def test_verdicts_per_family_against_its_retain_model(audited) -> None:
    _, _, found = audited
    verdicts = found.verdicts
    assert set(verdicts["variant"].to_pylist()) == {t.label for t in found.attacked}
    relearned = found.models["after.relearn_10"]
    control = found.models["retain_model.relearn_10"]
    assert relearned.baseline == control.detectable  # the family's baseline, not retain_model's
    assert found.models["after.int8"].baseline == found.models["retain_model"].detectable
    # the unlearning "after" here is the target itself: its r=32 profiles are still extractable
    assert found.models["after"].verdict == "fail" and found.models["after"].extractable > 0


def test_outputs_hold_their_schema_and_every_summary_key(audited) -> None:
    _, _, found = audited
    table = samples_table(found)
    assert table.schema.equals(table_schema("audit_samples").schema)
    attacks = set(table["attack"].to_pylist())
    assert {"verdict", "mia_loss", "carlini_first_line_greedy_exact",
            "carlini_first_line_leak_at_2", "greedy_remainder_exact"} <= attacks  # fmt: skip
    assert any(a.startswith("field_leak_") for a in attacks)
    summary = audit_summary(found, "after")
    assert set(summary["variants"]) == {"before", "after", "retain_model", "int8", "relearn_10",
                                        "retain_model.relearn_10"}  # fmt: skip
    for entry in summary["variants"].values():
        assert set(REQUIRED) <= set(entry)
    assert summary["variants"]["relearn_10"]["group"] == HALF_B
    assert summary["variants"]["int8"]["leak_at_16"] is None  # stressed: greedy only
    assert summary["model_verdict"] == found.models["after"].verdict


def test_membership_per_exposure_bucket_against_all_of_the_holdout(audited) -> None:
    """forget_r<r>_vs_holdout: scikit-learn's AUC of that bucket's members against every holdout
    sample, on the same scores; the pooled buckets' AUC is their member-weighted mean."""
    _, _, found = audited
    by_key = {(f.variant, f.group, f.metric): f for f in found.figures}
    mia = found.membership
    for variant, group in (("before", "forget"), ("retain_model", "retain")):
        mine = pc.and_(pc.equal(mia["variant"], variant),
                       pc.equal(mia["group"], f"{group}_vs_holdout"))  # fmt: skip
        rows = mia.filter(mine).to_pylist()
        scores = [r for r in rows if r["attack"] == "loss"]
        holdout = [r["score"] for r in scores if not r["member"]]
        buckets = sorted({r["repetitions"] for r in scores if r["member"]})
        assert len(buckets) > 2
        weighted = 0.0
        for r in buckets:
            members = [s["score"] for s in scores if s["member"] and s["repetitions"] == r]
            expected = roc_auc_score([1] * len(members) + [0] * len(holdout), members + holdout)
            auc = by_key[(variant, f"{group}_r{r}_vs_holdout", "mia_auc_loss")]
            assert auc.value == pytest.approx(expected, abs=1e-12)
            assert auc.n == len(members) + len(holdout)
            weighted += auc.value * len(members)
        pooled = by_key[(variant, f"{group}_vs_holdout", "mia_auc_loss")].value
        assert pooled == pytest.approx(weighted / (len(scores) - len(holdout)), abs=1e-12)
