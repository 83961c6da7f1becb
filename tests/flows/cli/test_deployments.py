"""`forgetflow deployments render`: writes prefect.yaml from the presets; `--check` fails on a
stale file with one `error:` line."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.cli import app
from flows.presets import render_prefect_yaml


def invoke(capsys, *args: str) -> tuple[int, str]:
    code = app(list(args), standalone_mode=False)
    captured = capsys.readouterr()
    return code or 0, captured.out + captured.err


def test_render_writes_every_deployable_preset(tmp_path: Path, capsys) -> None:
    out = tmp_path / "prefect.yaml"
    code, output = invoke(capsys, "deployments", "render", "--out", str(out))
    assert code == 0 and "demo-tiny" in output
    assert out.read_text() == render_prefect_yaml()
    names = [d["name"] for d in yaml.safe_load(out.read_text())["deployments"]]
    assert names == ["demo-tiny", "real-smollm2"]
    assert invoke(capsys, "deployments", "render", "--out", str(out), "--check")[0] == 0


def test_check_exits_2_on_a_stale_or_missing_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "prefect.yaml"
    for content in ("name: forgetflow\n", None):
        if content is not None:
            out.write_text(content)
        elif out.exists():
            out.unlink()
        code, output = invoke(capsys, "deployments", "render", "--out", str(out), "--check")
        assert code == 2
        (line,) = output.strip().splitlines()
        assert line.startswith("error:") and "stale" in line
    assert not out.exists()
