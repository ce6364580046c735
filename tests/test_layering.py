"""Data flows one way: which package may import which, and no module imports itself back.

Read from the source with ``ast`` (every import statement, at module level or inside a
function; ``if TYPE_CHECKING:`` blocks are annotations, not imports). The floors, bottom
up: ``results`` (the contract) <- ``biril`` (the trainer) <- ``sweeps``, ``analysis`` <-
``cluster`` <- ``birilcli`` (the command line, the only package that may import them all).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("birilcli", "biril", "sweeps", "cluster", "analysis", "results")
WATCHED = (*PACKAGES, "ray", "torch")
# What each package may import of the others (and of Ray / torch).
ALLOWED = {
    "results": set(),
    "biril": {"results", "torch"},
    "sweeps": {"biril", "results", "ray", "torch"},
    "analysis": {"results"},
    # cluster sits above sweeps; its doctor runs the trainer's machine checks on each node.
    "cluster": {"biril", "sweeps", "results", "ray"},
    "birilcli": {"biril", "sweeps", "cluster", "analysis", "results"},
}


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text())
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
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


def sources(root: Path) -> dict[str, Path]:
    return {
        module_name(root, p): p
        for pkg in PACKAGES
        if (root / pkg).is_dir()
        for p in sorted((root / pkg).rglob("*.py"))
    }


def graph(root: Path = REPO) -> dict[str, set[str]]:
    modules = sources(root)
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(root, path):
            # ``from .x import y`` may name a module x.y or an attribute y of x.
            while imported and imported not in modules and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported in modules and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def violations(root: Path = REPO) -> list[str]:
    """``module imports package`` for every import that runs up (or sideways) a floor."""
    found = []
    for name, path in sources(root).items():
        pkg = name.split(".")[0]
        for imported in sorted(imports(root, path)):
            top = imported.split(".")[0]
            if top != pkg and top in WATCHED and top not in ALLOWED[pkg]:
                found.append(f"{name} imports {imported}")
    return found


def test_no_package_imports_one_above_it():
    assert violations() == []


def test_every_package_is_checked():
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert on_disk <= set(PACKAGES), f"unchecked packages: {sorted(on_disk - set(PACKAGES))}"


def test_an_upward_import_anywhere_in_a_file_is_caught(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "biril" / "ok.py").write_text("from results.errors import UserError\n")
    (tmp_path / "biril" / "late.py").write_text(
        "def f():\n    from sweeps.runner import run_sweep\n    return run_sweep\n"
    )
    (tmp_path / "analysis" / "side.py").write_text("import cluster.submit\n")
    (tmp_path / "results" / "up.py").write_text("from biril import train\n")
    (tmp_path / "results" / "typing_only.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from biril import TrainConfig\n"
    )
    assert sorted(violations(tmp_path)) == [
        "analysis.side imports cluster.submit",
        "biril.late imports sweeps.runner",
        "results.up imports biril",
    ]


def test_no_ray_anywhere_in_the_trainer_library():
    for path in (REPO / "biril").rglob("*.py"):
        assert not {i for i in imports(REPO, path) if i.split(".")[0] == "ray"}, path


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
