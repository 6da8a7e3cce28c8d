"""The report modules form layers with no cycle: model <- formatting/charts <- renderers <- writer.

``harness.report.model`` (the model) once imported its renderers to write a run, and
they imported the model: a cycle (issue 21). Every import counts, lazy and
``TYPE_CHECKING`` ones too, as in tests/test_layering.py, whose parser this uses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from tests.test_layering import imports_of, modules

REPORT_MODULES = {
    "harness.report.model",
    "harness.report.format",
    "harness.report.charts",
    "harness.report.svgplot",
    "harness.report.md",
    "harness.report.html",
    "harness.report.write",
    "harness.cli.report",
}


@functools.cache  # parsing every module takes seconds; both tests read the same graph
def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a.b import c`` counts as ``a.b``)."""
    paths = dict(modules())
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps = set()
        for _, name in imports_of(path):
            parts = name.split(".")
            for k in range(len(parts), 0, -1):
                if (cand := ".".join(parts[:k])) in paths:
                    if cand != module:
                        deps.add(cand)
                    break
        graph[module] = deps
    return graph


def _paths_back(graph: dict[str, set[str]], start: str) -> Iterator[list[str]]:
    """Import chains from ``start`` that lead back to it."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in graph.get(node, ()):
            if dep == start:
                yield [*path, dep]
            elif dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))


def test_no_import_cycle_runs_through_the_report_modules() -> None:
    graph = _graph()
    assert set(graph) >= REPORT_MODULES, REPORT_MODULES - set(graph)
    cycles = [" -> ".join(c) for m in sorted(REPORT_MODULES) for c in _paths_back(graph, m)]
    assert not cycles, "\n".join(cycles)


def test_the_model_imports_no_renderer() -> None:
    graph = _graph()  # read only
    renderers = {"harness.report.md", "harness.report.html", "harness.report.write"}
    assert not graph["harness.report.model"] & renderers
    assert "harness.report.write" in graph["harness.run.runner"]  # the runner writes through it


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert list(_paths_back(graph, "a")) == [["a", "b", "c", "a"]]
    assert list(_paths_back(graph, "d")) == []
