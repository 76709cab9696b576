"""Import figures of one package: top-level entries, modules, arrows, circles, depth.

    .venv/bin/python scripts/import_figures.py [tui|server]

TYPE_CHECKING imports count, as in the import-linter contracts. Uses grimp, the graph
library import-linter is built on.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import grimp


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other in a circle (Tarjan's strongly connected sets)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while (top := stack.pop()) != node:
                group.append(top)
            group.append(node)
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def main(package: str) -> None:
    """Print the figures of ``package``."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=False)
    modules = sorted(m for m in graph.modules if m.startswith(package))
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & set(modules) for m in modules}

    @cache
    def depth(module: str) -> int:
        return 1 + max((depth(o) for o in edges[module] if o != module), default=0)

    top = [p for p in Path(package).iterdir() if not p.name.startswith(("_", "."))]
    groups = circles(edges)
    print(
        f"{package}: {len(top)} entries at the top level, {len(modules)} modules, "
        f"{sum(map(len, edges.values()))} import arrows, {len(groups)} circles"
    )
    for group in groups:
        print("  circle:", " ".join(group))
    if not groups:
        print(f"  longest import chain: {max(map(depth, modules))} modules")


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main(sys.argv[1] if len(sys.argv) > 1 else "tui")
