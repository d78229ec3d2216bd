"""Run benchmark units (strategy x seed) and record their results.

:func:`run_unit` trains one strategy on one seed through the experiences and
evaluates after each (test stream, or the validation stream for tuning).
:func:`run_benchmark` runs every unit of a benchmark into a results
directory (docs/results-format.md), skipping units already finished there,
and adds fixed-width twins of neuroplastic strategies.
"""

from __future__ import annotations

import json
import math
import platform
import random
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from isocl.bench.config import Benchmark, ConfigError, to_toml
from isocl.bench.context import StrategyContext
from isocl.bench.data import CIFAR10Tensors, load_cifar10
from isocl.bench.metrics import EpochProgress, NonFiniteLossGuard, default_evaluator, hidden_widths, stream_metric
from isocl.bench.registry import get_strategy
from isocl.bench.results import atomic_write_text, collate, load_units, summary_table, write_unit
from isocl.bench.scenarios import make_split_cifar10

__all__ = ["UnitResult", "build_scenario", "check_benchmark", "run_benchmark", "run_unit", "unit_list"]

TWIN_PREFIXES = ("fixed-final", "fixed-max")
_ACC_KEY = re.compile(r"Top1_Acc_Exp/eval_phase/\w+?_stream/Task(\d+)/Exp(\d+)")
_LOSS_KEY = re.compile(r"Loss_Exp/eval_phase/\w+?_stream/Task(\d+)/Exp(\d+)")


@dataclass
class UnitResult:
    """One (strategy, seed) unit: the record written to ``units/*.json``."""

    strategy: str
    seed: int
    status: str = "ok"
    final_accuracy: float = math.nan
    avg_incremental_accuracy: float = math.nan
    forgetting: float = math.nan
    bwt: float = math.nan
    params: int | None = None
    max_params: int | None = None
    widths: str = ""
    wall_time_s: float = 0.0
    error: str = ""
    params_used: dict[str, Any] = field(default_factory=dict)
    matrix: list[dict[str, Any]] = field(default_factory=list)  # trained_exp, eval_exp, accuracy, loss
    experiences: list[dict[str, Any]] = field(default_factory=list)
    structure: list[dict[str, Any]] = field(default_factory=list)
    max_widths: list[int] = field(default_factory=list)
    final_widths: list[int] = field(default_factory=list)
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def build_scenario(bench: Benchmark, data: CIFAR10Tensors):
    sc = bench.scenario
    return make_split_cifar10(
        data,
        setting=sc["setting"],
        n_experiences=sc["n_experiences"],
        class_order=sc["class_order"],
        seed=sc["seed"],
        validation_fraction=sc["validation_fraction"],
        train_per_class=sc["train_per_class"] or None,
        test_per_class=sc["test_per_class"] or None,
    )


def _split_name(name: str) -> tuple[str | None, str]:
    """``fixed-final:neuro-grow`` -> ("fixed-final", "neuro-grow")."""
    if ":" in name:
        prefix, base = name.split(":", 1)
        if prefix in TWIN_PREFIXES:
            return prefix, base
    return None, name


def check_benchmark(bench: Benchmark, strategies: list[str] | None = None) -> list[str]:
    """Validate strategy names, settings and parameters before anything runs."""
    names = list(strategies or bench.strategies)
    setting = bench.scenario["setting"]
    where = str(bench.path or bench.name)
    for name in names:
        prefix, base = _split_name(name)
        spec = get_strategy(base)
        if setting not in spec.settings:
            raise ConfigError(
                f"{where}: strategy {base!r} needs {' or '.join(spec.settings)} (it uses task labels); "
                f"this benchmark's scenario.setting is {setting!r}"
            )
        spec.resolve(bench.strategy_params.get(base), f"{where}: [strategy.{base}]")
    unknown = sorted(set(bench.strategy_params) - {(_split_name(n)[1]) for n in names} - set(bench.strategies))
    for name in unknown:
        get_strategy(name)  # a table for an unknown strategy is an error
    return names


def _parse_eval(results: dict[str, float], trained: int, n_exp: int) -> list[dict[str, Any]]:
    acc: dict[int, float] = {}
    loss: dict[int, float] = {}
    for key, value in results.items():
        if m := _ACC_KEY.fullmatch(key):
            acc[int(m.group(2))] = float(value)
        elif m := _LOSS_KEY.fullmatch(key):
            loss[int(m.group(2))] = float(value)
    return [
        {"trained_exp": trained, "eval_exp": e, "accuracy": acc.get(e, math.nan), "loss": loss.get(e, math.nan)}
        for e in range(n_exp)
    ]


