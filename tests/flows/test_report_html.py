"""The HTML report of the demo run: every section filled or "not applicable", redacted unless
asked, logged to MLflow with its plots and a redacted per-sample table, and rendered again by
`forgetflow report RUN`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient

from flows.cli import app
from forgetflow.redact import text_digest
from storage.tracking import read_ref, stage_child

SECTIONS = ("settings", "headline", "memorization", "antisamples", "unlearning", "audit",
            "utility", "cost", "facts", "samples")  # fmt: skip


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.S))


def filled(body: str) -> bool:
    return "<table>" in body or "<img " in body or "not applicable: " in body


def forget_rows(demo_run, tmp_path: Path) -> list[dict]:
    """The demo run's forget samples, by the ref its parent run logged."""
    client = MlflowClient(demo_run.tracking_uri)
    ref = read_ref(client, demo_run.parent_run_id, "input.forget", tmp_path)
    return pq.read_table(ref.path).to_pylist()


def test_every_section_holds_a_table_a_plot_or_not_applicable(demo_run, tmp_path) -> None:
    page = Path(demo_run.report).with_suffix(".html").read_text()
    found = sections(page)
    assert tuple(found) == SECTIONS and all(filled(body) for body in found.values())
    for key in ("memorization", "unlearning", "audit", "cost"):  # a sequences run's plots
        assert found[key].count("<img ") >= 1, key
    assert found["audit"].count("<img ") == 3  # ROC, leak@k, the relearning curve
    assert "not applicable: not a facts request" in found["facts"]
    rows = forget_rows(demo_run, tmp_path)
    assert found["samples"].count("<tr>") == len(rows) + 1  # the header and one per sample
    for row in rows:  # redacted: the digest, never the text or a line of it
        assert text_digest(row["text"]) in found["samples"]
        assert all(line not in page for line in row["text"].splitlines()[1:])


def test_mlflow_holds_the_page_its_plots_and_a_redacted_sample_table(demo_run, tmp_path) -> None:
    client = MlflowClient(demo_run.tracking_uri)
    report = stage_child(client, demo_run.parent_run_id, "write_report")
    assert "report.html" in {a.path for a in client.list_artifacts(demo_run.parent_run_id)}
    plots = [a.path for folder in client.list_artifacts(report.info.run_id, "plots")
             for a in client.list_artifacts(report.info.run_id, folder.path)]  # fmt: skip
    assert len(plots) >= 4 and all(p.endswith(".png") for p in plots)
    table = json.loads(Path(client.download_artifacts(report.info.run_id, "samples.json",
                                                      str(tmp_path))).read_text())  # fmt: skip
    rows = forget_rows(demo_run, tmp_path)
    assert "text" not in table["columns"] and len(table["data"]) == len(rows)


def test_the_report_command_renders_it_again_with_or_without_texts(
    demo_run, session_home, tmp_path, capsys
) -> None:  # fmt: skip
    run, home = demo_run.parent_run_id, str(session_home)
    redacted, shown = tmp_path / "redacted.html", tmp_path / "shown.html"
    assert app(["report", run, "--home", home, "--out", str(redacted)],
               standalone_mode=False) in (None, 0)  # fmt: skip
    assert app(["report", run, "--home", home, "--out", str(shown), "--show-samples"],
               standalone_mode=False) in (None, 0)  # fmt: skip
    rows = forget_rows(demo_run, tmp_path)
    line = rows[0]["text"].splitlines()[1]  # a PII line of the first forget sample
    assert line not in redacted.read_text() and line in shown.read_text()
    assert tuple(sections(shown.read_text())) == SECTIONS
    capsys.readouterr()
    code = app(["report", "0" * 32, "--home", home], standalone_mode=False)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: run '000") and err.count("\n") == 1
    child = stage_child(MlflowClient(demo_run.tracking_uri), run, "audit").info.run_id
    code = app(["report", child, "--home", home], standalone_mode=False)  # a stage's run
    err = capsys.readouterr().err
    assert code == 2 and "has no write_report stage" in err and err.count("\n") == 1
