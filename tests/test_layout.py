"""The package's layout (docs/architecture.md): no module reaches up, no test imports a test.

Every ``import`` and ``from … import`` of every module under pipeline/ is read with :mod:`ast`
(module level and inside functions alike) and checked against :data:`MAY_IMPORT`: the parts of
the package each part may use. A part is a subpackage (``pipeline.access``) or a module at the
top (``pipeline.errors``); a module may always import from its own part.
"""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = PROJECT / "pipeline"

FOUNDATION = {"pipeline.errors", "pipeline.units", "pipeline.people", "pipeline.machine"}
CONFIG = FOUNDATION | {"pipeline.config"}
BASE = CONFIG | {"pipeline._io", "pipeline.crs"}

# part -> the parts it may import (besides itself). Read upwards: each line may use the lines
# above it, never those below.
MAY_IMPORT: dict[str, set[str]] = {
    "pipeline.errors": set(),
    "pipeline.units": set(),
    "pipeline.people": set(),
    "pipeline.machine": set(),
    "pipeline.stage_server": set(),  # (the standard library only: every command imports it)
    "pipeline.config": FOUNDATION,
    "pipeline._io": CONFIG,
    "pipeline.crs": CONFIG,
    "pipeline.inputs": BASE,
    "pipeline.network": BASE,
    "pipeline.access": BASE | {"pipeline.inputs", "pipeline.network"},
    "pipeline.analysis": BASE | {"pipeline.inputs", "pipeline.network", "pipeline.access"},
    "pipeline.outputs": BASE
    | {"pipeline.inputs", "pipeline.network", "pipeline.access", "pipeline.analysis"},
    "pipeline.stages": BASE
    | {
        "pipeline.inputs",
        "pipeline.network",
        "pipeline.access",
        "pipeline.analysis",
        "pipeline.outputs",
    },
    "pipeline.cli": BASE
    | {
        "pipeline.inputs",
        "pipeline.network",
        "pipeline.access",
        "pipeline.analysis",
        "pipeline.outputs",
        "pipeline.stages",
        "pipeline.stage_server",
    },
    "pipeline.__main__": {"pipeline.cli", "pipeline.stage_server"},
    "pipeline.__init__": set(),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts)


def _part(module: str) -> str:
    """``pipeline.access.routing`` -> ``pipeline.access``; ``pipeline.errors`` stays."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every pipeline module `path` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pipeline":  # from pipeline import stages
                found += [(node.lineno, f"pipeline.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "pipeline"]


def test_every_part_is_in_the_table():
    parts = {_part(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    parts = {"pipeline.__init__" if p == "pipeline" else p for p in parts}
    assert parts == set(MAY_IMPORT), parts ^ set(MAY_IMPORT)


def test_no_module_reaches_up():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        own = _part(name) if name != "pipeline.__init__" else name
        allowed = MAY_IMPORT[own] | {own}
        for line, imported in _imports(path):
            if _part(imported) not in allowed:
                wrong.append(f"{path.relative_to(PROJECT)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_test_imports_another_test():
    wrong = []
    for path in sorted((PROJECT / "tests").rglob("*.py")):
        for line, imported in _test_imports(path):
            if imported.split(".")[-1].startswith("test_"):
                wrong.append(f"{path.relative_to(PROJECT)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)


def _test_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "tests"]
