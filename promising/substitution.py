"""Item substitution data: the chain of substitutes of each item, from the optional snapshot
table `substitutes` (item, substitute, preference, valid_from, valid_to).

`promising.engine.promise` uses it explicitly (see `_promise_with_substitutes` there). A chain
is per item and not transitive: the substitutes of a substitute are not followed. Built once
per snapshot and cached in `snap.derived["substitutes"]`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from promessa.errors import SnapshotError
from promising import kernels as nb
from supplydata.snapshot import Snapshot, State

__all__ = ["Substitute", "chain", "chain_ils", "on_time_parts", "substitutes_for"]

_KEY = "substitutes"
_ALWAYS = "substitutes.always"  # item -> its chain's names, for chains without validity dates
_ILS = "substitutes.ils"        # (location, item, chain) -> item-locations, or None (see chain_ils)


@dataclasses.dataclass(frozen=True, slots=True)
class Substitute:
    """One link of an item's chain: the substitute, its preference (1 first) and validity."""

    item: str
    substitute: str
    preference: int
    valid_from: dt.date | None
    valid_to: dt.date | None

    def valid_on(self, day: dt.date) -> bool:
        """True when the substitute may be promised for a request dated `day`."""
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


def substitutes_for(snap: Snapshot) -> dict[str, tuple[Substitute, ...]]:
    """Item -> its substitutes by preference (then by name). Refuses, with a `SnapshotError`
    naming the row and column, an item listed as its own substitute and a validity that ends
    before it starts."""
    got = snap.derived.get(_KEY)
    if got is not None:
        return got
    out: dict[str, list[Substitute]] = {}
    table = snap.tables.get("substitutes")
    if table is not None and table.height:
        for r, row in enumerate(table.iter_rows(named=True), start=1):
            if row["item"] == row["substitute"]:
                raise SnapshotError("an item cannot substitute itself", file="substitutes", row=r, column="substitute",
                                    value=row["substitute"])
            vf, vt = row.get("valid_from"), row.get("valid_to")
            if vf is not None and vt is not None and vt < vf:
                raise SnapshotError("must not be before valid_from", file="substitutes", row=r, column="valid_to",
                                    value=str(vt))
            pref = row.get("preference")
            out.setdefault(row["item"], []).append(Substitute(row["item"], row["substitute"], int(pref or 1), vf, vt))
    frozen = {k: tuple(sorted(v, key=lambda s: (s.preference, s.substitute))) for k, v in out.items()}
    snap.derived[_ALWAYS] = {k: tuple(s.substitute for s in v) for k, v in frozen.items()
                             if all(s.valid_from is None and s.valid_to is None for s in v)}
    snap.derived[_KEY] = frozen
    return frozen


def chain(snap: Snapshot, item: str, day: dt.date) -> tuple[str, ...]:
    """The substitutes of `item` valid on `day`, most preferred first (empty: none)."""
    always = snap.derived.get(_ALWAYS)
    if always is not None:
        got = always.get(item)
        if got is not None:  # no validity dates: the same chain on every day
            return got
    subs = substitutes_for(snap).get(item)
    if not subs:
        return ()
    return tuple(s.substitute for s in subs if s.valid_on(day))


def chain_ils(snap: Snapshot, location: str, item: str, il0: int, subs: tuple[str, ...],
              plain: bytes) -> np.ndarray | None:
    """Item-locations (int64; -1: not stocked there) of `item` (its code `il0`) and its substitutes
    `subs` at `location`, cached per snapshot; None when a substitute is not a known item or an
    item-location of the chain is not answered by plain ATP alone (`plain[il]` 0: it has quota
    pools or the item is made there), so the general substitution path must answer."""
    cache = snap.derived.get(_ILS)
    if cache is None:
        cache = snap.derived.setdefault(_ILS, {})
    key = (location, item, subs)
    got = cache.get(key, key)
    if got is not key:
        return got
    lc = snap.location_index[location]
    ils = [il0]
    for sub in subs:
        ic = snap.item_index.get(sub)
        if ic is None:
            ils = None
            break
        ils.append(snap.il_index.get((ic, lc), -1))
    out = None
    if ils is not None and all(il < 0 or plain[il] for il in ils):
        out = np.array(ils, dtype=np.int64)
    cache[key] = out
    return out


def on_time_parts(state: State, ils: np.ndarray, qty: float, bucket: int) -> tuple[int, list[float]]:
    """What each item of a plain-ATP chain gives on the requested bucket, in one kernel call
    (`promising.kernels.on_time_chain_nb`): (-1 when the requested item alone covers `qty`, else
    the number of items reached; the quantity per item, then the rest still open)."""
    snap = state.snapshot
    out = np.empty(ils.shape[0] + 1)
    code = nb.on_time_chain_nb(state.cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open, ils, qty, bucket, out)
    return code, out.tolist()
