"""Test and benchmark helpers (as ``polars.testing``): a synthetic price book and order lines, seeded, and
the conversion of a batch frame into one-order requests (to hold the batch pricer equal to ``price_order``).
No hypothesis here, so benchmarks run without the test extras.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import polars as pl

from pricing.book import PriceBook
from pricing.catalogue import Catalogue, CatalogueItem
from pricing.model import (
    Assignment,
    LineRequest,
    OrderRequest,
    Party,
    PriceEntry,
    PriceList,
    Recurring,
    Rule,
    TaxRate,
    Tier,
    qty_of,
)

CATEGORIES = ("furniture", "office", "hardware", "lighting", "service")
BRANDS = ("nordform", "papyr", "fixit", "lux")
SEGMENTS = ("gold", "silver", "public")
CHANNELS = ("b2b", "web", "edi")
START = dt.date(2026, 1, 1)


def sample_book(*, currency: str = "EUR", n_items: int = 1000, seed: int = 7, n_rules: int = 12) -> PriceBook:
    """A seeded book: a default list (every item; some graduated, some volume tiers; service items monthly or
    yearly), a tax-inclusive web list, a gold-segment list and a customer list (some items), ``n_rules`` rules of
    every kind and stacking, tax rates for DE (standard 19 %, reduced 7 %), US-CA and US."""
    rng = np.random.default_rng(seed)
    d = Decimal(10) ** -min(2, _mu(currency))
    items = []
    default, web, gold = {}, {}, {}
    for k in range(n_items):
        item = f"I{k:06d}"
        cat = CATEGORIES[k % len(CATEGORIES)]
        items.append(CatalogueItem(item, cat, BRANDS[k % len(BRANDS)], tax_category="reduced" if k % 7 == 0 else "standard"))
        price = Decimal(int(rng.integers(100, 100_000))) * d
        tiers: tuple[Tier, ...] = ()
        mode = "none"
        rec = None
        if cat == "service":
            rec = Recurring("monthly" if k % 2 else "yearly", int(rng.integers(1, 36)), bool(k % 3))
        elif k % 3 == 0:
            mode = "graduated" if k % 2 else "volume"
            tiers = (Tier(Decimal(10), (price * Decimal("0.9")).quantize(d)), Tier(Decimal(50), (price * Decimal("0.8")).quantize(d)))
        default[item] = PriceEntry(item, price, mode, tiers, rec)
        if k % 4 == 0:
            web[item] = PriceEntry(item, (price * Decimal("1.19")).quantize(d))
        if k % 5 == 0:
            gold[item] = PriceEntry(item, (price * Decimal("0.95")).quantize(d))
    lists = [
        PriceList("DEFAULT", 1, currency, START, None, False, default),
        PriceList("WEB", 1, currency, START, None, True, web),
        PriceList("GOLD", 1, currency, START, None, False, gold),
        PriceList("C0001", 1, currency, START, None, False, {k: PriceEntry(k, Decimal(1)) for k in
                                                             list(default)[:5]}),
    ]
    assignments = [Assignment("default", "", "DEFAULT"), Assignment("channel", "web", "WEB"), Assignment("segment", "gold", "GOLD"),
                   Assignment("customer", "C0001", "C0001")]
    rules = []
    for r in range(n_rules):
        kind = ("percent", "amount_off", "fixed_price")[r % 3]
        value = Decimal(int(rng.integers(1, 30))) if kind == "percent" else Decimal(int(rng.integers(1, 5000))) * d
        cond: dict = {}
        which = r % 6
        if which == 0:
            cond["categories"] = frozenset({CATEGORIES[r % len(CATEGORIES)]})
        elif which == 1:
            cond["brands"] = frozenset({BRANDS[r % len(BRANDS)]})
        elif which == 2:
            cond["segments"] = frozenset({SEGMENTS[r % len(SEGMENTS)]})
        elif which == 3:
            cond["channels"] = frozenset({CHANNELS[r % len(CHANNELS)]})
        elif which == 4:
            cond["items"] = frozenset(f"I{int(x):06d}" for x in rng.integers(0, n_items, 20))
        else:
            cond["min_order_total"] = Decimal(int(rng.integers(100, 5000))) * Decimal(10) ** 0
        rules.append(Rule(f"R{r:03d}", kind, value, START, None, 1, "exclusive" if r % 4 == 3 else "stackable",
                          int(rng.integers(1, 50)), currency if kind != "percent" or "min_order_total" in cond else None, **cond))
    taxes = [TaxRate("DE", "", "standard", Decimal("0.19"), START), TaxRate("DE", "", "reduced", Decimal("0.07"), START),
             TaxRate("US", "CA", "standard", Decimal("0.0725"), START), TaxRate("US", "CA", "reduced", Decimal("0.0725"), START),
             TaxRate("US", "", "standard", Decimal(0), START), TaxRate("US", "", "reduced", Decimal(0), START)]
    return PriceBook(price_lists=lists, assignments=assignments, rules=rules, tax_rates=taxes, catalogue=Catalogue(currency, items),
                     catalogue_prices=False)


def _mu(currency: str) -> int:
    from promessa.money import minor_unit
    return minor_unit(currency)


def sample_parties(n_customers: int = 1000, *, seed: int = 7) -> dict[str, Party]:
    """Customers ``C0000``.. with segments, channels and tax profiles spread over the sample's values."""
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n_customers):
        cid = f"C{k:04d}"
        segs = tuple(s for s in SEGMENTS if rng.random() < 0.3)
        out[cid] = Party(cid, segs, CHANNELS[k % len(CHANNELS)], None, "exempt" if k % 50 == 0 else "standard")
    return out


