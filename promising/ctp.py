"""Capable-to-promise: promise what can still be made, through bills of materials and capacity.

The Python layer over `promising.ctp_kernels`. It builds the CTP model once per snapshot
(`snap.derived["ctp"]`: bills exploded into flat arrays, resource capacity per day), keeps
capacity used per state in `state.extras["capacity"]` (`capacity_draw` applies the "capacity"
draw kind), and answers with `ctp_path` when plain ATP is not FULL; `promising.engine.promise`
calls it. See docs/ctp.md for the model, the search, the time fence and the explanation.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import threading

import numpy as np
import polars as pl

from promessa.errors import SnapshotError, ValidationError
from promising import ctp_kernels as ck
from promising.atp import calendar_row, check_qty, commit_lines, encode_lines, pegs_for, promise_atp
from promising.enums import EPS, Reason, Status, lines_width
from promising.reservation import CAPACITY, Draw
from promising.types import DEFAULT_POLICY, BatchResult, EncodedLines, Peg, Policy, Promise, Request, ScheduleLine
from supplydata.snapshot import Snapshot, State

FENCE_COLUMN = "atp_time_fence_days"  # optional column of the items table
MAX_ENTRIES_PER_ROOT = 100_000       # an exploded bill larger than this is refused


@dataclasses.dataclass(frozen=True)
class Bill:
    """How one location makes one item: components per unit, resources per unit, lead time."""

    item: str
    location: str
    components: tuple[tuple[str, float], ...]   # (component, qty_per), in file order
    resources: tuple[tuple[str, float], ...]    # (resource, usage_per_unit), in file order
    lead_time_days: int


@dataclasses.dataclass(frozen=True, eq=False)
class CtpModel:
    """Bills, exploded per finished item-location into flat arrays, and resource capacity."""

    bills: dict[tuple[str, str], Bill]
    resource_ids: tuple[tuple[str, str], ...]        # (resource, location) per resource code
    resource_index: dict[tuple[str, str], int]
    cap: np.ndarray          # float64[R, H] capacity per resource and day
    item_fence: np.ndarray   # int64[n_items] ATP time fence in buckets (0 = none)
    il_root: np.ndarray      # int64[N] row in root_tab, -1 when the item-location has no bill
    root_tab: np.ndarray     # int64[n_roots, N_RCOLS]
    ent_int: np.ndarray      # int64[E, N_ECOLS]
    ent_qty: np.ndarray      # float64[E]
    ent_item: np.ndarray     # int64[E] item code
    ent_level: np.ndarray    # int64[E] 0 for the root
    eres_rslot: np.ndarray   # int64[n_eres]
    eres_use: np.ndarray     # float64[n_eres]
    slot_il: np.ndarray      # int64[n_slots] item-location code (root-local slots, concatenated)
    slot_lt: np.ndarray      # int64[n_slots] replenishment lead time, -1 = none
    rslot_res: np.ndarray    # int64[n_rslots] resource code
    problems: tuple[str, ...] = ()  # bill rows and bills left out (see build_model)
    dates: tuple[dt.date, ...] = ()  # date of every bucket
    slot_item: tuple[str, ...] = ()  # item id of every slot
    rslot_name: tuple[tuple[str, str], ...] = ()  # (resource, location) of every resource slot

    @property
    def n_roots(self) -> int:
        return int(self.root_tab.shape[0])

    @property
    def n_resources(self) -> int:
        return len(self.resource_ids)


_build_lock = threading.Lock()


def ctp_model(snap: Snapshot) -> CtpModel:
    """The CTP model of a snapshot, built once (thread-safe) and cached in `snap.derived`."""
    m = snap.derived.get("ctp")
    if m is not None:
        return m
    with _build_lock:
        m = snap.derived.get("ctp")
        if m is None:
            m = build_model(snap)
            snap.derived["ctp"] = m
    return m


def _bad(msg: str, *, row: int | None = None, column: str | None = None, value=None, hint: str | None = None,
         file: str = "bom") -> SnapshotError:
    return SnapshotError(msg, file=file, row=row, column=column, value=value, hint=hint)


def _read_bills(bom: pl.DataFrame, problems: list[SnapshotError]) -> dict[tuple[str, str], Bill]:
    """Rows combine per (item, location): one row per component (qty_per summed when a
    component repeats); a row's resource and usage_per_unit name a resource the lot works on
    (a resource repeated on several rows of the same bill is one routing step: the largest
    usage counts, not the sum); the bill's lead time is the largest lead_time_days of its rows
    (0 when none). A row with neither component nor resource only sets the lead time.
    A bad row is left out and recorded in `problems`."""
    comps: dict[tuple[str, str], dict[str, float]] = {}
    res: dict[tuple[str, str], dict[str, float]] = {}
    lts: dict[tuple[str, str], int] = {}
    cols = ("item", "location", "component", "qty_per", "resource", "usage_per_unit", "lead_time_days")
    for i, (item, loc, comp, qp, rs, use, lt) in enumerate(bom.select(cols).iter_rows(), start=1):
        if comp is not None and comp == item:
            problems.append(_bad("an item cannot be its own component", row=i, column="component", value=comp))
            continue
        if comp is not None and qp is None:
            problems.append(_bad("qty_per is required on a component row", row=i, column="qty_per",
                                 hint="give the quantity per unit of the parent"))
            continue
        if rs is not None and use is None:
            problems.append(_bad("usage_per_unit is required with a resource", row=i, column="usage_per_unit",
                                 hint="give the resource usage per unit made"))
            continue
        key = (item, loc)
        comps.setdefault(key, {})
        res.setdefault(key, {})
        lts[key] = max(lts.get(key, 0), int(lt) if lt is not None else 0)
        if comp is not None:
            comps[key][comp] = comps[key].get(comp, 0.0) + float(qp)
        if rs is not None:
            res[key][rs] = max(res[key].get(rs, 0.0), float(use))
    return {
        k: Bill(k[0], k[1], tuple(comps[k].items()), tuple(res[k].items()), lts[k])
        for k in comps
    }


def _find_cycle(bills: dict[tuple[str, str], Bill]) -> list[tuple[str, str]] | None:
    """The bills on one cycle (item made, through components, from itself), or None."""
    state: dict[tuple[str, str], int] = {}  # 1 on the path, 2 done
    for start in bills:
        if state.get(start) == 2:
            continue
        stack = [(start, iter(bills[start].components))]
        state[start] = 1
        path = [start]
        while stack:
            key, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[key] = 2
                stack.pop()
                path.pop()
                continue
            child = (nxt[0], key[1])
            if child not in bills:
                continue
            if state.get(child) == 1:
                return path[path.index(child):]
            if state.get(child) is None:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(bills[child].components)))
    return None


def build_model(snap: Snapshot, *, strict: bool = False) -> CtpModel:
    """Read `bom`, `resources` and the optional items column `atp_time_fence_days`; explode
    every bill into the flat arrays the kernels take.

    Bad bill rows (a component without qty_per, a resource without usage_per_unit, an item
    that is its own component) and bills on a cycle are left out and listed in
    `CtpModel.problems`, so that one bad bill does not stop promising the rest; with
    `strict` the first problem is raised as a SnapshotError instead."""
    H = snap.horizon
    tables = snap.tables
    bom = tables.get("bom")
    problems: list[SnapshotError] = []
    bills = _read_bills(bom, problems) if bom is not None and bom.height else {}
    while (cyc := _find_cycle(bills)) is not None:
        names = " -> ".join(k[0] for k in cyc) + f" -> {cyc[0][0]}"
        problems.append(_bad(f"the bill of materials has a cycle at location {cyc[0][1]!r}: {names}",
                             column="component", value=cyc[0][0], hint="these bills are left out of capable-to-promise"))
        for k in cyc:
            bills.pop(k, None)
    if strict and problems:
        raise problems[0]

    # time fence per item
    items = tables["items"]
    fence = np.zeros(snap.n_items, dtype=np.int64)
    if FENCE_COLUMN in items.columns:
        try:
            col = items[FENCE_COLUMN].cast(pl.Int64, strict=True)
        except Exception:  # noqa: BLE001 - any cast failure is a refusal of that column
            raise _bad("must be a whole number of days", file="items", column=FENCE_COLUMN) from None
        vals = col.fill_null(0).to_numpy()
        neg = np.flatnonzero(vals < 0)
        if neg.size:
            raise _bad("must not be negative", file="items", row=int(neg[0]) + 1, column=FENCE_COLUMN, value=int(vals[neg[0]]))
        fence[:] = vals

    # resources: capacity per (resource, location) and day; capacity dated before as_of is gone
    rt = tables.get("resources")
    keys: list[tuple[str, str]] = []
    if rt is not None and rt.height:
        keys = sorted(set(zip(rt["resource"].to_list(), rt["location"].to_list())))
    used_keys = {(r, b.location) for b in bills.values() for r, _ in b.resources}
    keys = sorted(set(keys) | used_keys)
    resource_index = {k: i for i, k in enumerate(keys)}
    cap = np.zeros((len(keys), H))
    if rt is not None and rt.height:
        days = rt["date"].cast(pl.Int32).to_numpy().astype(np.int64) - (snap.as_of - dt.date(1970, 1, 1)).days
        ok = (days >= 0) & (days < H)
        codes = np.array([resource_index[k] for k in zip(rt["resource"].to_list(), rt["location"].to_list())], dtype=np.int64)
        np.add.at(cap, (codes[ok], days[ok]), rt["capacity"].to_numpy()[ok])
    cap.flags.writeable = False

    # explosion per root, breadth first
    il_root = np.full(snap.n_il, -1, dtype=np.int64)
    root_rows: list[list[int]] = []
    ent_int: list[list[int]] = []
    ent_qty: list[float] = []
    ent_item: list[int] = []
    ent_level: list[int] = []
    eres_rslot: list[int] = []
    eres_use: list[float] = []
    slot_il: list[int] = []
    slot_lt: list[int] = []
    rslot_res: list[int] = []
    for key in sorted(bills, key=lambda k: snap.il_of(*k)):
        item, loc = key
        root_il = snap.il_of(item, loc)
        lc = snap.location_code(loc)
        e0, s0, q0 = len(ent_int), len(slot_il), len(rslot_res)
        slots: dict[int, int] = {}
        rslots: dict[int, int] = {}
        maxd = 0
        # queue rows: (entry index, bill)
        queue = collections.deque()

        # called only within this iteration: the defaults bind this root's loop variables
        def add_entry(parent: int, off: int, code: int, qty: float, level: int, *, item=item, loc=loc, lc=lc,
                      slots=slots, rslots=rslots, e0=e0, queue=queue) -> int:
            nonlocal maxd
            b = bills.get((snap.item_ids[code], loc))
            il = snap.il_index.get((code, lc), -1)
            slot = -1
            if il >= 0 and parent >= 0:
                if il not in slots:
                    slots[il] = len(slots)
                    slot_il.append(il)
                    slot_lt.append(int(snap.il_lead_time[il]))
                slot = slots[il]
            lt = b.lead_time_days if b is not None else 0
            r0 = len(eres_rslot)
            if b is not None:
                for rs, use in b.resources:
                    rc = resource_index[(rs, loc)]
                    if rc not in rslots:
                        rslots[rc] = len(rslots)
                        rslot_res.append(rc)
                    eres_rslot.append(rslots[rc])
                    eres_use.append(use)
                    maxd += max(lt, 1)
            maxd += 1
            ent_int.append([parent, off, lt, int(fence[code]), 1 if b is not None else 0, slot, r0, len(eres_rslot)])
            ent_qty.append(qty)
            ent_item.append(code)
            ent_level.append(level)
            j = len(ent_int) - 1 - e0
            if len(ent_int) - e0 > MAX_ENTRIES_PER_ROOT:
                raise _bad(f"the exploded bill of {item!r} at {loc!r} has more than {MAX_ENTRIES_PER_ROOT} entries", column="component")
            if b is not None:
                queue.append((j, b, off + lt, level))
            return j

        add_entry(-1, 0, snap.item_code(item), 1.0, 0)
        while queue:
            j, b, child_off, level = queue.popleft()
            for comp, qp in b.components:
                add_entry(j, child_off, snap.item_code(comp), qp, level + 1)
        il_root[root_il] = len(root_rows)
        root_rows.append([e0, len(ent_int), s0, len(slot_il), q0, len(rslot_res), maxd])

    def arr(x, dtype, shape=None):
        a = np.asarray(x, dtype=dtype)
        if shape is not None and a.size == 0:
            a = np.zeros(shape, dtype=dtype)
        a = np.ascontiguousarray(a)
        a.flags.writeable = False
        return a

    il_root.flags.writeable = False
    return CtpModel(
        bills=bills, resource_ids=tuple(keys), resource_index=resource_index, cap=cap, item_fence=fence,
        il_root=il_root,
        root_tab=arr(root_rows, np.int64, (0, ck.N_RCOLS)),
        ent_int=arr(ent_int, np.int64, (0, ck.N_ECOLS)),
        ent_qty=arr(ent_qty, np.float64), ent_item=arr(ent_item, np.int64), ent_level=arr(ent_level, np.int64),
        eres_rslot=arr(eres_rslot, np.int64), eres_use=arr(eres_use, np.float64),
        slot_il=arr(slot_il, np.int64), slot_lt=arr(slot_lt, np.int64), rslot_res=arr(rslot_res, np.int64),
        problems=tuple(str(p) for p in problems),
        dates=tuple(snap.as_of + dt.timedelta(days=b) for b in range(H)),
        slot_item=tuple(snap.item_ids[snap.il_item[il]] for il in slot_il),
        rslot_name=tuple(keys[r] for r in rslot_res),
    )


# ---------------------------------------------------------------- capacity in the state


def capacity_used(snap: Snapshot, state: State) -> np.ndarray:
    """Capacity used per resource and day in this state (float64[R, H]), created on first use."""
    used = state.extras.get(CAPACITY)
    if used is None:
        m = ctp_model(snap)
        used = state.extras.setdefault(CAPACITY, np.zeros((m.n_resources, snap.horizon)))
    return used


def capacity_report(snap: Snapshot, state: State, resource: str, location: str) -> pl.DataFrame:
    """Capacity, used and free per day for one resource at one location."""
    m = ctp_model(snap)
    r = m.resource_index.get((resource, location))
    if r is None:
        raise ValidationError("unknown resource at that location", field="resource", value=f"{resource}@{location}")
    used = capacity_used(snap, state)[r]
    return pl.DataFrame({
        "date": pl.date_range(snap.as_of, snap.last_date, "1d", eager=True),
        "capacity": m.cap[r], "used": used, "free": np.maximum(m.cap[r] - used, 0.0),
    })


def capacity_draw(snap: Snapshot, state: State, draw: Draw, sign: int) -> bool:
    """Apply one "capacity" draw: use (`sign` +1) or give back (-1) `draw.qty` of resource
    `draw.key` at `draw.location` on `draw.date`, in `state.extras["capacity"]`.

    Returns False when using it pushed the day over its capacity (kept: a replay reports it).
    A resource the snapshot does not know (renamed or dropped since the draw was stored) does
    not fit on replay (nothing to hold) and is ignored on release."""
    m = ctp_model(snap)
    r = m.resource_index.get((draw.key, draw.location))
    if r is None:
        return sign < 0
    b = snap.bucket(draw.date, field="draw.date")
    used = capacity_used(snap, state)
    before = used[r, b]
    used[r, b] = before + sign * draw.qty
    if sign < 0:
        return True
    c = m.cap[r, b]
    return not (used[r, b] > c + EPS and before <= c + EPS)


# ---------------------------------------------------------------- the promise


@dataclasses.dataclass(slots=True)
class CtpPlan:
    """The kernel's answer for one request, before it becomes a Promise."""

    status: Status
    t: int                 # delivery bucket, -1 none
    ef: int                # earliest full bucket over the horizon, -1 none
    stock_qty: float       # the finished item's own ATP used at t
    made_qty: float        # made by the root lots
    n_lots: int
    n: int                 # draws logged
    lot_f: np.ndarray      # finish bucket per root lot (latest first)
    lot_make: np.ndarray   # quantity per lot and entry
    d_kind: np.ndarray
    d_ent: np.ndarray
    d_ref: np.ndarray
    d_bucket: np.ndarray
    d_qty: np.ndarray
    d_lot: np.ndarray
    fail_i: np.ndarray
    fail_f: np.ndarray
    n_merged: int          # the reservation: draws merged per (kind, ref, bucket)
    m_kind: np.ndarray
    m_ref: np.ndarray
    m_bucket: np.ndarray
    m_qty: np.ndarray
    row: int               # root row

    @property
    def qty(self) -> float:
        return self.stock_qty + self.made_qty if self.t >= 0 else 0.0

    @property
    def f(self) -> int:
        """Finish bucket of the latest root lot, -1 when nothing is made."""
        return int(self.lot_f[0]) if self.n_lots else -1


