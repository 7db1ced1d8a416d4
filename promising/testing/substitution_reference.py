"""Slow, obviously-correct reference of item substitution (plain Python, from the definition in
`promising.engine._promise_with_substitutes`), over the ATP reference.

Items at one location without quotas or bills; `cums` maps each item to its cumulative
position (list), `lts` to its lead time (-1 none), `chain` lists the valid substitutes, most
preferred first. Returns (status, lines [(item, bucket, qty)]) where `item` is None when the
original answered alone.
"""

from __future__ import annotations

from promessa.config import EPS
from promising.enums import Status
from promising.testing import atp_reference as atp


def promise(cums, lts, item, chain, qty, req, max_late, partial, split, max_lines):
    """The substitution answer for `qty` of `item` requested at bucket `req` (no calendars)."""
    s, _r, lines, _ef = atp.promise(cums[item], lts[item], None, qty, req, max_late, partial, split, max_lines)
    alone = (s, [(None, b, q) for b, q in lines])
    if s == Status.FULL:
        return alone
    rest, parts = qty, []
    for it in (item, *chain):
        if rest <= EPS:
            break
        got = min(rest, atp.available(cums[it], lts[it], req))
        if got > EPS:
            parts.append((it, req, got))
            rest -= got
    used_sub = any(it != item for it, _, _ in parts)
    total = sum(q for _, q in lines)
    if used_sub and rest <= EPS:
        return Status.FULL, parts
    if used_sub and partial and qty - rest > total + EPS:
        return Status.PARTIAL, parts
    return alone
