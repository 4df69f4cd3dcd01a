"""No import circles in tracker/: the modules form layers, each importing only those below it.

Imports inside functions count too (they are how a circle usually hides), except where the app
is put together: the app factory registers the blueprints and commands, which import from the
package they register into, as Flask's own pattern has it. Type-only imports (`if
TYPE_CHECKING:`) are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"
# Functions that assemble the app: what they import may import the package back.
ASSEMBLY = {
    "tracker.__getattr__",
    "tracker.app.create_app",
    "tracker.cli.main",
    "tracker.commands._command_app",
    "tracker.commands.register_commands",
    "tracker.web.register_blueprints",
}


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


class Imports(ast.NodeVisitor):
    """The tracker modules one module imports, outside ASSEMBLY and TYPE_CHECKING blocks."""

    def __init__(self, module: str, known: dict[str, Path]):
        self.module, self.known, self.scope, self.found = module, known, [module], set()

    def visit_FunctionDef(self, node):
        self.scope.append(node.name)
        if ".".join(self.scope) not in ASSEMBLY:
            self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        if "TYPE_CHECKING" not in ast.unparse(node.test):
            self.generic_visit(node)
        else:
            for child in node.orelse:
                self.visit(child)

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            self._add(full if full in self.known else node.module)

    def _add(self, name: str) -> None:
        if name in self.known and name != self.module:
            self.found.add(name)


def import_graph() -> dict[str, set[str]]:
    known = module_names()
    graph = {}
    for name, path in known.items():
        visitor = Imports(name, known)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = visitor.found
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_modules_import_each_other_without_circles():
    graph = import_graph()
    assert len(graph) > 100  # the whole package was read
    assert circles(graph) == []


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
