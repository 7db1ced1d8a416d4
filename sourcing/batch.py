"""Batch sourcing optimizer: many orders at once with CP-SAT (backlog, what-if, multi-line orders).

Business rules, in the order the model states them:

- every *unit* (an order line, or the lines of a ship set, which ship together from one node
  on one date) takes exactly one option: a candidate node at the earliest ship date where
  the whole quantity is available now, or "unserved";
- availability per item-location-day: for every item-location, what the options take up to
  each bucket stays within the cumulative position there (backward consumption, the ATP
  kernels' semantics; lead-time items are unlimited from their lead time on);
- allocation quotas: a line with a demand class takes no more than its class may take at
  that item-location (the allocation package's class availability), where quotas exist;
- node daily capacity (units shipped per node and day), when configured;
- at most ``max_splits + 1`` nodes per order, when configured.

Objective (one weighted sum, weights in :class:`BatchConfig`): unserved quantity weighted by
demand class (priority 1 weighs most: higher classes are served first), then days late x
quantity, shipping cost (per unit, and per shipment = order x node), and splits.

The regret-greedy answer (classes first, then requested date) is the CP-SAT hint and the
fallback.  Big batches solve the LP relaxation first (HiGHS; options that cannot fit their
pools whole are left out, which tightens it): its value is the bound, its rounding repaired by
ejection chains is the hint when better than the greedy, and CP-SAT improves it by LNS only
(both workers).  Objective and bound are always reported; when ``allow_unserved=False`` makes the
model infeasible, the rules that conflict are named (assumption literals).

`candidates` is the first step of `build_problem` (units, options and the item-locations they
draw on); `sourcing.partitioned` uses it to cut a batch into independent clusters of orders,
solved apart (in-process or on Ray) and merged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Mapping

import numpy as np
import polars as pl

import allocation
from promessa.config import EPS
from promessa.errors import InfeasibleError, ValidationError
from sourcing import kernels as sk
from sourcing.enums import DATE_ARRIVAL, DATE_SHIP
from sourcing.network import network_for
from sourcing.optimize import AssignmentInstance, AssignmentModel
from sourcing.realtime import _zone_nodes
from supplydata.snapshot import Snapshot, State

__all__ = ["BatchConfig", "BatchSolution", "BatchProblem", "build_problem", "greedy", "solve_batch"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchConfig:
    """How the batch is solved (time limit, workers, weights, optional rules)."""

    time_limit_s: float = 30.0
    workers: int = 2
    hint: bool = True                      # give CP-SAT the greedy answer
    date_kind: str = "arrival"             # requested dates are arrival (default) or ship dates
    max_options: int = 4                   # best candidate nodes kept per unit (plus "unserved")
    max_late_days: int | None = None       # options later than requested + this are not offered
    max_splits: int | None = None          # most extra nodes per order; None = no limit
    node_capacity: Mapping[str, float] | None = None  # units per day per node ("*" = every node)
    use_allocation: bool = True            # respect demand-class quotas where they exist
    allow_unserved: bool = True            # False: every unit must be served (may be infeasible)
    unserved_weight: float = 1000.0        # per unit for the lowest class; x2 per priority step up
    late_weight: float = 1.0               # per unit and day late
    split_weight: float = 5.0              # per extra node used by an order
    cost_scale: float = 100.0              # money to integer (cents)
    lp_bound: bool = True                  # big batches: bound from the LP relaxation (GLOP) too
    seed: int = 0
    log: bool = False

    def __post_init__(self) -> None:
        if self.date_kind not in ("arrival", "ship"):
            raise ValidationError("must be 'arrival' or 'ship'", field="date_kind", value=self.date_kind)
        if self.max_options < 1:
            raise ValidationError("must be >= 1", field="max_options", value=self.max_options)


@dataclasses.dataclass(frozen=True, eq=False)
class BatchProblem:
    """The model's data: units, options and the pools they draw on (flat arrays), and the same
    as the shared optimization instance (`instance`: units are its orders) that CP-SAT solves."""

    snap: Snapshot
    lines: pl.DataFrame            # input rows with a `unit` column
    n_units: int
    unit_order: np.ndarray         # int64[U] order index
    unit_qty: np.ndarray           # float64[U] total quantity
    unit_weight: np.ndarray        # float64[U] unserved penalty per unit of quantity
    unit_lines: list[np.ndarray]   # line row indices per unit
    order_ids: tuple[str, ...]
    order_zone: np.ndarray         # int64[n_orders]
    opt_unit: np.ndarray           # int64[K]
    opt_node: np.ndarray           # int64[K] location code
    opt_bucket: np.ndarray         # int64[K] ship bucket
    opt_transit: np.ndarray        # int64[K]
    opt_late: np.ndarray           # float64[K] days late (per line, summed x qty below)
    opt_cost: np.ndarray           # float64[K] objective cost of the option (late + per-unit shipping)
    opt_ship: np.ndarray           # float64[K] shipping cost per unit part (qty x cost per unit)
    cps: np.ndarray                # float64[n_zones, n_locations] cost per shipment of each lane
    use_ptr: np.ndarray            # int64[K + 1] CSR of pools per option
    use_pool: np.ndarray           # int64
    use_amt: np.ndarray            # float64
    pool_cap: np.ndarray           # float64[P]
    pool_name: object              # business rule of each pool (indexable, built lazily)
    config: BatchConfig
    # compact form of the availability pools (the first n_avail pools): increments over the
    # previous pool of the same item-location
    n_avail: int = 0
    avail_prev: np.ndarray | None = None
    inc_opt: np.ndarray | None = None
    inc_pool: np.ndarray | None = None
    inc_amt: np.ndarray | None = None
    instance: AssignmentInstance | None = None

    @property
    def n_options(self) -> int:
        return int(self.opt_unit.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class BatchSolution:
    status: str                    # optimal | feasible | greedy / lp-round (the hint stood: solver found nothing better) | unknown
    objective: float
    bound: float
    greedy_objective: float
    choice: np.ndarray             # int64[U] option per unit, -1 = unserved
    assignments: pl.DataFrame      # one row per line
    solve_time_s: float
    wall_time_s: float
    problem: BatchProblem = dataclasses.field(repr=False)
    bound_source: str = "cp-sat"   # which bound is reported: cp-sat, lp (GLOP relaxation) or no-pools

    @property
    def gap(self) -> float:
        if math.isnan(self.objective):
            return math.inf
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))

    def to_dict(self) -> dict:
        return {
            "status": self.status, "objective": self.objective, "bound": self.bound, "gap": self.gap,
            "bound_source": self.bound_source, "greedy_objective": self.greedy_objective, "solve_time_s": self.solve_time_s, "wall_time_s": self.wall_time_s,
            "units": self.problem.n_units, "options": self.problem.n_options,
            "served_units": int((self.choice >= 0).sum()),
        }


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def candidates(snap: Snapshot, state: State, orders: pl.DataFrame, cfg: BatchConfig) -> _Candidates:
    """The orders' units and candidate options, and the (option, line, item-location) triples
    they draw on: the first step of `build_problem`, and all that partitioning needs (an order's
    options depend on it and the positions only, never on the other orders)."""
    for c in ("order", "line", "item", "qty", "requested_date", "zone"):
        if c not in orders.columns:
            raise ValidationError("required column missing", field=c, value=None)
    net = network_for(snap)
    df = orders.with_row_index("_row")
    if "ship_set" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("ship_set"))
    if "demand_class" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("demand_class"))
    n = df.height
    order_codes, order_ids = _codes(df["order"])
    order_zone_names = df.group_by("order", maintain_order=True).agg(pl.col("zone").first())
    zmap = dict(zip(order_zone_names["order"].to_list(), order_zone_names["zone"].to_list()))
    order_zone = np.array([net.zone_code(zmap[o]) for o in order_ids], dtype=np.int64)
    item = df["item"].replace_strict(snap.item_index, default=-1, return_dtype=pl.Int64).to_numpy()
    if (item < 0).any():
        i = int(np.flatnonzero(item < 0)[0])
        raise ValidationError(f"unknown item in row {i + 1}", field="item", value=df["item"][i])
    qty = df["qty"].cast(pl.Float64).to_numpy()
    rd = df["requested_date"]
    if rd.dtype == pl.String:
        rd = rd.str.to_date("%Y-%m-%d")
    req = np.maximum(rd.cast(pl.Int32).to_numpy().astype(np.int64) - (snap.as_of - dt.date(1970, 1, 1)).days, 0)
    if (req >= snap.horizon).any():
        i = int(np.flatnonzero(req >= snap.horizon)[0])
        raise ValidationError(f"date outside the horizon (row {i + 1})", field="requested_date", value=str(rd[i]))
    classes = df["demand_class"].to_list()
    prio = _class_priority(snap)
    max_p = max(prio.values(), default=1)

    # units: ship sets (order, ship_set) are one unit
    ss = df["ship_set"].to_list()
    unit_key: dict = {}
    unit_of_line = np.empty(n, dtype=np.int64)
    for r in range(n):
        key = (order_codes[r], ss[r]) if ss[r] is not None else (order_codes[r], None, r)
        u = unit_key.get(key)
        if u is None:
            u = len(unit_key)
            unit_key[key] = u
        unit_of_line[r] = u
    U = len(unit_key)
    order_of_unit = np.empty(U, dtype=np.int64)
    order_of_unit[unit_of_line] = order_codes
    unit_lines = [np.empty(0, np.int64)] * U
    srt = np.argsort(unit_of_line, kind="stable")
    bounds = np.searchsorted(unit_of_line[srt], np.arange(U + 1))
    unit_lines = [srt[bounds[u]:bounds[u + 1]] for u in range(U)]
    unit_qty = np.bincount(unit_of_line, weights=qty, minlength=U)
    line_w = np.array([cfg.unserved_weight * 2.0 ** (max_p - prio.get(c, max_p)) for c in classes]) if n else np.zeros(0)
    unit_weight = np.bincount(unit_of_line, weights=line_w * qty, minlength=U) / np.maximum(unit_qty, EPS)

    # candidate options of every unit: one kernel call over all orders (ATP kernels inside)
    dk = DATE_ARRIVAL if cfg.date_kind == "arrival" else DATE_SHIP
    ml = -1 if cfg.max_late_days is None else int(cfg.max_late_days)
    perm = np.lexsort((unit_of_line, order_codes))  # lines by order, then unit
    ord_ptr = np.searchsorted(order_codes[perm], np.arange(len(order_ids) + 1)).astype(np.int64)
    zn = [_zone_nodes(net, z) for z in range(net.n_zones)]
    zn_ptr = np.zeros(net.n_zones + 1, dtype=np.int64)
    zn_ptr[1:] = np.cumsum([len(x) for x in zn])
    zn_node = np.concatenate(zn).astype(np.int64) if zn else np.empty(0, np.int64)
    cap_opts = max(1, U * cfg.max_options)
    o_unit = np.empty(cap_opts, np.int64); o_node = np.empty(cap_opts, np.int64); o_bucket = np.empty(cap_opts, np.int64)
    o_transit = np.empty(cap_opts, np.int64); o_late = np.empty(cap_opts); o_ship = np.empty(cap_opts); o_score = np.empty(cap_opts)
    ol_ptr = np.zeros(cap_opts + 1, np.int64)
    ol_il = np.empty(max(1, n * cfg.max_options), np.int64)
    ol_line = np.empty(max(1, n * cfg.max_options), np.int64)
    K, npair = sk.batch_options_nb(
        state.cum, snap.il_lead_time, snap.calendar_open, net.loc_cal, net.il_keys, net.n_locations, net.item_cat,
        net.rule_ptr, net.rule_loc, net.rule_rank, net.rule_item, net.rule_cat, net.lane_transit, net.lane_cpu, net.lane_cps,
        zn_ptr, zn_node, ord_ptr, order_zone, item[perm], qty[perm], req[perm], unit_of_line[perm],
        dk, ml, float(cfg.late_weight), int(cfg.max_options),
        o_unit, o_node, o_bucket, o_transit, o_late, o_ship, o_score, ol_ptr, ol_il, ol_line)
    opt_unit_a, opt_node_a, opt_bucket_a = o_unit[:K].copy(), o_node[:K].copy(), o_bucket[:K].copy()
    opt_late_a, opt_ship_a = o_late[:K].copy(), o_ship[:K].copy()
    ol_ptr = ol_ptr[:K + 1]
    e_il = ol_il[:npair]
    e_line = perm[ol_line[:npair]]  # back to input rows
    e_opt = np.repeat(np.arange(K, dtype=np.int64), np.diff(ol_ptr))
    e_bucket = opt_bucket_a[e_opt]
    e_qty = qty[e_line]

    return _Candidates(net=net, df=df, n=n, order_codes=order_codes, order_ids=order_ids, order_zone=order_zone,
                       qty=qty, classes=classes, unit_of_line=unit_of_line, U=U, order_of_unit=order_of_unit,
                       unit_lines=unit_lines, unit_qty=unit_qty, unit_weight=unit_weight, K=K,
                       opt_unit=opt_unit_a, opt_node=opt_node_a, opt_bucket=opt_bucket_a, opt_late=opt_late_a,
                       opt_ship=opt_ship_a, opt_transit=o_transit[:K].copy(), e_il=e_il, e_line=e_line, e_opt=e_opt,
                       e_bucket=e_bucket, e_qty=e_qty)


@dataclasses.dataclass(frozen=True, eq=False)
class _Candidates:
    """Units and options of a batch before its pools (`candidates`)."""

    net: object
    df: pl.DataFrame
    n: int
    order_codes: np.ndarray
    order_ids: tuple[str, ...]
    order_zone: np.ndarray
    qty: np.ndarray
    classes: list
    unit_of_line: np.ndarray
    U: int
    order_of_unit: np.ndarray
    unit_lines: list[np.ndarray]
    unit_qty: np.ndarray
    unit_weight: np.ndarray
    K: int
    opt_unit: np.ndarray
    opt_node: np.ndarray
    opt_bucket: np.ndarray
    opt_late: np.ndarray
    opt_ship: np.ndarray
    opt_transit: np.ndarray
    e_il: np.ndarray      # per (option, line) pair: the item-location drawn on
    e_line: np.ndarray    # the input row
    e_opt: np.ndarray     # the option
    e_bucket: np.ndarray  # the option's ship bucket
    e_qty: np.ndarray     # the line's quantity


def build_problem(snap: Snapshot, state: State, orders: pl.DataFrame, config: BatchConfig | None = None) -> BatchProblem:
    """Units, options and pools for the orders (columns: order, line, item, qty, requested_date,
    zone; optional demand_class, ship_set)."""
    cfg = config or BatchConfig()
    c = candidates(snap, state, orders, cfg)
    net, df, classes, U, unit_of_line, unit_lines = c.net, c.df, c.classes, c.U, c.unit_of_line, c.unit_lines
    order_ids, order_zone, order_of_unit, unit_qty, unit_weight, K = (c.order_ids, c.order_zone, c.order_of_unit,
                                                                      c.unit_qty, c.unit_weight, c.K)
    opt_unit_a, opt_node_a, opt_bucket_a, opt_late_a, opt_ship_a = c.opt_unit, c.opt_node, c.opt_bucket, c.opt_late, c.opt_ship
    e_il, e_line, e_opt, e_bucket, e_qty = c.e_il, c.e_line, c.e_opt, c.e_bucket, c.e_qty
    H = snap.horizon
    # pools: availability per item-location (prefix up to each option bucket), quotas, node capacity
    srt = np.lexsort((e_bucket, e_il))
    args = (state.cum, snap.il_lead_time, e_il[srt], e_bucket[srt], e_qty[srt], e_opt[srt])
    e0 = np.empty(0)
    i0 = np.empty(0, np.int64)
    P, NU, NI = sk.availability_pools_nb(*args, True, e0, i0, i0, i0, i0, i0, e0, i0, i0, e0)
    a_cap = np.empty(P); a_il = np.empty(P, np.int64); a_b = np.empty(P, np.int64); a_prev = np.empty(P, np.int64)
    u_opt = np.empty(NU, np.int64); u_pool = np.empty(NU, np.int64); u_amt = np.empty(NU)
    i_opt = np.empty(NI, np.int64); i_pool = np.empty(NI, np.int64); i_amt = np.empty(NI)
    sk.availability_pools_nb(*args, False, a_cap, a_il, a_b, a_prev, u_opt, u_pool, u_amt, i_opt, i_pool, i_amt)
    pool_cap: list[float] = a_cap.tolist()
    pool_name = _LazyNames(snap, a_il, a_b, a_cap)
    extra: list[tuple[int, int, float]] = []
    if cfg.use_allocation and snap.tables["allocation"].height:
        _quota_pools(snap, state, e_il, e_bucket, e_opt, e_qty, e_line, classes, extra, pool_cap, pool_name)
    if cfg.node_capacity:
        caps = dict(cfg.node_capacity)
        default = caps.pop("*", None)
        key = opt_node_a * H + opt_bucket_a
        uk, inv = np.unique(key, return_inverse=True)
        amt = unit_qty[opt_unit_a]
        tot = np.bincount(inv, weights=amt, minlength=len(uk))
        for g in range(len(uk)):
            loc, b = divmod(int(uk[g]), H)
            cap = caps.get(snap.location_ids[loc], default)
            if cap is None or tot[g] <= cap + EPS:
                continue
            p = len(pool_cap)
            pool_cap.append(float(cap))
            pool_name.append(f"daily capacity of {snap.location_ids[loc]} on {snap.date(b)} ({cap:g})")
            for kk in np.flatnonzero(inv == g):
                extra.append((int(kk), p, float(amt[kk])))
    if extra:
        ex = np.array(extra, dtype=np.float64)
        u_opt = np.concatenate([u_opt, ex[:, 0].astype(np.int64)])
        u_pool = np.concatenate([u_pool, ex[:, 1].astype(np.int64)])
        u_amt = np.concatenate([u_amt, ex[:, 2]])
    Pn = max(1, len(pool_cap))
    key, inv = np.unique(u_opt * Pn + u_pool, return_inverse=True)  # one entry per (option, pool)
    amt_sum = np.bincount(inv.ravel(), weights=u_amt, minlength=len(key))
    k_opt, use_pool, use_amt = key // Pn, key % Pn, amt_sum
    use_ptr = np.searchsorted(k_opt, np.arange(K + 1)).astype(np.int64)
    opt_cost = opt_late_a * cfg.late_weight + opt_ship_a
    inst = _instance(snap, cfg, order_ids, order_zone, order_of_unit, unit_qty, unit_weight, opt_unit_a, opt_node_a,
                     opt_bucket_a, opt_cost, net.lane_cps, use_ptr, use_pool, use_amt, pool_cap, pool_name, a_prev, i_opt,
                     i_pool, i_amt)
    return BatchProblem(
        snap=snap, lines=df.with_columns(pl.Series("unit", unit_of_line)), n_units=U, unit_order=order_of_unit,
        unit_qty=unit_qty, unit_weight=unit_weight, unit_lines=unit_lines, order_ids=order_ids, order_zone=order_zone,
        opt_unit=opt_unit_a, opt_node=opt_node_a, opt_bucket=opt_bucket_a, opt_transit=c.opt_transit,
        opt_late=opt_late_a, opt_cost=opt_cost, opt_ship=opt_ship_a, cps=net.lane_cps,
        use_ptr=use_ptr, use_pool=use_pool, use_amt=use_amt, pool_cap=np.array(pool_cap, dtype=np.float64),
        pool_name=pool_name, config=cfg, n_avail=P, avail_prev=a_prev, inc_opt=i_opt, inc_pool=i_pool, inc_amt=i_amt,
        instance=inst,
    )


def _instance(snap, cfg, order_ids, order_zone, unit_order, unit_qty, unit_weight, opt_unit, opt_node, opt_bucket, opt_cost,
              cps, use_ptr, use_pool, use_amt, pool_cap, pool_name, a_prev, i_opt, i_pool, i_amt) -> AssignmentInstance:
    """The batch as the shared optimization instance: units are its orders; an option's cost holds
    lateness and shipping per unit (and the shipment when its order has one unit); orders of
    several units pay each (order, node) shipment once, and splits beyond the first."""
    K = len(opt_unit)
    upo = np.bincount(unit_order, minlength=len(order_ids))
    oo = unit_order[opt_unit]
    multi = upo[oo] > 1
    x_cost = opt_cost + np.where(multi, 0.0, cps[order_zone[oo], opt_node]) if K else opt_cost
    ship_of = np.full(K, -1, dtype=np.int64)
    groups: dict[tuple[int, int], int] = {}
    for k in np.flatnonzero(multi).tolist():  # shipments in order of first use
        ship_of[k] = groups.setdefault((int(oo[k]), int(opt_node[k])), len(groups))
    g_order = np.array([o for o, _ in groups], dtype=np.int64)
    g_node = np.array([n for _, n in groups], dtype=np.int64)
    loc, dates = snap.location_ids, [snap.date(b) for b in range(snap.horizon)]
    unit_keys = [(order_ids[o], u) for u, o in enumerate(unit_order.tolist())]
    return AssignmentInstance(
        n_orders=len(unit_order), option_order=opt_unit, option_cost=x_cost,
        use_option=np.repeat(np.arange(K, dtype=np.int64), np.diff(use_ptr)), use_pool=use_pool, use_amount=use_amt,
        capacity=np.array(pool_cap, dtype=np.float64),
        order_keys=unit_keys,
        option_keys=[(unit_keys[u], loc[n], dates[b]) for u, n, b in zip(opt_unit.tolist(), opt_node.tolist(), opt_bucket.tolist())],
        pool_keys=pool_name, pool_rules=pool_name,
        unserved_cost=unit_weight * unit_qty if cfg.allow_unserved else None,
        shipment_of_option=ship_of, shipment_customer=g_order,
        shipment_cost=cps[order_zone[g_order], g_node] if len(groups) else np.zeros(0),
        shipment_keys=[(order_ids[o], loc[n]) for o, n in groups], customer_keys=order_ids,
        split_cost=float(cfg.split_weight), max_splits=cfg.max_splits,
        chain_prev=a_prev, chain_option=i_opt, chain_pool=i_pool, chain_amount=i_amt,
    )


class _LazyNames:
    """Business names of the pools, built only when asked (error messages, explanations)."""

    def __init__(self, snap, il, b, cap):
        self.snap, self.il, self.b, self.cap = snap, il, b, cap
        self.more: list[str] = []

    def __len__(self) -> int:
        return len(self.il) + len(self.more)

    def append(self, name: str) -> None:
        self.more.append(name)

    def __getitem__(self, p: int) -> str:
        n = len(self.il)
        if p >= n:
            return self.more[p - n]
        item, loc = self.snap.il_name(int(self.il[p]))
        return f"availability of {item} at {loc} up to {self.snap.date(int(self.b[p]))} ({self.cap[p]:g})"


def _codes(s: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    ids = tuple(dict.fromkeys(s.to_list()))
    idx = {k: i for i, k in enumerate(ids)}
    return np.array([idx[v] for v in s.to_list()], dtype=np.int64), ids


def _class_priority(snap: Snapshot) -> dict[str, int]:
    dc = snap.tables["demand_classes"]
    if dc.height == 0:
        return {}
    return dict(zip(dc["demand_class"].to_list(), dc["priority"].to_list()))


def _quota_pools(snap, state, e_il, e_bucket, e_opt, e_qty, e_line, classes, extra, pool_cap, pool_name) -> None:
    """Class availability (allocation package) bounds what each class takes at an item-location."""
    model = allocation.model_for(snap)
    if not model.n_pools:
        return
    has = np.diff(model.pool_ptr)[e_il] > 0
    groups: dict[tuple[int, str], list[tuple[int, int, float]]] = {}
    for j in np.flatnonzero(has):
        c = classes[int(e_line[j])]
        if c is not None:
            groups.setdefault((int(e_il[j]), c), []).append((int(e_bucket[j]), int(e_opt[j]), float(e_qty[j])))
    for (ilc, c), copts in groups.items():
        item, loc = snap.il_name(ilc)
        avail = allocation.class_availability(snap, state, item, loc, c)
        for b in sorted({b for b, _, _ in copts}):
            cap = float(avail[b])
            if not math.isfinite(cap):
                continue
            taking = [(kk, q) for bb, kk, q in copts if bb <= b]
            if sum(q for _, q in taking) <= cap + EPS:
                continue
            p = len(pool_cap)
            pool_cap.append(max(0.0, cap))
            pool_name.append(f"allocation quota of class {c} for {item} at {loc} up to {snap.date(b)} ({cap:g})")
            for kk, q in taking:
                extra.append((kk, p, q))


# ---------------------------------------------------------------------------------------
# Objective evaluation and greedy
# ---------------------------------------------------------------------------------------
def evaluate(prob: BatchProblem, choice: np.ndarray) -> float:
    """Objective of a choice (option per unit, -1 = unserved), in money units; inf if infeasible."""
    cfg = prob.config
    choice = np.asarray(choice, dtype=np.int64)
    use = _pool_use(prob, choice)
    if np.any(use > prob.pool_cap + 1e-6):
        return math.inf
    served = choice >= 0
    if not cfg.allow_unserved and not served.all():
        return math.inf
    total = float((prob.unit_weight * prob.unit_qty)[~served].sum())
    total += float(prob.opt_cost[choice[served]].sum())
    nodes: dict[int, set[int]] = {}
    for u in np.flatnonzero(served):
        nodes.setdefault(int(prob.unit_order[u]), set()).add(int(prob.opt_node[choice[u]]))
    for o, ns in nodes.items():
        if cfg.max_splits is not None and len(ns) > cfg.max_splits + 1:
            return math.inf
        z = int(prob.order_zone[o])
        total += float(sum(prob.cps[z, n] for n in ns)) + cfg.split_weight * (len(ns) - 1)
    return total


def greedy(prob: BatchProblem) -> np.ndarray:
    """Classes first (highest unserved weight), then earliest requested date: each unit takes
    its cheapest option (lateness + shipping, a new node for the order costs its shipment and
    split) that still fits every pool and the split limit."""
    cfg = prob.config
    U = prob.n_units
    left = prob.pool_cap.copy()
    choice = np.full(U, -1, dtype=np.int64)
    opt_sorted = np.argsort(prob.opt_unit, kind="stable")
    o_ptr = np.searchsorted(prob.opt_unit[opt_sorted], np.arange(U + 1))
    first_line = np.array([int(ls[0]) if len(ls) else 0 for ls in prob.unit_lines], dtype=np.int64)
    req = prob.lines["requested_date"].to_numpy()[first_line] if U else np.empty(0)
    order = np.lexsort((np.arange(U), req, -prob.unit_weight)) if U else np.empty(0, np.int64)
    used_nodes: dict[int, set[int]] = {}
    for u in order:
        o = int(prob.unit_order[u])
        z = int(prob.order_zone[o])
        have = used_nodes.setdefault(o, set())
        best = None
        for pos in range(o_ptr[u], o_ptr[u + 1]):
            k = opt_sorted[pos]
            node = int(prob.opt_node[k])
            extra = 0.0
            if node not in have:
                if cfg.max_splits is not None and len(have) >= cfg.max_splits + 1:
                    continue
                extra = prob.cps[z, node] + (cfg.split_weight if have else 0.0)
            s, e = prob.use_ptr[k], prob.use_ptr[k + 1]
            if np.any(prob.use_amt[s:e] > left[prob.use_pool[s:e]] + 1e-6):
                continue
            c = prob.opt_cost[k] + extra
            if best is None or c < best[0]:
                best = (c, k)
        if best is not None:
            k = best[1]
            s, e = prob.use_ptr[k], prob.use_ptr[k + 1]
            left[prob.use_pool[s:e]] -= prob.use_amt[s:e]
            choice[u] = k
            have.add(int(prob.opt_node[k]))
    return choice


def lp_round(prob: BatchProblem, xs: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Round the LP relaxation: units the LP serves whole from one option take it (they fit
    together: the fractional rest only adds to each pool), then the other units, most served
    classes first, then most served by the LP, try their options by LP value, then by cost (as :func:`greedy`)."""
    cfg = prob.config
    U = prob.n_units
    left = prob.pool_cap.copy()
    choice = np.full(U, -1, dtype=np.int64)
    opt_sorted = np.lexsort((prob.opt_cost, -xs, prob.opt_unit))
    o_ptr = np.searchsorted(prob.opt_unit[opt_sorted], np.arange(U + 1))
    used_nodes: dict[int, set[int]] = {}
    pen = prob.unit_weight * prob.unit_qty

    def take(u: int, ks, need_gain: bool) -> None:
        o = int(prob.unit_order[u])
        z = int(prob.order_zone[o])
        have = used_nodes.setdefault(o, set())
        for k in ks:
            node = int(prob.opt_node[k])
            extra = 0.0
            if node not in have:
                if cfg.max_splits is not None and len(have) >= cfg.max_splits + 1:
                    continue
                extra = prob.cps[z, node] + (cfg.split_weight if have else 0.0)
            if need_gain and cfg.allow_unserved and prob.opt_cost[k] + extra >= pen[u]:
                continue
            a, b = prob.use_ptr[k], prob.use_ptr[k + 1]
            if np.any(prob.use_amt[a:b] > left[prob.use_pool[a:b]] + 1e-6):
                continue
            left[prob.use_pool[a:b]] -= prob.use_amt[a:b]
            choice[u] = k
            have.add(node)
            return

    # classes first; within a class the units the LP serves whole, then the most served
    best = np.zeros(U)
    np.maximum.at(best, prob.opt_unit, xs)
    whole = best >= 1.0 - 1e-6
    units = np.lexsort((us, ~whole, -prob.unit_weight))
    for u in units.tolist():
        a, b = o_ptr[u], o_ptr[u + 1]
        take(u, opt_sorted[a:b].tolist(), not whole[u])
    return choice


