"""What the command tests share: `forgetflow` invoked in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flows.cli import app


@pytest.fixture
def invoke(capsys) -> Callable[..., tuple[int, str]]:
    """`invoke("deployments", "render")`: runs `forgetflow ARGS...` in-process and returns its
    exit code and its stdout and stderr together."""

    def run(*args: str) -> tuple[int, str]:
        code = app(list(args), standalone_mode=False)
        captured = capsys.readouterr()
        return code or 0, captured.out + captured.err

    return run
