"""Rescheduling invariants on random networks (hypothesis)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promising import Policy, promise_batch
from scenarios.backlog import RescheduleConfig, Rule, reschedule
from supplydata import TABLES, build_snapshot

AS_OF = dt.date(2026, 1, 5)
H = 20
ITEMS = ("A", "B")
STRATS = ("win", "gain", "redistribute", "fill", "lose")


def snapshot(supply, lead_time=None):
    """Items A (no lead time) and B (replenishment lead time `lead_time`, None: none) at DC1."""
    tables = {name: t.empty() for name, t in TABLES.items()}
    tables["items"] = pl.DataFrame({"item": list(ITEMS), "category": ["c"] * 2, "brand": [None] * 2, "price": [1.0] * 2,
                                    "cost": [0.5] * 2, "lead_time_days": [None, lead_time], "lead_time_working_days": [None] * 2},
                                   schema=TABLES["items"].polars_schema())
    tables["locations"] = pl.DataFrame({"location": ["DC1"], "kind": ["dc"], "zone": ["Z1"], "country": [None],
                                        "calendar": [None]}, schema=TABLES["locations"].polars_schema())
    rows = [(i, "DC1", AS_OF + dt.timedelta(days=d), float(q), "purchase", None) for i, d, q in supply]
    rows += [(i, "DC1", AS_OF, 0.0, "onhand", None) for i in ITEMS]  # every item stocked
    tables["supply"] = pl.DataFrame(rows, schema=TABLES["supply"].polars_schema(), orient="row")
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, tables)


supply_rows = st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(0, H - 1), st.integers(1, 12)), min_size=1, max_size=8)
order_rows = st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(1, 8), st.integers(0, H - 1), st.sampled_from(STRATS),
                                st.integers(1, 3)), min_size=1, max_size=14)


def make_case(supply, orders, lead_time=None):
    """Promise the orders on the first snapshot (their old schedule); return the backlog."""
    snap = snapshot(supply, lead_time)
    state = snap.new_state()
    bl = pl.DataFrame({
        "order": [f"O{k}" for k in range(len(orders))], "item": [o[0] for o in orders], "location": ["DC1"] * len(orders),
        "qty": [float(o[1]) for o in orders], "requested_date": [AS_OF + dt.timedelta(days=o[2]) for o in orders],
        "demand_class": [o[3] for o in orders], "priority": [o[4] for o in orders],
    })
    out = promise_batch(snap, state, bl, commit=True, policy=Policy(allow_split=True, max_lines=3))
    sched = [(r, AS_OF + dt.timedelta(days=int(out.bucket[r, k])), float(out.qty[r, k]))
             for r in range(len(orders)) for k in range(int(out.n_lines[r]))]
    sch = pl.DataFrame(sched, schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64}, orient="row")
    return snap, state, bl, sch


CFG = RescheduleConfig(rules=[Rule(strategy=s, demand_class=[s]) for s in STRATS], allow_split=True, max_lines=3)


def rebase(old_snap, old_state, new_snap):
    st_ = new_snap.new_state()
    st_.cum[:] = new_snap.base_cum - (old_snap.base_cum - old_state.cum)
    return st_


def check_supply(res, live, sch, snap):
    """Never more than supply: positions that were not negative once the backlog was given back
    do not become negative; and the new state is exactly the released one minus the new schedule."""
    released = live.cum.copy()
    for r, d, q in sch.iter_rows():
        il = snap.il_of(res.lines["item"][r], "DC1")
        released[il, (d - AS_OF).days:] += q
    ok = released >= -1e-9
    lt = snap.il_lead_time
    ok &= np.arange(H)[None, :] < np.where(lt >= 0, lt, H)[:, None]  # supply is unlimited from the lead time on
    assert (res.state.cum[ok] >= -1e-6).all()
    expect = released.copy()
    for r, d, q in res.schedule.iter_rows():
        il = snap.il_of(res.lines["item"][r], "DC1")
        expect[il, (d - AS_OF).days:] -= q
    np.testing.assert_allclose(res.state.cum, expect, atol=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(supply=supply_rows, orders=order_rows, within=st.sampled_from(["fcfs", "fair_share"]),
       lead_time=st.one_of(st.none(), st.integers(2, 15)))
def test_same_supply_win_and_gain_never_get_worse(supply, orders, within, lead_time):
    snap, live, bl, sch = make_case(supply, orders, lead_time)
    before = live.cum.copy()
    res = reschedule(snap, live, bl, CFG.model_copy(update={"within": within}), schedule=sch)
    assert (live.cum == before).all()
    wg = res.lines.filter(pl.col("strategy").is_in(["win", "gain"]))
    assert set(wg["change"].to_list()) <= {"unchanged", "improved"}
    fill = res.lines.filter(pl.col("strategy") == "fill")
    assert set(fill["change"].to_list()) <= {"unchanged", "worsened"}  # fill never gains (higher groups may improve)
    assert (res.lines.filter(pl.col("strategy") == "lose")["new_qty"] == 0).all()
    assert (res.lines["new_qty"] <= res.lines["qty"] + 1e-9).all()
    check_supply(res, live, sch, snap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(supply=supply_rows, orders=order_rows, cut=st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8),
       within=st.sampled_from(["fcfs", "fair_share"]), lead_time=st.one_of(st.none(), st.integers(2, 15)))
def test_cut_supply_never_overpromises_and_reports_worse_win_gain_lines(supply, orders, cut, within, lead_time):
    snap, live, bl, sch = make_case(supply, orders, lead_time)
    new_snap = snapshot([(i, d, max(1, int(q * c))) for (i, d, q), c in zip(supply, cut)], lead_time)
    new_live = rebase(snap, live, new_snap)
    res = reschedule(new_snap, new_live, bl, CFG.model_copy(update={"within": within}), schedule=sch)
    worse = res.lines.filter(pl.col("strategy").is_in(["win", "gain"]) & pl.col("change").is_in(["worsened", "mixed"]))
    assert worse["exception"].is_not_null().all()
    fill = res.lines.filter(pl.col("strategy") == "fill")
    assert set(fill["change"].to_list()) <= {"unchanged", "worsened"}
    check_supply(res, new_live, sch, new_snap)


def _fill_reference(snap, live, bl, sch, cut_snap):
    """Plain-Python SAP fill over the ATP reference: every line a fill line, processed by
    priority then input order, each before the next: keep the old schedule when all of it fits
    (line after line), else promise at most the old quantity no earlier than the old last date."""
    from promising.testing import atp_reference as ref

    cum = {i: list(rebase(snap, live, cut_snap).cum[cut_snap.il_of(i, "DC1")]) for i in ITEMS}
    lts = {i: int(cut_snap.il_lead_time[cut_snap.il_of(i, "DC1")]) for i in ITEMS}
    old = {}
    for r, d, q in sch.iter_rows():
        old.setdefault(r, []).append(((d - AS_OF).days, q))
    for r, rows in old.items():
        i = bl["item"][r]
        for b, q in rows:
            cum[i] = [c + q if s >= b else c for s, c in enumerate(cum[i])]
    order = sorted(range(bl.height), key=lambda r: (bl["priority"][r], r))
    out = {}
    for r in order:
        i, rows = bl["item"][r], old.get(r, [])
        if not rows:
            out[r] = []
            continue
        trial, ok = list(cum[i]), True
        for b, q in rows:
            if ref.available(trial, lts[i], b) < q - 1e-9:
                ok = False
                break
            trial = ref.commit(trial, b, q)
        if ok:
            cum[i], out[r] = trial, [(b, q) for b, q in rows]
            continue
        qty = min(sum(q for _, q in rows), float(bl["qty"][r]))
        req = max(rows[-1][0], (bl["requested_date"][r] - AS_OF).days)
        _s, _rs, lines, _ef = ref.promise(cum[i], lts[i], None, qty, req, -1, True, True, 3)
        for b, q in lines:
            cum[i] = ref.commit(cum[i], b, q)
        out[r] = lines
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(supply=supply_rows, orders=order_rows, cut=st.integers(0, 6), lead_time=st.one_of(st.none(), st.integers(2, 15)))
def test_fill_group_equals_the_sequential_reference(supply, orders, cut, lead_time):
    """All lines fill; supply cut at one receipt. The fill step equals the plain reference line
    by line (a lower fill line never keeps units a higher fill line needed)."""
    snap, live, bl, sch = make_case(supply, orders, lead_time)
    cut_supply = [(i, d, max(0, q - cut)) if k == 0 else (i, d, q) for k, (i, d, q) in enumerate(supply)]
    new_snap = snapshot(cut_supply, lead_time)
    state = rebase(snap, live, new_snap)
    res = reschedule(new_snap, state, bl, RescheduleConfig(default_strategy="fill", allow_split=True, max_lines=3), schedule=sch)
    want = _fill_reference(snap, live, bl, sch, new_snap)
    for r in range(bl.height):
        got = [((d - AS_OF).days, q) for _, d, q in res.schedule.filter(pl.col("row") == r).iter_rows()]
        assert [b for b, _ in got] == [b for b, _ in want[r]], (r, got, want[r])
        np.testing.assert_allclose([q for _, q in got], [q for _, q in want[r]], atol=1e-7)
