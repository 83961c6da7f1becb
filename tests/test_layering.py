"""The dependency rules of DESIGN.md section 2: flows -> tasks -> (forgetflow, storage); inside
the core, a package imports only packages below it; no import cycle, at module or function level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("forgetflow", "storage", "tasks", "flows")

# The core's package order, lowest first; a package may import its own modules and any lower
# level. `scenarios` builds models and audits them, so it may import any stage; no stage imports it.
CORE_LEVELS = (
    {"records", "registry", "schemas", "paths", "hashing", "atomic", "redact", "lm"},
    {"intervals"},  # shares with their Wilson intervals, as Figures
    {"models", "data"},
    {"generation"},
    {"memorization"},
    {"antisamples"},
    {"unlearning"},
    {"audit", "utility"},
    {"report"},
    {"scenarios"},
)
CORE_TOP_LEVEL_MODULES = {
    "records",
    "registry",
    "schemas",
    "paths",
    "hashing",
    "atomic",
    "redact",
    "intervals",
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module `path` imports, anywhere in it (module or function level);
    `from a import b` counts as importing `a.b` when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


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


def core_level(module: str) -> int:
    part = module.split(".")[1]
    return next(i for i, level in enumerate(CORE_LEVELS) if part in level)


def test_core_imports_neither_prefect_mlflow_nor_outer_layers() -> None:
    forbidden = {"prefect", "mlflow", "storage", "tasks", "flows"}
    offenders = {f: r & forbidden for f, r in imported_roots("forgetflow").items() if r & forbidden}
    assert offenders == {}


def test_storage_imports_no_prefect_and_only_tracking_imports_mlflow() -> None:
    roots = imported_roots("storage")
    assert {f for f, r in roots.items() if "mlflow" in r} <= {"storage/tracking.py"} | {
        f for f in roots if f.startswith("storage/tracking/")
    }
    assert not any(r & {"prefect", "tasks", "flows"} for r in roots.values())
    assert all(
        m.startswith(("storage", "forgetflow.schemas", "forgetflow.hashing", "forgetflow.atomic"))
        or m in ("forgetflow", "forgetflow.paths")
        for name, targets in import_graph().items()
        if name.startswith("storage")
        for m in targets
    )


def test_tasks_do_not_import_flows() -> None:
    assert not any("flows" in r for r in imported_roots("tasks").values())


def test_core_packages_import_only_lower_levels() -> None:
    offenders = [
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name.startswith("forgetflow.")
        for target in targets
        if target.startswith("forgetflow.")
        and name.split(".")[1] != target.split(".")[1]
        and core_level(target) >= core_level(name)
    ]
    assert offenders == []


def test_core_top_level_modules_are_only_the_base_ones() -> None:
    loose = {p.stem for p in (ROOT / "forgetflow").glob("*.py")} - {"__init__"}
    assert loose <= CORE_TOP_LEVEL_MODULES


def test_no_import_cycle() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_importing_the_whole_core_loads_no_prefect_or_mlflow() -> None:
    modules = [module_name(p) for p in sorted((ROOT / "forgetflow").rglob("*.py"))]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'mlflow'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
