"""Comparison report for one or several isocl results directories.

:func:`build_report` reads results directories (``docs/results-format.md``),
renders the figures of :mod:`isocl.analysis.plots` and writes a Markdown report and a
self-contained HTML page.

Output location
    One directory ``DIR``: figures into ``DIR/figures/``, ``DIR/report.md``
    and ``DIR/report.html`` (unless ``out`` is given).  Several directories:
    by default a ``comparison/`` folder next to the first one
    (``results_dirs[0].parent / "comparison"``), with the same layout.

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
import math
import re
import tomllib
import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from isocl.analysis import plots
from isocl.bench.results import EXPERIENCE_COLUMNS, METRICS_COLUMNS, STRUCTURE_COLUMNS, SUMMARY_COLUMNS

__all__ = [
    "FORMATS",
    "NotAResultsDir",
    "ReportResult",
    "Results",
    "build_report",
    "load_results",
]

FORMATS = ("png", "pdf", "svg")

_REQUIRED = ("summary.csv", "config.toml")

# The results format's columns: one definition, in isocl.bench.results.
_COLUMNS = {
    "summary": SUMMARY_COLUMNS,
    "metrics": METRICS_COLUMNS,
    "experiences": EXPERIENCE_COLUMNS,
    "structure": STRUCTURE_COLUMNS,
}
# columns a figure cannot do without
_NEEDED = {
    "summary": ["strategy", "seed", "status"],
    "metrics": ["strategy", "seed", "trained_exp", "eval_exp", "accuracy"],
    "experiences": ["strategy", "seed", "experience"],
    "structure": ["strategy", "seed", "experience", "layer", "event"],
}
_TEXT_COLUMNS = {
    "strategy": str,
    "status": str,
    "widths": str,
    "error": str,
    "event": str,
    "sigmas": str,
    "removed_sigmas": str,
}

# the metric table: (column, heading, kind, higher is better)
_TABLE = [
    ("final_accuracy", "final accuracy (%)", "pct", True),
    ("avg_incremental_accuracy", "avg incremental accuracy (%)", "pct", True),
    ("forgetting", "forgetting (%)", "pct", False),
    ("bwt", "BWT (%)", "pct", True),
    ("params", "params", "int", False),
    ("max_params", "max params", "int", False),
]

_FIGURE_STEMS = (
    "accuracy-matrices",
    "average-accuracy",
    "final-accuracy-forgetting",
    "width-params",
    "spectra",
    "accuracy-vs-params",
)


class NotAResultsDir(ValueError):
    """A path given as a results directory is not the ``--out`` folder of
    ``isocl run``."""


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    out_dir: Path
    figures: list[Path]
    warnings: list[str]
    markdown: Path
    html: Path
    captions: dict[Path, str] = field(default_factory=dict)


@dataclass
class Results:
    """One results directory, read."""

    path: Path
    label: str
    benchmark: str
    config: dict
    config_text: str
    manifest: dict | None
    summary: pd.DataFrame
    metrics: pd.DataFrame | None
    experiences: pd.DataFrame | None
    structure: pd.DataFrame | None
    study_dir: Path | None


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _check_dir(path: Path) -> None:
    missing = [f for f in _REQUIRED if not (path / f).is_file()]
    if missing:  # names the first missing file (summary.csv before config.toml)
        raise NotAResultsDir(
            f"{path}: not an isocl results directory (missing {missing[0]}); "
            "expected the --out folder of `isocl run`"
        )


def _read_csv(path: Path, kind: str, warn: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(
            path, dtype={c: t for c, t in _TEXT_COLUMNS.items() if c in _COLUMNS[kind]}
        )
    except pd.errors.EmptyDataError:
        warn.append(f"{path}: empty file")
        return pd.DataFrame(columns=_COLUMNS[kind])
    except Exception as exc:  # noqa: BLE001 - a malformed CSV of any kind
        warn.append(f"{path}: could not be read ({type(exc).__name__}: {exc})")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in _NEEDED[kind] if c not in df.columns]
    if missing:
        warn.append(f"{path}: missing column(s) {', '.join(missing)}; file ignored")
        return None
    df["strategy"] = df["strategy"].astype(str)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce")
    return df


def _benchmark_name(config: dict, manifest: dict | None, path: Path) -> str:
    for value in (
        config.get("name"),
        config.get("benchmark", {}).get("name")
        if isinstance(config.get("benchmark"), dict)
        else config.get("benchmark"),
        (manifest or {}).get("benchmark"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return path.name


def load_results(
    path, warn: list[str] | None = None, label: str | None = None
) -> Results:
    """Read one results directory; problems other than a missing
    ``summary.csv`` / ``config.toml`` are appended to ``warn``."""
    warn = [] if warn is None else warn
    path = Path(path)
    _check_dir(path)
    config_text = (path / "config.toml").read_text(encoding="utf-8", errors="replace")
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        warn.append(f"{path / 'config.toml'}: not valid TOML ({exc})")
        config = {}
    manifest = None
    if (path / "manifest.json").is_file():
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as exc:
            warn.append(f"{path / 'manifest.json'}: could not be read ({exc})")
            manifest = None
    else:
        warn.append(f"{path}: no manifest.json; environment unknown")
    summary = _read_csv(path / "summary.csv", "summary", warn)
    if summary is None:
        summary = pd.DataFrame(columns=_COLUMNS["summary"])
    if "status" in summary.columns:
        summary["status"] = summary["status"].fillna("").astype(str).str.strip()
    frames = {}
    for kind in ("metrics", "experiences", "structure"):
        frames[kind] = _read_csv(path / f"{kind}.csv", kind, warn)
        if (
            frames[kind] is None
            and not (path / f"{kind}.csv").is_file()
            and kind != "structure"
        ):  # reported with the spectra figure
            warn.append(f"{path}: no {kind}.csv")
    study_dir = path / "study" if (path / "study").is_dir() else None
    return Results(
        path=path,
        label=label or path.name,
        benchmark=_benchmark_name(config, manifest, path),
        config=config,
        config_text=config_text,
        manifest=manifest,
        summary=summary,
        metrics=frames["metrics"],
        experiences=frames["experiences"],
        structure=frames["structure"],
        study_dir=study_dir,
    )


# --------------------------------------------------------------------------
# combining several directories
# --------------------------------------------------------------------------


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with as many parent folders as needed
    (``a/results``, ``b/results``) and, failing that, ``#2``, ``#3``..."""
    parts = [p.resolve().parts for p in paths]
    labels = []
    for i, pp in enumerate(parts):
        label = pp[-1] if pp else str(paths[i])
        for depth in range(1, len(pp) + 1):
            label = "/".join(pp[-depth:]).lstrip("/") or str(paths[i])
            clash = [
                j
                for j, qq in enumerate(parts)
                if j != i and "/".join(qq[-depth:]).lstrip("/") == label
            ]
            if not clash:
                break
        labels.append(label)
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _strategies_of(r: Results) -> set[str]:
    out = set(r.summary["strategy"].astype(str)) if "strategy" in r.summary else set()
    for df in (r.metrics, r.experiences, r.structure):
        if df is not None:
            out |= set(df["strategy"].astype(str))
    return out


