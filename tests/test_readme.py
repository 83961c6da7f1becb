"""The README and docs/ stay true to the code.

Convention: in a fenced block, a command line that ends with the comment `# test` is run as
written (keep those cheap); every other `forgetflow ...` command is run with `--help` after its
subcommand path (`forgetflow run --config my.yaml` -> `forgetflow run --help`) and each `--option`
it uses must exist; every `make TARGET` must be a Makefile target; every YAML block of the README
must be a valid PipelineConfig; every link is relative and points at a file of the repository.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.params import PipelineConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
ENV = re.compile(r"^(\w+=\S+\s+)+")
TEST_MARK = re.compile(r"\s#\s*test\s*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
URL = re.compile(r"[a-z]+://[^\s)`'\"]+")
LOCAL = ("http://127.0.0.1", "http://localhost", "sqlite:///")  # this machine, not a site


def command_lines(page: Path) -> list[str]:
    """Every command line of the page's fenced blocks, continuation lines joined."""
    lines: list[str] = []
    for info, body in FENCE.findall(page.read_text()):
        if info in ("", "bash", "sh", "console"):
            lines += body.replace("\\\n", " ").splitlines()
    lines = [ENV.sub("", line.strip()) for line in lines]  # `VAR=value forgetflow ...`
    return [line for line in lines if line.split(" ")[:1] in (["forgetflow"], ["make"])]


def commands(pages: list[Path], word: str) -> list[str]:
    return sorted({line for page in pages for line in command_lines(page) if line.startswith(word)})


def subcommand(args: list[str]) -> tuple[list[str], object]:
    """The longest prefix of `args` naming a (sub)command, and that command."""
    command, path = typer.main.get_command(app), []
    for arg in args:
        if arg not in getattr(command, "commands", {}):
            break
        command, path = command.commands[arg], [*path, arg]
    return path, command


def test_the_readme_has_commands_to_check() -> None:
    lines = command_lines(README)
    assert any(TEST_MARK.search(line) for line in lines)
    assert any(line.startswith("forgetflow run --config") for line in lines)
    assert any(line.startswith("forgetflow demo") for line in lines)


@pytest.mark.parametrize(
    "line", [c for c in commands([README], "forgetflow") if TEST_MARK.search(c)]
)
def test_marked_readme_commands_run(line: str, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, shlex.split(line, comments=True)[1:])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("line", commands(PAGES, "forgetflow"))
def test_every_documented_command_and_option_exists(line: str) -> None:
    args = shlex.split(line, comments=True)[1:]
    path, command = subcommand(args)
    known = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    used = {arg.split("=")[0] for arg in args if arg.startswith("--")}
    assert used - {"--help"} <= known, f"{line}: unknown options {used - known}"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_every_documented_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile, re.M))
    used = {shlex.split(line, comments=True)[1] for line in commands(PAGES, "make ")}
    assert used and used <= targets, used - targets


def test_readme_configs_are_valid() -> None:
    blocks = [body for info, body in FENCE.findall(README.read_text()) if info == "yaml"]
    assert blocks
    for body in blocks:
        PipelineConfig.model_validate(yaml.safe_load(body))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_stay_inside_the_repository(page: Path) -> None:
    text = page.read_text()
    outside = [url for url in URL.findall(text) if not url.startswith(LOCAL)]
    assert outside == [], f"{page.name} points outside the repository"
    for target in LINK.findall(text):
        file = target.split("#")[0]
        if file:
            assert not Path(file).is_absolute(), target
            assert (page.parent / file).exists(), f"{page.name}: {target} does not exist"
