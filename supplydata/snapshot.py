"""The in-memory supply snapshot (immutable) and the commitment state (separate, cheap to copy).

Time: buckets are days; bucket 0 is `as_of`; anything dated on or before `as_of` falls into
bucket 0. Ids are dictionary-encoded: items, locations and item-locations ("il") are dense
integer codes. Supply and existing demand are dense float64 arrays of shape (n_il, horizon).

The commitment state keeps one array, `cum`, the running net position
``C[t] = sum_{s<=t} (supply[s] - demand[s] - committed[s])`` per item-location, which is all
the ATP kernels need. Committed quantities per bucket are derived from it on demand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl

from promessa.errors import NotFoundError, ValidationError
from supplydata.kernels import net_cumsum_nb
from supplydata.loader import load_tables

_versions = itertools.count(1)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class DayAndIdLookups:
    """Dates, buckets and ids of a snapshot, shared by the dense `Snapshot` and the compact
    `supplydata.sparse.CompactSnapshot`: they need `as_of`, `horizon`, `last_date`, `item_index`,
    `location_index` and `il(item_code, location_code)`."""

    __slots__ = ()

    def bucket(self, date: dt.date | str, *, field: str = "date") -> int:
        """Bucket of a date: past dates fall into bucket 0; dates past the horizon are refused."""
        if isinstance(date, str):
            try:
                date = dt.date.fromisoformat(date)
            except ValueError:
                raise ValidationError("not a date", field=field, value=date, hint="use YYYY-MM-DD") from None
        if isinstance(date, dt.datetime):
            date = date.date()
        b = (date - self.as_of).days
        if b >= self.horizon:
            raise ValidationError(f"date outside the horizon (last day {self.last_date})", field=field, value=str(date))
        return max(b, 0)

    def date(self, bucket: int) -> dt.date:
        return self.as_of + dt.timedelta(days=int(bucket))

    def item_code(self, item: str) -> int:
        try:
            return self.item_index[item]
        except KeyError:
            raise NotFoundError(f"unknown item {item!r}") from None

    def location_code(self, location: str) -> int:
        try:
            return self.location_index[location]
        except KeyError:
            raise NotFoundError(f"unknown location {location!r}") from None

    def il_of(self, item: str, location: str) -> int:
        """Item-location code by ids; -1 when the pair has no row. Unknown ids raise NotFoundError."""
        return self.il(self.item_code(item), self.location_code(location))


@dataclasses.dataclass(frozen=True, eq=False)
class Snapshot(DayAndIdLookups):
    """An immutable, loaded supply snapshot. Share it freely between threads and states."""

    form: ClassVar[str] = "dense"  # the supply form (`supplydata.sparse.CompactSnapshot`: "compact")
    as_of: dt.date
    horizon: int
    meta: dict
    tables: dict[str, pl.DataFrame]
    source: str
    version: int
    loaded_at: dt.datetime
    load_seconds: float
    # dictionaries
    item_ids: tuple[str, ...]
    location_ids: tuple[str, ...]
    calendar_ids: tuple[str, ...]
    item_index: dict[str, int]
    location_index: dict[str, int]
    # item-locations
    il_item: np.ndarray       # int32[N]
    il_loc: np.ndarray        # int32[N]
    il_lead_time: np.ndarray  # int32[N], replenishment lead time in buckets, -1 = none
    il_calendar: np.ndarray   # int32[N], calendar code of the location, -1 = always open
    il_index: dict[tuple[int, int], int]
    # dense time-phased data
    supply: np.ndarray        # float64[N, H]
    demand: np.ndarray        # float64[N, H]
    base_cum: np.ndarray      # float64[N, H] = cumsum(supply - demand)
    calendar_open: np.ndarray  # bool[n_calendars, H]
    # supply records per item-location (CSR, sorted by bucket), for pegging
    sup_ptr: np.ndarray       # int64[N+1]
    sup_bucket: np.ndarray    # int32[n_supply_rows]
    sup_qty: np.ndarray       # float64[n_supply_rows]
    sup_row: np.ndarray       # int64[n_supply_rows]: row in tables["supply"]
    # item attributes
    item_price: np.ndarray    # float64[n_items] (0 where unknown)
    item_cost: np.ndarray     # float64[n_items]
    # models other packages derive from this snapshot once (allocation, capable-to-promise,
    # sourcing), built lazily and cached here; the snapshot's data itself never changes
    derived: dict = dataclasses.field(default_factory=dict, repr=False)

    # ---- sizes
    @property
    def n_il(self) -> int:
        return int(self.il_item.shape[0])

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_locations(self) -> int:
        return len(self.location_ids)

    @property
    def journal_seq(self) -> int | None:
        return self.meta.get("journal_seq")

    @property
    def last_date(self) -> dt.date:
        return self.as_of + dt.timedelta(days=self.horizon - 1)

    # ---- ids (dates, buckets and id lookups: DayAndIdLookups)
    def il(self, item_code: int, location_code: int) -> int:
        """Item-location code, or -1 when that item has no row at that location."""
        return self.il_index.get((item_code, location_code), -1)

    def il_name(self, il: int) -> tuple[str, str]:
        return self.item_ids[self.il_item[il]], self.location_ids[self.il_loc[il]]

    def new_state(self) -> State:
        return State(self, self.base_cum.copy())

    def status(self) -> dict:
        return {
            "source": self.source,
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "horizon_days": self.horizon,
            "journal_seq": self.journal_seq,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "load_seconds": round(self.load_seconds, 4),
            "item_locations": self.n_il,
            "rows": {k: v.height for k, v in self.tables.items()},
        }


class State:
    """Commitments made on top of a snapshot. Separate from it; `copy()` forks it.

    `cum[il, t]` is the running net position including commitments and real-time supply
    adjustments. `adjustments[il][bucket]` records supply changes applied since the snapshot
    was built (inventory adjustments, new or changed receipts), so that reports can tell
    supply from commitments. `extras` holds arrays that other packages (allocation,
    capable-to-promise) keep per state; they are copied too.
    """

    __slots__ = ("snapshot", "cum", "extras", "adjustments")

    def __init__(self, snapshot: Snapshot, cum: np.ndarray, extras: dict[str, np.ndarray] | None = None,
                 adjustments: dict[int, dict[int, float]] | None = None) -> None:
        self.snapshot = snapshot
        self.cum = cum
        self.extras = extras if extras is not None else {}
        self.adjustments = adjustments if adjustments is not None else {}

    def copy(self) -> State:
        return State(self.snapshot, self.cum.copy(), {k: v.copy() for k, v in self.extras.items()},
                     {il: dict(b) for il, b in self.adjustments.items()})

    @property
    def nbytes(self) -> int:
        return int(self.cum.nbytes + sum(v.nbytes for v in self.extras.values()))

    def adjust_supply(self, il: int, bucket: int, qty: float) -> None:
        """Add (or, negative, remove) supply at a bucket: the position rises from there on."""
        self.cum[il, bucket:] += qty
        per = self.adjustments.setdefault(il, {})
        per[bucket] = per.get(bucket, 0.0) + qty

    def min_from(self, il: int, bucket: int) -> float:
        """The lowest running position of one item-location from `bucket` to the horizon."""
        return float(self.cum[il, bucket:].min())

    def supply_adjustment(self, il: int) -> np.ndarray:
        out = np.zeros(self.snapshot.horizon)
        for b, q in self.adjustments.get(il, {}).items():
            out[b] += q
        return out

    def committed(self, il: int) -> np.ndarray:
        """Committed quantity per bucket for one item-location (derived from `cum`)."""
        base = np.diff(self.snapshot.base_cum[il], prepend=0.0)
        now = np.diff(self.cum[il], prepend=0.0)
        out = base - now
        if il in self.adjustments:
            out += self.supply_adjustment(il)
        out[np.abs(out) < 1e-9] = 0.0
        return out

    def committed_total(self) -> float:
        """Total committed quantity over every item-location."""
        adj = sum(q for per in self.adjustments.values() for q in per.values())
        return float((self.snapshot.base_cum[:, -1] - self.cum[:, -1]).sum() + adj)


def _codes(values: pl.Series, index: dict[str, int]) -> np.ndarray:
    if len(values) == 0:
        return np.empty(0, dtype=np.int32)
    return values.replace_strict(index, return_dtype=pl.Int32).to_numpy()


def _buckets(dates: pl.Series, as_of: dt.date) -> np.ndarray:
    if len(dates) == 0:
        return np.empty(0, dtype=np.int32)
    days = dates.cast(pl.Int32).to_numpy() - (as_of - dt.date(1970, 1, 1)).days
    return np.maximum(days, 0).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Network:
    """What both supply forms encode the same way from the checked tables: the id dictionaries, the
    item-locations (sorted by ``item * n_locations + location``, the pairs that appear in supply,
    demand, allocation or a bill), their lead times and calendar codes, and the calendars."""

    item_ids: tuple[str, ...]
    location_ids: tuple[str, ...]
    calendar_ids: tuple[str, ...]
    item_index: dict[str, int]
    location_index: dict[str, int]
    key: np.ndarray           # int64[N], sorted
    il_item: np.ndarray       # int32[N]
    il_loc: np.ndarray        # int32[N]
    il_lead_time: np.ndarray  # int32[N], -1 = none
    il_calendar: np.ndarray   # int32[N], -1 = always open
    calendar_open: np.ndarray  # bool[n_calendars, H]

    @property
    def n_il(self) -> int:
        return int(self.key.shape[0])

    def il_codes(self, df: pl.DataFrame) -> np.ndarray:
        """The item-location code of every row of a table with item and location columns (rows whose
        pair is an item-location: every supply and demand row is)."""
        nloc = max(len(self.location_ids), 1)
        k = _codes(df["item"], self.item_index).astype(np.int64) * nloc + _codes(df["location"], self.location_index)
        return np.searchsorted(self.key, k).astype(np.int64)


def encode_network(meta: dict, tables: dict[str, pl.DataFrame]) -> Network:
    """Encode the ids, item-locations, lead times and calendars of checked tables (`Network`)."""
    as_of: dt.date = meta["as_of"]
    H: int = meta["horizon_days"]
    items, locs = tables["items"], tables["locations"]
    item_ids = tuple(items["item"].to_list())
    location_ids = tuple(locs["location"].to_list())
    item_index = {k: i for i, k in enumerate(item_ids)}
    location_index = {k: i for i, k in enumerate(location_ids)}

    pair_frames = [tables[n].select("item", "location") for n in ("supply", "demand", "allocation", "bom") if tables[n].height]
    if pair_frames:
        pairs = pl.concat(pair_frames).unique()
        pi = _codes(pairs["item"], item_index).astype(np.int64)
        pl_ = _codes(pairs["location"], location_index).astype(np.int64)
        key = np.unique(pi * len(location_ids) + pl_)
    else:
        key = np.empty(0, dtype=np.int64)
    nloc = max(len(location_ids), 1)
    il_item = (key // nloc).astype(np.int32)
    il_loc = (key % nloc).astype(np.int32)
    N = key.shape[0]

    # lead times (per item) and calendars (per location)
    lt_item = items["lead_time_days"].fill_null(-1).to_numpy().astype(np.int32)
    il_lead_time = lt_item[il_item] if N else np.empty(0, np.int32)
    cals = tables["calendars"]
    cal_names = sorted(set(cals["calendar"].to_list()) | {c for c in locs["calendar"].to_list() if c})
    calendar_ids = tuple(cal_names)
    cal_index = {c: i for i, c in enumerate(calendar_ids)}
    calendar_open = np.ones((len(calendar_ids), H), dtype=np.bool_)
    if cals.height:
        cb = (cals["date"].cast(pl.Int32) - (as_of - dt.date(1970, 1, 1)).days).to_numpy()
        inside = (cb >= 0) & (cb < H)
        cc = _codes(cals["calendar"], cal_index)
        calendar_open[cc[inside], cb[inside]] = cals["open"].to_numpy()[inside]
    loc_cal = np.array([cal_index[c] if c else -1 for c in locs["calendar"].to_list()], dtype=np.int32)
    il_calendar = loc_cal[il_loc] if N else np.empty(0, np.int32)
    if N and "lead_time_working_days" in items.columns:
        # lead times in working days: supply is unlimited from the bucket by which that many
        # open days of the location's calendar have passed (days 1..b; day 0 is today)
        wd = items["lead_time_working_days"].fill_null(False).to_numpy().astype(bool)
        sel = np.flatnonzero(wd[il_item] & (il_lead_time >= 0) & (il_calendar >= 0))
        if sel.size:
            il_lead_time = il_lead_time.copy()
            opened = np.cumsum(calendar_open[:, 1:], axis=1)  # open days in 1..b, at index b - 1
            for il in sel.tolist():
                L = int(il_lead_time[il])
                if L == 0:
                    continue
                hit = np.flatnonzero(opened[il_calendar[il]] >= L)
                il_lead_time[il] = int(hit[0]) + 1 if hit.size else H
    return Network(item_ids=item_ids, location_ids=location_ids, calendar_ids=calendar_ids, item_index=item_index,
                   location_index=location_index, key=key, il_item=il_item, il_loc=il_loc, il_lead_time=il_lead_time,
                   il_calendar=il_calendar, calendar_open=calendar_open)


def build_snapshot(meta: dict, tables: dict[str, pl.DataFrame], *, source: str = "<memory>", t0: float | None = None) -> Snapshot:
    """Encode checked tables into the dense, immutable in-memory snapshot."""
    t0 = time.perf_counter() if t0 is None else t0
    as_of: dt.date = meta["as_of"]
    H: int = meta["horizon_days"]
    items = tables["items"]
    net = encode_network(meta, tables)
    il_item, il_loc, N = net.il_item, net.il_loc, net.n_il
    il_index = dict(zip(zip(il_item.tolist(), il_loc.tolist()), range(N)))

    sup, dem = tables["supply"], tables["demand"]

    def dense(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if df.height == 0:
            return np.zeros((N, H)), np.empty(0, np.int64), np.empty(0, np.int32)
        ils = net.il_codes(df)
        b = _buckets(df["date"], as_of)
        flat = ils * H + b
        arr = np.bincount(flat, weights=df["qty"].to_numpy(), minlength=N * H).reshape(N, H)
        return arr, ils, b

    supply, s_il, s_b = dense(sup)
    demand, _, _ = dense(dem)
    base_cum = np.empty((N, H))
    net_cumsum_nb(supply, demand, base_cum)

    # supply records by item-location then bucket (stable: file order within a bucket)
    order = np.argsort(s_il * H + s_b, kind="stable") if s_il.shape[0] else np.empty(0, np.int64)
    sup_ptr = np.zeros(N + 1, dtype=np.int64)
    if s_il.shape[0]:
        np.cumsum(np.bincount(s_il, minlength=N), out=sup_ptr[1:])
    sup_bucket = s_b[order].astype(np.int32)
    sup_qty = sup["qty"].to_numpy()[order].astype(np.float64) if sup.height else np.empty(0)
    sup_row = order.astype(np.int64)

    price = items["price"].fill_null(0.0).to_numpy().astype(np.float64)
    cost = items["cost"].fill_null(0.0).to_numpy().astype(np.float64)

    arrays = dict(
        il_item=il_item, il_loc=il_loc, il_lead_time=net.il_lead_time, il_calendar=net.il_calendar,
        supply=supply, demand=demand, base_cum=base_cum, calendar_open=net.calendar_open,
        sup_ptr=sup_ptr, sup_bucket=sup_bucket, sup_qty=sup_qty, sup_row=sup_row,
        item_price=price, item_cost=cost,
    )
    arrays = {k: _readonly(np.ascontiguousarray(v)) for k, v in arrays.items()}
    return Snapshot(
        as_of=as_of, horizon=H, meta=meta, tables=tables, source=source, version=next(_versions),
        loaded_at=dt.datetime.now(dt.timezone.utc), load_seconds=time.perf_counter() - t0,
        item_ids=net.item_ids, location_ids=net.location_ids, calendar_ids=net.calendar_ids,
        item_index=net.item_index, location_index=net.location_index, il_index=il_index,
        **arrays,
    )


def load_snapshot(directory: str | Path) -> Snapshot:
    """Load, check and encode a snapshot directory. Raises SnapshotError on bad data."""
    t0 = time.perf_counter()
    meta, tables, _files = load_tables(directory)
    return build_snapshot(meta, tables, source=str(directory), t0=t0)