def _rename_collisions(results: list[Results]) -> None:
    """Prefix strategy names that occur in several directories with the
    directory label.  Twins follow their strategy: if ``X`` collides,
    ``fixed-final:X`` and ``fixed-max:X`` are prefixed as well (and the other
    way round), so a family keeps one hue."""
    count: dict[str, int] = {}
    for r in results:
        for family in {plots.base_strategy(s) for s in _strategies_of(r)}:
            count[family] = count.get(family, 0) + 1
    for r in results:
        mapping = {
            s: f"{r.label}{plots.DIR_SEPARATOR}{s}"
            for s in _strategies_of(r)
            if count[plots.base_strategy(s)] > 1
        }
        if not mapping:
            continue
        for attr in ("summary", "metrics", "experiences", "structure"):
            df = getattr(r, attr)
            if df is not None and "strategy" in df.columns:
                setattr(r, attr, df.assign(strategy=df["strategy"].replace(mapping)))


def _concat(frames: list[pd.DataFrame | None], kind: str) -> pd.DataFrame | None:
    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=_COLUMNS[kind])
    return pd.concat(frames, ignore_index=True)


def _first_line(text) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "(no error message)"
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no error message)"


# --------------------------------------------------------------------------
# the metric table
# --------------------------------------------------------------------------


