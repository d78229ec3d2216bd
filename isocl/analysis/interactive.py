"""Interactive charts of the HTML report (Plotly), with hover details per seed.

The report inlines plotly.js once (:func:`plotly_js`) and each chart as a
``<div>`` with its own ``<script>``: nothing is fetched when the page is
viewed. Colours and markers are the static figures' (:mod:`isocl.analysis.plots.style`).
"""

from __future__ import annotations

import pandas as pd

from isocl.analysis.plots.style import (
    colour_of,
    facets,
    ok_units,
    ordered,
    percent,
    strategy_marker,
)

__all__ = ["CHARTS", "families_of", "plotly_js", "report_charts"]

# matplotlib marker -> Plotly symbol
_SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down", "P": "cross",
            "X": "x", "*": "star", "h": "hexagon", "p": "pentagon"}

CHARTS = (
    ("chart-frontier-final", "Accuracy against final parameters (interactive)", "params", "final_accuracy"),
    ("chart-frontier-peak", "Accuracy against peak parameters (interactive)", "max_params", "final_accuracy"),
    ("chart-accuracy-forgetting", "Final accuracy against forgetting (interactive)", "forgetting", "final_accuracy"),
)
"""(element id, title, x column, y column) of each interactive chart."""

_AXIS = {"params": "final parameters (log)", "max_params": "peak parameters (log)",
         "forgetting": "forgetting (%)", "final_accuracy": "final accuracy (%)"}


def plotly_js() -> str:
    """plotly.js, minified, to inline in a ``<script>`` (the installed plotly package's copy)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _seeds(summary: pd.DataFrame) -> pd.DataFrame:
    df = ok_units(summary).copy()
    df["strategy"] = df["strategy"].astype(str)
    for c in ("final_accuracy", "forgetting"):
        df[c] = percent(df[c]) if c in df else float("nan")
    for c in ("params", "max_params"):
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df else float("nan")
    return df


def _chart(df: pd.DataFrame, palette: dict[str, str], x: str, y: str, title: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for facet in facets(df["strategy"].unique(), palette):
        for s in facet.members:
            sub = df[df["strategy"] == s].dropna(subset=[x, y])
            if sub.empty:
                continue
            hover = [f"<b>{s}</b><br>seed {int(r.seed)}<br>final accuracy {r.final_accuracy:.1f}%"
                     f"<br>forgetting {r.forgetting:.1f}%<br>final params {r.params:,.0f}"
                     f"<br>peak params {r.max_params:,.0f}" for r in sub.itertuples(index=False)]
            fig.add_trace(go.Scatter(
                x=sub[x], y=sub[y], mode="markers", name=s, legendgroup=facet.key,
                legendgrouptitle_text=facet.title, hovertext=hover, hoverinfo="text",
                marker=dict(color=colour_of(palette, s), symbol=_SYMBOLS.get(strategy_marker(s, palette), "circle"),
                            size=9, line=dict(color="white", width=0.8)),
            ))
    fig.update_layout(title=title, template="plotly_white", height=560, margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(groupclick="togglegroup", font=dict(size=10)), hovermode="closest")
    fig.update_xaxes(title=_AXIS[x], type="log" if x.endswith("params") else "linear")
    fig.update_yaxes(title=_AXIS[y])
    return fig


def report_charts(summary: pd.DataFrame | None, palette: dict[str, str]) -> list[dict]:
    """The interactive charts as ``{id, title, html}`` (``html``: a div and its script, no plotly.js)."""
    if summary is None or not len(summary) or "strategy" not in summary:
        return []
    df = _seeds(summary)
    out = []
    for div_id, title, x, y in CHARTS:
        if df[[x, y]].dropna().empty:
            continue
        fig = _chart(df, palette, x, y, title)
        out.append(dict(id=div_id, title=title, html=fig.to_html(full_html=False, include_plotlyjs=False,
                                                                div_id=div_id, config={"displaylogo": False})))
    return out


def families_of(names, palette: dict[str, str]) -> dict[str, str]:
    """strategy -> the title of its facet (the report's family filter)."""
    return {s: f.title for f in facets(ordered(names, palette), palette) for s in f.members}

