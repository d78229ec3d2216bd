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
