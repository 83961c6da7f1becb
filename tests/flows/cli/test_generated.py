"""Generated files (flows/cli/generated.py): prefect.yaml and docs/configuration.md are what
their commands write, and `--check` fails with one `error:` line on a stale or missing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config_reference import render_configuration_md

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = {"prefect.yaml": ("deployments", "render"), "docs/configuration.md": ("config", "docs")}


@pytest.mark.parametrize("file", COMMANDS)
def test_the_committed_file_is_current(file: str, invoke) -> None:
    code, output = invoke(*COMMANDS[file], "--out", str(ROOT / file), "--check")
    assert code == 0, output


@pytest.mark.parametrize("file", COMMANDS)
def test_check_exits_2_on_a_stale_or_missing_file(file: str, tmp_path: Path, invoke) -> None:
    out = tmp_path / Path(file).name
    for content in ("stale\n", None):
        if content is not None:
            out.write_text(content)
        elif out.exists():
            out.unlink()
        code, output = invoke(*COMMANDS[file], "--out", str(out), "--check")
        assert code == 2
        (line,) = output.strip().splitlines()
        assert line.startswith("error:") and "stale" in line and " ".join(COMMANDS[file]) in line
    assert not out.exists()


def test_config_docs_writes_the_reference(tmp_path: Path, invoke) -> None:
    out = tmp_path / "configuration.md"
    code, output = invoke("config", "docs", "--out", str(out))
    assert code == 0 and str(out) in output
    assert out.read_text() == render_configuration_md()
