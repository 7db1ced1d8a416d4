"""Kernels held equal to the plain-Python reference on random data, and the ATP invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promising import kernels as nb
from promising.enums import FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, MAX_LINES
from promising.testing import atp_reference as ref

# hundreds of random examples per property: slow (CI runs them; bounded, no deadline)
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def situations(draw):
    H = draw(st.integers(3, 30))
    qty = st.integers(0, 12)
    supply = [float(draw(qty)) if draw(st.booleans()) else 0.0 for _ in range(H)]
    demand = [float(draw(st.integers(0, 8))) if draw(st.integers(0, 3)) == 0 else 0.0 for _ in range(H)]
    lt = draw(st.one_of(st.just(-1), st.integers(0, H + 2)))
    cal = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=H, max_size=H)))
    return H, supply, demand, lt, cal


@st.composite
def requests(draw, H):
    return dict(
        qty=float(draw(st.integers(1, 25))) + draw(st.sampled_from([0.0, 0.5])),
        req=draw(st.integers(0, H - 1)),
        max_late=draw(st.one_of(st.just(-1), st.integers(0, H))),
        partial=draw(st.booleans()),
        split=draw(st.booleans()),
        max_lines=draw(st.integers(1, MAX_LINES)),
        backorder=draw(st.booleans()),
    )


def run_kernel(cum, lt, cal, r, *, commit=False):
    H = cum.shape[0]
    out_b = np.empty(MAX_LINES, dtype=np.int64)
    out_q = np.empty(MAX_LINES)
    flags = ((FLAG_PARTIAL if r["partial"] else 0) | (FLAG_SPLIT if r["split"] else 0)
             | (FLAG_BACKORDER if r.get("backorder") else 0))
    calarr = np.ones(0, dtype=np.bool_) if cal is None else np.array(cal, dtype=np.bool_)
    s, reason, n, ef = nb.promise_1d_nb(cum, lt, calarr, r["qty"], r["req"], r["max_late"], flags, r["max_lines"],
                                        commit, np.empty(H), out_b, out_q)
    return s, reason, [(int(out_b[k]), float(out_q[k])) for k in range(n)], ef


@SETTINGS
@given(data=st.data(), sit=situations())
def test_promise_kernel_equals_reference(data, sit):
    H, supply, demand, lt, cal = sit
    cum = np.array(ref.net_position(supply, demand))
    r = data.draw(requests(H))
    got = run_kernel(cum.copy(), lt, cal, r)
    want = ref.promise(list(cum), lt, cal, r["qty"], r["req"], r["max_late"], r["partial"], r["split"], r["max_lines"],
                       r["backorder"])
    assert got[0] == want[0] and got[1] == want[1] and got[3] == want[3]
    assert [b for b, _ in got[2]] == [b for b, _ in want[2]]
    assert [q for _, q in got[2]] == pytest.approx([q for _, q in want[2]])


@SETTINGS
@given(sit=situations())
def test_availability_equals_reference_and_never_decreases(sit):
    H, supply, demand, lt, _ = sit
    cum = np.array(ref.net_position(supply, demand))
    out = np.empty(H)
    nb.availability_1d_nb(cum, lt, 0, out)
    want = [ref.available(list(cum), lt, t) for t in range(H)]
    assert list(out) == pytest.approx(want)
    assert all(out[t] <= out[t + 1] for t in range(H - 1))
    for t in range(H):
        assert nb.available_at_1d_nb(cum, lt, t) == pytest.approx(want[t])


@SETTINGS
@given(data=st.data(), sit=situations())
def test_promises_never_push_a_position_below_zero_and_release_restores(data, sit):
    H, supply, demand, lt, cal = sit
    cum = np.array(ref.net_position(supply, demand))
    start = cum.copy()
    committed = []
    for _ in range(data.draw(st.integers(1, 6))):
        r = data.draw(requests(H))
        before = cum.copy()
        s, reason, lines, ef = run_kernel(cum, lt, cal, r, commit=True)
        committed += lines
        # what was not negative before is not negative now, where the lead time does not cover it
        end = H if lt < 0 else min(lt, H)
        for t in range(end):
            if before[t] >= -1e-9:
                assert cum[t] >= -1e-9, (t, before, cum, lines)
        promised = sum(q for _, q in lines)
        assert promised <= r["qty"] + 1e-9
        if not r["partial"]:
            assert promised == 0 or promised == pytest.approx(r["qty"])
    for b, q in reversed(committed):
        nb.release_1d_nb(cum, b, q)
    assert np.allclose(cum, start, atol=1e-9)
    # integer quantities restore bit for bit
    if all(float(q).is_integer() for _, q in committed):
        assert (cum == start).all()


@SETTINGS
@given(data=st.data(), sit=situations())
def test_earliest_date_is_the_first_that_fits(data, sit):
    H, supply, demand, lt, cal = sit
    cum = np.array(ref.net_position(supply, demand))
    qty = float(data.draw(st.integers(1, 20)))
    start = data.draw(st.integers(0, H - 1))
    calarr = np.ones(0, dtype=np.bool_) if cal is None else np.array(cal, dtype=np.bool_)
    t = nb.earliest_1d_nb(cum, lt, calarr, qty, start)
    fits = [u for u in range(start, H) if ref.is_open(cal, u) and ref.available(list(cum), lt, u) >= qty - 1e-9]
    assert t == (fits[0] if fits else -1)
    # committing at any earlier open bucket would push a position below zero
    if t > start:
        for u in range(start, t):
            if ref.is_open(cal, u):
                after = ref.commit(list(cum), u, qty)
                end = H if lt < 0 else min(lt, H)
                assert any(after[s] < -1e-9 and cum[s] >= -1e-9 for s in range(u, end)) or any(c < -1e-9 for c in cum[u:end])


@SETTINGS
@given(data=st.data(), sit=situations())
def test_batch_equals_one_line_after_another(data, sit):
    H, supply, demand, lt, cal = sit
    base = np.array(ref.net_position(supply, demand))
    cum2d = np.vstack([base, base[::-1].copy()])
    n = data.draw(st.integers(1, 12))
    reqs = [data.draw(requests(H)) for _ in range(n)]
    ils = np.array([data.draw(st.sampled_from([0, 1, -1])) for _ in range(n)], dtype=np.int64)
    calarr = np.ones((1, H), dtype=np.bool_) if cal is None else np.array([cal], dtype=np.bool_)
    il_cal = np.array([0 if cal is not None else -1, -1], dtype=np.int32)
    il_lt = np.array([lt, -1], dtype=np.int32)
    out = dict(status=np.empty(n, np.int8), reason=np.empty(n, np.int8), n=np.empty(n, np.int64),
               b=np.empty((n, MAX_LINES), np.int64), q=np.empty((n, MAX_LINES)), ef=np.empty(n, np.int64))
    batch = cum2d.copy()
    nb.promise_batch_nb(
        batch, il_lt, il_cal, calarr, ils,
        np.array([r["qty"] for r in reqs]), np.array([r["req"] for r in reqs], dtype=np.int64),
        np.array([r["max_late"] for r in reqs], dtype=np.int64),
        np.array([(FLAG_PARTIAL if r["partial"] else 0) | (FLAG_SPLIT if r["split"] else 0)
                  | (FLAG_BACKORDER if r["backorder"] else 0) for r in reqs], dtype=np.int64),
        np.array([r["max_lines"] for r in reqs], dtype=np.int64), True,
        out["status"], out["reason"], out["n"], out["b"], out["q"], out["ef"],
    )
    seq = cum2d.copy()
    for i, r in enumerate(reqs):
        if ils[i] < 0:
            assert (out["status"][i], out["reason"][i]) == (3, 6)
            continue
        c = cal if ils[i] == 0 else None
        s, reason, lines, ef = run_kernel(seq[ils[i]], int(il_lt[ils[i]]), c, r, commit=True)
        assert (out["status"][i], out["reason"][i], out["ef"][i]) == (s, reason, ef)
        assert [(int(out["b"][i, k]), float(out["q"][i, k])) for k in range(out["n"][i])] == lines
    assert (batch == seq).all()


@SETTINGS
@given(data=st.data(), sit=situations())
def test_rows_kernel_equals_the_batch_kernel_in_that_order(data, sit):
    # promise_rows_nb reads and writes each line at its row, in the order of `rows`: the batch kernel's
    # answers for the lines taken in that order (the plain path and the general one mixed)
    H, supply, demand, lt, cal = sit
    base = np.array(ref.net_position(supply, demand))
    cum2d = np.vstack([base, base[::-1].copy()])
    n = data.draw(st.integers(1, 12))
    reqs = [data.draw(requests(H)) for _ in range(n)]
    ils = np.array([data.draw(st.sampled_from([0, 1, -1])) for _ in range(n)], dtype=np.int64)
    rows = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    calarr = np.ones((1, H), dtype=np.bool_) if cal is None else np.array([cal], dtype=np.bool_)
    il_cal = np.array([0 if cal is not None else -1, -1], dtype=np.int32)
    il_lt = np.array([lt, -1], dtype=np.int32)
    qty = np.array([r["qty"] for r in reqs])
    req = np.array([r["req"] for r in reqs], dtype=np.int64)
    late = np.array([r["max_late"] for r in reqs], dtype=np.int64)
    flags = np.array([(FLAG_PARTIAL if r["partial"] else 0) | (FLAG_SPLIT if r["split"] else 0)
                      | (FLAG_BACKORDER if r["backorder"] else 0) for r in reqs], dtype=np.int64)
    ml = np.array([r["max_lines"] for r in reqs], dtype=np.int64)

    def outs():
        return (np.empty(n, np.int8), np.empty(n, np.int8), np.empty(n, np.int64),
                np.zeros((n, MAX_LINES), np.int64), np.zeros((n, MAX_LINES)))

    a = cum2d.copy()
    got = outs()
    nb.promise_rows_nb(a, il_lt, il_cal, calarr, rows, ils, qty, req, late, flags, ml, True, *got)
    b = cum2d.copy()
    want = outs()
    ef = np.empty(n, np.int64)
    nb.promise_batch_nb(b, il_lt, il_cal, calarr, ils[rows], qty[rows], req[rows], late[rows], flags[rows], ml[rows],
                        True, *want, ef)
    for j, r in enumerate(rows):
        assert (got[0][r], got[1][r], got[2][r]) == (want[0][j], want[1][j], want[2][j])
        k = got[2][r]
        assert list(got[3][r, :k]) == list(want[3][j, :k]) and list(got[4][r, :k]) == list(want[4][j, :k])
    assert (a == b).all()


@SETTINGS
@given(sit=situations())
def test_discrete_atp_equals_reference(sit):
    H, supply, demand, _, _ = sit
    out = np.empty(H)
    nb.discrete_atp_1d_nb(np.array(supply), np.array(demand), out)
    assert list(out) == pytest.approx(ref.discrete_atp(supply, demand))


@SETTINGS
@given(data=st.data(), sit=situations())
def test_pegging_equals_reference_and_covers_the_lines(data, sit):
    H, supply, demand, lt, cal = sit
    cum = np.array(ref.net_position(supply, demand))
    r = data.draw(requests(H))
    s, reason, lines, ef = run_kernel(cum.copy(), lt, cal, r)
    if not lines:
        return
    records = [(t, q) for t, q in enumerate(supply) if q > 0]
    consumed = np.empty(H)
    nb.consumption_1d_nb(np.array(supply), cum, consumed)
    assert list(consumed) == pytest.approx(demand)
    m = len(records) + len(lines) + 1
    ol, orec, oq = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m)
    k = nb.peg_1d_nb(np.array([t for t, _ in records], dtype=np.int32), np.array([q for _, q in records]), consumed,
                     np.array([b for b, _ in lines], dtype=np.int64), np.array([q for _, q in lines]), ol, orec, oq)
    got = [(int(ol[j]), int(orec[j]), float(oq[j])) for j in range(k)]
    want = ref.fifo_pegs(records, list(consumed), lines)
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
    assert [c for _, _, c in got] == pytest.approx([c for _, _, c in want])
    # every line is pegged in full; a supply record is never pegged to a line dated before it
    for i, (b, q) in enumerate(lines):
        assert sum(c for li, _, c in got if li == i) == pytest.approx(q)
        for li, rec, _c in got:
            if li == i and rec >= 0:
                assert records[rec][0] <= b
