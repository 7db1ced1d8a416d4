"""Compiled kernels for backlog rescheduling. Arrays, scalars and integer codes only.

They build on the ATP kernels of `promising.kernels` (same semantics: cumulative ATP with
backward consumption, lead-time promising, calendars) and add what rescheduling needs:

- keep a line's old confirmation where it still fits (win, gain and fill lines),
- try to improve a kept confirmation and keep the new one only when it is better on every
  date (win and gain lines never get worse),
- compare old and new schedules (improved / worsened / unchanged / mixed),
- merge two partial promises of one line (fair share) into one schedule.

Schedules are "confirmed quantity by date" curves. The new schedule *dominates* the old one
when, for every date, the quantity confirmed on or before that date is at least the old one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import EPS, Reason, Status
from promising.kernels import (
    is_plain_nb, promise_1d_nb, promise_line_nb, promise_plain_nb, release_1d_nb,
)
from scenarios.enums import Change, Exception_, Strategy

_UNCHANGED, _IMPROVED, _WORSENED, _MIXED = int(Change.UNCHANGED), int(Change.IMPROVED), int(Change.WORSENED), int(Change.MIXED)
_FULL, _LATE, _PARTIAL, _SHORT = int(Status.FULL), int(Status.LATE), int(Status.PARTIAL), int(Status.SHORT)
_R_NONE, _R_SUPPLY = int(Reason.NONE), int(Reason.SUPPLY)
_S_WIN, _S_GAIN, _S_LOSE = int(Strategy.WIN), int(Strategy.GAIN), int(Strategy.LOSE)
_X_NONE, _X_OLD_DOES_NOT_FIT = int(Exception_.NONE), int(Exception_.OLD_DOES_NOT_FIT)
_X_WIN_NOT_FULL, _X_NO_SOURCE = int(Exception_.WIN_NOT_FULL), int(Exception_.NO_SOURCE)


@njit(cache=True, nogil=True)
def _cal(il_cal, cal_open, il, no_cal):
    c = il_cal[il]
    return cal_open[c] if c >= 0 else no_cal


@njit(cache=True, nogil=True)
def _take_1d_nb(cum, t, q):
    """Commit q at bucket t: `promising.kernels.commit_1d_nb`'s arithmetic without its fit check
    (unused here; a loop the compiler vectorises)."""
    for s in range(t, cum.shape[0]):
        cum[s] -= q


@njit(cache=True, nogil=True)
def _fits_and_commit_2d_nb(cum, il, lt, b, q, lo, hi):
    """Commit the schedule lines lo..hi-1 of the CSR arrays (b, q) on row `il` of the 2-D positions if
    every one is available (A(t) as `promising.kernels.available_at_1d_nb`) when its turn comes; otherwise commit nothing.
    Returns True when committed. Indexed in place: no row or slice views per line."""
    H = cum.shape[1]
    end = H if lt < 0 else min(lt, H)
    k = lo
    ok = True
    while k < hi:
        qk = q[k]
        if qk > EPS:
            t = b[k]
            if lt < 0 or t < lt:  # available_at_1d_nb: inf from the lead time on
                m = np.inf
                for s in range(t, end):
                    if cum[il, s] < m:
                        m = cum[il, s]
                if (m if m > 0.0 else 0.0) < qk - EPS:
                    ok = False
                    break
            for s in range(t, H):
                cum[il, s] -= qk
        k += 1
    if not ok:
        for j in range(k - 1, lo - 1, -1):
            if q[j] > EPS:
                for s in range(b[j], H):
                    cum[il, s] += q[j]
    return ok


@njit(cache=True, nogil=True)
def keep_batch_nb(cum, il_lt, rows, ils, old_ptr, old_b, old_q, out_n, out_b, out_q, out_kept):
    """For each row in `rows` (processing order): re-reserve its old confirmation when it still
    fits the supply (all of its schedule lines or none). Kept rows get their old schedule as the
    new one (out_*), out_kept[row] = True; the others are left untouched (out_kept False)."""
    W = out_b.shape[1]
    for j in range(rows.shape[0]):
        r = rows[j]
        il = ils[r]
        lo, hi = old_ptr[r], old_ptr[r + 1]
        n = hi - lo
        if il < 0 or n == 0 or n > W:
            out_kept[r] = n == 0  # nothing was confirmed: nothing to keep, trivially kept
            if n == 0:
                out_n[r] = 0
            continue
        if _fits_and_commit_2d_nb(cum, il, il_lt[il], old_b, old_q, lo, hi):
            for k in range(n):
                out_b[r, k] = old_b[lo + k]
                out_q[r, k] = old_q[lo + k]
            out_n[r] = n
            out_kept[r] = True
        else:
            out_kept[r] = False


@njit(cache=True, nogil=True)
def _dominates(n1, b1, q1, n2, b2, q2):
    """Compare schedule 1 (new) with schedule 2 (old), both sorted by bucket.
    Returns (1 dominates 2, 2 dominates 1)."""
    i = 0
    j = 0
    c1 = 0.0
    c2 = 0.0
    ge = True
    le = True
    while i < n1 or j < n2:
        if j >= n2 or (i < n1 and b1[i] < b2[j]):
            t = b1[i]
        else:
            t = b2[j]
        while i < n1 and b1[i] == t:
            c1 += q1[i]
            i += 1
        while j < n2 and b2[j] == t:
            c2 += q2[j]
            j += 1
        if c1 < c2 - EPS:
            ge = False
        if c1 > c2 + EPS:
            le = False
    return ge, le


@njit(cache=True, nogil=True)
def _shift_2d_nb(cum, il, t, q):
    """Add q to row il of cum from bucket t on (q < 0 commits, q > 0 gives back), indexed in place."""
    for s in range(t, cum.shape[1]):
        cum[il, s] += q


@njit(cache=True, nogil=True)
def improve_batch_nb(cum, il_lt, il_cal, cal_open, rows, ils, qty, req, max_late, flags, max_lines,
                     out_n, out_b, out_q, out_status, out_reason, out_improved):
    """For each row in `rows`: give back its current schedule (out_*), promise it afresh and keep
    the fresh answer only when it dominates the current one strictly (never worse on any date,
    better on some); otherwise re-reserve the current schedule exactly. A row whose current schedule
    has its whole quantity by the requested bucket is left as it is: no answer (never earlier than the
    requested bucket, never more than the quantity) can dominate it strictly."""
    H = cum.shape[1]
    W = out_b.shape[1]
    scratch = np.empty(H)
    tb = np.empty(W, dtype=np.int64)
    tq = np.empty(W)
    pb = np.empty(W, dtype=np.int64)  # the current schedule, copied (no row views)
    pq = np.empty(W)
    no_cal = np.ones(0, dtype=np.bool_)
    for j in range(rows.shape[0]):
        r = rows[j]
        il = ils[r]
        out_improved[r] = False
        if il < 0:
            continue
        n_old = out_n[r]
        on_time = 0.0
        for k in range(n_old):
            pb[k] = out_b[r, k]
            pq[k] = out_q[r, k]
            if pb[k] <= req[r]:
                on_time += pq[k]
        if n_old and on_time >= qty[r] - EPS:
            continue  # in full by the requested bucket: cannot be beaten
        for k in range(n_old):
            if pq[k] > EPS:
                _shift_2d_nb(cum, il, pb[k], pq[k])
        q = qty[r]
        f = flags[r]
        if is_plain_nb(q, f, max_late[r], max_lines[r]):
            s, why, n, ef, b1, q1 = promise_plain_nb(cum, il, il_lt[il], cal_open, il_cal[il], q, req[r], f, False)
            tb[0] = b1
            tq[0] = q1
        else:
            s, why, n, ef = promise_1d_nb(cum[il], il_lt[il], _cal(il_cal, cal_open, il, no_cal), q, req[r],
                                          max_late[r], f, max_lines[r], False, scratch, tb, tq)
        ge, le = _dominates(n, tb, tq, n_old, pb, pq)
        if ge and not le:
            for k in range(n):
                _shift_2d_nb(cum, il, tb[k], -tq[k])
                out_b[r, k] = tb[k]
                out_q[r, k] = tq[k]
            out_n[r] = n
            out_status[r] = s
            out_reason[r] = why
            out_improved[r] = True
        else:
            for k in range(n_old):
                if pq[k] > EPS:
                    _shift_2d_nb(cum, il, pb[k], -pq[k])


@njit(cache=True, nogil=True)
def compare_batch_nb(old_ptr, old_b, old_q, new_n, new_b, new_q, req, out_change, out_old_ontime, out_new_ontime):
    """Per line: change code (new vs old schedule) and the quantity confirmed on or before the
    requested bucket, old and new."""
    W = new_b.shape[1]
    nb_ = np.empty(W, dtype=np.int64)  # the row's schedules, copied (no row views per line)
    nq = np.empty(W)
    mo = 0
    for r in range(old_ptr.shape[0] - 1):
        mo = max(mo, old_ptr[r + 1] - old_ptr[r])
    ob_ = np.empty(mo, dtype=np.int64)
    oq_ = np.empty(mo)
    for r in range(new_n.shape[0]):
        lo, hi = old_ptr[r], old_ptr[r + 1]
        for k in range(new_n[r]):
            nb_[k] = new_b[r, k]
            nq[k] = new_q[r, k]
        for k in range(lo, hi):
            ob_[k - lo] = old_b[k]
            oq_[k - lo] = old_q[k]
        ge, le = _dominates(new_n[r], nb_, nq, hi - lo, ob_, oq_)
        if ge and le:
            out_change[r] = _UNCHANGED
        elif ge:
            out_change[r] = _IMPROVED
        elif le:
            out_change[r] = _WORSENED
        else:
            out_change[r] = _MIXED
        a = 0.0
        for k in range(lo, hi):
            if old_b[k] <= req[r]:
                a += old_q[k]
        out_old_ontime[r] = a
        a = 0.0
        for k in range(new_n[r]):
            if new_b[r, k] <= req[r]:
                a += new_q[r, k]
        out_new_ontime[r] = a


@njit(cache=True, nogil=True)
def merge_batch_nb(n1, b1, q1, n2, b2, q2, out_n, out_b, out_q):
    """Merge two schedules per row (sorted by bucket, equal buckets summed) into out_*."""
    for r in range(n1.shape[0]):
        i = 0
        k = 0
        m = 0
        while i < n1[r] or k < n2[r]:
            if k >= n2[r] or (i < n1[r] and b1[r, i] <= b2[r, k]):
                t, q = b1[r, i], q1[r, i]
                i += 1
            else:
                t, q = b2[r, k], q2[r, k]
                k += 1
            if m > 0 and out_b[r, m - 1] == t:
                out_q[r, m - 1] += q
            else:
                out_b[r, m] = t
                out_q[r, m] = q
                m += 1
        out_n[r] = m


@njit(cache=True, nogil=True)
def release_csr_nb(cum, ils, ptr, b, q):
    """Give back every schedule line of every row (ils[r] < 0 rows are skipped)."""
    for r in range(ils.shape[0]):
        il = ils[r]
        if il < 0:
            continue
        for k in range(ptr[r], ptr[r + 1]):
            if q[k] > EPS:
                release_1d_nb(cum[il], b[k], q[k])


@njit(cache=True, nogil=True)
def commit_rows_nb(cum, rows, ils, n, b, q):
    """Reserve the (n, b, q) schedules of the given rows unconditionally."""
    for j in range(rows.shape[0]):
        r = rows[j]
        il = ils[r]
        if il < 0:
            continue
        for k in range(n[r]):
            if q[r, k] > EPS:
                _take_1d_nb(cum[il], b[r, k], q[r, k])


@njit(cache=True, nogil=True)
def rows_by_il_nb(ils, n_il):
    """Rows grouped by item-location code, input order within one (a stable counting sort; rows with
    ils < 0 first): the `order` of `release_grouped_nb`."""
    n = ils.shape[0]
    start = np.zeros(n_il + 2, np.int64)
    for r in range(n):
        start[ils[r] + 2] += 1
    for k in range(1, n_il + 2):
        start[k] += start[k - 1]
    out = np.empty(n, np.int64)
    for r in range(n):
        k = ils[r] + 1
        out[start[k]] = r
        start[k] += 1
    return out


@njit(cache=True, nogil=True)
def release_grouped_nb(cum, order, ils, ptr, b, q):
    """Give back every schedule line of every row, one pass per item-location: rows in `order`
    are grouped by item-location (ils[order] sorted); the quantities are summed per bucket and
    added to the running position once (O(H) per item-location instead of per schedule line)."""
    H = cum.shape[1]
    delta = np.zeros(H)
    j = 0
    n = order.shape[0]
    while j < n:
        il = ils[order[j]]
        k = j
        any_ = False
        while k < n and ils[order[k]] == il:
            r = order[k]
            for m in range(ptr[r], ptr[r + 1]):
                if q[m] > EPS:
                    delta[b[m]] += q[m]
                    any_ = True
            k += 1
        if il >= 0 and any_:
            c = cum[il]
            s = 0.0
            for t in range(H):
                s += delta[t]
                delta[t] = 0.0
                c[t] += s
        elif any_:
            for t in range(H):
                delta[t] = 0.0
        j = k


@njit(cache=True, nogil=True)
def fill_batch_nb(cum, il_lt, il_cal, cal_open, rows, ils, qty, req, max_late, flags, max_lines, old_ptr, old_b, old_q,
                  out_n, out_b, out_q, out_status, out_reason, out_kept):
    """Fill lines, one after another in `rows` order (SAP's fill): each re-reserves its old
    confirmation when it still fits (all of its schedule lines or none; out_kept True), else is
    promised at most its old quantity no earlier than its old last date, before the next line
    is looked at. So a lower fill line never keeps units a higher fill line needed. Rows with
    nothing confirmed before get nothing (a fill line never gains)."""
    H = cum.shape[1]
    W = out_b.shape[1]
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    for j in range(rows.shape[0]):
        r = rows[j]
        il = ils[r]
        lo, hi = old_ptr[r], old_ptr[r + 1]
        n = hi - lo
        out_n[r] = 0
        if n == 0:
            out_kept[r] = True
            continue
        if il < 0:
            out_kept[r] = False
            continue
        if n <= W and _fits_and_commit_2d_nb(cum, il, il_lt[il], old_b, old_q, lo, hi):
            for k in range(n):
                out_b[r, k] = old_b[lo + k]
                out_q[r, k] = old_q[lo + k]
            out_n[r] = n
            out_kept[r] = True
            continue
        out_kept[r] = False
        total = 0.0
        for k in range(lo, hi):
            total += old_q[k]
        q = total if total < qty[r] else qty[r]
        rq = old_b[hi - 1] if old_b[hi - 1] > req[r] else req[r]
        s, rs, m, _ef = promise_line_nb(cum[il], il_lt[il], _cal(il_cal, cal_open, il, no_cal), q, rq, max_late[r],
                                        flags[r], max_lines[r], True, scratch, out_b[r], out_q[r])
        out_n[r] = m
        out_status[r] = s
        out_reason[r] = rs


@njit(cache=True, nogil=True)
def drop_small_nb(cum, ils, min_q, qty, rows, out_n, out_b, out_q, out_status):
    """Minimum shipment quantity: drop every schedule line of `rows` below `min_q` (unless it is
    the line's whole quantity) and give its units back. Returns the number of lines dropped;
    rows that lost a line get status -1 (derived from the schedule afterwards)."""
    dropped = 0
    for j in range(rows.shape[0]):
        r = rows[j]
        il = ils[r]
        if il < 0:
            continue
        m = 0
        for k in range(out_n[r]):
            q = out_q[r, k]
            if q >= min_q - EPS or q >= qty[r] - EPS:
                out_b[r, m] = out_b[r, k]
                out_q[r, m] = q
                m += 1
            else:
                release_1d_nb(cum[il], out_b[r, k], q)
                dropped += 1
        if m != out_n[r]:
            out_n[r] = m
            out_status[r] = -1
    return dropped


@njit(cache=True, nogil=True)
def lines_batch_nb(old_ptr, old_b, old_q, new_n, new_b, new_q, qty, req, ils, strat, run_status, run_reason,
                   out_change, out_old_ontime, out_new_ontime, out_new_qty, out_new_first, out_new_last, out_old_qty,
                   out_old_last, out_status, out_reason, out_exc):
    """Per line, in one pass: `compare_batch_nb`'s change and on-time quantities, the new quantity,
    first and last bucket (-1: none), the old quantity and last bucket, the status and reason (the
    kernel's where it answered, run_status >= 0; else derived from the schedule: full on the
    requested day with one line, late when full, partial, short) and the strategy exception."""
    compare_batch_nb(old_ptr, old_b, old_q, new_n, new_b, new_q, req, out_change, out_old_ontime, out_new_ontime)
    for r in range(new_n.shape[0]):
        m = new_n[r]
        s = 0.0
        for k in range(m):
            s += new_q[r, k]
        out_new_qty[r] = s
        out_new_first[r] = new_b[r, 0] if m > 0 else -1
        last = new_b[r, m - 1] if m > 0 else -1
        out_new_last[r] = last
        lo, hi = old_ptr[r], old_ptr[r + 1]
        a = 0.0
        for k in range(lo, hi):
            a += old_q[k]
        out_old_qty[r] = a
        out_old_last[r] = old_b[hi - 1] if hi > lo else -1
        full = s >= qty[r] - EPS
        on_time = full and last <= req[r]
        if run_status[r] >= 0:
            st = run_status[r]
            out_reason[r] = run_reason[r]
        else:
            if on_time and m == 1:
                st = _FULL
            elif full:
                st = _LATE
            elif s > EPS:
                st = _PARTIAL
            else:
                st = _SHORT
            out_reason[r] = _R_NONE if st == _FULL else _R_SUPPLY
        out_status[r] = st
        c = out_change[r]
        e = _X_NONE
        if (strat[r] == _S_WIN or strat[r] == _S_GAIN) and (c == _WORSENED or c == _MIXED):
            e = _X_OLD_DOES_NOT_FIT
        if strat[r] == _S_WIN and e == _X_NONE and not on_time:
            e = _X_WIN_NOT_FULL
        if ils[r] < 0 and strat[r] != _S_LOSE:
            e = _X_NO_SOURCE
        out_exc[r] = e
