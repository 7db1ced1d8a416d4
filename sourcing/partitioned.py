"""Batch sourcing partitioned by independent clusters of orders, in-process or on Ray.

What ties two orders in a batch (`sourcing.batch`) is a pool they could both draw on: the
availability (and allocation quota) of an item-location one of their candidate options ships
from, or, when node capacity is configured, a node's capacity on a ship day. An order's lines
(ship sets, splits, its shipments) are one node of the graph, so an order never straddles two
clusters. `order_clusters` takes every order's candidate options (`sourcing.batch.candidates`:
an order's options depend on it and the live positions only, never on the other orders), joins
orders through the item-locations (and node-days) the options draw on (union-find,
`supplydata.scaleout.components`) and labels every line with its cluster.

`solve_partitioned` packs whole clusters into `parts` partitions, builds and solves each
partition's batch on its own (`build_problem` then `solve_batch`, or `greedy`), and merges the
assignments in the input's row order. Because clusters share no pool and no order:

- any choice's objective is the sum of its partitions' objectives, so the merged objective is
  the sum, and the sum of the partitions' bounds is a bound of the whole batch; when every
  partition is solved to optimality the merge is an optimum of the whole batch;
- the greedy answer is the same, line for line: it takes units one by one in a fixed order
  (class, requested date, input order) and each unit's choice depends only on the pools of its
  own cluster, whose caps are the same in a partition as in the whole batch;
- CP-SAT's search (and the LP rounding of big batches) is not per unit: within its time limit a
  partition may find a different (never worse than its greedy) answer than the whole batch.

Executors (as `scenarios.scaleout`): ``inprocess`` solves the partitions one after another;
``ray`` solves each as a Ray task (the snapshot put into the object store once per snapshot,
the positions once per run, each task gets its own orders and returns its assignments). Each
partition gets the whole `time_limit_s` and `workers` of the config.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Literal

import numpy as np
import polars as pl

from promessa.errors import ValidationError
from sourcing.batch import BatchConfig, _assignments, build_problem, candidates, evaluate, greedy, relaxation_bound, solve_batch
from supplydata.scaleout import (attach_state, check_executor, components, detach_state, gather, pack, ray_init,
                                 ray_module, renumber, snapshot_ref, worker_snapshot)
from supplydata.snapshot import Snapshot, State

__all__ = ["PartitionedSolution", "order_clusters", "solve_partitioned"]

Method = Literal["solve", "greedy"]


def order_clusters(snap: Snapshot, state: State, orders: pl.DataFrame, config: BatchConfig | None = None) -> np.ndarray:
    """Cluster label per order line (int64, 0..k-1 in order of first appearance): lines of one
    order share a label; two orders share one when a chain of item-locations (and, with node
    capacity, node-days) that their candidate options draw on joins them. An order without any
    option is a cluster of its own."""
    cfg = config or BatchConfig()
    if orders.height == 0:
        return np.zeros(0, np.int64)
    c = candidates(snap, state, orders, cfg)
    n_orders = len(c.order_ids)
    # nodes: orders, then the item-locations drawn on, then the node-days with a capacity
    order_of_pair = c.order_codes[c.e_line]
    ils, il_node = np.unique(c.e_il, return_inverse=True)
    a = [order_of_pair]
    b = [n_orders + il_node.ravel()]
    n_nodes = n_orders + ils.size
    if cfg.node_capacity:
        caps = dict(cfg.node_capacity)
        capped = np.array([caps.get(loc, caps.get("*")) is not None for loc in snap.location_ids], dtype=bool)
        k = np.flatnonzero(capped[c.opt_node])
        if k.size:
            days, day_node = np.unique(c.opt_node[k] * snap.horizon + c.opt_bucket[k], return_inverse=True)
            a.append(c.order_of_unit[c.opt_unit[k]])
            b.append(n_nodes + day_node.ravel())
            n_nodes += days.size
    label = components(n_nodes, np.concatenate(a), np.concatenate(b))
    return renumber(label[:n_orders][c.order_codes])


@dataclasses.dataclass(frozen=True)
class PartSolution:
    """What solving one partition returns: small (no problem, no snapshot)."""

    rows: np.ndarray            # input rows of the partition (ascending)
    assignments: pl.DataFrame   # one row per line of `rows`, in their order
    status: str
    objective: float
    bound: float
    greedy_objective: float
    units: int
    options: int
    served_units: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class PartitionedSolution:
    """The merged answer: the assignments in the input's row order, objective and bound summed."""

    status: str                 # optimal (every partition) | feasible | greedy | unknown (some partition found nothing)
    objective: float
    bound: float
    greedy_objective: float
    assignments: pl.DataFrame
    parts: list[PartSolution] = dataclasses.field(repr=False)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def gap(self) -> float:
        if math.isnan(self.objective):
            return math.inf
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))

    def to_dict(self) -> dict:
        return {
            "status": self.status, "objective": self.objective, "bound": self.bound, "gap": self.gap,
            "greedy_objective": self.greedy_objective, "units": sum(p.units for p in self.parts),
            "options": sum(p.options for p in self.parts), "served_units": sum(p.served_units for p in self.parts),
            "partitions": len(self.parts), "clusters": int(self.timings.get("clusters", 0)),
            "wall_time_s": self.timings.get("total", 0.0),
        }