def _apply_overrides(bench: Benchmark, base: str, params: dict[str, Any] | None) -> tuple[Benchmark, dict[str, Any]]:
    """Split tuner-style overrides: ``lr``/``weight_decay`` -> training, ``model.X`` -> model, else strategy."""
    bench = bench.replace()
    strategy_params = dict(bench.strategy_params.get(base, {}))
    for key, value in (params or {}).items():
        if key in ("lr", "weight_decay", "batch_size", "epochs"):
            bench.training[key] = value
            if key == "lr":
                bench.training["lr_by_activation"] = {}
        elif key.startswith("model."):
            bench.model[key[len("model.") :]] = value
        else:
            strategy_params[key] = value
    bench.strategy_params[base] = strategy_params
    return bench, strategy_params


def run_unit(
    bench: Benchmark,
    strategy: str,
    seed: int,
    *,
    scenario=None,
    data: CIFAR10Tensors | None = None,
    params: dict[str, Any] | None = None,
    eval_stream: str = "test",
    epochs: int | None = None,
    device: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    on_experience: Callable[[int, float], None] | None = None,
    progress: bool = False,
) -> UnitResult:
    """Train ``strategy`` on ``seed`` and evaluate after every experience.

    ``params`` override strategy parameters (and ``lr``, ``model.X``).
    ``eval_stream="valid"`` evaluates on the validation stream (tuning; the
    test set is never touched). ``on_experience(i, avg_accuracy)`` is called
    after each experience (the tuner reports to its pruner there; exceptions
    it raises propagate). A non-finite loss ends the unit with
    ``status="failed"``; other errors propagate.
    """
    prefix, base = _split_name(strategy)
    spec = get_strategy(base)
    bench, sparams = _apply_overrides(bench, base, params)
    resolved = spec.resolve(sparams, f"{bench.path or bench.name}: [strategy.{base}]")
    if prefix is not None:  # a fixed-width twin runs the spec's fixed-width strategy
        twin = get_strategy(spec.twin)
        resolved = twin.resolve({k: resolved[k] for k in spec.twin_params if k in resolved})
        spec = twin
    if scenario is None:
        scenario = build_scenario(bench, data if data is not None else load_cifar10())
    if eval_stream not in ("test", "valid"):
        raise ValueError(f"eval_stream must be 'test' or 'valid', instead got {eval_stream!r}")
    if eval_stream == "valid" and not hasattr(scenario, "valid_stream"):
        raise ConfigError(f"{bench.path or bench.name}: tuning needs scenario.validation_fraction > 0")
    stream = scenario.test_stream if eval_stream == "test" else scenario.valid_stream
    dev = torch.device(device or bench.training["device"])
    gen = seed_everything(seed)
    ctx = StrategyContext(
        bench=bench,
        seed=seed,
        device=dev,
        evaluator=default_evaluator(),
        epochs=epochs or bench.training["epochs"],
        n_classes=scenario.n_classes,
        plugins=[NonFiniteLossGuard(), EpochProgress(disable=not progress)],
        model_overrides=dict(model_overrides or {}),
        generator=gen,
    )
    result = UnitResult(strategy=strategy, seed=seed, params_used=resolved)
    n_exp = len(scenario.train_stream)
    start = time.perf_counter()
    avgs: list[float] = []
    max_widths: list[int] = []
    try:
        strat = spec.factory(ctx, **resolved)
        bar = tqdm(scenario.train_stream, desc=f"{strategy} seed {seed}", position=1, leave=False,
                   disable=not progress)
        for i, exp in enumerate(bar):
            t0 = time.perf_counter()
            strat.train(exp)
            train_time = time.perf_counter() - t0
            # Only experiences seen so far: evaluating unseen ones would run Avalanche's
            # eval-time adaptation on them (PNN would add and freeze columns for future tasks).
            res = strat.eval(stream[: i + 1])
            rows = _parse_eval(res, i, n_exp)
            result.matrix += rows
            avg = float(np.mean([r["accuracy"] for r in rows[: i + 1]]))
            avgs.append(avg)
            widths = hidden_widths(strat.model)
            max_widths = [max(a, b) for a, b in zip(max_widths, widths)] if len(max_widths) == len(widths) else widths
            params_now = sum(p.numel() for p in strat.model.parameters())
            result.experiences.append({
                "experience": i, "avg_accuracy": avg, "params": params_now,
                "widths": "-".join(map(str, widths)), "wall_time_s": round(train_time, 3),
            })
            if on_experience is not None:
                on_experience(i, avg)
        result.final_accuracy = avgs[-1]
        result.avg_incremental_accuracy = float(np.mean(avgs))
        result.forgetting = stream_metric(res, "StreamForgetting", f"{eval_stream}_stream")
        result.bwt = stream_metric(res, "StreamBWT", f"{eval_stream}_stream")
        result.params = result.experiences[-1]["params"]
        result.max_params = max(e["params"] for e in result.experiences)
        result.widths = result.experiences[-1]["widths"]
        result.final_widths = hidden_widths(strat.model)
        for event in ctx.audit:  # peaks inside an experience (e.g. an overabundant start before pruning)
            layer = event.get("layer")
            if isinstance(layer, int) and layer < len(max_widths):
                max_widths[layer] = max(max_widths[layer], int(event["neurons_before"]), int(event["neurons_after"]))
        result.max_widths = max_widths
    except ConfigError:
        raise  # a configuration problem: exit code 2, nothing recorded
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, the other units go on
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
        if progress:
            tqdm.write(f"unit {strategy} seed {seed} failed: {result.error}")
    result.structure = list(ctx.audit)
    result.wall_time_s = round(time.perf_counter() - start, 2)
    return result


