"""The allocation kernel held equal to its plain-Python reference on random quota trees, and the
invariants: the total never exceeds supply, no class consumes a higher-priority class's quota,
quotas are never overdrawn by a promise, and without quotas the answers are plain ATP exactly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import allocation
import promising
from allocation import kernels as ak
from allocation import testing as ref
from promising import kernels as pk
from promising.enums import EPS, FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, MAX_LINES
from supplydata.schema import TABLES
from supplydata.snapshot import build_snapshot

# hundreds of random examples per property: slow (CI runs them; bounded, no deadline)
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def trees(draw):
    """A random item-location: supply, classes (hierarchy, priorities, stealing), pools and positions."""
    H = draw(st.integers(3, 14))
    K = draw(st.integers(1, 4))
    cpar = [draw(st.integers(-1, c - 1)) if c else -1 for c in range(K)]
    prio = [draw(st.integers(1, 4)) for _ in range(K)]
    steal = [draw(st.booleans()) for _ in range(K)]
    with_pool = [c for c in range(K) if draw(st.booleans())] or [0]
    pool_of = {c: i for i, c in enumerate(with_pool)}
    par = []
    for c in with_pool:
        a = cpar[c]
        while a >= 0 and a not in pool_of:
            a = cpar[a]
        par.append(pool_of[a] if a >= 0 else -1)
    supply = [float(draw(st.integers(0, 12))) if draw(st.booleans()) else 0.0 for _ in range(H)]
    demand = [float(draw(st.integers(0, 6))) if draw(st.integers(0, 3)) == 0 else 0.0 for _ in range(H)]
    C = list(np.cumsum(np.array(supply) - np.array(demand)))
    X = []
    for _ in with_pool:
        inc = [float(draw(st.integers(0, 8))) if draw(st.integers(0, 2)) == 0 else 0.0 for _ in range(H)]
        X.append(list(np.cumsum(inc)))
    prot = None
    if draw(st.booleans()):  # protection rows (qty, from bucket, until bucket) per pool, until after from
        prot = []
        for _ in with_pool:
            rows = []
            for _ in range(draw(st.integers(0, 2))):
                d = draw(st.integers(0, H - 1))
                rows.append((float(draw(st.integers(0, 3))), d, draw(st.integers(d + 1, H))))
            prot.append(rows)
    lt = draw(st.one_of(st.just(-1), st.integers(0, H + 1)))
    cal = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=H, max_size=H)))
    return dict(H=H, K=K, cpar=cpar, prio=prio, steal=steal, cls=with_pool, par=par, C=C, X=X, prot=prot, lt=lt, cal=cal)


@st.composite
def asks(draw, K, H):
    return dict(
        k=draw(st.integers(-1, K - 1)),
        qty=float(draw(st.integers(1, 20))) + draw(st.sampled_from([0.0, 0.5])),
        req=draw(st.integers(0, H - 1)),
        max_late=draw(st.one_of(st.just(-1), st.integers(0, H))),
        partial=draw(st.booleans()),
        split=draw(st.booleans()),
        max_lines=draw(st.integers(1, MAX_LINES)),
        backorder=draw(st.booleans()),
    )


def kernel_arrays(t):
    P = len(t["cls"])
    X = np.array(t["X"], dtype=np.float64).reshape(P, t["H"])
    C = np.array(t["C"], dtype=np.float64)
    prot = np.zeros((P, 0))
    if t["prot"] is not None:
        R = max(1, max(len(r) for r in t["prot"]))
        prot = np.zeros((P, 3 * R))
        for p, rows in enumerate(t["prot"]):
            for j, row in enumerate(rows):
                prot[p, 3 * j:3 * j + 3] = row
    cal = np.ones(0, dtype=np.bool_) if t["cal"] is None else np.array(t["cal"], dtype=np.bool_)
    return (X, C, np.array(t["par"], dtype=np.int64), np.array(t["cls"], dtype=np.int64),
            np.array(t["cpar"], dtype=np.int64), np.array(t["prio"], dtype=np.int64),
            np.array(t["steal"], dtype=np.bool_), prot, cal)


def run_kernel(arrs, t, a, *, commit):
    X, C, par, cls, cpar, prio, steal, prot, cal = arrs
    P = X.shape[0]
    out_b = np.empty(MAX_LINES, dtype=np.int64)
    out_q = np.empty(MAX_LINES)
    out_src = np.empty((MAX_LINES, P + 1), dtype=np.int64)
    out_srcq = np.empty((MAX_LINES, P + 1))
    out_nsrc = np.zeros(MAX_LINES, dtype=np.int64)
    pb = np.empty(MAX_LINES, dtype=np.int64)
    pq = np.empty(MAX_LINES)
    flags = ((FLAG_PARTIAL if a["partial"] else 0) | (FLAG_SPLIT if a["split"] else 0)
             | (FLAG_BACKORDER if a["backorder"] else 0))
    r = ak.promise_class_1d_nb(X, C, par, cls, cpar, prio, steal, prot, a["k"], t["lt"], cal, a["qty"], a["req"],
                               a["max_late"], flags, a["max_lines"], commit, out_b, out_q, out_src, out_srcq, out_nsrc, pb, pq)
    status, reason, n, ef = r[:4]
    lines = [(int(out_b[j]), float(out_q[j]), [(int(out_src[j, i]), float(out_srcq[j, i])) for i in range(out_nsrc[j])])
             for j in range(n)]
    return status, reason, lines, ef, r[10]


def same_lines(a, b):
    if len(a) != len(b):
        return False
    for (b1, q1, p1), (b2, q2, p2) in zip(a, b):
        if b1 != b2 or abs(q1 - q2) > 1e-7 or len(p1) != len(p2):
            return False
        if any(n1 != n2 or abs(x1 - x2) > 1e-7 for (n1, x1), (n2, x2) in zip(p1, p2)):
            return False
    return True


@SETTINGS
@given(data=st.data())
def test_kernel_equals_reference_over_a_sequence(data):
    t = data.draw(trees())
    arrs = kernel_arrays(t)
    X_ref, C_ref = [list(r) for r in t["X"]], list(t["C"])
    for _ in range(data.draw(st.integers(1, 4))):
        a = data.draw(asks(t["K"], t["H"]))
        got = run_kernel(arrs, t, a, commit=True)
        want = ref.promise(X_ref, C_ref, t["par"], t["cls"], t["cpar"], t["prio"], t["steal"], t["prot"], a["k"], t["lt"],
                           t["cal"], a["qty"], a["req"], a["max_late"], a["partial"], a["split"], a["max_lines"],
                           a["backorder"])
        assert got[0] == want[0] and got[1] == want[1] and got[3] == want[3] and got[4] == want[4], (got, want)
        assert same_lines(got[2], want[2]), (got, want)
        ref.commit(X_ref, C_ref, t["par"], want[2])
        assert np.allclose(arrs[0], np.array(X_ref).reshape(arrs[0].shape)) and np.allclose(arrs[1], C_ref)


@SETTINGS
@given(data=st.data())
def test_invariants(data):
    """Total within supply; no pool overdrawn; no class takes a higher-priority class's quota
    (other than its own ancestors', which it lives inside)."""
    t = data.draw(trees())
    arrs = kernel_arrays(t)
    X, C = arrs[0], arrs[1]
    end = t["H"] if t["lt"] < 0 else min(t["lt"], t["H"])
    for _ in range(data.draw(st.integers(1, 4))):
        a = data.draw(asks(t["K"], t["H"]))
        C0, X0 = C.copy(), X.copy()
        status, reason, lines, ef, binding = run_kernel(arrs, t, a, commit=True)
        promised = sum(q for _, q, _ in lines)
        assert promised <= a["qty"] + EPS
        # the item-location's cumulative position: never pushed below zero where it was not (inside the lead time)
        assert np.all((C[:end] >= -1e-7) | (C0[:end] < -1e-7))
        # pool positions: never pushed below zero where they were not
        assert np.all((X[:, :end] >= -1e-7) | (X0[:, :end] < -1e-7))
        own_path = set()
        if a["k"] >= 0:
            _, own = ref.sources(t["par"], t["cls"], t["cpar"], t["prio"], t["steal"], a["k"])
            own_path = set(ref.path(t["par"], own))
        for _b, q, parts in lines:
            assert abs(sum(x for _, x in parts) - q) <= 1e-7
            for node, _x in parts:
                if node < 0 or node in own_path:
                    continue
                assert a["k"] >= 0 and t["steal"][a["k"]], "only stealing classes take other quotas"
                assert t["prio"][t["cls"][node]] > t["prio"][a["k"]], "never a higher (or equal) priority quota"


@SETTINGS
@given(data=st.data())
def test_zero_quotas_are_plain_atp_exactly(data):
    t = data.draw(trees())
    t["X"] = [[0.0] * t["H"] for _ in t["cls"]]
    t["prot"] = None
    arrs = kernel_arrays(t)
    C_plain = arrs[1].copy()
    cal = arrs[8]
    for _ in range(data.draw(st.integers(1, 4))):
        a = data.draw(asks(t["K"], t["H"]))
        status, reason, lines, ef, binding = run_kernel(arrs, t, a, commit=True)
        out_b = np.empty(MAX_LINES, dtype=np.int64)
        out_q = np.empty(MAX_LINES)
        flags = ((FLAG_PARTIAL if a["partial"] else 0) | (FLAG_SPLIT if a["split"] else 0)
                 | (FLAG_BACKORDER if a["backorder"] else 0))
        s, r, n, e = pk.promise_1d_nb(C_plain, t["lt"], cal, a["qty"], a["req"], a["max_late"], flags, a["max_lines"],
                                      True, np.empty(t["H"]), out_b, out_q)
        assert (status, reason, ef, binding) == (s, r, e, 1)
        assert [(b, q) for b, q, _ in lines] == [(int(out_b[j]), float(out_q[j])) for j in range(n)]
        assert np.array_equal(arrs[1], C_plain)


# ---------------------------------------------------------------- through the snapshot and promising

AS_OF = dt.date(2026, 1, 5)


def _snapshot(H, supply_rows, classes, quotas, substitutes=()):
    tables = {name: t.empty() for name, t in TABLES.items()}
    tables["items"] = pl.DataFrame({"item": ["A", "B"], "category": None, "brand": None, "price": 1.0, "cost": 1.0,
                                    "lead_time_days": None, "lead_time_working_days": None},
                                   schema=TABLES["items"].polars_schema())
    tables["locations"] = pl.DataFrame({"location": ["DC1"], "kind": ["dc"], "zone": None, "country": None, "calendar": None},
                                       schema=TABLES["locations"].polars_schema())
    tables["supply"] = pl.DataFrame(
        [{"item": i, "location": "DC1", "date": AS_OF + dt.timedelta(days=d), "qty": q, "kind": "onhand", "ref": None}
         for i, d, q in supply_rows], schema=TABLES["supply"].polars_schema())
    tables["demand_classes"] = pl.DataFrame(
        [{"demand_class": n, "priority": p, "parent": par, "can_steal_lower": s} for n, p, par, s in classes],
        schema=TABLES["demand_classes"].polars_schema())
    if quotas:
        tables["allocation"] = pl.DataFrame(
            [{"item": i, "location": "DC1", "demand_class": c, "date": AS_OF + dt.timedelta(days=d), "qty": q}
             for i, c, d, q in quotas], schema=TABLES["allocation"].polars_schema())
    if substitutes:
        tables["substitutes"] = pl.DataFrame([{"item": i, "substitute": s, "preference": 1, "valid_from": None,
                                               "valid_to": None} for i, s in substitutes],
                                             schema=TABLES["substitutes"].polars_schema())
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, tables)


