"""Stories and public instances for the generic assignment core (sourcing/assignment.py)."""

from __future__ import annotations

import csv
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promessa.errors import InfeasibleError, ValidationError
from sourcing.assignment import (
    AssignmentConfig,
    AssignmentInstance,
    greedy_assignment,
    read_orlib_gap,
    solve,
)

GAP_DIR = next(
    (p for p in (Path(os.environ.get("PROMESSA_GAP_DIR", "/nonexistent")),
                 Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gap",
                 Path("/work/shared/data/gap")) if p.is_dir()),
    Path("/work/shared/data/gap"),
)  # the public GAP instances: $PROMESSA_GAP_DIR, or shared/ beside the repository
CFG = AssignmentConfig(time_limit_s=20, workers=2)


def _optima() -> dict[str, int]:
    with open(GAP_DIR / "optima.csv") as f:
        return {r["path"]: int(r["optimum"]) for r in csv.DictReader(f) if r["optimum"]}


# ---------------------------------------------------------------------------------------
# Stories with hand answers
# ---------------------------------------------------------------------------------------
def test_three_orders_two_nodes_cheapest_that_fits():
    """Two DCs, North (capacity 10) and South (capacity 6); three orders of 4 units.

    North is cheaper for every order (costs 1, 2, 3 vs 5, 5, 4), but only two orders fit
    there (8 of 10).  The one with the smallest extra cost at South goes south: order c
    (4 - 3 = 1).  Hand answer: a, b at North, c at South, cost 1 + 2 + 4 = 7.
    """
    cost = np.array([[1, 2, 3], [5, 5, 4]])
    usage = np.array([[4, 4, 4], [4, 4, 4]])
    inst = AssignmentInstance.from_matrices(cost, usage, [10, 6], order_keys="abc", pool_keys=["north", "south"])
    sol = solve(inst, CFG)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(7)
    assert sol.bound == pytest.approx(7)
    assert sol.chosen() == {"a": "north", "b": "north", "c": "south"}


def test_decimal_costs_and_quantities():
    """Costs in euros with cents and usage in kg: scaled to integers inside, reported back as given."""
    cost = np.array([[1.25, 2.5], [1.75, 2.0]])
    usage = np.array([[0.6, 0.6], [0.6, 0.6]])
    inst = AssignmentInstance.from_matrices(cost, usage, [0.6, 0.6])  # one order per node
    sol = solve(inst, CFG)
    # order 0 -> node 0 (1.25), order 1 -> node 1 (2.0): 3.25 beats 1.75 + 2.5 = 4.25
    assert sol.objective == pytest.approx(3.25)
    assert list(sol.assignment) == [inst.options_of(0)[0], inst.options_of(1)[1]]


def test_forbidden_pair_is_left_out():
    """Order 1 may not go to node 0 (no lane: infinite cost), so it takes node 1 even though dearer."""
    cost = np.array([[1.0, np.inf], [9.0, 9.0]])
    usage = np.ones((2, 2))
    inst = AssignmentInstance.from_matrices(cost, usage, [5, 5])
    assert inst.n_options == 3
    sol = solve(inst, CFG)
    assert sol.objective == pytest.approx(10.0)


def test_multi_pool_options():
    """An option can draw on two pools: the node's daily capacity and the item's stock there.

    Order x: node A (cost 1) uses A-capacity 1 and A-stock 5; node B (cost 3) uses B pools.
    Order y: node A (cost 1) uses A-capacity 1 and A-stock 5; node B (cost 2).
    A-stock is 5: only one of them can take A.  Best: x at A, y at B: 1 + 2 = 3.
    """
    inst = AssignmentInstance(
        n_orders=2,
        option_order=[0, 0, 1, 1],
        option_cost=[1, 3, 1, 2],
        use_option=[0, 0, 1, 1, 2, 2, 3, 3],
        use_pool=[0, 1, 2, 3, 0, 1, 2, 3],
        use_amount=[1, 5, 1, 5, 1, 5, 1, 5],
        capacity=[10, 5, 10, 10],
        order_keys=["x", "y"],
        pool_keys=["A-cap", "A-stock", "B-cap", "B-stock"],
        option_keys=["x@A", "x@B", "y@A", "y@B"],
    )
    sol = solve(inst, CFG)
    assert sol.objective == pytest.approx(3)
    assert sol.chosen() == {"x": "x@A", "y": "y@B"}
    g = greedy_assignment(inst)
    assert inst.is_feasible(g)


def test_infeasible_names_the_pools():
    """Three orders of 4 units, North holds 5 and South holds 5: one order has nowhere to go.

    A third node, West, is big but only order c may use it... and c is not the problem:
    the error names North and South, not West.
    """
    cost = np.array([[1, 1, 1], [2, 2, 2], [np.inf, np.inf, 3]])
    usage = np.full((3, 3), 4)
    inst = AssignmentInstance.from_matrices(cost, usage, [5, 5, 100], pool_keys=["north", "south", "west"])
    # c can go west, so it is feasible
    assert solve(inst, CFG).objective == pytest.approx(1 + 2 + 3)
    # now close West
    inst2 = AssignmentInstance.from_matrices(cost, usage, [5, 5, 0], pool_keys=["north", "south", "west"])
    with pytest.raises(InfeasibleError) as exc:
        solve(inst2, CFG)
    rules = exc.value.rules
    assert any("north" in r for r in rules) and any("south" in r for r in rules) and any("west" in r for r in rules)