def unit_list(bench: Benchmark, strategies: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """(strategy, seed) pairs, twins right after their neuroplastic strategy."""
    units = []
    for name in strategies:
        spec = get_strategy(_split_name(name)[1])
        for seed in seeds:
            units.append((name, seed))
            if spec.neuroplastic and bench.twins and _split_name(name)[0] is None:
                units += [(f"{p}:{name}", seed) for p in TWIN_PREFIXES]
    return units


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    """A resolved config without what may grow between resumed runs (strategies, seeds, device)."""
    import copy as _copy

    cfg = _copy.deepcopy(cfg)
    cfg.pop("strategies", None)
    cfg.pop("strategy", None)
    cfg.pop("search", None)  # search spaces do not change a run
    for key in ("seeds", "device"):
        cfg.get("training", {}).pop(key, None)
    return cfg


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_same_config(out: Path, bench: Benchmark) -> None:
    """Refuse to resume into a folder whose finished units used another configuration."""
    import tomllib

    path = Path(out) / "config.toml"
    if not path.is_file() or not any((Path(out) / "units").glob("*.json")):
        return
    old = _comparable(tomllib.loads(path.read_text(encoding="utf-8")))
    new = _comparable(tomllib.loads(to_toml(bench.to_dict())))
    if old != new:
        flat_old, flat_new = _flatten(old), _flatten(new)
        diff = sorted(k for k in set(flat_old) | set(flat_new) if flat_old.get(k) != flat_new.get(k))
        raise ConfigError(
            f"{out} holds results of another configuration (differs in {', '.join(diff) or 'its settings'}); "
            "resume with the same settings or choose another --out"
        )


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _manifest(bench: Benchmark, device: str, command: list[str] | None) -> dict[str, Any]:
    import avalanche
    import optuna

    import isocl

    return {
        "isocl": isocl.__version__,
        "torch": torch.__version__,
        "avalanche": getattr(avalanche, "__version__", ""),
        "optuna": optuna.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "command": " ".join(command or sys.argv),
        "benchmark": bench.name,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_benchmark(
    bench: Benchmark,
    out: Path,
    *,
    strategies: list[str] | None = None,
    seeds: list[int] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    data: CIFAR10Tensors | None = None,
    progress: bool = True,
    command: list[str] | None = None,
) -> Any:
    """Run every unit into ``out`` (resuming), write the CSVs; returns the summary frame."""
    names = check_benchmark(bench, strategies)
    seeds = list(seeds if seeds is not None else bench.training["seeds"])
    if epochs is not None:
        bench = bench.replace()
        bench.training["epochs"] = epochs
    device = device or bench.training["device"]
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    bench = bench.replace()
    bench.training["device"] = device
    bench.training["seeds"] = seeds
    bench.strategies = names
    out = Path(out)
    _check_same_config(out, bench)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.toml", to_toml(bench.to_dict()))
    manifest = _manifest(bench, device, command)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    _check_same_config(out, bench)
    done = {(u["strategy"], u["seed"]): u for u in load_units(out) if u.get("status") == "ok"}
    units = unit_list(bench, names, seeds)
    scenario = None
    bar = tqdm(units, desc="units", position=0, disable=not progress)
    for name, seed in bar:
        bar.set_postfix_str(f"{name} seed {seed}")
        if (name, seed) in done:
            continue
        if scenario is None:
            scenario = build_scenario(bench, data if data is not None else load_cifar10())
        prefix, base = _split_name(name)
        overrides = None
        if prefix is not None:
            parent = done.get((base, seed))
            if parent is None:
                continue  # the neuroplastic unit failed: no width to match
            overrides = {"widths": parent["final_widths"] if prefix == "fixed-final" else parent["max_widths"]}
            if prefix == "fixed-max" and parent["max_widths"] == parent["final_widths"]:
                continue  # identical to the fixed-final twin: not run twice
        result = run_unit(bench, name, seed, scenario=scenario, model_overrides=overrides, progress=progress)
        write_unit(out, result.to_dict())
        if result.status == "ok":
            done[(name, seed)] = result.to_dict()
        collate(out, units)
    df = collate(out, units)
    manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return df


def print_summary(df, out: Path) -> str:
    text = summary_table(df)
    return f"{text}\n\nresults: {out}"
