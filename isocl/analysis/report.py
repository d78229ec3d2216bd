"""Comparison report for one or several isocl results directories.

:func:`build_report` reads results directories (``docs/results-format.md``),
renders the figures of :mod:`isocl.analysis.plots`, computes the paired
comparisons of :mod:`isocl.analysis.statistics` and writes a Markdown report
and a self-contained HTML page (Jinja2 templates in ``templates/``).

Output location
    One directory ``DIR``: figures into ``DIR/figures/``, ``DIR/report.md``,
    ``DIR/report.html`` and ``DIR/comparisons.csv`` (unless ``out`` is
    given).  Several directories: by default a ``comparison/`` folder next to
    the first one (``results_dirs[0].parent / "comparison"``), with the same
    layout but no paired comparisons (they are per results folder).

Several directories
    Their frames are concatenated.  A strategy name that occurs in more than
    one directory is prefixed with that directory's label (its folder name,
    made unique with ``#2``, ``#3``, ... if needed): ``run-a/naive`` and
    ``run-b/naive``.  The benchmark names (from ``config.toml`` /
    ``manifest.json``) appear in the title and the configuration section.

Robustness
    Failed units, missing files, Optuna studies without completed trials or
    empty frames skip the affected figure (or strategy) with a message in
    :attr:`ReportResult.warnings`, which the report also lists.  Only a
    directory that is not a results directory (:class:`NotAResultsDir`) and an
    unknown figure format (:class:`ValueError`) raise.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import re
import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from isocl.analysis import interactive, plots, statistics, tables
from isocl.analysis.reading import (  # noqa: F401 - load_studies: tests read studies through the report
    NotAResultsDir,
    Results,
    check_dir,
    concat,
    results_labels,
    load_studies,
    rename_collisions,
    strategies_of,
    load_results,
)
from isocl.analysis.tables import first_line
from isocl.bench.progress import phase

__all__ = [
    "FORMATS",
    "NotAResultsDir",
    "ReportResult",
    "Results",
    "build_report",
    "load_results",
]

FORMATS = ("png", "pdf", "svg")

_TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    out_dir: Path
    figures: list[Path]
    warnings: list[str]
    markdown: Path
    html: Path
    captions: dict[Path, str] = field(default_factory=dict)
    comparisons: Path | None = None  # comparisons.csv (one results directory only)
    notes: list[str] = field(default_factory=list)  # figures that do not apply (e.g. spectra without pruning)


@dataclass
class _Frames:
    """The results of every directory, concatenated; failed units dropped from all but ``summary``."""

    summary: pd.DataFrame
    metrics: pd.DataFrame | None
    experiences: pd.DataFrame | None
    structure: pd.DataFrame | None


class _Figures:
    """Renders figures into ``fig_dir``: a figure that cannot be drawn becomes a warning."""

    def __init__(self, fig_dir: Path, fmt: str, warn: list[str]):
        self.fig_dir, self.fmt, self.warn = fig_dir, fmt, warn
        self.made: list[tuple[Path, str, str]] = []  # (path, title, caption)
        self.notes: list[str] = []  # figures that do not apply to these results (not warnings)
        self.verdict: set[Path] = set()  # figures shown with the verdict
        self._stems: set[str] = set()

    def render_spec(self, spec: plots.FigureSpec, inputs: plots.FigureInputs) -> None:
        """A registered figure; skipped with a warning when an input it needs is missing or empty
        (the comparisons of several folders are never computed: skipped silently)."""
        for name in spec.needs:
            frame = getattr(inputs, name)
            if name == "structure" and frame is None:
                return  # said once per folder by _structure_notes
            if name == "comparisons" and (frame is None or not len(frame)):
                return  # several folders, or nothing to compare: the comparisons section says so
            if why := _missing(frame, plots.registry.INPUT_FILES[name]):
                self.warn.append(f"figure {spec.stem} skipped: {why}")
                return
        n = len(self.made)
        self.render(spec.stem, spec.title, spec.caption,
                    lambda p: plots.save_figure(spec.draw(inputs), p))
        if spec.verdict and len(self.made) > n:
            self.verdict.add(self.made[-1][0])

    def render(self, stem: str, title: str, caption: str, draw: Callable[[Path], Path],
               needs: tuple[pd.DataFrame | None, str] | None = None) -> None:
        """Draw ``stem``; ``needs=(frame, file name)``: skip with a warning when that frame is missing or empty."""
        if needs is not None and (why := _missing(*needs)):
            self.warn.append(f"figure {stem} skipped: {why}")
            return
        base, k = stem, 1
        while stem in self._stems:  # e.g. two study names with the same slug
            k += 1
            stem = f"{base}-{k}"
        self._stems.add(stem)
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore", UserWarning)
                result = Path(draw(self.fig_dir / f"{stem}.{self.fmt}"))
        except plots.NotApplicable as exc:
            self.notes.append(f"figure {stem} not drawn: {exc}")
            return
        except plots.NothingToPlot as exc:
            self.warn.append(f"figure {stem} skipped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - never let one figure sink the report
            self.warn.append(f"figure {stem} failed: {type(exc).__name__}: {first_line(str(exc))}")
            return
        self.made.append((result, title, caption))


# --------------------------------------------------------------------------
# the steps of build_report


def _check_arguments(results_dirs, out, fmt) -> tuple[list[Path], Path, str]:
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"unsupported figure format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    paths = [Path(p) for p in results_dirs]
    if not paths:
        raise ValueError("build_report needs at least one results directory")
    for p in paths:
        check_dir(p)
    if out is None:
        out = paths[0] if len(paths) == 1 else paths[0].resolve().parent / "comparison"
    return paths, Path(out), fmt.lower().lstrip(".")


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def _clear_old_figures(fig_dir: Path) -> None:
    """Remove figures a previous report wrote (so that none goes stale)."""
    for p in fig_dir.iterdir():
        if (
            p.is_file()
            and p.suffix.lstrip(".") in FORMATS
            and (p.stem in plots.FIGURES or p.stem.startswith("optuna-"))
        ):
            p.unlink()


def _read(paths: list[Path], warn: list[str]) -> tuple[list[Results], dict[str, str], _Frames]:
    """Read every directory, prefix colliding names; returns (results, strategy -> label, frames)."""
    results = [load_results(p, warn, label) for p, label in zip(paths, results_labels(paths))]
    if len(results) > 1:
        rename_collisions(results)
    run_of = {s: r.label for r in results for s in strategies_of(r)}
    frames = _Frames(*(concat([getattr(r, k) for r in results], k)
                       for k in ("summary", "metrics", "experiences", "structure")))
    return results, run_of, frames


def _drop_failed(frames: _Frames, warn: list[str]) -> list[list[str]]:
    """Failed units, as rows (strategy, seed, status, error), taken out of every frame but the summary."""
    summary, failed = frames.summary, []
    if not len(summary):
        warn.append("summary.csv holds no unit")
        return failed
    if "status" not in summary:
        return failed
    bad = summary[summary["status"] != "ok"]
    for rec in bad.itertuples(index=False):
        seed = "" if pd.isna(rec.seed) else f"{rec.seed:g}"
        error = getattr(rec, "error", None)
        failed.append([rec.strategy, seed, rec.status or "(empty)", "" if error is None or pd.isna(error) else str(error)])
        warn.append(f"unit {rec.strategy} seed {seed} {rec.status or 'has no status'}: "
                    f"{first_line(error)}; excluded from figures and table")
    bad_keys = set(zip(bad["strategy"], bad["seed"]))
    if bad_keys:
        def drop_bad(df):
            if df is None or not len(df):
                return df
            return df[~pd.Series(list(zip(df["strategy"], df["seed"])), index=df.index).isin(bad_keys)]

        frames.metrics, frames.experiences, frames.structure = (
            drop_bad(frames.metrics), drop_bad(frames.experiences), drop_bad(frames.structure))
    for s, sub in summary.groupby("strategy"):
        if not (sub["status"] == "ok").any():
            warn.append(f"strategy {s}: no successful unit; omitted from the figures")
    return failed


def _missing(frame, name) -> str | None:
    if frame is None:
        return f"no {name} in any results directory"
    if not len(frame):
        return f"{name} has no usable rows"
    return None


def _structure_notes(figs: _Figures, results: list[Results]) -> None:
    """Say which folders lack structure.csv (their strategies are missing from the spectra)."""
    no_structure = [r for r in results if r.structure is None]
    for r in no_structure:
        what = "no" if not (r.path / "structure.csv").is_file() else "no usable"
        figs.warn.append(f"{r.path}: {what} structure.csv; " + (
            "spectra figure skipped" if len(no_structure) == len(results)
            else "its strategies are missing from the spectra figure"))


def _draw_registered(figs: _Figures, inputs: plots.FigureInputs, progress=None) -> None:
    """Every registered figure, in report order (:func:`isocl.analysis.plots.ordered_figures`)."""
    for spec in plots.ordered_figures():
        if progress is not None:
            progress(spec.stem)
        figs.render_spec(spec, inputs)


def _model_kind(results: list[Results]) -> str:
    """The benchmarks' ``[model] kind``; folders of different kinds give their kinds joined by "+" (a label
    that names the mixture rather than one kind that would be wrong for some units)."""
    return "+".join(sorted({str(r.config.get("model", {}).get("kind", "mlp")) for r in results}))


def _compare(results: list[Results], out: Path, figs: _Figures) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Paired comparisons and the frontier table of one results directory, written to ``comparisons.csv``
    and ``frontier.csv`` (the forest plot and frontier figures are registered figures)."""
    from isocl.bench.results import atomic_write_text

    if len(results) > 1:
        return None, None
    try:
        kind = _model_kind(results)
        comparisons = statistics.compare_strategies(results[0].summary, kind)
    except ValueError as exc:
        figs.warn.append(f"comparisons skipped: {exc}")
        return None, None
    atomic_write_text(out / "comparisons.csv", comparisons.to_csv(index=False))
    try:
        frontier = statistics.frontier_table(results[0].summary, model_kind=kind)
    except (KeyError, ValueError) as exc:  # e.g. a summary.csv without max_params
        figs.warn.append(f"frontier.csv skipped: {type(exc).__name__}: {first_line(str(exc))}")
        return comparisons, None
    atomic_write_text(out / "frontier.csv", frontier.to_csv(index=False))
    return comparisons, frontier


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")
    return slug or "study"


