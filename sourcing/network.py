"""The sourcing network of a snapshot, in flat arrays, built once per snapshot.

From the ``sourcing`` rules (zone, location, rank, item or category) and the ``lanes`` (transit
days, cost per unit and per shipment) it keeps:

- per zone, the rules as CSR (``rule_ptr[z]:rule_ptr[z+1]``), sorted by rank: node, rank,
  item code (-1 = any item), category code (-1 = any category);
- per (zone, node), the lane: transit days (-1 = no lane), cost per unit, cost per shipment;
- item category codes, and the sorted item-location keys (``item * n_locations + location``)
  so that kernels find an item-location by binary search.

When a snapshot has no sourcing rules at all, every lane to a zone is a rule for that zone,
ranked by transit days then cost per unit.  A rule whose node has no lane to the zone is kept
out (it cannot ship there).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from promessa.errors import NotFoundError
from supplydata.snapshot import Snapshot


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    zone_ids: tuple[str, ...]
    zone_index: dict[str, int]
    category_index: dict[str, int]
    item_cat: np.ndarray       # int32[n_items], -1 = no category
    rule_ptr: np.ndarray       # int64[n_zones + 1]
    rule_loc: np.ndarray       # int64[n_rules]
    rule_rank: np.ndarray      # int64[n_rules]
    rule_item: np.ndarray      # int64[n_rules], -1 = any item
    rule_cat: np.ndarray       # int64[n_rules], -1 = any category
    lane_transit: np.ndarray   # int64[n_zones, n_locations], -1 = no lane
    lane_cpu: np.ndarray       # float64[n_zones, n_locations]
    lane_cps: np.ndarray       # float64[n_zones, n_locations]
    il_keys: np.ndarray        # int64[N] sorted item * n_locations + location
    n_locations: int
    loc_cal: np.ndarray        # int64[n_locations], calendar code, -1 = always open

    def zone_code(self, zone: str) -> int:
        try:
            return self.zone_index[zone]
        except KeyError:
            raise NotFoundError(f"unknown zone {zone!r}: no lane or sourcing rule serves it") from None

    @property
    def n_zones(self) -> int:
        return len(self.zone_ids)


def network_for(snap: Snapshot) -> Network:
    """The snapshot's sourcing network (built on first use, cached in ``snap.derived``)."""
    net = snap.derived.get("sourcing.network")
    if net is None:
        net = build_network(snap)
        snap.derived["sourcing.network"] = net
    return net


def build_network(snap: Snapshot) -> Network:
    lanes: pl.DataFrame = snap.tables["lanes"]
    rules: pl.DataFrame = snap.tables["sourcing"]
    items: pl.DataFrame = snap.tables["items"]
    locs: pl.DataFrame = snap.tables["locations"]
    nloc = snap.n_locations

    zone_ids = tuple(sorted(set(lanes["zone"].to_list()) | set(rules["zone"].to_list())))
    zone_index = {z: i for i, z in enumerate(zone_ids)}
    nz = len(zone_ids)

    cats = sorted({c for c in items["category"].to_list() if c is not None} | {c for c in rules["category"].to_list() if c is not None})
    category_index = {c: i for i, c in enumerate(cats)}
    item_cat = np.array([category_index[c] if c is not None else -1 for c in items["category"].to_list()], dtype=np.int32)

    lane_transit = np.full((nz, nloc), -1, dtype=np.int64)
    lane_cpu = np.zeros((nz, nloc))
    lane_cps = np.zeros((nz, nloc))
    if lanes.height:
        zc = np.array([zone_index[z] for z in lanes["zone"].to_list()], dtype=np.int64)
        lc = np.array([snap.location_index[x] for x in lanes["location"].to_list()], dtype=np.int64)
        lane_transit[zc, lc] = lanes["transit_days"].to_numpy()
        lane_cpu[zc, lc] = lanes["cost_per_unit"].to_numpy()
        lane_cps[zc, lc] = lanes["cost_per_shipment"].to_numpy()

    if rules.height:
        r_zone = np.array([zone_index[z] for z in rules["zone"].to_list()], dtype=np.int64)
        r_loc = np.array([snap.location_index[x] for x in rules["location"].to_list()], dtype=np.int64)
        r_rank = rules["rank"].to_numpy().astype(np.int64)
        r_item = np.array([snap.item_index[i] if i is not None else -1 for i in rules["item"].to_list()], dtype=np.int64)
        r_cat = np.array([category_index[c] if c is not None else -1 for c in rules["category"].to_list()], dtype=np.int64)
    else:  # every lane is a rule, nearest first
        zz, ll = np.nonzero(lane_transit >= 0)
        r_zone, r_loc = zz.astype(np.int64), ll.astype(np.int64)
        order = np.lexsort((lane_cpu[zz, ll], lane_transit[zz, ll], r_zone))
        r_zone, r_loc = r_zone[order], r_loc[order]
        r_rank = np.zeros(len(r_zone), dtype=np.int64)
        for z in range(nz):  # rank 1.. within the zone
            m = r_zone == z
            r_rank[m] = np.arange(1, m.sum() + 1)
        r_item = np.full(len(r_zone), -1, dtype=np.int64)
        r_cat = np.full(len(r_zone), -1, dtype=np.int64)
    keep = lane_transit[r_zone, r_loc] >= 0 if len(r_zone) else np.zeros(0, dtype=bool)
    r_zone, r_loc, r_rank, r_item, r_cat = r_zone[keep], r_loc[keep], r_rank[keep], r_item[keep], r_cat[keep]
    order = np.lexsort((r_loc, r_rank, r_zone))
    r_zone, r_loc, r_rank, r_item, r_cat = r_zone[order], r_loc[order], r_rank[order], r_item[order], r_cat[order]
    rule_ptr = np.zeros(nz + 1, dtype=np.int64)
    np.cumsum(np.bincount(r_zone, minlength=nz), out=rule_ptr[1:])

    il_keys = snap.il_item.astype(np.int64) * max(nloc, 1) + snap.il_loc.astype(np.int64)
    cal_index = {c: i for i, c in enumerate(snap.calendar_ids)}
    loc_cal = np.array([cal_index[c] if c else -1 for c in locs["calendar"].to_list()], dtype=np.int64)
    return Network(
        zone_ids=zone_ids, zone_index=zone_index, category_index=category_index, item_cat=item_cat,
        rule_ptr=rule_ptr, rule_loc=r_loc, rule_rank=r_rank, rule_item=r_item, rule_cat=r_cat,
        lane_transit=lane_transit, lane_cpu=lane_cpu, lane_cps=lane_cps,
        il_keys=np.ascontiguousarray(il_keys), n_locations=nloc, loc_cal=loc_cal,
    )
