"""Synthetic programs and shipped lines (seeded), for tests, examples and the benchmark.

``synthetic`` builds a supplier network: items with categories and brands, programs of every
sales kind spread over the suppliers, and a stream of shipped lines as a ``LINES_SCHEMA``
frame in ship-date order. ``events_of`` turns the frame into ``ShippedLine`` events, so the
ledger and ``accrue_frame`` can be held equal on the same input.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl

from channel.events import ShippedLine
from channel.programs import Program, parse_programs
from channel.vector import LINES_SCHEMA
from promessa.money import Money

YEAR_START = dt.date(2026, 1, 1)


def synthetic(*, lines: int, programs: int, suppliers: int, seed: int = 7, items: int | None = None,
              customers: int = 5000, days: int = 365, currency: str = "EUR") -> tuple[pl.DataFrame, list[Program]]:
    """(shipped lines frame, programs): ``lines`` rows over ``days`` days from 2026-01-01, ``programs`` programs
    (allowances per unit and percent, retroactive and incremental monthly or quarterly rebates, ship-and-debits
    for named customers) over ``suppliers`` suppliers."""
    rng = np.random.default_rng(seed)
    n_items = items or max(suppliers * 20, 100)
    item_sup = np.arange(n_items) % suppliers
    item_cat = (np.arange(n_items) // suppliers) % 12
    item_brand = (np.arange(n_items) * 7 // suppliers) % 5
    cust_seg = rng.integers(0, 6, customers)
    progs = []
    for p in range(programs):
        s = p % suppliers
        sup_items = np.flatnonzero(item_sup == s)
        vf = YEAR_START + dt.timedelta(days=int(rng.integers(0, days // 2)))
        vt = vf + dt.timedelta(days=int(rng.integers(30, days)))
        d: dict = {"program": f"P{p:05d}", "supplier": f"S{s:03d}", "currency": currency,
                   "valid_from": vf.isoformat(), "valid_to": vt.isoformat()}
        kind = p % 5
        if kind in (0, 1):
            d.update(kind="allowance", categories=[f"C{int(rng.integers(0, 12)):02d}"])
            if kind == 0:
                d.update(rate_kind="per_unit", rate=str(Decimal(int(rng.integers(5, 150))) / 100))
            else:
                d.update(rate_kind="percent", rate=str(Decimal(int(rng.integers(5, 60))) / 10))
                if rng.random() < 0.5:
                    d["segments"] = [f"G{int(rng.integers(0, 6))}"]
            if rng.random() < 0.3:
                d["channels"] = ["web"]
        elif kind in (2, 3):
            step = int(rng.integers(20, 200))
            d.update(kind="volume_rebate", brands=[f"B{int(rng.integers(0, 5))}"], period="month" if kind == 2 else "quarter",
                     tier_mode="retroactive" if kind == 2 else "incremental", rate_kind="percent" if p % 2 else "per_unit",
                     tiers=[{"from": 0, "to": step, "rate": "0"}, {"from": step, "to": 3 * step, "rate": "0.5"},
                            {"from": 3 * step, "to": None, "rate": "1.25"}])
        else:
            pick = rng.choice(sup_items, size=min(5, len(sup_items)), replace=False)
            d.update(kind="ship_and_debit", items=[f"I{int(i):05d}" for i in pick],
                     customers=[f"K{int(c):05d}" for c in rng.integers(0, customers, 50)],
                     special_cost=str(Decimal(int(rng.integers(300, 3000))) / 100))
            if rng.random() < 0.5:
                d["agreed_price"] = str(Decimal(int(rng.integers(1000, 9000))) / 100)
        progs.append(d)
    n = lines
    item = rng.integers(0, n_items, n)
    cust = rng.integers(0, customers, n)
    price = rng.integers(500, 10_000, n)
    cost = price * rng.integers(60, 95, n) // 100
    day = np.sort(rng.integers(0, days, n))
    chan = np.array(["web", "edi", "sales"])[rng.integers(0, 3, n)]
    frame = _frame(n, item, cust, price, cost, day, chan, rng, item_cat, item_brand, item_sup, cust_seg, currency)
    return frame, parse_programs(progs)


def _frame(n, item, cust, price, cost, day, chan, rng, item_cat, item_brand, item_sup, cust_seg, currency) -> pl.DataFrame:
    idx = pl.Series("i", np.arange(n))
    f = pl.DataFrame({"i": idx, "item_i": item, "cust_i": cust, "cat_i": item_cat[item], "brand_i": item_brand[item],
                      "sup_i": item_sup[item], "seg_i": cust_seg[cust], "day": day, "channel": chan,
                      "qty": rng.integers(1, 25, n), "unit_price": price, "unit_cost": cost})
    return f.select(
        ("H" + pl.col("i").cast(pl.String).str.zfill(9)).alias("shipment"),
        ("O" + (pl.col("i") // 3).cast(pl.String)).alias("order"),
        (pl.col("i") % 3 + 1).cast(pl.Int64).alias("line"),
        ("I" + pl.col("item_i").cast(pl.String).str.zfill(5)).alias("item"),
        ("C" + pl.col("cat_i").cast(pl.String).str.zfill(2)).alias("category"),
        ("B" + pl.col("brand_i").cast(pl.String)).alias("brand"),
        ("K" + pl.col("cust_i").cast(pl.String).str.zfill(5)).alias("customer"),
        ("G" + pl.col("seg_i").cast(pl.String)).alias("segment"),
        pl.col("channel"),
        pl.col("qty").cast(pl.Int64), pl.col("unit_price").cast(pl.Int64), pl.col("unit_cost").cast(pl.Int64),
        pl.lit(currency).alias("currency"),
        (pl.lit(YEAR_START) + pl.duration(days=pl.col("day"))).cast(pl.Date).alias("ship_date"),
        ("S" + pl.col("sup_i").cast(pl.String).str.zfill(3)).alias("supplier"),
    ).select(list(LINES_SCHEMA))


def events_of(lines: pl.DataFrame) -> list[ShippedLine]:
    """``ShippedLine`` events of a ``LINES_SCHEMA`` frame (minor units back to Money)."""
    from promessa.money import minor_unit

    out = []
    for r in lines.iter_rows(named=True):
        mu = minor_unit(r["currency"])
        out.append(ShippedLine(r["shipment"], r["order"], r["line"], r["item"], r["category"], r["brand"], r["customer"],
                               r["segment"], r["channel"], Decimal(r["qty"]),
                               Money(Decimal(r["unit_price"]).scaleb(-mu), r["currency"]),
                               Money(Decimal(r["unit_cost"]).scaleb(-mu), r["currency"]), r["ship_date"], r["supplier"]))
    return out


def shipped(shipment: str, *, qty: int | str | Decimal, price: str, cost: str, day: dt.date | str, supplier: str = "ACME",
            item: str = "W1", category: str = "widgets", brand: str = "Zed", customer: str = "BIGCO", segment: str = "retail",
            channel: str = "web", order: str | None = None, line: int = 1, currency: str = "EUR") -> ShippedLine:
    """A ``ShippedLine`` with story defaults (supplier ACME, item W1 in category widgets, brand Zed, customer BIGCO)."""
    return ShippedLine(shipment, order or f"O-{shipment}", line, item, category, brand, customer, segment, channel,
                       Decimal(str(qty)), Money.of(price, currency), Money.of(cost, currency), day, supplier)
