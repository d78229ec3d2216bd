"""The documentation's numbers come from the committed results, never from a keyboard.

An MkDocs hook (``hooks:`` in mkdocs.yml) and a script:

- Pages under ``docs/results/`` are Jinja2 templates. They read the results
  folders of ``results/reference/`` through :class:`Folder` (``run("NAME")``):
  tables of ``summary.csv``, paired comparisons of ``comparisons.csv``, run
  facts of ``manifest.json``, figures of ``figures/``. An unknown folder,
  strategy, comparison or figure stops the build (``StrictUndefined``, and
  every lookup raises), so a page cannot show a number that is not there.
- The figures those pages show are copied into the site from their folders.
- One API page per module of the package (``api/<module>.md``, mkdocstrings),
  found by walking ``isocl/``: a module added or removed on any branch is
  documented or dropped without editing a list.
- ``python docs/hooks/isocl_docs.py`` renders ``README.md`` from
  ``docs/README.md.j2`` with the same functions; ``tests/test_docs.py``
  checks that the committed README is that rendering (``--check``).

Hand-written because mkdocs-macros and mkdocs-gen-files would each cover one
half of this with a plug-in of their own, and the README has to be rendered
outside MkDocs anyway.
"""

from __future__ import annotations

import json
import sys
from functools import cached_property
from pathlib import Path

import jinja2
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results" / "reference"
PACKAGE = REPO / "isocl"
README_TEMPLATE = REPO / "docs" / "README.md.j2"
README = REPO / "README.md"
TEMPLATED = "results/"  # pages under this folder of docs/ are Jinja2 templates
MINUS = "\u2212"


class MissingResult(LookupError):
    """A page asked for a folder, strategy, comparison or figure the committed results do not hold."""


def signed(x: float, digits: int = 1) -> str:
    """``-5.34`` -> ``−5.3``, ``2.0`` -> ``+2.0`` (a typographic minus, as in the prose)."""
    text = f"{abs(x):.{digits}f}"
    if float(text) == 0:
        return text
    return (MINUS if x < 0 else "+") + text


def plain(x: float, digits: int = 1) -> str:
    """``14.53`` -> ``14.5``; a negative number keeps a typographic minus, a rounded zero none."""
    text = f"{x:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text.replace("-", MINUS)