def test_infeasible_core_leaves_out_slack_pools():
    """Orders a, b both need North (8 units each, capacity 10); c has its own big node East.

    Only North's capacity is to blame; East is never named.
    """
    cost = np.array([[1, 1, np.inf], [np.inf, np.inf, 1]])
    usage = np.array([[8, 8, 0], [0, 0, 8]])
    inst = AssignmentInstance.from_matrices(cost, usage, [10, 8], order_keys="abc", pool_keys=["north", "east"])
    with pytest.raises(InfeasibleError) as exc:
        solve(inst, CFG)
    assert len(exc.value.rules) == 1 and "north" in exc.value.rules[0]


def test_order_without_option_is_named():
    cost = np.array([[1.0, np.inf]])
    inst = AssignmentInstance.from_matrices(cost, np.ones((1, 2)), [5], order_keys=["o1", "o2"])
    with pytest.raises(InfeasibleError) as exc:
        solve(inst, CFG)
    assert exc.value.rules == ["order 'o2' has no option"]


def test_bad_instance_is_refused():
    with pytest.raises(ValidationError):
        AssignmentInstance(n_orders=1, option_order=[1], option_cost=[1], use_option=[], use_pool=[], use_amount=[], capacity=[])
    with pytest.raises(ValidationError):
        AssignmentInstance.from_matrices(np.ones((2, 3)), np.ones((2, 3)), [1, 2, 3])


def test_reader_refuses_wrong_count(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("2 2\n1 2 3 4\n1 1 1 1\n5\n")
    with pytest.raises(ValidationError, match="expected 12"):
        read_orlib_gap(p)


# ---------------------------------------------------------------------------------------
# Brute force on small random instances
# ---------------------------------------------------------------------------------------
def _brute(cost, usage, cap):
    m, n = cost.shape
    best = None
    for agents in itertools.product(range(m), repeat=n):
        use = np.zeros(m)
        for j, i in enumerate(agents):
            use[i] += usage[i, j]
        if np.all(use <= cap + 1e-9):
            c = sum(cost[i, j] for j, i in enumerate(agents))
            best = c if best is None else min(best, c)
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(1, 3),
    n=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)
def test_solver_matches_brute_force(m, n, seed):
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 20, size=(m, n)).astype(float)
    usage = rng.integers(1, 10, size=(m, n)).astype(float)
    cap = rng.integers(3, 20, size=m).astype(float)
    inst = AssignmentInstance.from_matrices(cost, usage, cap)
    best = _brute(cost, usage, cap)
    if best is None:
        with pytest.raises(InfeasibleError):
            solve(inst, AssignmentConfig(time_limit_s=5, workers=1))
        return
    g = greedy_assignment(inst)
    for solver in ("auto", "cp-sat", "scip"):  # auto = SCIP on this (classical GAP) form
        sol = solve(inst, AssignmentConfig(time_limit_s=5, workers=1, solver=solver))
        assert sol.status == "optimal"
        assert sol.objective == pytest.approx(best)
        assert sol.bound == pytest.approx(best)
        assert inst.is_feasible(sol.assignment)
        if inst.is_feasible(g):
            assert sol.objective <= inst.cost_of(g) + 1e-9


def test_unknown_solver_is_refused():
    with pytest.raises(ValidationError):
        AssignmentConfig(solver="gurobi")


# ---------------------------------------------------------------------------------------
# Public instances with known optima (a representative subset; the benchmark runs them all)
# ---------------------------------------------------------------------------------------
SUBSET = [
    "cattrysse1994/gap1-0",
    "cattrysse1994/gap4-3",
    "cattrysse1994/gap8-1",
    "cattrysse1994/gap12-2",
    "chu1997/a10200",
    "chu1997/b10100",
    "chu1997/c05100",
    "chu1997/c10100",
]


@pytest.mark.slow  # up to the 20 s time limit per instance
@pytest.mark.skipif(not GAP_DIR.exists(), reason="GAP instances not present")
@pytest.mark.parametrize("path", SUBSET)
def test_reaches_published_optimum(path):
    optimum = _optima()[path]
    inst = read_orlib_gap(GAP_DIR / path)
    sol = solve(inst, CFG)
    assert inst.is_feasible(sol.assignment)
    assert sol.objective == pytest.approx(optimum), f"{path}: {sol.status} {sol.objective} (bound {sol.bound}) vs {optimum}"
    assert sol.bound <= optimum + 1e-6
    assert sol.wall_time_s <= 20.5


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not GAP_DIR.exists(), reason="GAP instances not present")
def test_cli_solve_json(capsys):
    from promessa.cli import main

    rc = main(["sourcing", "solve", str(GAP_DIR / "cattrysse1994/gap1-0"), "--time-limit", "10", "--workers", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["objective"] == 261 and out["bound"] == 261
    assert len(out["assignment"]) == 15


def test_cli_infeasible_exit_code(tmp_path, capsys):
    from promessa.cli import main

    p = tmp_path / "tight.txt"
    p.write_text("1 2\n1 1\n3 3\n5\n")  # one agent of capacity 5, two jobs of 3
    assert main(["sourcing", "solve", str(p)]) == 2
    assert "capacity of pool 'agent0'" in capsys.readouterr().err
