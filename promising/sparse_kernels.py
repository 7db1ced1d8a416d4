"""Compiled ATP kernels on the compact form (`supplydata.sparse`). Arrays, scalars and codes only.

For each request, `supplydata.sparse.availability_row_nb` writes the availability A(t) of the
request's item-location from the requested day on straight from the compact form (positions at
the change points, then one backward pass with the suffix minimum), and
`promising.kernels.schedule_1d_nb` (the scheduler `promise_1d_nb` runs after its availability pass,
shared, not copied) decides on it,
so the answers are the dense form's for every policy flag (partial, split, backorder, lead time,
calendars, lateness). A commitment goes into the il's sparse overlay, one entry per (il, day),
sorted by day. Cost per request: one pass over the days from the request to the lead time, on
work rows that stay in cache, plus O(events + overlay entries) of that il, against the dense
form's one pass over a row of the big [N, H] array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import Reason, Status
from promising.kernels import available_at_1d_nb, schedule_1d_nb
from supplydata.sparse import availability_row_nb, overlay_add_nb, overlay_room_nb, position_row_nb


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
    s, r, n, ef = schedule_1d_nb(avail, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q)
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
        s, r, n, ef = schedule_1d_nb(avail, lt, cal, qty[i], r0, max_late[i], flags[i], max_lines[i], out_b[i], out_q[i])
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
