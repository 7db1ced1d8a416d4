"""Partitioning a backlog into independent clusters, and rescheduling partition by partition
(in-process and on a local Ray cluster) gives the single run's plan."""

from __future__ import annotations

import ipaddress

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from promessa_testing import day

from promising.enums import MAX_LINES
from scenarios.backlog import RescheduleConfig, Rule, reschedule
from scenarios.partition import clusters, pack
from scenarios.scaleout import reschedule_partitioned
from supplydata.scaleout import LOOPBACK, ray_init, ray_node_addresses


def hand_backlog(rows):
    """rows: (order, ship_set, item, location, qty, requested day, old qty, old day or None, demand_class, priority)"""
    return pl.DataFrame({
        "order": [r[0] for r in rows], "line": list(range(1, len(rows) + 1)), "ship_set": [r[1] for r in rows],
        "item": [r[2] for r in rows], "location": [r[3] for r in rows], "qty": [float(r[4]) for r in rows],
        "requested_date": [day(r[5]) for r in rows], "old_qty": [float(r[6]) for r in rows],
        "old_date": [day(r[7]) if r[7] is not None else None for r in rows],
        "demand_class": [r[8] for r in rows], "priority": [r[9] for r in rows],
    }, schema_overrides={"old_date": pl.Date, "ship_set": pl.String})


ROWS = [
    # order, ship set, item, loc, qty, req, old qty, old day, class, prio
    ("O1", None, "A", "DC1", 5, 2, 5, 2, "online", 3),    # 0
    ("O1", None, "B", "DC1", 4, 3, 4, 3, "online", 3),    # 1
    ("O2", None, "C", "DC2", 6, 2, 6, 2, "key_account", 1),  # 2
    ("O3", "S", "D", "DC2", 2, 5, 0, None, "online", 2),  # 3
    ("O3", "S", "E", "DC2", 3, 5, 0, None, "online", 2),  # 4
    ("O4", None, "A", "DC1", 5, 2, 5, 2, "key_account", 1),  # 5
    ("O5", None, "Z", "DC1", 1, 2, 0, None, "online", 5),  # 6: Z is not stocked at DC1
]


@pytest.fixture
def world(make_snapshot):
    """The counts found less than was promised: A has 6 on hand (10 were promised: O1 5, O4 5),
    8 more on day 9; B 4, C 3 (6 promised) and 6 on day 12, D 2, E 1. Z is stocked at DC2 only."""
    from promising import commit

    supply = [("A", "DC1", 0, 6), ("A", "DC1", 9, 8), ("B", "DC1", 0, 4), ("C", "DC2", 0, 3), ("C", "DC2", 12, 6),
              ("D", "DC2", 0, 2), ("E", "DC2", 0, 1), ("Z", "DC2", 0, 9)]
    snap = make_snapshot(supply=supply, horizon=30)
    bl = hand_backlog(ROWS)
    state = snap.new_state()
    for r in bl.iter_rows(named=True):
        if r["old_qty"] > 0:
            commit(snap, state, r["item"], r["location"], r["old_date"], r["old_qty"])
    return snap, state, bl


def test_clusters_follow_item_locations_and_the_chosen_ties(world):
    snap, _state, bl = world
    # by item-location only: A@DC1 (rows 0, 5), B@DC1, C@DC2, D@DC2, E@DC2, and the unstocked Z line alone
    assert clusters(snap, bl, ties=()).tolist() == [0, 1, 2, 3, 4, 0, 5]
    # the ship set S ties D and E
    assert clusters(snap, bl, ties=("ship_set",)).tolist() == [0, 1, 2, 3, 3, 0, 4]
    # orders tie A and B (O1), D and E (O3); O4 is on A already
    assert clusters(snap, bl, ties=("order", "ship_set")).tolist() == [0, 0, 1, 2, 2, 0, 3]


