"""The order book as polars frames (read-only), and the catalogue the reports join to.

:func:`from_store` builds them from the order book's read model
(`orderbook.queries.line_views`: lines with their order's header, schedule lines, the
promise's pegs and earliest full date, last ship and delivery days); monitoring never reads
the order book's tables or documents itself, and nothing is written. :func:`from_orders_frame` takes an orders table in the data contract's
format (for example the generator's ``orders.parquet``) with optional promise columns, for
benchmarks and imports that never went through the order book.

Every frame has a declared schema (``LINES``, ``SCHEDULE``, ``PEGS``) and is always built with it.

Money is exact: a line's ``net_value`` is its priced net amount as a decimal in its ``currency`` (from the
order book's pricing waterfall); a float price (an orders table's ``unit_price``, the snapshot's catalogue
price) becomes an amount only through :func:`amount_expr`, rounded half up to the currency's minor unit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import polars as pl

from promessa.errors import ValidationError
from promessa.money import FRAME_SCALE

EPS = 1e-9
#: The decimal scale of amounts in the frames: the largest ISO 4217 minor unit (4), so every currency's
#: amounts are exact; reports render them at their currency's own minor unit.
NET_SCALE = FRAME_SCALE
AMOUNT = pl.Decimal(38, NET_SCALE)

#: Order statuses that are still open (not delivered, not cancelled).
OPEN_STATUSES = ("captured", "on_hold", "scheduled", "backordered", "partially_shipped", "shipped")

LINES: dict[str, pl.DataType] = {
    "order_id": pl.String,
    "line": pl.Int64,
    "customer": pl.String,
    "zone": pl.String,
    "status": pl.String,           # the order's status
    "demand_class": pl.String,     # the line's class, else the order's (the channel)
    "created_at": pl.Datetime("us"),  # UTC, naive
    "order_date": pl.Date,         # the order's business date (the business day it was priced on at capture)
    "item": pl.String,
    "location": pl.String,         # the node the line ships from
    "qty": pl.Float64,
    "requested_date": pl.Date,
    "net_value": AMOUNT,           # the line's priced net amount, exact; null: not priced (the catalogue's price)
    "currency": pl.String,         # ISO 4217 code of net_value (null when it is null)
    "promised_qty": pl.Float64,
    "shipped_qty": pl.Float64,
    "delivered_qty": pl.Float64,
    "promised_date": pl.Date,      # latest schedule line date (null: nothing promised)
    "earliest_full_date": pl.Date,  # from the promise: when the whole quantity is available
    "last_ship_date": pl.Date,
    "last_delivery_date": pl.Date,
}

SCHEDULE: dict[str, pl.DataType] = {
    "order_id": pl.String, "line": pl.Int64, "sl": pl.Int64, "item": pl.String, "location": pl.String,
    "date": pl.Date, "qty": pl.Float64, "shipped_qty": pl.Float64, "demand_class": pl.String,
}

PEGS: dict[str, pl.DataType] = {
    "order_id": pl.String, "line": pl.Int64, "qty": pl.Float64, "supply_date": pl.Date, "kind": pl.String,
    "ref": pl.String,
}


@dataclasses.dataclass(frozen=True)
class OrderFrames:
    """Order lines (one row per line, order attributes repeated), schedule lines and pegs."""

    lines: pl.DataFrame
    schedule: pl.DataFrame
    pegs: pl.DataFrame

    @property
    def n_orders(self) -> int:
        return self.lines["order_id"].n_unique() if self.lines.height else 0


def minor_unit_of(currency: str) -> int:
    """The currency's minor unit (2 for EUR), or a ValidationError naming the currency."""
    from promessa.money import MoneyError, minor_unit

    try:
        return minor_unit(currency)
    except MoneyError as exc:
        raise ValidationError(str(exc), field="currency", value=currency) from None


def amount_expr(value: pl.Expr, currency: str) -> pl.Expr:
    """A float amount (quantity x a float price) as an exact decimal (:data:`AMOUNT`) rounded half up to
    `currency`'s minor unit (``promessa.money.float_amount_expr``); an unknown currency is a ValidationError."""
    from promessa.money import float_amount_expr

    minor_unit_of(currency)
    return float_amount_expr(value, currency)


