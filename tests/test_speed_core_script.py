"""benchmarks/speed_core.py runs end to end on tiny sizes and prints its ratio lines (no timing asserted)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

import isocl.nn.compressed  # noqa: F401
import isocl.nn.models  # noqa: F401  (the script's heavy import: avalanche loads once, at collection)

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed_core.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("speed_core", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_quick_run_prints_ratio_lines(capsys, restore_threads):
    # In-process (not a subprocess): importing avalanche costs 10+ s per interpreter.
    speed_core = _load_script()
    assert speed_core.main(["--quick", "--threads", "1", "--profile-rows", "3"]) == 0
    out = capsys.readouterr().out
    assert torch.get_num_threads() == 1
    assert "1 torch threads" in out

    moves = re.findall(
        r"^moves \(diagonalise\+grow\+prune, all layers\): .+; one epoch \(256 samples\): .+; "
        r"ratio [\d.]+% \(target <= 30%\) \[no verdict at --quick sizes\]$",
        out,
        flags=re.M,
    )
    assert len(moves) == 1, out
    assert len(re.findall(r"^    layer \d: diagonalise .+, grow .+, prune .+", out, flags=re.M)) == 2
    assert "where the move time goes" in out
    assert "moves.prune_layer" in out
    # one factorisation per layer per event: diagonalise makes it, prune reuses it (4 calls before the memo)
    assert re.search(r"factorisations \(factors\.factorise: .+; 2 calls", out), out

    weights = re.findall(r"^in_features (\d+) .+: weights dense ([\d,]+), compressed ([\d,]+)", out, flags=re.M)
    assert [w[0] for w in weights] == ["32", "48"]
    for _, dense, compressed in weights:
        assert int(compressed.replace(",", "")) < int(dense.replace(",", ""))
    ratios = re.findall(
        r"^  batch +\d+: dense .+, compressed .+; time ratio [\d.]+x \(target <= 0\.6x\) "
        r"\[no verdict at --quick sizes\]; "
        r"max \|diff\| ([\d.e+-]+)",
        out,
        flags=re.M,
    )
    assert len(ratios) == 4, out
    assert all(float(d) < 1e-4 for d in ratios)  # compressed form is exact up to float32 rounding


def test_bad_threads_rejected(capsys):
    speed_core = _load_script()
    with pytest.raises(SystemExit):
        speed_core.parse_args(["--threads", "0"])
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_verdict_follows_the_ratio_at_full_sizes():
    speed_core = _load_script()
    assert speed_core.judge(0.29, 0.30) == "ok"
    assert speed_core.judge(0.30, 0.30) == "ok"
    assert speed_core.judge(0.31, 0.30) == "MISSED"
    assert speed_core.judge(0.01, 0.30, full=False) == "no verdict at --quick sizes"
    assert speed_core.MOVES_TARGET == 0.30  # issue 18's target for the move share of an epoch
