"""Item substitution data: the chain of substitutes of each item, from the optional snapshot
table `substitutes` (item, substitute, preference, valid_from, valid_to).

`promising.engine.promise` uses it explicitly (see `_promise_with_substitutes` there). A chain
is per item and not transitive: the substitutes of a substitute are not followed. Built once
per snapshot and cached in `snap.derived["substitutes"]`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from promessa.errors import SnapshotError
from supplydata.snapshot import Snapshot

__all__ = ["Substitute", "chain", "substitutes_for"]

_KEY = "substitutes"
_ALWAYS = "substitutes.always"  # item -> its chain's names, for chains without validity dates


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