def eject_repair(prob: BatchProblem, choice: np.ndarray, *, time_limit_s: float = 2.0, passes: int = 3) -> np.ndarray:
    """Serve unserved units by ejecting served units from the pools that lack room (cheapest to
    move elsewhere or to leave out first), then re-serve the ejected units where they still fit.
    Repeated while it improves; a pass is kept only when the objective improves (:func:`evaluate`)."""
    t_end = time.perf_counter() + time_limit_s
    best, best_obj = choice, evaluate(prob, choice)
    for _ in range(passes):
        c = _eject_pass(prob, best, t_end)
        c_obj = evaluate(prob, c)
        if not c_obj < best_obj - EPS:
            break
        best, best_obj = c, c_obj
        if time.perf_counter() > t_end:
            break
    return best


def _eject_pass(prob: BatchProblem, choice: np.ndarray, t_end: float) -> np.ndarray:
    cfg = prob.config
    if not cfg.allow_unserved:
        return choice
    U = prob.n_units
    choice = choice.copy()
    pen = prob.unit_weight * prob.unit_qty
    usable = _usable(prob)
    left = prob.pool_cap - _pool_use(prob, choice)
    use_ptr, use_pool, use_amt = prob.use_ptr, prob.use_pool, prob.use_amt
    in_pool: dict[int, set[int]] = {}
    for u in np.flatnonzero(choice >= 0).tolist():
        k = int(choice[u])
        for p in use_pool[use_ptr[k]:use_ptr[k + 1]].tolist():
            in_pool.setdefault(p, set()).add(u)
    opt_sorted = np.lexsort((prob.opt_cost, prob.opt_unit))
    o_ptr = np.searchsorted(prob.opt_unit[opt_sorted], np.arange(U + 1))
    nodes: dict[int, dict[int, int]] = {}  # order -> node -> units served there
    for u in np.flatnonzero(choice >= 0).tolist():
        d = nodes.setdefault(int(prob.unit_order[u]), {})
        n = int(prob.opt_node[choice[u]])
        d[n] = d.get(n, 0) + 1

    def split_ok(u, k):
        if cfg.max_splits is None:
            return True
        d = nodes.get(int(prob.unit_order[u]), {})
        return int(prob.opt_node[k]) in d or len(d) < cfg.max_splits + 1

    def put(u, k):
        a, b = use_ptr[k], use_ptr[k + 1]
        left[use_pool[a:b]] -= use_amt[a:b]
        for p in use_pool[a:b].tolist():
            in_pool.setdefault(p, set()).add(u)
        choice[u] = k
        d = nodes.setdefault(int(prob.unit_order[u]), {})
        n = int(prob.opt_node[k])
        d[n] = d.get(n, 0) + 1

    def drop(u):
        k = int(choice[u])
        a, b = use_ptr[k], use_ptr[k + 1]
        left[use_pool[a:b]] += use_amt[a:b]
        for p in use_pool[a:b].tolist():
            in_pool[p].discard(u)
        choice[u] = -1
        d = nodes[int(prob.unit_order[u])]
        n = int(prob.opt_node[k])
        d[n] -= 1
        if not d[n]:
            del d[n]

    def fits(k):
        a, b = use_ptr[k], use_ptr[k + 1]
        return not np.any(use_amt[a:b] > left[use_pool[a:b]] + 1e-6)

    def reinsert(v):
        for k in opt_sorted[o_ptr[v]:o_ptr[v + 1]].tolist():
            if usable[k] and split_ok(v, k) and fits(k) and prob.opt_cost[k] < pen[v]:
                put(v, k)
                return

    def move_cost(v, need):
        """What taking v out costs: moving it to another option that fits outside the needed
        pools, else its unserved penalty."""
        kv = int(choice[v])
        for k in opt_sorted[o_ptr[v]:o_ptr[v + 1]].tolist():
            if k == kv or not usable[k] or not split_ok(v, k) or not fits(k):
                continue
            a, b = use_ptr[k], use_ptr[k + 1]
            if any(p in need for p in use_pool[a:b].tolist()):
                continue
            return max(0.0, prob.opt_cost[k] - prob.opt_cost[kv])
        return pen[v] - prob.opt_cost[kv]

    todo = np.flatnonzero(choice < 0)
    todo = todo[np.argsort(-pen[todo], kind="stable")]
    for u in todo.tolist():
        if time.perf_counter() > t_end:
            break
        if choice[u] >= 0:
            continue
        for k in opt_sorted[o_ptr[u]:o_ptr[u + 1]].tolist():
            if not usable[k] or not split_ok(u, k) or prob.opt_cost[k] >= pen[u]:
                continue
            a, b = use_ptr[k], use_ptr[k + 1]
            need = {int(p): float(q - left[p]) for p, q in zip(use_pool[a:b], use_amt[a:b]) if q > left[p] + 1e-6}
            cand = set()
            for p in need:
                cand |= {v for v in in_pool.get(p, ()) if prob.unit_order[v] != prob.unit_order[u]}
            lost, out = 0.0, []
            cost_v = {v: move_cost(v, need) for v in cand}
            for v in sorted(cand, key=lambda v: cost_v[v]):
                if not need:
                    break
                kv = int(choice[v])
                av, bv = use_ptr[kv], use_ptr[kv + 1]
                hit = False
                for p, q in zip(use_pool[av:bv].tolist(), use_amt[av:bv].tolist()):
                    if p in need:
                        hit = True
                        need[p] -= q
                        if need[p] <= 1e-6:
                            del need[p]
                if hit:
                    out.append(v)
                    lost += cost_v[v]
            if need or lost + prob.opt_cost[k] >= pen[u]:
                continue
            before = {v: int(choice[v]) for v in out}
            for v in out:
                drop(v)
            if not (split_ok(u, k) and fits(k)):
                for v in out:
                    put(v, before[v])
                continue
            put(u, k)
            for v in sorted(out, key=lambda v: -pen[v]):
                reinsert(v)
            break
    return choice


