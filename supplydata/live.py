"""Zero-downtime supply refresh: a double-buffered (snapshot, state) pair.

The live pair serves promises. A refresh builds the new snapshot beside it (load and check,
outside every lock), replays onto a fresh state the commitments the new extract does not
contain yet (those after its `journal_seq`, or every open reservation where it has none),
then takes the write lock only to replay what was committed during the build and to swap
one reference. Readers hold a lease on the pair they started with and finish on it; the old
pair is freed when its last lease ends (Python reference counting does the freeing; the
lease count is what `status()` shows).

Real-time supply deltas (inventory adjustments, new or changed receipts) are applied to the
live state under the write lock, without a refresh. When the pair belongs to an order book,
the deltas are durable there (`delta_writer`), its replay re-applies them onto every new pair,
and `retire` marks those a new extract carries (by its ``journal_seq``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from promessa.errors import ConflictError, FormUnsupported, SnapshotError, ValidationError
from supplydata.snapshot import Snapshot, State, load_snapshot


@dataclasses.dataclass
class Served:
    """One buffer: a snapshot and the commitments on it."""

    snapshot: Snapshot
    state: State
    readers: int = 0


@dataclasses.dataclass(frozen=True)
class ReplayResult:
    """What a replay applied: the last journal sequence number it saw and the commitments
    that no longer fit (kept, and reported as exceptions)."""

    last_seq: int | None
    applied: int
    exceptions: tuple[dict, ...] = ()


# replay(snapshot, state, after_seq) -> ReplayResult. after_seq None means "every open
# reservation"; otherwise "every journal entry with a sequence number above after_seq".
Replayer = Callable[[Snapshot, State, int | None], ReplayResult]


@dataclasses.dataclass(frozen=True, slots=True)
class SupplyDelta:
    """A real-time supply change: `qty` is added (negative: removed) on `date`."""

    item: str
    location: str
    date: dt.date
    qty: float
    kind: str = "adjustment"   # adjustment | receipt
    ref: str | None = None


class LiveSupply:
    """The serving pair behind one reference, refreshed without stopping promises.

    `write_lock` must be held by every writer of the live state (promise + commit, release,
    deltas); the swap takes it for the catch-up replay and the reference swap only.
    """

    def __init__(self, snapshot: Snapshot, state: State | None = None, *, replay: Replayer | None = None,
                 seq_now: Callable[[], int] | None = None) -> None:
        self.write_lock = threading.RLock()
        self._lease_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._served = Served(snapshot, state if state is not None else snapshot.new_state())
        self._old: list[Served] = []
        self.replay = replay
        self.refreshes = 0
        self.last_refresh: dict | None = None
        self.last_error: dict | None = None
        self.refreshing = False
        self.deltas_applied = 0
        # deltas since the snapshot, stamped with the journal sequence number at arrival: a
        # refresh re-applies those its extract does not contain (seq above its journal_seq)
        self.seq_now = seq_now
        # prepare(snapshot): build models derived from a new snapshot (allocation, capable-to-
        # promise, sourcing) before it goes live, so no request pays for it
        self.prepare: Callable[[Snapshot], None] | None = None
        # retire(snapshot, through_seq): after a swap, mark durable the deltas the new extract
        # carries (the order book's supply deltas numbered up to through_seq: its journal_seq, or
        # without one the cut of the first replay pass); returns how many
        self.retire: Callable[[Snapshot, int], int] | None = None
        # delta_writer(deltas, idempotency) -> answer: where deltas go when the pair belongs to an
        # order book (durable there, replayed by `replay`); None: kept here, in memory only
        self.delta_writer: Callable[[list[SupplyDelta], tuple[str, str] | None], dict] | None = None
        # loader(directory) -> snapshot: how `refresh` builds the new snapshot (the composition root sets the
        # compact form's loader, with its start-up checks, when supply.form=compact)
        self.loader: Callable[[str | Path], Snapshot] = load_snapshot
        self._deltas: list[tuple[int, SupplyDelta]] = []
        self._idem: dict[str, tuple[str, dict]] = {}

    # ------------------------------------------------------------ reading
    @property
    def snapshot(self) -> Snapshot:
        return self._served.snapshot

    @property
    def state(self) -> State:
        return self._served.state

    @contextlib.contextmanager
    def lease(self) -> Iterator[Served]:
        """Use the current pair for a whole request; a swap meanwhile does not affect it."""
        with self._lease_lock:
            served = self._served
            served.readers += 1
        try:
            yield served
        finally:
            with self._lease_lock:
                served.readers -= 1
                if served.readers == 0 and served in self._old:
                    self._old.remove(served)

    # ------------------------------------------------------------ refresh
    def refresh(self, directory: str | Path, *, loader: Callable[[str | Path], Snapshot] | None = None) -> dict:
        """Build (with `loader`, default `self.loader`), replay and swap. Raises SnapshotError (live pair
        untouched) on a bad extract."""
        loader = loader or self.loader
        if not self._refresh_lock.acquire(blocking=False):
            raise RefreshBusy("a refresh is already running", hint="wait for it, then try again")
        self.refreshing = True
        try:
            t0 = time.perf_counter()
            try:
                snap = loader(directory)
            except (SnapshotError, FormUnsupported) as exc:  # a bad extract, or one the supply form cannot serve
                self.last_error = {"at": _now(), "source": str(directory), "message": str(exc)}
                raise
            build_s = time.perf_counter() - t0
            return self.install(snap, build_s=build_s)
        finally:
            self.refreshing = False
            self._refresh_lock.release()

    def install(self, snap: Snapshot, *, build_s: float = 0.0) -> dict:
        """Replay commitments onto a fresh state of `snap` and swap it in."""
        if self.prepare is not None:
            self.prepare(snap)
        t1 = time.perf_counter()
        state = snap.new_state()
        exceptions: list[dict] = []
        applied = 0
        last = snap.journal_seq
        if self.replay is not None:
            r = self.replay(snap, state, last)
            exceptions += r.exceptions
            applied += r.applied
            last = r.last_seq if r.last_seq is not None else last
        # what the extract carries: up to its journal_seq, or (without one) up to the first pass's cut
        carried = snap.journal_seq if snap.journal_seq is not None else last
        replay_s = time.perf_counter() - t1
        with self.write_lock:
            t2 = time.perf_counter()
            if self.replay is not None and last is not None:
                # commitments made while the new pair was built
                r = self.replay(snap, state, last)
                exceptions += r.exceptions
                applied += r.applied
                last = r.last_seq if r.last_seq is not None else last
            kept, lost = self._replay_deltas(snap, state)
            t3 = time.perf_counter()
            with self._lease_lock:
                old = self._served
                self._served = Served(snap, state)
                if old.readers:
                    self._old.append(old)
            swap_s = time.perf_counter() - t3
            catch_up_s = t3 - t2
        retired = self.retire(snap, carried) if self.retire is not None and carried is not None else 0
        self.refreshes += 1
        self.last_refresh = {
            "at": _now(), "source": snap.source, "version": snap.version, "as_of": snap.as_of.isoformat(),
            "build_s": round(build_s, 4), "replay_s": round(replay_s, 4), "catch_up_s": round(catch_up_s, 6),
            "swap_ms": round(swap_s * 1000, 4), "replayed": applied, "last_seq": last,
            "deltas_replayed": kept, "deltas_retired": retired, "exceptions": exceptions + lost,
        }
        self.last_error = None
        return self.last_refresh

    def _replay_deltas(self, snap: Snapshot, state: State) -> tuple[int, list[dict]]:
        """Under the write lock: re-apply the deltas the new extract does not contain. With no
        journal_seq the extract is taken to contain every delta so far (the log is cleared)."""
        seq = snap.journal_seq
        if seq is None:
            self._deltas = []
            return 0, []
        keep = [(s, d) for s, d in self._deltas if s > seq]
        lost = []
        for _, d in keep:
            il = snap.il_of(d.item, d.location) if d.item in snap.item_index and d.location in snap.location_index else -1
            if il < 0:
                lost.append({"delta": dataclasses.asdict(d) | {"date": d.date.isoformat()},
                             "problem": "the new snapshot has no such item-location"})
                continue
            try:
                b = snap.bucket(d.date)
            except ValidationError:
                lost.append({"delta": dataclasses.asdict(d) | {"date": d.date.isoformat()},
                             "problem": "dated past the new snapshot's horizon"})
                continue
            state.adjust_supply(il, b, d.qty)
        self._deltas = keep
        return len(keep) - len(lost), lost

    # ------------------------------------------------------------ deltas
    def validate_delta(self, d: SupplyDelta, *, index: int = 0) -> tuple[int, int]:
        snap = self.snapshot
        where = f"deltas[{index}]"
        if d.item not in snap.item_index:
            raise ValidationError("unknown item", field=f"{where}.item", value=d.item)
        if d.location not in snap.location_index:
            raise ValidationError("unknown location", field=f"{where}.location", value=d.location)
        il = snap.il_of(d.item, d.location)
        if il < 0:
            raise ValidationError("the item has no row at that location in the live snapshot",
                                  field=f"{where}.location", value=d.location, hint="it arrives with the next refresh")
        if not (d.qty == d.qty) or abs(d.qty) == float("inf"):
            raise ValidationError("must be a finite number", field=f"{where}.qty", value=d.qty)
        b = snap.bucket(d.date, field=f"{where}.date")
        return il, b

    def apply_deltas(self, deltas: list[SupplyDelta], *, idempotency: tuple[str, str] | None = None) -> dict:
        """Apply a batch of supply deltas to the live state, all or nothing.

        A removal that pushes a position below zero is applied (inventory is what it is) and
        reported: the commitments it uncovers are exceptions for the planner. With
        `idempotency` (key, request hash), the same key and request answer again without
        applying twice; the same key with another request is a conflict.

        When the pair belongs to an order book (`delta_writer` set), the deltas are written
        there, durably, and replayed by it at start-up and on every refresh."""
        if self.delta_writer is not None:
            return self.delta_writer(list(deltas), idempotency)
        with self.write_lock:
            if idempotency is not None:
                key, h = idempotency
                seen = self._idem.get(key)
                if seen is not None:
                    if seen[0] != h:
                        raise ConflictError(f"Idempotency-Key {key!r} was used with another request")
                    return {**seen[1], "replayed": True}
            coded = [self.validate_delta(d, index=i) for i, d in enumerate(deltas)]
            state = self.state
            uncovered = []
            for d, (il, b) in zip(deltas, coded):
                was_ok = state.min_from(il, b) >= -1e-9
                state.adjust_supply(il, b, float(d.qty))
                if was_ok and d.qty < 0 and (low := state.min_from(il, b)) < -1e-9:
                    uncovered.append({"item": d.item, "location": d.location, "date": d.date.isoformat(),
                                      "short": float(-low)})
            stamp = self.seq_now() if self.seq_now is not None else 0
            self._deltas += [(stamp, d) for d in deltas]
            self.deltas_applied += len(deltas)
            out = {"applied": len(deltas), "uncovered": uncovered, "version": self.snapshot.version}
            if idempotency is not None:
                self._idem[idempotency[0]] = (idempotency[1], out)
            return out

    # ------------------------------------------------------------ status
    def status(self) -> dict:
        snap = self.snapshot
        with self._lease_lock:
            old = [{"version": s.snapshot.version, "readers": s.readers} for s in self._old]
        return {
            **snap.status(),
            "refreshing": self.refreshing,
            "refreshes": self.refreshes,
            "deltas_applied": self.deltas_applied,
            "deltas_pending_extract": len(self._deltas),
            "last_refresh": self.last_refresh,
            "last_error": self.last_error,
            "retired_in_use": old,
        }


class RefreshBusy(ConflictError):
    """A refresh is already running."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
