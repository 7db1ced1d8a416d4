"""The compact supply snapshot and commitment overlay: memory that follows activity.

The dense form (`supplydata.snapshot`) keeps float64[N, H] arrays: a year of days per
item-location ("il") whether anything happens on them or not (about 8.7 KB per il for the
snapshot plus 2.9 KB for the state). This module keeps only the days with activity:

`CompactSnapshot` (immutable, shared like `Snapshot`)
    per il, in CSR form, the days on which supply or existing demand falls (``ev_ptr``
    int64[N+1], ``ev_day`` int16[E], sorted within an il) and the base running position
    ``C[t] = sum_{s<=t} (supply[s] - demand[s])`` on those days (``ev_cum`` float64[E]). The
    position is a step function: between two event days it keeps the earlier day's value, and
    it is 0 before the first. Positions are float64, the dense form's type, so the kernels give
    the dense kernels' answers bit for bit: the quantities in the data are integers, and float32
    would be exact for them only while every running position stays below 2**24 (16.7 million
    units), which a year of receipts of a fast mover can pass; float64 costs 4 more bytes a day
    with activity (about 55 bytes per il at the sample's activity), well inside the budget.
    Item-locations are found by a sorted int64 key (``item * n_locations + location``) instead of
    a Python dict (which costs some 200 bytes per entry).

`CompactState` (the commitments on one snapshot; `copy()` forks it)
    a sparse overlay that grows with activity, CSR with slack: per il a segment of an entry
    arena (``seg`` int32[N + 1, 3]: start, length, capacity; 12 bytes per il) holding its
    (day, quantity consumed) entries sorted by day (``ent_day`` int16, ``ent_qty`` float64: 10
    bytes an entry). A commitment of q on day t adds q to the il's entry for t or inserts one, so
    an il holds at most one entry per distinct committed day. A full segment moves to the top of
    the arena with twice the room; the arena grows by half when full, or is compacted in place of
    growing when half of it is left-behind segments. A release or a supply adjustment is a
    negative consumption. `replay` (a refresh) merges the overlay onto the new snapshot into a
    fresh arena without slack, contiguous in il order.

The position a request sees at day t is the base position minus the overlay's consumption on
days <= t; `promising.sparse_kernels` expands it for one il into a scratch row from the
requested day on and runs the dense ATP logic on it.

Building: `build_compact` encodes supply and demand rows (il code, day, quantity), given in
blocks of item-locations (`CompactBuilder`) so that 10 million item-locations are built
without a row table for all of them at once; `compact_from_snapshot` encodes a dense
`Snapshot` (for side-by-side checks and for the loader path until it builds the compact form
itself).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
from numba import njit

from promessa.config import EPS
from promessa.errors import FormUnsupported, ValidationError
from supplydata.loader import load_tables
from supplydata.snapshot import DayAndIdLookups, Snapshot, State, _buckets, _versions, encode_network  # one version counter for both forms

MAX_HORIZON = 32767  # days are int16
INF = np.inf


# ---------------------------------------------------------------- kernels


@njit(cache=True, nogil=True)
def block_events_nb(il, day, net_s, net_d, ptr_out, day_out, cum_out):
    """Running positions of one block of (il, day) groups sorted by il then day.

    il, day: the groups' il (block-relative, 0..n-1) and day; net_s, net_d: supply and demand of
    each group. Writes per-il counts into ptr_out[il + 1] (ptr_out zeroed by the caller),
    day_out and cum_out: the position after each group's day, accumulated per il in day order
    exactly as the dense form does (``run += supply - demand``)."""
    prev = -1
    run = 0.0
    for k in range(il.shape[0]):
        if il[k] != prev:
            prev = il[k]
            run = 0.0
        run += net_s[k] - net_d[k]
        day_out[k] = day[k]
        cum_out[k] = run
        ptr_out[il[k] + 1] += 1


@njit(cache=True, nogil=True)
def overlay_room_nb(seg, il, k):
    """Arena entries that adding k entries to il's segment can need at most (relocations included)."""
    return 4 * (seg[il, 1] + k) + 8


@njit(cache=True, nogil=True)
def overlay_add_nb(seg, ent_day, ent_qty, il, day, qty):
    """Add a consumption of qty on `day` to il's overlay segment: merged into its entry for that
    day, or inserted in day order. A full segment moves to the top of the arena with twice the
    room (the old one becomes garbage). Returns False when the arena has no room for that move
    (nothing changed). seg: int32[N + 1, 3], per il (start, length, capacity); its last row holds
    the arena's top and the garbage count."""
    N = seg.shape[0] - 1
    s = seg[il, 0]
    n = seg[il, 1]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if ent_day[s + mid] < day:
            lo = mid + 1
        else:
            hi = mid
    if lo < n and ent_day[s + lo] == day:
        ent_qty[s + lo] += qty
        return True
    c = seg[il, 2]
    if n == c:
        nc = 4 if c < 2 else 2 * c
        ns = seg[N, 0]
        if ns + nc > ent_day.shape[0]:
            return False
        for j in range(n):
            ent_day[ns + j] = ent_day[s + j]
            ent_qty[ns + j] = ent_qty[s + j]
        seg[N, 0] = ns + nc
        seg[N, 1] += c
        seg[il, 0] = ns
        seg[il, 2] = nc
        s = ns
    for j in range(n, lo, -1):
        ent_day[s + j] = ent_day[s + j - 1]
        ent_qty[s + j] = ent_qty[s + j - 1]
    ent_day[s + lo] = day
    ent_qty[s + lo] = qty
    seg[il, 1] = n + 1
    return True