# ---------------------------------------------------------------------------------------
# Model and solve
# ---------------------------------------------------------------------------------------
def _qty_scale(prob: BatchProblem) -> float:
    amts = np.concatenate([prob.use_amt, prob.pool_cap])
    return 1.0 if (len(amts) == 0 or np.allclose(amts, np.round(amts))) else 1000.0


def _pool_use(prob: BatchProblem, choice: np.ndarray) -> np.ndarray:
    chosen = np.zeros(prob.n_options, dtype=bool)
    chosen[choice[choice >= 0]] = True
    use_opt = np.repeat(np.arange(prob.n_options, dtype=np.int64), np.diff(prob.use_ptr))
    sel = chosen[use_opt]
    return np.bincount(prob.use_pool[sel], weights=prob.use_amt[sel], minlength=len(prob.pool_cap))


def _model(prob: BatchProblem, *, assumptions: bool) -> AssignmentModel:
    """The shared CP-SAT model of the batch (`sourcing.optimize.AssignmentModel`): money in
    cents (`cost_scale`), quantities scaled to integers when decimal."""
    return AssignmentModel(prob.instance, cost_scale=prob.config.cost_scale, usage_scale=_qty_scale(prob),
                           assumptions=assumptions)


def relaxation_bound(prob: BatchProblem) -> float:
    """A valid lower bound without pools: every unit takes its cheapest option (a one-unit
    order with its shipment cost) or stays unserved, whichever costs less."""
    units_per_order = np.bincount(prob.unit_order, minlength=len(prob.order_ids))
    pen = prob.unit_weight * prob.unit_qty
    best = pen.copy() if prob.config.allow_unserved else np.full(prob.n_units, np.inf)
    o = prob.unit_order[prob.opt_unit]
    extra = np.where(units_per_order[o] > 1, 0.0, prob.cps[prob.order_zone[o], prob.opt_node])
    np.minimum.at(best, prob.opt_unit, prob.opt_cost + extra)
    return float(best.sum())


