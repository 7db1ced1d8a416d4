"""The real-time choice (candidates_nb + order_dp_nb) against a plain-Python reference.

The reference knows nothing of the kernels: it finds each (line, node) earliest ship date with
`promising.available` day by day, then tries every way to group the lines into shipments
(set partitions, a node per group, some lines left out) and keeps the best by the policy's
lexicographic score, serving the most lines first.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promessa_testing import day
from promising import available
from sourcing.realtime import OrderLine, SourcingPolicy, SourcingRequest, source_order

NODES = {"N": (1, 2.0, 10.0), "S": (3, 1.0, 5.0), "E": (1, 0.5, 1.0)}  # transit, cost/unit, cost/shipment
ITEMS = ("A", "B", "C", "D")
LANES = [{"location": n, "zone": "C", "transit_days": t, "cost_per_unit": u, "cost_per_shipment": s} for n, (t, u, s) in NODES.items()]
RULES = [{"zone": "C", "location": n, "rank": r} for r, n in enumerate(NODES, start=1)]
H = 20


def partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in partitions(rest):
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]
        yield [[first]] + p


def reference(snap, state, lines, policy):
    """(lines served, score) of the best choice."""
    as_of = snap.as_of
    ship_kind = policy.date_kind == "ship"
    early = {}
    for i, ln in enumerate(lines):
        req = max(0, (ln.requested_date - as_of).days)
        for n, (t, _, _) in NODES.items():
            start = req if ship_kind else max(0, req - t)
            e = None
            for b in range(start, H):
                if available(snap, state, ln.item, n, snap.date(b)) >= ln.qty - 1e-9:
                    e = b
                    break
            early[i, n] = e
    max_ship = len(lines) if policy.max_splits is None else policy.max_splits + 1
    obj = policy.objective.name
    best = None
    idx = list(range(len(lines)))
    for r in range(len(lines) + 1):
        for served in itertools.combinations(idx, r):
            for part in partitions(list(served)):
                if len(part) > max_ship:
                    continue
                for nodes in itertools.product(NODES, repeat=len(part)):
                    score = [0.0, 0.0, 0.0]
                    ok = True
                    for block, n in zip(part, nodes):
                        es = [early[i, n] for i in block]
                        if any(e is None for e in es):
                            ok = False
                            break
                        t, cpu, cps = NODES[n]
                        d = max(es)
                        arr = late = 0.0
                        cost = cps
                        for i in block:
                            req = max(0, (lines[i].requested_date - as_of).days)
                            due = d if ship_kind else d + t
                            arr += d + t
                            late += max(0, due - req)
                            cost += lines[i].qty * cpu
                        vec = {"EARLIEST": (arr, late, cost), "CHEAPEST": (late, cost, arr), "PROFIT": (cost, late, arr),
                               "FEWEST": (1.0, late, cost)}[obj]
                        score = [a + b for a, b in zip(score, vec)]
                    if not ok:
                        continue
                    key = (-len(served), *score)
                    if best is None or key < best:
                        best = key
    return best


def answer_key(ans, snap, lines, policy):
    ship_kind = policy.date_kind == "ship"
    score = [0.0, 0.0, 0.0]
    served = sum(1 for ln in ans.lines if ln.legs)
    by_line = {ln.line: ln for ln in lines}
    for s in ans.shipments:
        t, cpu, cps = NODES[s.node]
        d = (s.ship_date - snap.as_of).days
        arr = late = 0.0
        for lid in s.lines:
            req = max(0, (by_line[lid].requested_date - snap.as_of).days)
            due = d if ship_kind else d + t
            arr += d + t
            late += max(0, due - req)
        vec = {"EARLIEST": (arr, late, s.cost), "CHEAPEST": (late, s.cost, arr), "PROFIT": (s.cost, late, arr),
               "FEWEST": (1.0, late, s.cost)}[policy.objective.name]
        score = [a + b for a, b in zip(score, vec)]
    return (-served, *score)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    stock=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 4)), min_size=12, max_size=12),
    n_lines=st.integers(1, 4),
    qty=st.lists(st.integers(1, 6), min_size=4, max_size=4),
    req=st.lists(st.integers(0, 4), min_size=4, max_size=4),
    objective=st.sampled_from(["earliest", "cheapest", "profit", "fewest_shipments"]),
    date_kind=st.sampled_from(["arrival", "ship"]),
    max_splits=st.sampled_from([None, 0, 1]),
)
def test_choice_matches_reference(make_snapshot, stock, n_lines, qty, req, objective, date_kind, max_splits):
    supply = [(it, n, d, q) for (it, n), (q, d) in zip(itertools.product(ITEMS, NODES), stock) if q]
    snap = make_snapshot(supply=supply, items=list(ITEMS), locations=list(NODES), horizon=H,
                         extra={"lanes": LANES, "sourcing": RULES})
    state = snap.new_state()
    lines = tuple(OrderLine(i + 1, ITEMS[i], float(qty[i]), day(req[i])) for i in range(n_lines))
    policy = SourcingPolicy(objective=objective, date_kind=date_kind, max_splits=max_splits, allow_partial=False)
    ans = source_order(snap, state, SourcingRequest("O", "C", lines, policy))
    want = reference(snap, state, lines, policy)
    got = answer_key(ans, snap, lines, policy)
    assert got == pytest.approx(want), (got, want, ans.message)
