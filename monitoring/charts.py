"""Report and analytics charts as PNG bytes (matplotlib, Agg backend: no display needed, safe in a server).

Each call builds its own Figure (no pyplot global state), so charts can be drawn from several
threads at once. Every chart has labeled axes with units, thousands separators on counts and
amounts, a legend outside the plotted area, and a one-sentence caption under it saying what it
shows; the analytics charts return the caption with the image (:class:`Chart`) for alt text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import textwrap

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter  # noqa: E402
import polars as pl  # noqa: E402

#: Thousands separators on an axis of counts or amounts (1,234,567; small values keep two decimals).
THOUSANDS = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}")
BAR = "#3a6ea5"


@dataclasses.dataclass(frozen=True)
class Chart:
    """A PNG image and the sentence under it (also usable as the image's alt text)."""

    png: bytes
    caption: str


def _png(fig: Figure, caption: str | None = None) -> bytes:
    FigureCanvasAgg(fig)
    if caption:
        fig.text(0.01, -0.01, textwrap.fill(caption, 110), ha="left", va="top", fontsize=9, color="#333333")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _empty(ax, text: str = "no data in this range") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def fmt_int(v: float | int) -> str:
    """A count with thousands separators."""
    return f"{v:,.0f}"


def fmt_pct(v: float | None) -> str:
    """A share as a percentage (one decimal below 10 % and just under 100 %, so 99.7 % is not shown as 100 %)."""
    if v is None:
        return "n/a"
    p = 100 * v
    return f"{p:.1f}%" if abs(p) < 10 or 99.5 <= abs(p) < 100 else f"{p:.0f}%"


# ------------------------------------------------------------------ reports

METRIC_LABELS = {"revenue": "revenue (currency units)", "units": "units ordered"}


def top_chart(df: pl.DataFrame, *, key: str, metric: str, title: str, caption: str | None = None) -> bytes:
    """Horizontal bars, the largest on top, with the value at the end of each bar and the caption under it
    (default: which key leads and its share of the total)."""
    fig = Figure(figsize=(7.5, max(2.2, 0.35 * df.height + 1.4)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    labels = [str(v) for v in df[key].to_list()][::-1]
    values = [float(v) for v in df[metric].to_list()][::-1] if df.height else []
    bars = ax.barh(labels, values, color=BAR)
    ax.bar_label(bars, labels=[fmt_int(v) for v in values], padding=3, fontsize=8)
    currencies = sorted({c for c in df["currency"].to_list() if c}) if "currency" in df.columns else []
    label = (f"{metric} ({', '.join(currencies)})" if metric == "revenue" and currencies
             else METRIC_LABELS.get(metric, metric))
    ax.set_xlabel(label)
    ax.set_ylabel(key.replace("_", " "))
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.margins(x=0.15)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if not df.height:
        _empty(ax)
    if caption is None and df.height:
        share = df["share"][0] if "share" in df.columns else None
        caption = (f"{df[key][0]} leads with {fmt_int(float(df[metric][0]))} {label}"
                   + (f", {fmt_pct(share)} of the total." if share is not None else "."))
    return _png(fig, caption)


def trend_chart(df: pl.DataFrame, *, columns: list[str], title: str, caption: str | None = None,
                period: str | None = None) -> bytes:
    """Rates per period as lines in percent; a single period is drawn as a point on a short axis (not on
    matplotlib's default years-wide one). The caption (default) gives the latest period's rates."""
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = df["period"].to_list() if df.height else []
    for c in columns:
        ax.plot(x, df[c].to_list() if df.height else [], marker="o", label=c.replace("_", " "))
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of lines or units (%)")
    ax.set_xlabel(f"{period or 'period'} (start date)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(x) == 1 and isinstance(x[0], dt.date):
        ax.set_xlim(x[0] - dt.timedelta(days=3), x[0] + dt.timedelta(days=3))
    if columns:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.autofmt_xdate()
    if not df.height:
        _empty(ax)
    if caption is None and df.height:
        last = df.row(df.height - 1, named=True)
        caption = (f"Over {fmt_int(int(df['lines'].sum()))} lines in {df.height} period{'s' if df.height != 1 else ''}; "
                   f"in the latest "
                   f"({last['period']}): " + ", ".join(f"{c.replace('_', ' ')} {fmt_pct(last[c])}" for c in columns) + ".")
    return _png(fig, caption)


# ------------------------------------------------------------------ analytics


def cohort_chart(cohorts: pl.DataFrame, *, max_months: int = 12) -> Chart:
    """Retention by monthly cohort (``analytics.cohort_retention``) as a heatmap: one row per cohort
    (labelled with its size), one column per month since the first order, cells in percent."""
    from monitoring.analytics import cohort_matrix

    wide = cohort_matrix(cohorts.filter(pl.col("months_since") <= max_months)) if cohorts.height else cohorts
    ks = [c for c in wide.columns if c.startswith("m") and c[1:].isdigit()]
    fig = Figure(figsize=(min(14, 2.5 + 0.7 * max(len(ks), 1)), min(12, 1.6 + 0.4 * max(wide.height, 1))), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    if not cohorts.height:
        _empty(ax, "no customers up to the business day")
        return Chart(_png(fig), "No customer ordered up to the business day.")
    import numpy as np

    grid = np.array([[np.nan if v is None else v for v in wide[k].to_list()] for k in ks], dtype=float).T
    im = ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(ks)), [k[1:] for k in ks])
    ax.set_yticks(range(wide.height), [f"{d:%Y-%m} ({fmt_int(n)})" for d, n in zip(wide["cohort"], wide["customers"],
                                                                                   strict=True)])
    ax.set_xlabel("months since the first order")
    ax.set_ylabel("cohort: month of the first order (customers)")
    ax.set_title("Retention by monthly cohort")
    if grid.size <= 400:
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, fmt_pct(grid[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if grid[i, j] > 0.6 else "black")
    bar = fig.colorbar(im, ax=ax, format=PercentFormatter(1.0))
    bar.set_label("customers ordering again (%)")
    m1 = cohorts.filter(pl.col("months_since") == 1)
    total = int(cohorts.filter(pl.col("months_since") == 0)["customers"].sum())
    if m1.height:
        rate = float(m1["active"].sum()) / float(m1["customers"].sum())
        caption = (f"Of {fmt_int(total)} customers in {wide.height} monthly cohorts, {fmt_pct(rate)} of those with a "
                   f"month behind them ordered again in the month after their first order.")
    else:
        caption = f"{fmt_int(total)} customers, all in the current month's cohort: no later month to retain them in yet."
    return Chart(_png(fig, caption), caption)


def repeat_chart(repeat: pl.DataFrame) -> Chart:
    """Repeat-purchase rate per cohort (``analytics.repeat_purchase(by_cohort=True)``) as bars in percent,
    each bar labelled with its repeat customers of all customers."""
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    if not repeat.height:
        _empty(ax, "no customers up to the business day")
        return Chart(_png(fig), "No customer ordered up to the business day.")
    labels = [f"{d:%Y-%m}" if d is not None else "all" for d in repeat["cohort"].to_list()]
    rates = [r or 0.0 for r in repeat["repeat_rate"].to_list()]
    bars = ax.bar(labels, rates, color=BAR)
    ax.bar_label(bars, labels=[f"{fmt_int(a)}/{fmt_int(b)}" for a, b in zip(repeat["repeat_customers"],
                                                                            repeat["customers"], strict=True)],
                 padding=2, fontsize=7)
    ax.set_ylim(0, max(0.1, max(rates) * 1.2))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("customers with 2+ orders (%)")
    ax.set_xlabel("cohort: month of the first order")
    ax.set_title("Repeat-purchase rate")
    ax.grid(axis="y", alpha=0.3)
    fig.autofmt_xdate()
    n, k = int(repeat["customers"].sum()), int(repeat["repeat_customers"].sum())
    caption = f"{fmt_int(k)} of {fmt_int(n)} customers ({fmt_pct(k / n if n else None)}) placed more than one order."
    return Chart(_png(fig, caption), caption)


def rfm_chart(segments: pl.DataFrame) -> Chart:
    """Customers per RFM segment (``analytics.rfm_segments``) as horizontal bars, each labelled with its
    share of customers and of net value."""
    fig = Figure(figsize=(8, max(2.4, 0.4 * segments.height + 1.4)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = [s.replace("_", " ") for s in segments["segment"].to_list()][::-1]
    counts = [int(c) for c in segments["customers"].to_list()][::-1]
    shares = segments["share"].to_list()[::-1]
    mshares = segments["monetary_share"].to_list()[::-1]
    bars = ax.barh(names, counts, color=BAR)
    ax.bar_label(bars, labels=[f"{fmt_int(c)} ({fmt_pct(s)} of customers, {fmt_pct(m)} of value)"
                               for c, s, m in zip(counts, shares, mshares, strict=True)], padding=3, fontsize=7)
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.6)
    ax.set_xlabel("customers")
    ax.set_ylabel("RFM segment")
    ax.set_title("Customers by recency-frequency-monetary segment")
    ax.grid(axis="x", alpha=0.3)
    total = sum(counts)
    if not total:
        _empty(ax, "no customers up to the business day")
        return Chart(_png(fig), "No customer ordered up to the business day.")
    top = segments.sort("monetary_share", descending=True, nulls_last=True).row(0, named=True)
    n_top = int(top["customers"])
    caption = (f"Of {fmt_int(total)} customers, the {top['segment'].replace('_', ' ')} segment ({fmt_int(n_top)} "
               f"customer{'s' if n_top != 1 else ''}, {fmt_pct(top['share'])}) holds the largest part of the net value, {fmt_pct(top['monetary_share'])}.")
    return Chart(_png(fig, caption), caption)


def cross_sell_chart(suggestions: pl.DataFrame, *, item: str) -> Chart:
    """The cross-sell suggestions for one item (``analytics.cross_sell``) as bars of confidence in percent,
    each labelled with the orders together and the lift."""
    df = suggestions.filter(pl.col("item") == item).sort("rank")
    fig = Figure(figsize=(8, max(2.2, 0.4 * df.height + 1.4)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = df["suggestion"].to_list()[::-1]
    conf = df["confidence"].to_list()[::-1]
    bars = ax.barh(names, conf, color=BAR)
    ax.bar_label(bars, labels=[f"{fmt_pct(c)}: {fmt_int(n)} orders, lift {lift:,.1f}" for c, n, lift in
                               zip(conf, df["orders_together"].to_list()[::-1], df["lift"].to_list()[::-1], strict=True)],
                 padding=3, fontsize=7)
    ax.set_xlim(0, max(0.1, max(conf, default=0.0) * 1.6))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"orders with {item} that also had the suggestion (%)")
    ax.set_ylabel("suggested item")
    ax.set_title(f"Bought together with {item}")
    ax.grid(axis="x", alpha=0.3)
    if not df.height:
        _empty(ax, f"no item was bought with {item} often enough")
        caption = f"No item was bought together with {item} often enough to suggest."
        return Chart(_png(fig, caption), caption)
    best = df.row(0, named=True)
    caption = (f"Of {fmt_int(best['item_orders'])} orders with {item}, {fmt_pct(best['confidence'])} also had "
               f"{best['suggestion']} ({fmt_int(best['orders_together'])} orders), {best['lift']:,.1f} times as often "
               f"as orders in general.")
    return Chart(_png(fig, caption), caption)