def _usable(prob: BatchProblem) -> np.ndarray:
    """bool[K]: options that fit every pool they use on their own (the others can never be
    chosen whole; leaving them out of the relaxation tightens the bound a lot)."""
    use_opt = np.repeat(np.arange(prob.n_options, dtype=np.int64), np.diff(prob.use_ptr))
    over = prob.use_amt > prob.pool_cap[prob.use_pool] + 1e-6
    ok = np.ones(prob.n_options, dtype=bool)
    ok[use_opt[over]] = False
    return ok


def _lp_data(prob: BatchProblem):
    """The linear relaxation as flat arrays: variable bounds and costs, rows (COO), row bounds.

    Columns: x[K], unserved[U] (when allowed), taken[NA] (availability chains), y[order, node]
    (orders of several units), any[order] (when splits cost).  Rows: exactly one per unit,
    one chain row per availability pool, one row per quota / capacity pool, x <= y, any <= sum y.
    Same weights as the CP-SAT objective and :func:`evaluate` (money units, unscaled)."""
    K, U, NA = prob.n_options, prob.n_units, prob.n_avail
    cfg = prob.config
    upo = np.bincount(prob.unit_order, minlength=len(prob.order_ids))
    oo = prob.unit_order[prob.opt_unit]
    multi = upo[oo] > 1
    cost_x = prob.opt_cost + np.where(multi, 0.0, prob.cps[prob.order_zone[oo], prob.opt_node])
    lb, ub, cost, rows, cols, vals, rlo, rhi = [], [], [], [], [], [], [], []
    nrow = 0

    def add_cols(n, lo, hi, c):
        start = sum(len(a) for a in lb)
        lb.append(np.broadcast_to(np.asarray(lo, np.float64), (n,)))
        ub.append(np.broadcast_to(np.asarray(hi, np.float64), (n,)))
        cost.append(np.broadcast_to(np.asarray(c, np.float64), (n,)))
        return start

    def add_rows(r, c, v, lo, hi, n):
        nonlocal nrow
        rows.append(np.asarray(r, np.int64) + nrow); cols.append(np.asarray(c, np.int64)); vals.append(np.asarray(v, np.float64))
        rlo.append(np.broadcast_to(np.asarray(lo, np.float64), (n,))); rhi.append(np.broadcast_to(np.asarray(hi, np.float64), (n,)))
        nrow += n

    x0 = add_cols(K, 0.0, _usable(prob).astype(np.float64), cost_x)
    # exactly one option per unit (or unserved)
    if cfg.allow_unserved:
        u0 = add_cols(U, 0.0, 1.0, prob.unit_weight * prob.unit_qty)
        add_rows(np.concatenate([prob.opt_unit, np.arange(U)]), np.concatenate([x0 + np.arange(K), u0 + np.arange(U)]),
                 np.ones(K + U), 1.0, 1.0, U)
    else:
        add_rows(prob.opt_unit, x0 + np.arange(K), np.ones(K), 1.0, 1.0, U)
    # availability chains: taken[p] = taken[prev] + increments, taken[p] <= cap
    s0 = add_cols(NA, 0.0, prob.pool_cap[:NA], 0.0)
    has_prev = np.flatnonzero(prob.avail_prev >= 0)
    add_rows(np.concatenate([np.arange(NA), has_prev, prob.inc_pool]),
             np.concatenate([s0 + np.arange(NA), s0 + prob.avail_prev[has_prev], x0 + prob.inc_opt]),
             np.concatenate([-np.ones(NA), np.ones(len(has_prev)), prob.inc_amt]), 0.0, 0.0, NA)
    # quota and capacity pools
    use_opt = np.repeat(np.arange(K, dtype=np.int64), np.diff(prob.use_ptr))
    sel = prob.use_pool >= NA
    P = len(prob.pool_cap)
    if sel.any():
        add_rows(prob.use_pool[sel] - NA, x0 + use_opt[sel], prob.use_amt[sel], -np.inf, prob.pool_cap[NA:], P - NA)
    # shipments y[o, n] >= x[k] (orders of several units), any[o] <= sum_n y[o, n]
    km = np.flatnonzero(multi)
    ykey, yinv = np.unique(oo[km] * prob.cps.shape[1] + prob.opt_node[km], return_inverse=True)
    yo, yn = ykey // prob.cps.shape[1], ykey % prob.cps.shape[1]
    y0 = add_cols(len(ykey), 0.0, 1.0, prob.cps[prob.order_zone[yo], yn] + cfg.split_weight)
    nk = len(km)
    add_rows(np.concatenate([np.arange(nk), np.arange(nk)]), np.concatenate([x0 + km, y0 + yinv.ravel()]),
             np.concatenate([np.ones(nk), -np.ones(nk)]), -np.inf, 0.0, nk)
    if cfg.split_weight and len(ykey):
        ao, ainv = np.unique(yo, return_inverse=True)
        a0 = add_cols(len(ao), 0.0, 1.0, -float(cfg.split_weight))
        add_rows(np.concatenate([np.arange(len(ao)), ainv.ravel()]), np.concatenate([a0 + np.arange(len(ao)), y0 + np.arange(len(ykey))]),
                 np.concatenate([np.ones(len(ao)), -np.ones(len(ykey))]), -np.inf, 0.0, len(ao))
    cat = lambda a: np.concatenate(a) if a else np.empty(0)  # noqa: E731
    return cat(lb), cat(ub), cat(cost), cat(rows).astype(np.int64), cat(cols).astype(np.int64), cat(vals), cat(rlo), cat(rhi), x0, (u0 if cfg.allow_unserved else -1)


