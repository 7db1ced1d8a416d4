"""The allocation model derived once per snapshot: classes, pools (quota per class per
item-location), their base positions and protection, as dense arrays for the kernels.

Input (DESIGN.md tables plus optional extra columns on `allocation`, see README.md):

- `demand_classes`: demand_class, priority (1 highest), parent, can_steal_lower.
- `allocation`: item, location, demand_class, date, qty — adds `qty` to the class's cumulative
  quota from that bucket on. Optional extra columns:
  - `pct` (0..100): also adds that percentage of every supply receipt of the item-location
    dated on or after the row's date (on hand counts in bucket 0);
  - `protect_qty`, `protect_until`: a stealing class's take dated before `protect_until` (empty:
    the whole horizon) must leave `protect_qty` of the class's quota on every position from the
    row's date on; `protect_until` on or before the row's date is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import numpy as np
import polars as pl

from allocation.enums import UNALLOCATED
from promessa.errors import SnapshotError
from supplydata.snapshot import Snapshot, State

EXTRAS_KEY = "allocation"
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True, eq=False)
class AllocationModel:
    """Dense allocation data of one snapshot (read-only; shared by every state)."""

    class_ids: tuple[str, ...]
    class_index: dict[str, int]
    class_parent: np.ndarray    # int64[K], -1 = none
    class_priority: np.ndarray  # int64[K], 1 = highest
    class_steal: np.ndarray     # bool[K]
    pool_ptr: np.ndarray        # int64[N + 1]: pools of item-location il are rows pool_ptr[il]:pool_ptr[il+1]
    pool_il: np.ndarray         # int64[n_pools]
    pool_class: np.ndarray      # int64[n_pools]
    pool_parent: np.ndarray     # int64[n_pools]: local index of the parent pool at the same il, -1 = root
    quota: np.ndarray           # float64[n_pools, H] cumulative quota
    base_pos: np.ndarray        # float64[n_pools, H] cumulative quota - snapshot demand charged to the pool
    protection: np.ndarray      # float64[n_pools, 3 R]: R rows (qty, from bucket, until bucket); [n_pools, 0] when none
    # the same as Python objects, for the one-line path
    pool_names: tuple[str, ...] = ()   # class name of each pool
    ptr: tuple[int, ...] = ()          # pool_ptr as ints
    # packed for the one-line kernel (fewer arguments to dispatch)
    pool_pc: np.ndarray | None = None    # int64[2, n_pools]: pool_parent, pool_class
    class_arr: np.ndarray | None = None  # int64[3, K]: class_parent, class_priority, class_steal
    dates: tuple[dt.date, ...] = ()      # date of each bucket
    pool_index: dict = dataclasses.field(default_factory=dict)  # (il, class code) -> pool row
    iso: tuple[str, ...] = ()            # ... and as ISO text
    max_pools: int = 0                   # the most pools at one item-location (sizes work spaces)

    @property
    def n_pools(self) -> int:
        return int(self.pool_class.shape[0])

    def pools_of(self, il: int) -> tuple[int, int]:
        return int(self.pool_ptr[il]), int(self.pool_ptr[il + 1])

    def pool_row(self, il: int, demand_class: str) -> int:
        """Global row of the class's pool at il, -1 when it has none there."""
        k = self.class_index.get(demand_class, -1)
        if k < 0 or il < 0:
            return -1
        return self.pool_index.get((il, k), -1)

    def own_row(self, il: int, demand_class: str | None) -> int:
        """Global row of the pool the class consumes first (its own or nearest ancestor's), -1: none."""
        k = self.class_index.get(demand_class, -1) if demand_class is not None else -1
        if il < 0:
            return -1
        parents = self.class_parent
        while k >= 0:
            row = self.pool_index.get((il, k), -1)
            if row >= 0:
                return row
            k = int(parents[k])
        return -1

    def pool_name(self, row: int) -> str:
        return UNALLOCATED if row < 0 else self.class_ids[int(self.pool_class[row])]

    def class_code(self, demand_class: str | None) -> int:
        from allocation.enums import NO_CLASS, UNKNOWN_CLASS

        if demand_class is None:
            return NO_CLASS
        return self.class_index.get(demand_class, UNKNOWN_CLASS)


