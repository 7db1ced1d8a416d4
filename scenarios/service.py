"""Where backlogs come from and where rescheduled plans go.

- `backlog_from_orders`: an orders table (the data contract's orders layout, e.g. the
  generator's ``orders.parquet``) promised in creation order against a snapshot gives a live
  state and a backlog with its current schedule (used by the CLI and the benchmarks).
- `backlog_from_service`: the open, unshipped lines of a running `orderbook.OrderService`.
- `simulate`: reschedule the service's backlog; nothing changes.
- `apply`: reschedule and commit every changed line through the order book in one atomic
  step (`OrderService.execute`): the old reservations are given back, the new schedule lines
  are reserved and journalled, and every touched order is written in one store transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from promising import Draw, Policy, encode_lines, promise_encoded
from promising.enums import EPS, MAX_LINES
from scenarios.backlog import Progress, RescheduleConfig, RescheduleResult, reschedule
from supplydata.snapshot import Snapshot, State

BACKLOG_SCHEMA = {
    "order": pl.String, "line": pl.Int64, "item": pl.String, "location": pl.String, "qty": pl.Float64,
    "requested_date": pl.Date, "demand_class": pl.String, "customer": pl.String, "zone": pl.String,
    "priority": pl.Int64, "created_at": pl.Datetime("us"), "unit_price": pl.Float64,
}


def assign_first_node(snap: Snapshot, orders: pl.DataFrame) -> pl.DataFrame:
    """Lines without a location ship from their zone's first-ranked node (generic sourcing rules);
    lines without a zone from the first location."""
    if "location" in orders.columns and orders["location"].null_count() == 0:
        return orders
    src = snap.tables["sourcing"]
    first = (src.filter(pl.col("item").is_null() & pl.col("category").is_null()).sort("rank")
             .group_by("zone", maintain_order=True).first().select("zone", pl.col("location").alias("_loc")))
    out = orders.join(first, on="zone", how="left") if "zone" in orders.columns else orders.with_columns(_loc=pl.lit(None, pl.String))
    fallback = pl.lit(snap.location_ids[0])
    loc = pl.coalesce(pl.col("location"), pl.col("_loc"), fallback) if "location" in orders.columns else pl.coalesce(pl.col("_loc"), fallback)
    return out.with_columns(loc.alias("location")).drop("_loc")


def backlog_from_orders(snap: Snapshot, orders: pl.DataFrame, *, policy: Policy | None = None,
                        state: State | None = None) -> tuple[State, pl.DataFrame, pl.DataFrame]:
    """Promise the orders in creation order (one kernel call) on a new state (or on a copy of
    `state`); returns (live state, backlog, schedule) where the schedule holds what each line was
    promised: the backlog's current confirmations."""
    policy = policy or Policy()
    lines = assign_first_node(snap, orders)
    if "created_at" in lines.columns:
        lines = lines.sort("created_at", maintain_order=True)
    st = snap.new_state() if state is None else state.copy()
    out = promise_encoded(snap, st, encode_lines(snap, lines, policy=policy), commit=True)
    mask = np.arange(MAX_LINES)[None, :] < out.n_lines[:, None]
    sel = np.flatnonzero(mask.ravel())
    base = np.datetime64(snap.as_of, "D")
    schedule = pl.DataFrame({"row": (sel // MAX_LINES).astype(np.int64),
                             "date": pl.Series(base + out.bucket.ravel()[sel].astype("timedelta64[D]")),
                             "qty": out.qty.ravel()[sel]})
    return st, lines, schedule


# ------------------------------------------------------------------ the order book


def _eligible(ln: Any) -> bool:
    """A line rescheduling may move: its open reservation is plain ATP on its own item and node
    (no capable-to-promise capacity or component draws, no allocation pools)."""
    for d in ln.draws:
        if d.get("kind") != "atp" or d.get("key") != ln.item or d.get("location") != ln.location or d.get("pools"):
            return False
    return True


def backlog_from_service(svc: Any) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The open, unshipped lines of the order book (call under `svc.lock`). Returns (backlog,
    schedule, skipped) where skipped counts open lines left alone (not plain-ATP reservations)."""
    from orderbook import lifecycle

    open_states = {str(s) for s in lifecycle.OPEN}
    cols: dict[str, list] = {k: [] for k in BACKLOG_SCHEMA}
    sched_row: list[int] = []
    sched_date: list[dt.date] = []
    sched_qty: list[float] = []
    skipped = 0
    last = svc.snap.last_date
    for o in svc.orders.values():
        if o.status not in open_states:
            continue
        for ln in o.lines:
            if ln.open_qty <= EPS or not ln.location:
                continue
            if not _eligible(ln) or ln.requested_date > last:
                skipped += 1
                continue
            r = len(cols["order"])
            for k, v in (("order", o.order_id), ("line", ln.line), ("item", ln.item), ("location", ln.location),
                         ("qty", ln.open_qty), ("requested_date", ln.requested_date),
                         ("demand_class", ln.demand_class or o.demand_class), ("customer", o.customer), ("zone", o.zone),
                         ("priority", o.priority), ("created_at", o.created_at.astimezone(dt.timezone.utc).replace(tzinfo=None)),
                         ("unit_price", ln.unit_price)):
                cols[k].append(v)
            for d in ln.draws:
                sched_row.append(r)
                sched_date.append(dt.date.fromisoformat(d["date"]))
                sched_qty.append(float(d["qty"]))
    backlog = pl.DataFrame(cols, schema=BACKLOG_SCHEMA)
    if backlog["unit_price"].null_count():
        prices = pl.Series(svc.snap.item_price).gather(
            backlog["item"].replace_strict(svc.snap.item_index, return_dtype=pl.Int64))
        backlog = backlog.with_columns(pl.col("unit_price").fill_null(prices))
    schedule = pl.DataFrame({"row": sched_row, "date": sched_date, "qty": sched_qty},
                            schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64})
    return backlog, schedule, skipped


def simulate(svc: Any, config: RescheduleConfig | None = None, *, progress: Progress | None = None) -> RescheduleResult:
    """Reschedule the order book's backlog on a copy of the live state; nothing changes."""
    with svc.lock:
        backlog, schedule, skipped = backlog_from_service(svc)
        snap, state = svc.snap, svc.state.copy()
    res = reschedule(snap, state, backlog, config, schedule=schedule, progress=progress)
    res.timings["skipped_lines"] = float(skipped)
    return res


def apply(svc: Any, config: RescheduleConfig | None = None, *, actor: str, idem: Any = None,
          progress: Progress | None = None) -> tuple[int, str, bool]:
    """Reschedule and commit the changed lines through the order book, atomically.

    The plan is computed on a copy of the live state outside the lock; inside `svc.execute`
    (under the lock) it is used when the commitment journal and the state have not moved since
    (else it is computed again there). Every changed line gives back its open reservation
    (`Txn.unreserve_open`) and reserves its new schedule lines (journalled, with undo); if
    anything fails, memory is put back and nothing is written. Returns `execute`'s (status,
    body, replayed)."""
    from orderbook.lifecycle import OrderStatus
    from orderbook.model import ScheduleLine

    # plan outside the lock on a copy (captures go on meanwhile); inside the atomic step the plan
    # is used only if nothing moved supply since (same journal sequence), else it is made again
    t0 = time.perf_counter()
    with svc.lock:
        seq0, snap0 = svc.seq, svc.snap
        planned = backlog_from_service(svc)
        state0 = svc.state.copy()
    first = reschedule(snap0, state0, planned[0], config, schedule=planned[1], progress=progress)

    def run(txn: Any) -> tuple[int, dict]:
        # the journal sequence alone could come back to the same number after a failed group write
        # was undone and another request made as many entries: the state must match exactly too
        if svc.seq == seq0 and svc.snap is snap0 and np.array_equal(svc.state.cum, state0.cum):
            (backlog, schedule, skipped), res = planned, first
            replanned = False
        else:
            backlog, schedule, skipped = backlog_from_service(svc)
            res = reschedule(svc.snap, svc.state, backlog, config, schedule=schedule, progress=progress)
            replanned = True
        changed = np.flatnonzero((res.lines["change"] != "unchanged").to_numpy())
        orders, line_nos = backlog["order"].to_list(), backlog["line"].to_list()
        demand_class = backlog["demand_class"].to_list()
        snap = svc.snap
        touched: dict[str, Any] = {}
        # give back every changed line's reservation first, then reserve the new schedules
        for r in changed.tolist():
            order = svc.orders[orders[r]]
            txn.touch(order)
            touched[order.order_id] = order
            txn.unreserve_open(order, order.line(line_nos[r]))
        for r in changed.tolist():
            order = svc.orders[orders[r]]
            ln = order.line(line_nos[r])
            for k in range(int(res.new_n[r])):
                q = float(res.new_q[r, k])
                if q <= EPS:
                    continue
                d = snap.date(int(res.new_b[r, k]))
                draw = Draw("atp", ln.item, ln.location, d, q, demand_class[r])
                txn.commit_draw(order, ln, draw)
                ln.draws.append(draw.to_dict())
                ln.schedule.append(ScheduleLine(date=d, qty=q))
            row = res.lines.row(r, named=True)
            ln.promise = {"source": "reschedule", "strategy": row["strategy"], "status": row["status"],
                          "reason": row["reason"], "promised_qty": row["new_qty"], "change": row["change"]}
        for order in touched.values():
            dst = OrderStatus.ON_HOLD if order.status == str(OrderStatus.ON_HOLD) else svc.fulfilment_status(order)
            txn.transition(order, dst, "reschedule", {"lines": [ln.line for ln in order.lines]})
        body = res.to_dict(max_lines=1000)
        body["applied"] = {"lines_changed": int(changed.size), "orders_changed": len(touched), "skipped_lines": skipped,
                           "replanned_under_lock": replanned, "seconds": round(time.perf_counter() - t0, 4)}
        return 200, body

    return svc.execute(actor, idem, run)


def check_orders(orders: pl.DataFrame) -> pl.DataFrame:
    for c in ("item", "qty", "requested_date"):
        if c not in orders.columns:
            raise ValidationError("required column missing in the orders table", field=c, value=None)
    return orders


def whatif(svc: Any, scenarios: list, config: RescheduleConfig | None = None, *, progress: Progress | None = None,
           curves: int = 3):
    """Run what-if scenarios on forks of the order book's live state; nothing live changes."""
    from scenarios.whatif import run_whatif

    with svc.lock:
        backlog, schedule, _skipped = backlog_from_service(svc)
        snap, state = svc.snap, svc.state.copy()
    return run_whatif(snap, state, backlog, scenarios, config=config, schedule=schedule, progress=progress, curves=curves)
