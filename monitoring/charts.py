"""Report charts as PNG bytes (matplotlib, Agg backend: no display needed, safe in a server).

Each call builds its own Figure (no pyplot global state), so charts can be drawn from several
threads at once.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
import polars as pl  # noqa: E402


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def top_chart(df: pl.DataFrame, *, key: str, metric: str, title: str) -> bytes:
    """Horizontal bars, the largest on top."""
    fig = Figure(figsize=(7, max(2.0, 0.35 * df.height + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    labels = [str(v) for v in df[key].to_list()][::-1]
    values = df[metric].to_list()[::-1] if df.height else []
    ax.barh(labels, values, color="#3a6ea5")
    ax.set_xlabel(metric)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if not df.height:
        ax.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def trend_chart(df: pl.DataFrame, *, columns: list[str], title: str) -> bytes:
    """Rates per period as lines (0..1)."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    x = df["period"].to_list() if df.height else []
    for c in columns:
        ax.plot(x, df[c].to_list() if df.height else [], marker="o", label=c.replace("_", " "))
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    if not df.height:
        ax.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)
