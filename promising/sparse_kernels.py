"""Compiled ATP kernels on the compact form (`supplydata.sparse`). Arrays, scalars and codes only.

For each request, `supplydata.sparse.availability_row_nb` writes the availability A(t) of the
request's item-location from the requested day on straight from the compact form (positions at
the change points, then one backward pass with the suffix minimum), and `promise_avail_1d_nb`
(the statements of `promising.kernels.promise_1d_nb` less its availability pass) decides on it,
so the answers are the dense form's for every policy flag (partial, split, backorder, lead time,
calendars, lateness). A commitment goes into the il's sparse overlay, one entry per (il, day),
sorted by day. Cost per request: one pass over the days from the request to the lead time, on
work rows that stay in cache, plus O(events + overlay entries) of that il, against the dense
form's one pass over a row of the big [N, H] array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import EPS, FLAG_BACKORDER, FLAG_PARTIAL, FLAG_SPLIT, Reason, Status
from promising.kernels import _is_open, _late_reason, available_at_1d_nb
from supplydata.sparse import availability_row_nb, overlay_add_nb, overlay_room_nb, position_row_nb


@njit(cache=True, nogil=True)
def promise_avail_1d_nb(scratch, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q):
    """`promising.kernels.promise_1d_nb` on an availability row already computed: scratch[t] = A(t)
    for t in [req, H) (inf from the lead time on), as `availability_1d_nb` writes it. The same
    statements in the same order, less the availability pass and the commit (the caller commits
    into the overlay); the property tests hold the two equal."""
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
def promise_compact_1d_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty,
                          il, H, lt, cal, qty, req, max_late, flags, max_lines, commit, out_b, out_q):
    """Promise `qty` requested at bucket `req` against item-location `il` of a compact snapshot
    (horizon `H`) and its overlay; as `promising.kernels.promise_1d_nb` (the same arguments from
    `lt` on, less the row and the work space, which it allocates; the same return value): `lt` the
    il's lead time (-1: none), `cal` its calendar row or an empty array, as the dense entry point
    passes them. With `commit`, the caller has made room in the arena
    (`supplydata.sparse.overlay_room_nb` for `max_lines` entries)."""
    avail = np.empty(H)
    cp_day = np.empty(H + 1, dtype=np.int64)
    cp_val = np.empty(H + 1)
    end = H if lt < 0 else min(lt, H)
    availability_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, req, end, cp_day, cp_val, avail)
    s, r, n, ef = promise_avail_1d_nb(avail, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q)
    if commit:
        for k in range(n):
            overlay_add_nb(seg, ent_day, ent_qty, il, out_b[k], out_q[k])
    return s, r, n, ef


@njit(cache=True, nogil=True)
def promise_compact_batch_nb(ev_ptr, ev_day, ev_cum, il_lt, il_cal, cal_open, seg, ent_day, ent_qty,
                             ils, qty, req, max_late, flags, max_lines, commit, first,
                             out_status, out_reason, out_n, out_b, out_q, out_ef):
    """Promise lines first..n-1 in the given order, each consuming what the previous ones
    committed (when `commit`), as `promising.kernels.promise_batch_nb`. ils[i] = -1: the item is
    not stocked at that location (NO_SOURCE). Returns the index it stopped at: n when done,
    earlier when the overlay has no room for the next line's schedule lines (grow and call again)."""
    n_lines = ils.shape[0]
    H = cal_open.shape[1]
    avail = np.empty(H)
    cp_day = np.empty(H + 1, dtype=np.int64)
    cp_val = np.empty(H + 1)
    no_cal = np.ones(0, dtype=np.bool_)
    cap = ent_day.shape[0]
    top_row = seg.shape[0] - 1
    for i in range(first, n_lines):
        il = ils[i]
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            out_ef[i] = -1
            continue
        if commit and seg[top_row, 0] + overlay_room_nb(seg, il, max_lines[i]) > cap:
            return i
        lt = il_lt[il]
        end = H if lt < 0 else min(lt, H)
        r0 = req[i]
        availability_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, r0, end, cp_day, cp_val, avail)
        c = il_cal[il]
        cal = cal_open[c] if c >= 0 else no_cal
        s, r, n, ef = promise_avail_1d_nb(avail, lt, cal, qty[i], r0, max_late[i], flags[i], max_lines[i], out_b[i], out_q[i])
        if commit:
            for k in range(n):
                overlay_add_nb(seg, ent_day, ent_qty, il, out_b[i, k], out_q[i, k])
        out_status[i] = s
        out_reason[i] = r
        out_n[i] = n
        out_ef[i] = ef
    return n_lines


@njit(cache=True, nogil=True)
def available_at_compact_nb(ev_ptr, ev_day, ev_cum, il_lt, seg, ent_day, ent_qty, il, t, row):
    """A(t) for one il and bucket (inf from the lead time on), as `promising.kernels.available_at_1d_nb`."""
    H = row.shape[0]
    lt = il_lt[il]
    end = H if lt < 0 else min(lt, H)
    position_row_nb(ev_ptr, ev_day, ev_cum, seg, ent_day, ent_qty, il, t, end, row)
    return available_at_1d_nb(row, lt, t)
