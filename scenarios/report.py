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
import textwrap
from decimal import Decimal
from pathlib import Path

import numpy as np

from scenarios.whatif import ScenarioResult, WhatIfReport, atp_explanation

_PCT = (("on_time_rate", "lines on time"), ("fill_rate", "fill rate"), ("on_time_fill_rate", "on-time fill rate"))


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _plans(rep: WhatIfReport) -> list[tuple[str, dict]]:
    return [("current", rep.current), ("baseline", rep.baseline)] + [(s.scenario.name, s.kpis) for s in rep.scenarios]


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:,.1f}")


def kpi_caption(rep: WhatIfReport) -> str:
    """The sentence under the KPI chart: each scenario's on-time rate and revenue at risk against the baseline's."""
    b = rep.baseline
    out = []
    for s in rep.scenarios:
        k = s.kpis
        dp = (k["on_time_rate"] - b["on_time_rate"]) * 100
        risk = "; ".join(f"revenue at risk {c} {float(v):,.0f} ({float(v) - float(b['revenue_at_risk'].get(c, 0)):+,.0f})"
                         for c, v in k["revenue_at_risk"].items())
        out.append(f"'{s.scenario.name}': {k['on_time_rate'] * 100:.1f}% of lines on time ({dp:+.1f} points), "
                   f"{s.worse_lines:,} lines worse and {s.better_lines:,} better" + (f", {risk}" if risk else ""))
    return ("Against the baseline (the backlog re-planned on the live state with the same rules): "
            + ("; ".join(out) if out else "no scenario") + ".")


def _kpi_axes(rep: WhatIfReport, ax_pct, ax_risk) -> None:
    plans = _plans(rep)
    x = np.arange(len(_PCT))
    w = 0.8 / max(len(plans), 1)
    for k, (name, kp) in enumerate(plans):
        vals = [kp[key] * 100 for key, _ in _PCT]
        bars = ax_pct.bar(x + (k - (len(plans) - 1) / 2) * w, vals, w, label=name)
        ax_pct.bar_label(bars, fmt="%.1f", fontsize=7)
    ax_pct.set_xticks(x, [label for _, label in _PCT])
    ax_pct.set_ylabel("% of lines / ordered quantity")
    ax_pct.set_ylim(0, 110)
    ax_pct.set_title("Service KPIs")
    # below the plot, outside the bars
    ax_pct.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(plans), 4), frameon=False)
    currencies = sorted({c for _, kp in plans for c in kp["revenue_at_risk"]})
    names, risk, colors = [], [], []
    for k, (name, kp) in enumerate(plans):  # amounts of different currencies are separate bars, never added
        for c in currencies:
            names.append(name if len(currencies) == 1 else f"{name} ({c})")
            risk.append(float(kp["revenue_at_risk"].get(c, 0)))
            colors.append(f"C{k}")
    bars = ax_risk.bar(range(len(names)), risk, color=colors)
    ax_risk.bar_label(bars, labels=[f"{v:,.0f}" for v in risk], fontsize=7)
    ax_risk.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax_risk.yaxis.set_major_formatter(_thousands())
    ax_risk.set_ylabel(f"revenue at risk ({', '.join(currencies)})" if currencies else "revenue at risk")
    if risk:
        ax_risk.set_ylim(0, max(risk) * 1.12 or 1)
    ax_risk.set_title("Revenue at risk (late or unconfirmed)")
    ax_pct.text(0.0, -0.3, textwrap.fill(kpi_caption(rep), 120), transform=ax_pct.transAxes, ha="left", va="top",
                fontsize=8, color="#333333")


def drawn_curves(s: ScenarioResult) -> list[dict]:
    """The ATP curves a chart draws: those that changed (a flat, equal pair says nothing)."""
    return [c for c in s.curves if c.get("atp_changed", True)]