def plan(snap: Snapshot, state: State, request: Request, *, max_lots: int = ck.MAX_LOTS) -> CtpPlan | None:
    """Search a CTP answer for `request` without committing; None when no bill applies."""
    m = ctp_model(snap)
    if m.n_roots == 0:
        return None
    il = snap.il_index.get((snap.item_code(request.item), snap.location_code(request.location)), -1)
    if il < 0 or m.il_root[il] < 0:
        return None
    q = check_qty(request.qty)
    req = snap.bucket(request.requested_date, field="requested_date")
    pol = request.policy
    H = snap.horizon
    last = H - 1 if pol.max_late < 0 else min(H - 1, req + pol.max_late)
    row = int(m.il_root[il])
    res = ck.ctp_promise_1d_nb(
        state.cum, snap.il_lead_time, m.cap, capacity_used(snap, state), il, calendar_row(snap, il), q, req, last,
        pol.allow_partial, max_lots, m.root_tab[row], m.ent_int, m.ent_qty, m.eres_rslot, m.eres_use, m.slot_il,
        m.slot_lt, m.rslot_res,
    )
    status, t, ef, stock, made, nl, n, lot_f, lot_make, dk, de, dr, db, dq, dl, fi, ff, nm, mk, mr, mb, mq = res
    return CtpPlan(Status(status), int(t), int(ef), float(stock), float(made), int(nl), int(n), lot_f, lot_make,
                   dk, de, dr, db, dq, dl, fi, ff, int(nm), mk, mr, mb, mq, row)


