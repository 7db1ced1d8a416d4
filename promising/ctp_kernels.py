"""Compiled capable-to-promise kernels. Arrays, scalars and integer codes only.

The bill of one finished item-location (the *root*) is exploded once per snapshot into flat
arrays, one row per *entry* in breadth-first order (the root is entry 0; a component shared by
several parents appears once under each parent). Per entry (`ent_int` columns, see `E_*`):

- parent entry (root-local index, -1 for the root), finish offset `off` (the entry's lot
  finishes `off` buckets before the root lot finishes), production lead time `lt` of its own
  bill, ATP time fence (first bucket a lot of that item may finish), whether the item is made
  at that location, its *slot* (root-local index of its item-location in the work arrays,
  -1 when the item has no row there) and its resource range in `eres_*` (CSR).

`ent_qty[j]` is the quantity of entry j per unit of its parent (1 for the root).

Production model (one lot per entry, backward scheduled, see docs/ctp.md): a lot of x units
finishing on bucket f with lead time L starts on s = f - L; its components are drawn on s
(stock first, from the component's cumulative ATP; the rest is made by a component lot
finishing on s); its resources work on the days [s, f-1] (on day f itself when L = 0),
latest day first. A lot may not start before bucket 0 nor finish inside its item's time fence.

The root's lot may finish on any bucket f <= the delivery bucket t; the root's own stock
(ATP at t) is used first. Outcomes are status and reason codes (promising.enums), never
exceptions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import EPS
from promising.kernels import availability_1d_nb, available_at_1d_nb, commit_1d_nb

INF = np.inf

# columns of ent_int
E_PARENT, E_OFF, E_LT, E_FENCE, E_MADE, E_SLOT, E_R0, E_R1 = 0, 1, 2, 3, 4, 5, 6, 7
N_ECOLS = 8
# columns of a root row (root_tab)
R_E0, R_E1, R_S0, R_S1, R_Q0, R_Q1, R_MAXD = 0, 1, 2, 3, 4, 5, 6
N_RCOLS = 7

# status codes (mirror promising.enums.Status) and binding codes (mirror promising.enums.Reason)
_FULL, _LATE, _PARTIAL, _SHORT = 0, 1, 2, 3
B_NONE, B_LEAD_TIME, B_CALENDAR, B_CAPACITY, B_MATERIAL = 0, 2, 3, 8, 9
# draw kinds in the plan log
D_STOCK, D_CAPACITY = 0, 1
# fail record layout: fail_i = [code, entry, rslot, first day, last day, bucket], fail_f = [needed, available]
N_FAIL_I, N_FAIL_F = 6, 2

BISECT_ITERS = 60


@njit(cache=True, nogil=True)
def window_nb(f, lt):
    """Days a lot finishing on f works on: [f - lt, f - 1], or [f, f] when lt == 0."""
    if lt <= 0:
        return f, f
    return f - lt, f - 1


@njit(cache=True, nogil=True)
def lot_bound_nb(f, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim):
    """Optimistic bound on the root lot finishing on f: each entry limited by its capacity
    window and by (stock + own bound) of its components, shared components counted once per
    parent (so the bound may exceed what can really be made). av: float64[S, H] ATP per slot;
    pre: float64[Q, H+1] prefix sums of remaining capacity per resource slot."""
    H = av.shape[1]
    for j in range(n_ent):
        g = e0 + j
        lim[j] = INF
        if ent_int[g, E_MADE] == 0:
            lim[j] = 0.0
            continue
        fj = f - ent_int[g, E_OFF]
        lt = ent_int[g, E_LT]
        if fj - lt < 0 or fj < ent_int[g, E_FENCE] or fj >= H:
            lim[j] = 0.0
            continue
        a, b = window_nb(fj, lt)
        for k in range(ent_int[g, E_R0], ent_int[g, E_R1]):
            u = eres_use[k]
            if u > EPS:
                r = eres_rslot[k]
                w = (pre[r, b + 1] - pre[r, a]) / u
                if w < lim[j]:
                    lim[j] = w
    for j in range(n_ent - 1, 0, -1):
        g = e0 + j
        p = ent_int[g, E_PARENT]
        if lim[p] <= 0.0:
            continue
        k = ent_qty[g]
        if k <= EPS:
            continue
        s = f - ent_int[g, E_OFF]  # the parent's start = this entry's finish
        a = 0.0
        slot = ent_int[g, E_SLOT]
        if slot >= 0 and 0 <= s < H:
            a = av[slot, s]
        c = (a + lim[j]) / k
        if c < lim[p]:
            lim[p] = c
    return lim[0]


@njit(cache=True, nogil=True)
def plan_lot_nb(f, x, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wcum, wrem, make,
                log, d_kind, d_ent, d_ref, d_bucket, d_qty, fail_i, fail_f):
    """Plan a root lot of x units finishing on f on the work arrays (wcum: cumulative positions
    per slot, wrem: remaining capacity per resource slot), which it modifies. Entries in
    breadth-first order: stock first, the rest made by the entry's own lot. Returns
    (ok, n_draws); when not ok, fail_i/fail_f say which constraint failed first."""
    H = wcum.shape[1]
    n = 0
    for j in range(n_ent):
        make[j] = 0.0
    make[0] = x
    for j in range(n_ent):
        g = e0 + j
        if j > 0:
            p = ent_int[g, E_PARENT]
            need = make[p] * ent_qty[g]
            if need <= EPS:
                continue
            s = f - ent_int[g, E_OFF]
            slot = ent_int[g, E_SLOT]
            a = 0.0
            if slot >= 0:
                a = available_at_1d_nb(wcum[slot], slot_lt[slot], s)
            take = need if need < a else a
            if take > EPS:
                commit_1d_nb(wcum[slot], s, take)
                if log:
                    d_kind[n] = D_STOCK
                    d_ent[n] = j
                    d_ref[n] = slot
                    d_bucket[n] = s
                    d_qty[n] = take
                n += 1
            else:
                take = 0.0
            rest = need - take
            if rest <= EPS:
                continue
            if ent_int[g, E_MADE] == 0:
                fail_i[0] = B_MATERIAL
                fail_i[1] = j
                fail_i[2] = -1
                fail_i[3] = s
                fail_i[4] = s
                fail_i[5] = s
                fail_f[0] = need
                fail_f[1] = a
                return False, n
            make[j] = rest
        if make[j] <= EPS:
            continue
        fj = f - ent_int[g, E_OFF]
        lt = ent_int[g, E_LT]
        if fj - lt < 0 or fj < ent_int[g, E_FENCE] or fj >= H:
            fail_i[0] = B_LEAD_TIME
            fail_i[1] = j
            fail_i[2] = -1
            fail_i[3] = fj - lt
            fail_i[4] = fj
            fail_i[5] = fj
            fail_f[0] = make[j]
            fail_f[1] = 0.0
            return False, n
        a, b = window_nb(fj, lt)
        for k in range(ent_int[g, E_R0], ent_int[g, E_R1]):
            need = make[j] * eres_use[k]
            if need <= EPS:
                continue
            r = eres_rslot[k]
            tot = 0.0
            for d in range(a, b + 1):
                tot += wrem[r, d]
            if tot < need - EPS:
                fail_i[0] = B_CAPACITY
                fail_i[1] = j
                fail_i[2] = r
                fail_i[3] = a
                fail_i[4] = b
                fail_i[5] = fj
                fail_f[0] = need
                fail_f[1] = tot
                return False, n
            left = need
            for d in range(b, a - 1, -1):
                c = wrem[r, d]
                take = left if left < c else c
                if take > EPS:
                    wrem[r, d] = c - take
                    left -= take
                    if log:
                        d_kind[n] = D_CAPACITY
                        d_ent[n] = j
                        d_ref[n] = r
                        d_bucket[n] = d
                        d_qty[n] = take
                    n += 1
                if left <= EPS:
                    break
    return True, n


@njit(cache=True, nogil=True)
def _restore(wcum, wrem, wcum0, wrem0):
    wcum[:, :] = wcum0
    wrem[:, :] = wrem0


@njit(cache=True, nogil=True)
def _bound_at(f, ub, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim):
    if ub[f] < 0.0:
        ub[f] = lot_bound_nb(f, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
    return ub[f]


@njit(cache=True, nogil=True)
def _exact_at(f, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, av, pre, lim,
              wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff):
    """Largest quantity (<= qty) a root lot finishing on f can really make; cached in ex[f].
    Tries the bound first; bisects when shared components or capacity make it optimistic."""
    if ex[f] >= 0.0:
        return ex[f]
    hi = _bound_at(f, ub, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
    if hi > qty:
        hi = qty
    if hi <= EPS:
        ex[f] = 0.0
        return 0.0
    _restore(wcum, wrem, wcum0, wrem0)
    ok, _ = plan_lot_nb(f, hi, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wcum, wrem, make,
                        False, dk, de, dr, db, dq, fi, ff)
    if ok:
        ex[f] = hi
        return hi
    lo = 0.0
    for _ in range(BISECT_ITERS):
        if hi - lo <= EPS * 10.0:
            break
        mid = 0.5 * (lo + hi)
        _restore(wcum, wrem, wcum0, wrem0)
        ok, _ = plan_lot_nb(f, mid, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wcum, wrem, make,
                            False, dk, de, dr, db, dq, fi, ff)
        if ok:
            lo = mid
        else:
            hi = mid
    # the bisection ends a hair below the true maximum; prefer a round value that still fits
    for digits in (6, 9):
        c = round(hi, digits)
        if c > lo and c <= hi:
            _restore(wcum, wrem, wcum0, wrem0)
            ok, _ = plan_lot_nb(f, c, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wcum, wrem, make,
                                False, dk, de, dr, db, dq, fi, ff)
            if ok:
                lo = c
                break
    ex[f] = lo
    return lo


@njit(cache=True, nogil=True)
def _earliest_for(target, t_lo, t_hi, cal, avr, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use,
                  slot_lt, av, pre, lim, wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff, made_ok):
    """Earliest open bucket t in [t_lo, t_hi] where root stock at t plus one lot finishing on some
    f <= t covers `target`. Returns (t, f, made qty); f = -1 when stock alone covers it.
    The latest such f is chosen (just in time). made_ok False: stock only."""
    best_ub = 0.0
    next_f = 0
    for t in range(t_lo, t_hi + 1):
        stock = avr[t]
        if stock > target:
            stock = target
        need = target - stock
        if cal.shape[0] > 0 and not cal[t]:
            continue
        if need <= EPS:
            return t, -1, 0.0
        if not made_ok:
            continue
        while next_f <= t:
            u = _bound_at(next_f, ub, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
            if u > best_ub:
                best_ub = u
            next_f += 1
        if best_ub < need - EPS:
            continue
        for f in range(t, -1, -1):
            if ub[f] < need - EPS:
                continue
            e = _exact_at(f, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, av, pre, lim,
                          wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff)
            if e >= need - EPS:
                return t, f, need
    return -1, -1, 0.0


@njit(cache=True, nogil=True)
def ctp_promise_1d_nb(cum, il_lt, cap, used, root, cal, qty, req, last, allow_partial, made_ok, rt,
                      ent_int, ent_qty, eres_rslot, eres_use, slot_il, slot_lt, rslot_res):
    """Capable-to-promise for one request on one root item-location (no commitment).

    cum: float64[N, H] cumulative positions; il_lt: replenishment lead time per item-location;
    cap, used: float64[R, H] resource capacity and capacity used; root: item-location code;
    cal: bool[H] open days of the root location (empty: all open); qty, req, last: quantity,
    requested bucket and last acceptable bucket; rt: the root's row of the root table
    (entry, slot and resource-slot ranges, most plan draws); made_ok False: inside the time
    fence everywhere (stock only).

    Returns (status, t, f, ef, stock_qty, made_qty, n_draws, d_kind, d_ent, d_ref, d_bucket,
    d_qty, make, fail_i, fail_f): delivery bucket t (-1: none), root lot finish f (-1: no lot),
    earliest full bucket ef over the horizon (-1: none), the plan's draws (d_ref: slot for
    stock, resource slot for capacity), the lot quantity per entry, and the binding
    constraint (fail_i[0] a reason code, B_NONE when on time and in full).
    """
    H = cum.shape[1]
    e0, n_ent = rt[R_E0], rt[R_E1] - rt[R_E0]
    s0, S = rt[R_S0], rt[R_S1] - rt[R_S0]
    q0, Q = rt[R_Q0], rt[R_Q1] - rt[R_Q0]
    maxd = rt[R_MAXD]
    slt = slot_lt[s0:s0 + S]
    wcum0 = np.empty((S, H))
    av = np.empty((S, H))
    for i in range(S):
        wcum0[i, :] = cum[slot_il[s0 + i]]
        availability_1d_nb(wcum0[i], slt[i], 0, av[i])
    wrem0 = np.empty((Q, H))
    pre = np.zeros((Q, H + 1))
    for i in range(Q):
        r = rslot_res[q0 + i]
        acc = 0.0
        for d in range(H):
            v = cap[r, d] - used[r, d]
            if v < 0.0:
                v = 0.0
            wrem0[i, d] = v
            acc += v
            pre[i, d + 1] = acc
    wcum = np.empty((S, H))
    wrem = np.empty((Q, H))
    avr = np.empty(H)
    availability_1d_nb(cum[root], il_lt[root], 0, avr)
    ub = np.full(H, -1.0)
    ex = np.full(H, -1.0)
    lim = np.empty(n_ent)
    make = np.zeros(n_ent)
    dk = np.empty(maxd, dtype=np.int8)
    de = np.empty(maxd, dtype=np.int64)
    dr = np.empty(maxd, dtype=np.int64)
    db = np.empty(maxd, dtype=np.int64)
    dq = np.empty(maxd)
    fi = np.zeros(N_FAIL_I, dtype=np.int64)
    ff = np.zeros(N_FAIL_F)
    # 1. the whole quantity within [req, last]
    t, f, need = _earliest_for(qty, req, last, cal, avr, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use,
                               slt, av, pre, lim, wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff, made_ok)
    target = qty
    ef = t
    if t < 0 and last + 1 < H:
        ef, _, _ = _earliest_for(qty, last + 1, H - 1, cal, avr, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot,
                                 eres_use, slt, av, pre, lim, wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff,
                                 made_ok)
    lo = -1  # last open bucket in the window
    for b in range(last, req - 1, -1):
        if cal.shape[0] == 0 or cal[b]:
            lo = b
            break
    # 2. the best part within the window
    if t < 0 and allow_partial and lo >= 0:
        base = avr[lo] if avr[lo] < qty else qty
        best = 0.0
        if made_ok:
            for g in range(lo, -1, -1):
                u = _bound_at(g, ub, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
                if u > qty - base:
                    u = qty - base
                if u > best + EPS:
                    e = _exact_at(g, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, av, pre, lim,
                                  wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq, fi, ff)
                    if e > best:
                        best = e
        target = base + best
        if target > qty:
            target = qty
        if target > EPS:
            t, f, need = _earliest_for(target, req, lo, cal, avr, qty, ub, ex, e0, n_ent, ent_int, ent_qty, eres_rslot,
                                       eres_use, slt, av, pre, lim, wcum, wrem, wcum0, wrem0, make, dk, de, dr, db, dq,
                                       fi, ff, made_ok)
    if t < 0:
        target = 0.0
    if t >= 0 and target >= qty - EPS:
        status = _FULL if t == req else _LATE
    elif t >= 0:
        status = _PARTIAL
    else:
        status = _SHORT
    # 3. the binding constraint: why not the whole quantity by the requested date (late) or
    # by the last acceptable date (short): plan the missing quantity in one lot at the most
    # promising finish date and report the first constraint that fails
    for i in range(N_FAIL_I):
        fi[i] = 0
    ff[0] = 0.0
    ff[1] = 0.0
    if status != _FULL:
        bt = req if status == _LATE else (lo if lo >= 0 else req)
        if lo < 0 or (cal.shape[0] > 0 and not cal[bt] and avr[bt] >= qty - EPS):
            fi[0] = B_CALENDAR
        else:
            st = avr[bt] if avr[bt] < qty else qty
            nb = qty - st
            fb = bt
            ubest = -1.0
            if made_ok:
                for g in range(bt, -1, -1):
                    u = _bound_at(g, ub, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
                    if u > ubest + EPS:
                        ubest = u
                        fb = g
                _restore(wcum, wrem, wcum0, wrem0)
                ok, _ = plan_lot_nb(fb, nb, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wcum, wrem, make,
                                    False, dk, de, dr, db, dq, fi, ff)
                if ok:
                    fi[0] = B_CALENDAR if (cal.shape[0] > 0 and not cal[bt]) else B_NONE
            else:
                fi[0] = B_LEAD_TIME
                fi[1] = 0
                fi[2] = -1
                fi[3] = bt
                fi[4] = bt
                fi[5] = bt
                ff[0] = nb
    # 4. the plan for the answer, logged
    n = 0
    made = 0.0
    if t >= 0 and f >= 0 and need > EPS:
        _restore(wcum, wrem, wcum0, wrem0)
        fi2 = np.zeros(N_FAIL_I, dtype=np.int64)
        ff2 = np.zeros(N_FAIL_F)
        ok, n = plan_lot_nb(f, need, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wcum, wrem, make,
                            True, dk, de, dr, db, dq, fi2, ff2)
        made = need
        if not ok:  # cannot happen: the same plan was verified; report nothing rather than a broken plan
            return _SHORT, -1, -1, ef, 0.0, 0.0, 0, dk, de, dr, db, dq, make, fi, ff
    else:
        f = -1
        for j in range(n_ent):
            make[j] = 0.0
    stock = target - made
    if stock < 0.0:
        stock = 0.0
    return status, t, f, ef, stock, made, n, dk, de, dr, db, dq, make, fi, ff


@njit(cache=True, nogil=True)
def apply_plan_nb(cum, used, root, t, stock, slot_il, s0, rslot_res, q0, n, d_kind, d_ref, d_bucket, d_qty, sign):
    """Commit (sign=+1) or release (sign=-1) a plan: the root's stock part at t and every
    logged draw. Returns True when no non-negative position went negative."""
    fits = True
    if stock > EPS:
        if sign > 0:
            fits = commit_1d_nb(cum[root], t, stock) and fits
        else:
            for s in range(t, cum.shape[1]):
                cum[root, s] += stock
    for k in range(n):
        if d_kind[k] == D_STOCK:
            il = slot_il[s0 + d_ref[k]]
            if sign > 0:
                fits = commit_1d_nb(cum[il], d_bucket[k], d_qty[k]) and fits
            else:
                for s in range(d_bucket[k], cum.shape[1]):
                    cum[il, s] += d_qty[k]
        else:
            r = rslot_res[q0 + d_ref[k]]
            used[r, d_bucket[k]] += sign * d_qty[k]
    return fits
