"""The ``isocl`` command: run, list, plot, tune, evaluate, export, speed.

Each sub-command is a small function registered in ``COMMANDS`` (Optuna's
CLI pattern). Heavy modules are imported inside the commands. Bad input
(an option's value, configuration, unknown strategy, missing data, not a
results directory, an output folder isocl did not write) prints one clear
line and exits with code 2 before anything is written: every option is
checked by :func:`check_args` against ``isocl.bench.config.OPTIONS``. A run
stopped by its environment (a killed worker, a full disk) prints one line
and exits with code 1; rerunning the command resumes it; so does a run in
which every unit failed. SIGINT (Ctrl-C) and SIGTERM print one line
("interrupted: N of M units finished; rerun the same command to resume")
and exit with 130 and 143.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

__all__ = ["main"]


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 0,1,2, got {text!r}") from None


def _name_list(text: str) -> list[str]:
    from isocl.bench.config import comma_list

    return comma_list(text)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``isocl run: error: ...``, exit 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``, ``\\x1e``): an error
    message stays one line whatever the user typed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_args(args: argparse.Namespace) -> None:
    """Check every option of ``args.command`` that was given against ``isocl.bench.config.OPTIONS``
    (the benchmark file's checks where an option overrides a key); raises ConfigError."""
    from isocl.bench.config import check_options

    check_options(args.command, vars(args))


def _logger_list(text: str) -> list[str]:
    from isocl.bench.loggers import parse_logger_names

    try:
        return parse_logger_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _default_out(bench_path: str) -> Path:
    return Path("results") / Path(bench_path).stem


def cmd_run(args) -> int:
    from isocl.bench.progress import phase

    with phase("starting (importing Avalanche)", enabled=_show_progress(["--quiet"] if args.quiet else [])):
        from isocl.bench.config import load_benchmark
        from isocl.bench.runner import print_summary, run_benchmark

        bench = load_benchmark(args.benchmark)
    if args.logger is not None:
        bench.logging["loggers"] = args.logger
    if args.no_audit:
        bench.training["audit"] = False
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.dry_run:
        from isocl.analysis.report import build_report
        from isocl.bench.estimate import dry_run

        dry_run(bench, strategies=args.strategies, seeds=args.seeds, epochs=args.epochs, jobs=args.jobs,
                report=None if args.no_plot else build_report)
        return 0
    out = Path(args.out) if args.out else _default_out(args.benchmark)
    executor = None
    if args.executor == "ray":
        from isocl.bench.ray_executor import ray_executor_for_run

        def executor():  # connects only once the benchmark, the folder and the data are checked
            return ray_executor_for_run(bench, args)
    df = run_benchmark(bench, out, strategies=args.strategies, seeds=args.seeds, epochs=args.epochs,
                       device=args.device, progress=not args.quiet, command=sys.argv, jobs=args.jobs,
                       threads=args.threads, executor=executor,
                       check_data=args.executor != "ray" or not args.address)  # a cluster's nodes have their own
    print(print_summary(df, out))
    n, failed = df.attrs.get("units", 0), df.attrs.get("failed", 0)
    if n and failed == n:
        from isocl.bench.results import RunStopped

        errors = df[df["status"] != "ok"]["error"].dropna()
        first = str(errors.iloc[0]) if len(errors) else "see the unit records"
        raise RunStopped(f"every unit failed ({failed} of {n}; the first: {first}); their records and tracebacks "
                         f"are in {out}/units; rerun the same command once fixed (failed units run again)")
    if failed:
        print(f"isocl run: warning: {failed} of {n} units failed (status and error in {out}/summary.csv, "
              f"tracebacks in {out}/units); rerunning the same command runs them again", file=sys.stderr)
    if not args.no_plot:
        from isocl.analysis.report import build_report

        rep = build_report([out], progress=not args.quiet)
        for w in rep.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"report: {rep.markdown} and {rep.html}")
    return 0


