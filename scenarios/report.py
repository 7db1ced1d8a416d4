"""Pictures of what-if runs: PNG (matplotlib, Agg) for the CLI and a self-contained HTML report.

- `kpi_figure`: the KPIs side by side (current plan, baseline, every scenario);
- `atp_figure`: the ATP curve (quantity a new request could still take, by date) of the most
  affected item-locations, before (baseline) and after (scenario);
- `write_png`: one PNG with both; `html`: an HTML page with the tables and embedded PNGs.
"""

from __future__ import annotations

import base64
import datetime as dt
import html as _html
import io
from decimal import Decimal
from pathlib import Path

import numpy as np

from scenarios.whatif import ScenarioResult, WhatIfReport

_PCT = (("on_time_rate", "lines on time"), ("fill_rate", "fill rate"), ("on_time_fill_rate", "on-time fill rate"))


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _plans(rep: WhatIfReport) -> list[tuple[str, dict]]:
    return [("current", rep.current), ("baseline", rep.baseline)] + [(s.scenario.name, s.kpis) for s in rep.scenarios]


def _kpi_axes(rep: WhatIfReport, ax_pct, ax_risk) -> None:
    plans = _plans(rep)
    x = np.arange(len(_PCT))
    w = 0.8 / max(len(plans), 1)
    for k, (name, kp) in enumerate(plans):
        vals = [kp[key] * 100 for key, _ in _PCT]
        bars = ax_pct.bar(x + (k - (len(plans) - 1) / 2) * w, vals, w, label=name)
        ax_pct.bar_label(bars, fmt="%.1f", fontsize=7)
    ax_pct.set_xticks(x, [label for _, label in _PCT])
    ax_pct.set_ylabel("%")
    ax_pct.set_ylim(0, 110)
    ax_pct.set_title("Service KPIs")
    ax_pct.legend(fontsize=8, loc="lower right")
    currencies = sorted({c for _, kp in plans for c in kp["revenue_at_risk"]})
    names, risk, colors = [], [], []
    for k, (name, kp) in enumerate(plans):  # amounts of different currencies are separate bars, never added
        for c in currencies:
            names.append(name if len(currencies) == 1 else f"{name} ({c})")
            risk.append(float(kp["revenue_at_risk"].get(c, 0)))
            colors.append(f"C{k}")
    bars = ax_risk.bar(names, risk, color=colors)
    ax_risk.bar_label(bars, labels=[f"{v:,.0f}" for v in risk], fontsize=7)
    ax_risk.set_ylabel(", ".join(currencies) or "value")
    ax_risk.set_title("Revenue at risk (late or unconfirmed)")
    ax_risk.tick_params(axis="x", rotation=20, labelsize=8)


