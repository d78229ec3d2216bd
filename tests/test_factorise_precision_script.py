"""benchmarks/factorise_precision.py: its margins are right where the answer is known, and it runs (no timing asserted)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "factorise_precision.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("factorise_precision", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_margins_of_isocls_factorisation_and_of_float32_eigh(script):
    w = script.matrices(quick=True)["132x128 scaffold+dup"]
    v = script.variants()
    null, orth, rank = script.margins(w, v["gram f64, eigh f64"](w))
    assert rank == 120  # 132 rows, 6 scaffold (zero) and 6 duplicates
    assert null < 0.01 and orth < 1e-6, (null, orth)
    null32, orth32, rank32 = script.margins(w, v["gram f32, eigh f32"](w))
    assert rank32 == 120
    assert null32 > 10 * null and orth32 > 5 * orth, (null32, null, orth32, orth)  # the margin float32 eigh gives up


def test_quick_run_prints_every_variant(script, capsys, restore_threads):
    assert script.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("gram f64, eigh f64 ") == 4 and out.count("isocl's factorise") == 4 and out.count("  null rows ") == 24


def test_bad_repeats_exit_2(script, capsys):
    with pytest.raises(SystemExit) as exc:
        script.main(["--repeats", "0"])
    assert exc.value.code == 2 and "--repeats must be >= 1, instead got 0" in capsys.readouterr().err
