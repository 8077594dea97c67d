"""The agents' package keeps its rooms: every module in a room by kind, imports running one way
(services, rotation -> engine -> watchers -> checks -> ocf -> host), no import cycle, no oversized module,
a docstring on every module and room. Read from the source with ast: lazy imports inside
functions count too (they are still a dependency, only a later one)."""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "agents" / "ocf_openstack"
NAME = "ocf_openstack"
# top first: a room may import its own modules and any room below it, never one above
ROOMS = ("services", "rotation", "engine", "watchers", "checks", "ocf", "host")
MAX_LINES = 350
# the engine's one door into the watchers
ENGINE_TO_WATCHERS = {"ocf_openstack.watchers.failure.hooks"}


def _modules() -> Dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> Set[str]:
    """The package's modules that ``module`` imports, anywhere in it."""
    tree = ast.parse(MODULES[module].read_text())
    here = module if _is_package(module) else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # "from X import y": y is a module of X, or a name defined in X
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != module)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_lives_in_a_room():
    loose = [m for m in MODULES if m != NAME and _room(m) not in ROOMS]
    assert not loose, f"modules outside the rooms {ROOMS}: {loose}"
    assert {_room(m) for m in MODULES if m != NAME} == set(ROOMS)


def test_imports_run_one_way():
    upward = []
    for module, imported in GRAPH.items():
        if module == NAME:
            continue
        for target in imported:
            if target == NAME:   # the package itself: __version__
                continue
            if ROOMS.index(_room(target)) < ROOMS.index(_room(module)):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the rooms' order " + " > ".join(ROOMS) + ": " + ", ".join(sorted(upward))


def test_the_engine_calls_the_watchers_through_one_face():
    doors = {t for m, ts in GRAPH.items() if _room(m) == "engine" for t in ts if _room(t) == "watchers"}
    assert doors <= ENGINE_TO_WATCHERS, f"the engine reaches into the watchers beyond their face: {doors}"


def _cycle() -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(module: str) -> List[str]:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[module] = 2
        return []

    for module in sorted(GRAPH):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return []


def test_no_import_cycle():
    # the root package only holds __version__: an import of it is no edge of a cycle
    cycle = _cycle()
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    """The check above can fail: a made-up edge back up closes a cycle it reports."""
    monkeypatch.setitem(GRAPH, "ocf_openstack.host.process",
                        GRAPH["ocf_openstack.host.process"] | {"ocf_openstack.engine.actions"})
    assert _cycle()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_is_small_and_says_what_it_is_for(module):
    text = MODULES[module].read_text()
    assert ast.get_docstring(ast.parse(text)), f"{module} has no docstring"
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines (more than {MAX_LINES}: two jobs?)"
