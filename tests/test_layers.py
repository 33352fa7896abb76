"""The package's layers, as the README's Design section states them: a module may import from its
own layer or a lower one, never from a higher one, and no import cycle exists between packages.
Every import counts, including those inside functions (they are dependencies too)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

CDS = Path(__file__).resolve().parents[1] / "cds"

# Lowest first. A unit is a top-level module or package of cds.
LAYERS: list[tuple[str, set[str]]] = [
    ("contract", {"cds._version", "cds.errors", "cds.paths", "cds.yamlio", "cds.contract"}),
    ("data", {"cds.terminology", "cds.ingest", "cds.settings", "cds.synthetic", "cds.population"}),
    ("rules", {"cds.ruleset"}),
    ("engine", {"cds.engine"}),
    ("knowledge", {"cds.knowledge", "cds.release"}),
    ("facts", {"cds.facts"}),
    ("assessment", {"cds.assessment"}),
    ("pipeline", {"cds.pipeline", "cds.explain", "cds.catalogue"}),
    ("outputs", {"cds.report", "cds.render_text", "cds.security"}),
    ("services", {"cds.audit", "cds.screen", "cds.service", "cds.impact"}),
    ("entry", {"cds", "cds.cli", "cds.__main__"}),
]
LEVEL = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(CDS.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> list[tuple[str, str, str]]:
    """(importing module, its unit, imported unit) for every cds import in cds/."""
    out = []
    for path in sorted(CDS.rglob("*.py")):
        module = _module_name(path)
        unit = module if path.parent == CDS and path.name != "__init__.py" else _unit(module)
        if path == CDS / "__init__.py":
            unit = "cds"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "cds":
                    names = [f"cds.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name == "cds" or name.startswith("cds."):
                    target = _unit(name)
                    if target != unit:
                        out.append((module, unit, target))
    return out


def test_every_unit_has_a_layer() -> None:
    units = {u for _, u, _ in _imports()} | {t for _, _, t in _imports()}
    units |= {_unit(_module_name(p)) for p in CDS.glob("*/__init__.py")}
    missing = sorted(u for u in units if u not in LEVEL and u.split(".")[1:2] != ["__init__"])
    assert not missing, f"add these to a layer in tests/test_layers.py and the README: {missing}"


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = [
        f"{module} ({LAYERS[LEVEL[unit]][0]}) imports {target} ({LAYERS[LEVEL[target]][0]})"
        for module, unit, target in _imports()
        if unit in LEVEL and target in LEVEL and LEVEL[target] > LEVEL[unit]
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for _, unit, target in _imports():
        graph[unit].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)
