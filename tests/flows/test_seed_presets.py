"""The seed methods from the pipeline, each by its paper preset in flows/deployments/ (slow: four
short pipeline runs on the tiny world, 3 epochs each), with their curves in MLflow."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from flows.presets import load_preset
from flows.unlearning_pipeline import unlearning_pipeline

EPOCHS = 3
CHEAP_AUDIT = {"mia_attacks": ["loss"], "carlini": None, "stresses": []}  # not what this tests
# each preset's method, the per-epoch curves its unlearning run must log (at epochs 1..3), and
# the changes that make 3 epochs show them: TAU switches to TA at once (first threshold above
# any mean), ICU embeds with the model's own hidden state (no pulled MiniLM in the slow suite)
PAPERS = {
    "paper-sga": ("sga", ("forget_ma_mean", "outliers"), {}),
    "paper-ta": ("ta", ("ta_forget_ma_mean", "ta_outliers", "ta_guard_loss"), {}),
    "paper-tau": ("tau", ("ta_forget_ma_mean", "ta_outliers"), {"first_threshold": 2.0}),
    "paper-icu": ("icu", ("forget_ma_mean", "outliers", "icu_flagged"), {"embedder": "model"}),
}


def short_run(preset: str, home: str, quick_utility: dict, changes: dict):
    config = load_preset(preset)
    unlearning = config.unlearning
    method = unlearning.method.model_copy(update=changes)
    training = unlearning.training.model_copy(update={"epochs": EPOCHS})
    return unlearning_pipeline(config.model_copy(update={
        "name": f"{preset}-short", "home": home,
        "unlearning": unlearning.model_copy(update={"method": method, "training": training}),
        "audit": config.audit.model_copy(update=CHEAP_AUDIT),
        "utility": config.utility.model_copy(update=quick_utility),
    }))  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PAPERS))
def test_a_paper_preset_runs_its_method_with_curves_in_mlflow(
    preset, prefect_harness, session_home, quick_utility
) -> None:
    name, curves, changes = PAPERS[preset]
    result = short_run(preset, str(session_home), quick_utility, changes)
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["config.unlearning.method.name"] == name
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    unlearning = next(r for r in children if r.info.run_name == "run_unlearning")
    assert unlearning.info.status == "FINISHED"
    for curve in curves:  # one point per epoch (full batch: one step an epoch; ICU's batch 8)
        points = client.get_metric_history(unlearning.info.run_id, curve)
        assert len({m.step for m in points if m.step > 0}) >= EPOCHS, curve
    if name == "tau":
        assert unlearning.data.metrics["tau_switch_epoch"] == 0
    assert "report/after/forget/extraction_drop_points" in result.headline
