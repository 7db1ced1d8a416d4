"""Real-time sourcing of one order: which nodes serve which lines, when, at what cost, and why.

Ask: a :class:`SourcingRequest` (order, customer zone, lines, policy).  Answer: a
:class:`SourcingAnswer` with, per line, the legs (node, quantity, ship and arrival dates,
cost), the status and reason, why that node, and the alternatives not chosen.

How it works (one order, no Python loop over rows of the network):

1. the candidate nodes of the zone come from the snapshot's :class:`~sourcing.network.Network`
   (sourcing rules matching the item or its category, lanes for transit and cost);
2. one kernel call (``candidates_nb``) evaluates every (line, node) with the promising ATP
   kernels: earliest open ship day with the whole quantity inside the lateness window,
   quantity available at the window's end, landed cost. Where the snapshot has allocation
   quotas, a candidate item-location with quotas is evaluated on the availability curve of the
   request's demand class (``allocation.class_availability``; no class: "all others"), so
   quota-protected supply of another class is never offered; without quotas nothing changes;
3. one kernel call (``order_dp_nb``) chooses shipments (node, date, lines) by dynamic
   programming over subsets of lines: ship sets are one unit, arrival sets share a target
   arrival date, at most ``max_splits + 1`` shipments, ranked by the policy's objective;
4. lines no single node can serve whole are split across nodes (partial promises) when the
   policy allows it, within the shipment limit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

import allocation
from promessa.errors import ValidationError
from promising import kernels as pk
from promising.enums import EPS, Reason, Status
from promising.engine import reserve
from promising.reservation import Draw, Reservation
from promising.types import Policy, Request
from sourcing import kernels as sk
from sourcing.enums import DATE_ARRIVAL, DATE_SHIP, Objective
from sourcing.network import Network, network_for
from supplydata.snapshot import Snapshot, State

__all__ = [
    "SourcingPolicy", "OrderLine", "SourcingRequest", "Leg", "Shipment", "Alternative", "LineSourcing",
    "SourcingAnswer", "source_order", "candidates", "line_node",
]

MAX_UNITS = 10
_NO_CAL = np.ones(0, dtype=np.bool_)  # exact choice over subsets up to this many units (lines or ship sets) per order


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SourcingPolicy:
    """How to choose nodes for an order.

    objective: earliest | cheapest | profit | fewest_shipments.  date_kind: requested dates
    are ``arrival`` dates (default) or ``ship`` dates.  max_splits: most extra shipments
    (0: one shipment from one node; None: no limit).  allow_partial: promise what is
    available, splitting a line across nodes when no node has it whole.  max_late_days:
    latest acceptable date = requested + this (None: the horizon).
    """

    objective: Objective | str = Objective.EARLIEST
    date_kind: str = "arrival"
    max_splits: int | None = None
    allow_partial: bool = True
    max_late_days: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "objective", Objective.parse(self.objective))
        if self.date_kind not in ("arrival", "ship"):
            raise ValidationError("must be 'arrival' or 'ship'", field="policy.date_kind", value=self.date_kind)
        if self.max_splits is not None and self.max_splits < 0:
            raise ValidationError("must not be negative", field="policy.max_splits", value=self.max_splits)
        if self.max_late_days is not None and self.max_late_days < 0:
            raise ValidationError("must not be negative", field="policy.max_late_days", value=self.max_late_days)


@dataclasses.dataclass(frozen=True, slots=True)
class OrderLine:
    line: int | str
    item: str
    qty: float
    requested_date: dt.date
    ship_set: str | None = None      # lines with the same ship set ship together: one node, one date
    arrival_set: str | None = None   # lines with the same arrival set arrive on the same date


@dataclasses.dataclass(frozen=True, slots=True)
class SourcingRequest:
    """Asks: where from and when can this order be served?"""

    order: str
    zone: str
    lines: tuple[OrderLine, ...]
    policy: SourcingPolicy = SourcingPolicy()
    demand_class: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    """Part of a line served from one node."""

    node: str
    qty: float
    ship_date: dt.date
    arrival_date: dt.date
    cost: float       # quantity x cost per unit (the shipment's fixed cost is on the shipment)
    rank: int


@dataclasses.dataclass(frozen=True, slots=True)
class Shipment:
    node: str
    ship_date: dt.date
    arrival_date: dt.date
    lines: tuple
    qty: float
    cost: float       # units x cost per unit + cost per shipment


@dataclasses.dataclass(frozen=True, slots=True)
class Alternative:
    """A node that was not chosen for a line, with what it would have given."""

    node: str
    rank: int
    ship_date: dt.date | None      # earliest ship date with the whole quantity (None: never)
    arrival_date: dt.date | None
    cost: float                    # landed cost of the line alone from there
    available_qty: float           # available by the latest acceptable date
    note: str


@dataclasses.dataclass(frozen=True)
class LineSourcing:
    """Answer for one line."""

    line: int | str
    item: str
    qty: float
    requested_date: dt.date
    status: Status
    reason: Reason
    legs: tuple[Leg, ...]
    _ctx: object = dataclasses.field(default=None, repr=False, compare=False)
    _index: int = dataclasses.field(default=-1, repr=False, compare=False)

    @property
    def promised_qty(self) -> float:
        return float(sum(leg.qty for leg in self.legs))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(leg.node for leg in self.legs)

    @property
    def alternatives(self) -> tuple[Alternative, ...]:
        """Candidate nodes not chosen, best first by the policy, with their date and cost."""
        return self._ctx.alternatives(self._index, set(self.nodes)) if self._ctx is not None else ()

    @property
    def why(self) -> str:
        """Why these nodes (or why nothing)."""
        return self._ctx.why(self) if self._ctx is not None else ""

    def to_dict(self) -> dict:
        return {
            "line": self.line, "item": self.item, "qty": self.qty, "requested_date": self.requested_date.isoformat(),
            "status": self.status.name.lower(), "reason": self.reason.name.lower(), "promised_qty": self.promised_qty,
            "legs": [{"node": g.node, "qty": g.qty, "ship_date": g.ship_date.isoformat(), "arrival_date": g.arrival_date.isoformat(),
                      "cost": g.cost, "rank": g.rank} for g in self.legs],
            "why": self.why,
            "alternatives": [{"node": a.node, "rank": a.rank, "ship_date": a.ship_date.isoformat() if a.ship_date else None,
                              "arrival_date": a.arrival_date.isoformat() if a.arrival_date else None, "cost": a.cost,
                              "available_qty": a.available_qty, "note": a.note} for a in self.alternatives],
        }


@dataclasses.dataclass(frozen=True)
class SourcingAnswer:
    """Answers a sourcing request: lines, shipments, cost, margin, and whether it was committed."""

    request: SourcingRequest
    lines: tuple[LineSourcing, ...]
    shipments: tuple[Shipment, ...]
    cost: float        # shipping cost of all shipments
    margin: float      # promised qty x (price - item cost) - shipping cost
    committed: bool = False
    draws: tuple[Draw, ...] | None = None  # pooled draws where quotas apply (None: one plain draw per leg)

    @property
    def splits(self) -> int:
        return max(0, len(self.shipments) - 1)

    @property
    def status(self) -> Status:
        return Status(max((ln.status for ln in self.lines), default=Status.FULL))

    @property
    def reservation(self) -> Reservation:
        if self.draws is not None:
            return Reservation(self.draws)
        dc = self.request.demand_class
        return Reservation(tuple(
            Draw("atp", ln.item, g.node, g.ship_date, g.qty, dc) for ln in self.lines for g in ln.legs
        ))

    def line(self, line_id) -> LineSourcing:
        for ln in self.lines:
            if ln.line == line_id:
                return ln
        raise KeyError(line_id)

    @property
    def message(self) -> str:
        parts = [f"order {self.request.order}: {self.status.description}, {len(self.shipments)} shipment(s), "
                 f"shipping {self.cost:.2f}, margin {self.margin:.2f}"]
        for s in self.shipments:
            parts.append(f"  {s.node} ships {s.ship_date}, arrives {s.arrival_date}: lines {', '.join(map(str, s.lines))}")
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return {
            "order": self.request.order, "zone": self.request.zone, "objective": self.request.policy.objective.name.lower(),
            "status": self.status.name.lower(), "cost": self.cost, "margin": self.margin, "splits": self.splits,
            "committed": self.committed,
            "shipments": [{"node": s.node, "ship_date": s.ship_date.isoformat(), "arrival_date": s.arrival_date.isoformat(),
                           "lines": list(s.lines), "qty": s.qty, "cost": s.cost} for s in self.shipments],
            "lines": [ln.to_dict() for ln in self.lines],
            "reservation": self.reservation.to_dict(),
        }


# ---------------------------------------------------------------------------------------
# Evaluation context: arrays of one order, kept for explanations (built lazily)
# ---------------------------------------------------------------------------------------
class _Ctx:
    __slots__ = ("snap", "net", "zone", "nodes", "K", "policy", "req", "qty", "rank", "il", "transit", "early",
                 "early_any", "avail", "cost", "last", "start", "dup", "rows")

    def cum(self, state: State, il: int) -> np.ndarray:
        """The row availability is read from at item-location il: the demand class's curve where
        quotas apply (`rows`), else the cumulative ATP position."""
        row = self.rows.get(il) if self.rows else None
        return state.cum[il] if row is None else row

    def alternatives(self, i: int, chosen: set[str]) -> tuple[Alternative, ...]:
        snap = self.snap
        out = []
        for k in range(self.K):
            if self.rank[i, k] < 0:
                continue
            node = snap.location_ids[self.nodes[k]]
            if node in chosen:
                continue
            e = int(self.early_any[i, k])
            tr = int(self.transit[i, k])
            ship = snap.date(e) if e >= 0 else None
            arr = snap.as_of + dt.timedelta(days=e + tr) if e >= 0 else None
            if self.il[i, k] < 0:
                note = "item not stocked there"
            elif e < 0:
                note = f"only {self.avail[i, k]:g} available within the horizon" if self.avail[i, k] > EPS else "no supply within the horizon"
            elif self.early[i, k] < 0:
                note = "whole quantity only after the latest acceptable date"
            else:
                note = self._compare(i, k)
            out.append(Alternative(node, int(self.rank[i, k]), ship, arr, float(self.cost[i, k]), float(self.avail[i, k]), note))
        key = self._sort_key(i)
        out.sort(key=key)
        return tuple(out)

    def _sort_key(self, i):
        obj = self.policy.objective
        far = dt.date.max

        def key(a: Alternative):
            arr = a.arrival_date or far
            if obj is Objective.EARLIEST:
                return (arr, a.cost, a.rank)
            return (a.cost, arr, a.rank)

        return key

    def _compare(self, i: int, k: int) -> str:
        obj = self.policy.objective
        arr = int(self.early[i, k] + self.transit[i, k])
        due = arr if self.policy.date_kind == "arrival" else int(self.early[i, k])
        late = max(0, due - int(self.req[i]))
        if obj is Objective.EARLIEST:
            return f"arrives {self.snap.as_of + dt.timedelta(days=arr)}" + (f" ({late} day(s) late)" if late else "")
        if obj is Objective.FEWEST:
            return "would need another shipment" if late == 0 else f"{late} day(s) late"
        return f"landed cost {self.cost[i, k]:.2f}" + (f", {late} day(s) late" if late else ", on time")

    def why(self, ln: LineSourcing) -> str:
        obj = self.policy.objective
        if not ln.legs:
            return ln.reason.description
        legs = ", ".join(f"{g.node} ({g.qty:g}, ships {g.ship_date}, arrives {g.arrival_date})" for g in ln.legs)
        alts = self.alternatives(ln._index, set(ln.nodes))
        head = f"{obj.description}: {legs}"
        if len(ln.legs) > 1:
            head += "; no single node has the whole quantity in time"
        best_alt = next((a for a in alts if a.ship_date is not None), None)
        if best_alt is not None:
            head += f"; next best {best_alt.node} ({best_alt.note})"
        if ln.status is Status.LATE:
            head += "; late: no node has it by the requested date"
        elif ln.status is Status.PARTIAL:
            head += f"; partial: {ln.reason.description}"
        return head


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------
def _zone_nodes(net: Network, z: int) -> np.ndarray:
    cache = net.__dict__.setdefault("_zone_nodes", {})
    nodes = cache.get(z)
    if nodes is None:
        buf = np.empty(max(1, net.rule_ptr[z + 1] - net.rule_ptr[z]), dtype=np.int64)
        n = sk.zone_nodes_nb(net.rule_ptr, net.rule_loc, z, buf)
        nodes = buf[:n].copy()
        cache[z] = nodes
    return nodes


def _evaluate(snap: Snapshot, state: State, request: SourcingRequest) -> _Ctx:
    net = network_for(snap)
    pol = request.policy
    z = net.zone_code(request.zone)
    L = len(request.lines)
    if L == 0:
        raise ValidationError("an order needs at least one line", field="lines", value=0)
    items = np.empty(L, dtype=np.int64)
    qty = np.empty(L)
    need = np.empty(L)
    req = np.empty(L, dtype=np.int64)
    seen: dict[int, float] = {}
    item_index = snap.item_index
    as_of = snap.as_of
    H = snap.horizon
    for i, ln in enumerate(request.lines):
        ic = item_index.get(ln.item)
        if ic is None:
            raise ValidationError("unknown item", field=f"lines[{i}].item", value=ln.item)
        q = float(ln.qty)
        if not (q > 0 and math.isfinite(q)):
            raise ValidationError("must be a positive number", field=f"lines[{i}].qty", value=ln.qty)
        b = (ln.requested_date - as_of).days
        if b >= H:
            raise ValidationError(f"date outside the horizon (last day {snap.last_date})", field=f"lines[{i}].requested_date", value=str(ln.requested_date))
        items[i] = ic
        qty[i] = q
        need[i] = q
        seen[ic] = seen.get(ic, 0.0) + q
        req[i] = b if b > 0 else 0
    nodes = _zone_nodes(net, z)
    K = len(nodes)
    shape = (L, max(K, 1))
    ctx = _Ctx()
    ctx.snap, ctx.net, ctx.zone, ctx.nodes, ctx.K, ctx.policy, ctx.req, ctx.qty = snap, net, z, nodes, K, pol, req, qty
    ctx.rank = np.empty(shape, dtype=np.int64)
    ctx.il = np.empty(shape, dtype=np.int64)
    ctx.transit = np.empty(shape, dtype=np.int64)
    start = np.empty(shape, dtype=np.int64)
    ctx.last = np.empty(shape, dtype=np.int64)
    ctx.early = np.empty(shape, dtype=np.int64)
    ctx.early_any = np.empty(shape, dtype=np.int64)
    ctx.avail = np.empty(shape)
    ctx.cost = np.empty(shape)
    cum, il_lt, il_keys = state.cum, snap.il_lead_time, net.il_keys
    ctx.rows = _class_rows(snap, state, request.demand_class, net, items, nodes)
    if ctx.rows is not None:  # quotas at some candidate: evaluate on the rows of this order only
        sub, cum, pooled = ctx.rows
        il_lt, il_keys = snap.il_lead_time[sub], net.il_keys[sub]
        # as writable as the whole column: the kernel then has one signature for both paths (one compile, not two)
        il_lt.flags.writeable = snap.il_lead_time.flags.writeable
    sk.candidates_nb(
        cum, il_lt, snap.calendar_open, net.loc_cal, il_keys, net.n_locations, net.item_cat,
        net.rule_ptr, net.rule_loc, net.rule_rank, net.rule_item, net.rule_cat,
        net.lane_transit, net.lane_cpu, net.lane_cps, z,
        items, qty, need, req, DATE_ARRIVAL if pol.date_kind == "arrival" else DATE_SHIP,
        -1 if pol.max_late_days is None else int(pol.max_late_days), nodes, K,
        ctx.rank, ctx.il, ctx.transit, start, ctx.last, ctx.early, ctx.early_any, ctx.avail, ctx.cost,
    )
    if ctx.rows is not None:
        ctx.il = np.where(ctx.il >= 0, sub[np.maximum(ctx.il, 0)], -1)
        ctx.rows = {il: cum[j] for j, il, _item, _loc in pooled}
    ctx.start = start
    ctx.dup = len(seen) < L
    return ctx


def _class_rows(snap: Snapshot, state: State, demand_class: str | None, net: Network, items: np.ndarray,
                nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, int, str, str], ...]] | None:
    """The availability rows of this order's candidate item-locations as the engine sees them
    for `demand_class`, or None when no candidate has quotas (the fast path: plain ATP on
    `state.cum`, nothing copied).

    Returns (sub, rows, pooled): the sorted item-locations of every (line item, zone node) pair the
    snapshot stocks, one row per item-location: the class's availability curve
    (`allocation.class_availability`, non-decreasing, so the ATP kernels' suffix minima read it
    unchanged) where the item-location has quota pools, else the cumulative ATP position; and
    (row, item-location, item, location) of those with quota pools."""
    model = allocation.model_for(snap)
    if model.n_pools == 0 or len(nodes) == 0:
        return None
    found = _candidate_ils(snap, net, model, items, nodes)
    if found is None:
        return None
    sub, pooled = found
    rows = state.cum[sub]  # fancy indexing: a copy
    curves = allocation.class_curves(snap, state, [il for _j, il, _item, _loc in pooled], demand_class)
    for (j, _il, _item, _loc), curve in zip(pooled, curves, strict=True):
        np.copyto(rows[j], curve, where=~np.isinf(curve))
    return sub, rows, pooled


def _candidate_ils(snap: Snapshot, net: Network, model, items: np.ndarray, nodes: np.ndarray
                   ) -> tuple[np.ndarray, tuple[tuple[int, int, str, str], ...]] | None:
    """The sorted item-locations of every (line item, zone node) pair the snapshot stocks and, of those with quota
    pools, (row, item-location, item, location); None when none has quotas. It depends on the snapshot alone, so it
    is kept per (items, nodes) on the network (bounded)."""
    cache = net.__dict__.setdefault("_candidate_ils", {})
    key = (items.tobytes(), nodes.tobytes())
    hit = cache.get(key, False)
    if hit is not False:
        return hit
    keys = (np.unique(items)[:, None] * np.int64(net.n_locations) + nodes[None, :]).ravel()
    pos = np.searchsorted(net.il_keys, keys)
    ok = pos < len(net.il_keys)
    ok[ok] = net.il_keys[pos[ok]] == keys[ok]
    sub = np.unique(pos[ok]).astype(np.int64)
    ptr = model.pool_ptr
    pooled = ptr[sub + 1] > ptr[sub]
    out = None
    if pooled.any():
        out = (sub, tuple((int(j), int(sub[j]), *snap.il_name(int(sub[j]))) for j in np.flatnonzero(pooled)))
    if len(cache) > 100_000:
        cache.clear()
    cache[key] = out
    return out


def candidates(snap: Snapshot, state: State, request: SourcingRequest) -> list[list[Alternative]]:
    """Every candidate node for every line of the order, with ship date, arrival date and landed cost."""
    ctx = _evaluate(snap, state, request)
    return [list(ctx.alternatives(i, set())) for i in range(len(request.lines))]


def source_order(snap: Snapshot, state: State, request: SourcingRequest, *, commit: bool = False,
                 draws: bool = True) -> SourcingAnswer:
    """Choose the nodes for one order under its policy; with `commit`, reserve the legs in `state`.
    `draws=False` (a caller that reads only the legs, without `commit`): the answer's pooled ``draws`` are not
    worked out (None)."""
    ctx = _evaluate(snap, state, request)
    pol = request.policy
    lines = request.lines
    L = len(lines)
    K = ctx.K
    net = ctx.net
    z = ctx.zone
    nodes = ctx.nodes

    # units: ship sets are one unit; arrival set (at most one per order)
    unit_of: dict = {}
    units: list[list[int]] = []
    for i, ln in enumerate(lines):
        if ln.ship_set is None:
            units.append([i])
        else:
            u = unit_of.get(ln.ship_set)
            if u is None:
                unit_of[ln.ship_set] = len(units)
                units.append([i])
            else:
                units[u].append(i)
    asets = {ln.arrival_set for ln in lines if ln.arrival_set is not None}
    if len(asets) > 1:
        raise ValidationError("at most one arrival set per order", field="lines.arrival_set", value=sorted(asets))
    aset = np.array([ln.arrival_set is not None for ln in lines], dtype=np.bool_)

    unit_node = np.full(len(units), -1, dtype=np.int64)
    unit_date = np.full(len(units), -1, dtype=np.int64)
    max_ship = len(units) if pol.max_splits is None else min(len(units), pol.max_splits + 1)
    if K and len(units) <= MAX_UNITS:
        unit_ptr = np.zeros(len(units) + 1, dtype=np.int64)
        unit_ptr[1:] = np.cumsum([len(u) for u in units])
        unit_lines = np.array([i for u in units for i in u], dtype=np.int64)
        transit = net.lane_transit[z, nodes]
        cpu = net.lane_cpu[z, nodes]
        cps = net.lane_cps[z, nodes]
        ncal = net.loc_cal[nodes]
        dk = DATE_ARRIVAL if pol.date_kind == "arrival" else DATE_SHIP
        obj = int(pol.objective)
        if aset.any():
            ii, kk = np.nonzero((ctx.early[:, :K] >= 0) & aset[:, None])
            targets = np.unique(ctx.early[ii, kk] + transit[kk])[:32]
        else:
            targets = np.array([-1])
        best = None
        for t in targets:
            un = np.empty(len(units), dtype=np.int64)
            ud = np.empty(len(units), dtype=np.int64)
            sc = np.empty(3)
            served = sk.order_dp_nb(unit_ptr, unit_lines, ctx.qty, ctx.req, aset, dk, obj, max_ship, int(t),
                                    ctx.early, ctx.last, transit, cpu, cps, ncal, ctx.snap.calendar_open, K, un, ud, sc)
            key = (-served, sc[0], sc[1], sc[2])
            if best is None or key < best[0]:
                best = (key, un, ud)
        unit_node, unit_date = best[1], best[2]
    elif K:  # many units: each unit on its own, best node by the objective (no consolidation search)
        unit_node, unit_date = _independent(ctx, units, aset)

    if ctx.dup:
        _drop_conflicts(ctx, state, units, unit_node, unit_date)

    # read back: legs per line, shipments
    snap = ctx.snap
    as_of = snap.as_of
    loc_ids = snap.location_ids
    legs: list[list[Leg]] = [[] for _ in range(L)]
    ship_groups: dict[tuple[int, int], list[int]] = {}
    for u, members in enumerate(units):
        k = int(unit_node[u])
        if k < 0:
            continue
        d = int(unit_date[u])
        tr = int(net.lane_transit[z, nodes[k]])
        for i in members:
            legs[i].append(Leg(loc_ids[nodes[k]], float(ctx.qty[i]), as_of + dt.timedelta(days=d),
                               as_of + dt.timedelta(days=d + tr), float(ctx.qty[i] * net.lane_cpu[z, nodes[k]]), int(ctx.rank[i, k])))
            ship_groups.setdefault((k, d), []).append(i)
    # partial promises across nodes for single lines that no node serves whole
    if pol.allow_partial and K:
        budget = max_ship - len(ship_groups) if pol.max_splits is not None else 10 ** 6
        for u, members in enumerate(units):
            if unit_node[u] >= 0 or len(members) != 1 or aset[members[0]]:
                continue
            i = members[0]
            budget = _split_line(ctx, state, i, legs, ship_groups, budget)
    # statuses
    out_lines = []
    for i, ln in enumerate(lines):
        got = sum(g.qty for g in legs[i])
        if got >= ctx.qty[i] - EPS:
            late = any(_late_days(ctx, i, g) > 0 for g in legs[i])
            status = Status.LATE if late else Status.FULL
            reason = Reason.SUPPLY if late else Reason.NONE
        else:
            status = Status.PARTIAL if got > EPS else Status.SHORT
            reason = _short_reason(ctx, i, pol, max_ship, len(ship_groups))
        out_lines.append(LineSourcing(ln.line, ln.item, float(ctx.qty[i]), ln.requested_date, status, reason, tuple(legs[i]), ctx, i))
    shipments = []
    total = 0.0
    for (k, d), members in sorted(ship_groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        loc = nodes[k]
        q = 0.0
        c = float(net.lane_cps[z, loc])
        for i in members:
            for g in legs[i]:
                if g.node == loc_ids[loc] and (g.ship_date - as_of).days == d:
                    q += g.qty
                    c += g.cost
        tr = int(net.lane_transit[z, loc])
        shipments.append(Shipment(loc_ids[loc], as_of + dt.timedelta(days=d), as_of + dt.timedelta(days=d + tr),
                                  tuple(lines[i].line for i in dict.fromkeys(members)), q, c))
        total += c
    price, icost = snap.item_price, snap.item_cost
    margin = -total
    for ln in out_lines:
        ic = snap.item_index[ln.item]
        margin += ln.promised_qty * (price[ic] - icost[ic])
    answer = SourcingAnswer(request, tuple(out_lines), tuple(shipments), total, margin)
    if ctx.rows and (draws or commit):
        answer = dataclasses.replace(answer, draws=_pooled_draws(ctx, state, answer, commit=commit))
        return dataclasses.replace(answer, committed=True) if commit and shipments else answer
    if commit and shipments:
        reserve(snap, state, answer.reservation)
        answer = dataclasses.replace(answer, committed=True)
    return answer


def line_node(snap: Snapshot, state: State, request: SourcingRequest) -> tuple[str | None, _Ctx]:
    """The node `source_order` gives a one-line request shipped whole (``policy.max_splits`` 0, no ship or arrival
    set): the node of the line's largest leg, or None when it gives the line no leg; and the evaluation (its
    candidates, for the caller's fallback). The same evaluation and choice as `source_order` (``order_dp_nb``
    over the one unit, then `_split_line` when no node has the whole quantity in time), without building an answer.

    Raises what `source_order` raises (ValidationError for a bad line, NotFoundError for a zone the network does not
    know) and ValidationError for a request it does not cover."""
    pol = request.policy
    if len(request.lines) != 1 or pol.max_splits != 0 or request.lines[0].ship_set is not None \
            or request.lines[0].arrival_set is not None:
        raise ValidationError("one line shipped whole (max_splits 0, no ship or arrival set)", field="request",
                              value=len(request.lines), hint="use source_order")
    ctx = _evaluate(snap, state, request)
    K = ctx.K
    if not K:
        return None, ctx
    transit, cpu, cps, ncal = _zone_lanes(ctx.net, ctx.zone, ctx.nodes)
    un, ud, sc = np.empty(1, dtype=np.int64), np.empty(1, dtype=np.int64), np.empty(3)
    # the arguments source_order passes for one unit of one line (max_ship 1, no arrival set: target -1)
    sk.order_dp_nb(_ONE_PTR, _ONE_LINE, ctx.qty, ctx.req, _NO_ASET, DATE_ARRIVAL if pol.date_kind == "arrival" else DATE_SHIP,
                   int(pol.objective), 1, -1, ctx.early, ctx.last, transit, cpu, cps, ncal, snap.calendar_open, K, un, ud, sc)
    k = int(un[0])
    if k >= 0:
        return snap.location_ids[ctx.nodes[k]], ctx
    if pol.allow_partial:
        legs: list[list[Leg]] = [[]]
        _split_line(ctx, state, 0, legs, {}, 1)
        if legs[0]:
            return max(legs[0], key=lambda g: g.qty).node, ctx
    return None, ctx


_ONE_PTR = np.array([0, 1], dtype=np.int64)
_ONE_LINE = np.zeros(1, dtype=np.int64)
_NO_ASET = np.zeros(1, dtype=np.bool_)


def _zone_lanes(net: Network, z: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transit, cost per unit, cost per shipment and calendar of the zone's candidate nodes (in `nodes` order), as
    `source_order` gathers them; they depend on the network alone, so they are kept per zone on it."""
    cache = net.__dict__.setdefault("_zone_lanes", {})
    got = cache.get(z)
    if got is None:
        got = cache[z] = (net.lane_transit[z, nodes], net.lane_cpu[z, nodes], net.lane_cps[z, nodes], net.loc_cal[nodes])
    return got


