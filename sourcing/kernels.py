"""Compiled kernels of the sourcing package (arrays, scalars and integer codes only).

- ``gap_greedy_1d_nb``: regret greedy for single-pool options under one desirability measure.
- ``gap_local_search_nb``: shift and swap moves that keep capacity and lower cost.
- ``gap_heuristic_nb``: several greedy measures + local search; the best feasible answer.
- ``source_order_nb``: score the candidate (node, date) options of one order (see realtime).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-9


@njit(cache=True, nogil=True)
def gap_greedy_1d_nb(o_ptr, opt_cost, opt_pool, opt_amt, capacity, measure):
    """Regret greedy over options grouped per order (CSR ``o_ptr``); each option uses one pool.

    measure 0: cost; 1: usage / capacity; 2: cost * usage / capacity.  Orders whose two best
    desirabilities differ most go first, each to its most desirable option that still fits.
    Returns option per order (-1 where nothing fits).
    """
    n = len(o_ptr) - 1
    left = capacity.copy()
    out = np.full(n, -1, np.int64)
    done = np.zeros(n, np.bool_)
    for _ in range(n):
        best_j = -1
        best_regret = -np.inf
        best_k = -1
        for j in range(n):
            if done[j]:
                continue
            d1 = np.inf
            d2 = np.inf
            k1 = -1
            for k in range(o_ptr[j], o_ptr[j + 1]):
                p = opt_pool[k]
                if opt_amt[k] > left[p] + _EPS:
                    continue
                if measure == 0:
                    d = opt_cost[k]
                elif measure == 1:
                    d = opt_amt[k] / max(capacity[p], _EPS)
                else:
                    d = opt_cost[k] * opt_amt[k] / max(capacity[p], _EPS)
                if d < d1:
                    d2 = d1
                    d1 = d
                    k1 = k
                elif d < d2:
                    d2 = d
            if k1 < 0:
                regret = np.inf  # nothing fits: decide now (it stays unassigned)
            else:
                regret = d2 - d1
            if regret > best_regret:
                best_regret = regret
                best_j = j
                best_k = k1
        done[best_j] = True
        if best_k >= 0:
            out[best_j] = best_k
            left[opt_pool[best_k]] -= opt_amt[best_k]
    return out


@njit(cache=True, nogil=True)
def gap_local_search_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, assign, max_passes):
    """Improve a full feasible assignment in place by shift and swap moves; returns its cost."""
    n = len(o_ptr) - 1
    m = len(capacity)
    left = capacity.copy()
    for j in range(n):
        k = assign[j]
        left[opt_pool[k]] -= opt_amt[k]
    # option of order j at pool p (single-pool options), -1 if none
    at = np.full((n, m), -1, np.int64)
    for j in range(n):
        for k in range(o_ptr[j], o_ptr[j + 1]):
            at[j, opt_pool[k]] = k
    for _ in range(max_passes):
        improved = False
        # shift: move one order to a cheaper option that fits
        for j in range(n):
            k0 = assign[j]
            best = k0
            for k in range(o_ptr[j], o_ptr[j + 1]):
                if opt_cost[k] < opt_cost[best] - _EPS and opt_amt[k] <= left[opt_pool[k]] + _EPS:
                    best = k
            if best != k0:
                left[opt_pool[k0]] += opt_amt[k0]
                left[opt_pool[best]] -= opt_amt[best]
                assign[j] = best
                improved = True
        # swap: two orders exchange pools
        for j1 in range(n):
            for j2 in range(j1 + 1, n):
                a1 = assign[j1]
                a2 = assign[j2]
                p1 = opt_pool[a1]
                p2 = opt_pool[a2]
                if p1 == p2:
                    continue
                b1 = at[j1, p2]
                b2 = at[j2, p1]
                if b1 < 0 or b2 < 0:
                    continue
                delta = opt_cost[b1] + opt_cost[b2] - opt_cost[a1] - opt_cost[a2]
                if delta >= -_EPS:
                    continue
                if left[p1] + opt_amt[a1] - opt_amt[b2] < -_EPS or left[p2] + opt_amt[a2] - opt_amt[b1] < -_EPS:
                    continue
                left[p1] += opt_amt[a1] - opt_amt[b2]
                left[p2] += opt_amt[a2] - opt_amt[b1]
                assign[j1] = b1
                assign[j2] = b2
                improved = True
        if not improved:
            break
    total = 0.0
    for j in range(n):
        total += opt_cost[assign[j]]
    return total


@njit(cache=True, nogil=True)
def gap_heuristic_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, max_passes):
    """Best feasible answer of the greedy measures after local search (-1s if none is feasible)."""
    n = len(o_ptr) - 1
    best = np.full(n, -1, np.int64)
    best_cost = np.inf
    for measure in range(3):
        a = gap_greedy_1d_nb(o_ptr, opt_cost, opt_pool, opt_amt, capacity, measure)
        if n > 0 and a.min() < 0:
            continue
        c = gap_local_search_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, a, max_passes)
        if c < best_cost:
            best_cost = c
            best = a
    return best