def solve_part(snap: Snapshot, state: State, orders: pl.DataFrame, config: BatchConfig, rows: np.ndarray,
               method: Method) -> PartSolution:
    """Build and solve the batch of one partition's orders (`orders`: the input rows `rows`): the
    unit of work of every executor."""
    t0 = time.perf_counter()
    prob = build_problem(snap, state, orders, config)
    if method == "greedy":
        choice = greedy(prob)
        obj = evaluate(prob, choice)
        return PartSolution(rows, _assignments(prob, choice), "greedy", obj, min(relaxation_bound(prob), obj), obj,
                            prob.n_units, prob.n_options, int((choice >= 0).sum()), time.perf_counter() - t0)
    sol = solve_batch(snap, state, prob)
    return PartSolution(rows, sol.assignments, sol.status, sol.objective, sol.bound, sol.greedy_objective,
                        prob.n_units, prob.n_options, int((sol.choice >= 0).sum()), time.perf_counter() - t0)


def _status(parts: list[PartSolution]) -> str:
    st = {p.status for p in parts}
    if st <= {"optimal"}:
        return "optimal"
    if "unknown" in st:
        return "unknown"
    if st <= {"greedy"}:
        return "greedy"
    return "feasible"


def merge(orders: pl.DataFrame, parts: list[PartSolution]) -> pl.DataFrame:
    """The partitions' assignments as one frame in the input's row order."""
    rows = np.concatenate([p.rows for p in parts])
    at = np.empty(orders.height, np.int64)
    at[rows] = np.arange(rows.size)
    return pl.concat([p.assignments for p in parts])[at]


def solve_partitioned(snap: Snapshot, state: State, orders: pl.DataFrame, config: BatchConfig | None = None, *,
                      method: Method = "solve", executor: str = "inprocess", parts: int = 1,
                      ray_address: str | None = None, timeout_s: float | None = None) -> PartitionedSolution:
    """Source the orders partitioned by independent clusters (see the module's docstring).

    `method`: ``solve`` (`solve_batch`: greedy, LP for big batches, CP-SAT) or ``greedy``;
    `parts`: how many partitions (Ray tasks) the clusters are packed into, by lines; `executor`:
    ``inprocess`` or ``ray`` (`ray_address`: a running cluster, else a local one with `parts`
    CPUs); `timeout_s` bounds the wait for the Ray tasks."""
    cfg = config or BatchConfig()
    check_executor(executor, parts, field="sourcing")
    if method not in ("solve", "greedy"):
        raise ValidationError("unknown method (hint: solve or greedy)", field="method", value=method)
    t0 = time.perf_counter()
    labels = order_clusters(snap, state, orders, cfg)
    groups = pack(labels, parts) if orders.height else []
    t_part = time.perf_counter()
    if not groups:
        results = [solve_part(snap, state, orders, cfg, np.zeros(0, np.int64), method)]
    elif executor == "ray":
        results = _on_ray(snap, state, orders, cfg, groups, method, address=ray_address, cpus=parts,
                          timeout_s=timeout_s)
    else:
        results = [solve_part(snap, state, orders[rows], cfg, rows, method) for rows in groups]
    t_solve = time.perf_counter()
    assignments = merge(orders, results)
    t_end = time.perf_counter()
    return PartitionedSolution(
        status=_status(results), objective=float(sum(p.objective for p in results)),
        bound=float(sum(p.bound for p in results)), greedy_objective=float(sum(p.greedy_objective for p in results)),
        assignments=assignments, parts=results,
        timings={"partition": t_part - t0, "solve": t_solve - t_part, "merge": t_end - t_solve, "total": t_end - t0,
                 "clusters": float(labels.max() + 1 if labels.size else 0), "partitions": float(len(results))})


# ------------------------------------------------------------------ Ray


def _part_on_worker(snap_box: list, state_box: list, orders: pl.DataFrame, config: BatchConfig, rows: np.ndarray,
                    method: Method) -> PartSolution:
    """`solve_part` in a Ray worker; the snapshot is read once per worker, the positions once per task."""
    snap = worker_snapshot(snap_box)
    state = attach_state(snap, ray_module().get(state_box[0]))
    return solve_part(snap, state, orders, config, rows, method)


_remote = None


def _on_ray(snap: Snapshot, state: State, orders: pl.DataFrame, config: BatchConfig, groups: list[np.ndarray],
            method: Method, *, address: str | None, cpus: int, timeout_s: float | None) -> list[PartSolution]:
    global _remote
    ray = ray_module("sourcing.executor")
    ray_init(address=address, cpus=cpus)
    if _remote is None:
        _remote = ray.remote(num_cpus=1)(_part_on_worker)
    snap_ref, state_ref = snapshot_ref(snap), ray.put(detach_state(state))
    refs = [_remote.remote([snap_ref], [state_ref], orders[rows], config, rows, method) for rows in groups]
    return gather(refs, timeout_s)
