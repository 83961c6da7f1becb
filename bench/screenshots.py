"""Headless-Chromium screenshots of a pipeline run's HTML report and of its MLflow run page:

    python bench/screenshots.py --home DIR --run RUN_ID [--out DIR] [--port 5055]

Needs Debian's Chromium (`make chromium`). Starts the MLflow UI on loopback for `--home`'s
database (stopped at the end), and writes `report.png` (the whole HTML report) and
`mlflow-run.png` (the run page in the model-training view: datasets, registered model,
metrics), `mlflow-artifacts.png` (its artifacts) and `mlflow-experiment.png` to `--out`.
Chromium runs each page for 15 s of virtual time so MLflow's app renders.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.cli.report import report_dir  # noqa: E402
from forgetflow.paths import resolve_paths  # noqa: E402
from storage.tracking import default_tracking_uri  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# MLflow 3.17's UI picks its GenAI or model-training view from this URL parameter (else the
# browser's last choice, GenAI at first): the experiment's mlflow.experimentKind tag does not.
MODEL_TRAINING = "machine_learning"


def shoot(url: str, out: Path, height: int) -> None:
    """A full-width screenshot of `url` by headless Chromium."""
    subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size=1280,{height}",
                    "--virtual-time-budget=15000", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)  # fmt: skip


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--run", required=True, help="the pipeline's MLflow (parent) run id")
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    paths = resolve_paths(args.home)
    uri = default_tracking_uri(paths.mlflow_db)
    with tempfile.TemporaryDirectory() as scratch:
        folder = report_dir(uri, args.run, Path(scratch))
    shoot((folder / "report.html").as_uri(), args.out / "report.png", 6000)
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(uri).get_run(args.run).info.experiment_id
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "ui", "--host",
                               "127.0.0.1", "--port", str(args.port), "--backend-store-uri", uri],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(base, 120)
        view = f"workflowType={MODEL_TRAINING}"
        shoot(f"{base}/#/experiments/{experiment}/runs/{args.run}?{view}",
              args.out / "mlflow-run.png", 2000)  # fmt: skip
        shoot(f"{base}/#/experiments/{experiment}/runs/{args.run}/artifacts?{view}",
              args.out / "mlflow-artifacts.png", 1400)  # fmt: skip
        shoot(f"{base}/#/experiments/{experiment}?{view}", args.out / "mlflow-experiment.png",
              1200)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"screenshots in {args.out}: report.png, mlflow-run.png, mlflow-artifacts.png, "
          "mlflow-experiment.png")  # fmt: skip


if __name__ == "__main__":
    main()