_EXACT = Policy(allow_partial=False, allow_split=False, max_late_days=0)


def _pooled_draws(ctx: _Ctx, state: State, answer: SourcingAnswer, *, commit: bool) -> tuple[Draw, ...]:
    """The draws of the legs, split into the quota pools they consume as the engine would: each
    leg at an item-location with quotas goes through `allocation.class_path` for exactly its
    quantity on its ship date (with `commit`, reserved at once, so a later leg of the same
    item-location sees it); other legs are plain draws. A leg the class path cannot give whole
    on its day (two legs of one item-location checked together are an approximation) is kept as
    a draw of the class charged to its own pool, as a replayed commitment is."""
    snap = ctx.snap
    dc = answer.request.demand_class
    out: list[Draw] = []
    for ln in answer.lines:
        for g in ln.legs:
            plain = Draw("atp", ln.item, g.node, g.ship_date, g.qty, dc)
            il = snap.il_index.get((snap.item_index[ln.item], snap.location_index[g.node]), -1)
            drawn: tuple[Draw, ...] = (plain,)
            if il in ctx.rows:
                p = allocation.class_path(snap, state, Request(ln.item, g.node, g.qty, g.ship_date, _EXACT, dc),
                                          commit=False, explain=False)
                if (p is not None and p.draws and abs(p.promised_qty - g.qty) <= 1e-7
                        and p.lines[0].date == g.ship_date):
                    drawn = p.draws
            if commit:
                reserve(snap, state, Reservation(drawn))
            out.extend(drawn)
    return tuple(out)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
