"""The package's shape: layers without cycles, flags read only by the command lines, no
private name borrowed across packages. Read from the source (every import statement,
function-local ones included), and by import-linter against the contracts in pyproject.toml.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("silisocs_study", "hydra_plugins/silisocs_study_sweeper")
COMMAND_LINES = {"silisocs_study.cli", "silisocs_study.evaluators.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """(imported module or None, imported name or None, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield target, alias.name, node.lineno


def _own(target: str, name: str | None) -> str | None:
    """The module of ours an import refers to (``from pkg import mod`` → ``pkg.mod``)."""
    if name and f"{target}.{name}" in MODULES:
        return f"{target}.{name}"
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, name, _ in _imports(module, path):
            own = _own(target, name)
            if own and own != module:
                graph[module].add(own)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_function_local_imports_included():
    assert _cycles(_graph()) == []


def test_only_the_command_lines_import_argparse():
    users = {m for m, p in MODULES.items() for t, _, _ in _imports(m, p) if t == "argparse"}
    assert users <= COMMAND_LINES, sorted(users - COMMAND_LINES)


def test_nothing_below_the_cli_imports_it():
    users = {m for m, deps in _graph().items() if "silisocs_study.cli" in deps}
    assert users == {"silisocs_study.__main__"}, sorted(users)   # `python -m`: the entry


def _package(module: str) -> str:
    """The package a module belongs to (a top-level module: the root package)."""
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def test_no_private_name_is_imported_across_packages():
    bad = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}   # local name → own module, for attribute access
        for target, name, line in _imports(module, path):
            own = _own(target, name)
            if own is None:
                continue
            if name and f"{target}.{name}" in MODULES:
                aliases[name] = own
            private = name and name.startswith("_") and not name.startswith("__")
            if private and _package(own) != _package(module):
                bad.append(f"{module}:{line} imports {own}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id in aliases and node.attr.startswith("_") and \
                    not node.attr.startswith("__"):
                own = aliases[node.value.id]
                if _package(own) != _package(module):
                    bad.append(f"{module}:{node.lineno} uses {own}.{node.attr}")
    assert bad == [], "\n".join(bad)


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter is a dev dependency")
def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    proc = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mypy", path=str(Path(sys.executable).parent)) is None,
                    reason="mypy is a dev dependency")
def test_mypy_passes_on_the_package(tmp_path):
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent))
    proc = subprocess.run([exe, "--cache-dir", str(tmp_path / "cache")], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