def test_bills_tie_a_made_item_to_its_components(make_snapshot):
    snap = make_snapshot(supply=[("K", "DC1", 0, 1), ("P", "DC1", 0, 1), ("Q", "DC1", 0, 1)], horizon=10,
                         extra={"bom": pl.DataFrame({"item": ["K"], "location": ["DC1"], "component": ["P"],
                                                     "qty_per": [2.0], "resource": [None], "usage_per_unit": [None],
                                                     "lead_time_days": [1]},
                                                    schema_overrides={"resource": pl.String, "usage_per_unit": pl.Float64})})
    bl = pl.DataFrame({"item": ["P", "Q", "K"], "location": ["DC1"] * 3})
    assert clusters(snap, bl, ties=()).tolist() == [0, 1, 0]
    assert clusters(snap, bl, ties=(), bills=False).tolist() == [0, 1, 2]


def test_pack_keeps_clusters_whole_and_balances_lines():
    labels = np.array([0, 0, 0, 1, 2, 2, 3, 0])  # sizes 4, 1, 2, 1
    parts = pack(labels, 2)
    # largest (0: 4 lines) to part 0, then 2 (2 lines) to part 1, then 1 and 3 to part 1 (lighter)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 7], [3, 4, 5, 6]]
    assert [p.tolist() for p in pack(labels, 1)] == [list(range(8))]
    assert len(pack(labels, 9)) == 4  # never more partitions than clusters


CONFIG = RescheduleConfig(rules=[Rule(strategy="win", demand_class=["key_account"])], min_ship_qty=0.0)


def assert_same_plan(a, b):
    assert_frame_equal(a.lines, b.lines)
    assert_frame_equal(a.schedule, b.schedule)
    assert_frame_equal(a.summary, b.summary)
    assert_frame_equal(a.orders, b.orders)
    assert (a.state.cum == b.state.cum).all()
    assert (a.new_n == b.new_n).all()
    used = np.arange(MAX_LINES)[None, :] < a.new_n[:, None]
    assert (a.new_b[used] == b.new_b[used]).all() and (a.new_q[used] == b.new_q[used]).all()


@pytest.mark.parametrize("parts", [2, 3, 10])
def test_partitioned_rescheduling_gives_the_single_run_plan(world, parts):
    """On A, O4 (key account, win) keeps 5 on day 2; only 1 is left there, so O1 (no split
    allowed) moves whole to the receipt on day 9. C's O2 (win) cannot keep 6 on day 2 (3 there)
    and moves whole to day 12. Z is not stocked at DC1 and gets nothing."""
    snap, state, bl = world
    single = reschedule(snap, state, bl, CONFIG)
    split = reschedule_partitioned(snap, state, bl, CONFIG, parts=parts)
    assert_same_plan(single, split)
    assert split.timings["partitions"] == min(parts, 6)
    got = split.lines.select("order", "item", "new_qty", "new_date").rows()
    assert got[5] == ("O4", "A", 5.0, day(2))
    assert got[0] == ("O1", "A", 5.0, day(9))
    assert got[2] == ("O2", "C", 6.0, day(12))
    assert got[6][2] == 0.0
    assert split.schedule.filter(pl.col("row") == 0).select("date", "qty").rows() == [(day(9), 5.0)]


def test_partitioned_rescheduling_on_the_generated_sample(tmp_path):
    from supplydata import load_snapshot
    from supplydata.generate import generate
    from scenarios.service import backlog_from_orders

    generate(tmp_path / "net", seed=3, size="small")
    snap = load_snapshot(tmp_path / "net")
    live, bl, sch = backlog_from_orders(snap, pl.read_parquet(tmp_path / "net" / "orders.parquet"))
    cfg = RescheduleConfig(rules=[Rule(strategy="win", demand_class=["key_account"]),
                                  Rule(strategy="gain", demand_class=["retail"]),
                                  Rule(strategy="fill", demand_class=["wholesale"])], min_ship_qty=2)
    single = reschedule(snap, live, bl, cfg, schedule=sch)
    split = reschedule_partitioned(snap, live, bl, cfg, schedule=sch, parts=4)
    assert split.timings["partitions"] == 4 and split.timings["clusters"] > 100
    assert_same_plan(single, split)
    assert split.timings["dropped_lines"] == single.timings["dropped_lines"]
    # the planner's item-location of every line lies in exactly one cluster
    lab = clusters(snap, bl, ties=())
    per_il = pl.DataFrame({"il": single.ils, "c": lab}).filter(pl.col("il") >= 0).group_by("il").agg(pl.col("c").n_unique())
    assert per_il.height == np.unique(single.ils[single.ils >= 0]).size and (per_il["c"] == 1).all()