def _late_days(ctx: _Ctx, i: int, leg: Leg) -> int:
    as_of = ctx.snap.as_of
    due = (leg.arrival_date - as_of).days if ctx.policy.date_kind == "arrival" else (leg.ship_date - as_of).days
    return max(0, due - int(ctx.req[i]))


def _short_reason(ctx: _Ctx, i: int, pol: SourcingPolicy, max_ship: int, used: int) -> Reason:
    K = ctx.K
    cand = ctx.rank[i, :K] >= 0
    stocked = cand & (ctx.il[i, :K] >= 0)
    if not stocked.any():
        return Reason.NO_SOURCE
    if (ctx.early[i, :K] >= 0).any():
        return Reason.SPLIT_LIMIT  # a node has it whole, but the shipment limit or a set rule binds
    if (ctx.early_any[i, :K] >= 0).any():
        return Reason.MAX_LATENESS
    if (ctx.avail[i, :K] > EPS).any():
        return Reason.SUPPLY
    return Reason.HORIZON


def _drop_conflicts(ctx: _Ctx, state: State, units: list[list[int]], unit_node: np.ndarray, unit_date: np.ndarray) -> None:
    """Lines of one item chosen at one node must fit together: for legs sorted by date,
    A(d_j) >= the quantity of legs up to j.  Units that break it are left to the split path."""
    by_il: dict[int, list[tuple[int, int, int]]] = {}
    for u, members in enumerate(units):
        k = int(unit_node[u])
        if k < 0:
            continue
        for i in members:
            by_il.setdefault(int(ctx.il[i, k]), []).append((int(unit_date[u]), u, i))
    snap = ctx.snap
    for il, legs in by_il.items():
        if len(legs) < 2:
            continue
        legs.sort()
        total = 0.0
        for d, u, i in legs:
            if unit_node[u] < 0:
                continue
            total += float(ctx.qty[i])
            if pk.available_at_1d_nb(ctx.cum(state, il), snap.il_lead_time[il], d) < total - EPS:
                unit_node[u] = -1
                unit_date[u] = -1
                total -= float(ctx.qty[i])


