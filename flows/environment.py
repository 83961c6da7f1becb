"""Process environment for Prefect and MLflow, set before either is imported."""

from __future__ import annotations

import os
from pathlib import Path

from forgetflow.paths import Paths

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}


def configure_environment(paths: Paths) -> None:
    """Project-local PREFECT_HOME and offline, no-telemetry defaults; explicit settings win."""
    os.environ.setdefault("PREFECT_HOME", str(paths.prefect_home))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    quiet_progress_bars()


def quiet_progress_bars() -> None:
    """HF libraries read their progress-bar switch at import; they may be imported already."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
