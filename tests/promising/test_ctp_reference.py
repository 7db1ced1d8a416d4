"""Capable-to-promise held equal to its slow, plain-Python reference (`promising.testing.ctp_reference`).

The reference reads the bills as dictionaries and plans recursively over lists; the kernels
read the exploded CSR arrays. Both follow the rules in docs/ctp.md (stock first, one lot per
level, breadth-first order, latest capacity day first, the latest lot finish that works).
Properties: kernel == reference; component and capacity consumption never exceed what
exists; commit then release restores the state; replaying the stored reservation rebuilds
it; where no bill exists CTP equals ATP.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promising
from promising import Policy, Request, Reservation, ctp
from promising.enums import EPS
from promising.testing.ctp_reference import AS_OF, H, LOC, Reference
from supplydata.schema import TABLES
from supplydata.snapshot import build_snapshot


pytestmark = pytest.mark.slow  # random plants through the kernels and the reference (bounded examples)

ITEMS = ("A", "B", "C", "D", "E", "F")
MADE = {"A": ("B", "C", "D", "E"), "B": ("C", "D", "E", "F"), "C": ("D", "E", "F")}


def frames(rows: dict) -> dict[str, pl.DataFrame]:
    out = {}
    for name, t in TABLES.items():
        schema = t.polars_schema()
        rs = rows.get(name, [])
        if rs:
            extra = sorted({k for r in rs for k in r if k not in schema})
            out[name] = pl.DataFrame([{c: r.get(c) for c in (*schema, *extra)} for r in rs], schema_overrides=schema,
                                     infer_schema_length=None)
        else:
            out[name] = pl.DataFrame(schema=schema)
    return out


@st.composite
def plants(draw):
    qtys = st.sampled_from([0.5, 1.0, 2.0, 3.0])
    bills = {}
    for item, cands in MADE.items():
        if item != "A" and not draw(st.booleans()):
            continue
        comps = draw(st.lists(st.sampled_from(cands), min_size=1, max_size=3, unique=True))
        bills[item] = dict(
            comps=[(c, draw(qtys)) for c in comps],
            res=draw(st.sampled_from([[], [("R1", 1.0)], [("R2", 0.5)], [("R1", 2.0), ("R2", 1.0)]])),
            lt=draw(st.integers(0, 3)),
        )
    # keep only bills reachable from A (others would be roots of their own, also fine)
    supply = []
    for item in ITEMS:
        for _ in range(draw(st.integers(1, 3))):
            supply.append((item, draw(st.integers(0, H - 1)), float(draw(st.integers(0, 40)))))
    demand = [(draw(st.sampled_from(ITEMS)), draw(st.integers(0, H - 1)), float(draw(st.integers(1, 10))))
              for _ in range(draw(st.integers(0, 2)))]
    caps = {r: [float(draw(st.sampled_from([0, 2, 5, 5, 10]))) for _ in range(H)] for r in ("R1", "R2")}
    fence = draw(st.sampled_from([0, 0, 0, 3, 6]))
    f_lt = draw(st.sampled_from([None, None, 4, 9]))
    requests = draw(st.lists(
        st.tuples(st.sampled_from(["A", "A", "A", "B", "C"]), st.integers(1, 50), st.integers(0, H - 1),
                  st.sampled_from([None, 0, 3]), st.sampled_from([True, True, False])),
        min_size=1, max_size=3))
    return dict(bills=bills, supply=supply, demand=demand, caps=caps, fence=fence, f_lt=f_lt, requests=requests)


def build(plant):
    day = lambda n: AS_OF + dt.timedelta(days=n)  # noqa: E731
    items = [{"item": i, "lead_time_days": plant["f_lt"] if i == "F" else None,
              "atp_time_fence_days": plant["fence"] if i == "A" else 0} for i in ITEMS]
    bom = []
    for item, b in plant["bills"].items():
        for c, q in b["comps"]:
            bom.append({"item": item, "location": LOC, "component": c, "qty_per": q, "lead_time_days": b["lt"]})
        for r, u in b["res"]:
            bom.append({"item": item, "location": LOC, "resource": r, "usage_per_unit": u, "lead_time_days": b["lt"]})
    rows = {
        "items": items,
        "locations": [{"location": LOC, "kind": "plant"}],
        # every item gets a row at the plant (a zero receipt) so that it has an ATP row
        "supply": [{"item": i, "location": LOC, "date": day(0), "qty": 0.0, "kind": "onhand"} for i in ITEMS]
        + [{"item": i, "location": LOC, "date": day(d), "qty": q, "kind": "purchase"} for i, d, q in plant["supply"]],
        "demand": [{"item": i, "location": LOC, "date": day(d), "qty": q} for i, d, q in plant["demand"]],
        "bom": bom,
        "resources": [{"resource": r, "location": LOC, "date": day(d), "capacity": c}
                      for r, cs in plant["caps"].items() for d, c in enumerate(cs)],
    }
    return build_snapshot({"as_of": AS_OF, "horizon_days": H, "journal_seq": None}, frames(rows))


def reference(snap, state, plant):
    m = ctp.ctp_model(snap)
    used = ctp.capacity_used(snap, state)
    bills = {i: (b["comps"], b["res"], b["lt"]) for i, b in plant["bills"].items()}
    cum = {i: list(state.cum[snap.il_of(i, LOC)]) for i in ITEMS}
    lt = {i: int(snap.il_lead_time[snap.il_of(i, LOC)]) for i in ITEMS}
    rem = {r: list(np.maximum(m.cap[m.resource_index[(r, LOC)]] - used[m.resource_index[(r, LOC)]], 0.0))
           for r in ("R1", "R2")}
    return Reference(bills, cum, lt, rem, {"A": plant["fence"]})


def nonneg_positions(snap, state):
    """Cumulative positions that must stay non-negative (before any replenishment lead time)."""
    mask = np.zeros(state.cum.shape, dtype=bool)
    for il in range(snap.n_il):
        lt = int(snap.il_lead_time[il])
        end = snap.horizon if lt < 0 else lt
        mask[il, :end] = state.cum[il, :end] >= -EPS
    return mask


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plants())
def test_kernel_equals_reference_and_respects_supply(plant):
    snap = build(plant)
    state = snap.new_state()
    ctp.capacity_used(snap, state)
    start = state.copy()
    m = ctp.ctp_model(snap)
    cap = m.cap
    promises = []
    for item, qty, req, max_late, partial in plant["requests"]:
        request = Request(item, LOC, float(qty), AS_OF + dt.timedelta(days=req),
                          policy=Policy(allow_partial=partial, max_late_days=max_late))
        if item not in plant["bills"]:
            atp, *_ = promising.promise_atp(snap, state, request)
            p = promising.promise(snap, state, request)
            assert (p.status, p.lines, p.draws) == (atp.status, atp.lines, None)
            continue
        last = H - 1 if max_late is None else min(H - 1, req + max_late)
        ref = reference(snap, state, plant)
        r_status, r_t, r_qty, r_lots, r_bind = ref.promise(item, float(qty), req, last, partial)
        p = ctp.plan(snap, state, request)
        assert p.status is r_status, (p, r_status)
        assert p.t == r_t
        assert abs(p.qty - r_qty) <= 1e-6
        lots = [(int(p.lot_f[k]), float(p.lot_make[k, 0])) for k in range(p.n_lots)]
        assert [f for f, _ in lots] == [f for f, _ in r_lots]
        np.testing.assert_allclose([x for _, x in lots], [x for _, x in r_lots], atol=1e-6)
        assert int(p.fail_i[0]) == r_bind
        # commit through the public path; check consumption against what exists
        keep = nonneg_positions(snap, state)
        before = state.copy()
        q = promising.promise(snap, state, request, commit=True)
        if q.committed:
            promises.append(q)
        assert np.all(state.cum[keep] >= -1e-7), "a component or the item was promised beyond its supply"
        assert np.all(state.extras["capacity"] <= cap + 1e-7), "capacity was promised beyond what exists"
        if q.draws is not None and q.details and q.details["ctp"].get("made_qty", 0) > 0:
            # the reference's own lots lead to the same component and capacity state
            ref.make_by(item, r_t, q.details["ctp"]["made_qty"], ref.cum, ref.rem)
            for key in ITEMS:
                if key != item:
                    np.testing.assert_allclose(ref.cum[key], state.cum[snap.il_of(key, LOC)], atol=1e-7)
            for key in ("R1", "R2"):
                r = m.resource_index[(key, LOC)]
                np.testing.assert_allclose(ref.rem[key], np.maximum(cap[r] - state.extras["capacity"][r], 0), atol=1e-7)
        # replaying the stored reservation on the state before gives the same state
        if q.committed:
            replay = before.copy()
            promising.reserve(snap, replay, Reservation.from_dict(q.reservation.to_dict()))
            np.testing.assert_allclose(replay.cum, state.cum, atol=1e-9, rtol=0)
            np.testing.assert_allclose(replay.extras["capacity"], state.extras["capacity"], atol=1e-9, rtol=0)
    # release everything (newest first): the state is back where it started
    for q in reversed(promises):
        promising.unreserve(snap, state, q.reservation)
    np.testing.assert_allclose(state.cum, start.cum, atol=1e-9, rtol=0)
    np.testing.assert_allclose(state.extras["capacity"], start.extras["capacity"], atol=1e-9, rtol=0)


@settings(max_examples=40, deadline=None)
@given(plants(), st.integers(1, 60), st.integers(0, H - 1))
def test_no_bill_means_plain_atp(plant, qty, req):
    """Items without a bill (D, E, F) answer exactly as ATP, committed the same way."""
    snap = build(plant)
    for item in ("D", "E", "F"):
        request = Request(item, LOC, float(qty), AS_OF + dt.timedelta(days=req))
        s1, s2 = snap.new_state(), snap.new_state()
        atp, il, out_b, out_q = promising.promise_atp(snap, s1, request)
        for k in range(len(atp.lines)):
            promising.kernels.commit_1d_nb(s1.cum[il], out_b[k], out_q[k])
        p = promising.promise(snap, s2, request, commit=True)
        assert (p.status, p.reason, p.lines, p.earliest_full_date) == (atp.status, atp.reason, atp.lines, atp.earliest_full_date)
        np.testing.assert_array_equal(s1.cum, s2.cum)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plants(), st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(1, 50), st.integers(0, H - 1),
                                    st.sampled_from([None, 0, 3]), st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_batch_equals_promise_line_by_line(plant, lines):
    """The batch kernel answers and commits exactly as `promising.promise` line by line."""
    snap = build(plant)
    s1, s2 = snap.new_state(), snap.new_state()
    ctp.capacity_used(snap, s1)
    reqs = [Request(i, LOC, float(q), AS_OF + dt.timedelta(days=d),
                    policy=Policy(allow_partial=p, allow_split=sp, max_late_days=ml)) for i, q, d, ml, p, sp in lines]
    seq = [promising.promise(snap, s1, r, commit=True, explain=False) for r in reqs]
    df = pl.DataFrame({
        "item": [r.item for r in reqs], "location": [LOC] * len(reqs), "qty": [r.qty for r in reqs],
        "requested_date": [r.requested_date for r in reqs], "allow_partial": [r.policy.allow_partial for r in reqs],
        "allow_split": [r.policy.allow_split for r in reqs],
        "max_late_days": pl.Series([r.policy.max_late_days for r in reqs], dtype=pl.Int64),
    })
    out = ctp.promise_batch_ctp(snap, s2, df, commit=True)
    for i, p in enumerate(seq):
        assert (int(out.status[i]), int(out.reason[i]), int(out.n_lines[i])) == (int(p.status), int(p.reason), len(p.lines)), i
        got = [(AS_OF + dt.timedelta(days=int(out.bucket[i, k])), float(out.qty[i, k])) for k in range(out.n_lines[i])]
        assert [g[0] for g in got] == [ln.date for ln in p.lines]
        np.testing.assert_allclose([g[1] for g in got], [ln.qty for ln in p.lines], atol=1e-9)
    np.testing.assert_allclose(s1.cum, s2.cum, atol=1e-9, rtol=0)
    np.testing.assert_allclose(s1.extras["capacity"], s2.extras["capacity"], atol=1e-9, rtol=0)