@njit(cache=True, nogil=True)
def overlay_compact_nb(seg, ent_day, ent_qty, new_day, new_qty):
    """Copy every segment, in il order and without slack, into new_day/new_qty (the arena after
    a compaction; segment starts, capacities, the top and the garbage count are rewritten).
    Returns the entries copied."""
    N = seg.shape[0] - 1
    k = 0
    for il in range(N):
        s = seg[il, 0]
        n = seg[il, 1]
        seg[il, 0] = k
        seg[il, 2] = n
        for j in range(n):
            new_day[k] = ent_day[s + j]
            new_qty[k] = ent_qty[s + j]
            k += 1
    seg[N, 0] = k
    seg[N, 1] = 0
    return k


@njit(cache=True, nogil=True)
def position_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, start, end, row):
    """Expand one il's running net position into row[start:end] (the dense ``cum[il]`` there).

    Base position (the step function of its event days) minus the overlay's consumption on days
    <= t, in one merge pass over the two day-sorted lists. Entries of row outside [start, end)
    are left as they are. O(end - start + log(events) + overlay entries of the il)."""
    r = 0.0
    e = seg[il, 0]
    e_end = e + seg[il, 1]
    while e < e_end and ent_day[e] <= start:
        r += ent_qty[e]
        e += 1
    lo = ev_ptr[il]
    hi = ev_ptr[il + 1]
    # first event after `start` (binary search), and the base position on `start`
    a = lo
    b = hi
    while a < b:
        mid = (a + b) >> 1
        if ev_day[mid] <= start:
            a = mid + 1
        else:
            b = mid
    k = a
    base = ev_cum[k - 1] if k > lo else 0.0
    # constant runs between change points (event or overlay days): plain stores the compiler vectorises
    t = start
    val = base - r
    while t < end:
        nxt = end
        if k < hi and ev_day[k] < nxt:
            nxt = ev_day[k]
        if e < e_end and ent_day[e] < nxt:
            nxt = ent_day[e]
        for u in range(t, nxt):
            row[u] = val
        t = nxt
        if t >= end:
            break
        if k < hi and ev_day[k] == t:
            base = ev_cum[k]
            k += 1
        if e < e_end and ent_day[e] == t:
            r += ent_qty[e]
            e += 1
        val = base - r


@njit(cache=True, nogil=True)
def availability_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, start, end, cp_day, cp_val, out):
    """out[t] = A(t) = max(0, min_{t<=s<end} C[s]) for t in [start, end) and inf for t in
    [max(start, end), H), exactly as `promising.kernels.availability_1d_nb` writes it from the
    dense row, without expanding the row: the positions at the change points (event or overlay
    days) in [start, end) go forward into cp_day/cp_val (work space of H + 1), then one backward
    pass keeps the suffix minimum and fills each run of days. Returns nothing."""
    H = out.shape[0]
    if start < end:
        r = 0.0
        e = seg[il, 0]
        e_end = e + seg[il, 1]
        while e < e_end and ent_day[e] <= start:
            r += ent_qty[e]
            e += 1
        lo = ev_ptr[il]
        hi = ev_ptr[il + 1]
        a = lo
        b = hi
        while a < b:
            mid = (a + b) >> 1
            if ev_day[mid] <= start:
                a = mid + 1
            else:
                b = mid
        k = a
        base = ev_cum[k - 1] if k > lo else 0.0
        cp_day[0] = start
        cp_val[0] = base - r
        n = 1
        while True:
            t = end
            if k < hi and ev_day[k] < t:
                t = ev_day[k]
            if e < e_end and ent_day[e] < t:
                t = ent_day[e]
            if t >= end:
                break
            if k < hi and ev_day[k] == t:
                base = ev_cum[k]
                k += 1
            if e < e_end and ent_day[e] == t:
                r += ent_qty[e]
                e += 1
            cp_day[n] = t
            cp_val[n] = base - r
            n += 1
        m = INF
        top = end
        for j in range(n - 1, -1, -1):
            if cp_val[j] < m:
                m = cp_val[j]
            v = m if m > 0.0 else 0.0
            for u in range(cp_day[j], top):
                out[u] = v
            top = cp_day[j]
    for u in range(max(start, end), H):
        out[u] = INF


@njit(cache=True, nogil=True)
def commit_batch_nb(ev_ptr, ev_day, ev_cum, il_lt, seg, ent_day, ent_qty, ils, days, qty, first, out_fits, row):
    """Commit many (il, day, qty) consumptions from index `first` on, in order (negative qty:
    release). out_fits[i] is False where a commitment pushed a non-negative position before
    the il's lead time below zero (kept anyway), as `promising.kernels.commit_lt_1d_nb`.
    Returns the index it stopped at: len(ils) when done, earlier when the arena needs room."""
    H = row.shape[0]
    for i in range(first, ils.shape[0]):
        il = ils[i]
        if seg[seg.shape[0] - 1, 0] + overlay_room_nb(seg, il, 1) > ent_day.shape[0]:
            return i
        out_fits[i] = commit_into_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, days[i], qty[i], il_lt[il], H, row)
    return ils.shape[0]


