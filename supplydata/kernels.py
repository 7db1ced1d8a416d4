"""Compiled helpers for building the dense snapshot arrays."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def net_cumsum_nb(supply, demand, out):
    """out[i, t] = sum_{s<=t} (supply[i, s] - demand[i, s]), one pass over memory."""
    n, h = supply.shape
    for i in range(n):
        run = 0.0
        for t in range(h):
            run += supply[i, t] - demand[i, t]
            out[i, t] = run
