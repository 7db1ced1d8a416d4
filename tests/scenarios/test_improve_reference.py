"""The improve step of rescheduling (`scenarios.kernels.improve_batch_nb`) against a plain-Python
reference written from its rule: give the line's current schedule back, promise it afresh
(`promising.testing.atp_reference`), keep the fresh answer only when it dominates the current one
strictly, else take the current schedule again.

The kernel leaves a line alone when its current schedule has the whole quantity by the requested
day (nothing can beat it) and promises plain lines in place on the 2-D positions; neither may
change an answer."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promessa.config import EPS
from promising.enums import FLAG_PARTIAL, FLAG_SPLIT
from promising.testing import atp_reference as ref
from scenarios import kernels as nb

H = 12
W = 8


def curve(lines, t):
    return sum(q for b, q in lines if b <= t)


def dominates(new, old):
    """(new >= old on every date, new <= old on every date), within EPS."""
    ts = sorted({b for b, _ in new} | {b for b, _ in old})
    ge = all(curve(new, t) >= curve(old, t) - EPS for t in ts)
    le = all(curve(new, t) <= curve(old, t) + EPS for t in ts)
    return ge, le


def improve_reference(cums, lts, lines):
    """lines: (il, qty, req, split, old [(bucket, qty)]) in processing order; cums: lists (changed)."""
    out = []
    for il, qty, req, split, old in lines:
        cum = cums[il]
        for b, q in old:
            for s in range(b, H):
                cum[s] += q
        _, _, new, _ = ref.promise(cum, lts[il], None, qty, req, -1, True, split, 3)
        ge, le = dominates(new, old)
        keep = new if ge and not le else old
        for b, q in keep:
            for s in range(b, H):
                cum[s] -= q
        out.append((keep, ge and not le))
    return out


line = st.tuples(st.integers(0, 1), st.integers(1, 9), st.integers(0, H - 1), st.booleans(),
                 st.lists(st.tuples(st.integers(0, H - 1), st.integers(1, 6)), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 8), min_size=H, max_size=H), min_size=2, max_size=2),
       st.sampled_from([(-1, -1), (-1, 6), (4, -1)]), st.lists(line, min_size=1, max_size=8))
def test_improve_equals_the_reference(supply, lts, raw):
    # the current schedules: sorted by bucket, one entry per bucket, never more than the quantity
    lines = []
    for il, qty, req, split, old in raw:
        sched: dict[int, float] = {}
        for b, q in old:
            sched[b] = sched.get(b, 0.0) + float(q)
        kept = []
        left = float(qty)
        for b in sorted(sched):
            q = min(sched[b], left)
            if q > EPS:
                kept.append((b, q))
                left -= q
        lines.append((il, float(qty), req, split, kept))
    # positions after those schedules were taken (they may be short: rescheduling takes them as found)
    cums = [np.cumsum(np.array(s, dtype=float)).tolist() for s in supply]
    for il, _, _, _, old in lines:
        for b, q in old:
            for s in range(b, H):
                cums[il][s] -= q
    cum = np.array(cums)
    ref_cums = [list(c) for c in cums]
    want = improve_reference(ref_cums, list(lts), lines)

    n = len(lines)
    rows = np.arange(n, dtype=np.int64)
    ils = np.array([ln[0] for ln in lines], np.int64)
    qty = np.array([ln[1] for ln in lines])
    req = np.array([ln[2] for ln in lines], np.int64)
    flags = np.array([FLAG_PARTIAL | (FLAG_SPLIT if ln[3] else 0) for ln in lines], np.int64)
    out_n = np.array([len(ln[4]) for ln in lines], np.int64)
    out_b = np.zeros((n, W), np.int64, order="F")
    out_q = np.zeros((n, W), order="F")
    for r, ln in enumerate(lines):
        for k, (b, q) in enumerate(ln[4]):
            out_b[r, k], out_q[r, k] = b, q
    status, reason, improved = np.full(n, -1, np.int8), np.zeros(n, np.int8), np.zeros(n, np.bool_)
    nb.improve_batch_nb(cum, np.array(lts, np.int64), np.full(2, -1, np.int64), np.ones((0, H), np.bool_), rows, ils,
                        qty, req, np.full(n, -1, np.int64), flags, np.full(n, 3, np.int64), out_n, out_b, out_q, status,
                        reason, improved)
    for r, (lines_want, imp) in enumerate(want):
        got = [(int(out_b[r, k]), float(out_q[r, k])) for k in range(out_n[r])]
        assert [b for b, _ in got] == [b for b, _ in lines_want], (r, got, lines_want)
        assert np.allclose([q for _, q in got], [q for _, q in lines_want], rtol=0, atol=1e-9)
        assert bool(improved[r]) == imp
    assert np.allclose(cum, np.array(ref_cums), rtol=0, atol=1e-9)


def test_a_line_in_full_on_its_day_is_left_alone():
    """10 on hand on day 0; the line asks 5 on day 3 and holds 5 on day 2 (earlier than asked: an old
    promise made when it was asked earlier). Nothing beats it: it is not improved, and its 5 stay on
    day 2 (a fresh answer would put them on day 3, no better on any date)."""
    cum = np.full((1, H), 10.0)
    cum[0, 2:] -= 5.0
    out_n = np.array([1], np.int64)
    out_b = np.zeros((1, W), np.int64, order="F")
    out_q = np.zeros((1, W), order="F")
    out_b[0, 0], out_q[0, 0] = 2, 5.0
    improved = np.zeros(1, np.bool_)
    nb.improve_batch_nb(cum, np.array([-1], np.int64), np.array([-1], np.int64), np.ones((0, H), np.bool_),
                        np.array([0], np.int64), np.array([0], np.int64), np.array([5.0]), np.array([3], np.int64),
                        np.array([-1], np.int64), np.array([FLAG_PARTIAL], np.int64), np.array([1], np.int64), out_n,
                        out_b, out_q, np.full(1, -1, np.int8), np.zeros(1, np.int8), improved)
    assert (out_n[0], out_b[0, 0], out_q[0, 0], improved[0]) == (1, 2, 5.0, False)
    assert cum[0, 1] == 10.0 and cum[0, 2] == 5.0 and cum[0, -1] == 5.0
