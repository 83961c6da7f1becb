"""Offline, CPU, deterministic: the environment is set before prefect, mlflow or HF load."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="forgetflow-tests-"))
os.environ["FORGETFLOW_HOME"] = str(_SESSION_HOME)
os.environ.pop("MLFLOW_TRACKING_URI", None)

from flows.environment import configure_environment  # noqa: E402
from forgetflow.paths import resolve_paths  # noqa: E402

configure_environment(resolve_paths(_SESSION_HOME))

import pytest  # noqa: E402
import torch  # noqa: E402

from forgetflow.models.io import load_model  # noqa: E402
from forgetflow.scenarios.world.build import World, WorldConfig, build_world  # noqa: E402

THREADS_ENV = "FORGETFLOW_TEST_THREADS"  # torch threads of the tests (default 2)
torch.set_num_threads(int(os.environ.get(THREADS_ENV, "2")))


@pytest.fixture(scope="session")
def session_home() -> Path:
    return _SESSION_HOME


@pytest.fixture(scope="session")
def tiny_world(session_home: Path) -> World:
    """The default tiny world, built once per test session (about 10 s)."""
    return build_world(WorldConfig(), resolve_paths(session_home).worlds)


@pytest.fixture(scope="session")
def forget_pii(tiny_world: World) -> set[str]:
    """Every email, phone number and SSN of the tiny world's forget set (each record has all
    three): what must stay out of the tool's own stores and its console."""
    import re

    import pyarrow.parquet as pq

    texts = pq.read_table(tiny_world.splits["forget"]).column("text").to_pylist()
    found = [re.findall(r"^(?:Email|Phone|SSN): (.+)$", text, re.M) for text in texts]
    assert all(len(values) == 3 for values in found)
    return {value.strip() for values in found for value in values}


@pytest.fixture(scope="session")
def demo_run(prefect_harness, session_home):
    """The demo preset's pipeline run on the tiny world, once per test session: the end-to-end
    tests read what it left, so every stage computes (no reuse of an earlier test's)."""
    from flows.presets import demo_config
    from flows.unlearning_pipeline import unlearning_pipeline

    return unlearning_pipeline(demo_config(str(session_home)).model_copy(update={"reuse": False}))


@pytest.fixture(scope="session")
def quick_utility() -> dict:
    """Utility settings for a pipeline run that tests something else: 4 items of each QA set,
    4 fluency prompts (the demo run tests utility in full)."""
    return {"max_items": 4, "fluency_prompts": 4}


@pytest.fixture()
def tiny_model(tiny_world: World):
    return load_model(tiny_world.model_dir)


REAL_HOME_ENV = "FORGETFLOW_REAL_HOME"  # where `make test-real` keeps pulled models


@pytest.fixture(scope="session")
def real_home() -> Path:
    """The folder holding pulled real models: $FORGETFLOW_REAL_HOME (set by `make test-real`,
    a cache outside the clone), else the checkout's `.forgetflow`."""
    return Path(os.environ.get(REAL_HOME_ENV, Path(__file__).resolve().parents[1] / ".forgetflow"))


@pytest.fixture()
def smollm2(real_home: Path):
    """SmolLM2-135M-Instruct and its tokenizer, pulled into `real_home` when missing."""
    from forgetflow.models.names import resolve_model
    from forgetflow.models.pulled import pull

    pull("smollm2-135m-instruct", real_home)
    return load_model(resolve_model("smollm2-135m-instruct", real_home))


@pytest.fixture()
def minilm(real_home: Path):
    """The all-MiniLM-L6-v2 sentence embedder, pulled into `real_home` when missing."""
    from forgetflow.models.embedder import Embedder
    from forgetflow.models.names import resolve_model
    from forgetflow.models.pulled import pull

    pull("minilm-l6-v2", real_home)
    return Embedder(resolve_model("minilm-l6-v2", real_home))


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.logging.configuration import setup_logging
    from prefect.testing.utilities import prefect_test_harness

    # Bind Prefect's console handler to pytest's stream now, not to a CliRunner stream that
    # a CLI test closes afterwards.
    setup_logging()
    with prefect_test_harness(server_startup_timeout=120):
        yield


STRICT_MARKERS = ("vllm", "real_model", "slow", "browser")  # under CI=true: run, never skip


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """Under CI=true a skipped `vllm`, `real_model`, `slow` or `browser` test is a failure,
    not a quiet pass."""
    outcome = yield
    report = outcome.get_result()
    strict = os.environ.get("CI", "").lower() == "true"
    if strict and report.skipped and any(item.get_closest_marker(m) for m in STRICT_MARKERS):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"
