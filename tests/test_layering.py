r"""The package's layering, checked from the source.

Every module of :mod:`mmgraph` is parsed with :mod:`ast`; every ``import``
and ``from ... import`` in it counts, **function-local ones and those under
``if TYPE_CHECKING:`` included** (a local import hides a dependency, it does
not remove it). The test fails on

* an import from a lower layer to a higher one (a module may import from its
  own layer and the layers below it),
* a module that :data:`LAYERS` does not place,
* any cycle in the module graph (also inside one layer or one package),

and prints every violation, one per line.

:data:`LAYERS` is the map to adjust when a top-level module is added or
moves: layers from low to high, each a set of names under ``mmgraph.`` (a
package covers its submodules). The package root ``mmgraph/__init__.py`` is
the public facade above every layer: it may import anything, and no module
may import it back (``from mmgraph import X`` inside the package is an
upward import; import ``X`` from its own module).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple
# Low -> high. `report` (plain-text tables, no mmgraph import) and
# `distributed` (torch.distributed helpers, no mmgraph import) are leaves
# next to config/errors/io/registry: the evaluation and the trainer shard
# and all-reduce through `distributed`, and the data, training and CLI
# commands print tables with `report`. `runtime` (allocator settings, no
# mmgraph import) is a leaf the trainer and the evaluation enter.
LAYERS: List[Set[str]] = [
    {"config", "errors", "io", "registry", "report", "distributed",
     "runtime"},
    {"data"},
    {"nn"},
    {"models"},
    {"evaluation"},
    {"train", "unlearn"},
    {"runs"},
    # Deployment reads finished run folders (`export`, `serve`); the search
    # drives experiments.
    {"experiment", "export", "serve"},
    {"search"},
    {"cli"},
]

PACKAGE = "mmgraph"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
FACADE = PACKAGE  # the root __init__: above every layer


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def discover(root: Path = ROOT) -> Dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve_relative(module: str, is_package: bool, level: int,
                      target: Optional[str]) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(module: str, path: Path, modules: Iterable[str]) -> List[Tuple[str, int]]:
    r"""``(imported mmgraph module, line)`` for every import in the file; a
    ``from package import name`` counts as an import of ``package.name`` when
    that is a module, else of ``package``."""
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    out: List[Tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    out.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in known else base, node.lineno))
    return out


def layer_of(module: str) -> Optional[int]:
    if module == FACADE:
        return len(LAYERS)
    top = module.split(".")[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return None


def _describe(i: int) -> str:
    return "/".join(sorted(LAYERS[i])) if i < len(LAYERS) else "mmgraph (facade)"


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    r"""Strongly connected components with more than one module, or a
    module importing itself (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    sccs: List[List[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    sccs.append(sorted(comp))
    return sorted(sccs)


def violations(root: Path = ROOT) -> List[str]:
    modules = discover(root)
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    where: Dict[Tuple[str, str], int] = {}
    problems: List[str] = []
    for module, path in modules.items():
        src = layer_of(module)
        if src is None:
            problems.append(f"unplaced: {module} ({path.relative_to(root.parent)}) is in no "
                            "layer of LAYERS")
        for target, line in imports_of(module, path, modules):
            if target == module:
                continue
            graph[module].add(target)
            where.setdefault((module, target), line)
            dst = layer_of(target)
            if src is None or dst is None or dst <= src:
                continue
            problems.append(f"upward: {path.relative_to(root.parent)}:{line} {module} "
                            f"[{_describe(src)}] imports {target} [{_describe(dst)}]")
    for comp in find_cycles(graph):
        path = shortest_cycle(graph, comp)
        steps = " -> ".join(f"{a} (line {where[(a, b)]})" for a, b in zip(path, path[1:]))
        problems.append(f"cycle: {len(comp)} module(s) [{', '.join(comp)}]; e.g. {steps} "
                        f"-> {path[-1]}")
    return problems


def shortest_cycle(graph: Dict[str, Set[str]], comp: List[str]) -> List[str]:
    r"""A shortest cycle through the first module of a strongly connected
    component, as ``[m0, m1, ..., m0]`` (breadth-first inside it)."""
    members, start = set(comp), comp[0]
    parent: Dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start] + path[::-1][1:] + [start] if node != start \
                        else [start, start]
                if child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")


# ------------------------------------------------------- the checker itself
def _write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / PACKAGE


def test_checker_finds_local_upward_imports_and_cycles(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "from mmgraph.data import x\n",
        "errors.py": "",
        "data/__init__.py": "from .dataset import D\n",
        "data/dataset.py": "def f():\n    from mmgraph.models.base import M\n",
        "models/__init__.py": "",
        "models/base.py": "from ..data import dataset\nfrom mmgraph import errors\n",
        "nn/__init__.py": "import mmgraph.nn.a\n",
        "nn/a.py": "from mmgraph import nn\n",
        "stray.py": "",
    })
    found = violations(pkg)
    text = "\n".join(found)
    assert any(p.startswith("upward: mmgraph/data/dataset.py:2 mmgraph.data.dataset [data] "
                            "imports mmgraph.models.base [models]") for p in found), text
    assert any(p.startswith("unplaced: mmgraph.stray") for p in found), text
    cycles = [p for p in found if p.startswith("cycle:")]
    assert len(cycles) == 2, text
    assert cycles[0] == ("cycle: 2 module(s) [mmgraph.data.dataset, mmgraph.models.base]; e.g. "
                         "mmgraph.data.dataset (line 2) -> mmgraph.models.base (line 1) -> "
                         "mmgraph.data.dataset")
    assert cycles[1].startswith("cycle: 2 module(s) [mmgraph.nn, mmgraph.nn.a]")
    # relative imports resolve; `from mmgraph import errors` is the leaf module
    assert not any("imports mmgraph.errors" in p for p in found)
    assert len(found) == 4, text


def test_find_cycles_self_loop_and_chain():
    assert find_cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


# ------------------------------------------------------------ the package
def test_layering():
    found = violations()
    if found:
        print(f"{len(found)} layering violation(s):")
        for p in found:
            print("  " + p)
    assert not found, f"{len(found)} layering violation(s):\n" + "\n".join(found)


if __name__ == "__main__":  # python tests/test_layering.py: the list alone
    for p in violations() or ["no violation"]:
        print(p)
