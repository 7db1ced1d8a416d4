"""Batch sourcing partitioned by independent clusters of orders: clusters by hand, the merged
optimum equals the whole batch's (hand answers, brute force), greedy equal line for line, and a
local Ray cluster (two workers, loopback) gives the in-process answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from promessa_testing import day

from promessa.errors import ValidationError
from sourcing.batch import BatchConfig, _assignments, build_problem, evaluate, greedy, solve_batch
from sourcing.partitioned import order_clusters, solve_partitioned

LANES = [
    {"location": "N", "zone": "C", "transit_days": 1, "cost_per_unit": 2.0, "cost_per_shipment": 10.0},
    {"location": "S", "zone": "C", "transit_days": 3, "cost_per_unit": 1.0, "cost_per_shipment": 5.0},
    {"location": "E", "zone": "C", "transit_days": 1, "cost_per_unit": 0.5, "cost_per_shipment": 1.0},
]
RULES = [{"zone": "C", "location": loc, "rank": r} for r, loc in enumerate(("N", "S", "E"), start=1)]
CLASSES = [{"demand_class": "gold", "priority": 1}, {"demand_class": "bronze", "priority": 3}]
CFG = BatchConfig(time_limit_s=10, workers=1, date_kind="ship")


@pytest.fixture
def net(make_snapshot):
    def _make(supply, **kw):
        return make_snapshot(supply=supply, items=["A", "B", "C"], locations=["N", "S", "E"],
                             extra={"lanes": LANES, "sourcing": RULES, "demand_classes": CLASSES}, **kw)

    return _make


def orders(rows):
    return pl.DataFrame(
        [{"order": o, "line": ln, "item": it, "qty": float(q), "requested_date": day(d), "zone": "C",
          "demand_class": c, "ship_set": s} for o, ln, it, q, d, c, s in rows],
        schema={"order": pl.String, "line": pl.Int64, "item": pl.String, "qty": pl.Float64, "requested_date": pl.Date,
                "zone": pl.String, "demand_class": pl.String, "ship_set": pl.String},
    )


def test_orders_are_tied_by_the_item_locations_their_options_draw_on(net):
    """A is at N and S, B at E only, C at N only. O1 and O2 (A) both could draw on A@N and A@S;
    O3 (B) draws on B@E only; O5 (C) on C@N: a node is not a tie, an item-location is. O4 has a
    line of A and one of B: it joins the A orders and the B order into one cluster."""
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "E", 0, 5), ("C", "N", 0, 3)])
    three = orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None),
                    ("O3", 1, "B", 5, 0, None, None), ("O5", 1, "C", 2, 0, None, None)])
    assert order_clusters(snap, snap.new_state(), three, CFG).tolist() == [0, 0, 1, 2]
    tied = pl.concat([three, orders([("O4", 1, "A", 1, 0, None, None), ("O4", 2, "B", 1, 0, None, None)])])
    assert order_clusters(snap, snap.new_state(), tied, CFG).tolist() == [0, 0, 0, 1, 0, 0]


def test_node_capacity_ties_orders_shipping_from_the_node_on_one_day(net):
    """A and B only at N. O1 wants 5 A, O2 5 B, both today: apart they are independent. With N
    shipping at most 6 units a day they compete: one is served from N (5 x 2 + 10 = 20), the
    other stays unserved (5 units x 1000) - the whole batch's optimum, 5020, and the merge's."""
    snap = net([("A", "N", 0, 10), ("B", "N", 0, 10)])
    o = orders([("O1", 1, "A", 5, 0, None, None), ("O2", 1, "B", 5, 0, None, None)])
    assert order_clusters(snap, snap.new_state(), o, CFG).tolist() == [0, 1]
    capped = BatchConfig(time_limit_s=10, workers=1, date_kind="ship", node_capacity={"N": 6})
    assert order_clusters(snap, snap.new_state(), o, capped).tolist() == [0, 0]
    whole = solve_batch(snap, snap.new_state(), o, capped)
    split = solve_partitioned(snap, snap.new_state(), o, capped, parts=2)
    assert whole.objective == pytest.approx(5020.0) and split.objective == pytest.approx(5020.0)
    assert split.timings["partitions"] == 1 and split.status == "optimal"
    assert split.assignments["served"].sum() == 1


def test_the_merged_optimum_is_the_whole_batch_optimum(net):
    """Two clusters. A: N has 10, S has 10; O1 and O2 want 10 today: one from each node,
    (10 x 2 + 10) + (10 x 1 + 5) = 45. B: E has 5; O3 wants 5 today from E: 5 x 0.5 + 1 = 3.5.
    The whole batch's optimum is 48.5; so is the sum of the two partitions' optima."""
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "E", 0, 5)])
    o = orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None), ("O3", 1, "B", 5, 0, None, None)])
    whole = solve_batch(snap, snap.new_state(), o, CFG)
    split = solve_partitioned(snap, snap.new_state(), o, CFG, parts=2)
    assert whole.status == "optimal" and whole.objective == pytest.approx(48.5)
    assert split.status == "optimal" and split.objective == pytest.approx(48.5)
    assert split.bound == pytest.approx(48.5) and split.gap == pytest.approx(0.0)
    assert [p.objective for p in split.parts] == pytest.approx([45.0, 3.5])
    a = split.assignments
    assert a["order"].to_list() == ["O1", "O2", "O3"]  # the input's row order
    assert sorted(a["node"].to_list()[:2]) == ["N", "S"] and a["node"][2] == "E"
    d = split.to_dict()
    assert (d["units"], d["served_units"], d["partitions"], d["clusters"]) == (3, 3, 2, 2)


def brute(prob):
    choices = [list(np.flatnonzero(prob.opt_unit == u)) + [-1] for u in range(prob.n_units)]
    return min(evaluate(prob, np.array(c, dtype=np.int64)) for c in itertools.product(*choices))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    stock=st.lists(st.integers(0, 12), min_size=9, max_size=9),
    lines=st.lists(st.tuples(st.integers(0, 3), st.sampled_from("ABC"), st.integers(1, 8), st.integers(0, 3),
                             st.sampled_from(["gold", "bronze", None])), min_size=1, max_size=5),
    cap=st.sampled_from([None, 8]),
)
def test_partitioned_optimum_matches_brute_force_of_the_whole_batch(net, stock, lines, cap):
    supply = [(it, loc, 0, stock[j]) for j, (it, loc) in enumerate(itertools.product("ABC", "NSE")) if stock[j]]
    snap = net(supply or [("A", "N", 0, 1)])
    o = orders([(f"O{k}", n + 1, it, q, d, c, None) for n, (k, it, q, d, c) in enumerate(lines)])
    cfg = BatchConfig(time_limit_s=5, workers=1, date_kind="ship", node_capacity={"*": cap} if cap else None)
    best = brute(build_problem(snap, snap.new_state(), o, cfg))
    split = solve_partitioned(snap, snap.new_state(), o, cfg, parts=3)
    assert split.status == "optimal"
    assert split.objective == pytest.approx(best, abs=1e-6)
    assert split.bound <= best + 1e-6
    # the merged assignment, evaluated on the whole batch, costs what the merge says
    prob = build_problem(snap, snap.new_state(), o, cfg)
    assert evaluate(prob, choice_of(prob, split.assignments)) == pytest.approx(split.objective, abs=1e-6)


def choice_of(prob, assignments: pl.DataFrame) -> np.ndarray:
    """The option per unit of `prob` that the assignments name (node and ship date of the unit's first line)."""
    choice = np.full(prob.n_units, -1, np.int64)
    rows = assignments.to_dicts()
    for u, ls in enumerate(prob.unit_lines):
        r = rows[int(ls[0])]
        if not r["served"]:
            continue
        node = prob.snap.location_index[r["node"]]
        b = (r["ship_date"] - prob.snap.as_of).days
        (k,) = np.flatnonzero((prob.opt_unit == u) & (prob.opt_node == node) & (prob.opt_bucket == b))
        choice[u] = k
    return choice


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A generated network: 300 items over 4 DCs and 4 stores in 3 zones, 1,500 order lines of 1-5 lines."""
    from supplydata import load_snapshot
    from supplydata.generate import generate

    path = tmp_path_factory.mktemp("partitioned") / "net"
    generate(path, seed=5, size="small", items=300, dcs=4, stores=4, zones=3, order_lines=1500)
    snap = load_snapshot(path)
    o = pl.read_parquet(path / "orders.parquet")
    return snap, o


def test_partitioned_greedy_is_the_whole_greedy_line_for_line(sample):
    snap, o = sample
    state = snap.new_state()
    labels = order_clusters(snap, state, o)
    assert labels.max() + 1 > 10  # many clusters
    # every order's lines in one cluster
    per_order = pl.DataFrame({"order": o["order"], "c": labels}).group_by("order").agg(pl.col("c").n_unique())
    assert (per_order["c"] == 1).all()
    prob = build_problem(snap, state, o)
    g = greedy(prob)
    for parts in (1, 3):
        split = solve_partitioned(snap, state, o, method="greedy", parts=parts)
        assert_frame_equal(split.assignments, _assignments(prob, g))
        assert split.objective == pytest.approx(evaluate(prob, g), rel=1e-12)
        assert split.status == "greedy"
    assert split.timings["partitions"] == 3


def test_partitioned_solve_on_the_sample_is_feasible_and_bounded(sample):
    snap, o = sample
    state = snap.new_state()
    cfg = BatchConfig(time_limit_s=5, workers=1)
    split = solve_partitioned(snap, state, o, cfg, parts=3)
    prob = build_problem(snap, state, o, cfg)
    obj = evaluate(prob, choice_of(prob, split.assignments))
    assert math.isfinite(obj) and obj == pytest.approx(split.objective, rel=1e-9)
    assert split.bound <= split.objective + 1e-6 and split.objective <= split.greedy_objective + 1e-6
    assert split.greedy_objective == pytest.approx(evaluate(prob, greedy(prob)), rel=1e-12)


def test_bad_arguments_are_refused_with_the_field(net):
    snap = net([("A", "N", 0, 10)])
    o = orders([("O1", 1, "A", 1, 0, None, None)])
    with pytest.raises(ValidationError) as exc:
        solve_partitioned(snap, snap.new_state(), o, CFG, executor="dask")
    assert (exc.value.field, exc.value.value) == ("sourcing.executor", "dask")
    with pytest.raises(ValidationError) as exc:
        solve_partitioned(snap, snap.new_state(), o, CFG, parts=0)
    assert exc.value.field == "sourcing.parts"
    with pytest.raises(ValidationError) as exc:
        solve_partitioned(snap, snap.new_state(), o, CFG, method="best")
    assert exc.value.field == "method"
    with pytest.raises(ValidationError) as exc:
        solve_partitioned(snap, snap.new_state(), orders([("O1", 1, "Q", 1, 0, None, None)]), CFG)
    assert exc.value.field == "item"


@pytest.mark.timeout(300)
def test_ray_with_two_workers_gives_the_in_process_answer(net, sample):
    ray = pytest.importorskip("ray")
    snap, o = sample
    hand = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "E", 0, 5)])
    ho = orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None), ("O3", 1, "B", 5, 0, None, None)])
    from supplydata.scaleout import ray_init

    if ray.is_initialized():
        ray.shutdown()
    ray_init(cpus=2)  # as promessa starts a local Ray: on the loopback interface
    try:
        g = solve_partitioned(snap, snap.new_state(), o, method="greedy", parts=2, executor="ray", timeout_s=240)
        h = solve_partitioned(hand, hand.new_state(), ho, CFG, parts=2, executor="ray", timeout_s=240)
    finally:
        ray.shutdown()
    here = solve_partitioned(snap, snap.new_state(), o, method="greedy", parts=2)
    assert_frame_equal(g.assignments, here.assignments)
    assert g.objective == here.objective and g.timings["partitions"] == 2
    assert h.status == "optimal" and h.objective == pytest.approx(48.5)
    assert h.assignments["node"][2] == "E"


def test_cli_batch_partitioned(net, tmp_path, capsys):
    """`promessa sourcing batch ... --parts 2` solves the two clusters apart: 48.5 as above."""
    import json

    from promessa.cli import main

    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "E", 0, 5)])
    path = tmp_path / "orders.parquet"
    orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None),
            ("O3", 1, "B", 5, 0, None, None)]).write_parquet(path)
    out = tmp_path / "a.csv"
    rc = main(["sourcing", "batch", snap.source, str(path), "--time-limit", "5", "--date-kind", "ship", "--parts", "2",
               "--out", str(out), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["partitions"], d["clusters"], d["served_units"], d["status"]) == (2, 2, 3, "optimal")
    assert d["objective"] == pytest.approx(48.5)
    assert pl.read_csv(out)["node"].to_list()[2] == "E"
