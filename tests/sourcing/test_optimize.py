"""The one optimization instance and CP-SAT model shared by the GAP core and the batch optimizer.

The story: customer order O1 has two units, u0 and u1, each servable from node N1 or N2.
Option costs (lateness and per-unit shipping): u0@N1 1, u0@N2 1, u1@N1 0, u1@N2 1. A shipment
from a node costs 5 once per order, a second node costs 3 more (a split). N1 can ship only one
unit a day (a pool of capacity 1; each N1 option uses 1). Leaving u1 unserved costs 1.5.

- both from N1: 1 + 0 + 5 = 6, but N1's capacity forbids it;
- both from N2: 1 + 1 + 5 = 7;   u0@N1 and u1 unserved: 1 + 5 + 1.5 = 7.5;   a split: 14.
So the answer is both from N2, objective 7.
"""

from __future__ import annotations

import numpy as np
import pytest
from ortools.sat.python import cp_model

from promessa.errors import InfeasibleError
from sourcing.optimize import AssignmentInstance, AssignmentModel

OPTIONS = [("u0", "N1", 1.0), ("u0", "N2", 1.0), ("u1", "N1", 0.0), ("u1", "N2", 1.0)]


def story(*, n2_capacity: float | None = None, unserved: bool = True, max_splits: int | None = None) -> AssignmentInstance:
    pools = ["N1 day capacity"] + (["N2 day capacity"] if n2_capacity is not None else [])
    uses = [(k, pools.index(f"{node} day capacity"), 1.0) for k, (_, node, _) in enumerate(OPTIONS)
            if f"{node} day capacity" in pools]
    return AssignmentInstance(
        n_orders=2, option_order=[0, 0, 1, 1], option_cost=[c for _, _, c in OPTIONS],
        use_option=[k for k, _, _ in uses], use_pool=[p for _, p, _ in uses], use_amount=[a for _, _, a in uses],
        capacity=[1.0] + ([n2_capacity] if n2_capacity is not None else []),
        order_keys=["u0", "u1"], option_keys=[(u, n) for u, n, _ in OPTIONS], pool_keys=pools,
        unserved_cost=[100.0, 1.5] if unserved else None,
        shipment_of_option=[0, 1, 0, 1], shipment_customer=[0, 0], shipment_cost=[5.0, 5.0],
        shipment_keys=[("O1", "N1"), ("O1", "N2")], customer_keys=["O1"], split_cost=3.0, max_splits=max_splits,
    )


def test_the_batch_parts_shipments_splits_and_unserved_give_the_hand_answer():
    mdl = AssignmentModel(story(), cost_scale=100)
    assert set(mdl.x) == {("u0", "N1"), ("u0", "N2"), ("u1", "N1"), ("u1", "N2")}  # keyed by business keys
    assert set(mdl.shipment) == {("O1", "N1"), ("O1", "N2")} and set(mdl.unserved) == {"u0", "u1"}
    assert mdl.solve(time_limit_s=10) == cp_model.OPTIMAL
    assert mdl.solver.objective_value / 100 == pytest.approx(7.0)
    assert [OPTIONS[k][:2] for k in mdl.choice()] == [("u0", "N2"), ("u1", "N2")]
    assert mdl.solver.boolean_value(mdl.shipment[("O1", "N2")]) and not mdl.solver.boolean_value(mdl.shipment[("O1", "N1")])


def test_the_rules_that_conflict_are_named():
    # N2 also ships one unit a day, every unit must be served and no split is allowed: each of the
    # three rules is needed for the conflict, so all three are named.
    inst = story(n2_capacity=1.0, unserved=False, max_splits=0)
    assert AssignmentModel(inst).solve(time_limit_s=10) == cp_model.INFEASIBLE
    rules = AssignmentModel(inst, assumptions=True).conflicting_rules(time_limit_s=10)
    assert sorted(rules) == ["at most 0 split(s) for order O1", "capacity of pool 'N1 day capacity' (1)",
                             "capacity of pool 'N2 day capacity' (1)"]


def test_an_order_without_options_is_named():
    inst = AssignmentInstance(n_orders=2, option_order=[0], option_cost=[1.0], use_option=[], use_pool=[], use_amount=[],
                              capacity=[], order_keys=["a", "b"])
    with pytest.raises(InfeasibleError) as e:
        AssignmentModel(inst)
    assert e.value.rules == ["order 'b' has no option"]


def test_the_gap_is_the_special_case_without_batch_parts():
    # 2 agents x 3 jobs: cost and usage per (agent, job), capacity 2 each; job sizes 1.
    cost = np.array([[1, 4, 3], [2, 1, 1]])
    usage = np.ones((2, 3))
    inst = AssignmentInstance.from_matrices(cost, usage, [2, 2], order_keys=["j0", "j1", "j2"], pool_keys=["a0", "a1"])
    mdl = AssignmentModel(inst)
    assert mdl.unserved == {} and mdl.shipment == {} and mdl.taken == {}
    assert mdl.solve(time_limit_s=10) == cp_model.OPTIMAL
    # best: j0 -> a0 (1), j1 -> a1 (1), j2 -> a1 (1) = 3, within both capacities
    assert inst.cost_of(mdl.choice()) == 3 and mdl.bound == pytest.approx(3)
