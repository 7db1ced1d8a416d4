"""Batch optimizer: stories, brute force on small random instances, never worse than greedy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promessa.errors import InfeasibleError
from promessa_testing import day
from sourcing.batch import BatchConfig, build_problem, eject_repair, evaluate, greedy, lp_relaxation, lp_round, solve_batch

LANES = [
    {"location": "N", "zone": "C", "transit_days": 1, "cost_per_unit": 2.0, "cost_per_shipment": 10.0},
    {"location": "S", "zone": "C", "transit_days": 3, "cost_per_unit": 1.0, "cost_per_shipment": 5.0},
    {"location": "E", "zone": "C", "transit_days": 1, "cost_per_unit": 0.5, "cost_per_shipment": 1.0},
]
RULES = [{"zone": "C", "location": loc, "rank": r} for r, loc in enumerate(("N", "S", "E"), start=1)]
CLASSES = [
    {"demand_class": "gold", "priority": 1},
    {"demand_class": "bronze", "priority": 3},
]


@pytest.fixture
def net(make_snapshot):
    def _make(supply, **kw):
        return make_snapshot(supply=supply, items=["A", "B"], locations=["N", "S", "E"],
                             extra={"lanes": LANES, "sourcing": RULES, "demand_classes": CLASSES}, **kw)

    return _make


def orders(rows):
    return pl.DataFrame(
        [{"order": o, "line": ln, "item": it, "qty": float(q), "requested_date": day(d), "zone": "C",
          "demand_class": c, "ship_set": s} for o, ln, it, q, d, c, s in rows],
        schema={"order": pl.String, "line": pl.Int64, "item": pl.String, "qty": pl.Float64, "requested_date": pl.Date,
                "zone": pl.String, "demand_class": pl.String, "ship_set": pl.String},
    )


CFG = BatchConfig(time_limit_s=10, workers=2, date_kind="ship")


def test_higher_class_is_served_first(net):
    """Only N has A (10 units). Bronze order O1 came first and wants 10; gold order O2 wants 10.
    The batch gives N's 10 to gold and leaves bronze unserved."""
    snap = net([("A", "N", 0, 10)])
    sol = solve_batch(snap, snap.new_state(), orders([("O1", 1, "A", 10, 0, "bronze", None), ("O2", 1, "A", 10, 0, "gold", None)]), CFG)
    a = {r["order"]: r for r in sol.assignments.iter_rows(named=True)}
    assert a["O2"]["served"] and a["O2"]["node"] == "N"
    assert not a["O1"]["served"]
    assert sol.status in ("optimal", "feasible", "greedy") and sol.objective >= sol.bound - 1e-6


def test_batch_shares_scarce_supply_better_than_first_come(net):
    """N has 10 A, S has 10 A (ships on time, dearer per shipment... cheaper per unit).
    O1 wants 10 A today; O2 wants 10 A today.  Both are served, one from each node; the total
    shipping is (10x2+10) + (10x1+5) = 45 whatever the pairing."""
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10)])
    sol = solve_batch(snap, snap.new_state(), orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None)]), CFG)
    assert sol.assignments["served"].all()
    assert sorted(sol.assignments["node"].to_list()) == ["N", "S"]
    assert sol.objective == pytest.approx(45.0)
    assert sol.status == "optimal" and sol.bound == pytest.approx(45.0)


def test_ship_set_and_node_capacity(net):
    """A ship set of A and B: only S has both.  With S limited to 5 units a day, the ship set
    (10 units) cannot ship from S, so it stays unserved; a single line of 4 B fits."""
    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10), ("B", "S", 0, 20)])
    rows = [("O1", 1, "A", 5, 0, None, "X"), ("O1", 2, "B", 5, 0, None, "X"), ("O2", 1, "B", 4, 0, None, None)]
    free = solve_batch(snap, snap.new_state(), orders(rows), CFG)
    assert free.assignments["node"].to_list() == ["S", "S", "S"]
    capped = solve_batch(snap, snap.new_state(), orders(rows), BatchConfig(time_limit_s=10, date_kind="ship", node_capacity={"S": 5}))
    a = capped.assignments
    assert a["served"].to_list() == [False, False, True]


