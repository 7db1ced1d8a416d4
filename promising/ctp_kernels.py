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

from promising.enums import EPS, Reason, Status
from promising.kernels import availability_1d_nb, available_at_1d_nb, commit_1d_nb, promise_1d_nb

INF = np.inf

# Constant arguments between kernels are written ``np.int64(0)`` / ``bool(False)``: a bare ``0`` or
# ``False`` types as a numba Literal, which compiles the callee a second time just for that call site
# (seconds each on a cold cache); the value, and so the result, is the same.

# columns of ent_int
E_PARENT, E_OFF, E_LT, E_FENCE, E_MADE, E_SLOT, E_R0, E_R1 = 0, 1, 2, 3, 4, 5, 6, 7
N_ECOLS = 8
# columns of a root row (root_tab)
R_E0, R_E1, R_S0, R_S1, R_Q0, R_Q1, R_MAXD = 0, 1, 2, 3, 4, 5, 6  # R_MAXD: most draws of one lot
N_RCOLS = 7

# status codes are promising.enums.Status; the binding constraint (fail_i[0]) is a
# promising.enums.Reason: NONE, LEAD_TIME, CALENDAR, CAPACITY or MATERIAL
# draw kinds in the plan log
D_STOCK, D_CAPACITY = 0, 1
# fail record layout: fail_i = [code, entry, rslot, first day, last day, bucket], fail_f = [needed, available]
N_FAIL_I, N_FAIL_F = 6, 2

BISECT_ITERS = 60
MAX_LOTS = 32  # most root lots one promise may plan


@njit(cache=True, nogil=True)
def _copy2_nb(dst, src):
    """``dst[:, :] = src`` for two arrays of one shape, element by element: the same copy without compiling
    numba's shape-mismatch error path (seconds per calling kernel on a cold cache)."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@njit(cache=True, nogil=True)
def _copy1_nb(dst, src):
    """``dst[:] = src`` for two 1-D arrays of one length (see _copy2_nb)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@njit(cache=True, nogil=True)
def window_nb(f, lt):
    """Days a lot finishing on f works on: [f - lt, f - 1], or [f, f] when lt == 0."""
    if lt <= 0:
        return f, f
    return f - lt, f - 1


