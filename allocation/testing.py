"""Slow, obviously-correct reference of the allocation kernels (plain Python, from the definitions).

Lists in, lists out; no numpy, numba or test framework. The property tests hold
`allocation.kernels` equal to it on random quota trees; benchmarks/bench_allocation.py checks
the kernel against it before timing.

Unlike the kernel, which keeps running deductions against suffix minima, the reference really
takes each part from copies of the positions and recomputes every availability from scratch.
Scheduling (partial, split, lateness, calendar) is the ATP reference's, run on the class's
availability curve.
"""

from __future__ import annotations

import math

from allocation.enums import ROOT, Binding
from promessa.config import EPS
from promising.enums import Reason, Status
from promising.testing import atp_reference as atp_ref

INF = math.inf


def avail(series, t, end):
    """max(0, min over [t, end) of series); unlimited from `end` (the lead time) on."""
    if t >= end:
        return INF
    return max(0.0, min(series[t:end]))


def path(par, node):
    out = []
    while node >= 0:
        out.append(node)
        node = par[node]
    return out


def free(X, C, par, node):
    """Free part of a node (ROOT: unallocated) per bucket."""
    H = len(C)
    base = C if node == ROOT else X[node]
    kids = [c for c in range(len(par)) if par[c] == node]
    return [base[s] - sum(max(0.0, X[c][s]) for c in kids) for s in range(H)]


def sources(par, cls, cpar, prio, steal, k):
    """[(node, stolen)] in consumption order, and the own pool."""
    own = ROOT
    c = k
    while k >= 0 and c >= 0 and own == ROOT:
        hits = [p for p in range(len(cls)) if cls[p] == c]
        if hits:
            own = hits[0]
        c = cpar[c]
    out = [(n, False) for n in path(par, own)] + [(ROOT, False)]
    if k >= 0 and steal[k]:
        taken = {n for n, _ in out}
        cand = [p for p in range(len(cls)) if prio[cls[p]] > prio[k] and p not in taken]
        cand.sort(key=lambda p: (-prio[cls[p]], cls[p]))
        out += [(p, True) for p in cand]
    return out, own


def protected(rows, t, s):
    """What a take dated t must leave on position s: `qty` of every protection row
    (qty, from, until) with t before `until` and s on or after `from` (backward consumption:
    a take at t lowers every later position, so protection holds wherever it can reach)."""
    return sum(q for q, d, u in rows if t < u and s >= d)


def cap(X, C, par, prot, node, stolen, t, end):
    c = avail(C, t, end)
    f = free(X, C, par, node)
    if node == ROOT:
        return min(avail(f, t, end), c)
    if stolen and prot is not None:
        f = [f[s] - protected(prot[node], t, s) for s in range(len(C))]
    v = min(avail(f, t, end), c)
    for a in path(par, node):
        v = min(v, avail(X[a], t, end))
    return v


def take(X, C, par, node, t, x):
    for s in range(t, len(C)):
        C[s] -= x
        for a in path(par, node):
            X[a][s] -= x


def greedy(X, C, par, prot, srcs, t, end, limit):
    """Takes up to `limit` at t, really modifying X and C. Returns [(node, qty)]."""
    parts = []
    for node, stolen in srcs:
        rest = limit - sum(q for _, q in parts)
        if rest <= EPS:
            break
        c = cap(X, C, par, prot, node, stolen, t, end)
        if c <= EPS:
            continue
        x = min(c, rest)
        take(X, C, par, node, t, x)
        parts.append((node, x))
    return parts


def curve(X, C, par, cls, cpar, prio, steal, prot, k, lt, start):
    H = len(C)
    end = H if lt < 0 else min(lt, H)
    srcs, _ = sources(par, cls, cpar, prio, steal, k)
    out = [0.0] * H
    for t in range(start, H):
        if t >= end:
            out[t] = INF
            continue
        Xc = [list(r) for r in X]
        Cc = list(C)
        out[t] = sum(q for _, q in greedy(Xc, Cc, par, prot, srcs, t, end, INF))
    return out


def promise(X, C, par, cls, cpar, prio, steal, prot, k, lt, cal, qty, req, max_late, partial, split, max_lines,
            backorder=False):
    """Returns (status, reason, [(bucket, qty, [(node, qty)])], earliest_full, binding); X and C unchanged."""
    H = len(C)
    end = H if lt < 0 else min(lt, H)
    ps, pr, plines, pef = atp_ref.promise(list(C), lt, cal, qty, req, max_late, partial, split, max_lines, backorder)
    A = curve(X, C, par, cls, cpar, prio, steal, prot, k, lt, req)
    status, reason, lines, ef = atp_ref.promise(A, lt, cal, qty, req, max_late, partial, split, max_lines, backorder)
    srcs, _ = sources(par, cls, cpar, prio, steal, k)
    Xw = [list(r) for r in X]
    Cw = list(C)
    out = []
    trimmed = False
    for b, q in lines:
        if b >= end:
            take(Xw, Cw, par, ROOT, b, q)
            out.append((b, q, [(ROOT, q)]))
            continue
        parts = greedy(Xw, Cw, par, prot, srcs, b, end, q)
        got = sum(x for _, x in parts)
        if got < q - EPS:
            trimmed, q = True, got
        if q > EPS:
            out.append((b, q, parts))
    if trimmed:
        total = sum(q for _, q, _ in out)
        if total < qty - EPS:
            if partial and total > EPS:
                status = Status.PARTIAL
            else:
                status, out = Status.SHORT, []
    same = (status == ps and ef == pef and len(out) == len(plines)
            and all(b == pb and abs(q - pq) <= EPS for (b, q, _), (pb, pq) in zip(out, plines)))
    if same:
        return status, pr, out, ef, Binding.UNBOUND
    return status, Reason.ALLOCATION, out, ef, Binding.BOUND


def commit(X, C, par, lines):
    for b, q, parts in lines:
        for s in range(b, len(C)):
            C[s] -= q
        for node, x in parts:
            if node >= 0:
                for s in range(b, len(C)):
                    for a in path(par, node):
                        X[a][s] -= x
