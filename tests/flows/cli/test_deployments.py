"""`forgetflow deployments render`: writes prefect.yaml from the presets (its `--check` is tested
with the other generated files in test_generated.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.presets import deployable_presets, render_prefect_yaml


def test_render_writes_every_deployable_preset(tmp_path: Path, invoke) -> None:
    out = tmp_path / "prefect.yaml"
    code, output = invoke("deployments", "render", "--out", str(out))
    assert code == 0 and "demo-tiny" in output
    assert out.read_text() == render_prefect_yaml()
    names = [d["name"] for d in yaml.safe_load(out.read_text())["deployments"]]
    assert names == deployable_presets()  # examples left out (test_presets.py lists them)
    assert invoke("deployments", "render", "--out", str(out), "--check")[0] == 0
