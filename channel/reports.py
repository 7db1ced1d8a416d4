"""Reports of accrued, claimed, received and written off per supplier, program and period, and their chart.

Received and written-off amounts belong to claims; they are spread over the claim's lines
in proportion to the line amounts (``promessa.money.allocate``: the parts add up exactly), so
that they can be reported per program and period too.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

import polars as pl

from channel.ledger import ZERO, LedgerState
from promessa.money import Money, allocate

GROUPS = ("supplier", "program", "period", "currency")
AMOUNTS = ("accrued", "claimed", "unclaimed", "received", "written_off", "open")


def accrual_rows(state: LedgerState) -> pl.DataFrame:
    """One row per accrual record with its claim and its share of the claim's receipts and write-off."""
    recv: dict[str, Decimal] = {}
    woff: dict[str, Decimal] = {}
    for c in state.claims.values():
        w = [state.by_id[a].amount.amount for a in c.accruals]
        for attr, target in (("received", recv), ("written_off", woff)):
            total = getattr(c, attr)
            if total:
                for a, part in zip(c.accruals, allocate(Money(total, c.currency), w), strict=True):
                    target[a] = part.amount
    rows = [{"accrual": a.id, "supplier": a.supplier, "program": a.program, "period": a.period,
             "currency": a.amount.currency, "kind": a.kind, "posted": a.posted, "amount": a.amount.amount,
             "claim": state.claimed.get(a.id), "received": recv.get(a.id, ZERO), "written_off": woff.get(a.id, ZERO)}
            for a in state.accruals]
    dec = pl.Decimal(38, 4)
    schema = {"accrual": pl.String, "supplier": pl.String, "program": pl.String, "period": pl.String,
              "currency": pl.String, "kind": pl.String, "posted": pl.Date, "amount": dec, "claim": pl.String,
              "received": dec, "written_off": dec}
    return pl.DataFrame(rows, schema=schema, orient="row")


def program_report(state: LedgerState, *, by: Sequence[str] = ("supplier", "program", "period")) -> pl.DataFrame:
    """Accrued, claimed, unclaimed, received, written off and open (claimed - received - written off) per group.

    ``by`` is any of supplier, program, period (currency is always a key: amounts are never summed across
    currencies). Amounts are exact decimals.
    """
    for b in by:
        if b not in GROUPS:
            from promessa.errors import ValidationError

            raise ValidationError("unknown report grouping", field="by", value=b, hint="supplier, program, period")
    keys = [*dict.fromkeys([*by, "currency"])]
    df = accrual_rows(state)
    claimed = pl.col("claim").is_not_null()
    return (df.group_by(keys)
            .agg(pl.col("amount").sum().alias("accrued"),
                 pl.col("amount").filter(claimed).sum().alias("claimed"),
                 pl.col("amount").filter(~claimed).sum().alias("unclaimed"),
                 pl.col("received").sum(), pl.col("written_off").sum())
            .with_columns((pl.col("claimed") - pl.col("received") - pl.col("written_off")).alias("open"))
            .sort(keys))


def report_chart(report: pl.DataFrame, *, key: str = "supplier", title: str = "Supplier program income") -> bytes:
    """A grouped bar chart (PNG bytes) of accrued, claimed, received and written off per ``key`` value; the amount
    axis is labeled with the currency and uses thousands separators."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    series = ("accrued", "claimed", "received", "written_off")
    agg = report.group_by(key).agg([pl.col(s).sum() for s in series]).sort(key) if report.height else report
    currencies = sorted(set(report["currency"].to_list())) if report.height else []
    fig = Figure(figsize=(max(6.0, 0.9 * max(1, agg.height) + 3), 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = [str(v) for v in agg[key].to_list()] if agg.height else []
    width = 0.2
    for k, s in enumerate(series):
        vals = [float(v) for v in agg[s].to_list()] if agg.height else []
        ax.bar([i + (k - 1.5) * width for i in range(len(labels))], vals, width, label=s.replace("_", " "))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_xlabel(key)
    ax.set_ylabel(f"amount ({', '.join(currencies) or 'no data'})")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    if not labels:
        ax.text(0.5, 0.5, "no accruals", ha="center", va="center", transform=ax.transAxes)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()
