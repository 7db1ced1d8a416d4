"""Rescheduling partitioned by independent clusters, in-process or on a Ray cluster.

`reschedule_partitioned` splits the backlog into clusters (`scenarios.partition.clusters`:
lines on one item-location, plus whatever `ties` and bills join), packs whole clusters into
`parts` partitions, plans each partition with the one planner (`scenarios.backlog.reschedule`,
the same function a single run calls) and merges the answers back into one
`RescheduleResult` in the backlog's row order. The merged plan equals the single run's: every
step of the planner draws on, and gives back to, a line's own item-location, in the group
order that a partition keeps (its rows stay in input order).

Executors:

- ``inprocess`` (the default): the partitions are planned one after another in this process
  (with ``parts=1`` this is exactly `reschedule`);
- ``ray``: each partition is a Ray task. The live positions are put into the object store once
  per run, the snapshot once per snapshot (it never changes; a worker reads it once), each
  task gets only its own lines; a task returns only its lines,
  its schedule and the positions of its own item-locations. ``ray_address`` names a running
  cluster (``ray://host:10001`` or ``auto``); without one, and when Ray is not initialised
  yet, a local Ray instance is started with ``parts`` CPUs. Ray is imported only here, and
  only when chosen (`pip install promessa[scale]`).

Fair share (``within`` or ``within_by_strategy`` set to ``fair_share``) decides for a whole
group at once whether any item-location is short, so its answer for one item-location can
depend on the others: such configurations are planned as one partition (see README).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import polars as pl

from promising.enums import MAX_LINES
from promising.reservation import Reservation
from scenarios.backlog import Progress, RescheduleConfig, RescheduleResult, _frozen, _orders, _plan, reschedule, summarize
from scenarios.partition import clusters, pack
from scenarios.replan import replan_reserved, subset
from supplydata.scaleout import check_executor, gather, ray_init, ray_module, snapshot_ref, worker_snapshot
from supplydata.snapshot import Snapshot, State

Executor = Literal["inprocess", "ray"]


@dataclasses.dataclass
class PartResult:
    """What planning one partition returns: small (no state, no snapshot)."""

    rows: np.ndarray      # backlog rows of the partition (ascending)
    lines: pl.DataFrame
    schedule: pl.DataFrame  # row = position in `rows`
    new_n: np.ndarray
    new_b: np.ndarray
    new_q: np.ndarray
    ils: np.ndarray       # item-location per line (-1: not stocked)
    touched: np.ndarray   # item-locations of the partition
    cum: np.ndarray       # new positions of `touched` (rows of the new state's cum)
    timings: dict[str, float]


def fair_share_used(config: RescheduleConfig) -> bool:
    return config.within == "fair_share" or "fair_share" in config.within_by_strategy.values()


def part_inputs(backlog: pl.DataFrame, schedule: pl.DataFrame | None,
                rows: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The backlog rows `rows` (ascending) and their schedule lines, renumbered from 0."""
    return subset(backlog, schedule, rows)


def plan_part(snap: Snapshot, cum: np.ndarray, sub: pl.DataFrame, sch: pl.DataFrame | None,
              config: RescheduleConfig, rows: np.ndarray, frozen: np.ndarray | None = None) -> PartResult:
    """Plan `sub`, the backlog rows `rows` (with their schedule `sch`, from `part_inputs`),
    against the positions `cum` (not modified): the unit of work of every executor. `frozen`
    (per row of `sub`): lines left to the engine pass after the merge (`scenarios.replan`)."""
    res = _plan(snap, State(snap, cum), sub, config, schedule=sch, frozen=frozen)
    ils = res.ils if res.ils is not None else np.full(rows.size, -1, np.int64)
    touched = np.unique(ils[ils >= 0])
    return PartResult(rows=rows, lines=res.lines, schedule=res.schedule, new_n=res.new_n, new_b=res.new_b,
                      new_q=res.new_q, ils=ils, touched=touched, cum=res.state.cum[touched], timings=res.timings)


def merge(snap: Snapshot, state: State, backlog: pl.DataFrame, parts: Sequence[PartResult]) -> RescheduleResult:
    """One result from the partitions' results, in the backlog's row order."""
    n = backlog.height
    st = state.copy()
    new_n = np.zeros(n, np.int64)
    W = max([MAX_LINES] + [p.new_b.shape[1] for p in parts])
    new_b = np.zeros((n, W), np.int64)
    new_q = np.zeros((n, W))
    ils = np.full(n, -1, np.int64)
    order = np.empty(n, np.int64)
    at = 0
    scheds = []
    dropped = 0.0
    for p in parts:
        st.cum[p.touched] = p.cum
        w = p.new_b.shape[1]
        new_n[p.rows], new_b[p.rows, :w], new_q[p.rows, :w], ils[p.rows] = p.new_n, p.new_b, p.new_q, p.ils
        order[p.rows] = at + np.arange(p.rows.size)
        at += p.rows.size
        scheds.append(p.schedule.with_columns(row=pl.Series("row", p.rows[p.schedule["row"].to_numpy()])))
        dropped += p.timings.get("dropped_lines", 0.0)
    lines = pl.concat([p.lines for p in parts])[order]
    schedule = pl.concat(scheds).sort("row", maintain_order=True)
    timings = {"dropped_lines": dropped} if any("dropped_lines" in p.timings for p in parts) else {}
    return RescheduleResult(lines=lines, schedule=schedule, summary=summarize(lines), state=st, timings=timings,
                            new_n=new_n, new_b=new_b, new_q=new_q, ils=ils, orders=_orders(backlog, lines))