def sample_lines(book: PriceBook, parties: Mapping[str, Party], *, n_lines: int, seed: int = 7, lines_per_order: int = 5,
                 as_of: dt.date = dt.date(2026, 1, 20)) -> pl.DataFrame:
    """``n_lines`` lines in orders of ``lines_per_order``: customer, country (DE, US with CA or none), items of the
    book's catalogue, quantities 1..120 with some fractions (3 decimals), service starts over two months."""
    rng = np.random.default_rng(seed)
    items = np.array(sorted(book.catalogue or ()))
    custs = np.array(sorted(parties))
    n_orders = (n_lines + lines_per_order - 1) // lines_per_order
    order_of_line = np.arange(n_lines) // lines_per_order
    o_cust = custs[rng.integers(0, len(custs), n_orders)]
    o_country = np.array(["DE", "US", "US"])[rng.integers(0, 3, n_orders)]
    o_region = np.where((o_country == "US") & (rng.random(n_orders) < 0.6), "CA", "")
    qty = rng.integers(1, 120, n_lines).astype(np.float64)
    frac = rng.random(n_lines) < 0.1
    qty[frac] = np.round(qty[frac] + rng.integers(1, 1000, int(frac.sum())) / 1000.0, 3)
    start = np.datetime64(as_of, "D") + rng.integers(-20, 40, n_lines).astype("timedelta64[D]")
    return pl.DataFrame({
        "order": pl.Series(order_of_line).cast(pl.String).str.pad_start(8, "0"),
        "line": pl.Series(np.arange(n_lines) % lines_per_order + 1).cast(pl.String),
        "customer": o_cust[order_of_line], "country": o_country[order_of_line],
        "region": pl.Series(o_region[order_of_line]).replace("", None),
        "item": items[rng.integers(0, len(items), n_lines)], "qty": qty, "service_start": pl.Series(start).cast(pl.Date),
    })


def requests_from_frame(lines: pl.DataFrame, parties: Mapping[str, Party], *, currency: str | None) -> list[OrderRequest]:
    """One ``OrderRequest`` per order of a batch frame (same columns as ``price_batch`` takes), lines in input order."""
    out: dict[str, list] = {}
    heads: dict[str, dict] = {}
    for r in lines.iter_rows(named=True):
        heads.setdefault(r["order"], r)
        q = r["qty"]
        out.setdefault(r["order"], []).append(LineRequest(
            str(r.get("line") or len(out.get(r["order"], ())) + 1), r["item"], qty_of(repr(q) if isinstance(q, float) else q),
            r.get("service_start")))
    return [OrderRequest(o, parties[heads[o]["customer"]], heads[o]["country"].upper(), tuple(ls),
                         (heads[o].get("region") or None) and heads[o]["region"].upper(), currency) for o, ls in out.items()]
