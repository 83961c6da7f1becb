"""What the utility stage costs `make test` (issue: utility on data no method trains on, "adds at
most 60 s"): a pytest plugin that sums the wall time of the utility-only test files and, in every
other test, the time spent inside the flow's `evaluate_utility` task (the utility stage of each
pipeline run).

    PYTHONPATH=bench PYTEST_ADDOPTS="-p utility_test_cost" make test

It prints, after the run, the utility test files' seconds (setup, call and teardown apart: a
session fixture, such as a world shared with other tests, is charged to the first test that asks
for it) and the seconds the pipeline tests spent in the utility stage.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

UTILITY_FILES = (
    "tests/forgetflow/utility/",
    "tests/forgetflow/scenarios/test_utility.py",
    "tests/forgetflow/scenarios/world/test_utility.py",
    "tests/flows/cli/test_evaluate.py",
)

_files: dict[str, float] = defaultdict(float)
_stage = {"seconds": 0.0, "calls": 0}
_in_utility_file = [False]


def _timed(fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if not _in_utility_file[0]:
                _stage["seconds"] += time.perf_counter() - start
                _stage["calls"] += 1

    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    from tasks.evaluate_utility import evaluate_utility

    evaluate_utility.fn = _timed(evaluate_utility.fn)


def pytest_runtest_logstart(nodeid: str, location) -> None:
    _in_utility_file[0] = nodeid.startswith(UTILITY_FILES)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith(UTILITY_FILES):
        _files[report.when] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    files = sum(_files.values())
    write = terminalreporter.write_line
    parts = ", ".join(f"{when} {seconds:.1f} s" for when, seconds in _files.items())
    write(f"utility test files: {files:.1f} s ({parts})")
    write(
        f"evaluate_utility task in the other tests: {_stage['seconds']:.1f} s "
        f"in {_stage['calls']} runs"
    )
    write(f"utility in all: {files + _stage['seconds']:.1f} s")