def _fmt_stat(mean: float, sd: float, kind: str) -> str:
    if not np.isfinite(mean):
        return "–"
    if kind == "pct":
        text = f"{mean * 100:.1f}"
        return text if not np.isfinite(sd) else f"{text} ± {sd * 100:.1f}"
    text = f"{mean:,.0f}"
    return text if not np.isfinite(sd) else f"{text} ± {sd:,.0f}"


def _metric_table(
    summary: pd.DataFrame, order: list[str], run_of: dict[str, str], several: bool
) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """Header, cells and bold flags of the strategy-by-metric table."""
    ok = (
        summary[summary["status"] == "ok"] if "status" in summary else summary.iloc[0:0]
    )
    header = ["strategy"] + (["results"] if several else []) + ["n seeds"]
    header += [h for _, h, _, _ in _TABLE]
    any_failed = bool((summary["status"] != "ok").any()) if len(summary) else False
    if any_failed:
        header.append("failed")
    stats: dict[str, dict[str, tuple[float, float]]] = {}
    for s in order:
        sub = ok[ok["strategy"] == s]
        stats[s] = {}
        for col, _, kind, _ in _TABLE:
            vals = (
                pd.to_numeric(sub[col], errors="coerce").dropna()
                if col in sub
                else pd.Series(dtype=float)
            )
            mean = float(vals.mean()) if len(vals) else math.nan
            sd = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
            stats[s][col] = (mean, sd)
    best: dict[str, float] = {}
    for col, _, kind, higher in _TABLE:
        shown = [
            round(
                stats[s][col][0] * (100 if kind == "pct" else 1),
                1 if kind == "pct" else 0,
            )
            for s in order
            if np.isfinite(stats[s][col][0])
        ]
        if shown:
            best[col] = max(shown) if higher else min(shown)
    rows, bold = [], []
    for s in order:
        sub_all = summary[summary["strategy"] == s]
        n_ok = int((sub_all["status"] == "ok").sum()) if "status" in sub_all else 0
        row = [s] + ([run_of.get(s, "")] if several else []) + [str(n_ok)]
        flags = [False] * len(row)
        for col, _, kind, _ in _TABLE:
            mean, sd = stats[s][col]
            row.append(_fmt_stat(mean, sd, kind))
            shown = (
                round(mean * (100 if kind == "pct" else 1), 1 if kind == "pct" else 0)
                if np.isfinite(mean)
                else None
            )
            flags.append(
                shown is not None
                and col in best
                and shown == best[col]
                and len(order) > 1
            )
        if any_failed:
            row.append(str(len(sub_all) - n_ok))
            flags.append(False)
        rows.append(row)
        bold.append(flags)
    return header, rows, bold


# --------------------------------------------------------------------------
# Optuna
# --------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")
    return slug or "study"


def _study_storages(study_dir: Path) -> list[tuple[Path, Callable[[], object]]]:
    """(file, storage factory) for the Optuna storages in ``study_dir``:
    ``journal.log`` first (``isocl tune`` moves a study that goes parallel from
    ``study.db`` into the journal and uses the journal from then on), then
    ``study.db``."""
    import optuna

    found: list[tuple[Path, Callable[[], object]]] = []
    log = study_dir / "journal.log"
    if log.is_file():

        def journal(p=log):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(str(p.resolve())))

        found.append((log, journal))
    db = study_dir / "study.db"
    if db.is_file():
        found.append(
            (db, lambda p=db: optuna.storages.RDBStorage(f"sqlite:///{p.resolve()}"))
        )
    return found


def _load_studies(study_dir: Path, warn: list[str]) -> list:
    """Every study in the storages of ``study_dir``; a study name found in
    both storages is taken from the journal."""
    import optuna

    studies, seen = [], {}
    storages = _study_storages(study_dir)
    if not storages:
        warn.append(
            f"{study_dir}: no Optuna storage (study.db or journal.log); "
            "study figures skipped"
        )
        return studies
    for file, make in storages:
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                storage = make()
                names = optuna.study.get_all_study_names(storage=storage)
                if not names:
                    warn.append(f"{file}: holds no Optuna study; study figures skipped")
                for name in names:
                    if name in seen:
                        warn.append(
                            f"{file}: study {name!r} is also in {seen[name].name}; "
                            f"using {seen[name].name}"
                        )
                        continue
                    studies.append(optuna.load_study(study_name=name, storage=storage))
                    seen[name] = file
        except Exception as exc:  # noqa: BLE001 - any storage problem is a warning
            warn.append(
                f"{file}: could not load the Optuna studies "
                f"({type(exc).__name__}: {_first_line(str(exc))}); study figures skipped"
            )
    return studies