def test_fair_share_is_planned_as_one_partition(world):
    snap, state, bl = world
    cfg = RescheduleConfig(within="fair_share")
    res = reschedule_partitioned(snap, state, bl, cfg, parts=3)
    assert_same_plan(reschedule(snap, state, bl, cfg), res)
    assert "partitions" not in res.timings  # the single run itself


@pytest.mark.timeout(180)
def test_ray_with_two_workers_gives_the_in_process_plan(world):
    ray = pytest.importorskip("ray")
    snap, state, bl = world
    if ray.is_initialized():
        ray.shutdown()
    ray_init(cpus=2)  # as promessa starts a local Ray: on the loopback interface
    try:
        res = reschedule_partitioned(snap, state, bl, CONFIG, parts=2, executor="ray", timeout_s=120)
        # again, with the snapshot already in the object store, on other live positions (C counted 6 more)
        moved = state.copy()
        moved.adjust_supply(snap.il_of("C", "DC2"), 0, 6.0)
        again = reschedule_partitioned(snap, moved, bl, CONFIG, parts=2, executor="ray", timeout_s=120)
    finally:
        ray.shutdown()
    assert_same_plan(reschedule(snap, state, bl, CONFIG), res)
    assert res.timings["partitions"] == 2
    assert_same_plan(reschedule(snap, moved, bl, CONFIG), again)
    assert again.lines.row(2, named=True)["new_date"] == day(2)  # O2 keeps its 6 on day 2 now


def _loopback(ip: str) -> bool:
    a = ipaddress.ip_address(ip.split("%")[0])
    return a.is_loopback or (a.version == 6 and a.ipv4_mapped is not None and a.ipv4_mapped.is_loopback)


@pytest.mark.timeout(180)
def test_a_local_ray_started_by_promessa_listens_on_loopback_only():
    """`ray_init` without an address starts a local cluster that no other machine can reach: its node is
    127.0.0.1, and every socket the Ray processes (GCS, raylet, agents, workers) listen on is a loopback one."""
    ray = pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    if ray.is_initialized():
        ray.shutdown()
    ray_init(cpus=1)
    try:
        assert ray_node_addresses(ray) == [LOOPBACK]
        assert ray.get(ray.remote(lambda: ray.util.get_node_ip_address()).remote()) == LOOPBACK  # a worker's view
        listening = set()
        for p in psutil.Process().children(recursive=True):
            try:
                listening |= {(c.laddr.ip, c.laddr.port, p.name()) for c in p.net_connections(kind="inet")
                              if c.status == psutil.CONN_LISTEN}
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    finally:
        ray.shutdown()
    assert {name for _ip, _port, name in listening} >= {"gcs_server", "raylet"}
    assert [x for x in listening if not _loopback(x[0])] == []


def test_the_settings_choose_where_the_planner_runs(world):
    from promessa.config import Settings
    from scenarios.service import reschedule as planned

    snap, state, bl = world
    single = reschedule(snap, state, bl, CONFIG)
    s = Settings()
    assert s.scenarios.executor == "inprocess" and s.scenarios.parts == 1
    assert "partitions" not in planned(snap, state, bl, CONFIG, settings=s).timings
    s.scenarios.parts = 3
    res = planned(snap, state, bl, CONFIG, settings=s)
    assert res.timings["partitions"] == 3
    assert_same_plan(single, res)
