"""Replay: the in-memory book rebuilt exactly from the durable one.

- :func:`rebuild` (start-up): every journal entry and supply delta after the snapshot's
  ``journal_seq`` is applied to a fresh state, in sequence order, and the orders are loaded.
- :func:`replay_into` (snapshot refresh, a `supplydata.live.Replayer`): the commitments and
  supply deltas the new extract does not carry are applied onto its fresh state.
- :func:`retire_carried` (after a refresh's swap): the supply deltas and catalogue changes the
  extract carries (numbered up to its ``journal_seq``) are marked retired in the store.

Everything that answered 2xx is in the store (journal, deltas, orders), so what memory holds
after a restart is what it held before.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from orderbook.records import DeltaEntry, JournalEntry, OrderMap
from orderbook.rules import delta_position
from promessa.errors import PromessaError
from promising import Reservation, reserve, reserve_many, unreserve
from supplydata import Snapshot, State

if TYPE_CHECKING:
    from orderbook.service import OrderService

log = logging.getLogger("promessa.orderbook")


def rebuild(svc: OrderService) -> None:
    """Rebuild orders, commitments and supply deltas exactly from the order book (under the lock)."""
    t0 = time.perf_counter()
    with svc.lock:
        snap = svc.snap
        state = snap.new_state()
        problems: list[str] = []
        after = snap.journal_seq or 0
        deltas = svc.store.supply_deltas(after, include_retired=snap.journal_seq is not None)
        entries: list[JournalEntry | DeltaEntry] = [*svc.store.journal_since(after), *deltas]
        entries.sort(key=lambda e: e.seq)
        for e in entries:
            if isinstance(e, DeltaEntry):
                pos = delta_position(snap, e)
                if isinstance(pos, str):
                    problems.append(f"seq {e.seq}: supply delta {e.item}@{e.location} {e.date} {e.qty:g}: {pos}")
                else:
                    state.adjust_supply(pos[0], pos[1], e.qty)
                continue
            draw = e.as_draw()
            try:
                if e.kind == "release":
                    unreserve(snap, state, Reservation((draw,)))
                elif reserve(snap, state, Reservation((draw,))):
                    problems.append(f"seq {e.seq}: {draw.key}@{draw.location} {draw.date} {draw.qty:g} exceeds supply")
            except PromessaError as exc:
                problems.append(f"seq {e.seq}: {exc}")
        svc.state = state
        svc.orders = OrderMap(svc.store.load_orders())
        svc.reservations = {r.reservation_id: r for r in svc.store.load_reservations()}
        svc.seq = svc.store.max_seq()
        svc.replay_exceptions = problems
    for p in problems[:20]:
        log.warning("replay: %s", p)
    log.info("rebuilt %d orders, %d supply deltas, journal seq %d, in %.3f s", len(svc.orders), len(deltas), svc.seq,
             time.perf_counter() - t0)


def pending_deltas(svc: OrderService, after_seq: int) -> list[DeltaEntry]:
    """Supply deltas after `after_seq`: written, then those still being written, in order."""
    written = svc.store.supply_deltas(after_seq)
    seen = {e.seq for e in written}
    queued = [e for p in (svc.committer.pending() if svc.committer else []) for e in p.txn.ws.deltas
              if e.seq > after_seq and e.seq not in seen]
    return sorted(written + queued, key=lambda e: e.seq) if queued else written


def replay_into(svc: OrderService, snap: Snapshot, state: State, after_seq: int | None):
    """Replay commitments and supply deltas onto `state` of `snap` (a `supplydata.live.Replayer`).

    `after_seq` given: every journal entry and delta after it (the extract holds the rest).
    None: the extract holds none of the commitments, and whatever shipped is gone from its
    supply, so every open reservation (orders' and active temporary holds') is replayed; it is taken to carry every delta so far.
    Draws and deltas that no longer fit are kept (draws) or skipped (deltas) and reported."""
    from supplydata.live import ReplayResult

    exceptions: list[dict] = []
    applied = 0
    # collect under the lock (a consistent cut at `last`), apply outside it: `state` is not
    # live yet, and what is committed meanwhile comes with the catch-up pass (after `last`)
    with svc.lock:
        last = svc.seq
        if after_seq is None:
            todo = [("commit", d, o.order_id) for o in svc.orders.values()
                    if o.status in svc.OPEN_STATUSES for ln in o.lines for d in ln.draws]
            todo += [("commit", d, r.reservation_id) for r in svc.reservations.values()
                     if r.status == "active" for ln in r.lines for d in ln.draws]  # temporary holds hold units too
            deltas: list[DeltaEntry] = []
        else:
            entries = svc.journal_entries_since(after_seq)
            todo = [(j.kind, j.as_draw(), j.order_id) for j in entries]
            deltas = pending_deltas(svc, after_seq)
    for e in deltas:  # supply first: commitments then fit against the adjusted positions
        pos = delta_position(snap, e)
        if isinstance(pos, str):
            exceptions.append({"delta": e.to_dict(), "problem": pos})
            continue
        state.adjust_supply(pos[0], pos[1], e.qty)
        applied += 1
    # one bulk call per direction (the result is additive; releases first, so a commitment
    # is reported only when it does not fit once the releases are in)
    for sign in (-1, +1):
        group = [t for t in todo if (t[0] == "release") == (sign < 0)]
        if not group:
            continue
        r = reserve_many(snap, state, [draw for _, draw, _ in group], sign=sign)
        for j in r.not_fitting:
            exceptions.append({"order_id": group[j][2], "draw": group[j][1].to_dict(), "problem": "exceeds supply"})
        for j, exc in r.errors:
            exceptions.append({"order_id": group[j][2], "draw": group[j][1].to_dict(), "problem": str(exc)})
        applied += len(group) - len(r.errors)
    return ReplayResult(last_seq=last, applied=applied, exceptions=tuple(exceptions))


def retire_carried(svc: OrderService, snap: Snapshot, through_seq: int) -> int:
    """After `snap` went live: mark retired the deltas it carries, those numbered up to
    `through_seq` (its ``journal_seq``; without one, the cut its first replay pass was made at,
    so deltas posted during the refresh stay live). Returns how many."""
    n = svc.store.retire_deltas(through_seq, by_seq=through_seq)
    if n:
        log.info("retired %d supply deltas carried by the extract (through seq %d)", n, through_seq)
    k = svc.store.retire_catalogue_changes(through_seq, by_seq=through_seq)
    if k:
        log.info("retired %d catalogue changes carried by the extract (through seq %d)", k, through_seq)
    with svc.lock:
        svc.commerce.changes = tuple(dataclasses.replace(e, retired_seq=through_seq)
                                     if e.seq <= through_seq and e.retired_seq is None else e for e in svc.commerce.changes)
    return n