# --------------------------------------------------------------------------
# rendering helpers
# --------------------------------------------------------------------------


def _md_cell(text) -> str:
    text = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    text = text.replace("|", "\\|")
    return re.sub(r"([*_`\[\]])", r"\\\1", text)


def _md_table(header: list[str], rows: list[list[str]], bold=None) -> str:
    lines = [
        "| " + " | ".join(_md_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            cell = _md_cell(c)
            if bold and bold[i][j]:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]], bold=None, cls="") -> str:
    out = [f'<table class="{cls}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{html.escape(str(h))}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        out.append("<tr>")
        for j, c in enumerate(row):
            cell = html.escape(str(c))
            if bold and bold[i][j]:
                cell = f"<strong>{cell}</strong>"
            out.append(f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _env_rows(manifest: dict) -> list[list[str]]:
    rows = []
    for k, v in manifest.items():
        rows.append([str(k), v if isinstance(v, str) else json.dumps(v)])
    return rows


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.metrics td:not(:first-child) { text-align: right; white-space: nowrap; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .8em; overflow-x: auto;
      font-size: 0.88em; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-style: italic; margin-top: .3em; }
.warnings li { color: #8a4b00; }
.note { color: #555; font-size: 0.92em; }
"""


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------


def build_report(
    results_dirs: list[Path], out: Path | None = None, fmt: str = "png"
) -> ReportResult:
    """Render the figures and write ``report.md`` and ``report.html``.

    ``results_dirs``: one or more results directories (the ``--out`` folders
    of ``isocl run``).  ``out``: the output folder; default the results
    directory itself when there is one, else ``results_dirs[0].parent /
    "comparison"``.  Figures go to ``out/figures/`` in format ``fmt`` (``png``,
    ``pdf`` or ``svg``).

    Raises :class:`NotAResultsDir` for a directory lacking ``summary.csv`` or
    ``config.toml`` and :class:`ValueError` for an unknown ``fmt`` or an empty
    list; everything else that goes wrong becomes a warning.
    """
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FORMATS:
        raise ValueError(
            f"unsupported figure format {fmt!r}; choose one of {', '.join(FORMATS)}"
        )
    fmt = fmt.lower().lstrip(".")
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    paths = [Path(p) for p in results_dirs]
    if not paths:
        raise ValueError("build_report needs at least one results directory")
    for p in paths:
        _check_dir(p)
    several = len(paths) > 1
    if out is None:
        out = paths[0] if not several else paths[0].resolve().parent / "comparison"
    out = Path(out)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    _clear_old_figures(fig_dir)

    warn: list[str] = []
    results = [load_results(p, warn, label) for p, label in zip(paths, _labels(paths))]
    if several:
        _rename_collisions(results)
    run_of: dict[str, str] = {}
    for r in results:
        for s in _strategies_of(r):
            run_of[s] = r.label

    summary = _concat([r.summary for r in results], "summary")
    metrics = _concat([r.metrics for r in results], "metrics")
    experiences = _concat([r.experiences for r in results], "experiences")
    structure = _concat([r.structure for r in results], "structure")

    # failed units
    failed_rows = []
    if len(summary) and "status" in summary:
        bad = summary[summary["status"] != "ok"]
        for rec in bad.itertuples(index=False):
            seed = "" if pd.isna(rec.seed) else f"{rec.seed:g}"
            error = getattr(rec, "error", None)
            failed_rows.append(
                [
                    rec.strategy,
                    seed,
                    rec.status or "(empty)",
                    "" if error is None or pd.isna(error) else str(error),
                ]
            )
            warn.append(
                f"unit {rec.strategy} seed {seed} {rec.status or 'has no status'}: "
                f"{_first_line(error)}; excluded from figures and table"
            )
        bad_keys = set(zip(bad["strategy"], bad["seed"]))
        if bad_keys:

            def drop_bad(df):
                if df is None or not len(df):
                    return df
                keys = pd.Series(list(zip(df["strategy"], df["seed"])), index=df.index)
                return df[~keys.isin(bad_keys)]

            metrics, experiences, structure = (
                drop_bad(metrics),
                drop_bad(experiences),
                drop_bad(structure),
            )
        for s, sub in summary.groupby("strategy"):
            if not (sub["status"] == "ok").any():
                warn.append(
                    f"strategy {s}: no successful unit; omitted from the figures"
                )
    if not len(summary):
        warn.append("summary.csv holds no unit")

    all_strategies = sorted(set(run_of) | set(summary["strategy"].astype(str)))
    palette = plots.strategy_palette(all_strategies)
    order = list(palette)
    table_order = [s for s in order if s in set(summary["strategy"].astype(str))]

    figures: list[tuple[Path, str, str]] = []  # (path, title, caption)
    used_stems: set[str] = set()

    def render(stem: str, title: str, caption: str, draw: Callable[[Path], Path]):
        base, k = stem, 1
        while stem in used_stems:  # e.g. two study names with the same slug
            k += 1
            stem = f"{base}-{k}"
        used_stems.add(stem)
        path = fig_dir / f"{stem}.{fmt}"
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore", UserWarning)
                result = Path(draw(path))
        except plots.NothingToPlot as exc:
            warn.append(f"figure {stem} skipped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - never let one figure sink the report
            warn.append(
                f"figure {stem} failed: {type(exc).__name__}: {_first_line(str(exc))}"
            )
            return
        figures.append((result, title, caption))

    def missing(frame, name):
        if frame is None:
            return f"no {name} in any results directory"
        if not len(frame):
            return f"{name} has no usable rows"
        return None

    if why := missing(metrics, "metrics.csv"):
        warn.append(f"figure accuracy-matrices skipped: {why}")
    else:
        render(
            "accuracy-matrices",
            "Accuracy matrices",
            "Accuracy (%) on each experience (columns) after training each experience "
            "(rows), mean over seeds.",
            lambda p: plots.plot_accuracy_matrices(metrics, palette, p),
        )
    if why := missing(experiences, "experiences.csv"):
        warn.append(f"figure average-accuracy skipped: {why}")
        warn.append(f"figure width-params skipped: {why}")
    else:
        render(
            "average-accuracy",
            "Average accuracy after each experience",
            "Average accuracy over the experiences seen so far after training each "
            "experience; line = mean, band = 95% bootstrap CI over seeds.",
            lambda p: plots.plot_average_accuracy(experiences, palette, p),
        )
    render(
        "final-accuracy-forgetting",
        "Final accuracy and forgetting",
        "Final accuracy and forgetting per strategy: mean ± sd over seeds (diamonds), "
        "individual seeds as dots.",
        lambda p: plots.plot_final_accuracy_forgetting(summary, palette, p),
    )
    if not missing(experiences, "experiences.csv"):
        render(
            "width-params",
            "Network size over experiences",
            "Hidden width per layer and parameter count of the dynamic strategies after "
            "each experience (mean ± sd over seeds); dashed lines: fixed-width strategies.",
            lambda p: plots.plot_width_and_params(experiences, palette, p),
        )
    no_structure = [r for r in results if r.structure is None]
    for r in no_structure:
        what = "no" if not (r.path / "structure.csv").is_file() else "no usable"
        warn.append(
            f"{r.path}: {what} structure.csv; "
            + (
                "spectra figure skipped"
                if len(no_structure) == len(results)
                else "its strategies are missing from the spectra figure"
            )
        )
    if structure is not None and len(structure):
        render(
            "spectra",
            "Singular-value spectra",
            "Singular-value spectrum of each hidden layer before (thin dashed) and after "
            "(thick solid) pruning, one colour per experience (one seed per strategy).",
            lambda p: plots.plot_spectra(structure, palette, p),
        )
    elif structure is not None:
        warn.append("figure spectra skipped: structure.csv has no usable rows")
    render(
        "accuracy-vs-params",
        "Accuracy against parameter count",
        "Final accuracy against final parameter count (log scale), mean ± sd over seeds, "
        "seeds as faint dots; dashed step line: Pareto frontier.",
        lambda p: plots.plot_accuracy_vs_params(summary, palette, p),
    )

    # Optuna studies
    for r in results:
        if r.study_dir is None:
            continue
        studies = _load_studies(r.study_dir, warn)
        for study in studies:
            if not plots._complete_trials(study):
                warn.append(
                    f"{r.study_dir}: Optuna study {study.study_name!r} has no completed "
                    "trial; its figures skipped"
                )
                continue
            prefix = f"optuna-{_slug(r.label) + '-' if several else ''}{_slug(study.study_name)}"
            where = f"{r.label}: " if several else ""
            n_obj = len(study.directions)
            names = plots._metric_names(study)
            for i in range(n_obj):
                suffix = "" if n_obj == 1 else f"-{i}"
                render(
                    f"{prefix}-history{suffix}",
                    f"{where}Optuna study {study.study_name}: history of {names[i]}",
                    f"Optuna study {study.study_name!r}: {names[i]} of each trial"
                    + (" and the best value so far." if n_obj == 1 else "."),
                    lambda p, i=i, st=study: plots.plot_optuna_history(
                        st, p, objective=i
                    ),
                )
            render(
                f"{prefix}-importances",
                f"{where}Optuna study {study.study_name}: parameter importances",
                f"Optuna study {study.study_name!r}: importance of each hyperparameter "
                "(optuna's default evaluator).",
                lambda p, st=study: plots.plot_optuna_importances(st, p),
            )
            if n_obj > 1:
                render(
                    f"{prefix}-pareto",
                    f"{where}Optuna study {study.study_name}: Pareto front",
                    f"Optuna study {study.study_name!r}: objectives of all trials, "
                    "Pareto-optimal trials highlighted.",
                    lambda p, st=study: plots.plot_optuna_pareto(st, p),
                )

    warn = list(dict.fromkeys(warn))
    header, rows, bold = _metric_table(summary, table_order, run_of, several)
    md_path, html_path = out / "report.md", out / "report.html"
    context = {
        "results": results,
        "header": header,
        "rows": rows,
        "bold": bold,
        "failed": failed_rows,
        "figures": figures,
        "warnings": warn,
        "out": out,
        "fmt": fmt,
        "several": several,
    }
    _atomic_write(md_path, _markdown(**context))
    _atomic_write(html_path, _html(**context))
    return ReportResult(
        out_dir=out,
        figures=[f for f, _, _ in figures],
        warnings=warn,
        markdown=md_path,
        html=html_path,
        captions={f: c for f, _, c in figures},
    )


def _clear_old_figures(fig_dir: Path) -> None:
    """Remove figures a previous report wrote (so that none goes stale)."""
    for p in fig_dir.iterdir():
        if (
            p.is_file()
            and p.suffix.lstrip(".") in FORMATS
            and (p.stem in _FIGURE_STEMS or p.stem.startswith("optuna-"))
        ):
            p.unlink()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _title(results: list[Results]) -> str:
    names = list(dict.fromkeys(r.benchmark for r in results))
    return "isocl report: " + (
        " vs ".join(names) if len(names) <= 3 else f"{len(names)} benchmarks"
    )


def _rel(path: Path, out: Path) -> str:
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


_TABLE_NOTE = (
    "Mean ± sd over the successful seeds; accuracies, forgetting and BWT in %; "
    "params = parameters of the final model, max params = the most during training. "
    "Best value per column in bold (highest accuracy and BWT, lowest forgetting and "
    "parameter counts)."
)


def _markdown(
    *, results, header, rows, bold, failed, figures, warnings, out, fmt, several
) -> str:
    stamp = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    md = [f"# {_md_cell(_title(results))}", ""]
    md.append(
        f"Generated {stamp} by `isocl plot` from "
        + ", ".join(f"`{r.path}`" for r in results)
        + "."
    )
    md += ["", "## Benchmark configuration", ""]
    for r in results:
        md += [
            f"### {_md_cell(r.label)}: benchmark {_md_cell(r.benchmark)}",
            "",
            f"`{r.path / 'config.toml'}`",
            "",
        ]
        fence = _fence(r.config_text)
        md += [f"{fence}toml", r.config_text.rstrip("\n"), fence, ""]
    md += ["## Results by strategy", ""]
    if rows:
        md += [_md_table(header, rows, bold), "", _TABLE_NOTE, ""]
    else:
        md += ["No unit in summary.csv.", ""]
    md += ["## Failed units", ""]
    if failed:
        md += [
            _md_table(
                ["strategy", "seed", "status", "error"],
                [
                    [s, seed, st, _first_line(e) if e else ""]
                    for s, seed, st, e in failed
                ],
            ),
            "",
        ]
        for s, seed, st, e in failed:
            if e and len(str(e).strip().splitlines()) > 1:
                fence = _fence(str(e))
                md += [
                    f"Full error of {_md_cell(s)} seed {seed}:",
                    "",
                    fence,
                    str(e).rstrip("\n"),
                    fence,
                    "",
                ]
    else:
        md += ["None.", ""]
    md += ["## Figures", ""]
    if not figures:
        md += ["No figure could be drawn (see the warnings).", ""]
    for i, (path, title, caption) in enumerate(figures, 1):
        rel = _rel(path, out)
        md += [f"### Figure {i}. {_md_cell(title)}", ""]
        if fmt == "pdf":
            md += [f"[{_md_cell(path.name)}]({rel})", ""]
        else:
            md += [f"![{_md_cell(title)}]({rel})", ""]
        md += [f"*Figure {i}: {_md_cell(caption)}* (`{rel}`)", ""]
    md += ["## Warnings", ""]
    md += [f"- {_md_cell(w)}" for w in warnings] or ["None."]
    md += ["", "## Environment", ""]
    for r in results:
        md += [f"### {_md_cell(r.label)}", ""]
        if r.manifest:
            md += [_md_table(["key", "value"], _env_rows(r.manifest)), ""]
        else:
            md += ["No manifest.json.", ""]
    return "\n".join(md).rstrip() + "\n"


def _data_uri(path: Path, fmt: str) -> str:
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html(
    *, results, header, rows, bold, failed, figures, warnings, out, fmt, several
) -> str:
    esc = html.escape
    stamp = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    title = _title(results)
    h = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">Generated {esc(stamp)} by <code>isocl plot</code> from '
        + ", ".join(f"<code>{esc(str(r.path))}</code>" for r in results)
        + ".</p>",
        "<h2>Benchmark configuration</h2>",
    ]
    for r in results:
        h.append(f"<h3>{esc(r.label)}: benchmark {esc(r.benchmark)}</h3>")
        h.append(f"<p><code>{esc(str(r.path / 'config.toml'))}</code></p>")
        h.append(f"<pre><code>{esc(r.config_text)}</code></pre>")
    h.append("<h2>Results by strategy</h2>")
    if rows:
        h.append(_html_table(header, rows, bold, cls="metrics"))
        h.append(f'<p class="note">{esc(_TABLE_NOTE)}</p>')
    else:
        h.append("<p>No unit in summary.csv.</p>")
    h.append("<h2>Failed units</h2>")
    if failed:
        h.append(
            "<table><thead><tr><th>strategy</th><th>seed</th><th>status</th>"
            "<th>error</th></tr></thead><tbody>"
        )
        for s, seed, st, e in failed:
            h.append(
                f"<tr><td>{esc(s)}</td><td>{esc(seed)}</td><td>{esc(st)}</td>"
                f"<td><pre>{esc(e)}</pre></td></tr>"
            )
        h.append("</tbody></table>")
    else:
        h.append("<p>None.</p>")
    h.append("<h2>Figures</h2>")
    if not figures:
        h.append("<p>No figure could be drawn (see the warnings).</p>")
    for i, (path, ftitle, caption) in enumerate(figures, 1):
        rel = _rel(path, out)
        h.append(f'<figure id="figure-{i}"><h3>Figure {i}. {esc(ftitle)}</h3>')
        if fmt == "pdf":
            h.append(f'<p><a href="{esc(rel)}">{esc(path.name)}</a> (PDF)</p>')
        else:
            try:
                src = _data_uri(path, fmt)
            except OSError:
                src = rel
            h.append(f'<img src="{src}" alt="{esc(caption)}" data-file="{esc(rel)}">')
        h.append(
            f"<figcaption>Figure {i}: {esc(caption)} (<code>{esc(rel)}</code>)"
            "</figcaption></figure>"
        )
    h.append("<h2>Warnings</h2>")
    if warnings:
        h.append(
            '<ul class="warnings">'
            + "".join(f"<li>{esc(w)}</li>" for w in warnings)
            + "</ul>"
        )
    else:
        h.append("<p>None.</p>")
    h.append("<h2>Environment</h2>")
    for r in results:
        h.append(f"<h3>{esc(r.label)}</h3>")
        if r.manifest:
            h.append(_html_table(["key", "value"], _env_rows(r.manifest)))
        else:
            h.append("<p>No manifest.json.</p>")
    h.append("</body></html>")
    return "\n".join(h) + "\n"