@njit(cache=True, nogil=True)
def commit_into_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, t, q, lt, H, row):
    """Commit q at day t on il (negative q: release) of a horizon of H days, `row` a scratch row of H
    days (the caller has made room for one entry). Returns fits: False where a commitment pushed a
    non-negative position before the lead time `lt` (-1: none) below zero (kept anyway)."""
    fits = True
    end = H if lt < 0 else min(lt, H)
    if q > 0.0 and t < end:
        position_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, t, end, row)
        for s in range(t, end):
            before = row[s]
            if before - q < -EPS and before >= -EPS:
                fits = False
                break
    overlay_add_nb(seg, ent_day, ent_qty, il, t, q)
    return fits


@njit(cache=True, nogil=True)
def commit_one_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, t, q, lt, H):
    """`commit_into_nb` for one commitment, with a scratch row of its own (one step of
    `commit_batch_nb`; the caller has made room for one entry)."""
    return commit_into_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, t, q, lt, H, np.empty(H))


@njit(cache=True, nogil=True)
def lookup_il_nb(il_key, n_locations, item, location):
    """Item-location code by item and location code (binary search on the sorted key); -1: none."""
    want = np.int64(item) * n_locations + location
    lo = 0
    hi = il_key.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if il_key[mid] < want:
            lo = mid + 1
        else:
            hi = mid
    if lo < il_key.shape[0] and il_key[lo] == want:
        return lo
    return -1


# ---------------------------------------------------------------- snapshot


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


# the tables the compact loader drops once it has encoded them: the live engine on the compact form
# reads their positions (the arrays), never their rows
DROPPED_TABLES = ("supply", "demand")