@njit(cache=True, nogil=True)
def lot_bound_nb(f, cumulative, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim):
    """Optimistic bound on what the root can make finishing on f: each entry limited by its
    resources and by (stock + own bound) of each component; a shared component counts in full
    under every parent, so the bound may exceed what can really be made.

    cumulative False: one lot (each entry's resources only in its lot window).
    cumulative True: any number of lots finishing on or before f (each entry's resources on
    every day up to the end of its window): an upper bound on what `make_by_nb` can make.
    av: float64[S, H] ATP per slot; pre: float64[Q, H+1] prefix sums of remaining capacity."""
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
        if cumulative:
            a = 0
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
def trace_nb(f, x, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim, fail_i, fail_f):
    """The bottleneck of a root lot of x units finishing on f when the one-lot bound is below
    x: follow the bound's tightest term down the bill (an entry's own resources against each
    component's stock + bound, in bill order; components first on ties: when both are used
    up, more hours would not help) to a resource window
    (CAPACITY), a bought component (MATERIAL) or a lot that would start before today or
    finish inside its time fence (LEAD_TIME). Writes fail_i/fail_f like plan_lot_nb."""
    H = av.shape[1]
    lot_bound_nb(f, bool(False), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
    j = 0
    while True:
        g = e0 + j
        fj = f - ent_int[g, E_OFF]
        lt = ent_int[g, E_LT]
        if fj - lt < 0 or fj < ent_int[g, E_FENCE] or fj >= H:
            fail_i[0] = Reason.LEAD_TIME
            fail_i[1] = j
            fail_i[2] = -1
            fail_i[3] = fj - lt
            fail_i[4] = fj
            fail_i[5] = fj
            fail_f[0] = x
            fail_f[1] = 0.0
            return
        a, b = window_nb(fj, lt)
        cap_t = INF
        kr = -1
        for k in range(ent_int[g, E_R0], ent_int[g, E_R1]):
            u = eres_use[k]
            if u > EPS:
                w = (pre[eres_rslot[k], b + 1] - pre[eres_rslot[k], a]) / u
                if w < cap_t:
                    cap_t = w
                    kr = k
        s = fj - lt
        ch_t = INF
        cb = -1
        cb_a = 0.0
        for c in range(j + 1, n_ent):
            gc = e0 + c
            if ent_int[gc, E_PARENT] != j or ent_qty[gc] <= EPS:
                continue
            slot = ent_int[gc, E_SLOT]
            ac = av[slot, s] if (slot >= 0 and 0 <= s < H) else 0.0
            v = (ac + lim[c]) / ent_qty[gc]
            if v < ch_t:
                ch_t = v
                cb = c
                cb_a = ac
        if cb >= 0 and ch_t <= cap_t:
            gc = e0 + cb
            need = x * ent_qty[gc]
            if ent_int[gc, E_MADE] == 0:
                fail_i[0] = Reason.MATERIAL
                fail_i[1] = cb
                fail_i[2] = -1
                fail_i[3] = s
                fail_i[4] = s
                fail_i[5] = s
                fail_f[0] = need
                fail_f[1] = cb_a
                return
            x = need - cb_a
            j = cb
            continue
        fail_i[0] = Reason.CAPACITY
        fail_i[1] = j
        fail_i[2] = eres_rslot[kr] if kr >= 0 else -1
        fail_i[3] = a
        fail_i[4] = b
        fail_i[5] = fj
        fail_f[0] = x * eres_use[kr] if kr >= 0 else x
        fail_f[1] = (pre[eres_rslot[kr], b + 1] - pre[eres_rslot[kr], a]) if kr >= 0 else 0.0
        return


@njit(cache=True, nogil=True)
def plan_lot_nb(f, x, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wcum, wrem, make,
                log, d_kind, d_ent, d_ref, d_bucket, d_qty, fail_i, fail_f):
    """Plan one root lot of x units finishing on f on the work arrays (wcum: cumulative
    positions per slot, wrem: remaining capacity per resource slot), which it modifies.
    Entries in breadth-first order: stock first, the rest made by the entry's own lot.
    Returns (ok, n_draws); when not ok, fail_i/fail_f say which constraint failed first."""
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
            if slot >= 0 and s >= 0:
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
                fail_i[0] = Reason.MATERIAL
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
            fail_i[0] = Reason.LEAD_TIME
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
                fail_i[0] = Reason.CAPACITY
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
def refresh_nb(wcum, wrem, slot_lt, av, pre):
    """ATP per slot and prefix sums of remaining capacity, from the work arrays."""
    for i in range(wcum.shape[0]):
        availability_1d_nb(wcum[i], slot_lt[i], np.int64(0), av[i])
    for i in range(wrem.shape[0]):
        acc = 0.0
        pre[i, 0] = 0.0
        for d in range(wrem.shape[1]):
            v = wrem[i, d]
            if v > 0.0:
                acc += v
            pre[i, d + 1] = acc


@njit(cache=True, nogil=True)
def make_by_nb(t, need, max_lots, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt,
               wc0, wr0, av0, pre0, wc, wr, wt, wrt, av, pre, lim, make,
               lot_f, lot_make, dk, de, dr, db, dq, dl, fi, ff):
    """Make up to `need` finishing on or before t, in lots planned backward: for f = t, t-1, ...
    the largest lot (<= what is still needed) that finishes on f, until covered or max_lots.
    Starts from wc0/wr0 (av0/pre0 their ATP and prefix sums); leaves the state after the lots
    in wc/wr (av/pre refreshed). Logs lots (lot_f, lot_make) and draws (dl: lot of a draw).
    Returns (made, n_lots, n_draws)."""
    _copy2_nb(wc, wc0)
    _copy2_nb(wr, wr0)
    fresh = True  # no lot yet: bound on av0/pre0 (av/pre are refreshed after the first lot)
    maxd = dk.shape[0] // max_lots
    made = 0.0
    nl = 0
    nd = 0
    for f in range(t, -1, -1):
        rem = need - made
        if rem <= EPS or nl >= max_lots:
            break
        if fresh:
            u = lot_bound_nb(f, bool(False), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av0, pre0, lim)
        else:
            u = lot_bound_nb(f, bool(False), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
        hi = u if u < rem else rem
        if hi <= EPS:
            continue
        _copy2_nb(wt, wc)
        _copy2_nb(wrt, wr)
        ok, n = plan_lot_nb(f, hi, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wt, wrt, make, bool(True),
                            dk[nd:nd + maxd], de[nd:nd + maxd], dr[nd:nd + maxd], db[nd:nd + maxd], dq[nd:nd + maxd], fi, ff)
        x = hi
        if not ok:
            # shared components make the bound optimistic: bisect on the lot size
            lo = 0.0
            for _ in range(BISECT_ITERS):
                if hi - lo <= EPS * 10.0:
                    break
                mid = 0.5 * (lo + hi)
                _copy2_nb(wt, wc)
                _copy2_nb(wrt, wr)
                ok, n = plan_lot_nb(f, mid, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wt, wrt, make,
                                    bool(False), dk, de, dr, db, dq, fi, ff)
                if ok:
                    lo = mid
                else:
                    hi = mid
            # the bisection ends a hair below the true maximum; prefer a round value that fits
            for digits in (6, 9):
                c = round(hi, digits)
                if c > lo and c <= hi:
                    _copy2_nb(wt, wc)
                    _copy2_nb(wrt, wr)
                    ok, n = plan_lot_nb(f, c, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wt, wrt,
                                        make, bool(False), dk, de, dr, db, dq, fi, ff)
                    if ok:
                        lo = c
                        break
            x = lo
            if x <= EPS:
                continue
            _copy2_nb(wt, wc)
            _copy2_nb(wrt, wr)
            ok, n = plan_lot_nb(f, x, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slot_lt, wt, wrt, make, bool(True),
                                dk[nd:nd + maxd], de[nd:nd + maxd], dr[nd:nd + maxd], db[nd:nd + maxd],
                                dq[nd:nd + maxd], fi, ff)
            if not ok:
                continue
        # accept the lot
        _copy2_nb(wc, wt)
        _copy2_nb(wr, wrt)
        refresh_nb(wc, wr, slot_lt, av, pre)
        fresh = False
        lot_f[nl] = f
        _copy1_nb(lot_make[nl], make)
        for k in range(nd, nd + n):
            dl[k] = nl
        nd += n
        nl += 1
        made += x
    if fresh:
        _copy2_nb(av, av0)
        _copy2_nb(pre, pre0)
    return made, nl, nd


@njit(cache=True, nogil=True)
def ctp_promise_1d_nb(cum, il_lt, cap, used, root, cal, qty, req, last, allow_partial, max_lots, rt,
                      ent_int, ent_qty, eres_rslot, eres_use, slot_il, slot_lt, rslot_res):
    """Capable-to-promise for one request on one root item-location (no commitment).

    cum: float64[N, H] cumulative positions; il_lt: replenishment lead time per item-location;
    cap, used: float64[R, H] resource capacity and capacity used; root: item-location code;
    cal: bool[H] open days of the root location (empty: all open); qty, req, last: quantity,
    requested bucket and last acceptable bucket; max_lots: most root lots (0: stock only);
    rt: the root's row of the root table (entry, slot and resource-slot ranges, most draws
    per lot).

    Returns (status, t, ef, stock_qty, made_qty, n_lots, n_draws, lot_f, lot_make, d_kind,
    d_ent, d_ref, d_bucket, d_qty, d_lot, fail_i, fail_f, n_merged, m_kind, m_ref, m_bucket,
    m_qty): delivery bucket t (-1: none),
    earliest full bucket ef over the horizon (-1: none), the root's stock used at t and the
    quantity made, the lots (finish bucket, quantity per entry), the draws (d_ref: slot for
    stock, resource slot for capacity), the binding constraint (fail_i[0] a reason code,
    Reason.NONE when on time and in full) and the draws merged per (kind, ref, bucket): the
    reservation.
    """
    H = cum.shape[1]
    e0, n_ent = rt[R_E0], rt[R_E1] - rt[R_E0]
    s0, S = rt[R_S0], rt[R_S1] - rt[R_S0]
    q0, Q = rt[R_Q0], rt[R_Q1] - rt[R_Q0]
    L = max_lots if max_lots > 0 else 1
    maxd = rt[R_MAXD]
    slt = slot_lt[s0:s0 + S]
    wc0 = np.empty((S, H))
    for i in range(S):
        _copy1_nb(wc0[i], cum[slot_il[s0 + i]])
    wr0 = np.empty((Q, H))
    for i in range(Q):
        r = rslot_res[q0 + i]
        for d in range(H):
            v = cap[r, d] - used[r, d]
            wr0[i, d] = v if v > 0.0 else 0.0
    av0 = np.empty((S, H))
    pre0 = np.empty((Q, H + 1))
    refresh_nb(wc0, wr0, slt, av0, pre0)
    wc = np.empty((S, H))
    wr = np.empty((Q, H))
    wt = np.empty((S, H))
    wrt = np.empty((Q, H))
    av = np.empty((S, H))
    pre = np.empty((Q, H + 1))
    avr = np.empty(H)
    availability_1d_nb(cum[root], il_lt[root], np.int64(0), avr)
    lim = np.empty(n_ent)
    make = np.zeros(n_ent)
    lot_f = np.full(L, -1, dtype=np.int64)
    lot_make = np.zeros((L, n_ent))
    dk = np.empty(maxd * L, dtype=np.int8)
    de = np.empty(maxd * L, dtype=np.int64)
    dr = np.empty(maxd * L, dtype=np.int64)
    db = np.empty(maxd * L, dtype=np.int64)
    dq = np.empty(maxd * L)
    dl = np.empty(maxd * L, dtype=np.int64)
    fi = np.zeros(N_FAIL_I, dtype=np.int64)
    ff = np.zeros(N_FAIL_F)

    # 1. the whole quantity: the earliest open day in [req, last] (then, for the answer's
    # earliest full date, in (last, H)) where stock plus lots finishing by then cover it
    t = -1
    ef = -1
    target = qty
    # the log (lots, draws) of the evaluation that gave the answer, kept to avoid planning it again
    logged = False
    made = 0.0
    nl = 0
    nd = 0
    for pass_ in range(2):
        lo_t, hi_t = (req, last) if pass_ == 0 else (last + 1, H - 1)
        for u in range(lo_t, hi_t + 1):
            if cal.shape[0] > 0 and not cal[u]:
                continue
            need = qty - (avr[u] if avr[u] < qty else qty)
            m = 0.0
            ml = 0
            md = 0
            if need > EPS:
                if max_lots <= 0:
                    continue
                if lot_bound_nb(u, bool(True), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av0, pre0, lim) < need - EPS:
                    continue
                m, ml, md = make_by_nb(u, need, L, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wc0, wr0, av0,
                                       pre0, wc, wr, wt, wrt, av, pre, lim, make, lot_f, lot_make, dk, de, dr, db, dq,
                                       dl, fi, ff)
                if m < need - EPS:
                    continue
            ef = u
            if pass_ == 0:
                logged = True
                made = m
                nl = ml
                nd = md
            break
        if ef >= 0:
            if pass_ == 0:
                t = ef
            break
    lo = -1  # last open bucket in the window
    for b in range(last, req - 1, -1):
        if cal.shape[0] == 0 or cal[b]:
            lo = b
            break
    # 2. the best part within the window: what stock and lots make by its last open day,
    # promised on the earliest open day that reaches it
    if t < 0:
        target = 0.0
        if allow_partial and lo >= 0:
            base = avr[lo] if avr[lo] < qty else qty
            best = 0.0
            if max_lots > 0 and qty - base > EPS:
                best, _, _ = make_by_nb(lo, qty - base, L, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wc0,
                                        wr0, av0, pre0, wc, wr, wt, wrt, av, pre, lim, make, lot_f, lot_make, dk, de,
                                        dr, db, dq, dl, fi, ff)
            target = base + best
            if target > EPS:
                for u in range(req, lo + 1):
                    if cal.shape[0] > 0 and not cal[u]:
                        continue
                    need = target - (avr[u] if avr[u] < target else target)
                    m = 0.0
                    ml = 0
                    md = 0
                    if need > EPS:
                        if max_lots <= 0:
                            continue
                        if lot_bound_nb(u, bool(True), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av0, pre0,
                                        lim) < need - EPS:
                            continue
                        m, ml, md = make_by_nb(u, need, L, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wc0,
                                               wr0, av0, pre0, wc, wr, wt, wrt, av, pre, lim, make, lot_f, lot_make, dk,
                                               de, dr, db, dq, dl, fi, ff)
                        if m < need - EPS:
                            continue
                    t = u
                    logged = True
                    made = m
                    nl = ml
                    nd = md
                    break
                if t < 0:
                    t = lo
            else:
                target = 0.0
    if t >= 0 and target >= qty - EPS:
        status = Status.FULL if t == req else Status.LATE
    elif t >= 0:
        status = Status.PARTIAL
    else:
        status = Status.SHORT
        target = 0.0
    # 3. the binding constraint: why not the whole quantity by the requested day (late) or by
    # the last acceptable day (short): after the lots that fit, the rest in one more lot at the
    # finish day with the best one-lot bound: the bound's bottleneck when the bound is short
    # of it, else (shared components) the first constraint the plan fails on
    for i in range(N_FAIL_I):
        fi[i] = 0
    ff[0] = 0.0
    ff[1] = 0.0
    if status != Status.FULL:
        bt = req if status == Status.LATE else (lo if lo >= 0 else req)
        if lo < 0 or (cal.shape[0] > 0 and not cal[bt] and avr[bt] >= qty - EPS):
            fi[0] = Reason.CALENDAR
        elif max_lots <= 0:
            fi[0] = Reason.LEAD_TIME
            fi[1] = 0
            fi[2] = -1
            fi[3] = bt
            fi[4] = bt
            fi[5] = bt
            ff[0] = qty - (avr[bt] if avr[bt] < qty else qty)
        else:
            nb_ = qty - (avr[bt] if avr[bt] < qty else qty)
            # own log arrays: the answer's log stays intact
            m, _, _ = make_by_nb(bt, nb_, L, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wc0, wr0, av0,
                                 pre0, wc, wr, wt, wrt, av, pre, lim, make, np.empty(L, dtype=np.int64),
                                 np.empty((L, n_ent)), np.empty(maxd * L, dtype=np.int8),
                                 np.empty(maxd * L, dtype=np.int64), np.empty(maxd * L, dtype=np.int64),
                                 np.empty(maxd * L, dtype=np.int64), np.empty(maxd * L),
                                 np.empty(maxd * L, dtype=np.int64), fi, ff)
            rest = nb_ - m
            fb = bt
            ubest = -1.0
            for g in range(bt, -1, -1):
                u_ = lot_bound_nb(g, bool(False), e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim)
                if u_ > ubest + EPS:
                    ubest = u_
                    fb = g
            ok = True
            if rest > EPS and ubest < rest - EPS:
                # even the optimistic bound falls short: its tightest term is the bottleneck
                trace_nb(fb, rest, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, av, pre, lim, fi, ff)
                ok = False
            elif rest > EPS:
                # the bound says it fits, shared components say no: the first failure of the plan
                _copy2_nb(wt, wc)
                _copy2_nb(wrt, wr)
                ok, _ = plan_lot_nb(fb, rest, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wt, wrt, make,
                                    bool(False), dk, de, dr, db, dq, fi, ff)
            if ok:
                fi[0] = Reason.CALENDAR if (cal.shape[0] > 0 and not cal[bt]) else Reason.NONE
    # 4. the plan for the answer, logged
    if t < 0:
        nl = 0
        nd = 0
        made = 0.0
    elif not logged:
        nl = 0
        nd = 0
        made = 0.0
        need = target - (avr[t] if avr[t] < target else target)
        if need > EPS:
            made, nl, nd = make_by_nb(t, need, L, e0, n_ent, ent_int, ent_qty, eres_rslot, eres_use, slt, wc0, wr0,
                                      av0, pre0, wc, wr, wt, wrt, av, pre, lim, make, lot_f, lot_make, dk, de, dr, db,
                                      dq, dl, np.zeros(N_FAIL_I, dtype=np.int64), np.zeros(N_FAIL_F))
    stock = target - made
    if stock < 0.0:
        stock = 0.0
    nm, mk, mr, mb, mq = merge_draws_nb(nd, dk, dr, db, dq, H)
    return status, t, ef, stock, made, nl, nd, lot_f, lot_make, dk, de, dr, db, dq, dl, fi, ff, nm, mk, mr, mb, mq


@njit(cache=True, nogil=True)
def merge_draws_nb(n, d_kind, d_ref, d_bucket, d_qty, H):
    """The reservation: the logged draws summed per (kind, slot or resource slot, bucket), in
    that order (stock first). Returns (n_merged, kind, ref, bucket, qty)."""
    key = np.empty(n, dtype=np.int64)
    for k in range(n):
        key[k] = (np.int64(d_kind[k]) * 1_000_000 + d_ref[k]) * (H + 1) + d_bucket[k]
    order = np.argsort(key, kind="mergesort")
    mk = np.empty(n, dtype=np.int8)
    mr = np.empty(n, dtype=np.int64)
    mb = np.empty(n, dtype=np.int64)
    mq = np.empty(n)
    m = -1
    prev = -1
    for i in range(n):
        k = order[i]
        if m < 0 or key[k] != prev:
            m += 1
            mk[m] = d_kind[k]
            mr[m] = d_ref[k]
            mb[m] = d_bucket[k]
            mq[m] = d_qty[k]
            prev = key[k]
        else:
            mq[m] += d_qty[k]
    return m + 1, mk, mr, mb, mq


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


@njit(cache=True, nogil=True)
def binding_reason_nb(status, fail_code, fail_entry, rt, ent_int, slot_lt):
    """The reason of a CTP answer: NONE when FULL; a bought component short before its
    replenishment lead time counts as LEAD_TIME; no failure found: SUPPLY."""
    if status == Status.FULL:
        return Reason.NONE
    if fail_code == Reason.NONE:
        return Reason.SUPPLY
    if fail_code == Reason.MATERIAL:
        slot = ent_int[rt[R_E0] + fail_entry, E_SLOT]
        if slot >= 0 and slot_lt[rt[R_S0] + slot] >= 0:
            return Reason.LEAD_TIME
    return fail_code


@njit(cache=True, nogil=True)
def ctp_promise_batch_nb(cum, il_lt, il_cal, cal_open, cap, used, il_root, root_tab, ent_int, ent_qty, eres_rslot,
                         eres_use, slot_il, slot_lt, rslot_res, ils, qty, req, max_late, flags, max_lines, commit,
                         out_status, out_reason, out_n, out_b, out_q, out_ef, out_made):
    """Promise many lines in order, each seeing what the previous ones committed (when
    `commit`), as `promising.promise` does line by line without a demand-class path: ATP
    first; where ATP is not FULL and the item has a bill, the CTP answer when it improves on
    ATP (more quantity, or the same earlier), else the ATP answer with the CTP binding reason
    (MATERIAL, CAPACITY, LEAD_TIME). out_made: quantity made per line."""
    H = cum.shape[1]
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    for i in range(ils.shape[0]):
        il = ils[i]
        out_made[i] = 0.0
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            out_ef[i] = -1
            continue
        c = il_cal[il]
        cal = cal_open[c] if c >= 0 else no_cal
        s, r, n, ef = promise_1d_nb(cum[il], il_lt[il], cal, qty[i], req[i], max_late[i], flags[i], max_lines[i],
                                    False, scratch, out_b[i], out_q[i])
        use_ctp = False
        if s != Status.FULL and il_root[il] >= 0:
            rt = root_tab[il_root[il]]
            last = H - 1 if max_late[i] < 0 else min(H - 1, req[i] + max_late[i])
            (cs, t, cef, stock, made, nl, nd, lot_f, lot_make, dk, de, dr, db, dq, dl, fi, ff,
             nm, mk, mr, mb, mq) = ctp_promise_1d_nb(cum, il_lt, cap, used, il, cal, qty[i], req[i], last,
                                                     (flags[i] & 1) != 0, MAX_LOTS, rt, ent_int, ent_qty, eres_rslot,
                                                     eres_use, slot_il, slot_lt, rslot_res)
            cq = stock + made if t >= 0 else 0.0
            a = 0.0
            for k in range(n):
                a += out_q[i, k]
            better = False
            if t >= 0 and cq > EPS:
                if cq > a + EPS:
                    better = True
                elif cq >= a - EPS and n > 0 and t < out_b[i, n - 1]:
                    better = True
            reason = binding_reason_nb(cs, fi[0], fi[1], rt, ent_int, slot_lt)
            if better:
                use_ctp = True
                out_status[i] = cs
                out_reason[i] = reason
                out_n[i] = 1
                out_b[i, 0] = t
                out_q[i, 0] = cq
                out_ef[i] = cef
                out_made[i] = made
                if commit:
                    apply_plan_nb(cum, used, il, t, stock, slot_il, rt[R_S0], rslot_res, rt[R_Q0], nm, mk, mr, mb, mq, 1)
            elif reason == Reason.MATERIAL or reason == Reason.CAPACITY or reason == Reason.LEAD_TIME:
                r = reason
        if not use_ctp:
            out_status[i] = s
            out_reason[i] = r
            out_n[i] = n
            out_ef[i] = ef
            if commit:
                for k in range(n):
                    commit_1d_nb(cum[il], out_b[i, k], out_q[i, k])
