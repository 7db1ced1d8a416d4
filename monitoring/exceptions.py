"""Exceptions: open lines at risk (jeopardy at or above ``at_risk_level``) and backorders (units not
promised), summarised by customer, item, node, supplier or receipt, with a drill-down to the lines.

Supplier and receipt come from the supply records each line is pegged to (the promise's pegs):
the receipt is the supply row's ``ref``; the supplier is the snapshot's optional ``supplier``
column on that row, else ``(on hand)`` for on-hand stock, else the receipt's ref. A line pegged
to several receipts counts once under each; a line pegged to nothing is under ``(unpegged)``.

Exceptions are as of the business day of the jeopardy lines they are given (``line_jeopardy(...,
today=...)``): they never read a clock themselves.
"""

from __future__ import annotations

import polars as pl

from monitoring.config import MonitoringConfig
from monitoring.frames import AMOUNT, EPS, Catalogue, OrderFrames, amount_expr, at_minor_unit

DIMENSIONS = {"customer": "customer", "item": "item", "node": "location", "supplier": "supplier", "receipt": "receipt"}

EXCEPTION_COLUMNS = ("order_id", "line", "customer", "item", "location", "zone", "status", "kind", "qty", "open_qty",
                     "backordered_qty", "value", "currency", "requested_date", "promised_date", "promised_completion",
                     "expected_completion", "days_late", "level", "level_rank", "reason")


def exception_lines(line_j: pl.DataFrame, frames: OrderFrames, catalogue: Catalogue,
                    config: MonitoringConfig, *, currency: str = "EUR") -> pl.DataFrame:
    """Open lines that are backordered or at risk, worst first. ``kind`` is ``backorder`` when units
    are not promised, else ``at_risk``; ``value`` is the undelivered part of the line's priced net, exact in
    ``currency`` (the whole net when nothing is delivered; a part rounded half up to the minor unit); a line
    without a priced net is valued at the catalogue's price in `currency`."""
    floor = config.rank(config.at_risk_level)
    prices = frames.lines.select("order_id", "line", "net_value", pl.col("currency").alias("_cur"), "delivered_qty")
    undelivered = (pl.col("qty") - pl.col("delivered_qty")).clip(lower_bound=0.0)
    return (
        line_j.lazy()
        .filter((pl.col("backordered_qty") > EPS) | (pl.col("level_rank") >= floor))
        .join(prices.lazy(), on=["order_id", "line"], how="left")
        .join(catalogue.items.lazy().select("item", "price"), on="item", how="left")
        .with_columns(
            pl.when(pl.col("backordered_qty") > EPS).then(pl.lit("backorder")).otherwise(pl.lit("at_risk")).alias("kind"),
            pl.coalesce(
                pl.when(pl.col("delivered_qty") <= EPS).then(pl.col("net_value")),
                *[pl.when(pl.col("_cur") == c).then(amount_expr(pl.col("net_value").cast(pl.Float64) * undelivered
                                                                / pl.col("qty"), c)) for c in _currencies(frames)],
                pl.when(pl.col("net_value").is_null()).then(amount_expr(undelivered * pl.col("price"), currency)),
                pl.lit(0).cast(AMOUNT)).alias("value"),
            pl.coalesce("_cur", pl.lit(currency, pl.String)).alias("currency"),
        )
        .select(EXCEPTION_COLUMNS)
        .sort(["level_rank", "days_late", "order_id", "line"], descending=[True, True, False, False], nulls_last=False)
        .collect()
    ).pipe(at_minor_unit, "value")


def _currencies(frames: OrderFrames) -> list[str]:
    return sorted(c for c in frames.lines["currency"].unique().to_list() if c is not None)