def lp_relaxation(prob: BatchProblem, *, time_limit_s: float = 10.0) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """Solve the linear relaxation (HiGHS through OR-Tools, GLOP when HiGHS is missing).

    Returns (bound, x values per option, unserved values per unit); bound is -inf and the
    values None when the LP does not finish in time."""
    from ortools.linear_solver import linear_solver_pb2 as lpb
    from ortools.linear_solver import pywraplp

    lb, ub, cost, rows, cols, vals, rlo, rhi, x0, u0 = _lp_data(prob)
    req = lpb.MPModelRequest()
    mdl = req.model
    inf = math.inf
    for lo, hi, c in zip(lb.tolist(), ub.tolist(), cost.tolist()):
        mdl.variable.add(lower_bound=lo, upper_bound=hi, objective_coefficient=c)
    ncol = len(lb)
    key, inv = np.unique(rows * ncol + cols, return_inverse=True)  # sorted by row, then column; duplicates summed
    vals = np.bincount(inv.ravel(), weights=vals, minlength=len(key))
    rows, cols = key // ncol, key % ncol
    ptr = np.searchsorted(rows, np.arange(len(rlo) + 1))
    cl, vl = cols.tolist(), vals.tolist()
    for r, (lo, hi) in enumerate(zip(rlo.tolist(), rhi.tolist())):
        a, b = int(ptr[r]), int(ptr[r + 1])
        mdl.constraint.add(lower_bound=lo if lo > -inf else -inf, upper_bound=hi, var_index=cl[a:b], coefficient=vl[a:b])
    req.solver_time_limit_seconds = max(0.1, float(time_limit_s))
    req.enable_internal_solver_output = False
    resp = lpb.MPSolutionResponse()
    for st, params in (("HIGHS_LINEAR_PROGRAMMING", "output_flag=false"), ("HIGHS_LINEAR_PROGRAMMING", ""),
                       ("GLOP_LINEAR_PROGRAMMING", "")):
        req.solver_type = getattr(lpb.MPModelRequest, st)
        req.solver_specific_parameters = params
        pywraplp.Solver.SolveWithProto(req, resp)
        if resp.status not in (lpb.MPSOLVER_SOLVER_TYPE_UNAVAILABLE, lpb.MPSOLVER_MODEL_INVALID_SOLVER_PARAMETERS):
            break
    if resp.status != lpb.MPSOLVER_OPTIMAL:
        return -math.inf, None, None
    v = np.asarray(resp.variable_value)
    bound = float(resp.objective_value)
    K = prob.n_options
    xs = v[x0:x0 + K]
    us = v[u0:u0 + prob.n_units] if u0 >= 0 else np.zeros(prob.n_units)
    return bound - 1e-6 * max(1.0, abs(bound)), xs, us


