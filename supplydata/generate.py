"""Synthetic, seeded network and order stream in the snapshot data contract's format.

What it makes (all reproducible from the seed):
- items with long-tail (Zipf) demand, categories and brands, prices and costs, and a
  replenishment lead time for a share of them;
- DCs, stores and plants spread over zones and countries, with working-day calendars;
- lanes from every shipping node to every zone (transit days and costs grow with distance)
  and ranked sourcing rules per zone (nearest DCs first, then the zone's stores);
- on hand plus scheduled receipts (purchases at DCs, transfers to stores, production at
  plants), existing demand, demand classes with a hierarchy and allocation quotas;
- bills of materials (multi-level) and resource capacity for a share of items at plants;
- an order stream of 1 to 5 lines per order with requested dates, classes, zones, priorities
  and ship sets (`orders.parquet`, beside the snapshot tables).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from supplydata.schema import ORDERS, TABLES
from supplydata.writer import write_snapshot

DEFAULT_AS_OF = dt.date(2026, 1, 5)


@dataclasses.dataclass(frozen=True)
class Size:
    items: int
    dcs: int
    stores: int
    plants: int
    zones: int
    days: int
    order_lines: int
    store_share: float  # share of stores that stock an average item


SIZES: dict[str, Size] = {
    "tiny": Size(items=20, dcs=2, stores=3, plants=1, zones=3, days=60, order_lines=200, store_share=0.5),
    "small": Size(items=500, dcs=3, stores=8, plants=2, zones=5, days=365, order_lines=20_000, store_share=0.3),
    "medium": Size(items=4_000, dcs=5, stores=20, plants=2, zones=8, days=365, order_lines=200_000, store_share=0.2),
    # 10,000 items x (6 DCs + ~20% of 20 stores) + made items at plants ~ 100,000 item-locations
    "full": Size(items=10_000, dcs=6, stores=20, plants=3, zones=10, days=365, order_lines=1_000_000, store_share=0.28),
}

CATEGORIES = ("apparel", "footwear", "electronics", "home", "garden", "toys", "sports", "beauty", "grocery",
              "books", "office", "auto", "pets", "tools", "furniture", "kitchen", "baby", "music", "health", "outdoor")
COUNTRIES = ("US", "CA", "MX", "DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "JP")
DEMAND_CLASSES = (
    # demand_class, priority, parent, can_steal_lower, share of orders
    ("key_account", 1, None, True, 0.10),
    ("retail", 2, None, True, 0.25),
    ("online", 3, None, True, 0.40),
    ("marketplace", 4, "online", False, 0.15),
    ("wholesale", 5, None, False, 0.10),
)


def _ids(prefix: str, n: int, width: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def generate(
    out_dir: str | Path,
    *,
    seed: int = 42,
    size: str = "small",
    items: int | None = None,
    dcs: int | None = None,
    stores: int | None = None,
    plants: int | None = None,
    zones: int | None = None,
    days: int | None = None,
    order_lines: int | None = None,
    as_of: dt.date = DEFAULT_AS_OF,
    fmt: str = "parquet",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write a snapshot directory plus `orders.<fmt>` to `out_dir`; return row counts."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    base = SIZES[size]
    sz = dataclasses.replace(
        base,
        **{k: v for k, v in dict(items=items, dcs=dcs, stores=stores, plants=plants, zones=zones, days=days,
                                 order_lines=order_lines).items() if v is not None},
    )
    if sz.items < 2 or sz.dcs < 1 or sz.zones < 1 or sz.days < 7 or sz.order_lines < 0:
        raise ValueError("need at least 2 items, 1 DC, 1 zone, 7 days and no negative order lines")
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    H = sz.days
    out = Path(out_dir)

    # ---- items: long-tail popularity, categories, brands, prices, lead times
    n_items = sz.items
    item_ids = _ids("I", n_items, 6)
    item_index = {k: i for i, k in enumerate(item_ids)}
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    pop = pop[rng.permutation(n_items)]
    pop /= pop.sum()
    cat = rng.integers(0, len(CATEGORIES), n_items)
    brand = cat * 5 + rng.integers(0, 5, n_items)
    price = np.round(np.exp(rng.normal(3.2, 0.8, n_items)), 2) + 0.99
    cost = np.round(price * rng.uniform(0.45, 0.8, n_items), 2)
    has_lt = rng.random(n_items) < 0.25
    lead = np.where(has_lt, rng.integers(7, 46, n_items), -1)
    items_df = pl.DataFrame({
        "item": item_ids,
        "category": [CATEGORIES[c] for c in cat],
        "brand": [f"B{b:03d}" for b in brand],
        "price": price,
        "cost": cost,
        "lead_time_days": pl.Series(lead).replace(-1, None).cast(pl.Int64),
    })
    say(f"items: {n_items}")

    # ---- zones and locations
    zones = _ids("Z", sz.zones, 2)
    zone_country = [COUNTRIES[i * len(COUNTRIES) // max(sz.zones, 1) % len(COUNTRIES)] for i in range(sz.zones)]
    dcs, stores, plants = _ids("DC", sz.dcs, 2), _ids("ST", sz.stores, 3), _ids("PL", sz.plants, 2)
    dc_zone = [(i * sz.zones) // sz.dcs for i in range(sz.dcs)]
    st_zone = list(rng.integers(0, sz.zones, sz.stores))
    pl_zone = list(rng.integers(0, sz.zones, sz.plants))
    loc_ids = dcs + stores + plants
    loc_kind = ["dc"] * sz.dcs + ["store"] * sz.stores + ["plant"] * sz.plants
    loc_zone = dc_zone + st_zone + pl_zone
    loc_cal = ["weekdays" if k in ("dc", "plant") else "everyday" for k in loc_kind]
    locations_df = pl.DataFrame({
        "location": loc_ids,
        "kind": loc_kind,
        "zone": [zones[z] for z in loc_zone],
        "country": [zone_country[z] for z in loc_zone],
        "calendar": loc_cal,
    })
    dates = [as_of + dt.timedelta(days=d) for d in range(H)]
    weekday_open = [d.weekday() < 5 for d in dates]
    calendars_df = pl.DataFrame({
        "calendar": ["weekdays"] * H + ["everyday"] * H,
        "date": dates + dates,
        "open": weekday_open + [True] * H,
    })

    # ---- lanes and sourcing rules
    def dist(a: int, b: int) -> int:
        d = abs(a - b)
        return min(d, sz.zones - d)

    lane_rows = {"location": [], "zone": [], "transit_days": [], "cost_per_unit": [], "cost_per_shipment": []}
    ship_nodes = [(loc_ids[i], loc_kind[i], loc_zone[i]) for i in range(len(loc_ids)) if loc_kind[i] in ("dc", "store")]
    for loc, kind, lz in ship_nodes:
        for zi, z in enumerate(zones):
            d = dist(lz, zi)
            if kind == "store" and d > 1:
                continue  # stores ship only to their own and neighbouring zones
            lane_rows["location"].append(loc)
            lane_rows["zone"].append(z)
            lane_rows["transit_days"].append(1 + d)
            lane_rows["cost_per_unit"].append(round(0.4 + 0.35 * d + (0.3 if kind == "store" else 0.0), 2))
            lane_rows["cost_per_shipment"].append(round(4.0 + 2.5 * d, 2))
    lanes_df = pl.DataFrame(lane_rows)
    src = {"zone": [], "location": [], "rank": [], "item": [], "category": []}
    for zi, z in enumerate(zones):
        ranked = sorted(range(sz.dcs), key=lambda i: (dist(dc_zone[i], zi), i))
        for r, i in enumerate(ranked, start=1):
            src["zone"].append(z); src["location"].append(dcs[i]); src["rank"].append(r)
            src["item"].append(None); src["category"].append(None)
        for si in range(sz.stores):
            if dist(st_zone[si], zi) <= 1:
                src["zone"].append(z); src["location"].append(stores[si]); src["rank"].append(sz.dcs + 1 + dist(st_zone[si], zi))
                src["item"].append(None); src["category"].append(None)
    sourcing_df = pl.DataFrame(src, schema=TABLES["sourcing"].polars_schema())

    # ---- item-locations: every DC, a popularity-weighted share of stores
    stock_share = np.clip(sz.store_share * (0.5 + pop / pop.mean() * 0.5), 0.02, 1.0)
    il_item: list[np.ndarray] = []
    il_loc: list[np.ndarray] = []
    for d in range(sz.dcs):
        il_item.append(np.arange(n_items)); il_loc.append(np.full(n_items, d))
    if sz.stores:
        mask = rng.random((sz.stores, n_items)) < stock_share[None, :]
        s_idx, i_idx = np.nonzero(mask)
        il_item.append(i_idx); il_loc.append(sz.dcs + s_idx)
    # made items (BOM) at plants: ~8% of items, components drawn from the catalogue
    n_made = max(1, int(0.08 * n_items)) if sz.plants else 0
    made = rng.choice(n_items, size=n_made, replace=False) if n_made else np.empty(0, np.int64)
    made_plant = rng.integers(0, max(sz.plants, 1), n_made)
    bom_rows = {"item": [], "location": [], "component": [], "qty_per": [], "resource": [], "usage_per_unit": [], "lead_time_days": []}
    comp_il_item, comp_il_loc = [], []
    made_set = set(made.tolist())
    for k, it in enumerate(made):
        p = int(made_plant[k])
        ploc = plants[p]
        n_comp = int(rng.integers(2, 5))
        comps = rng.choice(n_items, size=n_comp, replace=False)
        res = f"LINE{int(rng.integers(1, 3))}"
        lt = int(rng.integers(2, 8))
        usage = round(float(rng.uniform(0.05, 0.5)), 3)
        for c in comps:
            if c == it:
                continue
            bom_rows["item"].append(item_ids[it]); bom_rows["location"].append(ploc)
            bom_rows["component"].append(item_ids[c]); bom_rows["qty_per"].append(float(rng.integers(1, 4)))
            bom_rows["resource"].append(res); bom_rows["usage_per_unit"].append(usage); bom_rows["lead_time_days"].append(lt)
            comp_il_item.append(c); comp_il_loc.append(sz.dcs + sz.stores + p)
        il_item.append(np.array([it])); il_loc.append(np.array([sz.dcs + sz.stores + p]))
    if comp_il_item:
        il_item.append(np.array(comp_il_item)); il_loc.append(np.array(comp_il_loc))
    ili = np.concatenate(il_item)
    ill = np.concatenate(il_loc)
    key = np.unique(ili.astype(np.int64) * len(loc_ids) + ill)
    ili, ill = (key // len(loc_ids)).astype(np.int64), (key % len(loc_ids)).astype(np.int64)
    N = key.shape[0]
    say(f"item-locations: {N}")

    # daily demand rate per item-location: item popularity spread over its locations
    total_daily = max(20.0, sz.order_lines / max(H * 0.25, 1) * 2.0)
    n_loc_per_item = np.bincount(ili, minlength=n_items)
    is_plant = ill >= sz.dcs + sz.stores
    rate = total_daily * pop[ili] / np.maximum(n_loc_per_item[ili], 1)
    rate = np.where(is_plant, rate * 0.5, rate)

    # ---- supply: on hand + scheduled receipts
    onhand = np.round(rate * rng.uniform(0, 25, N) + rng.integers(0, 3, N)).astype(np.float64)
    kind_of_loc = np.array(loc_kind)[ill]
    interval = np.where(kind_of_loc == "dc", rng.integers(21, 43, N), np.where(kind_of_loc == "store", rng.integers(21, 43, N), rng.integers(10, 21, N)))
    first = rng.integers(1, 15, N)
    n_rec = np.maximum(0, (H - 1 - first) // interval + 1)
    rec_il = np.repeat(np.arange(N), n_rec)
    k_in = np.arange(rec_il.shape[0]) - np.repeat(np.cumsum(n_rec) - n_rec, n_rec)
    rec_day = first[rec_il] + k_in * interval[rec_il]
    rec_qty = np.round(rate[rec_il] * interval[rec_il] * rng.uniform(0.6, 1.3, rec_il.shape[0]) + 1.0)
    rec_kind = np.where(kind_of_loc[rec_il] == "dc", "purchase", np.where(kind_of_loc[rec_il] == "store", "transfer", "production"))
    planned = rec_day > 90
    rec_kind = np.where(planned & (kind_of_loc[rec_il] == "dc"), "planned", rec_kind)
    keep_oh = onhand > 0
    sup_il = np.concatenate([np.arange(N)[keep_oh], rec_il])
    sup_day = np.concatenate([np.zeros(int(keep_oh.sum()), np.int64), rec_day])
    sup_qty = np.concatenate([onhand[keep_oh], rec_qty])
    sup_kind = np.concatenate([np.full(int(keep_oh.sum()), "onhand"), rec_kind])
    n_sup = sup_il.shape[0]
    supply_df = pl.DataFrame({
        "item": pl.Series(item_ids).gather(ili[sup_il]),
        "location": pl.Series(loc_ids).gather(ill[sup_il]),
        "date": pl.Series(np.datetime64(as_of, "D") + sup_day.astype("timedelta64[D]")),
        "qty": sup_qty,
        "kind": sup_kind,
        "ref": [f"{k[:2].upper()}{i:07d}" for i, k in enumerate(sup_kind.tolist())],
    })
    say(f"supply rows: {n_sup}")

    # ---- existing demand: already-planned commitments over the next weeks
    n_dem = rng.poisson(np.minimum(rate * 3, 6.0))
    dem_il = np.repeat(np.arange(N), n_dem)
    dem_day = rng.integers(0, min(45, H), dem_il.shape[0])
    dem_qty = np.maximum(1.0, np.round(rate[dem_il] * rng.uniform(0.5, 3.0, dem_il.shape[0])))
    cls_names = [c[0] for c in DEMAND_CLASSES]
    cls_w = np.array([c[4] for c in DEMAND_CLASSES])
    dem_cls = rng.choice(len(cls_names), dem_il.shape[0], p=cls_w / cls_w.sum())
    demand_df = pl.DataFrame({
        "item": pl.Series(item_ids).gather(ili[dem_il]),
        "location": pl.Series(loc_ids).gather(ill[dem_il]),
        "date": pl.Series(np.datetime64(as_of, "D") + dem_day.astype("timedelta64[D]")),
        "qty": dem_qty,
        "demand_class": pl.Series(cls_names).gather(dem_cls),
        "ref": [f"SO{i:08d}" for i in range(dem_il.shape[0])],
    })
    say(f"demand rows: {demand_df.height}")

    # ---- demand classes and allocation quotas (top sellers at DCs)
    demand_classes_df = pl.DataFrame(
        {"demand_class": [c[0] for c in DEMAND_CLASSES], "priority": [c[1] for c in DEMAND_CLASSES],
         "parent": [c[2] for c in DEMAND_CLASSES], "can_steal_lower": [c[3] for c in DEMAND_CLASSES]},
        schema=TABLES["demand_classes"].polars_schema(),
    )
    top = np.argsort(-pop)[: max(1, n_items // 20)]
    al = {"item": [], "location": [], "demand_class": [], "date": [], "qty": []}
    supply_by_il = np.bincount(sup_il, weights=sup_qty, minlength=N)
    shares = (("key_account", 0.30), ("retail", 0.20), ("online", 0.25))
    top_set = set(top.tolist())
    for j in range(N):
        if ill[j] < sz.dcs and int(ili[j]) in top_set:
            for cname, share in shares:
                al["item"].append(item_ids[ili[j]]); al["location"].append(loc_ids[ill[j]])
                al["demand_class"].append(cname); al["date"].append(as_of); al["qty"].append(float(np.floor(supply_by_il[j] * share)))
    allocation_df = pl.DataFrame(al, schema=TABLES["allocation"].polars_schema())

    # ---- resources at plants (capacity in hours per working day) and the BOM
    res_rows = {"resource": [], "location": [], "date": [], "capacity": []}
    for p in plants:
        for r in ("LINE1", "LINE2"):
            for d, op in zip(dates, weekday_open):
                res_rows["resource"].append(r); res_rows["location"].append(p)
                res_rows["date"].append(d); res_rows["capacity"].append(16.0 if op else 0.0)
    resources_df = pl.DataFrame(res_rows, schema=TABLES["resources"].polars_schema())
    bom_df = pl.DataFrame(bom_rows, schema=TABLES["bom"].polars_schema())
    n_sub = sum(1 for c in bom_rows["component"] if item_index[c] in made_set)
    say(f"bom rows: {bom_df.height} for {n_made} made items ({n_sub} components are made themselves)")

    tables = {
        "items": items_df, "locations": locations_df, "supply": supply_df, "demand": demand_df,
        "lanes": lanes_df, "sourcing": sourcing_df, "demand_classes": demand_classes_df,
        "allocation": allocation_df, "resources": resources_df, "bom": bom_df, "calendars": calendars_df,
    }
    write_snapshot(out, tables, as_of=as_of, horizon_days=H, fmt=fmt)
    say("snapshot written")

    orders_df = generate_orders(
        rng, n_lines=sz.order_lines, item_ids=item_ids, pop=pop, zones=zones, as_of=as_of, horizon=H,
    )
    if fmt == "parquet":
        orders_df.write_parquet(out / "orders.parquet")
    else:
        orders_df.write_csv(out / "orders.csv")
    say(f"orders: {orders_df['order'].n_unique() if orders_df.height else 0} with {orders_df.height} lines")
    counts = {name: df.height for name, df in tables.items()}
    counts["orders"] = orders_df.height
    counts["item_locations"] = int(N)
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    return counts


def generate_orders(rng: np.random.Generator, *, n_lines: int, item_ids: list[str], pop: np.ndarray,
                    zones: list[str], as_of: dt.date, horizon: int) -> pl.DataFrame:
    """An order stream of 1..5 lines per order, sorted by creation time."""
    schema = ORDERS.polars_schema()
    if n_lines == 0:
        return pl.DataFrame(schema=schema)
    sizes = rng.choice(5, size=n_lines, p=[0.5, 0.2, 0.15, 0.1, 0.05]) + 1
    ends = np.cumsum(sizes)
    n_orders = int(np.searchsorted(ends, n_lines) + 1)
    sizes = sizes[:n_orders]
    sizes[-1] -= ends[n_orders - 1] - n_lines
    order_of_line = np.repeat(np.arange(n_orders), sizes)
    line_no = np.arange(n_lines) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    items = rng.choice(len(item_ids), size=n_lines, p=pop)
    qty = np.minimum(rng.geometric(0.45, n_lines), 20).astype(np.float64)
    # creation times spread over the first 60% of the horizon; requested 1..21 days later
    span_s = max(1, int(horizon * 0.6)) * 86_400
    created = np.sort(rng.integers(0, span_s, n_orders))
    lead = rng.integers(1, 22, n_orders)
    req_day = np.minimum(created // 86_400 + lead, horizon - 1)
    cls_names = [c[0] for c in DEMAND_CLASSES]
    cls_w = np.array([c[4] for c in DEMAND_CLASSES])
    n_customers = max(10, n_orders // 8)
    cust = rng.integers(0, n_customers, n_orders)
    cust_cls = rng.choice(len(cls_names), n_customers, p=cls_w / cls_w.sum())
    cls = cust_cls[cust]
    priority = np.array([c[1] for c in DEMAND_CLASSES])[cls]
    zone = rng.integers(0, len(zones), n_orders)
    ship_set = (sizes > 1) & (rng.random(n_orders) < 0.2)
    base = np.datetime64(as_of, "D")
    df = pl.DataFrame({
        "order": pl.Series([f"O{i:08d}" for i in range(1, n_orders + 1)]).gather(order_of_line),
        "line": line_no.astype(np.int64),
        "item": pl.Series(item_ids).gather(items),
        "qty": qty,
        "requested_date": pl.Series(base + req_day.astype("timedelta64[D]")).gather(order_of_line),
        "customer": pl.Series([f"C{i:06d}" for i in range(1, n_customers + 1)]).gather(cust).gather(order_of_line),
        "demand_class": pl.Series(cls_names).gather(cls).gather(order_of_line),
        "zone": pl.Series(zones).gather(zone).gather(order_of_line),
        "priority": pl.Series(priority.astype(np.int64)).gather(order_of_line),
        "ship_set": pl.Series(["S1" if s else None for s in ship_set.tolist()], dtype=pl.String).gather(order_of_line),
        "created_at": pl.Series(base.astype("datetime64[us]") + created.astype("timedelta64[s]").astype("timedelta64[us]")).gather(order_of_line),
    })
    return df.cast(schema)
