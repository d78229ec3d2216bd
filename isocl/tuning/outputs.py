"""What a study leaves in its folder: ``best.toml`` (a benchmark file ``isocl
run`` accepts as is), ``pareto/trial-N.toml`` (multi-objective),
``trials.csv`` and Optuna's plots."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from isocl.bench.config import Benchmark, to_toml


def best_benchmark(bench: Benchmark, strategy: str, params: Mapping[str, Any], note: str = "") -> Benchmark:
    """The benchmark with the tuned parameters in place: ``strategies = [strategy]``,
    strategy parameters in ``[strategy.NAME]``, ``lr`` etc. in ``[training]``,
    ``model.X`` in ``[model]`` (the routing ``run_unit`` applied to the trial)."""
    from isocl.bench.units import apply_overrides

    out, sparams = apply_overrides(bench, strategy, dict(params))
    out.strategies = [strategy]
    out.strategy_params = {strategy: sparams} if sparams else {}
    out.search = {}
    out.name = f"{bench.name}-{strategy}-tuned"
    out.description = note or f"{bench.description} -- {strategy} with tuned parameters".strip(" -")
    return out


def _snippet(bench: Benchmark, strategy: str, trial, header: list[str]) -> str:
    note = f"{strategy} tuned with isocl tune (trial {trial.number})"
    b = best_benchmark(bench, strategy, trial.params, note=f"{bench.description} -- {note}" if bench.description else note)
    return "".join(f"# {line}\n" for line in header) + "\n" + to_toml(b.to_dict())


def write_outputs(study, bench: Benchmark, strategy: str, out_dir: Path, *, multi: bool, seed: int,
                  plots: bool = True) -> dict[str, Any]:
    """``best.toml`` (``pareto/trial-N.toml`` per Pareto trial), ``trials.csv`` and plots in ``out_dir``."""
    import optuna
    from optuna.trial import TrialState

    from isocl.bench.results import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"best": None, "pareto": [], "plots": [], "trials_csv": None}
    trials = study.get_trials(deepcopy=False)
    if trials:
        df = study.trials_dataframe()
        atomic_write_text(out_dir / "trials.csv", df.to_csv(index=False))
        written["trials_csv"] = out_dir / "trials.csv"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return written
    n_fin = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    epochs = bench.training["epochs"]
    cmd = f"isocl evaluate {out_dir / 'best.toml'} --seeds 0,1,2"
    if multi:
        front = sorted(study.best_trials, key=lambda t: (-t.values[0], t.values[1], t.values[2]))
        pareto_dir = out_dir / "pareto"
        pareto_dir.mkdir(exist_ok=True)
        for old in pareto_dir.glob("trial-*.toml"):  # the front moves as trials are added
            old.unlink()
        for t in front:
            acc, forg, size = t.values
            header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}, Pareto trial {t.number} "
                      f"({len(front)} on the front of {n_fin} finished trials)",
                      f"validation (seed {seed}, {epochs} epochs): final average accuracy {acc:.4f}, "
                      f"forgetting {forg:.4f}, {int(size):,} parameters",
                      f"evaluate on the test set: isocl evaluate {pareto_dir / f'trial-{t.number:05d}.toml'} --seeds 0,1,2"]
            path = pareto_dir / f"trial-{t.number:05d}.toml"
            atomic_write_text(path, _snippet(bench, strategy, t, header))
            written["pareto"].append(path)
        best = front[0]
        header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}: the Pareto trial with the "
                  f"highest validation accuracy, trial {best.number} (all {len(front)}: {pareto_dir}/)",
                  f"validation (seed {seed}, {epochs} epochs): final average accuracy {best.values[0]:.4f}, "
                  f"forgetting {best.values[1]:.4f}, {int(best.values[2]):,} parameters",
                  f"evaluate on the test set: {cmd}"]
    else:
        best = study.best_trial
        header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}, best of {n_fin} finished "
                  f"trials: trial {best.number}",
                  f"validation (seed {seed}, {epochs} epochs): final average accuracy {best.value:.4f}",
                  f"evaluate on the test set: {cmd}"]
    atomic_write_text(out_dir / "best.toml", _snippet(bench, strategy, best, header))
    written["best"] = out_dir / "best.toml"
    written["best_trial"] = best
    if plots:
        written["plots"] = _plots(study, out_dir, multi=multi)
    return written


def _plots(study, out_dir: Path, *, multi: bool) -> list[Path]:
    """Optuna's own figures (drawn by :mod:`isocl.analysis.plots`); a figure that cannot be drawn is skipped."""
    from isocl.analysis import plots

    jobs = [("history.png", plots.plot_optuna_history), ("param_importances.png", plots.plot_optuna_importances),
            ("pareto_front.png", plots.plot_optuna_pareto) if multi
            else ("intermediate_values.png", plots.plot_optuna_intermediate)]
    made = []
    for name, draw in jobs:
        try:
            made.append(draw(study, out_dir / name))
        except plots.NothingToPlot as exc:
            print(f"isocl tune: note: {name} not drawn ({exc})", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a plot never fails the run
            print(f"isocl tune: warning: {name} not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)
    return made