def test_infeasible_names_the_rule(net):
    """Every line must be served, but N holds 10 A and two orders want 10 each from N only."""
    snap = net([("A", "N", 0, 10)])
    cfg = BatchConfig(time_limit_s=5, date_kind="ship", allow_unserved=False)
    with pytest.raises(InfeasibleError) as exc:
        solve_batch(snap, snap.new_state(), orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None)]), cfg)
    assert any("availability of A at N" in r for r in exc.value.rules)


def test_split_limit(net):
    """A only at N, B only at S: with no split allowed an order gets one node, so one line is
    unserved; without a limit both lines are served from two nodes."""
    snap = net([("A", "N", 0, 10), ("B", "S", 0, 10)])
    rows = [("O1", 1, "A", 5, 0, None, None), ("O1", 2, "B", 5, 0, None, None)]
    assert solve_batch(snap, snap.new_state(), orders(rows), CFG).assignments["served"].all()
    one = solve_batch(snap, snap.new_state(), orders(rows), BatchConfig(time_limit_s=5, date_kind="ship", max_splits=0))
    assert one.assignments["served"].sum() == 1


# ---------------------------------------------------------------------------------------
# Brute force on small random instances, and never worse than greedy
# ---------------------------------------------------------------------------------------
def brute(prob):
    choices = []
    for u in range(prob.n_units):
        ks = list(np.flatnonzero(prob.opt_unit == u)) + ([-1] if prob.config.allow_unserved else [])
        choices.append(ks)
    best = math.inf
    for combo in itertools.product(*choices):
        best = min(best, evaluate(prob, np.array(combo, dtype=np.int64)))
    return best


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    stock=st.lists(st.integers(0, 12), min_size=6, max_size=6),
    arrive=st.lists(st.integers(0, 3), min_size=6, max_size=6),
    lines=st.lists(st.tuples(st.integers(0, 2), st.sampled_from("AB"), st.integers(1, 8), st.integers(0, 3),
                             st.sampled_from(["gold", "bronze", None])), min_size=1, max_size=5),
    max_splits=st.sampled_from([None, 0]),
    cap=st.sampled_from([None, 8]),
)
def test_optimizer_matches_brute_force(net, stock, arrive, lines, max_splits, cap):
    supply = []
    for j, (it, loc) in enumerate(itertools.product("AB", "NSE")):
        if stock[j]:
            supply.append((it, loc, arrive[j], stock[j]))
    snap = net(supply or [("A", "N", 0, 1)])
    rows = [(f"O{o}", n + 1, it, q, d, c, None) for n, (o, it, q, d, c) in enumerate(lines)]
    cfg = BatchConfig(time_limit_s=5, workers=1, date_kind="ship", max_splits=max_splits,
                      node_capacity={"*": cap} if cap else None)
    prob = build_problem(snap, snap.new_state(), orders(rows), cfg)
    sol = solve_batch(snap, snap.new_state(), prob)
    best = brute(prob)
    assert sol.objective == pytest.approx(best, abs=1e-6)
    assert sol.bound <= best + 1e-6
    g = evaluate(prob, greedy(prob))
    assert sol.objective <= g + 1e-9
    # the LP relaxation (big batches: bound and rounded hint) bounds brute force; its rounding
    # and the ejection repair give feasible answers, the repair never worse than its start
    lpb, xs, us = lp_relaxation(prob)
    assert xs is not None and lpb <= best + 1e-6
    r = lp_round(prob, xs, us)
    r_obj = evaluate(prob, r)
    assert r_obj >= best - 1e-6 and (math.isfinite(r_obj) or not prob.config.allow_unserved)
    assert evaluate(prob, eject_repair(prob, r)) <= r_obj + 1e-9
    assert evaluate(prob, eject_repair(prob, greedy(prob))) <= g + 1e-9


def test_cli_batch(net, tmp_path, capsys):
    """`promessa sourcing batch SNAPSHOT ORDERS --json` solves and writes the assignments."""
    import json

    from promessa.cli import main

    snap = net([("A", "N", 0, 10), ("A", "S", 0, 10)])
    path = tmp_path / "orders.parquet"
    orders([("O1", 1, "A", 10, 0, None, None), ("O2", 1, "A", 10, 0, None, None)]).write_parquet(path)
    out = tmp_path / "a.csv"
    rc = main(["sourcing", "batch", snap.source, str(path), "--time-limit", "5", "--date-kind", "ship", "--out", str(out), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["served_units"] == 2 and d["objective"] == pytest.approx(45.0)
    assert pl.read_csv(out)["node"].sort().to_list() == ["N", "S"]
