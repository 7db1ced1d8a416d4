"""Compiled ATP kernels on the compact form (`supplydata.sparse`). Arrays, scalars and codes only.

Each request expands its item-location's running net position into a scratch row, from the
requested day up to the lead time (the only days the dense logic reads), with
`supplydata.sparse.position_row_nb`, then runs the dense one-line kernel
`promising.kernels.promise_1d_nb` on that row unchanged, so the answers are the dense form's
for every policy flag it supports (partial, split, backorder, lead time, calendars, lateness).
A commitment goes into the il's sparse overlay, one entry per (il, day), sorted by day. Cost per request:
O(H - req + events + overlay entries of that il) on a row that stays in cache, against the
dense form's O(H - req) on a row of the big [N, H] array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import Reason, Status
from promising.kernels import available_at_1d_nb, promise_1d_nb
from supplydata.sparse import overlay_add_nb, overlay_room_nb, position_row_nb


@njit(cache=True, nogil=True)
def promise_compact_1d_nb(ev_ptr, ev_day, ev_cum, il_lt, il_cal, cal_open, seg_start, seg_len, seg_cap, ent_day, ent_qty, used,
                          il, qty, req, max_late, flags, max_lines, commit, row, scratch, out_b, out_q):
    """Promise `qty` requested at bucket `req` against item-location `il` of a compact snapshot
    and its overlay; as `promising.kernels.promise_1d_nb` (same arguments after `il`, same
    return value), `row` and `scratch` float64[H] work space. With `commit`, the caller has made
    room in the arena (`supplydata.sparse.overlay_room_nb` for `max_lines` entries)."""
    H = row.shape[0]
    lt = il_lt[il]
    end = H if lt < 0 else min(lt, H)
    position_row_nb(ev_ptr, ev_day, ev_cum, seg_start, seg_len, ent_day, ent_qty, il, req, end, row)
    c = il_cal[il]
    if c >= 0:
        cal = cal_open[c]
    else:
        cal = np.ones(0, dtype=np.bool_)
    s, r, n, ef = promise_1d_nb(row, lt, cal, qty, req, max_late, flags, max_lines, False, scratch, out_b, out_q)
    if commit:
        for k in range(n):
            overlay_add_nb(seg_start, seg_len, seg_cap, ent_day, ent_qty, used, il, out_b[k], out_q[k])
    return s, r, n, ef


@njit(cache=True, nogil=True)
def promise_compact_batch_nb(ev_ptr, ev_day, ev_cum, il_lt, il_cal, cal_open, seg_start, seg_len, seg_cap, ent_day, ent_qty, used,
                             ils, qty, req, max_late, flags, max_lines, commit, first,
                             out_status, out_reason, out_n, out_b, out_q, out_ef):
    """Promise lines first..n-1 in the given order, each consuming what the previous ones
    committed (when `commit`), as `promising.kernels.promise_batch_nb`. ils[i] = -1: the item is
    not stocked at that location (NO_SOURCE). Returns the index it stopped at: n when done,
    earlier when the overlay has no room for the next line's schedule lines (grow and call again)."""
    n_lines = ils.shape[0]
    H = cal_open.shape[1]
    row = np.empty(H)
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    cap = ent_day.shape[0]
    for i in range(first, n_lines):
        il = ils[i]
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            out_ef[i] = -1
            continue
        if commit and used[0] + overlay_room_nb(seg_len, il, max_lines[i]) > cap:
            return i
        lt = il_lt[il]
        end = H if lt < 0 else min(lt, H)
        r0 = req[i]
        position_row_nb(ev_ptr, ev_day, ev_cum, seg_start, seg_len, ent_day, ent_qty, il, r0, end, row)
        c = il_cal[il]
        cal = cal_open[c] if c >= 0 else no_cal
        s, r, n, ef = promise_1d_nb(row, lt, cal, qty[i], r0, max_late[i], flags[i], max_lines[i], False, scratch,
                                    out_b[i], out_q[i])
        if commit:
            for k in range(n):
                overlay_add_nb(seg_start, seg_len, seg_cap, ent_day, ent_qty, used, il, out_b[i, k], out_q[i, k])
        out_status[i] = s
        out_reason[i] = r
        out_n[i] = n
        out_ef[i] = ef
    return n_lines


@njit(cache=True, nogil=True)
def available_at_compact_nb(ev_ptr, ev_day, ev_cum, il_lt, seg_start, seg_len, ent_day, ent_qty, il, t, row):
    """A(t) for one il and bucket (inf from the lead time on), as `promising.kernels.available_at_1d_nb`."""
    H = row.shape[0]
    lt = il_lt[il]
    end = H if lt < 0 else min(lt, H)
    position_row_nb(ev_ptr, ev_day, ev_cum, seg_start, seg_len, ent_day, ent_qty, il, t, end, row)
    return available_at_1d_nb(row, lt, t)