def unchanged_note(s: ScenarioResult) -> str:
    """The affected item-locations whose ATP did not change (not drawn), with the on-time units they lost."""
    rest = [c for c in s.curves if not c.get("atp_changed", True)]
    return ("ATP unchanged, not drawn: " + ", ".join(
        f"{c['item']} @ {c['location']} ({c['lost_on_time_qty']:,.0f} units lost on time)" for c in rest)
        + ": the backlog takes every unit there either way.") if rest else ""


def _atp_axes(s: ScenarioResult, axes, as_of: dt.date) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    curves = drawn_curves(s)
    for k, (ax, c) in enumerate(zip(axes, curves)):
        days = np.arange(len(c["before"]))
        dates = np.datetime64(as_of, "D") + days.astype("timedelta64[D]")
        before = np.where(np.isinf(c["before"]), np.nan, c["before"])
        after = np.where(np.isinf(c["after"]), np.nan, c["after"])
        ax.step(dates, before, where="post", label="baseline")
        ax.step(dates, after, where="post", label=s.scenario.name, linestyle="--")
        ax.set_title(f"{c['item']} @ {c['location']}", fontsize=9)
        loc = AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(loc, show_offset=False))
        ax.tick_params(axis="x", labelsize=7)
        ax.yaxis.set_major_formatter(_thousands())
        ax.set_ylabel("ATP (units)", fontsize=8)
        ax.set_ylim(bottom=0)
        if k == 0:  # one legend per row, above the panels: it covers no curve
            ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.12), ncol=2, frameon=False)
        ax.text(0.0, -0.2, textwrap.fill(atp_explanation(s.scenario, c, as_of), 62), transform=ax.transAxes,
                ha="left", va="top", fontsize=7, color="#333333")
    for j, ax in enumerate(axes[len(curves):]):
        ax.axis("off")
        if j == 0 and (not curves or unchanged_note(s)):
            ax.text(0.0, 0.9, textwrap.fill(("no item-location's ATP changed. " if not curves else "") + unchanged_note(s), 50),
                    ha="left", va="top", fontsize=8, transform=ax.transAxes)


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
    k = max(1, len(drawn_curves(s)) + bool(unchanged_note(s)))
    fig, axes = plt.subplots(1, k, figsize=(4.4 * k, 3.2), squeeze=False)
    _atp_axes(s, list(axes[0]), rep.as_of)
    fig.suptitle(f"{s.scenario.name}: item-locations whose ATP changed most", fontsize=10, y=1.12)
    return _png(fig)


def write_png(rep: WhatIfReport, path: str | Path) -> Path:
    """One PNG: the KPIs side by side, then one row of ATP curves per scenario, a sentence under each chart."""
    plt = _plt()
    rows = 1 + len(rep.scenarios)
    cols = max([3] + [len(drawn_curves(s)) + bool(unchanged_note(s)) for s in rep.scenarios])
    fig = plt.figure(figsize=(4.4 * cols, 4.6 + 4.6 * len(rep.scenarios)))
    gs = fig.add_gridspec(rows, cols, height_ratios=[4] + [3.2] * len(rep.scenarios), hspace=1.25, wspace=0.3)
    ax_risk = fig.add_subplot(gs[0, cols - 1])
    _kpi_axes(rep, fig.add_subplot(gs[0, : max(cols - 1, 1)]), ax_risk)
    for r, s in enumerate(rep.scenarios, start=1):
        axes = [fig.add_subplot(gs[r, c]) for c in range(cols)]
        _atp_axes(s, axes, rep.as_of)
        axes[0].annotate(s.scenario.name, (0, 1.32), xycoords="axes fraction", fontsize=10, weight="bold")
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
        f"<p class='note'>{e(kpi_caption(rep))}</p>",
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
            *[f"<p class='note'>{e(atp_explanation(s.scenario, c, rep.as_of))}</p>" for c in drawn_curves(s)],
            *([f"<p class='note'>{e(unchanged_note(s))}</p>"] if unchanged_note(s) else []),
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
