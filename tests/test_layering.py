"""Data flows one way: which package may import which, and no module imports itself back.

Read from the source with ``ast`` (every import statement, at module level or inside a
function; ``if TYPE_CHECKING:`` blocks are annotations, not imports). The one CLI,
``biril/cli.py``, is the only module allowed to reach up into the other packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("biril", "sweeps", "cluster", "analysis", "results")
# What each package may import of the others (and of Ray / torch).
ALLOWED = {
    "results": set(),
    "biril": {"torch"},
    "sweeps": {"biril", "results", "ray", "torch"},
    "analysis": {"results"},
    # cluster sits above sweeps; its doctor runs the trainer's machine checks on each node.
    "cluster": {"biril", "sweeps", "results", "ray"},
}
THE_CLI = "biril.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text())
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else (
        module_name(path)
    )
    skip = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {
        module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))
    }
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(path):
            # ``from .x import y`` may name a module x.y or an attribute y of x.
            while imported and imported not in modules and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported in modules and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def package_edges() -> dict[str, set[str]]:
    """Package → the other packages (and ray, torch) it imports, the CLI left out."""
    out: dict[str, set[str]] = {pkg: set() for pkg in PACKAGES}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            if module_name(path) == THE_CLI:
                continue
            for imported in imports(path):
                top = imported.split(".")[0]
                if top != pkg and top in (*PACKAGES, "ray", "torch"):
                    out[pkg].add(top)
    return out


def test_no_package_imports_one_above_it():
    edges = package_edges()
    for pkg, targets in edges.items():
        assert targets <= ALLOWED[pkg], f"{pkg} imports {sorted(targets - ALLOWED[pkg])}"


def test_no_ray_anywhere_in_the_trainer_library():
    for path in (REPO / "biril").rglob("*.py"):
        assert not {i for i in imports(path) if i.split(".")[0] == "ray"}, path


def test_no_circular_imports():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError(" -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
