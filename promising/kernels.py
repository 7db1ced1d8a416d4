"""Compiled ATP kernels. Arrays, scalars and integer codes only; no Python objects.

Reference semantics (DESIGN.md): for one item-location, ``C[t]`` is the running net position
(supply - demand - committed). A new request can take ``A(t) = max(0, min_{s>=t} C[s])`` at
bucket t. With a replenishment lead time ``L`` (lt >= 0), supply is unlimited from bucket L
on: ``A(t) = inf`` for t >= L and the minimum for t < L runs over ``[t, L)`` only.
Committing q at t lowers ``C[s]`` for every s >= t.

Outcomes are status and reason codes from `promising.enums`, never exceptions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import EPS, FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, Reason, Status

INF = np.inf


@njit(cache=True, nogil=True)
def availability_1d_nb(cum, lt, start, out):
    """out[t] = A(t) for t in [start, H). Returns nothing; O(H - start)."""
    H = cum.shape[0]
    end = H if lt < 0 else min(lt, H)
    m = INF
    for s in range(end - 1, start - 1, -1):
        c = cum[s]
        if c < m:
            m = c
        out[s] = m if m > 0.0 else 0.0
    for s in range(max(end, start), H):
        out[s] = INF


@njit(cache=True, nogil=True)
def available_at_1d_nb(cum, lt, t):
    """A(t) for one bucket."""
    H = cum.shape[0]
    if lt >= 0 and t >= lt:
        return INF
    end = H if lt < 0 else min(lt, H)
    m = INF
    for s in range(t, end):
        if cum[s] < m:
            m = cum[s]
    return m if m > 0.0 else 0.0


@njit(cache=True, nogil=True)
def earliest_1d_nb(cum, lt, cal, qty, start):
    """Earliest open bucket t >= start with A(t) >= qty, or -1 within the horizon."""
    H = cum.shape[0]
    end = H if lt < 0 else min(lt, H)
    # scan backward keeping the suffix minimum; remember the smallest qualifying open bucket
    best = -1
    if lt >= 0:
        for t in range(max(end, start), H):
            if cal.shape[0] == 0 or cal[t]:
                best = t
                break
    m = INF
    for s in range(end - 1, start - 1, -1):
        if cum[s] < m:
            m = cum[s]
        if m < qty - EPS:
            break
        if cal.shape[0] == 0 or cal[s]:
            best = s
    return best


@njit(cache=True, nogil=True)
def commit_1d_nb(cum, t, qty):
    """Commit qty at bucket t: lower C[s] for s >= t. Returns True when no position that was
    non-negative went negative (the commitment fits)."""
    fits = True
    for s in range(t, cum.shape[0]):
        before = cum[s]
        after = before - qty
        cum[s] = after
        if after < -EPS and before >= -EPS:
            fits = False
    return fits


@njit(cache=True, nogil=True)
def commit_lt_1d_nb(cum, t, qty, lt):
    """Commit qty at bucket t on an item-location with lead time lt (-1: none). Returns True
    when no position before the lead time that was non-negative went negative: from the lead
    time on supply is unlimited, so a position there may go below zero by design."""
    H = cum.shape[0]
    end = H if lt < 0 else min(lt, H)
    fits = True
    for s in range(t, H):
        before = cum[s]
        after = before - qty
        cum[s] = after
        if s < end and after < -EPS and before >= -EPS:
            fits = False
    return fits


@njit(cache=True, nogil=True)
def release_1d_nb(cum, t, qty):
    """Release qty committed at bucket t (exact inverse of commit_1d_nb)."""
    for s in range(t, cum.shape[0]):
        cum[s] += qty


@njit(cache=True, nogil=True)
def _is_open(cal, t):
    return cal.shape[0] == 0 or cal[t]


@njit(cache=True, nogil=True)
def _late_reason(cal, avail, lt, req, qty, t_last):
    if not _is_open(cal, req) and avail[req] >= qty - EPS:
        return Reason.CALENDAR
    if lt >= 0 and t_last >= lt:
        return Reason.LEAD_TIME
    return Reason.SUPPLY


@njit(cache=True, nogil=True)
def promise_1d_nb(cum, lt, cal, qty, req, max_late, flags, max_lines, commit, scratch, out_b, out_q):
    """Promise `qty` requested at bucket `req` against one item-location.

    cum: float64[H] running net position (modified only when `commit`).
    lt: replenishment lead time in buckets, -1 for none. cal: bool[H] open days, or empty (all open).
    max_late: maximum lateness in buckets, -1 for no limit. flags: FLAG_PARTIAL | FLAG_SPLIT |
    FLAG_BACKORDER. Partial without split gives, by default, the largest quantity reachable in the
    window on the first day it is reached; with FLAG_BACKORDER it confirms what the first working
    day of the window has (when that is something and not the whole) and backorders the rest.
    max_lines: most schedule lines (>= 1, <= len(out_b)). scratch: float64[H] work space (exactly
    H long). Writes schedule lines into out_b/out_q and returns (status, reason, n_lines,
    earliest_full), where earliest_full is the earliest open bucket with the whole quantity
    available (-1: none). The availability A(t) from `req` on (`availability_1d_nb`, into scratch), then
    `schedule_1d_nb` on it.
    """
    availability_1d_nb(cum, lt, req, scratch)
    status, reason, n, ef = schedule_1d_nb(scratch, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q)
    if commit:
        for k in range(n):
            commit_1d_nb(cum, out_b[k], out_q[k])
    return status, reason, n, ef


@njit(cache=True, nogil=True)
def schedule_1d_nb(scratch, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q):
    """The scheduler of `promise_1d_nb` on an availability series already computed: scratch is
    float64[H] and scratch[t] for t >= req is A(t) (non-negative, non-decreasing, inf from the
    lead time on), the only part read. Same arguments and result as `promise_1d_nb`, nothing
    committed. Callers that hold A(t) already (allocation's class curve is its own availability)
    skip recomputing it."""
    H = scratch.shape[0]
    allow_partial = (flags & FLAG_PARTIAL) != 0
    allow_split = (flags & FLAG_SPLIT) != 0
    last = H - 1 if max_late < 0 else min(H - 1, req + max_late)
    ef = -1
    for t in range(req, H):
        if scratch[t] >= qty - EPS and _is_open(cal, t):
            ef = t
            break
    lo = -1  # last open bucket in the window
    for t in range(last, req - 1, -1):
        if _is_open(cal, t):
            lo = t
            break
    n = 0
    taken = 0.0
    if allow_split and max_lines > 1 and lo >= 0:
        remaining = qty
        for t in range(req, last + 1):
            if not _is_open(cal, t):
                continue
            inc = scratch[t] - taken
            if inc <= EPS:
                continue
            if n == max_lines - 1 and inc < remaining - EPS:
                continue  # keep the last line for the whole rest
            take = inc if inc < remaining else remaining
            out_b[n] = t
            out_q[n] = take
            n += 1
            taken += take
            remaining -= take
            if remaining <= EPS:
                break
        if remaining > EPS and allow_partial and n == max_lines - 1:
            final = scratch[lo] - taken
            if final > EPS:
                start = out_b[n - 1] if n > 0 else req
                for t in range(start, lo + 1):
                    if _is_open(cal, t) and scratch[t] - taken >= final - EPS:
                        out_b[n] = t
                        out_q[n] = final
                        n += 1
                        taken += final
                        break
    else:
        bo = -1  # backorder policy: the first working day of the window, when it has some but not all
        if (flags & FLAG_BACKORDER) != 0 and allow_partial and lo >= 0:
            for t in range(req, lo + 1):
                if _is_open(cal, t):
                    bo = t
                    break
            if ef == bo or scratch[bo] <= EPS:
                bo = -1
        if bo >= 0:
            out_b[0] = bo
            out_q[0] = scratch[bo]
            n = 1
            taken = scratch[bo]
        elif ef >= 0 and ef <= last:
            out_b[0] = ef
            out_q[0] = qty
            n = 1
            taken = qty
        elif allow_partial and lo >= 0:
            best = scratch[lo]
            if best > EPS:
                for t in range(req, lo + 1):
                    if _is_open(cal, t) and scratch[t] >= best - EPS:
                        out_b[0] = t
                        out_q[0] = best
                        n = 1
                        taken = best
                        break
    if taken >= qty - EPS:
        t_last = out_b[n - 1]
        if n == 1 and t_last == req:
            status, reason = Status.FULL, Reason.NONE
        else:
            status, reason = Status.LATE, _late_reason(cal, scratch, lt, req, qty, t_last)
    else:
        if not allow_partial:
            n = 0
            taken = 0.0
        status = Status.PARTIAL if taken > EPS else Status.SHORT
        if lo < 0:
            reason = Reason.CALENDAR
        elif ef < 0:
            reason = Reason.HORIZON
        elif ef > last:
            reason = Reason.MAX_LATENESS
        else:
            reason = Reason.SUPPLY
    return status, reason, n, ef


@njit(cache=True, nogil=True)
def promise_plain_nb(cum, il, lt, cal_open, c, qty, req, flags, commit):
    """`promise_1d_nb` for a line (qty > EPS) without a lateness limit, split (or with one schedule line at
    most) or backorder policy, on row `il` of the 2-D net positions `cum` (calendar row `c` of `cal_open`;
    c < 0: every day open): the same answer, found with scans that stop where the suffix minimum falls
    short, as a bare greedy loop does, instead of the whole availability row. Indexes the 2-D arrays in
    place (no row views: a batch of a million lines pays no view per line). Returns (status, reason,
    n_lines, earliest_full, bucket, qty) with the one schedule line (bucket, qty) when n_lines is 1."""
    H = cum.shape[1]
    end = H if lt < 0 else min(lt, H)
    need = qty - EPS
    no_cal = c < 0
    ef = -1
    for t in range(max(end, req), H):  # unlimited from the lead time on
        if no_cal or cal_open[c, t]:
            ef = t
            break
    m = INF
    s = end - 1
    while s >= req:
        v = cum[il, s]
        if v < m:
            m = v
        if m < need:  # A = max(m, 0) falls short (need > 0)
            break
        if no_cal or cal_open[c, s]:
            ef = s
        s -= 1
    req_ok = s < req  # A(req) covers the quantity
    n = 0
    b = -1
    take = 0.0
    if ef >= 0:
        b = ef
        take = qty
        n = 1
        if ef == req:
            status, reason = Status.FULL, Reason.NONE
        elif not (no_cal or cal_open[c, req]) and req_ok:
            status, reason = Status.LATE, Reason.CALENDAR
        elif lt >= 0 and ef >= lt:
            status, reason = Status.LATE, Reason.LEAD_TIME
        else:
            status, reason = Status.LATE, Reason.SUPPLY
    else:
        lo = -1  # last open bucket from the requested one on (before the lead time: ef < 0)
        for t in range(H - 1, req - 1, -1):
            if no_cal or cal_open[c, t]:
                lo = t
                break
        if (flags & FLAG_PARTIAL) != 0 and lo >= 0:
            m = INF
            for t in range(end - 1, lo - 1, -1):
                if cum[il, t] < m:
                    m = cum[il, t]
            best = m if m > 0.0 else 0.0  # A(lo): the largest quantity reachable
            if best > EPS:
                t_best = lo
                for t in range(lo - 1, req - 1, -1):
                    if cum[il, t] < m:
                        m = cum[il, t]
                    if m < best - EPS:  # (best > EPS)
                        break
                    if no_cal or cal_open[c, t]:
                        t_best = t
                b = t_best
                take = best
                n = 1
        status = Status.PARTIAL if take > EPS else Status.SHORT
        reason = Reason.CALENDAR if lo < 0 else Reason.HORIZON
    if commit and n:  # commit_1d_nb's arithmetic, without its check (a loop the compiler vectorises)
        for t in range(b, H):
            cum[il, t] -= take
    return status, reason, n, ef, b, take


@njit(cache=True, nogil=True)
def promise_plain_1d_nb(cum, lt, cal, qty, req, flags, commit, out_b, out_q):
    """`promise_plain_nb` on one item-location's row `cum` (float64[H]) and calendar `cal` (bool[H], or
    empty: all open), writing the schedule line into out_b[0]/out_q[0]. Returns (status, reason, n_lines,
    earliest_full)."""
    c = 0 if cal.shape[0] else -1
    status, reason, n, ef, b, take = promise_plain_nb(cum.reshape((1, cum.shape[0])), 0, lt,
                                                      cal.reshape((1, cal.shape[0])), c, qty, req, flags, commit)
    if n:
        out_b[0] = b
        out_q[0] = take
    return status, reason, n, ef


@njit(cache=True, nogil=True)
def is_plain_nb(qty, flags, max_late, max_lines):
    """The line takes `promise_plain_1d_nb` (same answer as `promise_1d_nb`, less work)."""
    return (qty > EPS and max_late < 0 and ((flags & FLAG_SPLIT) == 0 or max_lines <= 1)
            and ((flags & FLAG_BACKORDER) == 0 or (flags & FLAG_PARTIAL) == 0))


@njit(cache=True, nogil=True)
def promise_line_nb(cum, lt, cal, qty, req, max_late, flags, max_lines, commit, scratch, out_b, out_q):
    """`promise_1d_nb` (same arguments, same answer), through `promise_plain_1d_nb` where the line's
    policy allows: what the batch paths call per line."""
    if is_plain_nb(qty, flags, max_late, max_lines):
        return promise_plain_1d_nb(cum, lt, cal, qty, req, flags, commit, out_b, out_q)
    return promise_1d_nb(cum, lt, cal, qty, req, max_late, flags, max_lines, commit, scratch, out_b, out_q)


@njit(cache=True, nogil=True)
def promise_batch_nb(cum, il_lt, il_cal, cal_open, ils, qty, req, max_late, flags, max_lines, commit,
                     out_status, out_reason, out_n, out_b, out_q, out_ef):
    """Promise many lines in the given order, each consuming what the previous ones committed
    (when `commit`). ils[i] = -1 means the item is not stocked at that location (NO_SOURCE)."""
    n_lines = ils.shape[0]
    H = cum.shape[1]
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    for i in range(n_lines):
        il = ils[i]
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            out_ef[i] = -1
            continue
        c = il_cal[il]
        q = qty[i]
        f = flags[i]
        if is_plain_nb(q, f, max_late[i], max_lines[i]):  # no row views: indexed in place
            s, r, n, ef, b, take = promise_plain_nb(cum, il, il_lt[il], cal_open, c, q, req[i], f, commit)
            if n:
                out_b[i, 0] = b
                out_q[i, 0] = take
        else:
            cal = cal_open[c] if c >= 0 else no_cal
            s, r, n, ef = promise_1d_nb(cum[il], il_lt[il], cal, q, req[i], max_late[i], f, max_lines[i], commit,
                                        scratch, out_b[i], out_q[i])
        out_status[i] = s
        out_reason[i] = r
        out_n[i] = n
        out_ef[i] = ef


@njit(cache=True, nogil=True)
def promise_rows_nb(cum, il_lt, il_cal, cal_open, rows, ils, qty, req, max_late, flags, max_lines, commit,
                    out_status, out_reason, out_n, out_b, out_q):
    """`promise_batch_nb` over the lines `rows` (in that order) of arrays indexed by line: inputs
    and outputs are read and written at the row (no gather or scatter around the call)."""
    H = cum.shape[1]
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    for j in range(rows.shape[0]):
        i = rows[j]
        il = ils[i]
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            continue
        c = il_cal[il]
        q = qty[i]
        f = flags[i]
        if is_plain_nb(q, f, max_late[i], max_lines[i]):  # no row views: indexed in place
            s, r, n, _ef, b, take = promise_plain_nb(cum, il, il_lt[il], cal_open, c, q, req[i], f, commit)
            if n:
                out_b[i, 0] = b
                out_q[i, 0] = take
        else:
            cal = cal_open[c] if c >= 0 else no_cal
            s, r, n, _ef = promise_1d_nb(cum[il], il_lt[il], cal, q, req[i], max_late[i], f, max_lines[i], commit,
                                        scratch, out_b[i], out_q[i])
        out_status[i] = s
        out_reason[i] = r
        out_n[i] = n


@njit(cache=True, nogil=True)
def encode_batch_nb(ic, lc, qty, days, base, H, table, nloc):
    """Order lines to kernel arrays in one pass: item-location code (``table[ic * nloc + lc]``; codes
    known), requested bucket (days since 1970 - base, at least 0). Returns (ils, req, first row whose
    quantity is not a positive number, first row past the horizon), -1 where none."""
    n = ic.shape[0]
    ils = np.empty(n, np.int64)
    req = np.empty(n, np.int64)
    bad_q = -1
    bad_d = -1
    for i in range(n):
        ils[i] = table[ic[i] * nloc + lc[i]]
        q = qty[i]
        if bad_q < 0 and not (q > 0.0 and q < INF):  # NaN fails both
            bad_q = i
        d = np.int64(days[i]) - base
        if bad_d < 0 and d >= H:
            bad_d = i
        req[i] = d if d > 0 else 0
    return ils, req, bad_q, bad_d


@njit(cache=True, nogil=True)
def commit_batch_nb(cum, il_lt, ils, buckets, qty, sign, out_fits):
    """Commit (sign=+1) or release (sign=-1) many schedule lines; out_fits[i] False where a
    commitment pushed a non-negative position before the lead time below zero (kept anyway;
    the caller reports it)."""
    for i in range(ils.shape[0]):
        if sign > 0:
            out_fits[i] = commit_lt_1d_nb(cum[ils[i]], buckets[i], qty[i], il_lt[ils[i]])
        else:
            release_1d_nb(cum[ils[i]], buckets[i], qty[i])
            out_fits[i] = True


@njit(cache=True, nogil=True)
def consumption_1d_nb(supply, cum, out):
    """Quantity consumed per bucket (existing demand + commitments) = supply - net position change."""
    prev = 0.0
    for t in range(cum.shape[0]):
        out[t] = supply[t] - (cum[t] - prev)
        prev = cum[t]


@njit(cache=True, nogil=True)
def peg_1d_nb(sup_bucket, sup_qty, consumed, line_b, line_q, out_line, out_rec, out_qty):
    """Pegging: which supply records each new schedule line consumes.

    First-in first-out by date: demand (existing consumption first, then the new lines) is
    served in bucket order from supply records that have arrived by then; unserved existing
    demand waits for later receipts. A new line's part not served by the end of its own bucket
    is pegged to record -1 (replenishment after the lead time). Lines must be sorted by
    bucket. Returns the number of pegs written.
    """
    H = consumed.shape[0]
    R = sup_bucket.shape[0]
    n = line_b.shape[0]
    rem = sup_qty.copy()
    q_line = np.empty(H + n, dtype=np.int64)
    q_rem = np.empty(H + n)
    head = 0
    tail = 0
    rp = 0
    fp = 0
    li = 0
    k = 0
    for b in range(H):
        while rp < R and sup_bucket[rp] <= b:
            rp += 1
        if consumed[b] > EPS:
            q_line[tail] = -1
            q_rem[tail] = consumed[b]
            tail += 1
        new_here = False
        while li < n and line_b[li] == b:
            q_line[tail] = li
            q_rem[tail] = line_q[li]
            tail += 1
            li += 1
            new_here = True
        while head < tail and fp < rp:
            if q_rem[head] <= EPS:
                head += 1
                continue
            take = q_rem[head] if q_rem[head] < rem[fp] else rem[fp]
            if q_line[head] >= 0 and take > EPS:
                out_line[k] = q_line[head]
                out_rec[k] = fp
                out_qty[k] = take
                k += 1
            q_rem[head] -= take
            rem[fp] -= take
            if rem[fp] <= EPS:
                fp += 1
            if q_rem[head] <= EPS:
                head += 1
        if new_here:
            # a new line not covered by supply arrived by its own date is covered by
            # replenishment after the lead time (a feasible line without one never gets here)
            for j in range(head, tail):
                if q_line[j] >= 0 and q_rem[j] > EPS:
                    out_line[k] = q_line[j]
                    out_rec[k] = -1
                    out_qty[k] = q_rem[j]
                    k += 1
                    q_rem[j] = 0.0
    return k


@njit(cache=True, nogil=True)
def discrete_atp_1d_nb(supply, demand, out):
    """Textbook discrete ATP row with look-ahead.

    A period starts at bucket 0 (on hand) and at every bucket with supply. Its ATP is its supply
    minus the demand until the next period starts. A negative ATP is netted against the
    earlier periods, latest first (look-ahead), leaving zero; only the first period can stay
    negative (a shortage). out[t] is the ATP at period starts and 0 elsewhere.
    """
    H = supply.shape[0]
    for t in range(H):
        out[t] = 0.0
    starts = np.empty(H, dtype=np.int64)
    ns = 0
    for t in range(H):
        if t == 0 or supply[t] > EPS:
            starts[ns] = t
            ns += 1
    for p in range(ns):
        s = starts[p]
        e = starts[p + 1] if p + 1 < ns else H
        v = supply[s]
        for t in range(s, e):
            v -= demand[t]
        out[s] = v
    for p in range(ns - 1, 0, -1):
        s = starts[p]
        if out[s] < -EPS:
            out[starts[p - 1]] += out[s]
            out[s] = 0.0


@njit(cache=True, nogil=True)
def on_time_chain_nb(cum, il_lt, il_cal, cal_open, ils, qty, req, out_q):
    """Substitution on plain ATP: what each item of a chain gives on the requested bucket.

    ils: item-locations of the requested item and its substitutes in preference order (-1: the
    item is not stocked at the location, skipped). Item j is asked for the rest of `qty` exactly as
    `promise_1d_nb` answers with partial allowed, no split and no lateness (FLAG_PARTIAL,
    max_late 0): the whole rest when A(req) covers it (within EPS) on an open day, else A(req)
    when that is more than EPS, else nothing. out_q[j] = what item j gives (0: nothing or not
    reached); out_q[len(ils)] = the rest still open. Returns -1 when the requested item alone
    covers the whole quantity (out_q[0] = qty), else the number of items reached."""
    n = ils.shape[0]
    for j in range(n + 1):
        out_q[j] = 0.0
    rest = qty
    reached = 0
    for j in range(n):
        if rest <= EPS:
            break
        reached = j + 1
        il = ils[j]
        if il < 0:
            continue
        c = il_cal[il]
        if c >= 0 and not cal_open[c, req]:
            continue  # the requested day is closed: nothing on time
        a = available_at_1d_nb(cum[il], il_lt[il], req)
        if a >= rest - EPS:
            out_q[j] = rest
            if j == 0:
                out_q[n] = 0.0
                return -1
            rest -= rest
        elif a > EPS:
            out_q[j] = a
            rest -= a
    out_q[n] = rest
    return reached