def _entry_names(snap: Snapshot, m: CtpModel, e0: int, j: int) -> tuple[str, int, str | None]:
    g = e0 + j
    p = int(m.ent_int[g, ck.E_PARENT])
    parent = snap.item_ids[m.ent_item[e0 + p]] if p >= 0 else None
    return snap.item_ids[m.ent_item[g]], int(m.ent_level[g]), parent


def _binding(snap: Snapshot, m: CtpModel, p: CtpPlan, location: str) -> tuple[Reason | None, dict | None]:
    code = int(p.fail_i[0])
    if code == Reason.NONE:
        return None, None
    rt = m.root_tab[p.row]
    e0 = int(rt[ck.R_E0])
    j = int(p.fail_i[1])
    item, level, parent = _entry_names(snap, m, e0, j)
    a, b, at = int(p.fail_i[3]), int(p.fail_i[4]), int(p.fail_i[5])
    need, have = float(p.fail_f[0]), float(p.fail_f[1])

    def d(x: int) -> str | None:
        return snap.date(x).isoformat() if 0 <= x < snap.horizon else None

    if code == Reason.CALENDAR:
        return Reason.CALENDAR, {"constraint": "calendar", "location": location}
    if code == Reason.CAPACITY:
        r = int(m.rslot_res[rt[ck.R_Q0] + p.fail_i[2]])
        res, loc = m.resource_ids[r]
        return Reason.CAPACITY, {
            "constraint": "capacity", "resource": res, "location": loc, "item": item, "level": level,
            "first_day": d(a), "last_day": d(b), "needed": need, "available": have,
        }
    if code == Reason.MATERIAL:
        out = {"constraint": "material", "item": item, "location": location, "parent": parent, "level": level,
               "date": d(at), "needed": need, "available": have}
        slot = int(m.ent_int[e0 + j, ck.E_SLOT])
        lt = int(m.slot_lt[rt[ck.R_S0] + slot]) if slot >= 0 else -1
        if lt >= 0:  # purchased on a replenishment lead time: waiting for it is what binds
            out["constraint"] = "lead_time"
            out["replenishment_lead_time_days"] = lt
            return Reason.LEAD_TIME, out
        return Reason.MATERIAL, out
    # lead time: the lot would have to start before today, or finish inside the time fence
    fence = int(m.ent_int[e0 + j, ck.E_FENCE])
    out = {"constraint": "lead_time", "item": item, "location": location, "parent": parent, "level": level,
           "start": d(a), "finish": d(b), "needed": need}
    if a < 0:
        out["starts_days_before_today"] = -a
    if b < fence:
        out["time_fence_until"] = d(fence)
    return Reason.LEAD_TIME, out