def cmd_list(args) -> int:
    from isocl.bench.registry import BACKBONES, benchmark_dirs, list_strategies

    dirs = [Path(args.benchmarks)] if args.benchmarks else benchmark_dirs()
    print("benchmarks:")
    for path in [p for d in dirs for p in sorted(d.glob("*.toml"))]:
        from isocl.bench.config import ConfigError, load_benchmark

        try:
            b = load_benchmark(path)
            print(f"  {path}  {b.scenario['setting']}, {len(b.strategies)} strategies  {b.description}")
        except ConfigError as exc:
            print(f"  {path}  INVALID: {exc}")
    print("strategies:")
    for spec in list_strategies():
        extra = f" [{spec.settings[0]} only]" if len(spec.settings) == 1 else ""
        extra += f" [{spec.backbone} backbone]" if spec.backbone != BACKBONES[0] else ""
        extra += " [neuroplastic]" if spec.neuroplastic else ""
        params = ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items())
        print(f"  {spec.name:28s} {spec.description}{extra}")
        if params:
            print(f"  {'':28s} params: {params}")
    return 0


def cmd_plot(args) -> int:
    from isocl.analysis.report import build_report

    rep = build_report([Path(d) for d in args.results], Path(args.out) if args.out else None, args.format,
                       progress=sys.stderr.isatty())
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{len(rep.figures)} figures in {rep.out_dir}; report: {rep.markdown} and {rep.html}")
    return 0


def cmd_tune(args) -> int:
    if args.strategy == "all":  # every strategy of the benchmark and its twins, one budget
        from isocl.tuning.tune_all import tune_all_command

        return tune_all_command(args)
    from isocl.tuning import tune_command

    return tune_command(args)


def cmd_evaluate(args) -> int:
    from isocl.tuning import evaluate_command

    return evaluate_command(args)


def cmd_export(args) -> int:
    from isocl.bench.checkpoints import export_command

    return export_command(args)


def cmd_speed(args) -> int:
    from isocl.bench.speed import speed_command

    return speed_command(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="isocl", description="Continual-learning benchmarks for isotropic networks.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a benchmark (every strategy x seed) into a results directory")
    r.add_argument("benchmark", help="benchmark TOML file, e.g. benchmarks/split_cifar10_class_il.toml")
    r.add_argument("--strategies", type=_name_list, help="comma-separated strategy names (default: the file's)")
    r.add_argument("--seeds", type=_int_list, help="comma-separated seeds (default: the file's)")
    r.add_argument("--epochs", type=int, help="epochs per experience (default: the file's)")
    r.add_argument("--device", help="cpu or cuda (default: the file's)")
    r.add_argument("--out", help="results directory (default: results/<benchmark name>)")
    r.add_argument("--no-plot", action="store_true", help="skip the figures and report")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 is far faster on a loaded machine); "
                   "with --jobs, per worker (default: the cores shared out)")
    r.add_argument("--jobs", type=int, default=1,
                   help="run units in N worker processes on this machine (results equal a sequential run's at the "
                        "same --threads); with --executor ray, at most N units at once (default: as many as the "
                        "cluster's CPUs hold)")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where units run: this machine (default) or Ray tasks (pip install 'isocl[ray]')")
    r.add_argument("--address", help="with --executor ray: an existing Ray cluster (e.g. ray://head:10001 or auto); "
                                     "default: a local Ray instance started for this run")
    r.add_argument("--logger", type=_logger_list,
                   help="Avalanche loggers for every unit, comma-separated: text, csv, tensorboard, wandb "
                        "(default: the file's [logging] loggers); logs go to OUT/logs/<unit>/")
    r.add_argument("--dry-run", action="store_true",
                   help="list the units and estimate the wall time from a short calibration; run and write nothing")
    r.add_argument("--no-audit", action="store_true",
                   help="record structural events without probing them (training.audit = false; throughput runs)")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list benchmarks and strategies")
    ls.add_argument("--benchmarks", help="folder of benchmark TOML files (default: ./benchmarks and the shipped ones)")
    ls.set_defaults(func=cmd_list)

    pl = sub.add_parser("plot", help="figures and report for one or more results directories")
    pl.add_argument("results", nargs="+")
    pl.add_argument("--out", help="output folder (default: the results directory)")
    pl.add_argument("--format", default="png", choices=["png", "pdf", "svg"])
    pl.set_defaults(func=cmd_plot)

    try:
        from isocl.tuning import add_tune_parsers
    except ImportError:  # tuning not installed in this checkout
        add_tune_parsers = None
    if add_tune_parsers is not None:
        add_tune_parsers(sub, cmd_tune, cmd_evaluate)

    ex = sub.add_parser("export", help="export a unit's saved model (compressed: the alternating-diagonal form)")
    ex.add_argument("results", help="results directory of isocl run")
    ex.add_argument("--unit", required=True, help="unit name as in units/ and models/, e.g. neuro-prune-seed0")
    ex.add_argument("--compressed", action="store_true",
                    help="the alternating-diagonal inference form (every other map a diagonal vector)")
    ex.add_argument("--out", help="output file (default: RESULTS/export/<unit>[.compressed].safetensors)")
    ex.set_defaults(func=cmd_export)

    sp = sub.add_parser("speed", help="harness vs plain PyTorch loop on the same naive training (prints the ratio)")
    from isocl.bench.config import OPTIONS  # the declared defaults (light: no torch)

    speed = {k: spec[1] for k, spec in OPTIONS["speed"].items()}
    sp.add_argument("--epochs", type=int, default=speed["epochs"])
    sp.add_argument("--train-per-class", type=int, default=speed["train_per_class"],
                    help=f"training images per class (default {speed['train_per_class']})")
    sp.add_argument("--repeats", type=int, default=speed["repeats"])
    sp.add_argument("--device", default=speed["device"],
                    help="cpu or cuda[:N] (both sides train there, data resident on it)")
    sp.set_defaults(func=cmd_speed)
    for parser in sub.choices.values():
        parser.add_argument("--verbose", action="store_true",
                            help="show every warning, third-party ones included (default: only isocl's own)")
    return p