def model_for(snap: Snapshot) -> AllocationModel:
    """The snapshot's allocation model, built on first use and cached in `snap.derived`."""
    m = snap.derived.get(EXTRAS_KEY)
    if m is None:
        with _lock:
            m = snap.derived.get(EXTRAS_KEY)
            if m is None:
                m = build_model(snap)
                snap.derived[EXTRAS_KEY] = m
    return m


def positions(snap: Snapshot, state: State) -> np.ndarray:
    """The state's pool positions (float64[n_pools, H]), created from the base on first use."""
    pos = state.extras.get(EXTRAS_KEY)
    if pos is None:
        pos = model_for(snap).base_pos.copy()
        state.extras[EXTRAS_KEY] = pos
    return pos


def _err(msg: str, *, row: int | None = None, column: str | None = None, value=None, table: str = "allocation",
         hint: str | None = None) -> SnapshotError:
    return SnapshotError(msg, file=table, row=row, column=column, value=value, hint=hint)


def _float_col(df: pl.DataFrame, name: str) -> np.ndarray | None:
    if name not in df.columns:
        return None
    s = df[name]
    try:
        s = s.cast(pl.Float64, strict=False) if s.dtype != pl.String else s.str.strip_chars().cast(pl.Float64, strict=False)
    except pl.exceptions.PolarsError:
        raise _err("not a number", column=name) from None
    bad = df[name].is_not_null() & s.is_null()
    if bad.any():
        r = int(bad.arg_true()[0])
        raise _err("not a number", row=r + 1, column=name, value=df[name][r])
    return s.to_numpy().astype(np.float64)  # NaN where empty


def _date_col(df: pl.DataFrame, name: str) -> pl.Series | None:
    if name not in df.columns:
        return None
    s = df[name]
    if s.dtype == pl.String:
        out = s.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    elif s.dtype == pl.Datetime:
        out = s.dt.date()
    elif s.dtype == pl.Date:
        out = s
    elif s.dtype == pl.Null:
        out = s.cast(pl.Date)
    else:
        raise _err("not a date", column=name, value=str(s.dtype), hint="use YYYY-MM-DD")
    bad = s.is_not_null() & out.is_null()
    if bad.any():
        r = int(bad.arg_true()[0])
        raise _err("not a date", row=r + 1, column=name, value=s[r], hint="use YYYY-MM-DD")
    return out