@st.composite
def shops(draw):
    H = draw(st.integers(3, 12))
    names = ["c0", "c1", "c2", "c3"][: draw(st.integers(1, 4))]
    classes = []
    for i, n in enumerate(names):
        par = names[draw(st.integers(0, i - 1))] if i and draw(st.booleans()) else None
        classes.append((n, draw(st.integers(1, 3)), par, draw(st.booleans())))
    supply = [(i, draw(st.integers(0, H - 1)), float(draw(st.integers(1, 20)))) for i in ("A", "B")
              for _ in range(draw(st.integers(1, 3)))]
    quotas = [("A", n, draw(st.integers(0, H - 1)), float(draw(st.integers(0, 15))))
              for n in names if draw(st.booleans())]
    orders = [(draw(st.sampled_from(["A", "B"])), draw(st.sampled_from(names + [None, "zz"])),
               float(draw(st.integers(1, 15))), draw(st.integers(0, H - 1))) for _ in range(draw(st.integers(1, 8)))]
    return H, classes, supply, quotas, orders


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops())
def test_through_promising_total_within_supply_and_batch_equals_single(shop):
    H, classes, supply, quotas, orders = shop
    snap = _snapshot(H, supply, classes, quotas)
    st1 = snap.new_state()
    singles = [promising.promise(snap, st1, promising.Request(i, "DC1", q, AS_OF + dt.timedelta(days=d),
                                                              promising.Policy(allow_split=True), c), commit=True)
               for i, c, q, d in orders]
    # total promised per item never exceeds its supply
    for item in ("A", "B"):
        got = sum(p.promised_qty for p in singles if p.request.item == item)
        assert got <= sum(q for i, _, q in supply if i == item) + 1e-7
    lines = pl.DataFrame({"item": [o[0] for o in orders], "location": "DC1", "qty": [o[2] for o in orders],
                          "requested_date": [AS_OF + dt.timedelta(days=o[3]) for o in orders],
                          "demand_class": pl.Series([o[1] for o in orders], dtype=pl.String)})
    st2 = snap.new_state()
    res = allocation.promise_batch(snap, st2, lines, policy=promising.Policy(allow_split=True))
    for i, p in enumerate(singles):
        assert (int(res.status[i]), int(res.reason[i])) == (p.status, p.reason)
        assert res.promised[i] == pytest.approx(p.promised_qty)
    assert np.allclose(st2.cum, st1.cum)
    assert np.allclose(allocation.positions(snap, st2), allocation.positions(snap, st1))
    # exact release, any order
    for p in reversed(singles):
        promising.unreserve(snap, st1, p.reservation)
    assert np.allclose(st1.cum, snap.base_cum)
    assert np.allclose(allocation.positions(snap, st1), allocation.model_for(snap).base_pos)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops())