def _atp_axes(s: ScenarioResult, axes, as_of: dt.date) -> None:
    for ax, c in zip(axes, s.curves):
        days = np.arange(len(c["before"]))
        dates = np.datetime64(as_of, "D") + days.astype("timedelta64[D]")
        before = np.where(np.isinf(c["before"]), np.nan, c["before"])
        after = np.where(np.isinf(c["after"]), np.nan, c["after"])
        ax.step(dates, before, where="post", label="baseline")
        ax.step(dates, after, where="post", label=s.scenario.name, linestyle="--")
        ax.set_title(f"{c['item']} @ {c['location']}", fontsize=9)
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        ax.set_ylabel("ATP", fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes[len(s.curves):]:
        ax.axis("off")
        if not s.curves:
            ax.text(0.5, 0.5, "no item-location affected", ha="center", va="center", fontsize=8)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def kpi_figure(rep: WhatIfReport) -> bytes:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    _kpi_axes(rep, a, b)
    return _png(fig)


def atp_figure(rep: WhatIfReport, s: ScenarioResult) -> bytes:
    plt = _plt()
    k = max(1, len(s.curves))
    fig, axes = plt.subplots(1, k, figsize=(4.2 * k, 3.2), squeeze=False)
    _atp_axes(s, list(axes[0]), rep.as_of)
    fig.suptitle(f"{s.scenario.name}: most affected item-locations", fontsize=10)
    return _png(fig)


def write_png(rep: WhatIfReport, path: str | Path) -> Path:
    """One PNG: the KPIs side by side, then one row of ATP curves per scenario."""
    plt = _plt()
    rows = 1 + len(rep.scenarios)
    cols = max([3] + [len(s.curves) for s in rep.scenarios])
    fig = plt.figure(figsize=(4.2 * cols, 4 + 3.2 * len(rep.scenarios)))
    gs = fig.add_gridspec(rows, cols, height_ratios=[4] + [3.2] * len(rep.scenarios), hspace=0.6)
    _kpi_axes(rep, fig.add_subplot(gs[0, : max(cols - 1, 1)]), fig.add_subplot(gs[0, cols - 1]))
    for r, s in enumerate(rep.scenarios, start=1):
        axes = [fig.add_subplot(gs[r, c]) for c in range(cols)]
        _atp_axes(s, axes, rep.as_of)
        axes[0].annotate(s.scenario.name, (0, 1.25), xycoords="axes fraction", fontsize=10, weight="bold")
    p = Path(path)
    p.write_bytes(_png(fig))
    return p


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(key: str, v) -> str:
    if isinstance(v, dict):  # per currency: amounts shown exactly with their currency, never added up
        return "<br>".join(f"{_fmt(key, x)} {c}" for c, x in v.items()) or "-"
    if isinstance(v, Decimal):
        return f"{v:,}"
    if key.endswith("rate") or key.endswith("share"):
        return f"{v * 100:.1f}%"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{v:,.0f}"


def html(rep: WhatIfReport, *, title: str = "promessa what-if report") -> str:
    """A self-contained HTML page: KPI table and chart, then per scenario its details and ATP curves."""
    e = _html.escape
    plans = _plans(rep)
    head = "".join(f"<th>{e(n)}</th>" for n, _ in plans)
    rows = "".join(
        f"<tr><th>{e(k.replace('_', ' '))}</th>" + "".join(f"<td>{_fmt(k, kp[k])}</td>" for _, kp in plans) + "</tr>"
        for k in rep.baseline)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}img{max-width:100%}"
        ".note{color:#666;font-size:90%}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p class='note'>snapshot day {rep.as_of}; baseline = the open backlog rescheduled on the live state with the "
        f"same rules; current = the promises as they stand. Ran in {rep.seconds:.2f} s.</p>",
        f"<h2>KPIs</h2><table><tr><th>KPI</th>{head}</tr>{rows}</table>",
        _img(kpi_figure(rep), "KPIs side by side"),
    ]
    for s in rep.scenarios:
        d = s.to_dict()
        worse = ", ".join(f"{e(str(k))}: {v}" for k, v in sorted(d["orders_worsened_by_class"].items())) or "none"
        parts += [
            f"<h2>{e(s.scenario.name)}</h2>",
            f"<p>{e(s.scenario.description or '')}</p>",
            "<ul>",
            f"<li>changes: {e(', '.join(c.type for c in s.scenario.changes) or 'none')}; tables touched: "
            f"{e(', '.join(d['touched_tables']) or 'none')}</li>",
            f"<li>lines worse than the baseline: {d['lines_worse_than_baseline']}, better: {d['lines_better_than_baseline']}; "
            f"strategy exceptions: {d['exceptions']}; lines added: {d['added_lines']}</li>",
            f"<li>orders worsened by class: {worse}</li>",
            f"<li>fork: {d['fork_memory_bytes'] / 2**20:.1f} MiB, {d['fork_seconds']:.3f} s; scenario run {d['seconds']:.3f} s</li>",
            *[f"<li class='note'>{e(n)}</li>" for n in d["notes"]],
            "</ul>",
            _img(atp_figure(rep, s), f"ATP before and after: {s.scenario.name}"),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(rep: WhatIfReport, path: str | Path, **kw) -> Path:
    p = Path(path)
    p.write_text(html(rep, **kw))
    return p


# ------------------------------------------------------------------ backlog rescheduling


def reschedule_figure(res) -> bytes:
    """Lines improved / unchanged / worsened / mixed per strategy group, and the quantity confirmed
    on time before and after, per group."""
    import polars as pl

    plt = _plt()
    by = res.lines.group_by("strategy").agg(
        *[(pl.col("change") == c).sum().alias(c) for c in ("improved", "unchanged", "worsened", "mixed")],
        pl.col("old_on_time_qty").sum(), pl.col("new_on_time_qty").sum(), pl.col("qty").sum()).sort("strategy")
    names = [str(s) for s in by["strategy"].to_list()]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    bottom = np.zeros(len(names))
    colors = {"improved": "tab:green", "unchanged": "tab:gray", "worsened": "tab:red", "mixed": "tab:orange"}
    for c in ("improved", "unchanged", "worsened", "mixed"):
        v = by[c].to_numpy().astype(float)
        a.bar(names, v, bottom=bottom, label=c, color=colors[c])
        bottom += v
    a.set_title("Lines by strategy group")
    a.legend(fontsize=8)
    x = np.arange(len(names))
    qty = np.maximum(by["qty"].to_numpy(), 1e-9)
    for k, (col, label) in enumerate((("old_on_time_qty", "before"), ("new_on_time_qty", "after"))):
        bars = b.bar(x + (k - 0.5) * 0.4, by[col].to_numpy() / qty * 100, 0.4, label=label)
        b.bar_label(bars, fmt="%.1f", fontsize=7)
    b.set_xticks(x, names)
    b.set_ylim(0, 110)
    b.set_ylabel("% of ordered quantity")
    b.set_title("Confirmed on time")
    b.legend(fontsize=8)
    return _png(fig)


def reschedule_html(res, *, title: str = "promessa backlog rescheduling", max_exceptions: int = 200) -> str:
    e = _html.escape
    c = res.counts()

    def table(df) -> str:
        head = "".join(f"<th>{e(col)}</th>" for col in df.columns)
        body = "".join("<tr>" + "".join(f"<td>{e('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                       for row in df.iter_rows())
        return f"<table><tr>{head}</tr>{body}</table>"

    exc = res.exceptions
    cols = [x for x in ("order", "line", "item", "location", "strategy", "old_qty", "old_date", "new_qty", "new_date",
                        "exception") if x in exc.columns]
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}img{max-width:100%}</style>",
        "</head><body>", f"<h1>{e(title)}</h1>",
        f"<p>{c['lines']:,} open lines: {c['improved']:,} improved, {c['worsened']:,} worsened, {c['unchanged']:,} "
        f"unchanged, {c['mixed']:,} mixed; {c['exceptions']:,} strategy exceptions. "
        f"Ran in {res.timings.get('total', 0):.2f} s.</p>",
        _img(reschedule_figure(res), "rescheduling by strategy group"),
        "<h2>By strategy and demand class</h2>", table(res.summary),
        f"<h2>Strategy exceptions (first {min(exc.height, max_exceptions):,} of {exc.height:,})</h2>",
        table(exc.select(cols).head(max_exceptions)),
        "</body></html>",
    ])
