"""Compiled kernels over the layered decision diagram (arrays only; see `configurator.compile`).

The diagram has one layer per variable; edge ``e`` goes from node ``e_src[e]`` (layer
``e_var[e]``) to node ``e_dst[e]`` (next layer) and stands for value code ``e_val[e]``. Node 0
is the root, node ``n_nodes - 1`` the accepting terminal; edges are sorted by layer. A path from
root to terminal is exactly one valid configuration. ``allowed[var, code]`` masks the values the
current choices leave (a chosen variable allows only its value).
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True, nogil=True)
def _down_up_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed):
    down = np.zeros(n_nodes, dtype=np.bool_)
    up = np.zeros(n_nodes, dtype=np.bool_)
    down[0] = True
    n = e_src.shape[0]
    for e in range(n):
        if down[e_src[e]] and allowed[e_var[e], e_val[e]]:
            down[e_dst[e]] = True
    up[n_nodes - 1] = True
    for e in range(n - 1, -1, -1):
        if up[e_dst[e]] and allowed[e_var[e], e_val[e]]:
            up[e_src[e]] = True
    return down, up


@njit(cache=True, nogil=True)
def valid_values_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed):
    """valid[var, code]: the value lies on some root-to-terminal path that respects `allowed`."""
    down, up = _down_up_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed)
    valid = np.zeros(allowed.shape, dtype=np.bool_)
    for e in range(e_src.shape[0]):
        if down[e_src[e]] and up[e_dst[e]] and allowed[e_var[e], e_val[e]]:
            valid[e_var[e], e_val[e]] = True
    return valid


@njit(cache=True, nogil=True)
def count_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed):
    """Number of valid configurations that respect `allowed` (float64: it can exceed 2**63)."""
    cnt = np.zeros(n_nodes)
    cnt[n_nodes - 1] = 1.0
    for e in range(e_src.shape[0] - 1, -1, -1):
        if allowed[e_var[e], e_val[e]]:
            cnt[e_src[e]] += cnt[e_dst[e]]
    return cnt[0]


@njit(cache=True, nogil=True)
def best_path_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed, cost, bottleneck, n_vars):
    """The valid configuration (value code per variable, -1 if none) that respects `allowed` and
    minimises the sum (``bottleneck`` False) or the largest (True) of ``cost[var, code]`` over its
    values; ties go to the lower value code. Returns (codes, best cost)."""
    best = np.full(n_nodes, INF)
    via = np.full(n_nodes, -1, dtype=np.int64)
    best[n_nodes - 1] = 0.0
    for e in range(e_src.shape[0] - 1, -1, -1):
        var = e_var[e]
        val = e_val[e]
        if not allowed[var, val]:
            continue
        d = best[e_dst[e]]
        if d == INF:
            continue
        c = cost[var, val]
        tot = max(c, d) if bottleneck else c + d
        s = e_src[e]
        if tot < best[s] or (tot == best[s] and via[s] >= 0 and val < e_val[via[s]]):
            best[s] = tot
            via[s] = e
    codes = np.full(n_vars, -1, dtype=np.int64)
    if best[0] == INF:
        return codes, INF
    node = 0
    while node != n_nodes - 1:
        e = via[node]
        codes[e_var[e]] = e_val[e]
        node = e_dst[e]
    return codes, best[0]


@njit(cache=True, nogil=True)
def sample_nb(e_src, e_dst, e_var, e_val, n_nodes, allowed, node_start, node_count, u, n_vars):
    """A configuration drawn uniformly among those that respect `allowed`, using the uniform
    random numbers `u` (one per variable). Edges of a node are e[node_start[n]: +node_count[n]]
    when edges are grouped by source (they are: the diagram is built node by node)."""
    cnt = np.zeros(n_nodes)
    cnt[n_nodes - 1] = 1.0
    for e in range(e_src.shape[0] - 1, -1, -1):
        if allowed[e_var[e], e_val[e]]:
            cnt[e_src[e]] += cnt[e_dst[e]]
    codes = np.full(n_vars, -1, dtype=np.int64)
    if cnt[0] == 0.0:
        return codes
    node = 0
    k = 0
    while node != n_nodes - 1:
        target = u[k] * cnt[node]
        k += 1
        acc = 0.0
        chosen = -1
        for e in range(node_start[node], node_start[node] + node_count[node]):
            if not allowed[e_var[e], e_val[e]] or cnt[e_dst[e]] == 0.0:
                continue
            chosen = e
            acc += cnt[e_dst[e]]
            if acc > target:
                break
        codes[e_var[chosen]] = e_val[chosen]
        node = e_dst[chosen]
    return codes


@njit(cache=True, nogil=True)
def accepts_nb(e_dst, e_val, node_start, node_count, codes, n_nodes):
    """Whether the configuration `codes` (value code per layer) is a root-to-terminal path."""
    node = 0
    for i in range(codes.shape[0]):
        nxt = -1
        for e in range(node_start[node], node_start[node] + node_count[node]):
            if e_val[e] == codes[i]:
                nxt = e_dst[e]
                break
        if nxt < 0:
            return False
        node = nxt
    return node == n_nodes - 1
