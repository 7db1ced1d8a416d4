"""Compiled allocation kernels. Arrays, scalars and integer codes only; no Python objects.

Model of one item-location (see allocation/README.md). Its quotas form a tree: the root is the
item-location's cumulative net position ``C`` (``state.cum[il]``), below it one *pool* per
demand class that has a quota there, nested like the class hierarchy. Each pool ``p`` keeps a
cumulative position ``X[p, t]`` = cumulative quota - cumulative consumption charged to it
(a child's consumption is charged to its ancestors too). The *free part* of a node is what its
children's positions do not reserve::

    F[p, t]    = X[p, t] - sum over children c of max(0, X[c, t])
    F_root[t]  = C[t]    - sum over top pools c of max(0, X[c, t])   (= unallocated supply)

As in ATP, what a series ``Y`` can give at bucket t is ``max(0, min over s in [t, end) of Y[s])``
(``end`` = the lead time, beyond which supply is unlimited and allocation does not bind).
A take of x at t from a source node charges the node and every ancestor up to the root, so it
is capped by the node's free part, by every ancestor's position (a child stays inside its
parent's quota) and by ``C`` (the total stays inside cumulative ATP). Sources are tried in
consumption order: own pool's free part, each ancestor's free part, unallocated, then (when
the class may steal) the free part of lower-priority pools, lowest priority first, less their
protection. The caps are laminar, so taking greedily in that order reaches the most any split
could: the class's availability at t.

Outcomes are promising's status and reason codes, never exceptions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from allocation.enums import ROOT, Binding, Source
from promising import kernels as pk
from promising.enums import EPS, FLAG_PARTIAL, Reason, Status

INF = np.inf

# Constant arguments between kernels are written ``np.int64(0)`` / ``bool(False)``: a bare ``0`` or
# ``False`` types as a numba Literal, which compiles the callee a second time just for that call site
# (seconds each on a cold cache); the value, and so the result, is the same.


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def own_pool_nb(cls, cpar, k):
    """Local index of the class's own pool: the pool of k or of its nearest ancestor, or ROOT."""
    c = k
    while c >= 0:
        for p in range(cls.shape[0]):
            if cls[p] == c:
                return p
        c = cpar[c]
    return ROOT


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def sources_nb(par, cls, cpar, prio, steal, k, out_src, out_kind):
    """Consumption order for class k (k < 0: a class without quota or stealing rights).

    Writes local pool indices (ROOT for unallocated) and their Source kinds; returns
    (count, own pool)."""
    P = par.shape[0]
    own = own_pool_nb(cls, cpar, k) if k >= 0 else ROOT
    n = 0
    node = own
    while node >= 0:
        out_src[n] = node
        out_kind[n] = Source.OWN if n == 0 else Source.PARENT
        n += 1
        node = par[node]
    out_src[n] = ROOT
    out_kind[n] = Source.UNALLOCATED
    n += 1
    if k >= 0 and steal[k]:
        pk_ = prio[k]
        # selection: lowest priority (largest number) first, then class code
        while True:
            best = -1
            for p in range(P):
                c = cls[p]
                if prio[c] <= pk_:
                    continue
                used = False
                for j in range(n):
                    if out_src[j] == p:
                        used = True
                        break
                if used:
                    continue
                if best < 0 or prio[c] > prio[cls[best]] or (prio[c] == prio[cls[best]] and c < cls[best]):
                    best = p
            if best < 0:
                break
            out_src[n] = best
            out_kind[n] = Source.STOLEN
            n += 1
    return n, own


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _steals_nb(n_src, kind):
    """True when one of the first n_src sources is a stolen (lower-priority) pool."""
    for j in range(n_src):
        if kind[j] == Source.STOLEN:
            return True
    return False


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"}, no_cpython_wrapper=True)
def views_nb(X, C, par, prot, use_prot, start, end, childsum, sufX, sufF, sufFp, sufC, sufR):
    """Suffix minima over [t, end) for t in [start, end) of every pool's position (sufX), free
    part (sufF), free part less protection (sufFp), of C (sufC) and of unallocated (sufR).
    Row by row over contiguous rows; free parts computed only for pools with children.
    use_prot False: protection is not read (no stolen source: sufFp is then sufF)."""
    P = X.shape[0]
    has_prot = use_prot and prot.shape[1] > 0
    if end <= start:
        return
    m = INF
    for s in range(end - 1, start - 1, -1):
        m = min(m, C[s])
        sufC[s] = m
    for p in range(P):
        row = X[p]
        out = sufX[p]
        m = INF
        for s in range(end - 1, start - 1, -1):
            m = min(m, row[s])
            out[s] = m
    tmp = np.empty(end - start)
    for s in range(start, end):
        tmp[s - start] = C[s]
    for p in range(P):
        if par[p] < 0:
            row = X[p]
            for s in range(start, end):
                tmp[s - start] -= max(row[s], 0.0)
    m = INF
    for s in range(end - 1, start - 1, -1):
        m = min(m, tmp[s - start])
        sufR[s] = m
    flat = not has_prot
    for p in range(P):
        if par[p] >= 0:
            flat = False
    if flat:  # free parts = positions; the caller may pass sufX itself as sufF and sufFp
        if sufF.ctypes.data != sufX.ctypes.data:
            for p in range(P):  # element loops, not slice assignment: the same copy without compiling numba's
                for s in range(start, end):  # shape-mismatch error path (seconds on a cold cache)
                    sufF[p, s] = sufX[p, s]
                    sufFp[p, s] = sufX[p, s]
        return
    for p in range(P):
        kids = False
        for c in range(P):
            if par[c] == p:
                kids = True
                break
        if not kids:
            for s in range(start, end):
                sufF[p, s] = sufX[p, s]
        else:
            for s in range(start, end):
                tmp[s - start] = X[p, s]
            for c in range(P):
                if par[c] == p:
                    row = X[c]
                    for s in range(start, end):
                        tmp[s - start] -= max(row[s], 0.0)
            m = INF
            for s in range(end - 1, start - 1, -1):
                m = min(m, tmp[s - start])
                sufF[p, s] = m
        if not has_prot:
            for s in range(start, end):
                sufFp[p, s] = sufF[p, s]
        else:
            if not kids:
                for s in range(start, end):
                    tmp[s - start] = X[p, s]
            _protected_mins_nb(tmp, prot, p, start, end, sufFp[p])


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def prot_sum_nb(prot, p, t, s):
    """Protection of pool p that a take dated t must leave on position s: the sum of
    `protect_qty` over the pool's rows with t before `until` and s on or after the row's date.
    prot: float64[P, 3 R] rows (qty, from bucket, until bucket), zero-padded."""
    tot = 0.0
    for r in range(prot.shape[1] // 3):
        q = prot[p, 3 * r]
        if q > 0.0 and t < prot[p, 3 * r + 2] and s >= prot[p, 3 * r + 1]:
            tot += q
    return tot


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _protected_mins_nb(free, prot, p, start, end, out):
    """out[t] = min over s in [t, end) of (free[s - start] - prot_sum_nb(prot, p, t, s)), for t in
    [start, end). The rows binding a take at t are those with t < until: the set grows as t goes
    back, so the suffix minimum restarts each time a row's `until` is crossed (at most R times)."""
    R = prot.shape[1] // 3
    m = INF
    for t in range(end - 1, start - 1, -1):
        fresh = t == end - 1
        for r in range(R):
            if prot[p, 3 * r] > 0.0 and prot[p, 3 * r + 2] == t + 1:
                fresh = True  # the row binds from this take date back
        if fresh:
            m = INF
            for s in range(end - 1, t, -1):
                v = free[s - start] - prot_sum_nb(prot, p, t, s)
                if v < m:
                    m = v
        v = free[t - start] - prot_sum_nb(prot, p, t, t)
        if v < m:
            m = v
        out[t] = m


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"}, no_cpython_wrapper=True)
def mins_at_nb(X, C, par, prot, use_prot, t, end, col, childsum, sufX, sufF, sufFp, sufC, sufR):
    """`views_nb` at bucket t only (minima over [t, end), t < end), written to column `col`.
    Row by row: plain minima of contiguous rows; free parts only for pools with children."""
    P = X.shape[0]
    has_prot = use_prot and prot.shape[1] > 0
    m = INF
    for s in range(t, end):
        m = min(m, C[s])
    sufC[col] = m
    for p in range(P):
        m = INF
        row = X[p]
        for s in range(t, end):
            m = min(m, row[s])
        sufX[p, col] = m
        sufF[p, col] = m
        sufFp[p, col] = m
    # unallocated: C less the positive positions of the top pools (subtracted in pool order, as
    # views_nb does), without a temporary array
    m = INF
    for s in range(t, end):
        r = C[s]
        for p in range(P):
            if par[p] < 0:
                r -= max(X[p, s], 0.0)
        m = min(m, r)
    sufR[col] = m
    for p in range(P):
        kids = False
        for c in range(P):
            if par[c] == p:
                kids = True
                break
        if not kids and not has_prot:
            continue
        mf = INF
        mfp = INF
        for s in range(t, end):
            f = X[p, s]
            if kids:
                for c in range(P):
                    if par[c] == p:
                        x = X[c, s]
                        if x > 0.0:
                            f -= x
            if f < mf:
                mf = f
            if has_prot:
                fp = f - prot_sum_nb(prot, p, t, s)
                if fp < mfp:
                    mfp = fp
        sufF[p, col] = mf
        sufFp[p, col] = mfp if has_prot else mf


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _pos(v):
    return v if v > 0.0 else 0.0


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _cap_nb(t, node, stolen, par, sufX, sufF, sufFp, sufC, sufR, dX, dF, dRC):
    """What source `node` can still give at bucket t after the deductions already taken."""
    capC = _pos(sufC[t]) - dRC[1]
    if node == ROOT:
        cap = _pos(sufR[t]) - dRC[0]
        if capC < cap:
            cap = capC
    else:
        cap = (_pos(sufFp[node, t]) if stolen else _pos(sufF[node, t])) - dF[node]
        a = node
        while a >= 0:
            v = _pos(sufX[a, t]) - dX[a]
            if v < cap:
                cap = v
            a = par[a]
        if capC < cap:
            cap = capC
    return cap if cap > 0.0 else 0.0


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _deduct_nb(node, x, par, dX, dF, dRC):
    dRC[1] += x
    if node == ROOT:
        dRC[0] += x
        return
    dF[node] += x
    a = node
    while a >= 0:
        dX[a] += x
        a = par[a]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def greedy_at_nb(t, limit, n_src, src, kind, par, sufX, sufF, sufFp, sufC, sufR, dX, dF, dRC, out_node, out_q):
    """Take up to `limit` at bucket t from the sources in order. Returns (taken, parts)."""
    P = dX.shape[0]
    for p in range(P):
        dX[p] = 0.0
        dF[p] = 0.0
    dRC[0] = 0.0
    dRC[1] = 0.0
    taken = 0.0
    m = 0
    for j in range(n_src):
        rest = limit - taken
        if rest <= EPS:
            break
        node = src[j]
        cap = _cap_nb(t, node, kind[j] == Source.STOLEN, par, sufX, sufF, sufFp, sufC, sufR, dX, dF, dRC)
        if cap <= EPS:
            continue
        x = cap if cap < rest else rest
        _deduct_nb(node, x, par, dX, dF, dRC)
        out_node[m] = node
        out_q[m] = x
        m += 1
        taken += x
    return taken, m


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def curve_nb(par, n_src, src, kind, sufX, sufF, sufFp, sufC, sufR, t0, t1, out):
    """out[t] for t in [t0, t1): the most the sources can give together at t (no deductions).

    The caps form a tree (each pool's position caps what flows through it, C caps all), so the
    most is computed bottom-up: what a pool passes up = min(its position, its own free part if
    it is a source + what its children pass up). Equals the greedy total in any order."""
    P = par.shape[0]
    flat = True
    for p in range(P):
        if par[p] >= 0:
            flat = False
    if flat:  # no nesting: what a pool passes up is its free part (= its position) -> vectorisable sums
        for t in range(t0, t1):
            out[t] = _pos(sufR[t])
        for j in range(n_src):
            node = src[j]
            if node >= 0:
                row = sufFp[node] if kind[j] == Source.STOLEN else sufF[node]
                for t in range(t0, t1):
                    out[t] += _pos(row[t])
        for t in range(t0, t1):
            c = _pos(sufC[t])
            if c < out[t]:
                out[t] = c
        return
    role = np.zeros(P, dtype=np.int64)   # 0 not a source, 1 free part, 2 free part less protection
    live = np.zeros(P, dtype=np.bool_)   # a source in its subtree
    depth = np.zeros(P, dtype=np.int64)
    for j in range(n_src):
        node = src[j]
        if node >= 0:
            role[node] = 2 if kind[j] == Source.STOLEN else 1
            a = node
            while a >= 0:
                live[a] = True
                a = par[a]
    maxd = 0
    for p in range(P):
        d = 0
        a = par[p]
        while a >= 0:
            d += 1
            a = par[a]
        depth[p] = d
        if d > maxd:
            maxd = d
    order = np.empty(P, dtype=np.int64)
    m = 0
    for d in range(maxd, -1, -1):
        for p in range(P):
            if live[p] and depth[p] == d:
                order[m] = p
                m += 1
    acc = np.empty(P)
    for t in range(t0, t1):
        for p in range(P):
            acc[p] = 0.0
        top = 0.0
        for i in range(m):
            a = order[i]
            v = acc[a]
            if role[a] == 1:
                v += _pos(sufF[a, t])
            elif role[a] == 2:
                v += _pos(sufFp[a, t])
            x = _pos(sufX[a, t])
            if x < v:
                v = x
            if par[a] >= 0:
                acc[par[a]] += v
            else:
                top += v
        v = _pos(sufR[t]) + top
        c = _pos(sufC[t])
        out[t] = v if v < c else c


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _pick(q, m0, m1, m2, m3):
    """m0..m3 by index (registers, not memory)."""
    if q == 0:
        return m0
    if q == 1:
        return m1
    if q == 2:
        return m2
    return m3
@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"}, no_cpython_wrapper=True)
def _flat_curve4_nb(X, C, n_src, src, start, end, out, sufX, sufC, sufR):
    """`flat_curve_nb` for at most 4 pools, the running minima in registers (about 40% less time
    than through memory); the same operations in the same order, so the very same values."""
    P = X.shape[0]
    q0 = -1
    q1 = -1
    q2 = -1
    q3 = -1
    k = 0
    for j in range(n_src):
        node = src[j]
        if node >= 0:
            if k == 0:
                q0 = node
            elif k == 1:
                q1 = node
            elif k == 2:
                q2 = node
            else:
                q3 = node
            k += 1
    m0 = INF
    m1 = INF
    m2 = INF
    m3 = INF
    mC = INF
    mR = INF
    bound = False
    for s in range(end - 1, start - 1, -1):
        c = C[s]
        r = c
        x = X[0, s]
        m0 = min(m0, x)
        r -= max(x, 0.0)
        sufX[0, s] = m0
        if P > 1:
            x = X[1, s]
            m1 = min(m1, x)
            r -= max(x, 0.0)
            sufX[1, s] = m1
        if P > 2:
            x = X[2, s]
            m2 = min(m2, x)
            r -= max(x, 0.0)
            sufX[2, s] = m2
        if P > 3:
            x = X[3, s]
            m3 = min(m3, x)
            r -= max(x, 0.0)
            sufX[3, s] = m3
        mC = min(mC, c)
        mR = min(mR, r)
        sufC[s] = mC
        sufR[s] = mR
        tot = _pos(mR)
        if q0 >= 0:
            tot += _pos(_pick(q0, m0, m1, m2, m3))
            if q1 >= 0:
                tot += _pos(_pick(q1, m0, m1, m2, m3))
                if q2 >= 0:
                    tot += _pos(_pick(q2, m0, m1, m2, m3))
                    if q3 >= 0:
                        tot += _pos(_pick(q3, m0, m1, m2, m3))
        c = _pos(mC)
        if tot < c:
            out[s] = tot
            bound = True
        else:
            out[s] = c
    return bound


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"}, no_cpython_wrapper=True)
def flat_curve_nb(X, C, n_src, src, start, end, out, sufX, sufC, sufR):
    """The class curve (`views_nb` + `curve_nb`) over [start, end) in one backward pass, for
    item-locations whose pools are not nested and where protection is not read (then a pool's
    free part is its position). Writes the curve to `out` and, on the way, the suffix minima
    `views_nb` would: sufX (every pool's position; it is also the free part here), sufC and sufR,
    for t in [start, end), so a schedule line's split reads them at its bucket. Returns True when
    the curve is below cumulative ATP's availability (max(0, suffix minimum of C)) somewhere in
    [start, end): only then can allocation change plain ATP's answer."""
    P = X.shape[0]
    if P <= 4:
        return _flat_curve4_nb(X, C, n_src, src, start, end, out, sufX, sufC, sufR)
    mC = INF
    mR = INF
    bound = False
    for s in range(end - 1, start - 1, -1):
        c = C[s]
        r = c
        for p in range(P):  # the running minima live in sufX (column s + 1 holds them so far)
            x = X[p, s]
            sufX[p, s] = min(sufX[p, s + 1] if s + 1 < end else INF, x)
            r -= max(x, 0.0)
        mC = min(mC, c)
        mR = min(mR, r)
        sufC[s] = mC
        sufR[s] = mR
        tot = _pos(mR)
        for j in range(n_src):
            node = src[j]
            if node >= 0:
                tot += _pos(sufX[node, s])
        c = _pos(mC)
        if tot < c:
            out[s] = tot
            bound = True
        else:
            out[s] = c
    return bound


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"}, no_cpython_wrapper=True)
def _own_mins_nb(row, C, req, t, end):
    """(min of row over [req, end), min of row over [t, end), min of C over [t, end)), req <= t
    < end; the same minima `flat_curve_nb` keeps (sufX[own, req], sufX[own, t], sufC[t])."""
    mx = INF
    mc = INF
    for s in range(t, end):
        mx = min(mx, row[s])
        mc = min(mc, C[s])
    mr = mx
    for s in range(req, t):
        mr = min(mr, row[s])
    return mr, mx, mc


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def flat_last_nb(X, C, n_src, src, t):
    """`flat_curve_nb`'s curve at bucket t = end - 1 alone (the first step of its backward pass,
    the same operations): the curve is non-decreasing, so when this is 0 the curve is 0 from any
    start up to `end`."""
    P = X.shape[0]
    c = C[t]
    r = c
    for p in range(P):
        r -= max(X[p, t], 0.0)
    tot = _pos(r)
    for j in range(n_src):
        node = src[j]
        if node >= 0:
            tot += _pos(X[node, t])
    c = _pos(c)
    return tot if tot < c else c


@njit(cache=True, nogil=True)
def charge_1d_nb(X, par, node, b, qty):
    """Charge qty at bucket b to pool `node` and its ancestors (qty < 0 gives it back)."""
    H = X.shape[1]
    a = node
    while a >= 0:
        for s in range(b, H):
            X[a, s] -= qty
        a = par[a]


@njit(cache=True, nogil=True)
def class_availability_1d_nb(X, C, par, cls, cpar, prio, steal, prot, k, lt, start, out):
    """out[t] = quantity class k can take at bucket t, for t in [start, H) (inf past the lead
    time). Returns the class's own quota left at `start` (-1.0 when it has no quota there)."""
    P = X.shape[0]
    H = C.shape[0]
    end = H if lt < 0 else min(lt, H)
    src = np.empty(P + 1, dtype=np.int64)
    kind = np.empty(P + 1, dtype=np.int64)
    n_src, own = sources_nb(par, cls, cpar, prio, steal, k, src, kind)
    use_prot = _steals_nb(n_src, kind) and prot.shape[1] > 0
    sufX = np.empty((P, H))
    sufF = np.empty((P, H))
    sufFp = np.empty((P, H))
    sufC = np.empty(H)
    sufR = np.empty(H)
    childsum = np.empty(P + 1)
    views_nb(X, C, par, prot, use_prot, start, end, childsum, sufX, sufF, sufFp, sufC, sufR)
    curve_nb(par, n_src, src, kind, sufX, sufF, sufFp, sufC, sufR, start, end, out)
    for t in range(max(start, end), H):
        out[t] = INF
    return _quota_left(own, start, end, par, sufX, sufF)


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _quota_left(own, t, end, par, sufX, sufF):
    if own < 0:
        return -1.0
    if t >= end:
        return INF
    q = _pos(sufF[own, t])
    a = own
    while a >= 0:
        v = _pos(sufX[a, t])
        if v < q:
            q = v
        a = par[a]
    return q


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _finish_fast_nb(X, C, par, lt, qty, req, tstar, commit, out_b, out_q, out_src, out_srcq, out_nsrc, plain_b, plain_q):
    """The fast answer: one line of the whole quantity at tstar (its sources already written),
    which plain ATP gives too. Status and reason as promising.kernels.promise_1d_nb would say."""
    status = Status.FULL
    reason = Reason.NONE
    if tstar != req:
        status = Status.LATE
        if pk.available_at_1d_nb(C, lt, req) >= qty - EPS:
            reason = Reason.CALENDAR  # the requested day is closed (it is: tstar > req)
        elif lt >= 0 and tstar >= lt:
            reason = Reason.LEAD_TIME
        else:
            reason = Reason.SUPPLY
    out_b[0] = tstar
    out_q[0] = qty
    plain_b[0] = tstar
    plain_q[0] = qty
    if commit:
        pk.commit_1d_nb(C, tstar, qty)
        for i in range(out_nsrc[0]):
            if out_src[0, i] >= 0:
                charge_1d_nb(X, par, out_src[0, i], tstar, out_srcq[0, i])
    return status, reason


@njit(cache=True, nogil=True)
def work_sizes_nb(P, H):
    """(floats, ints) of work space `promise_class_ws_nb` needs for P pools and H buckets."""
    return 8 * P + 8 + H * (4 * P + 5), 3 * (P + 1)


@njit(cache=True, nogil=True)
def promise_class_1d_nb(X, C, par, cls, cpar, prio, steal, prot, k, lt, cal, qty, req, max_late, flags, max_lines,
                        commit, out_b, out_q, out_src, out_srcq, out_nsrc, plain_b, plain_q):
    """`promise_class_ws_nb` with its work space allocated here (one call; a batch allocates it
    once for all its lines)."""
    nf, ni = work_sizes_nb(X.shape[0], C.shape[0])
    return promise_class_ws_nb(X, C, par, cls, cpar, prio, steal, prot, k, lt, cal, qty, req, max_late, flags, max_lines,
                               commit, bool(True), out_b, out_q, out_src, out_srcq, out_nsrc, plain_b, plain_q,
                               np.empty(nf), np.empty(ni, dtype=np.int64))


@njit(cache=True, nogil=True, no_cpython_wrapper=True, inline="always")
def promise_class_ws_nb(X, C, par, cls, cpar, prio, steal, prot, k, lt, cal, qty, req, max_late, flags, max_lines,
                        commit, details, out_b, out_q, out_src, out_srcq, out_nsrc, plain_b, plain_q, wsf, wsi):
    """Allocation-aware promise of `qty` for class k at bucket `req` at one item-location.

    X: float64[P, H] pool positions; C: float64[H] cumulative net position (both modified only
    when `commit`). par/cls: int64[P] local parent pool (-1 root) and class code of each pool.
    cpar/prio/steal: per class parent, priority (1 highest) and may-steal flag. prot: float64[P, H]
    protection per pool and bucket, or shape (P, 0). Other arguments as promising.kernels.promise_1d_nb.

    Writes schedule lines to out_b/out_q, their sources (local pool, ROOT = unallocated) to
    out_src/out_srcq/out_nsrc, and the plain-ATP answer to plain_b/plain_q. Returns
    (status, reason, n, earliest_full, plain_status, plain_reason, plain_n, plain_earliest_full,
    quota_left, available_at_req, binding, own pool).

    wsf/wsi: float64/int64 work space of at least `work_sizes_nb(P, H)` elements (contents
    ignored and overwritten). details False (a batch, which reports neither): available_at_req
    may be returned as NaN, which lets a line its own quota covers skip the class curve.
    """
    P = X.shape[0]
    H = C.shape[0]
    end = H if lt < 0 else min(lt, H)
    # work space: the caller's two arrays, sliced (no allocation per line)
    iw = wsi[0:3 * (P + 1)]
    fw = wsf[0:8 * P + 8]
    PH = P * H
    w0 = 8 * P + 8  # after fw
    src = iw[0:P + 1]
    kind = iw[P + 1:2 * P + 2]
    nodes = iw[2 * P + 2:3 * P + 3]
    childsum = fw[0:P + 1]
    qs = fw[P + 1:2 * P + 2]
    dX = fw[2 * P + 2:3 * P + 2]
    dF = fw[3 * P + 2:4 * P + 2]
    mX1 = fw[4 * P + 2:5 * P + 2].reshape((P, 1))
    mF1 = fw[5 * P + 2:6 * P + 2].reshape((P, 1))
    mFp1 = fw[6 * P + 2:7 * P + 2].reshape((P, 1))
    dRC = fw[7 * P + 2:7 * P + 4]
    mC1 = fw[7 * P + 4:7 * P + 5]
    mR1 = fw[7 * P + 5:7 * P + 6]
    one = fw[7 * P + 6:7 * P + 7]
    n_src, own = sources_nb(par, cls, cpar, prio, steal, k, src, kind)
    # protection only limits what is stolen: without a stolen source it is not read
    use_prot = _steals_nb(n_src, kind) and prot.shape[1] > 0
    # fast path: the whole quantity on the first working day from the requested one (within the
    # allowed lateness). The general path below then gives this very answer (one line, split
    # greedily there) and so does plain ATP: the class's availability never exceeds it.
    last = H - 1 if max_late < 0 else min(H - 1, req + max_late)
    tstar = -1
    for t in range(req, last + 1):
        if cal.shape[0] == 0 or cal[t]:
            tstar = t
            break
    flat = not use_prot
    for p in range(P):
        if par[p] >= 0:
            flat = False
    curve = wsf[w0:w0 + H]  # read from req on only
    bound = True  # the class curve may be below plain ATP's availability (False: it is that availability)
    sufX = wsf[w0 + H:w0 + H + PH].reshape((P, H))
    sufC = wsf[w0 + H + PH:w0 + 2 * H + PH]
    sufR = wsf[w0 + 2 * H + PH:w0 + 3 * H + PH]
    views = True  # sufX, sufC, sufR (and sufF, sufFp) hold the suffix minima from req on
    if flat and not details and own >= 0 and 0 <= tstar < end and qty > EPS:
        # the class's own pool alone covers the whole quantity at tstar (and C has it there): the
        # fast path below would take it all from there (own pool first, one part), so its answer
        # is known without the class curve. quota_left from the own pool's minima over [req, end).
        mx_req, mx, mc = _own_mins_nb(X[own], C, req, tstar, end)
        if _pos(mx) >= qty and _pos(mc) >= qty:
            out_src[0, 0] = own
            out_srcq[0, 0] = qty
            out_nsrc[0] = 1
            status, reason = _finish_fast_nb(X, C, par, lt, qty, req, tstar, commit, out_b, out_q, out_src, out_srcq,
                                             out_nsrc, plain_b, plain_q)
            return (status, reason, 1, tstar, status, reason, 1, tstar, _pos(mx_req), np.nan, Binding.UNBOUND,
                    own)
    if flat:
        # not nested, not protected: the whole class curve in one pass (which keeps the suffix
        # minima the split reads), then the fast check on it
        sufF = sufX
        sufFp = sufX
        if req < end and flat_last_nb(X, C, n_src, src, end - 1) <= 0.0 and qty > EPS:
            # nothing for the class even at the last bucket before the lead time: the curve is 0
            # on [req, end) (it never decreases) and no schedule line can fall there; the pass is
            # skipped. Below plain ATP's availability exactly when C is positive at end - 1.
            views = False
            bound = C[end - 1] > 0.0
            for t in range(req, end):
                curve[t] = 0.0
            mo = INF
            if own >= 0:
                row = X[own]
                for t in range(req, end):
                    mo = min(mo, row[t])
            quota_left = _pos(mo) if own >= 0 else -1.0
        else:
            bound = flat_curve_nb(X, C, n_src, src, req, end, curve, sufX, sufC, sufR)
            if req >= end:
                quota_left = INF if own >= 0 else -1.0
            else:
                quota_left = _pos(sufX[own, req]) if own >= 0 else -1.0
        for t in range(max(req, end), H):
            curve[t] = INF
        avail_req = curve[req]
        if tstar >= 0 and curve[tstar] >= qty:
            if tstar >= end:
                out_src[0, 0] = ROOT
                out_srcq[0, 0] = qty
                out_nsrc[0] = 1
            else:
                if views:  # the suffix minima at tstar from the flat pass
                    _got, m = greedy_at_nb(tstar, qty, n_src, src, kind, par, sufX, sufF, sufFp, sufC, sufR, dX, dF, dRC,
                                           nodes, qs)
                else:
                    mins_at_nb(X, C, par, prot, use_prot, tstar, end, 0, childsum, mX1, mF1, mFp1, mC1, mR1)
                    _got, m = greedy_at_nb(np.int64(0), qty, n_src, src, kind, par, mX1, mF1, mFp1, mC1, mR1, dX, dF,
                                           dRC, nodes, qs)
                for i in range(m):
                    out_src[0, i] = nodes[i]
                    out_srcq[0, i] = qs[i]
                out_nsrc[0] = m
            status, reason = _finish_fast_nb(X, C, par, lt, qty, req, tstar, commit, out_b, out_q, out_src, out_srcq,
                                             out_nsrc, plain_b, plain_q)
            return status, reason, 1, tstar, status, reason, 1, tstar, quota_left, avail_req, Binding.UNBOUND, own
    else:
        if tstar >= 0:
            fast = False
            if tstar >= end:
                fast = True
                out_src[0, 0] = ROOT
                out_srcq[0, 0] = qty
                out_nsrc[0] = 1
            elif pk.available_at_1d_nb(C, lt, tstar) >= qty:  # else not even plain ATP has it there
                mins_at_nb(X, C, par, prot, use_prot, tstar, end, 0, childsum, mX1, mF1, mFp1, mC1, mR1)
                curve_nb(par, n_src, src, kind, mX1, mF1, mFp1, mC1, mR1, np.int64(0), np.int64(1), one)
                if one[0] >= qty:
                    fast = True
                    _got, m = greedy_at_nb(np.int64(0), qty, n_src, src, kind, par, mX1, mF1, mFp1, mC1, mR1, dX, dF, dRC, nodes,
                                           qs)
                    for i in range(m):
                        out_src[0, i] = nodes[i]
                        out_srcq[0, i] = qs[i]
                    out_nsrc[0] = m
            if fast:
                # what the class had at the requested day (for the explanation)
                if req >= end:
                    avail_req = INF
                    quota_left = INF if own >= 0 else -1.0
                else:
                    if tstar != req:
                        mins_at_nb(X, C, par, prot, use_prot, req, end, 0, childsum, mX1, mF1, mFp1, mC1, mR1)
                        curve_nb(par, n_src, src, kind, mX1, mF1, mFp1, mC1, mR1, np.int64(0), np.int64(1), one)
                    avail_req = one[0]
                    quota_left = _quota_left(own, np.int64(0), np.int64(1), par, mX1, mF1)
                status, reason = _finish_fast_nb(X, C, par, lt, qty, req, tstar, commit, out_b, out_q, out_src,
                                                 out_srcq, out_nsrc, plain_b, plain_q)
                return status, reason, 1, tstar, status, reason, 1, tstar, quota_left, avail_req, Binding.UNBOUND, own
        sufF = wsf[w0 + 3 * H + PH:w0 + 3 * H + 2 * PH].reshape((P, H))
        sufFp = wsf[w0 + 3 * H + 2 * PH:w0 + 3 * H + 3 * PH].reshape((P, H))
        views_nb(X, C, par, prot, use_prot, req, end, childsum, sufX, sufF, sufFp, sufC, sufR)
        curve_nb(par, n_src, src, kind, sufX, sufF, sufFp, sufC, sufR, req, end, curve)
        quota_left = _quota_left(own, req, end, par, sufX, sufF)
        for t in range(max(req, end), H):
            curve[t] = INF
        avail_req = curve[req]
    scratch = wsf[w0 + 3 * H + 3 * PH:w0 + 4 * H + 3 * PH]
    # the class's availability curve (above) read by the ATP scheduler as a cumulative series. The
    # flat curve is its own availability (non-negative, non-decreasing, inf from `end` on), so the
    # scheduler reads it as is; elsewhere plain ATP's promise_1d_nb takes its suffix minima first.
    if flat:
        status, reason, n, ef = pk.schedule_1d_nb(curve, lt, cal, qty, req, max_late, flags, max_lines, out_b, out_q)
    else:
        status, reason, n, ef = pk.promise_1d_nb(curve, lt, cal, qty, req, max_late, flags, max_lines, bool(False),
                                                 scratch, out_b, out_q)
    # what plain ATP would answer: the same when the curve is plain ATP's availability (the
    # scheduler then reads the very same series)
    if bound and flat and views:  # plain ATP's availability: the flat pass's suffix minima of C
        for t in range(req, end):
            scratch[t] = _pos(sufC[t])
        for t in range(max(req, end), H):
            scratch[t] = INF
        ps, pr, pn, pef = pk.schedule_1d_nb(scratch, lt, cal, qty, req, max_late, flags, max_lines, plain_b, plain_q)
    elif bound:
        ps, pr, pn, pef = pk.promise_1d_nb(C, lt, cal, qty, req, max_late, flags, max_lines, bool(False), scratch, plain_b,
                                           plain_q)
    else:
        ps, pr, pn, pef = status, reason, n, ef
        for j in range(n):
            plain_b[j] = out_b[j]
            plain_q[j] = out_q[j]
    # split each schedule line into the pools it consumes; with several lines, on working copies
    # (each later line sees what the earlier ones took)
    work = n > 1
    Xw = wsf[w0 + 4 * H + 3 * PH:w0 + 4 * H + (4 * PH if work else 3 * PH)].reshape((P if work else 0, H))
    Cw = wsf[w0 + 4 * H + 4 * PH:w0 + (5 * H if work else 4 * H) + 4 * PH]
    if work:  # element loops, not slice assignment (see views_nb)
        for p in range(P):
            for s in range(H):
                Xw[p, s] = X[p, s]
        for s in range(H):
            Cw[s] = C[s]
    trimmed = False
    m_out = 0
    for j in range(n):
        b = out_b[j]
        q = out_q[j]
        if b >= end:
            out_src[m_out, 0] = ROOT
            out_srcq[m_out, 0] = q
            out_nsrc[m_out] = 1
            if work:
                pk.commit_1d_nb(Cw, b, q)
        else:
            if j == 0 and views:  # the suffix minima from req on hold column b
                got, m = greedy_at_nb(b, q, n_src, src, kind, par, sufX, sufF, sufFp, sufC, sufR, dX, dF, dRC, nodes, qs)
            elif j == 0:  # the flat pass was skipped: the minima at b from the positions themselves
                mins_at_nb(X, C, par, prot, use_prot, b, end, 0, childsum, mX1, mF1, mFp1, mC1, mR1)
                got, m = greedy_at_nb(np.int64(0), q, n_src, src, kind, par, mX1, mF1, mFp1, mC1, mR1, dX, dF, dRC, nodes, qs)
            else:
                mins_at_nb(Xw, Cw, par, prot, use_prot, b, end, 0, childsum, mX1, mF1, mFp1, mC1, mR1)
                got, m = greedy_at_nb(np.int64(0), q, n_src, src, kind, par, mX1, mF1, mFp1, mC1, mR1, dX, dF, dRC, nodes, qs)
            if got < q - EPS:
                trimmed = True
                q = got
            if q <= EPS:
                continue
            for i in range(m):
                out_src[m_out, i] = nodes[i]
                out_srcq[m_out, i] = qs[i]
                if work:
                    if nodes[i] >= 0:
                        charge_1d_nb(Xw, par, nodes[i], b, qs[i])
                    pk.commit_1d_nb(Cw, b, qs[i])
            out_nsrc[m_out] = m
        out_b[m_out] = b
        out_q[m_out] = q
        m_out += 1
    n = m_out
    if trimmed:
        total = 0.0
        for j in range(n):
            total += out_q[j]
        if total < qty - EPS:
            if (flags & FLAG_PARTIAL) != 0 and total > EPS:
                status = Status.PARTIAL
            else:
                status = Status.SHORT
                n = 0
            reason = Reason.ALLOCATION
    # did allocation change the answer?
    same = n == pn and ef == pef and status == ps
    if same:
        for j in range(n):
            if out_b[j] != plain_b[j] or abs(out_q[j] - plain_q[j]) > EPS:
                same = False
                break
    if same:
        binding = Binding.UNBOUND
        reason = pr
    else:
        binding = Binding.BOUND
        reason = Reason.ALLOCATION
    if commit:  # same arithmetic as promising.reserve (allocation.apply_atp_draw): C per line, pools per part
        for j in range(n):
            pk.commit_1d_nb(C, out_b[j], out_q[j])
            for i in range(out_nsrc[j]):
                if out_src[j, i] >= 0:
                    charge_1d_nb(X, par, out_src[j, i], out_b[j], out_srcq[j, i])
    return status, reason, n, ef, ps, pr, pn, pef, quota_left, avail_req, binding, own


@njit(cache=True, nogil=True)
def promise_batch_nb(cum, pos, pool_ptr, pool_pc, class_arr, prot, il_lt, il_cal, cal_open,
                     ils, lcls, qty, req, max_late, flags, max_lines, commit,
                     out_status, out_reason, out_n, out_b, out_q, out_ef, out_binding, part_ptr, part_pool, part_qty,
                     part_line):
    """Promise many lines in the given order, each seeing what the previous ones committed.

    pos: float64[n_pools, H] pool positions (state); pool_ptr: int64[n_il + 1] pools of each
    item-location; pool_pc: int64[2, n_pools] local parent index and class code of each pool;
    class_arr: int64[3, K] parent, priority and may-steal flag per class. lcls[i]: class code of the
    line (NO_CLASS = -2: the "all others" class, unallocated supply only, like a class without a
    row). Lines at item-locations without pools are promised by plain ATP. out_b/out_q have W
    columns (W >= every max_lines).

    The pools each schedule line consumes are written compactly, line after line: line i's parts
    are part_pool/part_qty/part_line[part_ptr[i]:part_ptr[i + 1]] (global pool row, -1 =
    unallocated; quantity; index of the schedule line), in schedule-line order. part_* are the
    caller's first buffers; when they fill up they are replaced by larger ones, so the kernel
    returns (part_pool, part_qty, part_line, number of parts)."""
    n_lines = ils.shape[0]
    H = cum.shape[1]
    W = out_b.shape[1]
    scratch = np.empty(H)
    no_cal = np.ones(0, dtype=np.bool_)
    # one set of buffers for every line, sized for the item-location with the most pools
    pmax = 0
    for j in range(pool_ptr.shape[0] - 1):
        pmax = max(pmax, pool_ptr[j + 1] - pool_ptr[j])
    ni, nf, nw = one_sizes_nb(pmax, H, W)
    buf_i = np.empty(ni, dtype=np.int64)
    buf_f = np.empty(nf)
    wsf = np.empty(nw)
    m_parts = 0
    for i in range(n_lines):
        part_ptr[i] = m_parts
        il = ils[i]
        if il < 0:
            out_status[i] = Status.SHORT
            out_reason[i] = Reason.NO_SOURCE
            out_n[i] = 0
            out_ef[i] = -1
            out_binding[i] = Binding.NOT_APPLIED
            continue
        lo = pool_ptr[il]
        hi = pool_ptr[il + 1]
        if hi == lo:
            c = il_cal[il]
            cal = cal_open[c] if c >= 0 else no_cal
            s, r, n, ef = pk.promise_1d_nb(cum[il], il_lt[il], cal, qty[i], req[i], max_late[i], flags[i], max_lines[i],
                                           commit, scratch, out_b[i], out_q[i])
            out_status[i] = s
            out_reason[i] = r
            out_n[i] = n
            out_ef[i] = ef
            out_binding[i] = Binding.NOT_APPLIED
            continue
        promise_class_one_nb(cum, pos, pool_ptr, pool_pc, class_arr, prot, il_lt, il_cal, cal_open, il, max(lcls[i], -1),
                             qty[i], req[i], max_late[i], flags[i], max_lines[i], W, commit, bool(False), buf_i, buf_f,
                             wsf)
        S = hi - lo + 1
        n = buf_i[2]
        if m_parts + n * S > part_pool.shape[0]:  # grow the part buffers (doubling)
            cap = max(2 * part_pool.shape[0], m_parts + n * S)
            grown_pool = np.empty(cap, dtype=np.int64)
            grown_qty = np.empty(cap)
            grown_line = np.empty(cap, dtype=np.int64)
            for m in range(m_parts):
                grown_pool[m] = part_pool[m]
                grown_qty[m] = part_qty[m]
                grown_line[m] = part_line[m]
            part_pool = grown_pool
            part_qty = grown_qty
            part_line = grown_line
        for j in range(n):
            out_b[i, j] = buf_i[10 + j]
            out_q[i, j] = buf_f[2 + j]
            ns = buf_i[10 + 2 * W + j]
            for m in range(ns):
                v = buf_i[10 + 3 * W + j * S + m]
                part_pool[m_parts] = v + lo if v >= 0 else v
                part_qty[m_parts] = buf_f[2 + 2 * W + j * S + m]
                part_line[m_parts] = j
                m_parts += 1
        out_status[i] = buf_i[0]
        out_reason[i] = buf_i[1]
        out_n[i] = n
        out_ef[i] = buf_i[3]
        out_binding[i] = buf_i[8]
    part_ptr[n_lines] = m_parts
    return part_pool, part_qty, part_line, m_parts


@njit(cache=True, nogil=True)
def one_sizes_nb(P, H, L):
    """(ints, floats, work floats) `promise_class_one_nb` needs for P pools, H buckets and L
    schedule-line slots."""
    S = P + 1
    nf, ni = work_sizes_nb(P, H)
    return 10 + 3 * L + L * S + ni, 2 + 2 * L + L * S, nf


@njit(cache=True, nogil=True)
def promise_class_one_nb(cum, pos, pool_ptr, pool_pc, class_arr, prot, il_lt, il_cal, cal_open, il, k, qty, req,
                         max_late, flags, max_lines, L, commit, details, out_i, out_f, wsf):
    """One line at item-location `il` (which has pools), from the model's and state's whole
    arrays, with packed arguments and the caller's buffers (fewer to dispatch, nothing
    allocated): the one-line Python path, and each class line of `promise_batch_nb` (one compiled
    kernel for both). `promise_class_ws_nb` is inlined here (numba IR), so it is compiled once,
    inside this kernel, not as a kernel of its own linked in again.

    pool_pc: int64[2, n_pools] (local parent, class); class_arr: int64[3, K] (parent, priority,
    may steal). L: schedule-line slots (at least max_lines); with S = pools at il + 1 (sizes:
    `one_sizes_nb(P, H, L)`):
    out_i = header[10] (status, reason, n, earliest_full, plain status, plain reason, plain n,
    plain earliest_full, binding, own pool), out_b[L], plain_b[L], out_nsrc[L], out_src[L, S]
    (local pools, ROOT = unallocated), then the integer work space;
    out_f = header[2] (quota_left, available_at_req), out_q[L], plain_q[L], out_srcq[L, S];
    wsf: float64 work space. Codes are written as plain integers (no enum objects to box).
    details False (the batch): available_at_req may be NaN (see `promise_class_ws_nb`)."""
    lo = pool_ptr[il]
    hi = pool_ptr[il + 1]
    S = hi - lo + 1
    c = il_cal[il]
    no_cal = np.ones(0, dtype=np.bool_)
    cal = cal_open[c] if c >= 0 else no_cal
    o = 10 + 3 * L
    out_src = out_i[o:o + L * S].reshape((L, S))
    out_srcq = out_f[2 + 2 * L:2 + 2 * L + L * S].reshape((L, S))
    wsi = out_i[o + L * S:]
    s, r, n, ef, ps, pr, pn, pef, ql, ar, bnd, own = promise_class_ws_nb(
        pos[lo:hi], cum[il], pool_pc[0, lo:hi], pool_pc[1, lo:hi], class_arr[0], class_arr[1], class_arr[2], prot[lo:hi],
        k, il_lt[il], cal, qty, req, max_late, flags, max_lines, commit, details, out_i[10:10 + L], out_f[2:2 + L], out_src,
        out_srcq, out_i[10 + 2 * L:10 + 3 * L], out_i[10 + L:10 + 2 * L], out_f[2 + L:2 + 2 * L], wsf, wsi)
    out_i[0] = np.int64(s)
    out_i[1] = np.int64(r)
    out_i[2] = n
    out_i[3] = ef
    out_i[4] = np.int64(ps)
    out_i[5] = np.int64(pr)
    out_i[6] = pn
    out_i[7] = pef
    out_i[8] = np.int64(bnd)
    out_i[9] = own
    out_f[0] = ql
    out_f[1] = ar
