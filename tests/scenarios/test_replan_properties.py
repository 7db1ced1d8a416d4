"""The engine pass of rescheduling on random small instances with quota pools (hypothesis):
no quota is overdrawn by the rescheduler, and its new state is exactly the replay of the final
reservations (the kernel lines' new schedules and the engine lines' draws) on the start state."""

from __future__ import annotations

import datetime as dt
import tempfile

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import allocation
import promising
from promising import Policy, Request
from promising.reservation import Draw, Reservation
from scenarios.backlog import RescheduleConfig, Rule, reschedule
from supplydata.snapshot import load_snapshot
from supplydata.writer import write_snapshot

AS_OF = dt.date(2026, 1, 5)
H = 20
CLASSES = ("gold", "silver", None)
STRATS = ("win", "gain", "redistribute", "fill", "lose")

pytestmark = pytest.mark.slow


def day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


def snapshot(tmp: str, onhand: float, receipts, gold_q: float, silver_q: float, steal: bool, plain: float,
             sub: float):
    """A at DC1 with quotas for gold and silver; B at DC1 without (plain-ATP lines), with its
    substitute B2 (`sub` on hand: B's lines that draw it are the engine's substitution lines)."""
    supply = [{"item": "A", "location": "DC1", "date": day(0), "qty": float(onhand), "kind": "onhand"},
              {"item": "B", "location": "DC1", "date": day(0), "qty": float(plain), "kind": "onhand"},
              {"item": "B2", "location": "DC1", "date": day(0), "qty": float(sub), "kind": "onhand"}]
    supply += [{"item": "A", "location": "DC1", "date": day(d), "qty": float(q), "kind": "purchase"} for d, q in receipts]
    tables = {
        "items": [{"item": i, "price": 10.0, "cost": 6.0, "category": "c"} for i in ("A", "B", "B2")],
        "substitutes": [{"item": "B", "substitute": "B2", "preference": 1, "valid_from": None, "valid_to": None}],
        "locations": [{"location": "DC1", "kind": "dc", "zone": "Z1"}],
        "supply": supply,
        "demand_classes": [{"demand_class": "gold", "priority": 1, "parent": None, "can_steal_lower": steal},
                           {"demand_class": "silver", "priority": 2, "parent": None, "can_steal_lower": False}],
        "allocation": [{"item": "A", "location": "DC1", "demand_class": "gold", "date": day(0), "qty": float(gold_q)},
                       {"item": "A", "location": "DC1", "demand_class": "silver", "date": day(0), "qty": float(silver_q)}],
    }
    return load_snapshot(write_snapshot(tmp, tables, as_of=AS_OF, horizon_days=H))


lines_st = st.lists(st.tuples(st.sampled_from(("A", "A", "B")), st.sampled_from(CLASSES), st.integers(1, 8),
                              st.integers(0, H - 2), st.integers(1, 3)), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(onhand=st.integers(0, 15), receipts=st.lists(st.tuples(st.integers(1, H - 1), st.integers(1, 10)), max_size=2),
       gold_q=st.integers(0, 10), silver_q=st.integers(0, 10), steal=st.booleans(), plain=st.integers(0, 10),
       sub=st.integers(0, 6),
       lines=lines_st, delta=st.tuples(st.integers(0, H - 1), st.integers(-8, 10)),
       default=st.sampled_from(STRATS), win_gold=st.booleans(), nothing=st.booleans(), fill_gain=st.booleans())
def test_no_quota_overdrawn_and_the_state_is_the_replay(onhand, receipts, gold_q, silver_q, steal, plain, sub, lines,
                                                        delta, default, win_gold, nothing, fill_gain):
    with tempfile.TemporaryDirectory() as tmp:
        snap = snapshot(tmp, onhand, receipts, gold_q, silver_q, steal, plain, sub)
    state = snap.new_state()
    rows, sched, reservations = [], [], {}
    for r, (item, cls, qty, d, prio) in enumerate(lines):
        p = promising.promise(snap, state, Request(item, "DC1", float(qty), day(d), Policy(allow_split=True), cls),
                              commit=True)
        rows.append({"order": f"O{r}", "line": 1, "item": item, "location": "DC1", "qty": float(qty),
                     "requested_date": day(d), "demand_class": cls, "priority": prio})
        sched += [{"row": r, "date": ln.date, "qty": float(ln.qty)} for ln in p.lines]
        if item == "A" or any(d.key != item for d in p.reservation.draws):  # pools or a substitute
            reservations[r] = p.reservation
    assert allocation.over_quota(snap, state) == []
    start = state.copy()
    il = snap.il_of("A", "DC1")
    start.adjust_supply(il, delta[0], float(delta[1]))  # a supply delta after capture
    backlog = pl.DataFrame(rows, schema={"order": pl.String, "line": pl.Int64, "item": pl.String, "location": pl.String,
                                         "qty": pl.Float64, "requested_date": pl.Date, "demand_class": pl.String,
                                         "priority": pl.Int64})
    schedule = pl.DataFrame(sched, schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64})
    cfg = RescheduleConfig(default_strategy=default, allow_split=True, fill_can_gain=fill_gain,
                           start_from="nothing" if nothing else "confirmed",
                           rules=[Rule(strategy="win", demand_class=["gold"])] if win_gold else [])
    before = start.copy()
    res = reschedule(snap, start, backlog, cfg, schedule=schedule, reservations=reservations)
    # the input state is untouched
    assert np.array_equal(start.cum, before.cum)
    # no quota overdrawn by the rescheduler
    assert allocation.over_quota(snap, res.state) == []
    # the new state is the replay of the final reservations on the start state without the backlog
    replay = before.copy()
    for r in range(len(lines)):
        old = reservations.get(r)
        if old is not None:
            promising.unreserve(snap, replay, old)
        else:
            promising.unreserve(snap, replay, Reservation(tuple(
                Draw("atp", "B", "DC1", s["date"], s["qty"]) for s in sched if s["row"] == r)))
    for r in range(len(lines)):
        if r in res.promises:
            promising.reserve(snap, replay, res.promises[r].reservation)
        elif r in reservations and res.lines["change"][r] == "unchanged":
            promising.reserve(snap, replay, reservations[r])
        else:
            item = lines[r][0]
            n = int(res.new_n[r])
            promising.reserve(snap, replay, Reservation(tuple(
                Draw("atp", item, "DC1", snap.date(int(res.new_b[r, k])), float(res.new_q[r, k]), lines[r][1])
                for k in range(n))))
    assert np.allclose(replay.cum, res.state.cum, atol=1e-6)
    for k, v in res.state.extras.items():
        assert np.allclose(replay.extras[k], v, atol=1e-6)