def _details(snap: Snapshot, m: CtpModel, p: CtpPlan, request: Request, *, explain: bool, state: State | None,
             binding: dict | None) -> dict:
    rt = m.root_tab[p.row]
    e0, s0, q0 = int(rt[ck.R_E0]), int(rt[ck.R_S0]), int(rt[ck.R_Q0])
    loc = request.location
    out: dict = {
        "stock_qty": p.stock_qty, "made_qty": p.made_qty,
        "lot_finish": m.dates[p.f].isoformat() if p.f >= 0 else None,
        "root_lots": [{"finish": m.dates[f].isoformat(), "qty": x}
                      for f, x in zip(p.lot_f[:p.n_lots].tolist(), p.lot_make[:p.n_lots, 0].tolist())],
        "binding": binding,
    }
    if not explain:
        return {"ctp": out}
    lots = []
    for k in range(p.n_lots):
        for j in range(int(rt[ck.R_E1]) - e0):
            x = float(p.lot_make[k, j])
            if x <= EPS:
                continue
            item, level, parent = _entry_names(snap, m, e0, j)
            g = e0 + j
            fj = int(p.lot_f[k]) - int(m.ent_int[g, ck.E_OFF])
            lots.append({"lot": k, "entry": j, "level": level, "item": item, "location": loc, "parent": parent, "qty": x,
                         "start": snap.date(fj - int(m.ent_int[g, ck.E_LT])).isoformat(),
                         "finish": snap.date(fj).isoformat()})
    comps, caps = [], []
    by_slot: dict[int, list[int]] = {}
    for k in range(p.n):
        j = int(p.d_ent[k])
        item, level, parent = _entry_names(snap, m, e0, j)
        if p.d_kind[k] == ck.D_STOCK:
            by_slot.setdefault(int(p.d_ref[k]), []).append(len(comps))
            comps.append({"lot": int(p.d_lot[k]), "entry": j, "level": level, "item": item, "location": loc, "parent": parent,
                          "date": snap.date(int(p.d_bucket[k])).isoformat(), "qty": float(p.d_qty[k])})
        else:
            res, rloc = m.resource_ids[int(m.rslot_res[q0 + p.d_ref[k]])]
            caps.append({"lot": int(p.d_lot[k]), "entry": j, "level": level, "item": item, "resource": res, "location": rloc,
                         "date": snap.date(int(p.d_bucket[k])).isoformat(), "qty": float(p.d_qty[k])})
    if state is not None:  # which supply records each component draw consumes (before committing)
        for slot, idx in by_slot.items():
            il = int(m.slot_il[s0 + slot])
            order = sorted(idx, key=lambda i: comps[i]["date"])
            lb = np.array([snap.bucket(comps[i]["date"]) for i in order], dtype=np.int64)
            lq = np.array([comps[i]["qty"] for i in order])
            for pg in pegs_for(snap, state, il, lb, lq):
                comps[order[pg.line]].setdefault("pegs", []).append(
                    {"qty": pg.qty, "supply_date": pg.supply_date.isoformat() if pg.supply_date else None,
                     "kind": pg.kind, "ref": pg.ref})
    out.update(lots=lots, components=comps, capacity=caps)
    return {"ctp": out}


