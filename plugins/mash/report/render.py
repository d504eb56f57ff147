"""The board report as HTML: tables from the figures, charts drawn with matplotlib (inline SVG), one Jinja2 template.

Each table carries the name of the function that computed it, so a reader can trace every figure to its code.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402
from markupsafe import Markup, escape  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"


def table(title: str, frame: pd.DataFrame, source) -> Markup:
    """A titled HTML table naming the function it came from; a 'Total' row is shown in bold."""
    html = frame.to_html(border=0, escape=True, na_rep="", float_format=lambda v: f"{v:,.1f}")
    html = html.replace("<tr>\n      <th>Total</th>", '<tr class="total">\n      <th>Total</th>')
    name = f"{source.__module__}.{source.__qualname__}"
    return Markup(f"<h3>{escape(title)}</h3>{html}<p class=\"source\">Computed by <code>{escape(name)}</code></p>")


def _svg(figure) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return Markup(svg[svg.index("<svg"):])


def trend_chart(trend: pd.DataFrame, column: str, title: str) -> Markup:
    """One line per agency over the months of ``trend`` (from ``extracts.trends``)."""
    figure, axes = plt.subplots(figsize=(7.2, 2.6))
    months = list(dict.fromkeys(trend["Month"]))
    for agency, rows in trend.groupby("Agency", sort=False):
        axes.plot([months.index(m) for m in rows["Month"]], rows[column], marker="o", label=agency)
    axes.set_xticks(range(len(months)), months)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(column, fontsize=8)
    axes.set_ylim(bottom=0, top=max(1.0, float(trend[column].max()) * 1.15))
    axes.tick_params(labelsize=8)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    return _svg(figure)


def bar_chart(counts: pd.Series, title: str) -> Markup:
    """Horizontal bars; a withheld count (``c``, see ``suppression``) is drawn as no bar, labelled ``c``."""
    figure, axes = plt.subplots(figsize=(7.2, 0.4 + 0.32 * max(len(counts), 1)))
    lengths = [0 if isinstance(value, str) else value for value in counts.values]
    axes.barh(list(counts.index)[::-1], lengths[::-1], color="#1d70b8")
    for y, (length, value) in enumerate(list(zip(lengths, counts.values))[::-1]):
        axes.text(length, y, f" {value}", va="center", fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.tick_params(labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def render_html(**context) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return environment.get_template("board.html").render(**context)