def duration(seconds: float) -> str:
    """``2149`` -> ``35 min 49 s``; an hour or more -> ``4 h 43 min``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def interval(row, digits: int = 1) -> str:
    """A comparison's simultaneous interval in points (``[−7.0, −3.7]``); ``[none]`` where it has none
    (fewer than two seeds)."""
    if pd.isna(row["ci_low"]) or pd.isna(row["ci_high"]):
        return "[none]"
    return f"[{signed(row['ci_low'] * 100, digits)}, {signed(row['ci_high'] * 100, digits)}]"


class Folder:
    """One committed results folder, read for a page (``results/reference/NAME``)."""

    def __init__(self, name: str, base: Path = RESULTS):
        self.name = name
        self.path = base / name
        if not (self.path / "summary.csv").is_file():
            raise MissingResult(f"no results folder {self.path} (with a summary.csv)")

    @cached_property
    def summary(self) -> pd.DataFrame:
        """``summary.csv`` as the report reads it: a peak below the fixed-max twin's size is raised to it
        (:func:`isocl.analysis.reading.peak_params_floor`, for runs that counted peaks after experiences only)."""
        from isocl.analysis.reading import peak_params_floor

        return peak_params_floor(pd.read_csv(self.path / "summary.csv"))[0]

    @cached_property
    def ok(self) -> pd.DataFrame:
        return self.summary[self.summary["status"] == "ok"]

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        path = self.path / "comparisons.csv"
        if not path.is_file():  # a run's folder copied mid-run: isocl plot writes the comparisons
            raise MissingResult(f"{self.name}: no comparisons.csv; run `isocl plot {self.path}` first")
        return pd.read_csv(path)

    @cached_property
    def config(self) -> dict:
        """The run's resolved settings (``config.toml``)."""
        import tomllib

        return tomllib.loads((self.path / "config.toml").read_text())

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.path / "manifest.json").read_text())

    # -- run facts

    @property
    def finished(self) -> bool:
        """Whether the run that wrote the folder ran to its end (its manifest says when); a folder of a run
        still going holds only the units finished so far."""
        return "finished" in self.manifest

    @property
    def units(self) -> int:
        """Units in the folder (every status)."""
        return len(self.summary)

    @property
    def failed(self) -> int:
        return int((self.summary["status"] != "ok").sum())

    @property
    def strategies(self) -> list[str]:
        """Strategy names in run order (twins and controls included)."""
        return list(dict.fromkeys(self.summary["strategy"]))

    @property
    def base_strategies(self) -> list[str]:
        """Strategies without their twins and controls."""
        return [s for s in self.strategies if ":" not in s]

    @property
    def seeds(self) -> int:
        return int(self.summary["seed"].nunique())

    @property
    def wall_time(self) -> str:
        """Start to finish of the run, from its manifest."""
        m = self.manifest
        secs = (pd.Timestamp(m["finished"]) - pd.Timestamp(m["started"])).total_seconds()
        return duration(secs)

    @property
    def unit_minutes(self) -> str:
        """The sum of the units' own run times, in minutes."""
        return f"{self.summary['wall_time_s'].sum() / 60:.1f}"

    @property
    def jobs(self) -> int:
        return int(self.manifest.get("jobs", 1))

    # -- per strategy

    def rows(self, strategy: str) -> pd.DataFrame:
        rows = self.ok[self.ok["strategy"] == strategy]
        if rows.empty:
            raise MissingResult(f"{self.name}: no successful unit of {strategy!r}; it has {self.strategies}")
        return rows

    def mean(self, strategy: str, metric: str = "final_accuracy") -> str:
        """Mean over seeds in percent, one decimal (``14.5``)."""
        return plain(self.rows(strategy)[metric].mean() * 100)

    def mean_sd(self, strategy: str, metric: str = "final_accuracy") -> str:
        """``14.5 ± 1.5`` (percent; a metric identical on every seed shows its value alone)."""
        values = self.rows(strategy)[metric] * 100
        if len(values) > 1 and values.std() > 0:
            return f"{plain(values.mean())} ± {values.std():.1f}"
        return plain(values.mean())

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """``metrics.csv``: accuracy on each experience after each training experience, per unit."""
        return pd.read_csv(self.path / "metrics.csv")

    def learning_accuracy(self, strategy: str) -> str:
        """``61.2 ± 2.0``: the accuracy on each experience right after training on it, averaged over the
        experiences, then mean ± sd over seeds (percent; Riemer et al. 2019's learning accuracy). Low when a
        strategy cannot learn what arrives, whatever it keeps of the past."""
        m = self.metrics
        own = m[(m["strategy"] == strategy) & (m["trained_exp"] == m["eval_exp"])]
        per_seed = own[own["seed"].isin(self.rows(strategy)["seed"])].groupby("seed")["accuracy"].mean() * 100
        if per_seed.empty:
            raise MissingResult(f"{self.name}: no accuracy matrix for {strategy!r} in metrics.csv")
        return f"{plain(per_seed.mean())} ± {per_seed.std():.1f}" if len(per_seed) > 1 else plain(per_seed.mean())

    def params(self, strategy: str, column: str = "params") -> str:
        """Mean parameter count of the final models, with thousands separators."""
        return f"{self.rows(strategy)[column].mean():,.0f}"

    def params_value(self, strategy: str) -> float:
        return float(self.rows(strategy)["params"].mean())

    def value(self, strategy: str, metric: str = "final_accuracy") -> float:
        """Mean over seeds (a fraction for accuracies)."""
        return float(self.rows(strategy)[metric].mean())

    def paired(self, strategy: str, reference: str, metric: str = "final_accuracy") -> str:
        """One pre-stated paired comparison computed here from summary.csv (scipy's ``ttest_rel``
        interval at 95%): ``−7.78 [−9.36, −6.19]`` in points, over the seeds both ran."""
        from scipy import stats

        a = self.rows(strategy).set_index("seed")[metric]
        b = self.rows(reference).set_index("seed")[metric]
        seeds = a.index.intersection(b.index)
        res = stats.ttest_rel(a[seeds], b[seeds])
        lo, hi = res.confidence_interval(0.95)
        d = float((a[seeds] - b[seeds]).mean())
        return f"{signed(d * 100, 2)} [{signed(lo * 100, 2)}, {signed(hi * 100, 2)}]"

    def table(self, strategies: list[str] | None = None, labels: dict[str, str] | None = None,
              bold: tuple[str, ...] = (), columns: str = "seeds final forgetting params", prefix: str = "",
              best: bool = True) -> str:
        """The Markdown table of ``summary.csv``: mean ± sd over seeds for each strategy (run order).

        ``labels`` renames a row (``{"replay": "replay (500)"}``), ``bold`` marks the cells
        ``"STRATEGY:final"`` / ``"STRATEGY:forgetting"`` / ``"STRATEGY:params"``; ``best`` also marks the
        highest final accuracy of the rows; ``columns`` picks and orders ``seeds``, ``final``,
        ``forgetting``, ``learning`` (:meth:`learning_accuracy`), ``params``.
        """
        labels = labels or {}
        names = strategies or self.strategies
        if best:
            top = max(self.value(s) for s in names)
            bold = (*bold, *(f"{s}:final" for s in names if self.value(s) == top))
        heads = {"seeds": "seeds", "final": "final accuracy (%)", "forgetting": "forgetting (%)",
                 "learning": "learning accuracy (%)", "params": "parameters (final)"}
        cols = columns.split()
        lines = ["| strategy | " + " | ".join(heads[c] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for s in names:
            rows = self.rows(s)
            cells = {"seeds": str(len(rows)), "final": self.mean_sd(s), "forgetting": self.mean_sd(s, "forgetting"),
                     "params": self.params(s)}
            if "learning" in cols:
                cells["learning"] = self.learning_accuracy(s)
            cells = {k: f"**{v}**" if f"{s}:{k}" in bold else v for k, v in cells.items()}
            lines.append(f"| {prefix}{labels.get(s, s)} | " + " | ".join(cells[c] for c in cols) + " |")
        return "\n".join(lines)

    # -- paired comparisons (comparisons.csv)

    def comparison(self, strategy: str, reference: str, metric: str = "final_accuracy") -> pd.Series:
        c = self.comparisons
        hit = c[(c["strategy"] == strategy) & (c["reference"] == reference) & (c["metric"] == metric)]
        if len(hit) != 1:
            raise MissingResult(f"{self.name}: no comparison {strategy} vs {reference} on {metric}")
        return hit.iloc[0]

    def reference(self, strategy: str, relation: str) -> str:
        """The reference ``strategy`` is compared with under ``relation`` (``best-baseline``: the best
        baseline on its backbone, as ``isocl.analysis.statistics`` picks it)."""
        c = self.comparisons
        hit = c[(c["strategy"] == strategy) & (c["relation"] == relation)]["reference"].unique()
        if len(hit) != 1:
            raise MissingResult(f"{self.name}: {len(hit)} {relation} references of {strategy}: {list(hit)}")
        return str(hit[0])

    def diff(self, strategy: str, reference: str, metric: str = "final_accuracy", digits: int = 1) -> str:
        """The mean paired difference in points, signed (``−5.3``)."""
        return signed(self.comparison(strategy, reference, metric)["mean_diff"] * 100, digits)

    def ci(self, strategy: str, reference: str, metric: str = "final_accuracy", digits: int = 1) -> str:
        """The simultaneous (Bonferroni-level) interval in points (``[−7.0, −3.7]``)."""
        return interval(self.comparison(strategy, reference, metric), digits)

    def cmp(self, strategy: str, reference: str, metric: str = "final_accuracy", digits: int = 1) -> str:
        """``−5.3 points [−7.0, −3.7]``."""
        return (f"{self.diff(strategy, reference, metric, digits)} points "
                f"{self.ci(strategy, reference, metric, digits)}")

    def verdict(self, strategy: str, reference: str, metric: str = "final_accuracy") -> str:
        return str(self.comparison(strategy, reference, metric)["verdict"])

    def count(self, verdict: str | None = None, metric: str | None = None, exclude: str | None = None) -> int:
        """Comparisons in the folder, of one verdict and / or metric (``exclude``: all but that verdict)."""
        c = self.comparisons
        if metric is not None:
            c = c[c["metric"] == metric]
        if verdict is not None:
            c = c[c["verdict"] == verdict]
        if exclude is not None:
            c = c[c["verdict"] != exclude]
        return len(c)

    def comparison_table(self, metric: str | None = None, only_resolved: bool = False) -> str:
        """Every comparison (of ``metric``) as a Markdown table; ``only_resolved``: wins and losses only."""
        c = self.comparisons
        if metric is not None:
            c = c[c["metric"] == metric]
        if only_resolved:
            c = c[~c["verdict"].isin(["no detectable difference", "identical"])]
        if c.empty:
            return ("*No win or loss: every comparison is a tie.*" if only_resolved and not self.comparisons.empty
                    else "*No comparison yet: no compared strategy has finished a seed beside its reference.*")
        lines = ["| strategy | reference | metric | seeds | difference (points) | simultaneous interval | verdict |",
                 "|---|---|---|---|---|---|---|"]
        for _, r in c.iterrows():
            lines.append(f"| {r['strategy']} | {r['reference']} | {r['metric']} | {r['n_seeds']} | "
                         f"{signed(r['mean_diff'] * 100)} | {interval(r)} | "
                         f"{r['verdict']} |")
        return "\n".join(lines)

    # -- the parameter frontier (frontier.csv)

    @cached_property
    def frontier_points(self) -> pd.DataFrame:
        path = self.path / "frontier.csv"
        if not path.is_file():
            raise MissingResult(f"{self.name}: no frontier.csv (run `isocl plot` on it)")
        return pd.read_csv(path)

    def frontier(self, axis: str = "params") -> str:
        """The frontier by budget (``params``: final parameters, ``max_params``: peak) as the report shows it."""
        from isocl.analysis.tables import frontier_summary, md_table

        table = frontier_summary(self.frontier_points, axis)
        if table.empty:
            raise MissingResult(f"{self.name}: frontier.csv has no rows on the {axis} axis")
        return md_table(table)

    def frontier_row(self, budget: int, axis: str = "params", strategy: str | None = None) -> pd.Series:
        """One point at a budget: ``strategy``'s, or the budget's best when None."""
        f = self.frontier_points
        f = f[(f["axis"] == axis) & (f["budget"] == budget)]
        hit = f[f["status"] == "best"] if strategy is None else f[f["strategy"] == strategy]
        if len(hit) != 1:
            raise MissingResult(f"{self.name}: no frontier point {strategy or 'best'} at budget {budget} on {axis}")
        return hit.iloc[0]

    def frontier_cmp(self, strategy: str, budget: int, axis: str = "params", digits: int = 1) -> str:
        """A frontier point against the budget's best: ``−1.9 points [−3.4, −0.3]`` (its simultaneous interval)."""
        r = self.frontier_row(budget, axis, strategy)
        return (f"{signed(r['diff_vs_best'] * 100, digits)} points "
                f"[{signed(r['ci_low'] * 100, digits)}, {signed(r['ci_high'] * 100, digits)}]")

    def frontier_best(self, budget: int, axis: str = "params") -> str:
        """The best point at a budget: ``packnet-iso@w16 (80.4%, 49,492 parameters)``."""
        r = self.frontier_row(budget, axis)
        return f"`{r['strategy']}` ({plain(r['final_accuracy'] * 100)}%, {r['params']:,.0f} parameters)"

    # -- figures

    def figure(self, stem: str, base: str = "") -> str:
        """The path of ``figures/STEM.png`` as a page links it (``base``: the folder the link starts from)."""
        path = self.path / "figures" / f"{stem}.png"
        if not path.is_file():
            raise MissingResult(f"{self.name}: no figure {stem}.png; it has "
                                f"{sorted(p.stem for p in (self.path / 'figures').glob('*.png'))}")
        return f"{base}{self.name}/figures/{stem}.png"


def audit(*folders: Folder) -> dict[str, str]:
    """The structural-event audit (``structure.csv``) of one or several folders, as the prose quotes it."""
    s = pd.concat([pd.read_csv(f.path / "structure.csv") for f in folders], ignore_index=True)
    exact = s[s["event"].isin(["grow", "merge", "diagonalise", "adaptive_grow"])]
    prune = s[s["event"].isin(["prune", "adaptive_prune"])]
    bound = pd.to_numeric(prune["bound"], errors="coerce").fillna(0)
    bounded, zero = prune[bound > 0], prune[bound == 0]
    share = bounded["max_logit_change"] / bound[bound > 0]
    moved = (s["acc_after"] - s["acc_before"]).abs() * 100
    return {
        "events": f"{len(s):,}",
        "exact": f"{len(exact):,}",
        "exact_max": f"{exact['max_logit_change'].max():.1e}",
        "prunes": f"{len(prune):,}",
        "removed": f"{int((prune['neurons_before'] - prune['neurons_after']).sum()):,}",
        "bounded": f"{len(bounded):,}",
        "exceeded": str(int((share > 1).sum())),
        "max_share": f"{share.max() * 100:.2g}%",
        "median_factor": f"{(1 / share[share > 0]).median():,.0f}",
        "zero_bound": f"{len(zero):,}",
        "zero_max": f"{zero['max_logit_change'].max():.1e}",
        "acc_moved": f"{moved.max():.2g}",
    }


def parity(name: str = "split_cifar10_class_il_full") -> dict[str, dict]:
    """``results/reference/parity/NAME.json`` by strategy: isocl against Avalanche alone."""
    path = RESULTS / "parity" / f"{name}.json"
    if not path.is_file():
        raise MissingResult(f"no parity record {path}")
    return {r["strategy"]: r for r in json.loads(path.read_text())}


class Tuning:
    """The tuning report of one ``isocl tune --strategy all`` folder (``tuning.csv``), as the prose quotes it."""

    def __init__(self, name: str, base: Path = RESULTS):
        path = base / name / "tuning.csv"
        if not path.is_file():
            raise MissingResult(f"no tuning report {path}")
        frame = pd.read_csv(path, keep_default_na=False)
        self.studies = frame[frame["study"] != ""].astype({"complete": float, "pruned": float, "failed": float,
                                                           "trial_minutes": float, "n_valid": float})
        self.inherited = len(frame) - len(self.studies)

    @property
    def count(self) -> int:
        return len(self.studies)

    @property
    def complete(self) -> str:
        """Complete trials per study: ``20``, or ``18-20`` where they differ."""
        lo, hi = int(self.studies["complete"].min()), int(self.studies["complete"].max())
        return str(lo) if lo == hi else f"{lo}-{hi}"

    @property
    def trials(self) -> str:
        return f"{int(self.studies['complete'].sum()):,}"

    @property
    def pruned(self) -> int:
        return int(self.studies["pruned"].sum())

    @property
    def failed(self) -> int:
        return int(self.studies["failed"].sum())

    @property
    def minutes(self) -> str:
        return f"{self.studies['trial_minutes'].sum():.0f}"

    @property
    def n_valid(self) -> str:
        lo, hi = int(self.studies["n_valid"].min()), int(self.studies["n_valid"].max())
        return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"

    @property
    def se(self) -> str:
        """The objective's standard error in points, as a range over the studies."""
        se = pd.to_numeric(self.studies["objective_se"]) * 100
        return f"{se.min():.2f}-{se.max():.2f}"

    @property
    def edges(self) -> str:
        """Tuned values at an edge of their range, ``unit: param=value``; ``none`` when there are none."""
        hit = self.studies[self.studies["edges"] != ""]
        return "; ".join(f"{r.unit}: {r.edges}" for r in hit.itertuples()) or "none"


def calibration(*names: str):
    """The calibration benchmark whose seeds are in ``results/reference/calibration/NAME`` (one or more folders)."""
    from isocl.analysis.calibration import calibration_summary

    folders = [RESULTS / "calibration" / n for n in names]
    missing = [str(f) for f in folders if not (f / "config.toml").is_file()]
    if missing:
        raise MissingResult(f"no calibration folder {', '.join(missing)}")
    (only,) = calibration_summary(*folders)
    return only


def pct(x: float, digits: int = 1) -> str:
    return plain(x * 100, digits)


def ratio(a: float, b: float, digits: int = 2) -> str:
    """``a / b`` in percent (``0.81%``)."""
    return f"{a / b * 100:.{digits}f}%"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    cache: dict[str, Folder] = {}

    def run(name: str) -> Folder:
        if name not in cache:
            cache[name] = Folder(name)
        return cache[name]

    def has_run(name: str) -> bool:
        """Whether a results folder ``results/reference/NAME`` is committed yet (what :class:`Folder` requires)."""
        try:
            run(name)
        except MissingResult:
            return False
        return True

    def companion_labels() -> dict[str, str]:
        """What the figures' legends call each companion kind (``fixed-max``: "fixed-max twin (its peak
        widths, fixed)"), so that a page names them as its figures do."""
        from isocl.analysis.plots.style import KIND_LOOK

        return {kind: look.label for kind, look in KIND_LOOK.items() if kind}

    env.globals.update(run=run, has_run=has_run, companion_labels=companion_labels, tuning=Tuning, calibration=calibration, audit=audit, parity=parity,
                       signed=signed, pct=pct, ratio=ratio, duration=duration)
    return env


def render(text: str, name: str = "<page>") -> str:
    try:
        return environment().from_string(text).render()
    except (MissingResult, jinja2.TemplateError) as exc:
        raise RuntimeError(f"{name}: {exc}") from exc


def render_readme() -> str:
    return render(README_TEMPLATE.read_text(encoding="utf-8"), str(README_TEMPLATE))


# -- MkDocs events


def on_files(files, config):
    """Add the figures the results pages show and one API page per module."""
    from mkdocs.structure.files import File

    for path in sorted(RESULTS.glob("**/figures/*.png")):  # nested folders too (fair/...)
        uri = f"results/{path.relative_to(RESULTS).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    for module in modules():
        title = module if module.count(".") else f"{module} (the top package)"
        files.append(File.generated(config, f"api/{module}.md", content=f"# {title}\n\n::: {module}\n"))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri.startswith(TEMPLATED):
        return render(markdown, page.file.src_uri)
    return markdown


def modules() -> list[str]:
    """Every module of the package by dotted name (packages by their own name)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(p.startswith("_") for p in parts) or "shipped" in parts:
            continue
        names.append(".".join(parts))
    return names


def main(argv: list[str]) -> int:
    """``--check``: exit 1 if README.md is not the rendering of its template; else write it."""
    text = render_readme()
    if "--check" in argv:
        if README.read_text(encoding="utf-8") != text:
            print(f"{README} is out of date: run python docs/hooks/isocl_docs.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
