"""Sweeps (flows/sweep.py): the grid's cells, one error line for a bad sweep, the deployed
sweeps validate, and a small sweep end to end through `forgetflow sweep`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.cli import app
from flows.presets import demo_config
from flows.sweep import SweepConfig, load_sweep
from forgetflow.paths import resolve_paths
from storage.tracking import default_tracking_uri
from tasks.reuse import REUSED_FROM

SWEEPS = Path(__file__).resolve().parents[2] / "flows" / "deployments" / "sweeps"


def base(home: str) -> dict:
    return demo_config(home).model_dump(mode="json")


def test_every_method_setting_and_seed_is_a_cell() -> None:
    sweep = SweepConfig(name="s", base=base("/tmp/h"), methods=[{"name": "grad_ascent"},
                        {"name": "sga", "stop": "per_sample"}],
                        grid={"unlearning.training.lr": [1e-5, 2e-5]}, seeds=[0, 1],
                        set={"audit.stresses": []})  # fmt: skip
    cells = sweep.cells()
    assert len(cells) == 2 * 2 * 2 and len({c.name for _, c in cells}) == 8
    assert {(c.unlearning.method.name, c.unlearning.training.lr, c.seed) for _, c in cells} == {
        (m, lr, s) for m in ("grad_ascent", "sga") for lr in (1e-5, 2e-5) for s in (0, 1)
    }
    assert all(c.audit.stresses == [] and c.home == "/tmp/h" for _, c in cells)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_deployed_sweep_validates(path: Path) -> None:
    assert load_sweep(path).cells()


def test_a_bad_cell_is_one_error_line_before_anything_runs(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"base": "demo-tiny", "methods": [{"name": "sga"}],
                                    "grid": {"unlearning.training.nope": [1]}}))  # fmt: skip
    code = app(["sweep", "--config", str(path)], standalone_mode=False)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "unlearning.training.nope" in err


@pytest.mark.slow
def test_a_sweep_runs_its_cells_and_shares_what_they_share(
    prefect_harness, session_home, tmp_path, capsys, quick_utility
) -> None:  # fmt: skip
    config = base(str(session_home))
    config["audit"] |= {"stresses": [], "mia_attacks": ["loss"]}
    config["utility"] |= quick_utility
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({
        "name": "two", "base": config, "seeds": [0],
        "methods": [{"name": "grad_ascent"}, {"name": "sga", "stop": "per_sample"}],
        "set": {"unlearning.training": {"epochs": 3, "batch_size": 36, "lr": 1e-5}},
    }))  # fmt: skip
    code = app(["sweep", "--config", str(path)], standalone_mode=False)
    output = "".join(capsys.readouterr())
    assert code in (None, 0), output
    summary = resolve_paths(str(session_home)).home / "sweeps" / "two" / "summary.md"
    rows = [line for line in summary.read_text().splitlines() if line.startswith("| grad_ascent")
            or line.startswith("| sga")]  # fmt: skip
    assert len(rows) == 2 and (summary.parent / "pareto.png").stat().st_size > 0
    client = MlflowClient(default_tracking_uri(resolve_paths(str(session_home)).mlflow_db))
    runs = client.search_runs(
        [client.get_experiment_by_name("forgetflow").experiment_id],
        filter_string="tags.mlflow.runName = 'score_memorization'",
        order_by=["start_time ASC"],
    )
    latest = runs[-2:]  # the two cells' scoring: the second reuses the first's
    assert latest[1].data.tags.get(REUSED_FROM) in {r.info.run_id for r in runs}
