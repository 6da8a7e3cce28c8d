"""The import graph follows the architecture's layers (docs/architecture.md).

- ``historian`` imports nothing above it (``sim``, ``harness``, ``scenarios``);
  ``historian.sstable`` never imports ``historian.lsm`` (LevelDB's table/ vs db/).
- ``sim`` imports nothing from ``harness`` or ``scenarios``.
- ``scenarios`` holds declarations: it imports only the harness's scenario model
  (``harness.scenario``, ``harness.load.schedule``, ``harness.report.model``'s Threshold).
- ``harness`` imports ``scenarios`` only from its command line (``harness.cli.scenario``).

Every import counts, also the ones inside functions: a lazy import is still a
dependency. The test parses the sources, so it sees what a run would not reach.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("historian", "sim", "harness", "scenarios")


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name


def modules() -> Iterator[tuple[str, Path]]:
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield ".".join(path.relative_to(ROOT).with_suffix("").parts), path


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


SCENARIO_MODEL = ("harness.scenario", "harness.load.schedule", "harness.report.model")


def forbidden(module: str, imported: str) -> str | None:
    """Why ``module`` may not import ``imported`` (None: allowed)."""
    if _under(module, "historian"):
        for above in ("sim", "harness", "scenarios"):
            if _under(imported, above):
                return f"historian must not import {above}"
        if _under(module, "historian.sstable") and _under(imported, "historian.lsm"):
            return "historian.sstable must not import historian.lsm"
    if _under(module, "sim") and (_under(imported, "harness") or _under(imported, "scenarios")):
        return "sim must not import harness or scenarios"
    if (
        _under(module, "scenarios")
        and _under(imported, "harness")
        and not any(_under(imported, m) for m in SCENARIO_MODEL)
    ):
        return f"scenarios may import only the scenario model {SCENARIO_MODEL}"
    if (
        _under(module, "harness")
        and _under(imported, "scenarios")
        and module != "harness.cli.scenario"
    ):
        return "harness imports scenarios only in harness.cli.scenario"
    return None


def test_layers() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}: {why}"
        for module, path in modules()
        for line, name in imports_of(path)
        if (why := forbidden(module, name))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "imported", "allowed"),
    [
        ("historian.lsm.engine", "harness.services", False),
        ("historian.sstable.reader", "historian.lsm.version", False),
        ("historian.lsm.engine", "historian.sstable", True),
        ("sim.twin", "harness.load", False),
        ("scenarios.noisy", "harness.run.runner", False),
        ("scenarios.noisy", "harness.scenario", True),
        ("harness.run.runner", "scenarios", False),
        ("harness.cli.scenario", "scenarios", True),
    ],
)
def test_rules_catch_what_they_should(module: str, imported: str, allowed: bool) -> None:
    assert (forbidden(module, imported) is None) == allowed


# Cycles between the harness's concepts (a subpackage such as ``harness/run/``, or a
# top-level module such as ``harness/scenario.py``; paths, so that
# scripts/dev/regroup_harness.py leaves them as they are) allowed: none. (The fault
# proxy lives in services, so the edge bus's uplink proxy no longer made
# faults <-> services one; the metric keys are a leaf module, so the scenario model
# and the report no longer form one.)
ALLOWED_HARNESS_CYCLES: set[frozenset[str]] = set()


def harness_concept(path: Path) -> str:
    """``harness/run/runner.py`` -> ``harness/run/``; a top-level module is itself."""
    parts = path.relative_to(ROOT).parts
    return f"{parts[0]}/{parts[1]}/" if len(parts) > 2 else "/".join(parts)


def project_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's name counts as its __init__)."""
    paths = {m.removesuffix(".__init__"): p for m, p in modules()}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps = set()
        for _, name in imports_of(path):
            parts = name.removesuffix(".__init__").split(".")
            for k in range(len(parts), 0, -1):
                if (cand := ".".join(parts[:k])) in paths:
                    if cand != module:
                        deps.add(cand)
                    break
        graph[module] = deps
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components with more than one node: each is a cycle (or several)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_harness_concepts() -> None:
    paths = {m.removesuffix(".__init__"): p for m, p in modules()}
    concepts: dict[str, set[str]] = {}
    for module, deps in project_graph().items():
        if _under(module, "harness"):
            node = concepts.setdefault(harness_concept(paths[module]), set())
            node.update(harness_concept(paths[d]) for d in deps if _under(d, "harness"))
    for concept, deps in concepts.items():
        deps.discard(concept)
    cycles = [c for c in strongly_connected(concepts) if frozenset(c) not in ALLOWED_HARNESS_CYCLES]
    assert not cycles, "import cycles between harness packages: " + "; ".join(
        " <-> ".join(sorted(c)) for c in cycles
    )


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "d": {"e"}, "e": {"d"}}
    assert sorted(sorted(c) for c in strongly_connected(graph)) == [["a", "b"], ["d", "e"]]
    assert harness_concept(ROOT / "harness/run/runner.py") == "harness/run/"
    assert harness_concept(ROOT / "harness/cli/__init__.py") == "harness/cli/"
    assert harness_concept(ROOT / "harness/scenario.py") == "harness/scenario.py"
