"""Where backlogs come from and where rescheduled plans go.

- `backlog_from_orders`: an orders table (the data contract's orders layout, e.g. the
  generator's ``orders.parquet``) promised in creation order against a snapshot gives a live
  state and a backlog with its current schedule (used by the CLI and the benchmarks).
- `backlog_from_service`: the open, unshipped lines of a running `orderbook.OrderService`.
- `simulate`: reschedule the service's backlog; nothing changes.
- every path from the order book reports the open lines it left alone, one per line with the
  reason (`RescheduleResult.skipped`, `WhatIfReport.skipped`; see `backlog_from_service`).
- `plan`: reschedule the service's backlog on a copy and return the plan the order book applies.
- `apply`: plan, then commit through the order book's command (`OrderService.apply_reschedule`),
  the one writer of orders: the old reservations are given back, the new schedule lines are
  reserved and journalled, and every touched order is written in one store transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from promessa.errors import FormUnsupported, ValidationError
from promising import Policy, encode_lines, promise_encoded
from promising.reservation import Reservation
from scenarios.backlog import Progress, RescheduleConfig, RescheduleResult
from scenarios.backlog import reschedule as _reschedule_one
from supplydata.snapshot import Snapshot, State

BACKLOG_SCHEMA = {
    "order": pl.String, "line": pl.Int64, "item": pl.String, "location": pl.String, "qty": pl.Float64,
    "requested_date": pl.Date, "demand_class": pl.String, "customer": pl.String, "zone": pl.String,
    "priority": pl.Int64, "created_at": pl.Datetime("us"),
    "value": pl.Decimal(38, 4), "currency": pl.String,   # the open quantity's priced net, exact (orderbook.queries.open_value)
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
    W = out.bucket.shape[1]
    mask = np.arange(W)[None, :] < out.n_lines[:, None]
    sel = np.flatnonzero(mask.ravel())
    base = np.datetime64(snap.as_of, "D")
    schedule = pl.DataFrame({"row": (sel // W).astype(np.int64),
                             "date": pl.Series(base + out.bucket.ravel()[sel].astype("timedelta64[D]")),
                             "qty": out.qty.ravel()[sel]})
    return st, lines, schedule


# ------------------------------------------------------------------ the order book


@dataclasses.dataclass
class ServiceBacklog:
    """The order book's backlog as rescheduling takes it (`backlog_from_service`)."""

    backlog: pl.DataFrame
    schedule: pl.DataFrame
    skipped: list[dict]
    # backlog row -> open reservation, for lines re-planned through the engine (quota pools,
    # capable-to-promise, substitutes: `orderbook.queries.engine_path`)
    reservations: dict[int, Reservation]

    def __iter__(self):  # (backlog, schedule, skipped), as before
        return iter((self.backlog, self.schedule, self.skipped))


def backlog_from_service(svc: Any) -> ServiceBacklog:
    """The open, unshipped lines of the order book (call under `svc.lock`), from its backlog read
    model (`orderbook.queries.backlog_and_skipped`). Returns the backlog frame, its schedule (the
    open schedule lines), `skipped` (the open lines left alone, one dict per line with its reason:
    `reason`, a key of `orderbook.queries.SKIP_REASONS`, `why`, its sentence: lines asked for past
    the horizon, whose reservations stay in the state rescheduling plans on) and `reservations`
    (row -> open reservation of the lines whose reservation draws quota pools, capable-to-promise
    capacity or components, or a substitute: `reschedule` re-plans them through the engine)."""
    from orderbook.queries import backlog_and_skipped

    lines, kept = backlog_and_skipped(svc)
    skipped = [k.to_dict() for k in kept]
    cols: dict[str, list] = {k: [] for k in BACKLOG_SCHEMA}
    sched_row: list[int] = []
    sched_date: list[dt.date] = []
    sched_qty: list[float] = []
    reservations: dict[int, Reservation] = {}
    for r, bl in enumerate(lines):
        for k, v in (("order", bl.order_id), ("line", bl.line), ("item", bl.item), ("location", bl.location),
                     ("qty", bl.open_qty), ("requested_date", bl.requested_date), ("demand_class", bl.demand_class),
                     ("customer", bl.customer), ("zone", bl.zone), ("priority", bl.priority),
                     ("created_at", bl.created_at.astimezone(dt.timezone.utc).replace(tzinfo=None)),
                     ("value", bl.open_value), ("currency", bl.currency)):
            cols[k].append(v)
        if bl.path is not None:  # the engine re-plans it: its open schedule, its whole reservation
            reservations[r] = Reservation(tuple(bl.draws))
            for d, q in bl.schedule:
                sched_row.append(r)
                sched_date.append(d)
                sched_qty.append(q)
            continue
        for d in bl.draws:
            sched_row.append(r)
            sched_date.append(d.date)
            sched_qty.append(float(d.qty))
    backlog = pl.DataFrame(cols, schema=BACKLOG_SCHEMA)
    if backlog["value"].null_count():  # lines not priced: the open quantity at the catalogue's price, rounded
        from promessa.money import float_amount_expr

        cur = svc.settings.pricing.currency
        prices = pl.Series(svc.snap.item_price).gather(
            backlog["item"].replace_strict(svc.snap.item_index, return_dtype=pl.Int64))
        backlog = backlog.with_columns(
            pl.coalesce("value", float_amount_expr(pl.col("qty") * prices, cur)).alias("value"),
            pl.coalesce("currency", pl.lit(cur)).alias("currency"))
    schedule = pl.DataFrame({"row": sched_row, "date": sched_date, "qty": sched_qty},
                            schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64})
    return ServiceBacklog(backlog, schedule, skipped, reservations)