def test_without_quotas_batch_is_plain_atp(shop):
    H, classes, supply, _quotas, orders = shop
    snap = _snapshot(H, supply, classes, [])
    lines = pl.DataFrame({"item": [o[0] for o in orders], "location": "DC1", "qty": [o[2] for o in orders],
                          "requested_date": [AS_OF + dt.timedelta(days=o[3]) for o in orders],
                          "demand_class": pl.Series([o[1] for o in orders], dtype=pl.String)})
    pol = promising.Policy(allow_split=True)
    a = allocation.promise_batch(snap, s1 := snap.new_state(), lines, policy=pol)
    b = promising.promise_batch(snap, s2 := snap.new_state(), lines, policy=pol)
    for f in ("status", "reason", "n_lines", "earliest_full"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    mask = np.arange(MAX_LINES)[None, :] < a.n_lines[:, None]
    assert np.array_equal(np.where(mask, a.bucket, 0), np.where(mask, b.bucket, 0))
    assert np.array_equal(np.where(mask, a.qty, 0), np.where(mask, b.qty, 0))
    assert np.array_equal(s1.cum, s2.cum)


@SETTINGS
@given(data=st.data())
def test_protection_is_never_taken(data):
    """A take that steals from a pool at bucket b never pushes the pool's free part below the
    protection binding a take dated b, on any position from b on (where it was not already below)."""
    t = data.draw(trees())
    if t["prot"] is None:
        t["prot"] = [[(2.0, 0, t["H"])] for _ in t["cls"]]
    arrs = kernel_arrays(t)
    X, C = arrs[0], arrs[1]
    end = t["H"] if t["lt"] < 0 else min(t["lt"], t["H"])
    for _ in range(data.draw(st.integers(1, 4))):
        a = data.draw(asks(t["K"], t["H"]))
        X0, C0 = [list(r) for r in X], list(C)
        _s, _r, lines, _ef, _b = run_kernel(arrs, t, a, commit=True)
        X1 = [list(r) for r in X]
        own_path = set()
        if a["k"] >= 0:
            _, own = ref.sources(t["par"], t["cls"], t["cpar"], t["prio"], t["steal"], a["k"])
            own_path = set(ref.path(t["par"], own))
        lines = sorted(lines)
        for j, (b, _q, parts) in enumerate(lines):
            for node, _x in parts:
                if node < 0 or node in own_path:
                    continue  # not stolen
                # a later schedule line of this answer drawing on the same pool is a take of its own, bound
                # by the protection of its own date (a row whose `until` it is past binds it no more): this
                # line answers for the positions up to that line's date
                stop = next((b2 for b2, _q2, p2 in lines[j + 1:] if any(n2 == node for n2, _ in p2)), end)
                f0 = ref.free(X0, C0, t["par"], node)
                f1 = ref.free(X1, list(C), t["par"], node)
                for s in range(b, min(stop, end)):
                    floor = ref.protected(t["prot"][node], b, s)
                    assert f1[s] >= floor - 1e-7 or f0[s] < floor - 1e-7, (b, s, node, f0, f1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop=shops(), data=st.data())
def test_no_quota_overdrawn_by_any_caller(shop, data):
    """One-line promises with a class, without one ("all others") or with an unknown class, both
    partial policies, item substitution (B substitutes A and A substitutes B) and the batch: no
    pool position ever goes below zero, and a request without a class (or with an unknown one)
    never charges a pool."""
    H, classes, supply, quotas, orders = shop
    snap = _snapshot(H, supply, classes, quotas, substitutes=[("A", "B"), ("B", "A")])
    st_ = snap.new_state()
    known = {c[0] for c in classes}
    for i, c, q, d in orders:
        pol = promising.Policy(allow_split=data.draw(st.booleans()), backorder=data.draw(st.booleans()),
                               allow_substitution=data.draw(st.booleans()))
        before = allocation.positions(snap, st_).copy()
        p = promising.promise(snap, st_, promising.Request(i, "DC1", q, AS_OF + dt.timedelta(days=d), pol, c), commit=True)
        after = allocation.positions(snap, st_)
        assert (after >= -1e-7).all(), (p, after)
        if c not in known:
            assert np.allclose(before, after), "a request without a known class charged a quota"
    lines = pl.DataFrame({"item": [o[0] for o in orders], "location": "DC1", "qty": [o[2] for o in orders],
                          "requested_date": [AS_OF + dt.timedelta(days=o[3]) for o in orders],
                          "demand_class": pl.Series([o[1] for o in orders], dtype=pl.String)})
    allocation.promise_batch(snap, st_, lines, policy=promising.Policy(allow_split=True))
    assert (allocation.positions(snap, st_) >= -1e-7).all()
    assert allocation.over_quota(snap, st_) == []


def test_a_later_line_past_until_is_not_bound_by_the_protection():
    """Hand-computed: class 2 owns the only pool (4 from day 4; the item-location has 2 from day 3),
    3 of it protected until day 5. The root class (may steal) asks 1.5 on day 0, split in up to 2
    lines: on day 4 it may steal only 4 - 3 = 1; from day 5 the protection binds no more, so the
    other 0.5 comes on day 5. The pool keeps 3 on day 4 (what a take dated 4 must leave), 2.5 on."""
    t = {"H": 11, "K": 3, "cpar": [-1, 0, 0], "prio": [1, 1, 2], "steal": [True, False, False], "cls": [2],
         "par": [-1], "C": [0.0, 0.0, 0.0] + [2.0] * 8, "X": [[0.0] * 4 + [4.0] * 7], "prot": [[(3.0, 0, 5)]],
         "lt": -1, "cal": None}
    arrs = kernel_arrays(t)
    ask = {"k": 0, "qty": 1.5, "req": 0, "max_late": -1, "partial": False, "split": True, "max_lines": 2,
           "backorder": False}
    _s, _r, lines, ef, _b = run_kernel(arrs, t, ask, commit=True)
    assert lines == [(4, 1.0, [(0, 1.0)]), (5, 0.5, [(0, 0.5)])]
    assert list(arrs[0][0]) == [0.0] * 4 + [3.0] + [2.5] * 6
    assert list(arrs[1]) == [0.0, 0.0, 0.0, 2.0, 1.0] + [0.5] * 6
