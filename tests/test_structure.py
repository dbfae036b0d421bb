"""The package's structure: no import circle, no import from a lower floor to a higher
one, no module over ~600 lines.  Imports are read with ``ast`` (module-level and
function-local alike), so nothing is imported to check them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "perflaw"
MAX_LINES = 650  # "about 600": a module past this is two jobs
#: floors, lowest first: a module may import from its own floor and the ones below
FLOORS = {
    "perflaw._version": 0,
    "perflaw.errors": 0,
    "perflaw._signals": 0,
    "perflaw.files": 0,
    "perflaw.io": 0,
    "perflaw._column_checks": 0,  # the id and time checks io and every engine apply
    "perflaw.sequences": 0,
    "perflaw.backbone_registry": 0,  # torch-free backbone names: training and counting read them
    "perflaw.conditions": 0,
    "perflaw.quality": 1,
    "perflaw.runs": 2,
    "perflaw.replicates": 2,  # seed replicates and the one run-to-run noise
    "perflaw._dprime_join": 2,  # D′ from apen's JSON, joined to a runs table
    "perflaw.laws": 3,
    "perflaw.fitting": 4,
    "perflaw.train": 5,
    "perflaw.decide.params": 5,  # parameter counting: the trainer and decide both count
    "perflaw.decide": 6,
    "perflaw.sweep": 6,
    "perflaw.plot": 7,
    "perflaw.cli": 8,
    "perflaw.__main__": 9,
}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _target(name: str) -> str | None:
    """The perflaw module an imported dotted name lives in (longest known prefix)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            return ".".join(parts[:i])
    return None


def imports(module: str) -> set[str]:
    """The perflaw modules ``module`` imports, anywhere in its body."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names]
        for n in names:
            if n.startswith("perflaw"):
                t = _target(n)
                if t and t != module:
                    out.add(t)
    return out


GRAPH = {m: imports(m) for m in MODULES}


def _floor(module: str) -> int | None:
    for prefix, floor in sorted(FLOORS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return floor
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue  # a package and its own modules: Python loads the package first
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_inside_perflaw():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_import_from_a_lower_floor_to_a_higher_one():
    upward = [
        f"{m} -> {n}"
        for m, targets in GRAPH.items()
        for n in targets
        if _floor(m) is not None
        and _floor(n) is not None
        and _floor(n) > _floor(m)
        and m not in ("perflaw",)  # the package's lazy exports name every floor
    ]
    assert not upward, "imports up a floor: " + ", ".join(sorted(upward))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (at most {MAX_LINES})"


def test_the_cli_names_every_law_of_named_columns():
    """cli.scaling names the laws of named columns so that ``--help`` need not import the
    laws; the names must be the laws that declare their columns."""
    from perflaw.cli.scaling import SCALING_LAWS
    from perflaw.laws import LAWS

    assert set(SCALING_LAWS) == {n for n, c in LAWS.items() if c.column_options}
