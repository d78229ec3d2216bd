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


def test_flat_paths_alias_the_same_modules():
    """0.1's flat import paths (used by third-party plug-ins) are the moved modules themselves."""
    import isocl.bench.registry
    import isocl.registry  # noqa: F401  (the old path)

    assert isocl.registry is isocl.bench.registry
    assert isocl.registry.__spec__.name == "isocl.bench.registry"
    from isocl import StrategyContext, moves, register_strategy

    assert register_strategy is isocl.bench.registry.register_strategy
    assert moves.__name__ == "isocl.nn.moves"
    assert StrategyContext.__module__ == "isocl.bench.context"


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
