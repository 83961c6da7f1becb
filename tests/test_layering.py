"""The dependency direction of DESIGN.md: flows -> tasks -> (forgetflow, storage)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_roots(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        roots: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = roots
    return found


def test_core_imports_neither_prefect_mlflow_nor_outer_layers() -> None:
    forbidden = {"prefect", "mlflow", "storage", "tasks", "flows"}
    offenders = {f: r & forbidden for f, r in imported_roots("forgetflow").items() if r & forbidden}
    assert offenders == {}


def test_storage_imports_no_prefect_and_only_tracking_imports_mlflow() -> None:
    roots = imported_roots("storage")
    assert {f for f, r in roots.items() if "mlflow" in r} == {"storage/tracking.py"}
    assert not any(r & {"prefect", "tasks", "flows"} for r in roots.values())


def test_tasks_do_not_import_flows() -> None:
    assert not any("flows" in r for r in imported_roots("tasks").values())


def test_importing_the_whole_core_loads_no_prefect_or_mlflow() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((ROOT / "forgetflow").rglob("*.py"))
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'mlflow'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
