"""What every scale-out executor shares: independent clusters, packing, and Ray plumbing.

The batch layers above (`sourcing.partitioned`: batch sourcing by clusters of orders;
`scenarios.scaleout`: rescheduling by clusters of backlog lines; `scenarios.whatif`: one task
per scenario) run the same code in this process (the default) or as Ray tasks when chosen.
They meet here, in the lowest layer that knows the snapshot:

- `components`: connected components (union-find by min-label propagation) of nodes joined
  by edges: the independent clusters of whatever ties the work together;
- `pack`: whole clusters spread over at most `parts` partitions of about equal size;
- Ray: imported only when chosen (`ray_module`), started locally on the loopback interface or joined (`ray_init`), the
  snapshot put into the object store once per snapshot and Ray session (`snapshot_ref`) and
  read once per worker process (`worker_snapshot`), a commitment state shipped without its
  snapshot (`detach_state` / `attach_state`), and a bounded wait that cancels what it gave up
  on (`gather`).
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from promessa.errors import ValidationError
from supplydata.snapshot import Snapshot, State


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of n nodes joined by edges (a[k], b[k]): each node's label is the
    smallest node of its component (min-label propagation with pointer jumping)."""
    label = np.arange(n, dtype=np.int64)
    if a.size == 0:
        return label
    while True:
        la, lb = label[a], label[b]
        m = np.minimum(la, lb)
        new = label.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        while True:  # pointer jumping: follow labels to their roots
            nxt = new[new]
            if (nxt == new).all():
                break
            new = nxt
        if (new == label).all():
            return label
        label = new


def renumber(label: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 in order of first appearance."""
    if label.size == 0:
        return np.zeros(0, np.int64)
    _, first_seen, inverse = np.unique(label, return_index=True, return_inverse=True)
    rank = np.empty(first_seen.size, np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(first_seen.size)
    return rank[inverse.ravel()]


def pack(labels: np.ndarray, parts: int, weights: np.ndarray | None = None) -> list[np.ndarray]:
    """Spread whole clusters over at most `parts` partitions of about equal size (largest cluster
    first onto the partition with the least so far; ties go to the lower partition). The size of
    a cluster is its number of rows, or the sum of its rows' `weights`. Returns the rows of each
    non-empty partition, ascending (input order kept)."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, not {parts}")
    if labels.size == 0:
        return []
    sizes = np.bincount(labels, weights=weights)
    heap = [(0.0, p) for p in range(parts)]  # (size so far, partition): the least loaded, lowest first
    part_of = np.empty(sizes.size, np.int64)
    order = np.argsort(-sizes, kind="stable")
    for c, size in zip(order.tolist(), sizes[order].tolist()):
        load, p = heapq.heappop(heap)
        part_of[c] = p
        heapq.heappush(heap, (load + size, p))
    line_part = part_of[labels]
    return [rows for p in range(parts) if (rows := np.flatnonzero(line_part == p)).size]


# ------------------------------------------------------------------ Ray

EXECUTORS = ("inprocess", "ray")


def check_executor(executor: str, parts: int, *, field: str = "scenarios") -> None:
    if executor not in EXECUTORS:
        raise ValidationError("unknown executor (hint: inprocess or ray)", field=f"{field}.executor", value=executor)
    if parts < 1:
        raise ValidationError("parts must be at least 1", field=f"{field}.parts", value=parts)


def ray_module(field: str = "scenarios.executor"):
    """The `ray` module, imported now (only the Ray executor needs it)."""
    try:
        import ray
    except ImportError:
        raise ValidationError("the ray executor needs Ray (hint: pip install 'promessa[scale]')",
                              field=field, value="ray") from None
    return ray


#: The address a local Ray started by promessa (`ray_init` without an address) listens on: loopback only, so that
#: no other machine can reach its GCS, raylet, object manager or workers.
LOOPBACK = "127.0.0.1"


