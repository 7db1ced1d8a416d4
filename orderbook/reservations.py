"""Temporary reservations (holds) of carts and quotes, with expiry.

A cart or a quote asks for lines like an order's; :meth:`ReservationCommands.create_reservation`
promises them now and reserves the units (each line's draws, journalled under the reservation's
id) until ``expires_at``. Until then the units are promised to no one else. The hold can be
extended, released on request, or converted to an order: the order takes over exactly the held
units (each draw is given back by the reservation and committed by the order in the same
transaction: nothing is promised twice, nothing a second time). Once ``expires_at`` has passed,
the expiry sweep (:class:`ExpirySweeper`, a thread the composition root starts; and once at
start-up, before serving) releases it.

Everything runs in `OrderService.execute` like every other write: under the lock, in a
:class:`~orderbook.txn.Txn` (undo log), durable before the answer, idempotent by key, audited
(``reservation.create``, ``.extend``, ``.release``, ``.expire``, ``.convert`` entries keyed by the
reservation's id). A restart replays the journal, so held units are held again exactly, and the
reservations table says which holds are still active.

Time to live is operational time, so ``expires_at`` is on the wall clock (UTC), read through the
service's ``wallclock`` (injectable for tests); business dates stay on the business clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from orderbook import rules
from orderbook.lifecycle import OrderStatus as S
from orderbook.records import Line, Order, ReservationStatus, ScheduleLine, StockReservation
from orderbook.schemas import ReservationConvert, ReservationCreate, ReservationExtend
from orderbook.txn import Idem, Txn
from promessa.errors import ConflictError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from orderbook.service import OrderService

log = logging.getLogger("promessa.orderbook.reservations")

R = ReservationStatus
Answer = tuple[int, str, bool]


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


class ReservationCommands:
    """Writes and reads of temporary reservations (mixed into `OrderService`; every write runs in `execute`)."""

    # ------------------------------------------------------------------ helpers
    def _ttl(self, ttl_s: float | None) -> float:
        cfg = self.settings.reservations
        ttl = cfg.default_ttl_s if ttl_s is None else float(ttl_s)
        if ttl > cfg.max_ttl_s:
            raise ValidationError(f"longer than the longest time to live ({cfg.max_ttl_s:g} s)", field="ttl_s", value=ttl_s,
                                  hint="extend the hold again later, or raise settings reservations.max_ttl_s")
        return ttl

    def _reservation(self, reservation_id: str) -> StockReservation:
        r = self.reservations.get(reservation_id)
        if r is None:
            raise NotFoundError(f"unknown reservation {reservation_id!r}")
        return r

    def _active(self, r: StockReservation, now: dt.datetime, action: str) -> None:
        """Refuse (409) to `action` a reservation that no longer holds units, or whose time has run out."""
        if r.status != R.ACTIVE:
            what = f" to order {r.order_id!r}" if r.order_id else ""
            raise ConflictError(f"reservation {r.reservation_id!r} is {r.status}{what}; it cannot be {action}",
                                hint="create a new reservation")
        if _utc(r.expires_at) <= now:
            raise ConflictError(f"reservation {r.reservation_id!r} expired at {_utc(r.expires_at).isoformat()}; "
                                f"it cannot be {action}", hint="create a new reservation")

    def _give_back(self, txn: Txn, r: StockReservation, dst: ReservationStatus, action: str, now: dt.datetime,
                   detail: dict | None = None) -> None:
        """Release every held draw of `r` (journalled), close it as `dst` and audit it."""
        txn.touch_reservation(r)
        released = {}
        for ln in r.lines:
            for d in reversed(ln.draws):
                txn.release_draw(r, ln, d)  # type: ignore[arg-type]  # journalled under the reservation's id
            ln.draws = []
            released[str(ln.line)] = ln.promised_qty
        prev = r.status
        r.status = str(dst)
        r.closed_at = now
        txn.audit_reservation(r, action, {"released": released, **(detail or {})}, from_status=prev)

    # ------------------------------------------------------------------ writes
    def create_reservation(self, data: ReservationCreate, *, actor: str, idem: Idem | None = None) -> Answer:
        """Promise the lines and hold their units until the time to live runs out; (201, the reservation, replayed).

        Each line is promised like an order line (location chosen from the zone when not given, the
        same policy); what is promised is reserved. Bad input is refused naming the field and value."""
        s = self.settings
        if len(data.lines) > s.api.max_lines:
            raise ValidationError(f"too many lines (at most {s.api.max_lines})", field="lines", value=len(data.lines))
        ttl = self._ttl(data.ttl_s)
        rules.check_zone(self.zones, data.zone, "zone")
        rules.check_class(self.demand_classes, data.demand_class, "demand_class")
        lines = []
        for i, lc in enumerate(data.lines):
            rules.check_item(self.snap, lc.item, f"lines.{i}.item")
            rules.check_location(self.snap, lc.location, f"lines.{i}.location")
            rules.check_date(self.snap, lc.requested_date, f"lines.{i}.requested_date")
            rules.check_class(self.demand_classes, lc.demand_class, f"lines.{i}.demand_class")
            if lc.location is None and data.zone is None:
                raise ValidationError("a line needs a location, or the reservation a zone", field=f"lines.{i}.location",
                                      value=None, hint="give the reservation's zone or the line's location")
            lines.append(Line(line=i + 1, item=lc.item, qty=float(lc.qty), requested_date=lc.requested_date,
                              requested_location=lc.location, demand_class=lc.demand_class))
        policy = rules.policy_of(data.policy)

        def run(txn: Txn) -> tuple[int, dict]:
            now = _utc(self.wallclock())
            r = StockReservation(reservation_id=f"RS-{uuid.uuid4().hex[:20]}", status=str(R.ACTIVE), lines=lines,
                                 expires_at=now + dt.timedelta(seconds=ttl), zone=data.zone, demand_class=data.demand_class,
                                 customer=data.customer, reference=data.reference,
                                 policy=data.policy.model_dump() if data.policy else None, created_at=now, updated_at=now,
                                 created_by=txn.actor)
            txn.add_reservation(r)
            for i, ln in enumerate(r.lines):
                self._locate(r, ln, policy, f"lines.{i}.location")  # type: ignore[arg-type]  # zone, demand class
                txn.reserve(r, ln, ln.qty, policy, source="reservation")  # type: ignore[arg-type]
            txn.audit_reservation(r, "reservation.create", {
                "ttl_s": ttl, "expires_at": r.expires_at.isoformat(), "reference": r.reference,
                "held": {str(ln.line): ln.promised_qty for ln in r.lines}})
            self.metrics.inc("promessa_reservations_created_total")
            return 201, self.public_reservation(r)

        return self.execute(actor, idem, run)

    def extend_reservation(self, reservation_id: str, data: ReservationExtend, *, actor: str,
                           idem: Idem | None = None) -> Answer:
        """Hold the units `data.ttl_s` seconds from now (an active, unexpired reservation); (200, it, replayed)."""
        ttl = self._ttl(data.ttl_s)

        def run(txn: Txn) -> tuple[int, dict]:
            now = _utc(self.wallclock())
            r = self._reservation(reservation_id)
            self._active(r, now, "extended")
            txn.touch_reservation(r)
            old = r.expires_at
            r.expires_at = now + dt.timedelta(seconds=ttl)
            txn.audit_reservation(r, "reservation.extend", {"ttl_s": ttl, "from": _utc(old).isoformat(),
                                                            "expires_at": r.expires_at.isoformat()}, from_status=r.status)
            return 200, self.public_reservation(r)

        return self.execute(actor, idem, run)

    def release_reservation(self, reservation_id: str, *, actor: str, idem: Idem | None = None,
                            note: str | None = None) -> Answer:
        """Give the held units back now; (200, the reservation, replayed). Releasing a reservation that was
        already released or expired changes nothing and answers it as it is; a converted one is refused (409)."""
        def run(txn: Txn) -> tuple[int, dict]:
            r = self._reservation(reservation_id)
            if r.status in (R.RELEASED, R.EXPIRED):
                return 200, self.public_reservation(r)
            if r.status == R.CONVERTED:
                raise ConflictError(f"reservation {reservation_id!r} was converted to order {r.order_id!r}",
                                    hint="cancel the order instead")
            self._give_back(txn, r, R.RELEASED, "reservation.release", _utc(self.wallclock()), {"note": note})
            self.metrics.inc("promessa_reservations_released_total")
            return 200, self.public_reservation(r)

        return self.execute(actor, idem, run)

    def convert_reservation(self, reservation_id: str, data: ReservationConvert, *, actor: str,
                            idem: Idem | None = None) -> Answer:
        """Turn an active reservation into an order holding exactly its units; (201, the order, replayed).

        The order's lines are the reservation's (item, quantity, location, schedule lines, promise:
        source ``reservation``); each held draw is released by the reservation and committed by the
        order in this one transaction, so no unit is promised again or counted twice. The order is
        priced and checked by the hold rules like a captured one (it may wait for approval, its units
        still reserved). Converting a converted reservation again answers its order (200) without a
        new one, unless another customer is named (409)."""
        def run(txn: Txn) -> tuple[int, dict]:
            now = _utc(self.wallclock())
            r = self._reservation(reservation_id)
            customer = data.customer or r.customer
            if r.status == R.CONVERTED and r.order_id in self.orders:
                order = self.orders[r.order_id]
                if data.customer is not None and data.customer != order.customer:
                    raise ConflictError(f"reservation {reservation_id!r} was converted to order {order.order_id!r} of "
                                        f"customer {order.customer!r}", hint="create a new reservation for another customer")
                return 200, order
            self._active(r, now, "converted")
            if customer is None:
                raise ValidationError("an order needs a customer", field="customer", value=None,
                                      hint="name the customer in the conversion or in the reservation")
            zone = (data.ship_to.zone if data.ship_to and data.ship_to.zone else None) or r.zone
            if data.ship_to is not None:
                rules.check_zone(self.zones, data.ship_to.zone, "ship_to.zone")
            order = Order(order_id=f"SO-{uuid.uuid4().hex[:20]}", customer=customer, status=str(S.CAPTURED),
                          lines=[_order_line(ln) for ln in r.lines], zone=zone,
                          ship_to=data.ship_to.model_dump(exclude_none=True) if data.ship_to else None,
                          demand_class=r.demand_class, priority=data.priority, created_at=txn.now, updated_at=txn.now,
                          created_by=txn.actor, policy=r.policy)
            txn.add(order)
            txn.audit(order, "capture", {"reservation_id": r.reservation_id}, to_status=S.CAPTURED)
            txn.touch_reservation(r)
            moved = {}
            for rl, ol in zip(r.lines, order.lines, strict=True):
                for d in rl.draws:  # the same units change hands: given back by the hold, committed by the order
                    txn.release_draw(r, rl, d)  # type: ignore[arg-type]
                    txn.commit_draw(order, ol, d)
                moved[str(rl.line)] = rl.promised_qty
                rl.draws = []
            self._reprice(order)
            prev = r.status
            r.status = str(R.CONVERTED)
            r.order_id = order.order_id
            r.closed_at = now
            txn.audit_reservation(r, "reservation.convert", {"order_id": order.order_id, "moved": moved}, from_status=prev)
            self._settle(txn, order, "promise", {"promised": {str(ln.line): ln.promised_qty for ln in order.lines},
                                                 "reservation_id": r.reservation_id})
            self.metrics.inc("promessa_reservations_converted_total")
            self.metrics.inc("promessa_orders_captured_total")
            return 201, order

        return self.execute(actor, idem, run)

    def expire_due(self, *, actor: str = "scheduler") -> list[str]:
        """Release every active reservation whose ``expires_at`` has passed (on the service's wall clock), in one
        durable transaction; returns their ids (none due: nothing is written)."""
        with self.lock:
            now = _utc(self.wallclock())
            if not any(r.status == R.ACTIVE and _utc(r.expires_at) <= now for r in self.reservations.values()):
                return []
        expired: list[str] = []

        def run(txn: Txn) -> tuple[int, dict]:
            now = _utc(self.wallclock())
            due = sorted((r for r in self.reservations.values() if r.status == R.ACTIVE and _utc(r.expires_at) <= now),
                         key=lambda r: (r.expires_at, r.reservation_id))
            for r in due:
                self._give_back(txn, r, R.EXPIRED, "reservation.expire", now, {"expires_at": _utc(r.expires_at).isoformat()})
                expired.append(r.reservation_id)
            self.metrics.inc("promessa_reservations_expired_total", len(due))
            return 200, {"expired": list(expired)}

        self.execute(actor, None, run)
        if expired:
            log.info("released %d expired reservation(s)", len(expired))
        return expired

    # ------------------------------------------------------------------ reads
    def next_expiry(self) -> dt.datetime | None:
        """When the next active reservation expires (None: none is active)."""
        with self.lock:
            return min((_utc(r.expires_at) for r in self.reservations.values() if r.status == R.ACTIVE), default=None)

    def public_reservation(self, r: StockReservation) -> dict[str, Any]:
        """The client view of a reservation: its record, the units it holds, per line promised and short."""
        d = r.to_dict()
        d.pop("policy", None)
        d["held_qty"] = r.held_qty
        for ln, dl in zip(r.lines, d["lines"], strict=True):
            dl["promised_qty"] = ln.promised_qty
            dl["backordered_qty"] = ln.backordered_qty
        return d

    def get_reservation(self, reservation_id: str) -> dict[str, Any]:
        """One reservation as rendered to clients (NotFoundError when unknown)."""
        with self.lock:
            return self.public_reservation(self._reservation(reservation_id))

    def list_reservations(self, *, status: list[str] | None = None, reference: str | None = None, limit: int = 100,
                          offset: int = 0) -> tuple[list[dict], int]:
        """Reservations (newest first) with one of `status` and the given `reference`: (page, total)."""
        with self.lock:
            rows = [r for r in self.reservations.values()
                    if (not status or r.status in status) and (reference is None or r.reference == reference)]
            rows.sort(key=lambda r: (r.created_at, r.reservation_id), reverse=True)
            return [self.public_reservation(r) for r in rows[offset:offset + limit]], len(rows)

    def reservation_audit(self, reservation_id: str) -> list[dict]:
        """Every action on a reservation: create, extend, release, expire, convert (who, when, from, to, detail)."""
        with self.lock:
            self._reservation(reservation_id)
        return [a.to_dict() for a in self.store.audit(reservation_id)]


def _order_line(rl: Line) -> Line:
    """The order line of a reservation line: the same ask, location, schedule and promise (source ``reservation``);
    its draws are moved by the conversion itself."""
    promise = dataclasses.replace(rl.promise, source="reservation") if rl.promise is not None else None
    return Line(line=rl.line, item=rl.item, qty=rl.qty, requested_date=rl.requested_date, location=rl.location,
                requested_location=rl.requested_location, demand_class=rl.demand_class,
                schedule=[ScheduleLine(date=sl.date, qty=sl.qty, item=sl.item) for sl in rl.schedule], promise=promise)


class ExpirySweeper:
    """The scheduler in the server that releases expired reservations (`OrderService.expire_due`).

    A daemon thread wakes at the next expiry (or every `interval_s`, whichever comes first; ``notify``
    wakes it at once) and releases what is due. A failed sweep is logged and tried again."""

    def __init__(self, svc: OrderService, *, interval_s: float = 1.0) -> None:
        self.svc = svc
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0

    def start(self) -> ExpirySweeper:
        self._thread = threading.Thread(target=self._loop, name="reservation-expiry", daemon=True)
        self._thread.start()
        return self

    def notify(self) -> None:
        """Look again now (a hold was created or extended: the next expiry may be sooner)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.interval_s
            nxt = self.svc.next_expiry()
            if nxt is not None:
                wait = max(0.0, min(wait, (nxt - _utc(self.svc.wallclock())).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.svc.expire_due()
                self.sweeps += 1
            except Exception:  # noqa: BLE001 - the store may be briefly unavailable: try again next round
                log.exception("releasing expired reservations failed; retrying")
                self._stop.wait(self.interval_s)