def _split_line(ctx: _Ctx, state: State, i: int, legs: list[list[Leg]], ship_groups: dict, budget: int) -> int:
    """Serve line i from one node or several, best piece first by the objective, each piece at
    its earliest ship date inside the window; new shipments count against the budget."""
    snap = ctx.snap
    net = ctx.net
    z = ctx.zone
    as_of = snap.as_of
    obj = ctx.policy.objective
    remaining = float(ctx.qty[i])
    left = [k for k in range(ctx.K) if ctx.rank[i, k] >= 0 and ctx.il[i, k] >= 0 and ctx.avail[i, k] > EPS]
    memo: dict[tuple[int, float], int] = {}  # (node, piece + offset) -> earliest ship bucket
    while remaining > EPS and left:
        best = None
        for k in left:
            il = int(ctx.il[i, k])
            loc = int(ctx.nodes[k])
            offset = _offset(ctx, i, k, legs)
            piece = min(remaining, float(ctx.avail[i, k]) - offset)
            if piece <= EPS:
                continue
            c = int(net.loc_cal[loc])
            cal = snap.calendar_open[c] if c >= 0 else _NO_CAL
            e = memo.get((k, piece + offset))
            if e is None:
                e = int(pk.earliest_1d_nb(ctx.cum(state, il), snap.il_lead_time[il], cal, piece + offset, int(ctx.start[i, k])))
                memo[k, piece + offset] = e
            if e < 0 or e > ctx.last[i, k] or (budget <= 0 and (k, e) not in ship_groups):
                continue
            tr = int(net.lane_transit[z, loc])
            due = e + tr if ctx.policy.date_kind == "arrival" else e
            late = max(0, due - int(ctx.req[i]))
            whole = piece >= remaining - EPS
            cpu = float(net.lane_cpu[z, loc])
            if obj is Objective.EARLIEST:
                key = (not whole, e + tr, late, cpu)
            elif obj is Objective.FEWEST:
                key = (not whole, -piece, late, cpu)
            elif obj is Objective.CHEAPEST:
                key = (not whole, late, cpu)
            else:
                key = (not whole, cpu, late)
            if best is None or key < best[0]:
                best = (key, k, piece, e, tr)
        if best is None:
            break
        _, k, piece, e, tr = best
        loc = int(ctx.nodes[k])
        legs[i].append(Leg(snap.location_ids[loc], piece, as_of + dt.timedelta(days=e), as_of + dt.timedelta(days=e + tr),
                           float(piece * net.lane_cpu[z, loc]), int(ctx.rank[i, k])))
        if (k, e) not in ship_groups:
            budget -= 1
        ship_groups.setdefault((k, e), []).append(i)
        remaining -= piece
        left.remove(k)
    return budget