def build_model(snap: Snapshot) -> AllocationModel:
    """Encode demand classes and quotas of a snapshot. Raises SnapshotError on bad input."""
    H, N = snap.horizon, snap.n_il
    dc = snap.tables["demand_classes"].sort("demand_class")
    class_ids = tuple(dc["demand_class"].to_list())
    class_index = {c: i for i, c in enumerate(class_ids)}
    if UNALLOCATED in class_index:
        r = dc["demand_class"].to_list().index(UNALLOCATED)
        raise _err("the class name is reserved for supply not covered by any quota", table="demand_classes",
                   row=r + 1, column="demand_class", value=UNALLOCATED, hint="rename the class")
    K = len(class_ids)
    class_parent = np.array([class_index[p] if p is not None else -1 for p in dc["parent"].to_list()], dtype=np.int64)
    class_priority = dc["priority"].to_numpy().astype(np.int64) if K else np.empty(0, np.int64)
    class_steal = dc["can_steal_lower"].fill_null(False).to_numpy().astype(np.bool_) if K else np.empty(0, np.bool_)
    for k in range(K):  # refuse cycles in the hierarchy
        seen, c = set(), k
        while c >= 0:
            if c in seen:
                raise _err("the class hierarchy has a cycle", table="demand_classes", column="parent",
                           value=class_ids[k], hint="a class may not be its own ancestor")
            seen.add(c)
            c = int(class_parent[c])

    al = snap.tables["allocation"]
    as_of = snap.as_of
    if al.height:
        ic = al["item"].replace_strict(snap.item_index, return_dtype=pl.Int64).to_numpy()
        lc = al["location"].replace_strict(snap.location_index, return_dtype=pl.Int64).to_numpy()
        ils = np.array([snap.il_index[(int(i), int(j))] for i, j in zip(ic, lc)], dtype=np.int64)
        cls = al["demand_class"].replace_strict(class_index, return_dtype=pl.Int64).to_numpy()
        days = al["date"].cast(pl.Int32).to_numpy().astype(np.int64) - (as_of - dt.date(1970, 1, 1)).days
        bucket = np.maximum(days, 0)
        qty = al["qty"].to_numpy().astype(np.float64)
    else:
        ils = cls = bucket = np.empty(0, np.int64)
        qty = np.empty(0)
    pct = _float_col(al, "pct")
    if pct is not None:
        bad = np.flatnonzero(~np.isnan(pct) & ((pct < 0) | (pct > 100)))
        if bad.size:
            raise _err("must be a percentage between 0 and 100", row=int(bad[0]) + 1, column="pct", value=float(pct[bad[0]]))
    pq = _float_col(al, "protect_qty")
    if pq is not None:
        bad = np.flatnonzero(~np.isnan(pq) & (pq < 0))
        if bad.size:
            raise _err("must not be negative", row=int(bad[0]) + 1, column="protect_qty", value=float(pq[bad[0]]))
    pu = _date_col(al, "protect_until")
    if pu is not None and al.height:
        # an `until` on or before the row's date would protect nothing from the row's date on:
        # most likely a data error, so it is refused rather than silently ignored
        bad = np.flatnonzero((pu.is_not_null() & (pu <= al["date"].cast(pl.Date))).to_numpy())
        if bad.size:
            raise _err("must be after the row's date (protection runs from the row's date until this day)",
                       row=int(bad[0]) + 1, column="protect_until", value=str(pu[int(bad[0])]))

    # pools: one per (il, class) that has a quota row, sorted by il then class
    key = np.unique(ils * max(K, 1) + cls) if ils.size else np.empty(0, np.int64)
    pool_il = key // max(K, 1)
    pool_class = key % max(K, 1)
    n_pools = key.shape[0]
    pool_ptr = np.zeros(N + 1, dtype=np.int64)
    if n_pools:
        np.cumsum(np.bincount(pool_il, minlength=N), out=pool_ptr[1:])
    pool_parent = np.full(n_pools, -1, dtype=np.int64)
    for p in range(n_pools):
        lo, hi = pool_ptr[pool_il[p]], pool_ptr[pool_il[p] + 1]
        c = int(class_parent[pool_class[p]])
        while c >= 0:
            hit = np.flatnonzero(pool_class[lo:hi] == c)
            if hit.size:
                pool_parent[p] = int(hit[0])
                break
            c = int(class_parent[c])
    row_pool = np.searchsorted(key, ils * max(K, 1) + cls) if ils.size else np.empty(0, np.int64)

    # quotas: quantities at their bucket, percentages of every receipt from their bucket on
    if n_pools:
        inc = np.bincount(row_pool * H + bucket, weights=qty, minlength=n_pools * H).reshape(n_pools, H)
    else:
        inc = np.zeros((0, H))
    if n_pools:
        if pct is not None:
            for r in np.flatnonzero(~np.isnan(pct) & (pct > 0)):
                b = bucket[r]
                inc[row_pool[r], b:] += pct[r] / 100.0 * snap.supply[ils[r], b:]
    quota = np.cumsum(inc, axis=1, out=inc)

    # protection rows (qty, from bucket, until bucket) per pool: a take dated before `until`
    # must leave `qty` of the pool's free part on every position from the row's date on
    # (backward consumption: a take at t lowers every position s >= t)
    protection = np.zeros((n_pools, 0))
    if pq is not None and np.any(~np.isnan(pq) & (pq > 0)):
        until = np.full(al.height, H, dtype=np.int64)
        if pu is not None:
            ud = pu.cast(pl.Int32).to_numpy()
            ok = pu.is_not_null().to_numpy()
            until[ok] = np.clip(ud[ok].astype(np.int64) - (as_of - dt.date(1970, 1, 1)).days, 0, H)
        rows = np.flatnonzero(~np.isnan(pq) & (pq > 0))
        R = int(np.bincount(row_pool[rows], minlength=n_pools).max())
        protection = np.zeros((n_pools, 3 * R))
        used = np.zeros(n_pools, dtype=np.int64)
        for r in rows:
            p, j = int(row_pool[r]), int(used[row_pool[r]])
            protection[p, 3 * j:3 * j + 3] = (pq[r], bucket[r], until[r])
            used[p] += 1

    # the snapshot's existing demand of a class is charged to the class's own pool (and its
    # ancestors): it consumes the quota like any commitment of that class
    charge = np.zeros((n_pools, H))
    dem = snap.tables["demand"]
    if n_pools and dem.height and K:
        d = dem.filter(pl.col("demand_class").is_in(list(class_ids)))
        if d.height:
            dic = d["item"].replace_strict(snap.item_index, return_dtype=pl.Int64).to_numpy()
            dlc = d["location"].replace_strict(snap.location_index, return_dtype=pl.Int64).to_numpy()
            nloc = max(snap.n_locations, 1)
            keys = snap.il_item.astype(np.int64) * nloc + snap.il_loc
            dil = np.searchsorted(keys, dic * nloc + dlc)  # every demand row has its item-location
            dcl = d["demand_class"].replace_strict(class_index, return_dtype=pl.Int64).to_numpy()
            db = np.maximum(d["date"].cast(pl.Int32).to_numpy().astype(np.int64) - (as_of - dt.date(1970, 1, 1)).days, 0)
            dq = d["qty"].to_numpy()
            sel = np.flatnonzero(pool_ptr[dil + 1] > pool_ptr[dil])  # only item-locations with pools
            for il, c, b, q in zip(dil[sel].tolist(), dcl[sel].tolist(), db[sel].tolist(), dq[sel].tolist()):
                lo, hi = pool_ptr[il], pool_ptr[il + 1]
                if hi == lo:
                    continue
                own, k = -1, int(c)
                while k >= 0 and own < 0:
                    hit = np.flatnonzero(pool_class[lo:hi] == k)
                    own = int(hit[0]) if hit.size else -1
                    k = int(class_parent[k])
                a = own
                while a >= 0:
                    charge[lo + a, b] += q
                    a = int(pool_parent[lo + a])
    base_pos = quota - np.cumsum(charge, axis=1, out=charge)

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        a.flags.writeable = False
        return a

    return AllocationModel(
        class_ids=class_ids, class_index=class_index, class_parent=ro(class_parent), class_priority=ro(class_priority),
        class_steal=ro(class_steal), pool_ptr=ro(pool_ptr), pool_il=ro(pool_il.astype(np.int64)),
        pool_class=ro(pool_class.astype(np.int64)), pool_parent=ro(pool_parent), quota=ro(quota),
        base_pos=ro(base_pos), protection=ro(protection),
        pool_names=tuple(class_ids[int(c)] for c in pool_class), ptr=tuple(int(x) for x in pool_ptr),
        pool_pc=ro(np.stack([pool_parent, pool_class.astype(np.int64)]).reshape(2, n_pools)),
        class_arr=ro(np.stack([class_parent, class_priority, class_steal.astype(np.int64)]).reshape(3, K)),
        pool_index={(int(i), int(c)): r for r, (i, c) in enumerate(zip(pool_il.tolist(), pool_class.tolist()))},
        dates=tuple(snap.date(b) for b in range(H)), iso=tuple(snap.date(b).isoformat() for b in range(H)),
        max_pools=int(np.diff(pool_ptr).max(initial=0)),
    )
