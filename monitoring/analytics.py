"""Customer-journey analytics over order lines: retention by monthly cohort, repeat-purchase rate,
recency-frequency-monetary (RFM) segments and cross-sell suggestions from items bought together.

Every view takes a frame of order lines with the schema :data:`LINES` (one row per order line:
order, line, customer, item, quantity, net value as a ``pl.Decimal`` in one currency, and the
order's business date) and the business day ``today`` - the one business clock (the snapshot's
``as_of`` day or ``Settings().clock.business_date``; never the wall clock). Lines dated after
``today`` have not happened on that business day and are left out of every view.
:func:`lines_from_frames` builds the input from the monitoring frames (order book or an orders
table), dating each line by the date field the planner picks.

Definitions (hand-checked in ``tests/monitoring/test_analytics.py``, and held equal to the
plain-Python reference in :mod:`monitoring.testing`):

- **Cohort retention**: a customer's cohort is the calendar month of their first order line.
  For cohort month ``m`` and ``k = 0, 1, ...`` up to ``today``'s month, ``active`` counts the
  cohort's customers with an order line in month ``m + k``; ``retention = active / customers``
  (1.0 at ``k = 0``). Months after ``today``'s month are not observed and have no row.
- **Repeat purchase**: a repeat customer has at least two distinct orders; the rate is repeat
  customers / customers. ``median_days_to_second_order`` is over repeat customers, between the
  dates of their first and second orders (an order's date is its earliest line's).
- **RFM**: per customer, recency = days from the last order line to ``today``; frequency =
  distinct orders; monetary = the sum of net values. Each is scored 1..5 by quintile:
  ``score = 1 + floor(5 * (r - 1) / n)`` where ``n`` is the number of customers and ``r`` the
  customer's rank from worst to best with **ties taking the lowest rank** (``r = 1 +`` the number
  of customers strictly worse: more days since the last order, fewer orders, less net value).
  So equal values always get equal scores, and the best customer scores 5 when ``n >= 5``.
  The segment is the first of ``AnalyticsConfig.segments`` whose score ranges hold all three.
- **Cross-sell**: baskets are orders (an item counts once per order). For items ``a != b``:
  ``orders_together`` = orders holding both; ``support = orders_together / orders``;
  ``confidence = orders_together / item_orders(a)`` (of the orders with ``a``, the share that
  also had ``b``); ``lift = confidence / (item_orders(b) / orders)``. Per item, the top
  suggestions by ``orders_together`` (ties: higher lift, then suggestion name), pairs seen in
  fewer than ``min_orders`` orders left out.

All views are lazy polars plans collected once; the outputs have declared schemas
(:data:`COHORTS`, :data:`REPEAT`, :data:`RFM`, :data:`RFM_SEGMENTS`, :data:`CROSS_SELL`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from monitoring.config import RFM_BINS, AnalyticsConfig, RfmSegment
from promessa.errors import ValidationError

#: The input: one row per order line. ``net_value`` is a decimal in one currency (any scale).
LINES: dict[str, pl.DataType] = {
    "order_id": pl.String,
    "line": pl.Int64,
    "customer": pl.String,
    "item": pl.String,
    "qty": pl.Float64,
    "net_value": pl.Decimal(38, 2),
    "order_date": pl.Date,
}

COHORTS: dict[str, pl.DataType] = {
    "cohort": pl.Date,            # first day of the month of the customers' first order
    "months_since": pl.Int32,     # k: months after the cohort month
    "customers": pl.UInt32,       # the cohort's size
    "active": pl.UInt32,          # the cohort's customers with an order line in month cohort + k
    "retention": pl.Float64,      # active / customers
}

REPEAT: dict[str, pl.DataType] = {
    "cohort": pl.Date,            # null: every customer
    "customers": pl.UInt32,
    "repeat_customers": pl.UInt32,
    "repeat_rate": pl.Float64,
    "orders": pl.UInt32,
    "orders_per_customer": pl.Float64,
    "median_days_to_second_order": pl.Float64,
}

RFM: dict[str, pl.DataType] = {
    "customer": pl.String,
    "first_order_date": pl.Date,
    "last_order_date": pl.Date,
    "recency_days": pl.Int64,
    "frequency": pl.UInt32,
    "monetary": pl.Decimal(38, 2),
    "r": pl.Int8,
    "f": pl.Int8,
    "m": pl.Int8,
    "rfm": pl.String,
    "segment": pl.String,
}

RFM_SEGMENTS: dict[str, pl.DataType] = {
    "segment": pl.String,
    "customers": pl.UInt32,
    "share": pl.Float64,
    "monetary": pl.Decimal(38, 2),
    "monetary_share": pl.Float64,
    "mean_recency_days": pl.Float64,
    "mean_frequency": pl.Float64,
}

CROSS_SELL: dict[str, pl.DataType] = {
    "item": pl.String,
    "rank": pl.UInt32,
    "suggestion": pl.String,
    "orders_together": pl.UInt32,
    "item_orders": pl.UInt32,
    "suggestion_orders": pl.UInt32,
    "support": pl.Float64,
    "confidence": pl.Float64,
    "lift": pl.Float64,
}

VIEWS = ("cohorts", "repeat", "rfm", "cross-sell")
_KEYS = ("order_id", "customer", "item", "order_date")


def _scale(df: pl.DataFrame | pl.LazyFrame) -> int:
    dtype = df.collect_schema()["net_value"]
    return dtype.scale if isinstance(dtype, pl.Decimal) else 2


def _money(scale: int) -> pl.Decimal:
    return pl.Decimal(38, scale)


def check_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """The lines in :data:`LINES`' column order and types, or a :class:`ValidationError` naming the column,
    the first bad row (1-based, as the snapshot loader counts) and its value. ``net_value`` must be a ``pl.Decimal`` (floats are refused:
    amounts are exact); its scale is kept. Keys and dates may not be null, quantities not negative."""
    if not isinstance(lines, pl.DataFrame):
        raise ValidationError("order lines must be a polars DataFrame", field="lines", value=type(lines).__name__)
    for c in LINES:
        if c not in lines.columns:
            raise ValidationError("required column missing from the order lines", field=c, value=None,
                                  hint="columns: " + ", ".join(LINES))
    nv = lines.schema["net_value"]
    if not isinstance(nv, pl.Decimal):
        raise ValidationError(f"net_value must be a decimal amount, not {nv}", field="net_value", value=str(nv),
                              hint="round to the currency's minor unit and cast to pl.Decimal, or use lines_from_frames()")
    casts = []
    for c, t in LINES.items():
        src = lines.schema[c]
        if c == "net_value":
            casts.append(pl.col(c))
        elif src == t:
            casts.append(pl.col(c))
        elif c == "order_date" and not isinstance(src, (pl.Date, pl.Datetime)):
            raise ValidationError(f"order_date must be a date, not {src}", field="order_date", value=str(src))
        else:
            casts.append(pl.col(c).cast(t))
    try:
        out = lines.select(casts)
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(f"a column has the wrong type: {exc}", field="lines", value=str(lines.schema)) from None
    nulls = out.select(pl.col(*_KEYS).null_count()).row(0)
    for c, n in zip(_KEYS, nulls, strict=True):
        if n:
            row = out.with_row_index("_r", offset=1).filter(pl.col(c).is_null())["_r"][0]
            raise ValidationError(f"row {row} of the order lines has no {c}", field=c, value=None, hint="every line needs " + ", ".join(_KEYS))
    if out.height and (out["qty"].min() or 0.0) < 0:
        row = out.with_row_index("_r", offset=1).filter(pl.col("qty") < 0).row(0, named=True)
        raise ValidationError(f"row {row['_r']} of the order lines (order {row['order_id']}) has a negative quantity",
                              field="qty", value=row["qty"])
    return out


def _prepared(lines: pl.DataFrame, today: dt.date) -> pl.LazyFrame:
    """The checked lines up to `today` (lazy)."""
    if not isinstance(today, dt.date) or isinstance(today, dt.datetime):
        raise ValidationError("the business day must be a date", field="today", value=today)
    return check_lines(lines).lazy().filter(pl.col("order_date") <= today)


def lines_after(lines: pl.DataFrame, today: dt.date) -> int:
    """How many order lines are dated after `today` (left out of every view)."""
    return int(lines.select((pl.col("order_date") > today).sum()).item() or 0) if lines.height else 0


def _month_index(col: str | pl.Expr) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.year().cast(pl.Int32) * 12 + e.dt.month().cast(pl.Int32) - 1


def _month_start(idx: pl.Expr) -> pl.Expr:
    return pl.date(idx // 12, idx % 12 + 1, 1)


# ------------------------------------------------------------------ cohorts


def cohort_retention(lines: pl.DataFrame, *, today: dt.date, max_months: int | None = None) -> pl.DataFrame:
    """Retention by monthly cohort (see the module doc): one row per (cohort, months_since) from 0 to
    ``today``'s month (at most `max_months` after the cohort), oldest cohort first; schema :data:`COHORTS`.

    Parameters
    ----------
    lines : order lines (:data:`LINES`).
    today : the business day; lines after it are left out and later months have no row.
    max_months : the longest ``months_since`` to report (None: every observed month).
    """
    if max_months is not None and max_months < 0:
        raise ValidationError("must be 0 or more", field="max_months", value=max_months)
    lf = _prepared(lines, today)
    now = today.year * 12 + today.month - 1
    # (customer, month) pairs with the customer's first month beside them (a window, cheaper than a join)
    cm = (lf.select("customer", _month_index("order_date").alias("_m")).unique()
          .with_columns(pl.col("_m").min().over("customer").alias("_c")))
    active = (cm.group_by("_c", (pl.col("_m") - pl.col("_c")).alias("months_since"))
              .agg(pl.len().cast(pl.UInt32).alias("active")).collect().lazy())
    sizes = active.filter(pl.col("months_since") == 0).select("_c", pl.col("active").alias("customers"))
    last = pl.lit(now, pl.Int32) - pl.col("_c")
    if max_months is not None:
        last = pl.min_horizontal(last, pl.lit(max_months, pl.Int32))
    grid = (sizes.with_columns(pl.int_ranges(0, last + 1, dtype=pl.Int32).alias("months_since"))
            .explode("months_since"))
    out = (grid.join(active, on=["_c", "months_since"], how="left")
           .with_columns(pl.col("active").fill_null(0),
                         _month_start(pl.col("_c")).alias("cohort"))
           .with_columns((pl.col("active") / pl.col("customers")).alias("retention"))
           .sort("_c", "months_since")
           .select([pl.col(c).cast(t) for c, t in COHORTS.items()]))
    return out.collect()


def cohort_matrix(cohorts: pl.DataFrame, *, value: str = "retention") -> pl.DataFrame:
    """:func:`cohort_retention`'s rows as a triangle: one row per cohort (``cohort``, ``customers``), one
    column ``m0, m1, ...`` per month since the first order holding `value` (``retention`` or ``active``)."""
    if value not in ("retention", "active"):
        raise ValidationError("unknown cohort value", field="value", value=value, hint="retention or active")
    if cohorts.height == 0:
        return pl.DataFrame(schema={"cohort": pl.Date, "customers": pl.UInt32})
    wide = (cohorts.with_columns(pl.format("m{}", "months_since").alias("_k"))
            .pivot(on="_k", index=["cohort", "customers"], values=value, sort_columns=False))
    ks = sorted({int(c[1:]) for c in wide.columns if c.startswith("m") and c[1:].isdigit()})
    return wide.select("cohort", "customers", *[f"m{k}" for k in ks]).sort("cohort")


# ------------------------------------------------------------------ repeat purchase


def _repeat_customers(lines: pl.DataFrame, today: dt.date) -> pl.LazyFrame:
    """Per customer: distinct orders (``_n``), the first order's date's month (``cohort``) and the days from the
    first to the second order (``_gap``; null with one order). An order's date is its earliest line's."""
    lf = _prepared(lines, today)
    orders = lf.group_by("customer", "order_id").agg(pl.col("order_date").min().alias("_d"))
    per_cust = orders.group_by("customer").agg(
        pl.len().alias("_n"), pl.col("_d").min().alias("_first"), pl.col("_d").bottom_k(2).max().alias("_second"))
    return per_cust.with_columns(
        pl.when(pl.col("_n") >= 2).then((pl.col("_second") - pl.col("_first")).dt.total_days()).alias("_gap"),
        pl.col("_first").dt.truncate("1mo").alias("cohort"))


def _repeat_rows(per_cust: pl.LazyFrame, *, by_cohort: bool) -> pl.DataFrame:
    keys = ["cohort"] if by_cohort else []
    aggs = [pl.len().alias("customers"), (pl.col("_n") >= 2).sum().alias("repeat_customers"),
            pl.col("_n").sum().alias("orders"), pl.col("_gap").cast(pl.Float64).median().alias("median_days_to_second_order")]
    g = per_cust.group_by(keys).agg(aggs).sort("cohort") if keys else per_cust.select(aggs).with_columns(
        pl.lit(None, pl.Date).alias("cohort"))
    out = g.with_columns(
        (pl.col("repeat_customers") / pl.col("customers")).alias("repeat_rate"),
        (pl.col("orders") / pl.col("customers")).alias("orders_per_customer"),
    ).select([pl.col(c).cast(t) for c, t in REPEAT.items()]).collect()
    if not by_cohort and out["customers"][0] == 0:  # no customer: rates are unknown, not 0
        out = out.with_columns(pl.lit(None, pl.Float64).alias("repeat_rate"),
                               pl.lit(None, pl.Float64).alias("orders_per_customer"))
    return out


def repeat_purchase(lines: pl.DataFrame, *, today: dt.date, by_cohort: bool = False) -> pl.DataFrame:
    """Repeat-purchase rate (see the module doc): one row for every customer (``cohort`` null), or with
    `by_cohort` one row per monthly cohort (first-order month), oldest first; schema :data:`REPEAT`."""
    return _repeat_rows(_repeat_customers(lines, today), by_cohort=by_cohort)


def repeat_purchase_both(lines: pl.DataFrame, *, today: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every customer, by cohort): :func:`repeat_purchase` both ways from one pass over the lines (the orders
    per customer are computed once)."""
    per_cust = _repeat_customers(lines, today).collect().lazy()
    return _repeat_rows(per_cust, by_cohort=False), _repeat_rows(per_cust, by_cohort=True)


