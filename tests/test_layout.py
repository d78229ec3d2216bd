"""The package's layers import one way: nn <- bench <- analysis/tuning <- cli."""

import ast
import pathlib

import pytest

import isocl

PACKAGE = pathlib.Path(isocl.__file__).parent
# What each layer may import from isocl (besides itself and the top package).
ALLOWED = {
    "nn": {"nn"},
    "bench": {"nn", "bench"},
    "analysis": {"nn", "bench", "analysis"},
    "tuning": {"nn", "bench", "analysis", "tuning"},
}


def isocl_imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) for every ``isocl...`` import in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "isocl":
            if node.module == "isocl":
                found += [(node.lineno, f"isocl.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "isocl"]
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downwards(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules in isocl/{layer}"
    bad = []
    for path in files:
        for line, module in isocl_imports(path):
            target = layer_of(module)
            if target is None or target == "__version__":  # the top package itself
                continue
            if target not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not bad, "imports against the layer order nn <- bench <- analysis/tuning <- cli:\n" + "\n".join(bad)


def test_checker_catches_an_upward_import(tmp_path):
    """The checker itself can fail: an nn module reaching into the harness is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from isocl.bench.runner import run_unit\n")
    assert [layer_of(m) for _, m in isocl_imports(bad)] == ["bench"]
    assert "bench" not in ALLOWED["nn"]


def test_top_package_names_load_lazily():
    """``from isocl import moves, register_strategy, StrategyContext`` are the owning modules' objects."""
    import isocl.bench.registry
    from isocl import StrategyContext, build_model, moves, register_strategy

    assert register_strategy is isocl.bench.registry.register_strategy
    assert moves.__name__ == "isocl.nn.moves"
    assert StrategyContext.__module__ == "isocl.bench.context"
    assert build_model.__module__ == "isocl.nn.kinds"


def test_flat_paths_are_gone():
    """0.x: the pre-subpackage paths (``isocl.registry``) are not kept alive by an import hook."""
    with pytest.raises(ModuleNotFoundError):
        import isocl.registry  # noqa: F401


# Issue 20.2: helpers used across modules have public names; no import circles.
SOURCES = sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "strategies").glob("*.py"))


def module_name(path: pathlib.Path) -> str:
    """``isocl/bench/runner.py`` -> ``isocl.bench.runner``; a package's ``__init__`` is the package."""
    try:
        rel = path.relative_to(PACKAGE.parent)
    except ValueError:  # a file outside the source tree (the checkers' own tests)
        rel = pathlib.Path(path.name)
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (never run, so they tie no modules together)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imported_modules(path: pathlib.Path) -> dict[str, str]:
    """Local name -> isocl module for every module a file imports by name (``from isocl.nn import moves``,
    ``import isocl.bench.runner as runner``), nested imports included."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isocl"):
            found |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names
                      if is_module(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.asname: a.name for a in node.names if a.asname and a.name.startswith("isocl")}
    return found


def private_uses(path: pathlib.Path) -> list[str]:
    """Underscore names a file takes from another isocl module: imported (``from m import _x``) or
    read / written through the module (``m._x``). Dunders are not private names."""
    me = module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isocl") and node.module != me:
            found += [f"{path.name}:{node.lineno} imports {node.module}.{a.name}" for a in node.names
                      if private(a.name) and not is_module(f"{node.module}.{a.name}")]
    modules = {k: v for k, v in imported_modules(path).items() if v != me}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and private(node.attr)):
            found.append(f"{path.name}:{node.lineno} uses {modules[node.value.id]}.{node.attr}")
    return found


def test_no_private_names_across_modules():
    bad = [f for path in SOURCES for f in private_uses(path)]
    assert not bad, ("underscore names used outside their module (give the helper a public name in the "
                     "module that owns it):\n" + "\n".join(bad))


def test_private_name_checker_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from isocl.nn.moves import _x, rotate_layer\nfrom isocl.nn import moves\n"
                   "def f():\n    return moves._y, moves.__name__, moves.rotate_layer\n")
    assert private_uses(bad) == ["bad.py:1 imports isocl.nn.moves._x", "bad.py:4 uses isocl.nn.moves._y"]


def import_graph(files) -> dict[str, set[str]]:
    """module -> the isocl modules it imports (nested imports too; ``TYPE_CHECKING`` blocks not)."""
    graph = {}
    for path in files:
        me = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        edges = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isocl"):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    edges.add(sub if is_module(sub) else node.module)
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("isocl")}
        graph[me] = edges - {me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """No two modules import each other, directly or round a loop (lazy imports inside functions count:
    they tie the modules together all the same)."""
    found = cycles(import_graph(sorted(PACKAGE.rglob("*.py"))))
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_cycle_checker_can_fail(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text("from isocl.b import f\n")
    b.write_text("def g():\n    import isocl.a\n")
    c.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from isocl.a import f\n")
    graph = {f"isocl.{k}": v for k, v in import_graph([a, b, c]).items()}
    assert cycles(graph) == [["isocl.a", "isocl.b"]]
    assert graph["isocl.c"] == set()


# Issue 12.4: functions read as their steps, modules hold one concept.
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600
REASON = "size reason:"  # a docstring holding this phrase states why a function or module may be longer


def oversized(path: pathlib.Path) -> list[str]:
    """Functions over MAX_FUNCTION_LINES, and the module if over MAX_MODULE_LINES, without a stated reason."""
    text = path.read_text()
    tree = ast.parse(text, str(path))
    found = []
    if len(text.splitlines()) > MAX_MODULE_LINES and REASON not in (ast.get_docstring(tree) or ""):
        found.append(f"{path.name}: {len(text.splitlines())} lines")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and REASON not in (ast.get_docstring(node) or ""):
                found.append(f"{path.name}:{node.lineno} {node.name}() is {n} lines")
    return found


def test_functions_and_modules_stay_small():
    files = sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "strategies").glob("*.py"))
    bad = [f for path in files for f in oversized(path)]
    assert not bad, (
        f"over {MAX_FUNCTION_LINES} lines per function / {MAX_MODULE_LINES} per module "
        f"(split it, or state a '{REASON}' in its docstring):\n" + "\n".join(bad)
    )


def test_size_checker_can_fail(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert oversized(long) == [f"long.py:1 f() is {MAX_FUNCTION_LINES + 1} lines"]
    long.write_text('def f():\n    """size reason: a table."""\n' + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert oversized(long) == []