def _draw_studies(figs: _Figures, results: list[Results]) -> None:
    """Optuna figures of every study in a results directory's ``study/`` folder."""
    several = len(results) > 1
    for r in results:
        if r.study_dir is None:
            continue
        for study in load_studies(r.study_dir, figs.warn):
            if not plots.complete_trials(study):
                figs.warn.append(f"{r.study_dir}: Optuna study {study.study_name!r} has no completed "
                                 "trial; its figures skipped")
                continue
            prefix = f"optuna-{_slug(r.label) + '-' if several else ''}{_slug(study.study_name)}"
            where, name = (f"{r.label}: " if several else ""), study.study_name
            names = plots.metric_names(study)
            n_obj = len(study.directions)
            for i in range(n_obj):
                figs.render(f"{prefix}-history{'' if n_obj == 1 else f'-{i}'}",
                            f"{where}Optuna study {name}: history of {names[i]}",
                            f"Optuna study {name!r}: {names[i]} of each trial"
                            + (" and the best value so far." if n_obj == 1 else "."),
                            lambda p, i=i, st=study: plots.plot_optuna_history(st, p, objective=i))
            figs.render(f"{prefix}-importances", f"{where}Optuna study {name}: parameter importances",
                        f"Optuna study {name!r}: importance of each hyperparameter (optuna's default evaluator).",
                        lambda p, st=study: plots.plot_optuna_importances(st, p))
            if n_obj > 1:
                figs.render(f"{prefix}-pareto", f"{where}Optuna study {name}: Pareto front",
                            f"Optuna study {name!r}: objectives of all trials, Pareto-optimal trials highlighted.",
                            lambda p, st=study: plots.plot_optuna_pareto(st, p))