def _draws(snap: Snapshot, m: CtpModel, p: CtpPlan, request: Request) -> tuple[Draw, ...]:
    """The reservation: the finished item's stock part, then the merged component and
    capacity draws (the order `_apply` commits them in, so a replay repeats it exactly)."""
    rt = m.root_tab[p.row]
    s0, q0 = int(rt[ck.R_S0]), int(rt[ck.R_Q0])
    loc = request.location
    dates, slot_item, rslot_name = m.dates, m.slot_item, m.rslot_name
    out = []
    add = out.append
    if p.stock_qty > EPS:
        add(Draw("atp", request.item, loc, dates[p.t], p.stock_qty, request.demand_class))
    nm = p.n_merged
    for kind, ref, b, q in zip(p.m_kind[:nm].tolist(), p.m_ref[:nm].tolist(), p.m_bucket[:nm].tolist(), p.m_qty[:nm].tolist()):
        if kind == ck.D_STOCK:
            add(Draw("atp", slot_item[s0 + ref], loc, dates[b], q))
        else:
            res, rloc = rslot_name[q0 + ref]
            add(Draw(CAPACITY, res, rloc, dates[b], q))
    return tuple(out)


def _apply(snap: Snapshot, state: State, m: CtpModel, p: CtpPlan, il: int) -> None:
    """Commit a plan in one kernel call: the finished item's stock part, components and capacity.

    Allocation pools are not touched: CTP answers only where the demand-class path did not
    (no quotas at the finished item-location), and component draws carry no demand class, so
    replaying these draws through `promising.engine.reserve` charges no pool either."""
    rt = m.root_tab[p.row]
    ck.apply_plan_nb(state.cum, capacity_used(snap, state), il, max(p.t, 0), p.stock_qty, m.slot_il, int(rt[ck.R_S0]),
                     m.rslot_res, int(rt[ck.R_Q0]), p.n_merged, p.m_kind, p.m_ref, p.m_bucket, p.m_qty, 1)


