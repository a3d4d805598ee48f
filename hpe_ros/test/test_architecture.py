"""The house plan, pinned: which rooms may import which, so the dependency direction stays bottom-up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hpe_ros"
ROS_MODULES = ("rclpy", "rcl_interfaces", "sensor_msgs", "geometry_msgs", "tf2_ros", "hpe_msgs", "launch")
# Shared rooms at the bottom: they import nothing of ours but errors (and each other, bottom-up).
FOUNDATIONS = {
    "errors": set(),
    "config": {"errors"},
    "image": {"errors"},
    "camera": {"errors"},
    "geometry": {"errors"},
    "results": set(),
    "tracks": {"errors", "config"},
}


def unit_of(module: str) -> str:
    """``hpe_ros.io.bag`` -> ``io``; ``hpe_ros.tracker`` -> ``tracker``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports() -> dict[str, set[str]]:
    """Per unit (subpackage or top module), every module it imports, eager or lazy."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        names = found.setdefault(unit_of(module), set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return found


def unit_graph() -> dict[str, set[str]]:
    graph = {}
    for unit, names in imports().items():
        graph[unit] = {unit_of(n) for n in names if n.startswith("hpe_ros.")} - {unit}
    return graph


def test_no_import_loops_between_units():
    graph = unit_graph()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    loops = sorted(unit for unit in graph if unit in reachable(unit))
    assert not loops, f"import loops through {loops}: { ({u: sorted(graph[u]) for u in loops}) }"


@pytest.mark.parametrize("unit", sorted(FOUNDATIONS))
def test_shared_rooms_stay_at_the_bottom(unit):
    assert unit_graph().get(unit, set()) <= FOUNDATIONS[unit]


def test_writers_and_ros_helpers_do_not_import_the_pipeline():
    """Result consumers read :mod:`hpe_ros.results`, never the tracker that produces them."""
    graph = unit_graph()
    assert "tracker" not in graph["io"]
    assert "ros" not in graph["io"]


def test_only_the_node_imports_ros():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "node.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ROS_MODULES]
    assert not offenders
