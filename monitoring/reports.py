"""Performance reports over order lines: top-N by revenue or units, and on-time and fill-rate trends.

Lazy polars group-bys over the lines frame joined once to the catalogue (category, brand,
price) and the zone's country. Cancelled orders are left out.

Revenue is exact money: a line's priced net amount (``net_value``, a decimal in its ``currency``,
from the order book's pricing); a line without one (an orders table without prices) is valued at
quantity times the catalogue's price, rounded half up to the catalogue currency's minor unit. Amounts
are never added across currencies: a top-N report has one row per key and ``currency`` (one per key in a
book priced in one currency), its ``share`` is of that currency's total, and ``revenue`` is shown at the
currency's minor unit (the largest among the currencies in the report).

Dates: the planner picks the date a report works on (``Window.date_field``): ``order_date``
(the order's business date: the business day it was captured and priced on, never the wall clock's
``created_at``, which is accepted as a name for it), ``requested_date`` or
``promised_date`` (the latest schedule line). The same field filters the range (both ends
included), groups the trend periods and keys the ``days`` report.

Trend measures per period (day, week or month):
- ``fill_rate``: promised units / ordered units (what the promise could cover at capture);
- ``on_time_rate``: share of lines on time in full: every unit promised, and the line's
  completion on or before the requested date. The completion is the last shipment when the
  line is fully shipped; otherwise its promised date, and - when the business day ``today`` is
  given (the one business clock, never the wall clock) - no earlier than ``today``: a line not
  shipped by today cannot be done before it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from monitoring.frames import AMOUNT, EPS, Catalogue, amount_expr, at_minor_unit
from promessa.errors import ValidationError

#: Top-N report kinds and the column they group by.
TOP_KINDS = {
    "products": "item",
    "customers": "customer",
    "orders": "order_id",
    "zones": "zone",
    "countries": "country",
    "brands": "brand",
    "categories": "category",
    "channels": "demand_class",
    "days": "order_date",
}
#: The key column's name in each top-N report.
KEY_NAMES = {"products": "item", "customers": "customer", "orders": "order_id", "zones": "zone",
             "countries": "country", "brands": "brand", "categories": "category", "channels": "demand_class",
             "days": "day"}
TREND_KINDS = ("on_time", "fill_rate", "trends")
KINDS = tuple(TOP_KINDS) + TREND_KINDS
METRICS = ("revenue", "units")
PERIODS = {"day": "1d", "week": "1w", "month": "1mo"}
DATE_FIELDS = ("order_date", "requested_date", "promised_date")
#: Other names accepted for a date field.
DATE_FIELD_ALIASES = {"created_at": "order_date", "created": "order_date", "requested": "requested_date",
                      "promised": "promised_date"}


def normalize_date_field(name: str) -> str:
    """The date field a name stands for (``created_at`` -> ``order_date``); unknown names are returned as given."""
    return DATE_FIELD_ALIASES.get(name, name)


@dataclasses.dataclass(frozen=True)
class Window:
    """A date range (both ends included; None = open) on one of DATE_FIELDS, which also groups the
    trend periods and the ``days`` report."""

    start: dt.date | None = None
    end: dt.date | None = None
    date_field: str = "order_date"

    def __post_init__(self) -> None:
        object.__setattr__(self, "date_field", normalize_date_field(self.date_field))
        if self.date_field not in DATE_FIELDS:
            raise ValidationError("unknown date field", field="date_field", value=self.date_field,
                                  hint="one of " + ", ".join(DATE_FIELDS) + " (created_at is order_date)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValidationError("the range ends before it starts", field="end", value=str(self.end))

    @classmethod
    def ending(cls, today: dt.date, *, days: int, date_field: str = "order_date") -> Window:
        """The `days` days up to and including the business day `today`."""
        if days < 1:
            raise ValidationError("must be at least 1", field="days", value=days)
        return cls(today - dt.timedelta(days=days - 1), today, date_field)


def enrich(lines: pl.DataFrame | pl.LazyFrame, catalogue: Catalogue, *, today: dt.date | None = None,
           currency: str = "EUR") -> pl.LazyFrame:
    """Lines with the catalogue's ``category``, ``brand`` and the zone's ``country``, ``revenue`` (exact,
    in ``currency``: the line's net, else quantity x the catalogue's price in `currency`, see the module
    doc) and ``on_time`` (as of the business day `today` when given); cancelled orders left out (lazy).
    Collect it once per order-book version and business day and pass it with ``enriched=True`` to skip
    the joins on every report."""
    lf = lines.lazy() if isinstance(lines, pl.DataFrame) else lines
    lf = lf.filter(pl.col("status").is_null() | (pl.col("status") != "cancelled"))
    items = catalogue.items.lazy().select("item", "category", "brand", pl.col("price").alias("_cat_price"))
    full = (pl.col("qty") - pl.col("promised_qty")) <= EPS
    shipped_all = (pl.col("qty") - pl.col("shipped_qty")) <= EPS
    pending = pl.col("promised_date") if today is None else pl.max_horizontal("promised_date", pl.lit(today, pl.Date))
    done = pl.when(shipped_all & pl.col("last_ship_date").is_not_null()).then(pl.col("last_ship_date")).otherwise(
        pl.when(pl.col("promised_date").is_not_null()).then(pending))
    return (
        lf.join(items, on="item", how="left")
        .join(catalogue.zones.lazy(), on="zone", how="left")
        .with_columns(
            pl.coalesce("net_value", amount_expr(pl.col("qty") * pl.col("_cat_price"), currency),
                        pl.lit(0).cast(AMOUNT)).alias("revenue"),
            pl.coalesce("currency", pl.lit(currency, pl.String)).alias("currency"),
            (full & (done <= pl.col("requested_date"))).fill_null(False).alias("on_time"),
        )
        .drop("_cat_price")
    )


def _in_window(lf: pl.LazyFrame, window: Window | None) -> pl.LazyFrame:
    w = window or Window()
    if w.start is not None:
        lf = lf.filter(pl.col(w.date_field) >= w.start)
    if w.end is not None:
        lf = lf.filter(pl.col(w.date_field) <= w.end)
    return lf


def prepare(lines: pl.DataFrame | pl.LazyFrame, catalogue: Catalogue | None, *, window: Window | None = None,
            enriched: bool = False, today: dt.date | None = None, currency: str = "EUR") -> pl.LazyFrame:
    """The lines a report runs on: enriched (see :func:`enrich`; `today` is the business day for
    ``on_time``) and inside the window (lazy)."""
    if enriched:
        lf = lines.lazy() if isinstance(lines, pl.DataFrame) else lines
    else:
        if catalogue is None:
            raise ValidationError("a catalogue is needed for lines that are not enriched", field="catalogue", value=None)
        lf = enrich(lines, catalogue, today=today, currency=currency)
    return _in_window(lf, window)


def _check(kind: str, metric: str, top: int) -> None:
    if kind not in KINDS:
        raise ValidationError("unknown report", field="kind", value=kind, hint="one of " + ", ".join(KINDS))
    if metric not in METRICS:
        raise ValidationError("unknown metric", field="metric", value=metric, hint="revenue or units")
    if not 1 <= top <= 10_000:
        raise ValidationError("must be between 1 and 10000", field="top", value=top)


def group_lazy(prepared: pl.LazyFrame, kind: str, *, count_orders: bool = False,
               date_field: str = "order_date") -> pl.LazyFrame:
    """Per key of `kind` and currency: revenue (exact), units, lines (and, with `count_orders`, distinct
    orders: a distinct count over strings, the most expensive part, so it is asked for explicitly).
    The ``days`` kind is keyed by `date_field`."""
    col = TOP_KINDS[kind] if kind != "days" else normalize_date_field(date_field)
    aggs = [pl.col("revenue").sum(), pl.col("qty").sum().alias("units"), pl.len().alias("lines")]
    if count_orders and kind != "orders":
        aggs.append(pl.col("order_id").n_unique().alias("orders"))
    name = KEY_NAMES[kind]
    g = prepared.group_by(pl.col(col).alias(name), "currency").agg(aggs)
    # missing keys (no brand, unknown zone) form one group, named after the aggregation (cheap)
    return g.with_columns(pl.col(name).cast(pl.String).fill_null("(none)")) if kind != "days" else g


def top_of(grouped: pl.DataFrame, kind: str, *, metric: str = "revenue", top: int = 10) -> pl.DataFrame:
    """The `top` largest keys of a :func:`group_lazy` result by `metric` (ties: key ascending), with
    each key's share of the metric's total (revenue: of its currency's total)."""
    _check(kind, metric, top)
    value = "revenue" if metric == "revenue" else "units"
    name = KEY_NAMES[kind]
    grouped = grouped.with_columns(_share(value))
    if grouped.height > 4 * top:  # keep the candidates (ties at the cut included) before sorting
        cut = grouped[value].cast(pl.Float64).top_k(top).min()
        grouped = grouped.filter(pl.col(value).cast(pl.Float64) >= cut)
    out = grouped.sort([value, name, "currency"], descending=[True, False, False]).head(top)
    return shown(_columns(out))


def _share(value: str) -> pl.Expr:
    """The share of the metric's total (revenue within its currency; units over every row); null when 0."""
    v = pl.col(value).cast(pl.Float64)
    total = v.sum().over("currency") if value == "revenue" else v.sum()
    return (v / pl.when(total > 0).then(total).otherwise(None)).alias("share")


def _columns(df: pl.DataFrame) -> pl.DataFrame:
    """Key, revenue and its currency first, then the counts and the share."""
    rest = [c for c in df.columns if c not in ("revenue", "currency")]
    return df.select(rest[0], "revenue", "currency", *rest[1:])


def shown(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with ``revenue`` at the minor unit of its currencies (``frames.at_minor_unit``)."""
    return at_minor_unit(df, "revenue")


def top_lazy(prepared: pl.LazyFrame, kind: str, *, metric: str = "revenue", top: int = 10,
             count_orders: bool = False, date_field: str = "order_date") -> pl.LazyFrame:
    """One top-N report as a lazy plan (see :func:`top_of`)."""
    _check(kind, metric, top)
    value = "revenue" if metric == "revenue" else "units"
    g = group_lazy(prepared, kind, count_orders=count_orders, date_field=date_field)
    return (g.with_columns(_share(value))
            .sort([value, KEY_NAMES[kind], "currency"], descending=[True, False, False]).head(top))


def trend_lazy(prepared: pl.LazyFrame, *, period: str = "day", date_field: str = "order_date") -> pl.LazyFrame:
    """Per period of `date_field`: lines, ordered and promised units, fill rate, lines on time and
    on-time rate (lines without that date, e.g. nothing promised, are left out)."""
    if period not in PERIODS:
        raise ValidationError("unknown period", field="period", value=period, hint="day, week or month")
    col = normalize_date_field(date_field)
    if col not in DATE_FIELDS:
        raise ValidationError("unknown date field", field="date_field", value=date_field, hint="one of " + ", ".join(DATE_FIELDS))
    return (
        prepared.filter(pl.col(col).is_not_null())
        .group_by(pl.col(col).dt.truncate(PERIODS[period]).alias("period"))
        .agg(pl.len().alias("lines"), pl.col("qty").sum().alias("units"),
             pl.col("promised_qty").sum().alias("promised_units"), pl.col("on_time").sum().alias("on_time_lines"))
        .with_columns((pl.col("promised_units") / pl.col("units")).alias("fill_rate"),
                      (pl.col("on_time_lines") / pl.col("lines")).alias("on_time_rate"))
        .sort("period")
    )


def report(lines: pl.DataFrame, catalogue: Catalogue | None, kind: str, *, metric: str = "revenue", top: int = 10,
           window: Window | None = None, period: str = "day", count_orders: bool = True,
           enriched: bool = False, today: dt.date | None = None, currency: str = "EUR") -> pl.DataFrame:
    """One report as a frame (``on_time``, ``fill_rate`` and ``trends`` are the trend table), over the
    window's date field (which also groups the periods and the ``days`` report).
    `enriched`: `lines` is already :func:`enrich`'s output (the catalogue and `today` are not used);
    `today`: the business day for ``on_time`` (see the module doc); `currency`: the catalogue's prices'."""
    _check(kind, metric, top)
    w = window or Window()
    prepared = prepare(lines, catalogue, window=w, enriched=enriched, today=today, currency=currency)
    if kind in TREND_KINDS:
        out = trend_lazy(prepared, period=period, date_field=w.date_field)
        cols = {"on_time": ["period", "lines", "on_time_lines", "on_time_rate"],
                "fill_rate": ["period", "lines", "units", "promised_units", "fill_rate"]}.get(kind)
        return out.select(cols).collect() if cols else out.collect()
    out = top_lazy(prepared, kind, metric=metric, top=top, count_orders=count_orders, date_field=w.date_field).collect()
    return shown(_columns(out))


def all_reports(lines: pl.DataFrame, catalogue: Catalogue | None, *, top: int = 10, window: Window | None = None,
                period: str = "day", count_orders: bool = False, enriched: bool = False,
                today: dt.date | None = None, currency: str = "EUR") -> dict[str, pl.DataFrame]:
    """Every top-N report by revenue and by units, and the trend table: one group-by per kind, all
    in one parallel collect, then the two rankings of each kind from its groups.

    Keys: ``"<kind>.<metric>"`` and ``"trends"``."""
    w = window or Window()
    prepared = prepare(lines, catalogue, window=w, enriched=enriched, today=today, currency=currency)
    if not enriched:
        prepared = prepared.collect().lazy()  # join once; every group-by reads the result
    plans = [group_lazy(prepared, kind, count_orders=count_orders, date_field=w.date_field) for kind in TOP_KINDS]
    plans.append(trend_lazy(prepared, period=period, date_field=w.date_field))
    results = pl.collect_all(plans)
    out: dict[str, pl.DataFrame] = {}
    for kind, grouped in zip(TOP_KINDS, results, strict=False):
        for metric in METRICS:
            out[f"{kind}.{metric}"] = top_of(grouped, kind, metric=metric, top=top)
    out["trends"] = results[-1]
    return out


def to_csv(df: pl.DataFrame) -> str:
    """The frame as CSV text."""
    return df.write_csv()


def to_records(df: pl.DataFrame) -> list[dict]:
    """JSON-ready rows (dates as ISO strings, decimals as strings - exact -, NaN as None)."""
    out = df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items()
                           if t in (pl.Date, pl.Datetime) or isinstance(t, (pl.Datetime, pl.Decimal))])
    rows = out.to_dicts()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, float) and v != v:
                r[k] = None
    return rows
