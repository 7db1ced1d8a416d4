"""Slow, obviously-correct references for the ATP kernels (plain Python, from the definitions).

Lists in, lists out; no numpy, numba or test framework. The property tests hold
`promising.kernels` equal to these on random inputs; benchmarks check the kernels against them
before timing. Status and reason codes are `promising.enums`' members.
"""

from __future__ import annotations

import math

from promessa.config import EPS
from promising.enums import Reason, Status

INF = math.inf


def net_position(supply, demand):
    """C[t]: running sum of supply - demand (lists of floats per bucket)."""
    out, run = [], 0.0
    for s, d in zip(supply, demand):
        run += s - d
        out.append(run)
    return out


def available(cum, lt, t):
    """A(t) = max(0, min_{s>=t} C[s]); unlimited from the lead time on."""
    if lt >= 0 and t >= lt:
        return INF
    end = len(cum) if lt < 0 else min(lt, len(cum))
    return max(0.0, min(cum[t:end]))


def is_open(cal, t):
    """True when bucket t is a working day (no calendar: every day is)."""
    return cal is None or bool(cal[t])


def promise(cum, lt, cal, qty, req, max_late, partial, split, max_lines, backorder=False):
    """Promise `qty` on bucket `req` against the cumulative position `cum` (list), lead time
    `lt` (-1 none), calendar `cal` (list of bools or None), lateness limit `max_late` (-1 none)
    and the policy flags (`backorder`: without split, confirm what the first working day of the
    window has and backorder the rest, when that day has some but not all). Returns (Status, Reason, lines [(bucket, qty)], earliest full bucket
    or -1), as `promising.kernels.promise_1d_nb`."""
    H = len(cum)
    A = [available(cum, lt, t) if t >= req else None for t in range(H)]
    last = H - 1 if max_late < 0 else min(H - 1, req + max_late)
    ef = next((t for t in range(req, H) if is_open(cal, t) and A[t] >= qty - EPS), -1)
    window = [t for t in range(req, last + 1) if is_open(cal, t)]
    lines: list[tuple[int, float]] = []
    if split and max_lines > 1 and window:
        taken = 0.0
        for t in window:
            inc = A[t] - taken
            rest = qty - taken
            if inc <= EPS:
                continue
            if len(lines) == max_lines - 1 and inc < rest - EPS:
                continue
            take = min(inc, rest)
            lines.append((t, take))
            taken += take
            if qty - taken <= EPS:
                break
        if qty - taken > EPS and partial and len(lines) == max_lines - 1:
            final = A[window[-1]] - taken
            if final > EPS:
                start = lines[-1][0] if lines else req
                t = next(t for t in window if t >= start and A[t] - taken >= final - EPS)
                lines.append((t, final))
    elif backorder and partial and window and ef != window[0] and A[window[0]] > EPS:
        lines = [(window[0], A[window[0]])]
    elif 0 <= ef <= last:
        lines = [(ef, qty)]
    elif partial and window:
        best = A[window[-1]]
        if best > EPS:
            t = next(t for t in window if A[t] >= best - EPS)
            lines = [(t, best)]
    total = sum(q for _, q in lines)
    if total >= qty - EPS:
        if len(lines) == 1 and lines[0][0] == req:
            return Status.FULL, Reason.NONE, lines, ef
        t_last = lines[-1][0]
        if not is_open(cal, req) and A[req] >= qty - EPS:
            reason = Reason.CALENDAR
        elif lt >= 0 and t_last >= lt:
            reason = Reason.LEAD_TIME
        else:
            reason = Reason.SUPPLY
        return Status.LATE, reason, lines, ef
    if not partial:
        lines, total = [], 0.0
    status = Status.PARTIAL if total > EPS else Status.SHORT
    if not window:
        reason = Reason.CALENDAR
    elif ef < 0:
        reason = Reason.HORIZON
    elif ef > last:
        reason = Reason.MAX_LATENESS
    else:
        reason = Reason.SUPPLY
    return status, reason, lines, ef


def commit(cum, t, qty):
    """The cumulative position after committing `qty` at bucket t (a new list)."""
    return [c - qty if s >= t else c for s, c in enumerate(cum)]


def discrete_atp(supply, demand):
    """Textbook discrete ATP with look-ahead netting."""
    H = len(supply)
    starts = [t for t in range(H) if t == 0 or supply[t] > EPS]
    atp = [0.0] * H
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else H
        atp[s] = supply[s] - sum(demand[s:e])
    for i in range(len(starts) - 1, 0, -1):
        if atp[starts[i]] < -EPS:
            atp[starts[i - 1]] += atp[starts[i]]
            atp[starts[i]] = 0.0
    return atp


def fifo_pegs(sup_records, consumed, lines):
    """FIFO by date: [(line, record or -1, qty)] for the new lines, as peg_1d_nb documents."""
    H = len(consumed)
    rem = [q for _, q in sup_records]
    queue = []  # [line or -1, remaining]
    out = []
    arrived = 0
    first = 0
    for b in range(H):
        while arrived < len(sup_records) and sup_records[arrived][0] <= b:
            arrived += 1
        if consumed[b] > EPS:
            queue.append([-1, consumed[b]])
        for i, (lb, lq) in enumerate(lines):
            if lb == b:
                queue.append([i, lq])
        while queue and first < arrived:
            line, need = queue[0]
            take = min(need, rem[first])
            if line >= 0 and take > EPS:
                out.append((line, first, take))
            queue[0][1] -= take
            rem[first] -= take
            if rem[first] <= EPS:
                first += 1
            if queue[0][1] <= EPS:
                queue.pop(0)
        # new lines still unserved at the end of their own day: replenishment
        for entry in queue:
            if entry[0] >= 0 and entry[1] > EPS:
                out.append((entry[0], -1, entry[1]))
                entry[1] = 0.0
        queue = [e for e in queue if e[1] > EPS]
    return out