def _offset(ctx: _Ctx, i: int, k: int, legs: list[list[Leg]]) -> float:
    """What other lines of the same item already take at node k (counts against its ATP)."""
    il = ctx.il[i, k]
    node = ctx.snap.location_ids[ctx.nodes[k]]
    return float(sum(g.qty for j in range(len(legs)) if j != i and ctx.il[j, k] == il for g in legs[j] if g.node == node))


def _independent(ctx: _Ctx, units: list[list[int]], aset: np.ndarray):
    """Fallback for orders with many units: each unit takes its best node on its own."""
    K = ctx.K
    obj = ctx.policy.objective
    un = np.full(len(units), -1, dtype=np.int64)
    ud = np.full(len(units), -1, dtype=np.int64)
    for u, members in enumerate(units):
        best = None
        for k in range(K):
            e = ctx.early[members, k]
            if (e < 0).any():
                continue
            d = int(e.max())
            if (d > ctx.last[members, k]).any():
                continue
            arr = d + int(ctx.transit[members[0], k])
            due = arr if ctx.policy.date_kind == "arrival" else d
            late = float(sum(max(0, due - int(ctx.req[i])) for i in members))
            cost = float(ctx.cost[members, k].sum())
            key = {Objective.EARLIEST: (arr, late, cost), Objective.CHEAPEST: (late, cost), Objective.PROFIT: (cost, late)}.get(obj, (late, cost))
            if best is None or key < best[0]:
                best = (key, k, d)
        if best is not None:
            un[u], ud[u] = best[1], best[2]
    return un, ud
