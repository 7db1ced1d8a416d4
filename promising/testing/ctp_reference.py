"""Capable-to-promise: the slow, plain-Python reference (no test framework needed).

The reference reads the bills as dictionaries and plans recursively over lists; the kernels
read the exploded CSR arrays. Both follow the rules in docs/ctp.md (stock first, one lot per
level, breadth-first order, latest capacity day first, the latest lot finish that works).
Used by tests/promising/test_ctp_reference.py and by benchmarks/bench_ctp.py (which passes
the snapshot's horizon to `Reference`).
"""

from __future__ import annotations

import copy
import datetime as dt
import math

from promessa.config import EPS
from promising.enums import Reason, Status

AS_OF = dt.date(2026, 3, 1)
H = 16  # the default horizon of `Reference` (and of the tests' random plants)
INF = math.inf
LOC = "L"

MAX_LOTS = 32  # as promising.ctp_kernels.MAX_LOTS


# ---------------------------------------------------------------- the reference


def avail(row, lt, t):
    """A(t) of a cumulative row (None: no row, nothing available)."""
    """A(t) = max(0, min_{s>=t} C[s]); unlimited from the replenishment lead time on."""
    if row is None:
        return 0.0
    if lt >= 0 and t >= lt:
        return INF
    end = len(row) if lt < 0 else min(lt, len(row))
    m = min(row[t:end], default=INF)
    return max(m, 0.0)


def window(f, lt):
    """The days a lot finishing on f works on: (first, last)."""
    return (f, f) if lt <= 0 else (f - lt, f - 1)