def _better(p: CtpPlan, atp: Promise, snap: Snapshot) -> bool:
    if p.t < 0 or p.qty <= EPS:
        return False
    a = atp.promised_qty
    if p.qty > a + EPS:
        return True
    if p.qty < a - EPS or not atp.lines:
        return False
    return p.t < snap.bucket(max(ln.date for ln in atp.lines))


def ctp_path(snap: Snapshot, state: State, request: Request, atp_answer: Promise, *, commit: bool = False,
             explain: bool = True) -> Promise | None:
    """The shortfall path of `promising.engine.promise` (plain ATP answered `atp_answer`, not FULL).

    Returns a CTP promise when the item is made at the location and making improves on ATP;
    the ATP answer with the binding CTP constraint when a bill applies but does not help; None
    when no bill applies (the caller keeps the ATP answer). With `commit` the returned promise
    is reserved in `state` (components, capacity and the item's own stock)."""
    p = plan(snap, state, request)
    if p is None:
        return None
    m = ctp_model(snap)
    il = snap.il_index[(snap.item_index[request.item], snap.location_index[request.location])]
    reason, binding = _binding(snap, m, p, request.location)
    if not _better(p, atp_answer, snap):
        if reason is None or reason is Reason.CALENDAR:
            return None
        ans = dataclasses.replace(atp_answer, reason=reason, details={"ctp": {"improves": False, "binding": binding}})
        if commit and ans.lines:
            commit_lines(state, il, np.array([snap.bucket(ln.date) for ln in ans.lines], dtype=np.int64),
                         np.array([ln.qty for ln in ans.lines]), len(ans.lines))
            ans = dataclasses.replace(ans, committed=True)
        return ans
    draws = _draws(snap, m, p, request)
    pegs: tuple[Peg, ...] = ()
    if explain and p.stock_qty > EPS:
        pegs = pegs_for(snap, state, il, np.array([p.t], dtype=np.int64), np.array([p.stock_qty]))
    details = _details(snap, m, p, request, explain=explain, state=state if explain else None, binding=binding)
    if p.status is Status.FULL:
        reason = Reason.NONE
    elif reason is None:
        reason = Reason.SUPPLY
    promise = Promise(
        request, p.status, reason, (ScheduleLine(snap.date(p.t), p.qty),),
        snap.date(p.ef) if p.ef >= 0 else None, pegs, committed=False, draws=draws, details=details,
    )
    if commit:
        _apply(snap, state, m, p, il)
        promise = dataclasses.replace(promise, committed=True)
    return promise