# ------------------------------------------------------------------ RFM


def quintile_score(rank: pl.Expr, n: pl.Expr) -> pl.Expr:
    """``1 + floor(5 * (rank - 1) / n)`` as Int8: rank 1 (the worst) scores 1, rank n scores 5 when n >= 5."""
    return (1 + (RFM_BINS * (rank.cast(pl.Int64) - 1)) // n.cast(pl.Int64)).cast(pl.Int8)


def segment_expr(segments: Sequence[RfmSegment]) -> pl.Expr:
    """The first segment whose score ranges hold ``r``, ``f`` and ``m`` (columns), as a string expression."""
    expr: pl.Expr | None = None
    for s in reversed(list(segments)):
        cond = (pl.col("r").is_between(s.r.lo, s.r.hi) & pl.col("f").is_between(s.f.lo, s.f.hi)
                & pl.col("m").is_between(s.m.lo, s.m.hi))
        expr = (pl.when(cond).then(pl.lit(s.name)) if expr is None
                else pl.when(cond).then(pl.lit(s.name)).otherwise(expr))
    return expr if expr is not None else pl.lit(None, pl.String)


def rfm(lines: pl.DataFrame, *, today: dt.date, segments: Sequence[RfmSegment] | None = None) -> pl.DataFrame:
    """Recency, frequency and monetary value per customer, their quintile scores 1..5 (ties take the
    lowest score, see the module doc) and the named segment; best customers first (``rfm`` descending,
    then customer). Schema :data:`RFM` (``monetary`` keeps the input's decimal scale).

    Parameters
    ----------
    lines : order lines (:data:`LINES`).
    today : the business day recency is counted to; lines after it are left out.
    segments : the segment rules, first match wins (default: ``AnalyticsConfig().segments``).
    """
    segs = list(segments) if segments is not None else AnalyticsConfig().segments
    scale = _scale(lines)
    lf = _prepared(lines, today)
    per = lf.group_by("customer").agg(
        pl.col("order_date").min().alias("first_order_date"),
        pl.col("order_date").max().alias("last_order_date"),
        pl.col("order_id").n_unique().alias("frequency"),
        pl.col("net_value").sum().alias("monetary"),
    ).with_columns((pl.lit(today, pl.Date) - pl.col("last_order_date")).dt.total_days().alias("recency_days"))
    n = pl.len()
    scored = per.with_columns(
        quintile_score(pl.col("recency_days").rank("min", descending=True), n).alias("r"),
        quintile_score(pl.col("frequency").rank("min"), n).alias("f"),
        quintile_score(pl.col("monetary").rank("min"), n).alias("m"),
    ).with_columns(
        pl.format("{}{}{}", "r", "f", "m").alias("rfm"),
        segment_expr(segs).alias("segment"),
    )
    schema = {**RFM, "monetary": _money(scale)}
    return (scored.sort(["rfm", "customer"], descending=[True, False])
            .select([pl.col(c).cast(t) for c, t in schema.items()]).collect())


def rfm_segments(scores: pl.DataFrame, *, segments: Sequence[RfmSegment] | None = None) -> pl.DataFrame:
    """Per segment of an :func:`rfm` result: customers, their share, net value and its share, mean recency
    and frequency; in the order of `segments` (every segment listed, empty ones with 0 customers)."""
    segs = list(segments) if segments is not None else AnalyticsConfig().segments
    scale = scores.schema["monetary"].scale if isinstance(scores.schema.get("monetary"), pl.Decimal) else 2
    order = pl.DataFrame({"segment": [s.name for s in segs], "_o": list(range(len(segs)))},
                         schema={"segment": pl.String, "_o": pl.Int64})
    n = scores.height
    total = scores["monetary"].sum() if n else None
    g = scores.group_by("segment").agg(
        pl.len().alias("customers"), pl.col("monetary").sum().alias("monetary"),
        pl.col("recency_days").mean().alias("mean_recency_days"), pl.col("frequency").mean().alias("mean_frequency"))
    out = (order.join(g, on="segment", how="left")
           .with_columns(pl.col("customers").fill_null(0),
                         pl.col("monetary").fill_null(pl.lit(0).cast(_money(scale))))
           .with_columns((pl.col("customers") / n if n else pl.lit(None, pl.Float64)).alias("share"),
                         (pl.col("monetary").cast(pl.Float64) / float(total) if total else pl.lit(None, pl.Float64))
                         .alias("monetary_share"))
           .sort("_o"))
    schema = {**RFM_SEGMENTS, "monetary": _money(scale)}
    return out.select([pl.col(c).cast(t) for c, t in schema.items()])


# ------------------------------------------------------------------ cross-sell


def cross_sell(lines: pl.DataFrame, *, today: dt.date, top: int = 5, min_orders: int = 2,
               items: Sequence[str] | None = None) -> pl.DataFrame:
    """Cross-sell suggestions from items bought together (see the module doc): for each item, its `top`
    suggestions with the co-occurrence count, support, confidence and lift; by item, then rank.
    Schema :data:`CROSS_SELL`.

    Parameters
    ----------
    lines : order lines (:data:`LINES`).
    today : the business day; lines after it are left out.
    top : suggestions per item (1..100).
    min_orders : pairs bought together in fewer orders are left out (at least 1).
    items : only suggestions for these items (None: every item).
    """
    if not 1 <= top <= 100:
        raise ValidationError("must be between 1 and 100", field="top", value=top)
    if min_orders < 1:
        raise ValidationError("must be at least 1", field="min_orders", value=min_orders)
    lf = _prepared(lines, today).select("order_id", "item")
    # exact integer keys, never hashes (two orders are never mixed): items numbered 0..m-1 by a join to the
    # distinct items, orders 1..n (a run id when the lines come sorted by order, as the order book gives them;
    # else a join to the distinct orders); every step below runs on integers and names come back only for the
    # pairs left after the min_orders filter
    names = lf.select("item").unique().with_row_index("_i").collect()
    if names.height == 0:
        return pl.DataFrame(schema=CROSS_SELL)
    # sorted lines (in any order of the ids) hold each order's lines together; the run id is taken before any join
    # (joins need not keep the row order)
    if lines.schema["order_id"] == pl.String and lines["order_id"].is_sorted():
        lf = lf.with_columns((pl.col("order_id").rle_id() + 1).alias("_on"))
    else:
        lf = lf.join(lf.select("order_id").unique().with_row_index("_on", offset=1), on="order_id")
    codes = (lf.join(names.lazy(), on="item")
             .select(pl.col("_on").cast(pl.UInt64).alias("_o"), pl.col("_i").cast(pl.UInt64)).collect())
    n_orders = int(codes["_o"].max())
    width = names.height  # _o * width + _i and _i * width + _j are exact in 64 bits
    names = names.lazy().select(pl.col("_i").cast(pl.UInt64), "item")
    # baskets: one row per (order, item), sorted by order (a sort of one integer key, then drop repeats)
    baskets = (codes.lazy().select((pl.col("_o") * width + pl.col("_i")).alias("_k")).sort("_k")
               .filter(pl.col("_k").diff().fill_null(1) != 0)
               .select((pl.col("_k") // width).alias("_o"), (pl.col("_k") % width).alias("_i")).collect())
    # (names, counts and multi are collected once: each is read twice below)
    counts = baskets.lazy().group_by("_i").agg(pl.len().alias("_cnt")).collect().lazy()
    # one-item orders make no pairs: baskets are sorted by order, so an order has another item when a neighbour shares it
    multi = (baskets.lazy().filter((pl.col("_o") == pl.col("_o").shift(1)) | (pl.col("_o") == pl.col("_o").shift(-1)))
             .collect().lazy())
    left = multi
    if items is not None:
        asked = names.filter(pl.col("item").is_in(list(items))).select("_i")
        left = left.join(asked, on="_i", how="semi")
    # co-occurrence counts: the pair as one integer key, counted by a sort and run lengths
    keys = (left.join(multi.rename({"_i": "_j"}), on="_o")
            .filter(pl.col("_i") != pl.col("_j"))
            .select((pl.col("_i") * width + pl.col("_j")).alias("_p")).collect().to_series())
    together = (keys.sort().rechunk().rle().struct.unnest().lazy()
                .filter(pl.col("len") >= min_orders)
                .select((pl.col("value") // width).alias("_i"), (pl.col("value") % width).alias("_j"),
                        pl.col("len").alias("orders_together")))
    pairs = (together
             .join(counts, on="_i").rename({"_cnt": "item_orders"})
             .join(counts.rename({"_i": "_j"}), on="_j").rename({"_cnt": "suggestion_orders"})
             .join(names, on="_i")
             .join(names.rename({"_i": "_j", "item": "suggestion"}), on="_j")
             .with_columns(
                 (pl.col("orders_together") / n_orders).alias("support"),
                 (pl.col("orders_together") / pl.col("item_orders")).alias("confidence"),
                 (pl.col("orders_together").cast(pl.Float64) * n_orders
                  / (pl.col("item_orders").cast(pl.Float64) * pl.col("suggestion_orders"))).alias("lift"))
             .sort(["item", "orders_together", "lift", "suggestion"], descending=[False, True, True, False])
             .with_columns((pl.int_range(pl.len()).over("item") + 1).alias("rank"))
             .filter(pl.col("rank") <= top))
    return pairs.select([pl.col(c).cast(t) for c, t in CROSS_SELL.items()]).collect()


def check_items(lines: pl.DataFrame, items: Sequence[str], *, known: Sequence[str] = (), field: str = "item") -> None:
    """Refuse an item that is neither in the order lines nor in `known` (the catalogue): a typo, most likely. The
    ValidationError names ``field.k`` (the k-th item asked for) and the value, with the closest names as a hint."""
    import difflib

    names = set(lines["item"].unique().to_list()) | set(known)
    for k, name in enumerate(items):
        if name in names:
            continue
        close = difflib.get_close_matches(name, sorted(names), n=3)
        raise ValidationError("unknown item: not in the catalogue nor in any order line", field=f"{field}.{k}", value=name,
                              hint=("did you mean " + ", ".join(close) + "?") if close else
                              "give an item id of the catalogue (GET /v1/console/catalogue)")


# ------------------------------------------------------------------ input from the monitoring frames


def lines_from_frames(lines: pl.DataFrame, *, prices: pl.DataFrame | None = None, currency: str = "EUR",
                      date_field: str = "order_date") -> pl.DataFrame:
    """Analytics lines (:data:`LINES`) from the monitoring frames' lines (``monitoring.frames.LINES``):
    cancelled orders left out, ``net_value`` the line's priced net (exact, from the order book), else
    ``qty x`` the catalogue's price from `prices` (columns ``item, price``; else 0) rounded half up to
    `currency`'s minor unit, as a decimal at that minor unit; and ``order_date`` taken from `date_field`
    (``order_date`` - the order's business date -, ``requested_date`` or ``promised_date``; lines without
    that date are left out). Every priced line must be in `currency` (a ValidationError names another)."""
    from monitoring.frames import amount_expr, minor_unit_of
    from monitoring.reports import DATE_FIELDS, normalize_date_field

    date_field = normalize_date_field(date_field)
    if date_field not in DATE_FIELDS:
        raise ValidationError("unknown date field", field="date_field", value=date_field, hint="one of " + ", ".join(DATE_FIELDS))
    mu = minor_unit_of(currency)
    other = lines.filter(pl.col("currency").is_not_null() & (pl.col("currency") != currency))
    if other.height:
        raise ValidationError(f"order {other['order_id'][0]} is priced in {other['currency'][0]}, not {currency}",
                              field="currency", value=other["currency"][0],
                              hint="the analytics add amounts of one currency: give --currency (or analytics.currency)")
    lf = lines.lazy().filter(pl.col("status").is_null() | (pl.col("status") != "cancelled"))
    if prices is not None and prices.height:
        lf = lf.join(prices.lazy().select("item", pl.col("price").cast(pl.Float64).alias("_cat")).unique("item"),
                     on="item", how="left")
    else:
        lf = lf.with_columns(pl.lit(None, pl.Float64).alias("_cat"))
    value = pl.coalesce("net_value", amount_expr(pl.col("qty") * pl.col("_cat"), currency), pl.lit(0).cast(pl.Decimal(38, 4)))
    out = (lf.filter(pl.col(date_field).is_not_null())
           .select(pl.col("order_id").cast(pl.String), pl.col("line").cast(pl.Int64), pl.col("customer").cast(pl.String),
                   pl.col("item").cast(pl.String), pl.col("qty").cast(pl.Float64),
                   value.cast(_money(mu)).alias("net_value"),
                   pl.col(date_field).cast(pl.Date).alias("order_date"))
           .filter(pl.col("customer").is_not_null()))
    return out.collect()