def reschedule(snap: Snapshot, state: State, backlog: pl.DataFrame, config: RescheduleConfig | None = None, *,
               schedule: pl.DataFrame | None = None, progress: Progress | None = None,
               settings: Any = None, reservations: dict[int, Reservation] | None = None) -> RescheduleResult:
    """The planner, run where the settings say (``settings.scenarios``: in-process by default,
    partitioned on Ray when configured); the same plan either way. `reservations`: see
    `scenarios.backlog.reschedule`."""
    sc = getattr(settings, "scenarios", None)
    if sc is None or (sc.executor == "inprocess" and sc.parts == 1):
        return _reschedule_one(snap, state, backlog, config, schedule=schedule, progress=progress,
                               reservations=reservations)
    from scenarios.scaleout import reschedule_partitioned

    return reschedule_partitioned(snap, state, backlog, config, schedule=schedule, executor=sc.executor,
                                  parts=sc.parts, ray_address=sc.ray_address, timeout_s=sc.timeout_s, progress=progress,
                                  reservations=reservations)


def require_dense(svc: Any, feature: str) -> None:
    """Refuse `feature` (a `promessa.errors.FormUnsupported`, naming it and the setting) when the order book
    serves the compact supply form: rescheduling and what-if read and fork dense positions."""
    if svc.snap.form == "compact":
        raise FormUnsupported(feature)


def simulate(svc: Any, config: RescheduleConfig | None = None, *, progress: Progress | None = None) -> RescheduleResult:
    """Reschedule the order book's backlog on a copy of the live state; nothing changes."""
    require_dense(svc, "backlog rescheduling")
    with svc.lock:
        bk = backlog_from_service(svc)
        snap, state = svc.snap, svc.state.copy()
    res = reschedule(snap, state, bk.backlog, config, schedule=bk.schedule, progress=progress,
                     settings=getattr(svc, "settings", None), reservations=bk.reservations)
    res.skipped = skipped = bk.skipped
    res.timings["skipped_lines"] = float(len(skipped))
    return res


def plan(svc: Any, config: RescheduleConfig | None = None, *, progress: Progress | None = None):
    """Plan a rescheduling of the order book's backlog on a copy of the live state (outside the
    lock; captures go on meanwhile). Returns an `orderbook.commands.ReschedulePlan` that carries
    the basis it was planned on and how to plan again under the lock if the book moved since:
    what `OrderService.apply_reschedule` takes (this is also the service's `planner`)."""
    from orderbook.commands import ReschedulePlan

    require_dense(svc, "backlog rescheduling")
    with svc.lock:
        seq0, snap0 = svc.seq, svc.snap
        bk = backlog_from_service(svc)
        state0 = svc.state.copy()
    first = reschedule(snap0, state0, bk.backlog, config, schedule=bk.schedule, progress=progress,
                       settings=getattr(svc, "settings", None), reservations=bk.reservations)
    first.skipped = skipped = bk.skipped

    def replan() -> ReschedulePlan:  # called by the order book under its lock
        b = backlog_from_service(svc)
        res = reschedule(svc.snap, svc.state, b.backlog, config, schedule=b.schedule, progress=progress,
                         reservations=b.reservations)
        res.skipped = b.skipped
        return ReschedulePlan.from_result(res, svc.snap, skipped=len(b.skipped))

    return ReschedulePlan.from_result(first, snap0, skipped=len(skipped), basis=(seq0, snap0, state0.cum), replan=replan)


def apply(svc: Any, config: RescheduleConfig | None = None, *, actor: str, idem: Any = None,
          progress: Progress | None = None) -> tuple[int, str, bool]:
    """Reschedule and commit the changed lines through the order book's command, atomically.

    The plan is made here on a copy of the live state (:func:`plan`); the order book applies it
    (`OrderService.apply_reschedule`): under its lock it uses the plan when nothing moved supply
    since, else plans again there; every changed line gives back its open reservation and
    reserves its new schedule with the same typed records capture uses. Returns (status, body,
    replayed). Scenarios never writes order state itself."""
    return svc.apply_reschedule(plan(svc, config, progress=progress), actor=actor, idem=idem)


def check_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """The orders table when it has the columns rescheduling needs, else a ValidationError naming the missing one
    with a hint: the table's column it looks misspelled as, and the columns it has."""
    import difflib

    for c in ("item", "qty", "requested_date"):
        if c not in orders.columns:
            close = difflib.get_close_matches(c, orders.columns, n=1, cutoff=0.75)
            hint = (f"the table has {close[0]!r}: did you mean {c!r}? " if close else "") + \
                "columns: " + ", ".join(orders.columns)
            raise ValidationError("required column missing in the orders table", field=c, value=None, hint=hint)
    return orders


def whatif(svc: Any, scenarios: list, config: RescheduleConfig | None = None, *, progress: Progress | None = None,
           curves: int = 3):
    """Run what-if scenarios on forks of the order book's live state; nothing live changes. Where
    the scenarios run follows ``settings.scenarios`` (in-process by default; one Ray task per
    scenario when the executor is ray)."""
    from scenarios.whatif import run_whatif, sweep_options

    require_dense(svc, "what-if scenarios")
    with svc.lock:
        bk = backlog_from_service(svc)
        snap, state = svc.snap, svc.state.copy()
    rep = run_whatif(snap, state, bk.backlog, scenarios, config=config, schedule=bk.schedule, progress=progress,
                     curves=curves, reservations=bk.reservations, **sweep_options(getattr(svc, "settings", None)))
    rep.skipped = skipped = bk.skipped
    rep.baseline_result.skipped = skipped
    return rep
