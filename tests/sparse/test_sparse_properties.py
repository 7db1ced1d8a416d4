"""The compact form gives the dense form's answers, bit for bit, on random networks and request streams.

Random item-locations (supply and demand rows in whole and half units, lead times, calendars),
then a stream of requests under every policy flag, committing some, releasing some and adjusting
supply, applied to both forms side by side: every answer (status, reason, schedule lines, earliest
full date) and every position afterwards must be identical. The batch kernels and the refresh
replay are held to the same. SPARSE_EXAMPLES sets the examples per property (default 120; the
branch was also run with 1,500 and 1,000).
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promising import kernels as nb
from promising import sparse_kernels as sk
from promising.atp import promise_encoded
from promising.enums import FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, MAX_LINES
from promising.sparse_atp import promise_compact_encoded
from promising.types import EncodedLines
from supplydata.kernels import net_cumsum_nb
from supplydata.sparse import availability_row_nb, build_compact, commit_many, overlay_room_nb, replay

pytestmark = pytest.mark.slow  # bounded, but a few seconds each

SETTINGS = settings(max_examples=int(os.environ.get("SPARSE_EXAMPLES", 120)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
AS_OF = dt.date(2026, 1, 5)
half_units = st.integers(1, 24).map(lambda k: k / 2.0)


@st.composite
def networks(draw):
    H = draw(st.integers(3, 40))
    N = draw(st.integers(1, 5))
    rows = {}
    for name, per in (("supply", 6), ("demand", 4)):
        n = draw(st.integers(0, per * N))
        il = draw(st.lists(st.integers(0, N - 1), min_size=n, max_size=n))
        day = draw(st.lists(st.integers(-2, H - 1), min_size=n, max_size=n))  # past days fall into day 0
        qty = draw(st.lists(half_units, min_size=n, max_size=n))
        rows[name] = (np.array(il, np.int64), np.array(day, np.int64), np.array(qty, np.float64))
    lead = np.array(draw(st.lists(st.one_of(st.just(-1), st.integers(0, H + 2)), min_size=N, max_size=N)), np.int32)
    n_cal = draw(st.integers(0, 2))
    cal_open = np.array([draw(st.lists(st.booleans(), min_size=H, max_size=H)) for _ in range(n_cal)], np.bool_).reshape(n_cal, H)
    il_cal = np.array(draw(st.lists(st.integers(-1, n_cal - 1), min_size=N, max_size=N)), np.int32)
    return H, N, rows, lead, cal_open, il_cal


def dense_of(H, N, rows):
    arrays = []
    for il, day, qty in (rows["supply"], rows["demand"]):
        arrays.append(np.bincount(il * H + np.maximum(day, 0), weights=qty, minlength=N * H).reshape(N, H))
    cum = np.empty((N, H))
    net_cumsum_nb(arrays[0], arrays[1], cum)
    return cum


def compact_of(H, N, rows, lead, cal_open, il_cal, *, as_of=AS_OF):
    return build_compact(as_of=as_of, horizon=H, il_key=np.arange(N, dtype=np.int64), n_locations=1, il_lead_time=lead,
                         il_calendar=il_cal, calendar_open=cal_open, supply=rows["supply"], demand=rows["demand"])


@st.composite
def actions(draw, H, N):
    kind = draw(st.sampled_from(["promise", "promise", "promise", "release", "adjust"]))
    return dict(
        kind=kind, il=draw(st.integers(0, N - 1)), qty=draw(half_units), req=draw(st.integers(0, H - 1)),
        max_late=draw(st.one_of(st.just(-1), st.integers(0, H))),
        flags=(FLAG_PARTIAL if draw(st.booleans()) else 0) | (FLAG_SPLIT if draw(st.booleans()) else 0)
        | (FLAG_BACKORDER if draw(st.booleans()) else 0),
        max_lines=draw(st.integers(1, MAX_LINES)), commit=draw(st.booleans()),
    )


@SETTINGS
@given(data=st.data(), net=networks())
def test_one_line_stream_equals_dense(data, net):
    H, N, rows, lead, cal_open, il_cal = net
    cum = dense_of(H, N, rows)
    snap = compact_of(H, N, rows, lead, cal_open, il_cal)
    state = snap.new_state()
    for il in range(N):
        assert np.array_equal(state.position(il), cum[il])
    no_cal = np.ones(0, np.bool_)
    row = np.empty(H)
    committed = []  # (il, bucket, qty) committed so far, to release
    for a in data.draw(st.lists(actions(H, N), min_size=1, max_size=25)):
        il = a["il"]
        if a["kind"] == "release" and committed:
            cil, b, q = committed.pop(data.draw(st.integers(0, len(committed) - 1)))
            nb.release_1d_nb(cum[cil], b, q)
            state.release(cil, b, q)
        elif a["kind"] == "adjust":
            q = a["qty"] if data.draw(st.booleans()) else -a["qty"]
            cum[il, a["req"]:] += q
            state.adjust_supply(il, a["req"], q)
        else:
            cal = cal_open[il_cal[il]] if il_cal[il] >= 0 else no_cal
            db, dq = np.empty(MAX_LINES, np.int64), np.empty(MAX_LINES)
            cb, cq = np.empty(MAX_LINES, np.int64), np.empty(MAX_LINES)
            want = nb.promise_1d_nb(cum[il], lead[il], cal, a["qty"], a["req"], a["max_late"], a["flags"], a["max_lines"],
                                    a["commit"], np.empty(H), db, dq)
            if a["commit"]:
                state.grow(int(overlay_room_nb(state.seg, il, a["max_lines"])))
            got = sk.promise_compact_1d_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, *state.overlay, il, H, lead[il], cal, a["qty"],
                                           a["req"], a["max_late"], a["flags"], a["max_lines"], a["commit"], cb, cq)
            assert tuple(int(x) for x in got) == tuple(int(x) for x in want)
            n = int(want[2])
            assert np.array_equal(cb[:n], db[:n]) and np.array_equal(cq[:n], dq[:n])
            if a["commit"]:
                committed += [(il, int(db[k]), float(dq[k])) for k in range(n)]
            avail = sk.available_at_compact_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, snap.il_lead_time, *state.overlay, il,
                                               a["req"], row)
            assert avail == nb.available_at_1d_nb(cum[il], lead[il], a["req"])
            # the availability row straight from the compact form equals the dense one from the request on
            got_a, want_a = np.empty(H), np.empty(H)
            end = H if lead[il] < 0 else min(int(lead[il]), H)
            availability_row_nb(snap.ev_ptr, snap.ev_day, snap.ev_cum, *state.overlay, il, a["req"], end,
                                np.empty(H + 1, np.int64), np.empty(H + 1), got_a)
            nb.availability_1d_nb(cum[il], lead[il], a["req"], want_a)
            assert np.array_equal(got_a[a["req"]:], want_a[a["req"]:])
        for j in range(N):
            assert np.array_equal(state.position(j), cum[j])
            assert np.array_equal(np.cumsum(state.committed(j)), snap.base_row(j) - cum[j])


@SETTINGS
@given(data=st.data(), net=networks())
def test_batch_equals_dense_batch_and_replay_keeps_positions(data, net):
    H, N, rows, lead, cal_open, il_cal = net
    cum = dense_of(H, N, rows)
    snap = compact_of(H, N, rows, lead, cal_open, il_cal)
    n = data.draw(st.integers(1, 40))
    draw_list = lambda s: np.array(data.draw(st.lists(s, min_size=n, max_size=n)))  # noqa: E731
    enc = EncodedLines(
        draw_list(st.integers(-1, N - 1)).astype(np.int64), draw_list(half_units).astype(np.float64),
        draw_list(st.integers(0, H - 1)).astype(np.int64), draw_list(st.one_of(st.just(-1), st.integers(0, H))).astype(np.int64),
        draw_list(st.integers(0, 7)).astype(np.int64), draw_list(st.integers(1, MAX_LINES)).astype(np.int64))

    class Dense:
        il_lead_time, il_calendar, calendar_open = lead, il_cal, (cal_open if cal_open.shape[0] else np.ones((0, H), np.bool_))

    class DenseState:
        pass

    DenseState.cum = cum
    want = promise_encoded(Dense, DenseState, enc, commit=True)
    state = snap.new_state(capacity=1)  # tiny arena: the kernel stops, the arena grows, the kernel goes on
    got = promise_compact_encoded(snap, state, enc, commit=True)
    for name in ("status", "reason", "n_lines", "earliest_full"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    for i in range(n):
        k = int(want.n_lines[i])
        assert np.array_equal(got.bucket[i, :k], want.bucket[i, :k]) and np.array_equal(got.qty[i, :k], want.qty[i, :k])
    for j in range(N):
        assert np.array_equal(state.position(j), cum[j])
    # a copy is compacted and independent
    copy = state.copy()
    assert copy.capacity == max(state.n_entries, 64) and copy.garbage == 0 and copy.top == state.n_entries
    for j in range(N):
        assert np.array_equal(copy.position(j), cum[j])
    # replay onto the same data built again: identical positions; nothing dropped
    again = compact_of(H, N, rows, lead, cal_open, il_cal)
    fresh, report = replay(state, again)
    assert report.dropped == [] and report.replayed == state.n_entries - int((state.entries()[2] == 0).sum())
    for j in range(N):
        assert np.array_equal(fresh.position(j), cum[j])
    assert report.bytes_in_flight == snap.nbytes + state.nbytes + again.nbytes + fresh.nbytes


@SETTINGS
@given(data=st.data(), net=networks())
def test_commit_many_equals_dense_commit_batch(data, net):
    H, N, rows, lead, cal_open, il_cal = net
    cum = dense_of(H, N, rows)
    snap = compact_of(H, N, rows, lead, cal_open, il_cal)
    n = data.draw(st.integers(1, 30))
    ils = np.array(data.draw(st.lists(st.integers(0, N - 1), min_size=n, max_size=n)), np.int64)
    days = np.array(data.draw(st.lists(st.integers(0, H - 1), min_size=n, max_size=n)), np.int64)
    qty = np.array(data.draw(st.lists(st.one_of(half_units, half_units.map(lambda q: -q)), min_size=n, max_size=n)), np.float64)
    want = np.empty(n, np.bool_)
    for i in range(n):  # the dense commit (positive) or release (negative), one by one
        if qty[i] > 0:
            nb.commit_batch_nb(cum, lead, ils[i:i + 1], days[i:i + 1], qty[i:i + 1], 1, want[i:i + 1])
        else:
            nb.commit_batch_nb(cum, lead, ils[i:i + 1], days[i:i + 1], -qty[i:i + 1], -1, want[i:i + 1])
    state = snap.new_state(capacity=1)
    got = commit_many(state, ils, days, qty)
    assert np.array_equal(got, want)
    for j in range(N):
        assert np.array_equal(state.position(j), cum[j])