def ray_init(*, address: str | None = None, cpus: int = 2) -> None:
    """Connect to the Ray cluster at `address`, or start a local one with `cpus` CPUs that listens on the loopback
    interface only (`LOOPBACK`), unless Ray is initialised already (then that cluster is used).

    Raises ValidationError (and stops the cluster it started) when a local Ray cannot be kept on the loopback
    interface."""
    ray = ray_module()
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    _init_local_loopback(ray, cpus)
    where = ray_node_addresses(ray)
    if any(a != LOOPBACK for a in where):
        ray.shutdown()
        raise ValidationError(f"the local Ray did not stay on the loopback interface (its nodes: {', '.join(where)})",
                              field="scenarios.ray_address", value=None,
                              hint="start a Ray cluster on the interface you choose and give its address")


def _init_local_loopback(ray, cpus: int) -> None:
    """`ray.init` of a local cluster on `LOOPBACK`. On Linux, Ray (2.60) turns a loopback ``_node_ip_address`` into
    the machine's routable address unless its ``ENABLE_RAY_CLUSTER`` constant (the environment variable
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, read when Ray is imported) is off; it is turned off for this call only, so
    that joining a remote cluster later in the process still finds the routable address. `ray_init` checks the
    result either way (a later Ray that drops the constant fails that check, not silently)."""
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - a Ray without it: ray_init's check decides
        ray_constants = None
    was = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if was is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, _node_ip_address=LOOPBACK)
    finally:
        if was is not None:
            ray_constants.ENABLE_RAY_CLUSTER = was


def ray_node_addresses(ray=None) -> list[str]:
    """The IP address of every alive node of the Ray cluster this process is connected to."""
    ray = ray or ray_module()
    return sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive", True)})


_snap_ref: tuple | None = None  # (Ray node of this driver, snapshot, its object ref): the last snapshot shipped


def snapshot_ref(snap: Snapshot):
    """The snapshot in the object store, put there once per snapshot and Ray session (a
    snapshot never changes), without the models other packages cached on it."""
    global _snap_ref
    ray = ray_module()
    node = ray.get_runtime_context().get_node_id()
    if _snap_ref is None or _snap_ref[0] != node or _snap_ref[1] is not snap:
        _snap_ref = None  # let the previous snapshot go first
        _snap_ref = (node, snap, ray.put(dataclasses.replace(snap, derived={})))
    return _snap_ref[2]


_worker_snapshots: dict[str, Snapshot] = {}  # in a Ray worker: the last snapshot read, by its object id


def worker_snapshot(snap_box: list) -> Snapshot:
    """In a Ray worker: the snapshot whose reference is `snap_box[0]` (passed in a list so that
    Ray does not resolve it per task), read from the object store once per worker process."""
    ref = snap_box[0]
    snap = _worker_snapshots.get(ref.hex())
    if snap is None:
        _worker_snapshots.clear()
        snap = _worker_snapshots[ref.hex()] = ray_module().get(ref)
    return snap


def detach_state(state: State) -> tuple:
    """A commitment state without its snapshot (what is shipped to a worker that has the snapshot)."""
    return state.cum, state.extras, state.adjustments


def attach_state(snap: Snapshot, detached: tuple) -> State:
    cum, extras, adjustments = detached
    return State(snap, cum, extras, adjustments)


def gather(refs: list, timeout_s: float | None, on_done: Callable[[int, int], None] | None = None) -> list[Any]:
    """The tasks' results in order; past `timeout_s` the tasks are cancelled and TimeoutError raised.
    `on_done(k, n)` is called as task k finishes, the n-th to finish (progress)."""
    ray = ray_module()

    def give_up():
        for r in refs:
            ray.cancel(r, force=True)
        raise TimeoutError(f"the Ray tasks did not finish within {timeout_s} s") from None

    if on_done is not None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        index = {r: k for k, r in enumerate(refs)}
        pending, n = list(refs), 0
        while pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, pending = ray.wait(pending, num_returns=1, timeout=left)
            if not ready:
                give_up()
            n += 1
            on_done(index[ready[0]], n)
    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        give_up()