def _with_supply(exc: pl.DataFrame, frames: OrderFrames, catalogue: Catalogue) -> pl.DataFrame:
    """One row per (exception line, receipt it is pegged to), with ``receipt`` and ``supplier``."""
    pegs = (frames.pegs.group_by("order_id", "line", "ref", "kind").agg(pl.col("qty").sum().alias("pegged_qty"))
            .join(catalogue.supply.select("ref", "supplier"), on="ref", how="left")
            .with_columns(
                pl.coalesce("ref", pl.lit("(replenishment)")).alias("receipt"),
                pl.coalesce(
                    "supplier",
                    pl.when(pl.col("kind") == "onhand").then(pl.lit("(on hand)")).otherwise(pl.col("ref")),
                    pl.lit("(replenishment)"),
                ).alias("supplier"))
            .select("order_id", "line", "receipt", "supplier", "pegged_qty"))
    return (exc.join(pegs, on=["order_id", "line"], how="left")
            .with_columns(pl.col("receipt").fill_null("(unpegged)"), pl.col("supplier").fill_null("(unpegged)"),
                          pl.col("pegged_qty").fill_null(0.0)))


def _column(by: str) -> str:
    try:
        return DIMENSIONS[by]
    except KeyError:
        from promessa.errors import ValidationError

        raise ValidationError("unknown exception dimension", field="by", value=by,
                              hint="one of " + ", ".join(DIMENSIONS)) from None


def summarize(exc: pl.DataFrame, frames: OrderFrames, catalogue: Catalogue, config: MonitoringConfig, *,
              by: str) -> pl.DataFrame:
    """Per key of `by` (and currency: values are never added across currencies): orders, lines, backorder
    and at-risk lines, backordered and open units, value at risk (exact) and the worst level; most lines first."""
    col = _column(by)
    df = _with_supply(exc, frames, catalogue) if by in ("supplier", "receipt") else exc
    names = config.level_names
    out = (
        df.lazy().group_by(pl.col(col).fill_null("(none)").alias("key"), "currency")
        .agg(
            pl.col("order_id").n_unique().alias("orders"),
            pl.struct("order_id", "line").n_unique().alias("lines"),
            pl.struct("order_id", "line").filter(pl.col("kind") == "backorder").n_unique().alias("backorder_lines"),
            pl.struct("order_id", "line").filter(pl.col("kind") == "at_risk").n_unique().alias("at_risk_lines"),
            pl.col("backordered_qty").sum().alias("backordered_qty"),
            pl.col("open_qty").sum().alias("open_qty"),
            pl.col("value").sum().alias("value"),
            pl.col("level_rank").max().alias("worst_rank"),
        )
        .with_columns(pl.col("worst_rank").replace_strict(list(range(len(names))), names, return_dtype=pl.String)
                      .alias("worst_level"))
        .sort(["lines", "worst_rank", "key", "currency"], descending=[True, True, False, False])
        .collect()
    )
    if by in ("supplier", "receipt"):
        # a line pegged to two receipts of one supplier is one line; sums must not double count it
        dedup = (df.unique(["order_id", "line", col])
                 .group_by(pl.col(col).fill_null("(none)").alias("key"), "currency")
                 .agg(pl.col("backordered_qty").sum(), pl.col("open_qty").sum(), pl.col("value").sum()))
        out = out.drop("backordered_qty", "open_qty", "value").join(dedup, on=["key", "currency"], how="left")
    out = out.select("key", "orders", "lines", "backorder_lines", "at_risk_lines", "backordered_qty", "open_qty",
                     "value", "currency", "worst_rank", "worst_level")
    return at_minor_unit(out, "value").rename({"key": by})


def drill_down(exc: pl.DataFrame, frames: OrderFrames, catalogue: Catalogue, *, by: str | None = None,
               key: str | None = None) -> pl.DataFrame:
    """The exception lines under one key of `by` (all of them when `by` is None), with the reason."""
    if by is None:
        return exc
    col = _column(by)
    if by in ("supplier", "receipt"):
        df = _with_supply(exc, frames, catalogue).filter(pl.col(col) == key)
        return df.unique(["order_id", "line"], keep="first", maintain_order=True).select(exc.columns)
    return exc.filter(pl.col(col).fill_null("(none)") == key)