class Reference:
    """bills: item -> (components [(item, qty_per)], resources [(resource, usage)], lead time).
    cum: item -> list (stock rows), lt: item -> replenishment lead time (-1 none),
    rem: resource -> remaining capacity per day, fence: item -> first bucket a lot may finish,
    horizon: the number of buckets. Binding codes are `promising.enums.Reason` members."""

    def __init__(self, bills, cum, lt, rem, fence, *, horizon: int = H):
        self.bills, self.cum, self.lt, self.rem, self.fence = bills, cum, lt, rem, fence
        self.horizon = horizon

    # one lot, planned breadth first on copies
    def entries(self, root):
        out = [dict(item=root, parent=-1, qty=1.0, off=0)]
        queue = [0]
        while queue:
            j = queue.pop(0)
            item = out[j]["item"]
            comps, _, lt = self.bills[item]
            for c, q in comps:
                out.append(dict(item=c, parent=j, qty=q, off=out[j]["off"] + lt))
                if c in self.bills:
                    queue.append(len(out) - 1)
        return out

    def plan_lot(self, root, f, x, cum, rem):
        ents = self.entries(root)
        make = [0.0] * len(ents)
        make[0] = x
        draws = []
        for j, e in enumerate(ents):
            item = e["item"]
            if j > 0:
                need = make[e["parent"]] * e["qty"]
                if need <= EPS:
                    continue
                s = f - e["off"]
                a = avail(cum.get(item), self.lt.get(item, -1), s)
                take = min(need, a)
                if take > EPS:
                    for k in range(s, self.horizon):
                        cum[item][k] -= take
                    draws.append(("stock", item, s, take))
                else:
                    take = 0.0
                rest = need - take
                if rest <= EPS:
                    continue
                if item not in self.bills:
                    return False, (Reason.MATERIAL, item), draws, make
                make[j] = rest
            if make[j] <= EPS:
                continue
            _, res, lt = self.bills[item]
            fj = f - e["off"]
            if fj - lt < 0 or fj < self.fence.get(item, 0) or fj >= self.horizon:
                return False, (Reason.LEAD_TIME, item), draws, make
            a, b = window(fj, lt)
            for r, u in res:
                need = make[j] * u
                if need <= EPS:
                    continue
                if sum(rem[r][a:b + 1]) < need - EPS:
                    return False, (Reason.CAPACITY, r), draws, make
                left = need
                for d in range(b, a - 1, -1):
                    take = min(left, rem[r][d])
                    if take > EPS:
                        rem[r][d] -= take
                        left -= take
                        draws.append(("capacity", r, d, take))
                    if left <= EPS:
                        break
        return True, None, draws, make

    def bound(self, item, f, cum, rem):
        """What one lot could make if no component were shared (optimistic)."""
        if item not in self.bills:
            return 0.0
        comps, res, lt = self.bills[item]
        if f - lt < 0 or f < self.fence.get(item, 0) or f >= self.horizon:
            return 0.0
        a, b = window(f, lt)
        lim = INF
        for r, u in res:
            if u > EPS:
                lim = min(lim, sum(rem[r][a:b + 1]) / u)
        s = f - lt
        for c, q in comps:
            if q > EPS and lim > 0:
                lim = min(lim, (avail(cum.get(c), self.lt.get(c, -1), s) + self.bound(c, s, cum, rem)) / q)
        return lim

    def lot_max(self, root, f, hi, cum, rem):
        """The largest lot (<= hi) finishing on f: the bound, else bisection."""
        def fits(x):
            return self.plan_lot(root, f, x, copy.deepcopy(cum), copy.deepcopy(rem))[0]

        if fits(hi):
            return hi
        lo = 0.0
        for _ in range(60):
            if hi - lo <= EPS * 10:
                break
            mid = 0.5 * (lo + hi)
            if fits(mid):
                lo = mid
            else:
                hi = mid
        for digits in (6, 9):
            c = round(hi, digits)
            if lo < c <= hi and fits(c):
                return c
        return lo

    def make_by(self, root, t, need, cum, rem):
        """Lots finishing on t, t-1, ... each as large as fits, until `need` is made
        (modifies cum and rem). Returns (made, [(finish, qty)])."""
        made, lots = 0.0, []
        for f in range(t, -1, -1):
            if need - made <= EPS or len(lots) >= MAX_LOTS:
                break
            hi = min(self.bound(root, f, cum, rem), need - made)
            if hi <= EPS:
                continue
            x = self.lot_max(root, f, hi, cum, rem)
            if x <= EPS:
                continue
            ok, *_ = self.plan_lot(root, f, x, cum, rem)
            assert ok
            made += x
            lots.append((f, x))
        return made, lots

    def made(self, root, t, need):
        return self.make_by(root, t, need, copy.deepcopy(self.cum), copy.deepcopy(self.rem))

    def promise(self, root, qty, req, last, allow_partial):
        """(status, t, qty, lots, binding code): brute force over the delivery days."""
        def stock(t, target):
            return min(target, avail(self.cum[root], self.lt[root], t))

        def earliest(target, lo, hi):
            for t in range(lo, hi + 1):
                need = target - stock(t, target)
                if need <= EPS or self.made(root, t, need)[0] >= need - EPS:
                    return t
            return -1

        t = earliest(qty, req, last)
        target = qty
        if t < 0:
            target = 0.0
            if allow_partial:
                base = stock(last, qty)
                target = base + (self.made(root, last, qty - base)[0] if qty - base > EPS else 0.0)
                t = earliest(target, req, last) if target > EPS else -1
        if t < 0:
            return Status.SHORT, -1, 0.0, [], self.binding(root, qty, req, last, Status.SHORT)
        status = (Status.FULL if t == req else Status.LATE) if target >= qty - EPS else Status.PARTIAL
        need = target - stock(t, target)
        lots = self.made(root, t, need)[1] if need > EPS else []
        return status, t, target, lots, self.binding(root, qty, req, last, status)

    def binding(self, root, qty, req, last, status):
        """After the lots that fit by the day that matters, the first constraint one more lot
        for the rest fails on (at the finish day with the best one-lot bound, latest on ties)."""
        if status is Status.FULL:
            return Reason.NONE
        bt = req if status is Status.LATE else last
        need = qty - min(qty, avail(self.cum[root], self.lt[root], bt))
        cum, rem = copy.deepcopy(self.cum), copy.deepcopy(self.rem)
        made, _ = self.make_by(root, bt, need, cum, rem)
        ub = [self.bound(root, g, cum, rem) for g in range(bt + 1)]
        fb = max(g for g in range(bt + 1) if ub[g] >= max(ub) - EPS)
        if need - made <= EPS:
            return Reason.NONE
        if max(ub) < need - made - EPS:
            return self.trace(root, fb, cum, rem)
        ok, fail, _, _ = self.plan_lot(root, fb, need - made, cum, rem)
        return Reason.NONE if ok else fail[0]

    def trace(self, item, f, cum, rem):
        """The bound's tightest term, followed down the bill: resources against components
        (components win ties, the first in bill order among components)."""
        comps, res, lt = self.bills[item]
        if f - lt < 0 or f < self.fence.get(item, 0) or f >= self.horizon:
            return Reason.LEAD_TIME
        a, b = window(f, lt)
        cap_t = min((sum(rem[r][a:b + 1]) / u for r, u in res if u > EPS), default=INF)
        s = f - lt
        terms = [((avail(cum.get(c), self.lt.get(c, -1), s) + self.bound(c, s, cum, rem)) / q, c)
                 for c, q in comps if q > EPS]
        ch_t, c = min(terms, key=lambda tc: tc[0], default=(INF, None))
        if c is not None and ch_t <= cap_t:
            return self.trace(c, s, cum, rem) if c in self.bills else Reason.MATERIAL
        return Reason.CAPACITY


# ---------------------------------------------------------------- random plants
