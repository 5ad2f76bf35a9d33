"""Imports go downward only: a package may import its own layer's leaves and the layers below, never above.

Every module of ``hedgectl`` is parsed with ``ast``; imports inside functions count, and so do imports under
``if TYPE_CHECKING:`` (a type-only import still ties the lower layer to the higher one's names, and it is where
cycles hide first).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import hedgectl

#: The layers, lowest first. A unit (a top-level module or subpackage of ``hedgectl``) may import units of its own
#: layer and of any layer below it. Two units of one layer must not import each other, nor two modules or
#: subpackages of one package.
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundation: no trading knowledge
    ("hedgectl", "text", "errors", "clock", "decimals", "retry", "files", "locks", "transport"),
    # the paper venues: they speak the wire protocols with their own code, never the trading code's
    ("sim",),
    # the order model as plain values
    ("model",),
    # per-venue facts and the hedge's roles
    ("registry",),
    ("config",),
    ("connectors",),
    # stop signals and running a strategy under them
    ("runtime",),
    # services over the Connector interface
    ("execution",),
    ("journal",),
    ("notify", "telemetry"),
    ("strategies",),
    # the chaos rehearsal drives strategies against the paper venues
    ("rehearsal",),
    ("cli", "__main__"),
)

#: Upward edges accepted knowingly, each as (importing module or package, imported module); none today.
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset()


#: Libraries only some units may import: Rich draws for a person, so only the command line needs it (the collector
#: serves JSON and plain text).
CONFINED_LIBRARIES: dict[str, tuple[str, ...]] = {"rich": ("cli",)}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name
    imported: str  # dotted module name (a submodule when ``from package import submodule`` names one)
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(root: Path, dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    base = root / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def scan(root: Path, *, package: str | None = None) -> list[Edge]:
    """Every import of ``package`` (default: the package itself) by the modules of the package at ``root`` (a
    directory named after the package)."""
    package = package or root.name
    edges = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(root, path)
        here = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{alias.name}" if _exists(root, f"{source}.{alias.name}") else source
                    for alias in node.names
                ] if source.split(".")[0] == root.name else [source]
            else:
                continue
            for target in targets:
                if target == package or target.startswith(package + "."):
                    edges.append(Edge(importer, target, node.lineno))
    return edges


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise KeyError(name)


def _allowed(edge: Edge, allowed: frozenset[tuple[str, str]]) -> bool:
    return any(
        (edge.importer == importer or edge.importer.startswith(importer + "."))
        and (edge.imported == imported or edge.imported.startswith(imported + "."))
        for importer, imported in allowed
    )


def violations(edges: list[Edge], allowed: frozenset[tuple[str, str]] = ALLOWED_EDGES) -> list[str]:
    """Upward imports, units missing from ``LAYERS``, and two modules or subpackages of one package (at any depth)
    that import each other."""
    problems = []
    pairs: dict[tuple[str, str], Edge] = {}
    for edge in dict.fromkeys(edges):
        if _allowed(edge, allowed):
            continue
        low, high = unit(edge.importer), unit(edge.imported)
        unknown = [name for name in dict.fromkeys((low, high)) if name not in _names()]
        problems.extend(f"{edge.importer}: '{name}' is in no layer of LAYERS" for name in unknown)
        if unknown:
            continue
        siblings = _siblings(edge.importer, edge.imported)
        if siblings is not None:
            pairs.setdefault(siblings, edge)
        if low != high and _layer_of(high) > _layer_of(low):
            problems.append(f"{edge.importer}:{edge.line} imports {edge.imported}, a higher layer")
    for (a, b), edge in sorted(pairs.items()):
        if a < b and (b, a) in pairs:
            back = pairs[(b, a)]
            problems.append(
                f"{a} and {b} import each other ({edge.importer}:{edge.line} -> {edge.imported}; "
                f"{back.importer}:{back.line} -> {back.imported})"
            )
    return problems


def confined_violations(root: Path, confined: dict[str, tuple[str, ...]] = CONFINED_LIBRARIES) -> list[str]:
    return [
        f"{edge.importer}:{edge.line} imports {library}"
        for library, units in confined.items()
        for edge in scan(root, package=library)
        if unit(edge.importer) not in units
    ]


def _siblings(importer: str, imported: str) -> tuple[str, str] | None:
    """The two modules or subpackages of one package that the edge joins (None when one contains the other)."""
    left, right = importer.split("."), imported.split(".")
    for depth, (a, b) in enumerate(zip(left, right)):
        if a != b:
            return ".".join(left[: depth + 1]), ".".join(right[: depth + 1])
    return None


def _names() -> set[str]:
    return {name for layer in LAYERS for name in layer}


ROOT = Path(hedgectl.__file__).parent


def test_every_import_of_hedgectl_goes_down_the_layers():
    assert violations(scan(ROOT)) == []


def test_only_the_command_line_imports_rich():
    assert confined_violations(ROOT) == []


def test_a_rich_import_outside_the_command_line_is_found(tmp_path):
    root = _package(tmp_path, {"telemetry/board.py": "def draw():\n    from rich.table import Table\n"})
    assert confined_violations(root) == ["hedgectl.telemetry.board:2 imports rich"]


def test_every_unit_of_hedgectl_has_a_layer():
    units = {p.stem if p.suffix == ".py" else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert units - _names() == set()


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hedgectl"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    return root


def test_an_import_of_a_higher_layer_inside_a_function_is_found(tmp_path):
    root = _package(tmp_path, {
        "connectors/base.py": "def show():\n    from hedgectl.cli.terminal import Terminal\n",
        "cli/terminal.py": "class Terminal: ...\n",
    })
    assert violations(scan(root)) == [
        "hedgectl.connectors.base:2 imports hedgectl.cli.terminal, a higher layer",
    ]


def test_a_type_checking_import_of_a_higher_layer_is_found(tmp_path):
    root = _package(tmp_path, {
        "registry.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from hedgectl.config import model\n"),
        "config/model.py": "X = 1\n",
    })
    assert violations(scan(root)) == ["hedgectl.registry:3 imports hedgectl.config.model, a higher layer"]


def test_a_relative_import_of_a_higher_layer_is_found(tmp_path):
    root = _package(tmp_path, {
        "sim/venue.py": "from ..strategies import cycle\n",
        "strategies/cycle.py": "X = 1\n",
    })
    assert violations(scan(root)) == ["hedgectl.sim.venue:1 imports hedgectl.strategies.cycle, a higher layer"]


def test_two_units_of_one_layer_that_import_each_other_are_found(tmp_path):
    root = _package(tmp_path, {
        "notify/hedge.py": "import hedgectl.telemetry.heartbeat\n",
        "telemetry/heartbeat.py": "def f():\n    from hedgectl.notify import hedge\n",
    })
    problems = violations(scan(root))
    assert len(problems) == 1 and problems[0].startswith("hedgectl.notify and hedgectl.telemetry import each other")


def test_two_modules_of_one_package_that_import_each_other_are_found(tmp_path):
    root = _package(tmp_path, {
        "cli/hedge.py": "def loop():\n    from hedgectl.cli import hedge_loop\n",
        "cli/hedge_loop.py": "from hedgectl.cli.hedge import loop\n",
    })
    problems = violations(scan(root))
    assert len(problems) == 1 and problems[0].startswith("hedgectl.cli.hedge and hedgectl.cli.hedge_loop")


def test_two_modules_deep_in_one_package_that_import_each_other_are_found(tmp_path):
    root = _package(tmp_path, {
        "strategies/hedge/cycle.py": "from hedgectl.strategies.hedge.recovery import reconcile\n",
        "strategies/hedge/recovery.py": "def reconcile():\n    from hedgectl.strategies.hedge import cycle\n",
    })
    problems = violations(scan(root))
    assert len(problems) == 1
    assert problems[0].startswith("hedgectl.strategies.hedge.cycle and hedgectl.strategies.hedge.recovery")


def test_an_importing_module_outside_the_layers_is_found(tmp_path):
    root = _package(tmp_path, {"gadgets/thing.py": "from hedgectl import errors\n", "errors.py": ""})
    assert violations(scan(root)) == ["hedgectl.gadgets.thing: 'gadgets' is in no layer of LAYERS"]


def test_a_downward_import_is_no_violation(tmp_path):
    root = _package(tmp_path, {
        "cli/hedge.py": "from hedgectl.strategies.hedge import cycle\nfrom hedgectl import errors\n",
        "strategies/hedge/cycle.py": "from hedgectl.errors import VenueError\n",
        "errors.py": "class VenueError(Exception): ...\n",
    })
    assert violations(scan(root)) == []


def test_only_a_named_edge_is_allowed_upward(tmp_path):
    root = _package(tmp_path, {
        "sim/grvt.py": "from hedgectl.connectors.grvt.signing import LegScale\n",
        "sim/backpack.py": "from hedgectl.connectors.backpack.signing import verify\n",
        "connectors/grvt/signing.py": "LegScale = 1\n",
        "connectors/backpack/signing.py": "def verify(): ...\n",
    })
    allowed = frozenset({("hedgectl.sim.grvt", "hedgectl.connectors.grvt.signing")})
    assert violations(scan(root), allowed) == [
        "hedgectl.sim.backpack:1 imports hedgectl.connectors.backpack.signing, a higher layer",
    ]