def lp_bound(prob: BatchProblem, *, time_limit_s: float = 10.0) -> float:
    """Lower bound from the linear relaxation of the whole model: exactly-one per unit,
    every pool, shipments y[o, n] >= x and splits.  Returns -inf when the LP does not finish."""
    return lp_relaxation(prob, time_limit_s=time_limit_s)[0]


def solve_batch(snap: Snapshot, state: State, orders: pl.DataFrame | BatchProblem, config: BatchConfig | None = None) -> BatchSolution:
    """Source many orders at once. Returns the best found within the time limit, with its bound."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    prob = orders if isinstance(orders, BatchProblem) else build_problem(snap, state, orders, config)
    cfg = prob.config
    g = greedy(prob)
    g_obj = evaluate(prob, g)
    # big batches: the LP relaxation first (a bound, and a rounding that is often the better hint)
    lpb = -math.inf
    h, h_obj = g, g_obj
    if cfg.lp_bound and prob.n_options > 2_000:  # CP-SAT's own LP rarely converges on big batches
        lpb, xs, us = lp_relaxation(prob, time_limit_s=max(0.5, 0.4 * (cfg.time_limit_s - (time.perf_counter() - t0))))
        if xs is not None:
            r = lp_round(prob, xs, us)
            r = eject_repair(prob, r, time_limit_s=max(0.1, 0.05 * cfg.time_limit_s))
            r_obj = evaluate(prob, r)
            if r_obj < h_obj:
                h, h_obj = r, r_obj
    mdl = _model(prob, assumptions=False)
    if cfg.hint and math.isfinite(h_obj):
        mdl.add_hint(h)  # options, unserved units, shipments, what each availability pool takes, served orders
    params = {"symmetry_level": 0}  # symmetry detection costs seconds on big batches, gains little here
    if prob.n_options > 20_000:  # big batches: spend the time searching from the hint, not presolving
        params["max_presolve_iterations"] = 1
        if math.isfinite(lpb):  # the LP gives the bound: both workers improve the hint by LNS
            params["use_lns_only"] = True
    status = mdl.solve(time_limit_s=max(0.01, cfg.time_limit_s - (time.perf_counter() - t0)), workers=cfg.workers,
                       seed=cfg.seed, log=cfg.log, **params)
    solver = mdl.solver
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        choice = mdl.choice()
        obj = evaluate(prob, choice)
        name = "optimal" if status == cp_model.OPTIMAL else "feasible"
        bound = obj if status == cp_model.OPTIMAL else mdl.bound
        if math.isfinite(h_obj) and h_obj < obj - EPS:  # never worse than the hint (greedy or LP rounding)
            choice, obj, name = h, h_obj, ("greedy" if h is g else "lp-round")
    elif status == cp_model.INFEASIBLE:
        raise _explain(prob)
    elif status == cp_model.MODEL_INVALID:
        raise ValidationError(f"CP-SAT refused the model: {mdl.model.validate()}", field="orders", value="model")
    else:  # UNKNOWN: no solution within the time limit; fall back to the hint (greedy or LP rounding)
        choice, obj, name = h, h_obj, (("greedy" if h is g else "lp-round") if math.isfinite(h_obj) else "unknown")
        bound = mdl.bound
    rb = relaxation_bound(prob)
    sources = {"cp-sat": bound, "lp": lpb, "no-pools": rb}
    bound_source = max(sources, key=lambda k: sources[k])
    bound = sources[bound_source]
    return BatchSolution(
        status=name, objective=obj, bound=min(bound, obj) if math.isfinite(obj) else bound, greedy_objective=g_obj,
        choice=choice, assignments=_assignments(prob, choice), solve_time_s=solver.wall_time,
        wall_time_s=time.perf_counter() - t0, problem=prob, bound_source=bound_source,
    )


def _explain(prob: BatchProblem) -> InfeasibleError:
    """Name the rules (pools, split limits) that together make serving every unit impossible."""
    rules = _model(prob, assumptions=True).conflicting_rules(time_limit_s=max(1.0, prob.config.time_limit_s))
    rules = rules or ["every unit must be served"]
    return InfeasibleError("the orders cannot all be served; conflicting rules: " + "; ".join(rules[:20]), rules=rules,
                           hint="allow unserved lines (allow_unserved=True) or relax one of the named rules")


def _assignments(prob: BatchProblem, choice: np.ndarray) -> pl.DataFrame:
    snap = prob.snap
    df = prob.lines
    unit = df["unit"].to_numpy()
    k = choice[unit]
    served = k >= 0
    kk = np.where(served, k, 0)
    node = np.where(served, prob.opt_node[kk] if prob.n_options else 0, -1)
    ship = np.where(served, prob.opt_bucket[kk] if prob.n_options else 0, -1)
    arr = np.where(served, ship + (prob.opt_transit[kk] if prob.n_options else 0), -1)
    base = np.datetime64(snap.as_of, "D")

    def dates(b):
        return pl.Series(np.where(b >= 0, base + b.astype("timedelta64[D]"), np.datetime64("NaT", "D")))

    return pl.DataFrame({
        "order": df["order"], "line": df["line"], "item": df["item"], "qty": df["qty"],
        "requested_date": df["requested_date"],
        "node": pl.Series([snap.location_ids[n] if n >= 0 else None for n in node.tolist()], dtype=pl.String),
        "ship_date": dates(ship), "arrival_date": dates(arr), "served": served,
    })