def _find_benchmark_arg(args) -> None:
    """``isocl run/tune NAME``: a shipped or ./benchmarks file by name as well as by path."""
    if isinstance(getattr(args, "benchmark", None), str):
        from isocl.bench.registry import find_benchmark

        args.benchmark = str(find_benchmark(args.benchmark))


def _show_progress(words) -> bool:
    """Start-up progress: on a terminal only (a pipe or a test reads one clean line of error), never with --quiet."""
    return sys.stderr.isatty() and "--quiet" not in words


def main(argv: list[str] | None = None) -> int:
    from isocl.bench.quiet import install

    # before anything imports a library that warns at import time (building the parser imports isocl.tuning)
    words = sys.argv[1:] if argv is None else argv
    install(verbose="--verbose" in words)
    from isocl.bench.progress import phase

    with phase("starting (importing torch, Avalanche)", enabled=_show_progress(words)):  # 5-20 s of imports
        args = build_parser().parse_args(argv)
        from isocl.bench.config import ConfigError
        from isocl.bench.data import DataError

        user_errors: tuple[type[BaseException], ...] = (ConfigError, DataError)
        try:
            from isocl.analysis.report import NotAResultsDir

            user_errors += (NotAResultsDir,)
        except ImportError:
            pass
        from isocl.bench.registry import UnknownStrategy

        user_errors += (UnknownStrategy,)
        from isocl.bench.results import RunStopped

    from isocl.bench.results import RunInterrupted

    previous = _catch_signals()
    try:
        check_args(args)
        _find_benchmark_arg(args)
        return args.func(args)
    except user_errors as exc:
        _one_line_error(args.command, exc)
        return 2
    except RunStopped as exc:
        _one_line_error(args.command, exc)
        return 1
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM (_Signal): one line, no traceback
        signum = getattr(exc, "signum", signal.SIGINT)
        text = str(exc) if isinstance(exc, RunInterrupted) else f"interrupted ({signal.Signals(signum).name})"
        print(one_line(text), file=sys.stderr)
        return 128 + int(signum)
    finally:
        _restore_signals(previous)


class _Signal(KeyboardInterrupt):
    """SIGINT or SIGTERM received: unwinds like Ctrl-C (workers stopped, nothing half-written)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal during the clean-up must not cut it short
        signal.signal(sig, signal.SIG_IGN)
    raise _Signal(signum)


def _catch_signals() -> dict:
    """SIGINT and SIGTERM raise :class:`_Signal` (only in the main thread: elsewhere Python cannot)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _one_line_error(command: str, exc: BaseException) -> None:
    print(f"isocl {command}: error: {one_line(str(exc))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
