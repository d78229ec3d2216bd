"""The ``isocl tune`` and ``isocl evaluate`` sub-commands (argparse)."""

from __future__ import annotations

import argparse

from isocl.bench.config import ConfigError
from isocl.tuning.evaluate import evaluate
from isocl.tuning.samplers import PRUNERS, SAMPLERS
from isocl.tuning.study import tune

TUNE_DESCRIPTION = """\
Tune one strategy with Optuna on the benchmark's validation stream (a split of
the training data: scenario.validation_fraction must be > 0; the test set is
never used). The search space is the benchmark's [search.STRATEGY] table, or a
default one (printed at the start). Each trial trains the strategy once (the
benchmark's first seed, or --seed) and scores the final average validation
accuracy; the pruner sees it after every experience. With --multi-objective
the objectives are validation accuracy (max), forgetting (min) and parameter
count (min), and the result is a Pareto front; Optuna does not prune
multi-objective trials.

The study lives in OUT/study.db (SQLite, one worker) or OUT/journal.log
(--jobs K > 1 worker processes), OUT = results/tune/<benchmark>-<strategy>
unless --out, or in --storage (e.g. PostgreSQL for several machines).
Rerunning the same command resumes the study and runs only the trials missing
to reach --trials finished (complete + pruned) trials; failed trials do not
count, and trials left running by a killed process are marked failed and
retried. Outputs in OUT: best.toml (a benchmark file for `isocl run` /
`isocl evaluate`), pareto/ (multi-objective), trials.csv and PNG plots.
"""




def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 0,1,2, got {text!r}") from None


def add_tune_parsers(subparsers, cmd_tune, cmd_evaluate) -> None:
    """Add ``tune`` and ``evaluate`` to the ``isocl`` command."""
    t = subparsers.add_parser("tune", help="tune a strategy's hyper-parameters with Optuna (validation stream only)",
                              description=TUNE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("benchmark", help="benchmark TOML file (its [search.STRATEGY] table is the search space)")
    t.add_argument("--strategy", required=True, help="registered strategy to tune (baselines too)")
    t.add_argument("--trials", type=_int,
                   help="target number of complete trials in the study (pruned and failed trials do not count); "
                        "rerunning the same command resumes the study and runs only the missing ones (required, "
                        "except with --strategy all, where the benchmark's [tuning] trials is the default)")
    t.add_argument("--storage", help="Optuna storage: an RDB URL (sqlite:///path.db, postgresql://user@host/db for "
                                     "several machines) or journal:PATH (default: OUT/study.db, or OUT/journal.log "
                                     "with --jobs > 1)")
    t.add_argument("--study", help="study name (default: <benchmark>-<strategy>)")
    t.add_argument("--jobs", type=_int,
                   help="local worker processes sharing the study (default 1, and the machine's cores with "
                        "--strategy all; > 1 uses a journal file)")
    t.add_argument("--timeout", type=float, help="stop each worker's loop after this many seconds")
    t.add_argument("--out", help="study folder: storage, best.toml, plots (default results/tune/<study>)")
    t.add_argument("--pruner", choices=PRUNERS,
                   help="pruner on the per-experience validation accuracy (default median; none with --strategy "
                        "all, whose studies compare complete runs, and with --multi-objective: Optuna does not "
                        "prune multi-objective trials)")
    t.add_argument("--sampler", choices=SAMPLERS,
                   help="sampler (default: tpe; nsga2 with --multi-objective)")
    t.add_argument("--multi-objective", action="store_true",
                   help="optimise (validation accuracy max, forgetting min, params min) for a Pareto front; "
                        "Optuna does not prune multi-objective trials")
    t.add_argument("--seed", type=_int,
                   help="training seed of every trial and sampler seed (default: the benchmark's first seed)")
    t.add_argument("--epochs", type=_int, help="epochs per experience (default: the benchmark's)")
    t.add_argument("--device", help="cpu or cuda (default: the benchmark's)")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    t.set_defaults(func=cmd_tune)

    e = subparsers.add_parser("evaluate", help="evaluate a tuned configuration (best.toml) on the TEST set",
                              description="Run a benchmark file written by `isocl tune` (best.toml or "
                                          "pareto/trial-N.toml) on the test set with several seeds and print the "
                                          "summary table. Tuning never saw the test set; this is the number to report.")
    e.add_argument("best", help="benchmark TOML written by isocl tune (any benchmark file works), or a model saved by "
                                "isocl run (DIR/models/<unit>.safetensors: evaluated on its benchmark's test stream)")
    e.add_argument("--seeds", type=_int_list, help="comma-separated seeds (default: the file's training.seeds)")
    e.add_argument("--out", help="results directory (default: eval-<file stem> next to the file)")
    e.add_argument("--device", help="cpu or cuda (default: the file's)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_evaluate)


def tune_command(args) -> int:
    from isocl.bench.config import load_benchmark

    bench = load_benchmark(args.benchmark)
    if args.trials is None:
        raise ConfigError("--trials is needed (the target number of complete trials), e.g. --trials 20")
    result = tune(
        bench, args.strategy, args.trials, storage=args.storage, study_name=args.study, jobs=args.jobs or 1,
        timeout=args.timeout, out=args.out, pruner=args.pruner, sampler=args.sampler,
        multi_objective=args.multi_objective, seed=args.seed, epochs=args.epochs, device=args.device,
        plots=not getattr(args, "no_plots", False),
    )
    print(result.summary())
    return 0 if result.ok else 1


def evaluate_command(args) -> int:
    from isocl.bench.runner import print_summary

    if str(args.best).endswith(".safetensors"):
        from isocl.bench.checkpoints import evaluate_model_command
        from isocl.bench.config import ConfigError

        if args.seeds or args.out:
            raise ConfigError(f"{args.best}: --seeds and --out apply to benchmark files; a saved model is evaluated "
                              "on the seed it was trained with and writes nothing")

        return evaluate_model_command(args.best, args.device)

    df, out = evaluate(args.best, seeds=args.seeds, out=args.out, device=args.device,
                       progress=not getattr(args, "quiet", False))
    print(print_summary(df, out))
    return 0