def promise_ctp(snap: Snapshot, state: State, request: Request, *, commit: bool = False, explain: bool = True) -> Promise:
    """ATP first; capable-to-promise when ATP is not FULL (as `promising.promise` without the
    demand-class path). Returns the Promise, reserved in `state` with `commit`."""
    atp_answer, il, out_b, out_q = promise_atp(snap, state, request, explain=explain)
    if atp_answer.status is not Status.FULL and il >= 0:
        alt = ctp_path(snap, state, request, atp_answer, commit=commit, explain=explain)
        if alt is not None:
            return alt
    if commit and atp_answer.lines:
        commit_lines(state, il, out_b, out_q, len(atp_answer.lines))
        atp_answer = dataclasses.replace(atp_answer, committed=True)
    return atp_answer


# ---------------------------------------------------------------- batch


@dataclasses.dataclass(frozen=True)
class CtpBatchResult(BatchResult):
    made: np.ndarray       # float64[n] quantity made per line (0: ATP answered)


def promise_encoded_ctp(snap: Snapshot, state: State, enc: EncodedLines, *, commit: bool = True) -> CtpBatchResult:
    """Promise pre-encoded lines in one kernel call, in order, as `promising.promise` would
    line by line (ATP, then CTP where a bill applies and helps; no demand-class path).
    Committed CTP lines hold their components and capacity in `state`; the result carries no
    reservations (use `promising.promise` per line when the order book needs them)."""
    m = ctp_model(snap)
    n = len(enc)
    w = lines_width(enc.max_lines)
    out = CtpBatchResult(
        status=np.empty(n, dtype=np.int8), reason=np.empty(n, dtype=np.int8), n_lines=np.empty(n, dtype=np.int64),
        bucket=np.empty((n, w), dtype=np.int64), qty=np.empty((n, w)),
        earliest_full=np.empty(n, dtype=np.int64), made=np.empty(n),
    )
    ck.ctp_promise_batch_nb(
        state.cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open, m.cap, capacity_used(snap, state),
        m.il_root, m.root_tab, m.ent_int, m.ent_qty, m.eres_rslot, m.eres_use, m.slot_il, m.slot_lt, m.rslot_res,
        enc.ils, enc.qty, enc.req, enc.max_late, enc.flags, enc.max_lines, commit,
        out.status, out.reason, out.n_lines, out.bucket, out.qty, out.earliest_full, out.made,
    )
    return out


def promise_batch_ctp(snap: Snapshot, state: State, lines: pl.DataFrame, *, commit: bool = True,
                      policy: Policy = DEFAULT_POLICY) -> CtpBatchResult:
    """Promise many lines (columns as `promising.encode_lines`) with capable-to-promise."""
    return promise_encoded_ctp(snap, state, encode_lines(snap, lines, policy=policy), commit=commit)

