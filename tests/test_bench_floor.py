"""The floor of the rescheduling benchmark (benchmarks/bench_scenarios.py): a bare greedy loop, hand-checked."""

from __future__ import annotations

import numpy as np

from benchmarks.bench_scenarios import _bare_greedy_nb


def test_bare_loop_gives_back_old_schedules_then_promises_in_order():
    # one item-location, 5 days, no lead time; line 0 had 1 unit confirmed on day 1
    cum = np.array([[2.0, 2.0, 5.0, 5.0, 5.0]])
    ils, qty, req = np.array([0, 0]), np.array([4.0, 3.0]), np.array([0, 0])
    ptr, ob, oq = np.array([0, 1, 1]), np.array([1]), np.array([1.0])
    order = np.array([1, 0])  # line 1 first (higher priority)
    out_b, out_q = np.empty(2, np.int64), np.empty(2)
    _bare_greedy_nb(cum, np.array([-1]), order, ils, qty, req, ptr, ob, oq, out_b, out_q)
    # after the release: [2, 3, 6, 6, 6]; line 1 (3 units) first has 3 on day 1 -> [2, 0, 3, 3, 3];
    # line 0 (4 units) never has 4: the largest reachable, 3, on the first day it is reached (day 2)
    assert out_b.tolist() == [2, 1]
    assert out_q.tolist() == [3.0, 3.0]
    assert cum.tolist() == [[2.0, 0.0, 0.0, 0.0, 0.0]]


def test_bare_loop_takes_unlimited_supply_from_the_lead_time_on():
    cum = np.array([[1.0, 1.0, 1.0, 1.0]])
    out_b, out_q = np.empty(1, np.int64), np.empty(1)
    _bare_greedy_nb(cum, np.array([2]), np.array([0]), np.array([0]), np.array([5.0]), np.array([0]),
                    np.array([0, 0]), np.empty(0, np.int64), np.empty(0), out_b, out_q)
    assert (out_b[0], out_q[0]) == (2, 5.0)
    assert cum.tolist() == [[1.0, 1.0, -4.0, -4.0]]