def reschedule_partitioned(snap: Snapshot, state: State, backlog: pl.DataFrame, config: RescheduleConfig | None = None,
                           *, schedule: pl.DataFrame | None = None, executor: Executor = "inprocess", parts: int = 1,
                           ray_address: str | None = None, ties: Sequence[str] = (), timeout_s: float | None = None,
                           progress: Progress | None = None,
                           reservations: Mapping[int, Reservation] | None = None) -> RescheduleResult:
    """Reschedule the backlog partitioned by independent clusters; the same plan as
    `reschedule(snap, state, backlog, config, schedule=schedule)`.

    `parts`: how many partitions (Ray tasks) to pack the clusters into; `ties`: backlog columns
    that also tie lines (``order``, ``ship_set``); rescheduling needs none. `timeout_s` bounds
    the wait for the Ray tasks. `reservations` (row -> open reservation): lines re-planned through
    the engine after the merge, on the merged state, as `reschedule` does after its kernel pass."""
    config = config or RescheduleConfig()
    say = progress or (lambda _m, _f: None)
    check_executor(executor, parts)
    t0 = time.perf_counter()
    if fair_share_used(config):
        parts = 1
    if executor == "inprocess" and parts == 1:
        return reschedule(snap, state, backlog, config, schedule=schedule, progress=progress, reservations=reservations)
    frozen = _frozen(backlog.height, reservations)
    say("partitioning the backlog into independent clusters", 0.0)
    labels = clusters(snap, backlog, ties=ties)
    groups = pack(labels, parts)
    t_part = time.perf_counter()
    say(f"planning {len(groups)} partitions ({executor})", 0.1)
    if executor == "ray":
        results = _on_ray(snap, state.cum, backlog, schedule, config, groups, address=ray_address, cpus=parts,
                          timeout_s=timeout_s, frozen=frozen)
    else:
        results = [plan_part(snap, state.cum, *part_inputs(backlog, schedule, rows), config, rows,
                             None if frozen is None else frozen[rows]) for rows in groups]
    t_plan = time.perf_counter()
    say("merging the partitions", 0.9)
    if not results:
        return reschedule(snap, state, backlog, config, schedule=schedule, progress=progress, reservations=reservations)
    out = merge(snap, state, backlog, results)
    if reservations:
        say("re-planning lines through the engine", 0.95)
        out = replan_reserved(snap, out, backlog, config, schedule=schedule, reservations=reservations)
    t_end = time.perf_counter()
    out.timings.update(partition=t_part - t0, plan=t_plan - t_part, merge=t_end - t_plan, total=t_end - t0,
                       clusters=float(labels.max() + 1 if labels.size else 0), partitions=float(len(groups)))
    say("done", 1.0)
    return out


# ------------------------------------------------------------------ Ray

#: kept for callers of the earlier names; the code lives in `supplydata.scaleout`
_ray = ray_module


_remote = None


def _plan_on_worker(snap_box: list, cum: np.ndarray, sub: pl.DataFrame, sch: pl.DataFrame | None,
                    config: RescheduleConfig, rows: np.ndarray, frozen: np.ndarray | None = None) -> PartResult:
    """`plan_part` in a Ray worker; the snapshot (passed by reference, in a list so that Ray
    does not resolve it) is read from the object store once per worker, not once per task."""
    return plan_part(worker_snapshot(snap_box), cum, sub, sch, config, rows, frozen)


def _plan_remote():
    global _remote
    if _remote is None:
        _remote = ray_module().remote(num_cpus=1)(_plan_on_worker)
    return _remote


def _on_ray(snap: Snapshot, cum: np.ndarray, backlog: pl.DataFrame, schedule: pl.DataFrame | None,
            config: RescheduleConfig, groups: list[np.ndarray], *, address: str | None, cpus: int,
            timeout_s: float | None, frozen: np.ndarray | None = None) -> list[PartResult]:
    ray = ray_module()
    ray_init(address=address, cpus=cpus)
    snap_ref, cum_ref = snapshot_ref(snap), ray.put(cum)
    fn = _plan_remote()
    # each task gets only its own lines (and their schedule)
    refs = [fn.remote([snap_ref], cum_ref, *part_inputs(backlog, schedule, rows), config, rows,
                      None if frozen is None else frozen[rows]) for rows in groups]
    return gather(refs, timeout_s)