def at_minor_unit(df: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`df` with its amount `columns` at the minor unit of the currencies in its ``currency`` column (the
    largest among them; 2 when there is none): exact, since every amount added was rounded to its currency's
    minor unit."""
    cols = [c for c in columns if c in df.columns]
    if not cols or "currency" not in df.columns:
        return df
    cur = [c for c in df["currency"].unique().to_list() if c is not None]
    scale = max((minor_unit_of(c) for c in cur), default=2)
    return df.with_columns([pl.col(c).cast(pl.Decimal(38, scale)) for c in cols])


def from_store(store: Any) -> OrderFrames:
    """Every order in the book as frames, from the order book's line read model
    (`orderbook.queries.line_views`); nothing is written and no table is read here."""
    from orderbook.queries import line_views

    views = line_views(store)
    lines = pl.DataFrame([dataclasses.astuple(r) for r in views.lines], schema=LINES, orient="row")
    schedule = pl.DataFrame([dataclasses.astuple(r) for r in views.schedule], schema=SCHEDULE, orient="row")
    pegs = pl.DataFrame([dataclasses.astuple(r) for r in views.pegs], schema=PEGS, orient="row")
    return OrderFrames(lines.sort("order_id", "line"), schedule.sort("order_id", "line", "sl"), pegs)


def from_orders_frame(orders: pl.DataFrame, *, promised: pl.DataFrame | None = None,
                      location: str | None = None, currency: str = "EUR") -> OrderFrames:
    """Frames from an orders table (``order, line, item, qty, requested_date, customer,
    demand_class, zone, created_at`` and optionally ``location``, ``unit_price``, ``order_date``).

    An orders table has no business clock: its ``order_date`` column when it has one, else
    ``created_at``'s day. A ``unit_price`` (a float, in `currency`) makes the line's ``net_value``
    ``qty x unit_price`` rounded half up to the currency's minor unit (:func:`amount_expr`).

    `promised` (same row order), when given, has ``promised_qty`` and ``last_date`` (and
    optionally ``first_date``), e.g. :meth:`promising.BatchResult.to_polars`; without it nothing
    is promised. Status follows: ``scheduled`` when the whole quantity is promised, else
    ``backordered``."""
    need = ("order", "line", "item", "qty", "requested_date", "customer", "demand_class", "zone", "created_at")
    for c in need:
        if c not in orders.columns:
            import difflib

            close = difflib.get_close_matches(c, orders.columns, n=1, cutoff=0.75)
            raise ValidationError("required column missing from the orders table", field=c, value=None,
                                  hint=(f"the table has {close[0]!r}: did you mean {c!r}? " if close else "")
                                  + "columns needed: " + ", ".join(need))
    n = orders.height
    if promised is not None and promised.height != n:
        raise ValidationError("the promised frame must have one row per order line", field="promised",
                              value=promised.height)
    pq = promised["promised_qty"] if promised is not None else pl.Series("promised_qty", [0.0] * n)
    pd = promised["last_date"] if promised is not None else pl.Series("promised_date", [None] * n, dtype=pl.Date)
    loc = (orders["location"] if "location" in orders.columns
           else pl.Series("location", [location] * n, dtype=pl.String))
    price = (orders["unit_price"].cast(pl.Float64) if "unit_price" in orders.columns
             else pl.Series("unit_price", [None] * n, dtype=pl.Float64))
    created = orders["created_at"].cast(pl.Datetime("us"))
    qty = orders["qty"].cast(pl.Float64)
    net = pl.DataFrame({"q": qty, "p": price}).select(amount_expr(pl.col("q") * pl.col("p"), currency).alias("n"))["n"]
    odate = orders["order_date"].cast(pl.Date) if "order_date" in orders.columns else created.dt.date()
    df = pl.DataFrame({
        "order_id": orders["order"].cast(pl.String),
        "line": orders["line"].cast(pl.Int64),
        "customer": orders["customer"].cast(pl.String),
        "zone": orders["zone"].cast(pl.String),
        "status": pl.Series([None] * n, dtype=pl.String),
        "demand_class": orders["demand_class"].cast(pl.String),
        "created_at": created,
        "order_date": odate,
        "item": orders["item"].cast(pl.String),
        "location": loc.cast(pl.String),
        "qty": qty,
        "requested_date": orders["requested_date"].cast(pl.Date),
        "net_value": net,
        "currency": pl.Series([currency] * n, dtype=pl.String).zip_with(net.is_not_null(), pl.Series([None] * n, dtype=pl.String)),
        "promised_qty": pq.cast(pl.Float64).alias("promised_qty"),
        "shipped_qty": pl.Series([0.0] * n),
        "delivered_qty": pl.Series([0.0] * n),
        "promised_date": pd.cast(pl.Date).alias("promised_date"),
        "earliest_full_date": pl.Series([None] * n, dtype=pl.Date),
        "last_ship_date": pl.Series([None] * n, dtype=pl.Date),
        "last_delivery_date": pl.Series([None] * n, dtype=pl.Date),
    })
    status = (pl.when(pl.col("qty") - pl.col("promised_qty") > EPS).then(pl.lit("backordered"))
              .otherwise(pl.lit("scheduled")))
    # an order is backordered when any of its lines is
    df = df.with_columns(status.alias("status")).with_columns(
        pl.when((pl.col("status") == "backordered").any().over("order_id")).then(pl.lit("backordered"))
        .otherwise(pl.lit("scheduled")).alias("status"))
    df = df.select([pl.col(c).cast(t) for c, t in LINES.items()])
    return OrderFrames(df, pl.DataFrame(schema=SCHEDULE), pl.DataFrame(schema=PEGS))


# ---------------------------------------------------------------- catalogue


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """What the reports and jeopardy need from the supply snapshot (all optional)."""

    items: pl.DataFrame       # item, category, brand, price
    locations: pl.DataFrame   # location, kind, zone, country
    lanes: pl.DataFrame       # location, zone, transit_days
    zones: pl.DataFrame       # zone, country (the most common country of the zone's nodes)
    supply: pl.DataFrame      # ref, kind, supplier (the `supplier` column when the snapshot has one)

    @classmethod
    def empty(cls) -> Catalogue:
        return cls(
            pl.DataFrame(schema={"item": pl.String, "category": pl.String, "brand": pl.String, "price": pl.Float64}),
            pl.DataFrame(schema={"location": pl.String, "kind": pl.String, "zone": pl.String, "country": pl.String}),
            pl.DataFrame(schema={"location": pl.String, "zone": pl.String, "transit_days": pl.Int64}),
            pl.DataFrame(schema={"zone": pl.String, "country": pl.String}),
            pl.DataFrame(schema={"ref": pl.String, "kind": pl.String, "supplier": pl.String}),
        )

    @classmethod
    def of(cls, snap: Any | None) -> Catalogue:
        """The catalogue of a loaded :class:`supplydata.Snapshot` (cached on it); None: empty."""
        if snap is None:
            return cls.empty()
        cached = snap.derived.get("monitoring.catalogue")
        if cached is not None:
            return cached
        t = snap.tables
        e = cls.empty()

        def pick(df: pl.DataFrame | None, like: pl.DataFrame) -> pl.DataFrame:
            if df is None or df.height == 0:
                return like
            cols = [pl.col(c).cast(like.schema[c]) if c in df.columns else pl.lit(None, like.schema[c]).alias(c)
                    for c in like.columns]
            return df.select(cols)

        items = pick(t.get("items"), e.items)
        locations = pick(t.get("locations"), e.locations)
        lanes = pick(t.get("lanes"), e.lanes).unique(["location", "zone"], keep="first")
        zones = (locations.filter(pl.col("zone").is_not_null() & pl.col("country").is_not_null())
                 .group_by("zone", "country").len().sort(["zone", "len", "country"], descending=[False, True, False])
                 .group_by("zone", maintain_order=True).first().select("zone", "country"))
        # the compact form drops the supply rows after loading and keeps what is read here (`supply_refs`)
        refs = getattr(snap, "supply_refs", None)
        sup = refs if refs is not None else t.get("supply")
        if sup is not None and sup.height:
            supplier = pl.col("supplier").cast(pl.String) if "supplier" in sup.columns else pl.lit(None, pl.String)
            supply = (sup.filter(pl.col("ref").is_not_null())
                      .select(pl.col("ref").cast(pl.String), pl.col("kind").cast(pl.String), supplier.alias("supplier"))
                      .unique("ref", keep="first"))
        else:
            supply = e.supply
        out = cls(items, locations, lanes, zones, supply)
        snap.derived["monitoring.catalogue"] = out
        return out