class CompactTables(dict):
    """The tables a compact snapshot keeps (a dict of polars frames, as `Snapshot.tables`) without
    the supply and demand rows, dropped after loading: ``dropped`` holds their row counts, and
    reading one of them (``[name]`` or ``get``) raises `FormUnsupported` (a dense-only path: the
    time-phased report, pegging, what-if scenarios, allocation), so a reader that was missed cannot
    answer from an empty table. ``name in tables`` is False for them."""

    def __init__(self, tables: dict, dropped: dict[str, int]) -> None:
        super().__init__(tables)
        self.dropped = dict(dropped)

    def _refuse(self, name: str):
        raise FormUnsupported(f"reading the {name} table's rows (dropped after loading the compact form; a dense-only path)")

    def __getitem__(self, name):
        if name in self.dropped:
            self._refuse(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        if name in self.dropped:
            self._refuse(name)
        return super().get(name, default)

    def rows(self) -> dict[str, int]:
        """Rows per table as loaded, the dropped tables included."""
        return {**{k: v.height for k, v in self.items()}, **self.dropped}


def supply_refs_frame(sup: pl.DataFrame | None) -> pl.DataFrame:
    """What the monitor's catalogue reads of the supply rows (``ref``, ``kind``, ``supplier``; the
    first row of each ref, as `monitoring.frames.Catalogue` takes it), kept only where a supplier is
    named: the supplier of a receipt a peg names is the one thing it looks up (a ref without a
    supplier joins to nothing). No ``supplier`` column (the schema's default): no rows."""
    schema = {"ref": pl.String, "kind": pl.String, "supplier": pl.String}
    if sup is None or sup.height == 0 or "supplier" not in sup.columns:
        return pl.DataFrame(schema=schema)
    return (sup.filter(pl.col("ref").is_not_null())
            .select(pl.col("ref").cast(pl.String), pl.col("kind").cast(pl.String), pl.col("supplier").cast(pl.String))
            .unique("ref", keep="first", maintain_order=True)
            .filter(pl.col("supplier").is_not_null()))


@dataclasses.dataclass(frozen=True, eq=False)
class CompactSnapshot(DayAndIdLookups):
    """An immutable compact supply snapshot (see the module docstring). Share it freely."""

    as_of: dt.date
    horizon: int
    n_locations: int
    version: int
    il_key: np.ndarray        # int64[N], sorted: item * n_locations + location
    il_lead_time: np.ndarray  # int32[N], -1 = none
    il_calendar: np.ndarray   # int32[N], -1 = always open
    calendar_open: np.ndarray  # bool[n_calendars, H]
    ev_ptr: np.ndarray        # int64[N+1]
    ev_day: np.ndarray        # int16[E], sorted within an il
    ev_cum: np.ndarray        # float64[E]: base running position from that day on
    item_ids: tuple[str, ...] = ()
    location_ids: tuple[str, ...] = ()
    item_index: dict = dataclasses.field(default_factory=dict, repr=False)
    location_index: dict = dataclasses.field(default_factory=dict, repr=False)
    # what other packages derive from this snapshot once (as `Snapshot.derived`: e.g. the id enums
    # promising.atp's encoding casts to); the snapshot's data itself never changes
    derived: dict = dataclasses.field(default_factory=dict, repr=False)
    # what the live engine reads beside the arrays when the snapshot was loaded from a directory
    # (`load_compact`): meta.json and the checked tables less the supply and demand rows (`CompactTables`)
    meta: dict = dataclasses.field(default_factory=dict, repr=False)
    tables: dict = dataclasses.field(default_factory=dict, repr=False)
    # the monitor's supplier per receipt ref, kept from the dropped supply rows (`supply_refs_frame`);
    # None when the snapshot kept no tables
    supply_refs: pl.DataFrame | None = dataclasses.field(default=None, repr=False)
    source: str = "<memory>"
    loaded_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    load_seconds: float = 0.0
    calendar_ids: tuple[str, ...] = ()
    item_price: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)  # float64[n_items]
    item_cost: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)   # float64[n_items]

    form: ClassVar[str] = "compact"

    @property
    def n_il(self) -> int:
        return int(self.il_key.shape[0])

    @property
    def journal_seq(self) -> int | None:
        return self.meta.get("journal_seq")

    # the dense snapshot's arrays are not here: code that reads them runs on the dense form only
    def _dense(name: str):  # noqa: N805 - a property factory, called in the class body
        def get(self):
            raise FormUnsupported(f"reading the dense snapshot's {name} (a dense-only path)")
        return property(get)

    supply = _dense("supply")
    demand = _dense("demand")
    base_cum = _dense("base_cum")
    sup_ptr = _dense("supply records (pegging)")
    sup_bucket = _dense("supply records (pegging)")
    sup_qty = _dense("supply records (pegging)")
    sup_row = _dense("supply records (pegging)")
    il_index = _dense("item-location dictionary")
    del _dense

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
            "rows": self.tables.rows() if isinstance(self.tables, CompactTables) else {k: v.height for k, v in self.tables.items()},
            "supply_form": "compact",
            "bytes": self.nbytes,
        }

    @property
    def n_events(self) -> int:
        return int(self.ev_day.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (the per-item and per-location id tables are not per il and not counted)."""
        return int(sum(a.nbytes for a in (self.il_key, self.il_lead_time, self.il_calendar, self.calendar_open,
                                          self.ev_ptr, self.ev_day, self.ev_cum)))

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def last_date(self) -> dt.date:
        return self.as_of + dt.timedelta(days=self.horizon - 1)

    @property
    def il_item(self) -> np.ndarray:
        """Item code per il (computed from the key on each call; not stored)."""
        return (self.il_key // max(self.n_locations, 1)).astype(np.int32)

    @property
    def il_loc(self) -> np.ndarray:
        """Location code per il (computed from the key on each call; not stored)."""
        return (self.il_key % max(self.n_locations, 1)).astype(np.int32)

    def il_name(self, il: int) -> tuple[str, str]:
        nloc = max(self.n_locations, 1)
        return self.item_ids[int(self.il_key[il]) // nloc], self.location_ids[int(self.il_key[il]) % nloc]

    def il(self, item_code: int, location_code: int) -> int:
        """Item-location code, or -1 when that item has no row at that location."""
        return int(lookup_il_nb(self.il_key, np.int64(self.n_locations), np.int64(item_code), np.int64(location_code)))

    def base_row(self, il: int) -> np.ndarray:
        """The base running position of one il as a dense row of H days (for reports and checks)."""
        out = np.zeros(self.horizon)
        lo, hi = int(self.ev_ptr[il]), int(self.ev_ptr[il + 1])
        for k in range(lo, hi):
            out[int(self.ev_day[k]):] = self.ev_cum[k]
        return out

    def new_state(self, capacity: int = 0) -> CompactState:
        """A state without commitments; its arena starts with room for `capacity` entries (default: one per
        16 item-locations, under a byte per item-location, so that a live state grows its arena, copying
        the segments each time, a few times rather than many)."""
        return CompactState(self, capacity=capacity or self.n_il // 16)


class CompactBuilder:
    """Builds a `CompactSnapshot` from blocks of item-locations, one block at a time.

    Call `add` with the rows of consecutive item-locations (block after block, in il order), then
    `finish`. Peak memory is the finished arrays twice plus one block's rows."""

    def __init__(self, *, as_of: dt.date, horizon: int) -> None:
        if not 1 <= horizon <= MAX_HORIZON:
            raise ValidationError(f"must be between 1 and {MAX_HORIZON} days for the compact form", field="horizon_days",
                                  value=horizon)
        self.as_of, self.horizon = as_of, horizon
        self._n = 0
        self._counts: list[np.ndarray] = []
        self._days: list[np.ndarray] = []
        self._cums: list[np.ndarray] = []

    def add(self, n: int, supply: tuple[np.ndarray, np.ndarray, np.ndarray],
            demand: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Add `n` item-locations with their supply and demand rows, each (il, day, qty) with il
        relative to this block (0..n-1). Days before 0 fall into day 0; days past the horizon are
        refused naming the field."""
        H = self.horizon
        parts = []
        for name, (il, day, qty) in (("supply", supply), ("demand", demand)):
            il = np.asarray(il, dtype=np.int64)
            day = np.maximum(np.asarray(day, dtype=np.int64), 0)
            qty = np.asarray(qty, dtype=np.float64)
            if il.size and (il.min() < 0 or il.max() >= n):
                bad = il[(il < 0) | (il >= n)][0]
                raise ValidationError(f"item-location code outside the block of {n}", field=f"{name}.il", value=int(bad))
            if day.size and day.max() >= H:
                raise ValidationError(f"date outside the horizon of {H} days", field=f"{name}.day", value=int(day.max()))
            if not np.isfinite(qty).all():
                raise ValidationError("not a finite number", field=f"{name}.qty", value=float(qty[~np.isfinite(qty)][0]))
            parts.append((il * H + day, qty))
        keys = np.concatenate([parts[0][0], parts[1][0]])
        uniq, inv = np.unique(keys, return_inverse=True)
        ns = len(parts[0][0])
        # per (il, day) sums in row order, as the dense form's bincount does
        net_s = np.bincount(inv[:ns], weights=parts[0][1], minlength=uniq.shape[0])
        net_d = np.bincount(inv[ns:], weights=parts[1][1], minlength=uniq.shape[0])
        ptr = np.zeros(n + 1, dtype=np.int64)
        day_out = np.empty(uniq.shape[0], dtype=np.int16)
        cum_out = np.empty(uniq.shape[0])
        block_events_nb(uniq // H, uniq % H, net_s, net_d, ptr, day_out, cum_out)
        self._counts.append(ptr[1:])
        self._days.append(day_out)
        self._cums.append(cum_out)
        self._n += n

    def finish(self, *, il_key: np.ndarray, n_locations: int, il_lead_time: np.ndarray, il_calendar: np.ndarray,
               calendar_open: np.ndarray, item_ids: tuple[str, ...] = (), location_ids: tuple[str, ...] = ()) -> CompactSnapshot:
        """The snapshot of every block added, with the per-il attributes (arrays of length N)."""
        N = self._n
        for name, a in (("il_key", il_key), ("il_lead_time", il_lead_time), ("il_calendar", il_calendar)):
            if len(a) != N:
                raise ValidationError(f"needs one value per item-location ({N})", field=name, value=len(a))
        il_key = np.asarray(il_key, dtype=np.int64)
        if N > 1 and not (np.diff(il_key) > 0).all():
            raise ValidationError("must be strictly increasing", field="il_key", value=None)
        calendar_open = np.asarray(calendar_open, dtype=np.bool_)
        if calendar_open.ndim != 2 or calendar_open.shape[1] != self.horizon:
            raise ValidationError(f"must be bool[n_calendars, {self.horizon}]", field="calendar_open", value=calendar_open.shape)
        ev_ptr = np.zeros(N + 1, dtype=np.int64)
        if self._counts:
            np.cumsum(np.concatenate(self._counts), out=ev_ptr[1:])
        ev_day = np.concatenate(self._days) if self._days else np.empty(0, np.int16)
        ev_cum = np.concatenate(self._cums) if self._cums else np.empty(0)
        self._counts, self._days, self._cums = [], [], []
        return CompactSnapshot(
            as_of=self.as_of, horizon=self.horizon, n_locations=int(n_locations), version=next(_versions),
            il_key=_readonly(il_key), il_lead_time=_readonly(np.asarray(il_lead_time, dtype=np.int32)),
            il_calendar=_readonly(np.asarray(il_calendar, dtype=np.int32)), calendar_open=_readonly(calendar_open),
            ev_ptr=_readonly(ev_ptr), ev_day=_readonly(ev_day), ev_cum=_readonly(ev_cum),
            item_ids=tuple(item_ids), location_ids=tuple(location_ids),
            item_index={k: i for i, k in enumerate(item_ids)}, location_index={k: i for i, k in enumerate(location_ids)},
        )


def build_compact(*, as_of: dt.date, horizon: int, il_key: np.ndarray, n_locations: int, il_lead_time: np.ndarray,
                  il_calendar: np.ndarray, calendar_open: np.ndarray, supply: tuple, demand: tuple,
                  item_ids: tuple[str, ...] = (), location_ids: tuple[str, ...] = ()) -> CompactSnapshot:
    """One-block build: supply and demand rows as (il, day, qty) arrays over all N item-locations."""
    b = CompactBuilder(as_of=as_of, horizon=horizon)
    b.add(len(il_key), supply, demand)
    return b.finish(il_key=il_key, n_locations=n_locations, il_lead_time=il_lead_time, il_calendar=il_calendar,
                    calendar_open=calendar_open, item_ids=item_ids, location_ids=location_ids)


def compact_from_snapshot(snap: Snapshot) -> CompactSnapshot:
    """The compact form of a dense snapshot: its event days are the days with supply or demand,
    and the positions are the dense `base_cum` on those days (identical values)."""
    if snap.horizon > MAX_HORIZON:
        raise ValidationError(f"must be at most {MAX_HORIZON} days for the compact form", field="horizon_days", value=snap.horizon)
    active = (snap.supply != 0.0) | (snap.demand != 0.0)
    il, day = np.nonzero(active)  # row-major: by il, then day
    ev_ptr = np.zeros(snap.n_il + 1, dtype=np.int64)
    np.cumsum(np.bincount(il, minlength=snap.n_il), out=ev_ptr[1:])
    nloc = max(snap.n_locations, 1)
    return CompactSnapshot(
        as_of=snap.as_of, horizon=snap.horizon, n_locations=nloc, version=next(_versions),
        il_key=_readonly(snap.il_item.astype(np.int64) * nloc + snap.il_loc),
        il_lead_time=_readonly(snap.il_lead_time.astype(np.int32)), il_calendar=_readonly(snap.il_calendar.astype(np.int32)),
        calendar_open=_readonly(snap.calendar_open.astype(np.bool_)),
        ev_ptr=_readonly(ev_ptr), ev_day=_readonly(day.astype(np.int16)), ev_cum=_readonly(snap.base_cum[il, day]),
        item_ids=snap.item_ids, location_ids=snap.location_ids, item_index=snap.item_index, location_index=snap.location_index,
    )


def build_compact_from_tables(meta: dict, tables: dict[str, pl.DataFrame], *, source: str = "<memory>",
                              t0: float | None = None) -> CompactSnapshot:
    """Encode checked tables (what `supplydata.snapshot.build_snapshot` takes) into the compact form,
    without the dense daily arrays: the same item-locations, codes, lead times (working days
    included) and calendars (`supplydata.snapshot.encode_network`), and per item-location the days
    with supply or existing demand with the running position there, summed in row order as the dense
    form sums them (so positions are the dense `base_cum` bit for bit). Keeps the small tables, as the
    dense snapshot does (the live engine's catalogue, zones and rules read them), but not the supply
    and demand rows (`CompactTables`; ``tables`` itself is not changed): of those it keeps only the
    monitor's supplier per receipt ref (`supply_refs_frame`)."""
    t0 = time.perf_counter() if t0 is None else t0
    as_of: dt.date = meta["as_of"]
    H: int = meta["horizon_days"]
    net = encode_network(meta, tables)

    def rows(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if df.height == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return net.il_codes(df), _buckets(df["date"], as_of).astype(np.int64), df["qty"].to_numpy().astype(np.float64)

    b = CompactBuilder(as_of=as_of, horizon=H)
    b.add(net.n_il, rows(tables["supply"]), rows(tables["demand"]))
    snap = b.finish(il_key=net.key, n_locations=max(len(net.location_ids), 1), il_lead_time=net.il_lead_time,
                    il_calendar=net.il_calendar, calendar_open=net.calendar_open, item_ids=net.item_ids,
                    location_ids=net.location_ids)
    items = tables["items"]
    kept = CompactTables({k: v for k, v in tables.items() if k not in DROPPED_TABLES},
                         {k: tables[k].height for k in DROPPED_TABLES if k in tables})
    return dataclasses.replace(
        snap, item_index=net.item_index, location_index=net.location_index, meta=meta, tables=kept,
        supply_refs=supply_refs_frame(tables.get("supply")), source=source,
        calendar_ids=net.calendar_ids, load_seconds=time.perf_counter() - t0,
        item_price=_readonly(items["price"].fill_null(0.0).to_numpy().astype(np.float64)),
        item_cost=_readonly(items["cost"].fill_null(0.0).to_numpy().astype(np.float64)))


def load_compact(directory: str | Path) -> CompactSnapshot:
    """Load and check a snapshot directory (as `supplydata.snapshot.load_snapshot`) into the compact form.
    Raises SnapshotError on bad data."""
    t0 = time.perf_counter()
    meta, tables, _files = load_tables(directory)
    return build_compact_from_tables(meta, tables, source=str(directory), t0=t0)


# ---------------------------------------------------------------- state


class CompactState:
    """Commitments on a `CompactSnapshot` as a sparse overlay (see the module docstring).

    Per il a segment of the entry arena holds its (day, consumption) entries sorted by day
    (``ent_day`` int16, ``ent_qty`` float64); ``seg`` int32[N + 1, 3] holds per il the segment's
    start, length and capacity, and in its last row the arena's top and the entries left behind by
    segments that moved (three arrays in all, so that a kernel call types few arguments). The
    kernels in `promising.sparse_kernels` read and extend the arrays in place; when the arena is
    short of room they stop and say where, and the Python layer calls `grow` (which compacts
    instead when half the arena is garbage) and goes on.
    """

    # The three arrays live in one tuple, replaced whole when the arena grows or is compacted, so that a
    # reader that takes `overlay` once (every kernel call does) never pairs one arena's segments with
    # another's entries (inquiries read without the write lock).
    __slots__ = ("snapshot", "_ov")

    def __init__(self, snapshot: CompactSnapshot, *, capacity: int = 0, _arrays: tuple | None = None) -> None:
        self.snapshot = snapshot
        if _arrays is not None:
            self._ov = tuple(_arrays)
            return
        cap = max(int(capacity), 64)
        self._ov = (np.zeros((snapshot.n_il + 1, 3), dtype=np.int32), np.empty(cap, dtype=np.int16), np.empty(cap))

    @property
    def seg(self) -> np.ndarray:
        return self._ov[0]

    @property
    def ent_day(self) -> np.ndarray:
        return self._ov[1]

    @property
    def ent_qty(self) -> np.ndarray:
        return self._ov[2]

    @property
    def cum(self):
        raise FormUnsupported("reading dense positions (state.cum: a dense-only path)")

    @property
    def extras(self):
        raise FormUnsupported("allocation and capacity positions (state.extras)")

    @property
    def adjustments(self):
        raise FormUnsupported("supply adjustments by day (state.adjustments: reports on the dense form)")

    @property
    def overlay(self) -> tuple:
        """The overlay arrays in the order the kernels take them (one consistent set)."""
        return self._ov

    @property
    def seg_start(self) -> np.ndarray:
        return self.seg[:-1, 0]

    @property
    def seg_len(self) -> np.ndarray:
        return self.seg[:-1, 1]

    @property
    def top(self) -> int:
        """The arena's top (entries in use, slack and garbage included)."""
        return int(self.seg[-1, 0])

    @property
    def garbage(self) -> int:
        """Arena entries left behind by segments that moved."""
        return int(self.seg[-1, 1])

    @property
    def n_entries(self) -> int:
        """Entries in use (distinct committed (il, day) pairs)."""
        return int(self.seg_len.sum())

    @property
    def capacity(self) -> int:
        return int(self.ent_day.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held, counting the whole arena (slack and garbage included), not only the entries in use."""
        return int(sum(a.nbytes for a in self.overlay))

    def grow(self, need: int) -> None:
        """Make room for `need` more arena entries: compact when half the arena's top is garbage,
        else grow it by half (or to fit)."""
        top, garbage = self.top, self.garbage
        if top + need <= self.capacity:
            return
        if garbage * 2 >= top:
            live = top - garbage
            self._compact(max(self.capacity, live + need))
            return
        cap = max(top + need, self.capacity + self.capacity // 2)
        if cap >= 2**31:
            raise ValidationError("overlay would pass 2**31 entries", field="overlay", value=cap)
        seg, day, qty = self._ov
        new_day, new_qty = np.empty(cap, dtype=day.dtype), np.empty(cap, dtype=qty.dtype)
        new_day[:top] = day[:top]
        new_qty[:top] = qty[:top]
        # the segments too: a reader still on the old arena must not follow a segment moved into the new one
        self._ov = (seg.copy(), new_day, new_qty)

    def _compact(self, cap: int) -> None:
        seg, day, qty = self._ov
        new_seg = seg.copy()  # the live segments stay as they are until the swap
        new_day, new_qty = np.empty(cap, dtype=np.int16), np.empty(cap)
        overlay_compact_nb(new_seg, day, qty, new_day, new_qty)
        self._ov = (new_seg, new_day, new_qty)

    def copy(self) -> CompactState:
        """An independent copy, compacted (no slack, no garbage)."""
        c = CompactState(self.snapshot, _arrays=self._ov)
        c._compact(max(self.n_entries, 64))  # new arrays: this state's are not touched
        return c

    def _check(self, il: int, bucket: int, qty: float) -> None:
        if not 0 <= il < self.snapshot.n_il:
            raise ValidationError("unknown item-location code", field="il", value=il)
        if not 0 <= bucket < self.snapshot.horizon:
            raise ValidationError(f"must be a bucket in 0..{self.snapshot.horizon - 1}", field="bucket", value=bucket)
        if not math.isfinite(qty):
            raise ValidationError("not a finite number", field="qty", value=qty)

    def consume(self, il: int, bucket: int, qty: float) -> None:
        """Lower the position from `bucket` on by `qty` (a commitment; negative: a release or more supply)."""
        self._check(il, bucket, qty)
        self.grow(int(overlay_room_nb(self.seg, np.int64(il), np.int64(1))))
        overlay_add_nb(*self.overlay, np.int64(il), np.int64(bucket), float(qty))

    def release(self, il: int, bucket: int, qty: float) -> None:
        """Exact inverse of a commitment of `qty` at `bucket`."""
        self.consume(il, bucket, -float(qty))

    def adjust_supply(self, il: int, bucket: int, qty: float) -> None:
        """Add (or, negative, remove) supply at a bucket: the position rises from there on."""
        self.consume(il, bucket, -float(qty))

    def commit_at(self, il: int, bucket: int, qty: float) -> bool:
        """Commit `qty` at `bucket` (negative: release), as the dense `promising.kernels.commit_lt_1d_nb`.
        Returns False when it pushed a non-negative position before the il's lead time below zero
        (kept anyway; the caller reports it)."""
        self._check(il, bucket, qty)
        self.grow(4 * (int(self.seg[il, 1]) + 1) + 8)  # overlay_room_nb for one entry
        snap = self.snapshot
        return bool(commit_one_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, *self._ov, il, bucket, float(qty),
                                  int(snap.il_lead_time[il]), snap.horizon))

    def min_from(self, il: int, bucket: int) -> float:
        """The lowest running position of one il from `bucket` to the horizon (the dense `cum[il, bucket:].min()`)."""
        snap = self.snapshot
        row = np.empty(snap.horizon)
        position_row_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, *self.overlay, np.int64(il), np.int64(bucket),
                        np.int64(snap.horizon), row)
        return float(row[bucket:].min())

    def committed(self, il: int) -> np.ndarray:
        """Consumption per bucket in the overlay for one il (commitments net of releases and adjustments)."""
        out = np.zeros(self.snapshot.horizon)
        s, n = int(self.seg[il, 0]), int(self.seg[il, 1])
        np.add.at(out, self.ent_day[s:s + n].astype(np.int64), self.ent_qty[s:s + n])
        return out

    def position(self, il: int) -> np.ndarray:
        """The running net position of one il as a dense row (the dense `State.cum[il]`)."""
        row = np.empty(self.snapshot.horizon)
        snap = self.snapshot
        position_row_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, *self.overlay, np.int64(il), np.int64(0),
                        np.int64(snap.horizon), row)
        return row

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every overlay entry as arrays (il, day, qty), by il then day."""
        n = self.seg_len.astype(np.int64)
        il = np.repeat(np.arange(self.snapshot.n_il, dtype=np.int64), n)
        idx = np.repeat(self.seg_start.astype(np.int64) - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
        return il, self.ent_day[idx].astype(np.int64), self.ent_qty[idx].copy()


def dense_state_of(snap: Snapshot, cstate: CompactState) -> State:
    """A dense `State` of `snap` carrying the compact state's commitments (for side-by-side checks)."""
    st = snap.new_state()
    il, day, qty = cstate.entries()
    for i, d, q in zip(il.tolist(), day.tolist(), qty.tolist()):
        st.cum[i, d:] -= q
    return st


def commit_many(state: CompactState, ils: np.ndarray, days: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """Commit many consumptions (il, day, qty; negative qty releases) in order, in compiled calls
    that release the GIL. Returns fits (bool per row): False where a commitment pushed a
    non-negative position before the lead time below zero (kept anyway; the caller reports it)."""
    snap = state.snapshot
    ils = np.ascontiguousarray(ils, dtype=np.int64)
    days = np.ascontiguousarray(days, dtype=np.int64)
    qty = np.ascontiguousarray(qty, dtype=np.float64)
    n = ils.shape[0]
    if not (days.shape[0] == qty.shape[0] == n):
        raise ValidationError("il, day and qty need the same length", field="qty", value=qty.shape[0])
    if n and (ils.min() < 0 or ils.max() >= snap.n_il):
        raise ValidationError("unknown item-location code", field="il", value=int(ils[(ils < 0) | (ils >= snap.n_il)][0]))
    if n and (days.min() < 0 or days.max() >= snap.horizon):
        raise ValidationError(f"must be a bucket in 0..{snap.horizon - 1}", field="day",
                              value=int(days[(days < 0) | (days >= snap.horizon)][0]))
    if not np.isfinite(qty).all():
        raise ValidationError("not a finite number", field="qty", value=float(qty[~np.isfinite(qty)][0]))
    fits = np.ones(n, dtype=np.bool_)
    row = np.empty(snap.horizon)
    i = 0
    while True:
        i = commit_batch_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, snap.il_lead_time, *state.overlay, ils, days, qty,
                            np.int64(i), fits, row)
        if i >= n:
            return fits
        state.grow(int(overlay_room_nb(state.seg, ils[i], np.int64(1))))


@dataclasses.dataclass(frozen=True)
class RefreshReport:
    """What a compact refresh replayed, what it could not place, and the bytes it held."""

    replayed: int                # overlay entries replayed onto the new snapshot
    not_fitting: int             # replayed, but pushing a position below zero (kept)
    dropped: list[dict]          # entries whose item-location is gone or whose day is past the new horizon
    exceptions: list[dict]       # the entries that no longer fit (il key, day, qty)
    bytes_in_flight: int         # old snapshot + old state + new snapshot + new state, all alive at once
    bytes_after: int             # new snapshot + new state

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _keys_in(old: CompactSnapshot, new: CompactSnapshot, il: np.ndarray) -> np.ndarray:
    """The keys in `new` of item-locations `il` of `old`: through the item and location ids when
    both snapshots have them (codes can differ between extracts), else the keys as they are;
    -1 where the item or the location is gone."""
    if not (old.item_ids and new.item_ids):
        return old.il_key[il]
    item_map = np.array([new.item_index.get(k, -1) for k in old.item_ids], dtype=np.int64)
    loc_map = np.array([new.location_index.get(k, -1) for k in old.location_ids], dtype=np.int64)
    nloc_old = max(old.n_locations, 1)
    ic, lc = item_map[old.il_key[il] // nloc_old], loc_map[old.il_key[il] % nloc_old]
    return np.where((ic >= 0) & (lc >= 0), ic * max(new.n_locations, 1) + lc, -1)


def replay(state: CompactState, new: CompactSnapshot) -> tuple[CompactState, RefreshReport]:
    """Replay the overlay of `state` onto a new snapshot built beside it.

    Entries are mapped by item and location (by id when both snapshots carry ids, else by key),
    moved by the difference of the two `as_of` days (past days fall into day 0), merged per
    (il, day) and written contiguously per il. Entries that no longer fit are kept and listed;
    entries whose item-location is gone or whose day lies past the new horizon are listed as
    dropped. The old state is not changed. Returns the new state and a `RefreshReport`."""
    old = state.snapshot
    il, day, qty = state.entries()
    keep = qty != 0.0
    il, day, qty = il[keep], day[keep], qty[keep]
    key = _keys_in(old, new, il)
    pos = np.searchsorted(new.il_key, key)
    posc = np.minimum(pos, max(new.n_il - 1, 0))
    found = (new.n_il > 0) & (new.il_key[posc] == key) if new.n_il else np.zeros(key.shape[0], bool)
    day = np.maximum(day + (old.as_of - new.as_of).days, 0)
    inside = day < new.horizon
    ok = found & inside
    dropped = [{"il": old.il_name(int(i)) if old.item_ids else int(i), "day": int(d), "qty": float(q), "why": "item-location gone" if not f else "past the horizon"}
               for i, d, q, f in zip(il[~ok].tolist(), day[~ok].tolist(), qty[~ok].tolist(), found[~ok].tolist())]
    nil, nday, nqty = posc[ok].astype(np.int64), day[ok], qty[ok]
    order = np.lexsort((nday, nil))
    nil, nday, nqty = nil[order], nday[order], nqty[order]
    fresh = new.new_state(capacity=nil.shape[0])
    fits = commit_many(fresh, nil, nday, nqty)
    bad = ~fits
    exceptions = [{"il": new.il_name(int(i)) if new.item_ids else int(i), "day": int(d), "qty": float(q)}
                  for i, d, q in zip(nil[bad].tolist(), nday[bad].tolist(), nqty[bad].tolist())]
    in_flight = old.nbytes + state.nbytes + new.nbytes + fresh.nbytes
    report = RefreshReport(replayed=int(nil.shape[0]), not_fitting=int(bad.sum()), dropped=dropped, exceptions=exceptions,
                           bytes_in_flight=int(in_flight), bytes_after=int(new.nbytes + fresh.nbytes))
    return fresh, report


class CompactLive:
    """The serving pair (compact snapshot, its state) behind one reference, refreshed by
    building beside it, replaying, and swapping. Readers take `pair` once per request."""

    def __init__(self, snapshot: CompactSnapshot, state: CompactState | None = None) -> None:
        self.pair = (snapshot, state if state is not None else snapshot.new_state())

    @property
    def snapshot(self) -> CompactSnapshot:
        return self.pair[0]

    @property
    def state(self) -> CompactState:
        return self.pair[1]

    def refresh(self, new: CompactSnapshot) -> RefreshReport:
        """Replay the live overlay onto `new` (built beside the live pair) and swap one reference."""
        fresh, report = replay(self.pair[1], new)
        self.pair = (new, fresh)
        return report