# --------------------------------------------------------------------------
# writing


def _rel(path: Path, out: Path) -> str:
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=False,
                             keep_trailing_newline=True)
    # explicit filters: html.escape (quotes too) for HTML, tables.md_cell for Markdown
    env.filters.update(h=lambda v: html.escape(str(v)), md=tables.md_cell, fence=_fence)
    return env


def _figure_entries(figures, out: Path, fmt: str) -> list[dict]:
    entries = []
    for path, title, caption in figures:
        rel = _rel(path, out)
        src = rel
        if fmt != "pdf":
            try:
                mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
                src = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            except OSError:
                pass
        entries.append(dict(title=title, caption=caption, rel=rel, name=path.name, src=src, path=path))
    return entries


def _write(out: Path, fmt: str, results: list[Results], run_of: dict[str, str], frames: _Frames,
           failed: list[list[str]], comparisons: pd.DataFrame | None, figs: _Figures,
           frontier: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Fill the templates and write ``report.md`` and ``report.html`` atomically."""
    from isocl.bench.results import atomic_write_text

    names = set(frames.summary["strategy"].astype(str))
    order = [s for s in plots.strategy_palette(set(run_of) | names) if s in names]
    cells, bold = tables.metric_table(frames.summary, order, run_of, len(results) > 1)
    comp = tables.comparisons_table(comparisons) if comparisons is not None and len(comparisons) else None
    fronts = [] if frontier is None or not len(frontier) else [
        (statistics.FRONTIER_AXES[axis], tables.frontier_summary(frontier, axis))
        for axis in statistics.FRONTIER_AXES if (frontier["axis"] == axis).any()]
    benchmarks = list(dict.fromkeys(r.benchmark for r in results))
    entries = _figure_entries(figs.made, out, fmt)
    verdict = [e for e in entries if e["path"] in figs.verdict]
    rest = [e for e in entries if e["path"] not in figs.verdict]
    for i, e in enumerate(verdict + rest, 1):  # numbered in reading order
        e["number"] = i
    palette = plots.strategy_palette(set(run_of) | names)
    families = interactive.families_of(order, palette)
    charts = interactive.report_charts(frames.summary, palette) if fmt != "pdf" else []
    context = dict(
        title="isocl report: " + (" vs ".join(benchmarks) if len(benchmarks) <= 3 else f"{len(benchmarks)} benchmarks"),
        stamp=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        results=results, fmt=fmt, failed=failed, warnings=list(dict.fromkeys(figs.warn)),
        figures=entries, verdict_figures=verdict, other_figures=rest, notes=list(dict.fromkeys(figs.notes)),
        charts=charts, plotly_js=interactive.plotly_js() if charts else "",
        families_json=json.dumps(families).replace("</", "<\\/"),
        family_names=list(dict.fromkeys(families.values())), metric_note=tables.METRIC_NOTE,
        metrics_md=tables.md_table(cells, bold) if order else "",
        metrics_html=tables.html_table(cells, bold, cls="metrics sortable") if order else "",
        failed_md=tables.md_table(tables.failed_table(failed)) if failed else "",
        frontier_md=[(name, tables.md_table(t)) for name, t in fronts],
        frontier_html=[(name, tables.html_table(t, cls="frontier")) for name, t in fronts],
        frontier_note=tables.FRONTIER_NOTE,
        comparisons_md=tables.md_table(comp) if comp is not None else "",
        comparisons_html=tables.html_table(comp, cls="comparisons sortable") if comp is not None else "",
        comparison_sentences=tables.comparison_sentences(comparisons) if comp is not None else [],
        comparisons_none=tables.no_comparisons(len(results)),
        envs_md=[tables.md_table(tables.env_table(r.manifest)) if r.manifest else "" for r in results],
        envs_html=[tables.html_table(tables.env_table(r.manifest)) if r.manifest else "" for r in results],
        css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )
    env = _environment()
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, env.get_template("report.md.j2").render(context).rstrip() + "\n")
    atomic_write_text(html_path, env.get_template("report.html.j2").render(context))
    return md_path, html_path


def build_report(results_dirs: list[Path], out: Path | None = None, fmt: str = "png", *,
                 progress: bool = False) -> ReportResult:
    """Render the figures, compare the strategies and write ``report.md`` and ``report.html``.

    ``results_dirs``: one or more results directories (the ``--out`` folders
    of ``isocl run``).  ``out``: the output folder; default the results
    directory itself when there is one, else ``results_dirs[0].parent /
    "comparison"``.  Figures go to ``out/figures/`` in format ``fmt`` (``png``,
    ``pdf`` or ``svg``); with one directory the paired comparisons go to
    ``out/comparisons.csv``. ``progress``: a bar over the figures on stderr.

    Raises :class:`NotAResultsDir` for a directory lacking ``summary.csv`` or
    ``config.toml`` and :class:`ValueError` for an unknown ``fmt`` or an empty
    list; everything else that goes wrong becomes a warning.
    """
    paths, out, fmt = _check_arguments(results_dirs, out, fmt)
    if not any(_same_folder(out, p) for p in paths):  # a results folder itself takes its report
        from isocl.bench.results import claim_output_folder

        claim_output_folder(out, "plot", accept=("run",))
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    _clear_old_figures(fig_dir)
    warn: list[str] = []
    results, run_of, frames = _read(paths, warn)
    failed = _drop_failed(frames, warn)
    palette = plots.strategy_palette(sorted(set(run_of) | set(frames.summary["strategy"].astype(str))))
    figs = _Figures(fig_dir, fmt, warn)
    comparisons, frontier = _compare(results, out, figs)
    _structure_notes(figs, results)
    inputs = plots.FigureInputs(summary=frames.summary, metrics=frames.metrics, experiences=frames.experiences,
                                structure=frames.structure, comparisons=comparisons, palette=palette,
                                model_kind=_model_kind(results))
    with phase("figures", total=len(plots.FIGURES), enabled=progress) as step:
        _draw_registered(figs, inputs, step)
    _draw_studies(figs, results)
    md_path, html_path = _write(out, fmt, results, run_of, frames, failed, comparisons, figs, frontier)
    return ReportResult(
        out_dir=out, figures=[f for f, _, _ in figs.made], warnings=list(dict.fromkeys(warn)), markdown=md_path,
        html=html_path, captions={f: c for f, _, c in figs.made},
        comparisons=out / "comparisons.csv" if comparisons is not None else None, notes=list(dict.fromkeys(figs.notes)),
    )
