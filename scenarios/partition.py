"""Independent clusters of a backlog, and packing them onto workers.

Two backlog lines can influence each other's plan only through something they share. In
backlog rescheduling (plain ATP, `scenarios.backlog`) that is the item-location: a line draws
on, and gives back to, its own item-location's position only. Batch work that treats an order,
a ship set or a bill as one unit couples more: the item-locations of one order (sourcing an
order together), of one ship set (shipped together) and a made item with its components (a
CTP promise draws on the components' positions).

`clusters` unites item-locations that are tied (union-find: connected components of the graph
whose nodes are the item-locations and whose edges are the ties) and labels every backlog line
with its cluster. Clusters are independent: planning each on its own, in any order or on any
machine, gives what one run over the whole backlog gives. `pack` spreads clusters over
workers (largest first onto the least loaded worker), so the work of one machine is a list of
whole clusters. The graph and packing code is shared with batch sourcing
(`supplydata.scaleout`, the lowest layer both use).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from supplydata.scaleout import components as _components
from supplydata.scaleout import pack, renumber
from supplydata.snapshot import Snapshot

__all__ = ["TIE_COLUMNS", "bill_edges", "clusters", "pack"]

#: Backlog columns whose equal (non-null) values tie the item-locations of their lines.
TIE_COLUMNS = ("order", "ship_set")


def _line_ils(snap: Snapshot, backlog: pl.DataFrame) -> np.ndarray:
    """Item-location code per line (-1: the item is not stocked at the location, or unknown)."""
    if backlog.height == 0:
        return np.zeros(0, np.int64)
    table = pl.DataFrame({
        "item": pl.Series(snap.item_ids, dtype=pl.String).gather(snap.il_item.astype(np.int64)),
        "location": pl.Series(snap.location_ids, dtype=pl.String).gather(snap.il_loc.astype(np.int64)),
        "_il": np.arange(snap.n_il, dtype=np.int64),
    })
    keys = backlog.select(pl.col("item").cast(pl.String), pl.col("location").cast(pl.String))
    return keys.join(table, on=["item", "location"], how="left", maintain_order="left")["_il"].fill_null(-1).to_numpy()


def bill_edges(snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """(made item-location, component item-location) pairs of the snapshot's bills (`bom`
    rows with a component, both stocked at the bill's location)."""
    bom = snap.tables.get("bom")
    if bom is None or bom.height == 0 or "component" not in bom.columns:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = bom.filter(pl.col("component").is_not_null())
    made = _line_ils(snap, rows.select("item", "location"))
    comp = _line_ils(snap, rows.select(pl.col("component").alias("item"), "location"))
    ok = (made >= 0) & (comp >= 0)
    return made[ok], comp[ok]


def clusters(snap: Snapshot, backlog: pl.DataFrame, *, ties: Sequence[str] = TIE_COLUMNS,
             bills: bool = True) -> np.ndarray:
    """Cluster label per backlog line (int64, 0..k-1 in order of first appearance).

    Lines on the same item-location are always in one cluster. `ties` names backlog columns
    whose equal non-null values tie their lines' item-locations (missing columns are ignored:
    a backlog without ship sets ties nothing by ship set); `bills` ties a made item-location to
    its components'. A line whose item is not stocked at its location draws on nothing: it is
    a cluster of its own unless a tie joins it to others."""
    n = backlog.height
    if n == 0:
        return np.zeros(0, np.int64)
    ils = _line_ils(snap, backlog)
    # nodes: item-locations 0..n_il-1, then one node per unstocked line
    node = ils.copy()
    unstocked = np.flatnonzero(ils < 0)
    node[unstocked] = snap.n_il + np.arange(unstocked.size)
    n_nodes = snap.n_il + unstocked.size
    ea: list[np.ndarray] = []
    eb: list[np.ndarray] = []
    for col in ties:
        if col not in backlog.columns:
            continue
        key = backlog[col]
        has = key.is_not_null().to_numpy()
        rows = np.flatnonzero(has)
        if rows.size < 2:
            continue
        codes = key.filter(pl.Series(has)).cast(pl.String).rank("dense").to_numpy().astype(np.int64)
        first = np.full(int(codes.max()) + 1, -1, np.int64)
        firsts = np.unique(codes, return_index=True)
        first[firsts[0]] = node[rows[firsts[1]]]
        ea.append(node[rows])               # every line of a key tied to the key's first line
        eb.append(first[codes])
    if bills:
        a, b = bill_edges(snap)
        ea.append(a)
        eb.append(b)
    a = np.concatenate(ea) if ea else np.zeros(0, np.int64)
    b = np.concatenate(eb) if eb else np.zeros(0, np.int64)
    return renumber(_components(n_nodes, a, b)[node])
