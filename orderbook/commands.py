"""Commands: the ONE writer of orders.

:class:`OrderCommands` is the write half of `OrderService`. Every change to an order, to the
commitment state or to supply goes through one of its commands - capture, change, cancel,
approve/reject, fulfillment events, import, supply deltas and rescheduling apply - and each
runs inside `OrderService.execute`: under the lock, in a :class:`~orderbook.txn.Txn` (undo
log), durable (group commit) before the answer, idempotent by key. Packages above the order
book (scenarios, monitoring, the API) call these commands; none of them changes order state
itself.

Rescheduling is planned by the scenarios package on a copy of the state; the plan reaches
the order book as a :class:`ReschedulePlan` (or a `scenarios.backlog.RescheduleResult`) and is
applied here with the same typed records capture uses: `promising.Draw` reservations,
`ScheduleLine`s and a `PromiseRecord` (source ``reschedule``) per changed line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import os
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import ValidationError as PydanticValidationError

from orderbook import lifecycle, rules
from orderbook.lifecycle import OrderStatus as S
from orderbook.records import EPS, DeltaEntry, Draw, Hold, Line, Order, PromiseRecord, ScheduleLine, utcnow
from orderbook.schemas import FulfillmentEvent, ImportRow, LineCreate, ManualAdjustmentIn, OrderChange, OrderCreate
from pricing import ManualAdjustment
from orderbook.txn import Idem, Txn
from promessa.errors import ConflictError, NotFoundError, PromessaError, ValidationError
from promising import Policy, Promise, Reason, Request, Status
from promising import ScheduleLine as PromisedLine

Answer = tuple[int, str, bool]


class OrderCommands:
    """Writes of the order book (mixed into `OrderService`; every command runs in `execute`)."""

    @property
    def business_day(self) -> dt.date:
        """The one business clock: ``settings.clock.business_date``, else the served snapshot's as_of day."""
        return self.settings.clock.business_date or self.snap.as_of

    def _locate(self, order: Order, ln: Line, policy: Policy, field: str) -> None:
        """Set the line's ship-from location: kept once shipped, else the requested one, else the chooser's."""
        if ln.shipped_qty > EPS and ln.location:
            return  # a line that has shipped keeps its location
        if ln.requested_location:
            ln.location = ln.requested_location
            return
        if order.zone is None:
            raise ValidationError("a line needs a location, or the order a zone", field=field, value=None,
                                  hint="give the order's zone (or ship_to.zone) or the line's location")
        ln.location = self.chooser(self.snap, self.state, item=ln.item, qty=max(ln.open_qty, EPS),
                                   requested_date=ln.requested_date, zone=order.zone, policy=policy,
                                   demand_class=ln.demand_class or order.demand_class)


    # ------------------------------------------------------------------ pricing, rules and status
    def _reprice(self, order: Order, touched: set[int] | None = None) -> None:
        """Price `order` (`Commerce.price`) on the business day, storing each line's waterfall and the totals.

        A typed unit price is an override when it differs from the line's list unit price. With the freeze
        policy ``confirm``, a confirmed (frozen) order keeps the waterfall of every line not in `touched` and
        prices the others on the day it was first priced; otherwise the whole order is priced on the business day."""
        commerce = self.commerce
        frozen = order.totals is not None and order.totals.frozen and self.settings.pricing.freeze == "confirm"
        day = order.totals.on if frozen else self.business_day
        keep = {ln.line for ln in order.lines if ln.line not in (touched or set())} if frozen else set()
        typed = [ln for ln in order.lines if ln.unit_price is not None]
        for ln in typed:
            ln.price_override = False
        commerce.price(order, self.snap, day, keep=keep, configured=self.configured)
        overrides = False
        for ln in typed:
            ln.price_override = rules.is_override(ln.waterfall.unit_list_price.amount if ln.waterfall else None,
                                                  ln.unit_price, self.settings)
            overrides |= ln.price_override
        if overrides:
            commerce.price(order, self.snap, day, keep=keep, configured=self.configured)

    def hold_reasons(self, order: Order) -> list[Hold]:
        """Why `order` must wait for a planner: the approval rules (`rules.approval_holds`), the customer checks
        (unknown, blocked, credit limit) and trade compliance (denied parties, embargoes), less what an approval
        already released (the same customer hold at no higher exposure, the same list hits)."""
        out = rules.approval_holds(order, self.settings)
        approved = order.approval or {}
        released = set(approved.get("holds", ()))
        open_orders = (o for o in self.orders.of_customer(order.customer) if o.status in self.OPEN_STATUSES)
        for h in self.commerce.customer_holds(order, open_orders):
            if h.code in released:
                if h.code != "credit_limit":
                    continue
                prev = approved.get("credit_total")
                if prev is not None and order.totals is not None and order.totals.total.amount <= Decimal(prev):
                    continue
            out.append(h)
        result = self.commerce.screen(order, self.commerce.book_for(self.snap, self.business_day))
        if result is not None and result.hold:
            seen = set(approved.get("hits", ()))
            hits = [h.to_dict() for h in result.hits if _hit_key(h.to_dict()) not in seen]
            if hits:
                named = "; ".join(f"{h['subject']} {h['screened']!r} matches {h['list']} entry {h['entry']} "
                                  f"({h['matched']!r}, score {h['score']:g})" for h in hits)
                out.append(Hold("compliance", f"trade compliance: {named}", {"threshold": result.threshold}, tuple(hits)))
        return out

    @staticmethod
    def fulfilment_status(order: Order) -> S:
        """`rules.fulfilment_status`: scheduled, backordered, partially shipped or shipped."""
        return rules.fulfilment_status(order)

    def _settle(self, txn: Txn, order: Order, action: str, detail: dict | None = None) -> None:
        """Move the order to on_hold (if a hold rule fires) or to its fulfilment status (confirmed: its price is
        frozen under the freeze policy ``confirm``)."""
        holds = self.hold_reasons(order)
        order.holds = holds
        order.hold_reasons = [h.message for h in holds]
        dst = S.ON_HOLD if holds else self.fulfilment_status(order)
        if holds:
            detail = {**(detail or {}), "hold_reasons": order.hold_reasons, "holds": [h.to_dict() for h in holds]}
        if order.totals is not None:
            detail = {**(detail or {}), "totals": order.totals.to_dict()}
        txn.transition(order, dst, action, detail)
        if dst is S.ON_HOLD:
            self.metrics.inc("promessa_orders_held_total")
        else:
            self._freeze(order)

    def _freeze(self, order: Order) -> None:
        """A confirmed order's price is frozen (freeze policy ``confirm``)."""
        if order.totals is not None and not order.totals.frozen and self.settings.pricing.freeze == "confirm":
            order.totals = dataclasses.replace(order.totals, frozen=True)

    # ------------------------------------------------------------------ writes
    def capture(self, data: OrderCreate, *, actor: str, idem: Idem | None = None) -> tuple[int, str, bool]:
        """Validate, promise and commit a new order in one step; (201, the order, replayed) once durable."""
        return self.execute(actor, idem, self._capture_step(data))

    def capture_many(self, orders: Sequence[tuple[OrderCreate, Idem | None]], *,
                     actor: str) -> list[tuple[int, str, bool] | PromessaError]:
        """Capture a block of orders in one step of the lock and one group commit (`OrderService.execute_many`).

        Each order is validated, promised, committed and idempotent on its own, in the order given, exactly as
        `capture` would (an order sees the supply the orders before it took); a refused order changes nothing and
        its answer is the error that refused it (a `PromessaError`: 422, 409, ...). Every answer waits until the
        whole block is durable. Returns one answer per order: ``(201, the order, replayed)`` or the error."""
        return self.execute_many(actor, [(idem, self._capture_step(data)) for data, idem in orders])

    async def capture_async(self, data: OrderCreate, *, actor: str, idem: Idem | None = None) -> tuple[int, str, bool]:
        """`capture` for an event loop (`OrderService.execute_async`): the same step, the write awaited."""
        return await self.execute_async(actor, idem, self._capture_step(data))

    def _capture_step(self, data: OrderCreate) -> Callable[[Txn], tuple[int, Order]]:
        def run(txn: Txn) -> tuple[int, Order]:
            order = self._capture(txn, data)
            self.metrics.inc("promessa_orders_captured_total")
            return 201, order

        return run

    def _new_order(self, data: OrderCreate, *, allow_past: bool, actor: str, order_id: str | None = None,
                   created_at: dt.datetime | None = None) -> tuple[Order, Policy]:
        s = self.settings
        if len(data.lines) > s.api.max_lines:
            raise ValidationError(f"too many lines (at most {s.api.max_lines})", field="lines", value=len(data.lines))
        zone = (data.ship_to.zone if data.ship_to and data.ship_to.zone else None) or data.zone
        rules.check_zone(self.zones, data.zone, "zone")
        if data.ship_to is not None:
            rules.check_zone(self.zones, data.ship_to.zone, "ship_to.zone")
        rules.check_class(self.demand_classes, data.demand_class, "demand_class")
        lines = []
        for i, lc in enumerate(data.lines):
            if getattr(lc, "configuration", None) is not None:
                lines.append(self._configured_line(lc, i + 1, f"lines.{i}", allow_past=allow_past))
                continue
            rules.check_item(self.snap, lc.item, f"lines.{i}.item")
            rules.check_location(self.snap, lc.location, f"lines.{i}.location")
            rules.check_date(self.snap, lc.requested_date, f"lines.{i}.requested_date", allow_past=allow_past)
            rules.check_class(self.demand_classes, lc.demand_class, f"lines.{i}.demand_class")
            if lc.location is None and zone is None:
                raise ValidationError("a line needs a location, or the order a zone", field=f"lines.{i}.location",
                                      value=None, hint="give the order's zone (or ship_to.zone) or the line's location")
            lines.append(Line(line=i + 1, item=lc.item, qty=float(lc.qty), requested_date=lc.requested_date,
                              requested_location=lc.location, unit_price=lc.unit_price, demand_class=lc.demand_class))
        for k, m in enumerate(data.manual_adjustments or ()):
            if m.line <= len(lines) and lines[m.line - 1].configuration is not None:
                raise ValidationError("a configured line is priced from its options; it takes no manual adjustment",
                                      field=f"manual_adjustments.{k}.line", value=m.line)
        policy = rules.policy_of(data.policy)
        now = utcnow()
        order = Order(order_id=order_id or new_order_id(), customer=data.customer, status=str(S.CAPTURED),
                      lines=lines, zone=zone, ship_to=data.ship_to.model_dump(exclude_none=True) if data.ship_to else None,
                      demand_class=data.demand_class, priority=data.priority, created_at=created_at or now, updated_at=now,
                      created_by=actor, policy=data.policy.model_dump() if data.policy else None,
                      manual=_manual(data.manual_adjustments or (), len(lines)),
                      order_type=data.order_type, ship_method=data.ship_method)
        return order, policy

    def _configured_line(self, lc: Any, number: int, f: str, *, allow_past: bool = False) -> Line:
        """A configured line (`lc.configuration`): the configuration resolved (complete and valid on the business
        day, its version pinned; else a 422 naming ``<f>.configuration...`` and the rule or variable), the model's
        item and build location (or the line's location)."""
        if self.configured is None:
            raise ValidationError("configured lines are not taken here (no configurator is wired to the order book)",
                                  field=f"{f}.configuration", value=None, hint="order the plain item instead")
        r = self.configured.resolve(lc.configuration.model_dump(exclude_none=True), on=self.business_day,
                                    field=f"{f}.configuration")
        if lc.item is not None and lc.item != r.item:
            raise ValidationError(f"a {r.configuration['model']} configuration is the item {r.item!r}", field=f"{f}.item",
                                  value=lc.item, hint="leave the item out of a configured line")
        if lc.unit_price is not None:
            raise ValidationError("a configured line is priced from its options", field=f"{f}.unit_price",
                                  value=str(lc.unit_price), hint="leave the unit price out")
        loc = lc.location or r.location
        if loc is None:
            raise ValidationError("the model names no build location: give the line's location", field=f"{f}.location",
                                  value=None)
        rules.check_location(self.snap, loc, f"{f}.location")
        rules.check_date(self.snap, lc.requested_date, f"{f}.requested_date", allow_past=allow_past)
        rules.check_class(self.demand_classes, lc.demand_class, f"{f}.demand_class")
        return Line(line=number, item=r.item, qty=float(lc.qty), requested_date=lc.requested_date, requested_location=loc,
                    demand_class=lc.demand_class, configuration=r.configuration)

    def _promise_line(self, txn: Txn, order: Order, ln: Line, policy: Policy, *, source: str) -> None:
        """Promise and commit the line's open quantity: a configured line through its bill (`Txn.reserve_configured`),
        any other from its location (`Txn.reserve`)."""
        if ln.configuration is not None:
            if self.configured is None:
                raise ValidationError("configured lines are not taken here (no configurator is wired to the order book)",
                                      field=f"lines.{ln.line}.configuration", value=None)
            txn.reserve_configured(order, ln, self.configured, source=source)
        else:
            txn.reserve(order, ln, ln.open_qty, policy, source=source)

    def _capture(self, txn: Txn, data: OrderCreate, *, allow_past: bool = False, source: tuple[str, str] | None = None,
                 created_at: dt.datetime | None = None) -> Order:
        order, policy = self._new_order(data, allow_past=allow_past, actor=txn.actor, created_at=created_at or txn.now)
        if source is not None:
            order.source_system, order.source_order_id = source
        txn.add(order)
        txn.audit(order, "capture", {"source_system": source[0], "source_order_id": source[1]} if source else None,
                  to_status=S.CAPTURED)
        self._reprice(order)
        for i, ln in enumerate(order.lines):
            self._locate(order, ln, policy, f"lines.{i}.location")
            self._promise_line(txn, order, ln, policy, source="capture")
        self._settle(txn, order, "promise", {"promised": {str(ln.line): ln.promised_qty for ln in order.lines}})
        return order

    def _get_for_write(self, txn: Txn, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None:
            raise NotFoundError(f"unknown order {order_id!r}")
        return txn.touch(o)

    def change(self, order_id: str, data: OrderChange, *, actor: str, idem: Idem | None = None,
               if_version: int | None = None) -> tuple[int, str, bool]:
        """Change an open order (give back what has not shipped, promise again); (200, the order, replayed).
        `if_version`: refuse (409) unless the order is at that version."""
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            _check_version(order, if_version)
            self._change(txn, order, data)
            self.metrics.inc("promessa_orders_changed_total")
            return 200, order

        return self.execute(actor, idem, run)

    def _change(self, txn: Txn, order: Order, data: OrderChange) -> None:
        if S(order.status) not in lifecycle.CHANGEABLE:
            raise ConflictError(f"order {order.order_id!r} is {order.status} and can no longer be changed")
        s = self.settings
        rules.check_unique_lines((lc.line for lc in data.lines), "lines")
        rules.check_unique_lines(data.remove_lines, "remove_lines")
        policy = rules.policy_of(data.policy) if data.policy else rules.policy_of(order.policy)
        if data.policy:
            order.policy = data.policy.model_dump()
        affected: set[int] = set()
        relocate: set[int] = set()  # lines whose ship-from node is chosen again: new zone, new item or configuration
        new_zone = order.zone
        if data.zone is not None:
            rules.check_zone(self.zones, data.zone, "zone")
            new_zone = data.zone
        if data.ship_to is not None:
            rules.check_zone(self.zones, data.ship_to.zone, "ship_to.zone")
            order.ship_to = data.ship_to.model_dump(exclude_none=True)
            if data.ship_to.zone:
                new_zone = data.ship_to.zone
        detail: dict[str, Any] = {}
        if new_zone != order.zone:
            detail["zone"] = [order.zone, new_zone]
            order.zone = new_zone
            rezoned = {ln.line for ln in order.lines if ln.requested_location is None and ln.shipped_qty <= EPS}
            affected |= rezoned
            relocate |= rezoned
        removed = []
        for k, n in enumerate(data.remove_lines):
            ln = order.line(n)
            if ln is None:
                raise ValidationError("no such line", field=f"remove_lines.{k}", value=n)
            if ln.shipped_qty > EPS:
                raise ConflictError(f"line {n} has shipped {ln.shipped_qty:g} and cannot be removed",
                                    hint="reduce its qty to the shipped quantity instead")
            removed.append(ln)
        for i, lc in enumerate(data.lines):
            f = f"lines.{i}"
            if lc.line is None and lc.configuration is not None:
                for x in ("qty", "requested_date"):
                    if getattr(lc, x) is None:
                        raise ValidationError("required for a new line", field=f"{f}.{x}", value=None)
                number = max((x.line for x in order.lines), default=0) + 1
                order.lines.append(self._configured_line(lc, number, f))
                affected.add(number)
                continue
            if lc.line is None:
                if lc.item is None or lc.qty is None or lc.requested_date is None:
                    missing = next(x for x in ("item", "qty", "requested_date") if getattr(lc, x) is None)
                    raise ValidationError("required for a new line", field=f"{f}.{missing}", value=None)
                rules.check_item(self.snap, lc.item, f"{f}.item")
                rules.check_location(self.snap, lc.location, f"{f}.location")
                rules.check_date(self.snap, lc.requested_date, f"{f}.requested_date")
                rules.check_class(self.demand_classes, lc.demand_class, f"{f}.demand_class")
                number = max((x.line for x in order.lines), default=0) + 1
                order.lines.append(Line(line=number, item=lc.item, qty=float(lc.qty), requested_date=lc.requested_date,
                                        requested_location=lc.location, unit_price=lc.unit_price,
                                        demand_class=lc.demand_class))
                affected.add(number)
                continue
            ln = order.line(lc.line)
            if ln is None or ln in removed:
                raise ValidationError("no such line", field=f"{f}.line", value=lc.line)
            shipped = ln.shipped_qty > EPS
            if lc.configuration is not None:
                if shipped:
                    raise ConflictError(f"line {ln.line} has shipped; its configuration cannot change", hint="add a new line")
                if self.configured is None:
                    raise ValidationError("configured lines are not taken here (no configurator is wired to the order book)",
                                          field=f"{f}.configuration", value=None)
                r = self.configured.resolve(lc.configuration.model_dump(exclude_none=True), on=self.business_day,
                                            field=f"{f}.configuration")
                if lc.item is not None and lc.item != r.item:
                    raise ValidationError(f"a {r.configuration['model']} configuration is the item {r.item!r}",
                                          field=f"{f}.item", value=lc.item, hint="leave the item out of a configured line")
                txn.unreserve_open(order, ln)
                relocate.add(ln.line)
                ln.configuration, ln.item = r.configuration, r.item
                ln.unit_price, ln.price_override = None, False
                if lc.location is None and r.location is not None:
                    ln.requested_location = r.location
            elif ln.configuration is not None and lc.item is not None and lc.item != ln.item:
                raise ValidationError("a configured line's item comes from its model", field=f"{f}.item", value=lc.item,
                                      hint="change its configuration, or remove it and add a plain line")
            if ln.configuration is not None and lc.unit_price is not None:
                raise ValidationError("a configured line is priced from its options", field=f"{f}.unit_price",
                                      value=str(lc.unit_price), hint="leave the unit price out")
            if lc.item is not None and lc.item != ln.item:
                rules.check_item(self.snap, lc.item, f"{f}.item")
                if shipped:
                    raise ConflictError(f"line {ln.line} has shipped; its item cannot change", hint="add a new line")
                txn.unreserve_open(order, ln)
                relocate.add(ln.line)
                ln.item = lc.item
            if lc.location is not None and lc.location != ln.location:
                rules.check_location(self.snap, lc.location, f"{f}.location")
                if shipped:
                    raise ConflictError(f"line {ln.line} has shipped from {ln.location}; its location cannot change",
                                        hint="add a new line")
                txn.unreserve_open(order, ln)
                ln.requested_location = lc.location
            if lc.qty is not None:
                if lc.qty < ln.shipped_qty - EPS:
                    raise ValidationError(f"below the quantity already shipped ({ln.shipped_qty:g})",
                                          field=f"{f}.qty", value=lc.qty)
                ln.qty = float(lc.qty)
            if lc.requested_date is not None:
                rules.check_date(self.snap, lc.requested_date, f"{f}.requested_date")
                ln.requested_date = lc.requested_date
            if lc.unit_price is not None:
                ln.unit_price = lc.unit_price
            if lc.demand_class is not None:
                rules.check_class(self.demand_classes, lc.demand_class, f"{f}.demand_class")
                ln.demand_class = lc.demand_class
            affected.add(ln.line)
        if len(order.lines) > s.api.max_lines:
            raise ValidationError(f"too many lines (at most {s.api.max_lines})", field="lines", value=len(order.lines))
        if removed and len(removed) == len(order.lines):
            raise ValidationError("an order needs at least one line", field="remove_lines", value=data.remove_lines,
                                  hint="cancel the order instead")
        if data.manual_adjustments is not None:
            for k, m in enumerate(data.manual_adjustments):
                target = order.line(m.line)
                if target is not None and target.configuration is not None:
                    raise ValidationError("a configured line is priced from its options; it takes no manual adjustment",
                                          field=f"manual_adjustments.{k}.line", value=m.line)
            order.manual = _manual(data.manual_adjustments, max((x.line for x in order.lines), default=0))
            detail["manual_adjustments"] = [m.to_dict() for m in order.manual]
        # compensation: give back the old reservations of what has not shipped, then promise again
        for ln in removed:
            txn.unreserve_open(order, ln)
            order.lines.remove(ln)
        order.manual = [m for m in order.manual if order.line(int(m.line)) is not None]
        repriced = set(affected)
        if data.manual_adjustments is not None:
            repriced |= {int(m.line) for m in order.manual}
        if data.ship_to is not None:
            repriced |= {ln.line for ln in order.lines}  # a new destination: new tax
        self._reprice(order, repriced)
        moved: dict[str, list] = {}
        for ln in order.lines:
            if ln.line not in affected:
                continue
            txn.unreserve_open(order, ln)
            if ln.open_qty > EPS:
                before = ln.location
                # a quantity or date change keeps the node the line ships from; it moves only when asked (a
                # location), or when the zone, the item or the configuration changed (chosen again)
                if ln.location is None or ln.requested_location is not None or ln.line in relocate:
                    self._locate(order, ln, policy, f"lines.{ln.line}.location")
                if before is not None and ln.location != before:
                    moved[str(ln.line)] = [before, ln.location]
                self._promise_line(txn, order, ln, policy, source="change")
            else:
                ln.promise = None
        if moved:
            detail["moved"] = moved  # line -> [from, to]: the audit trail says where each line now ships from
        detail.update({"lines": sorted(affected), "removed": [ln.line for ln in removed],
                       "promised": {str(ln.line): ln.promised_qty for ln in order.lines}})
        self._settle(txn, order, "change", detail)

    def cancel(self, order_id: str, *, actor: str, idem: Idem | None = None, note: str | None = None,
               if_version: int | None = None) -> tuple[int, str, bool]:
        """Cancel what has not shipped (released); (200, the order, replayed). `if_version`: as for :meth:`change`."""
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            _check_version(order, if_version)
            self._close(txn, order, "cancel", note)
            self.metrics.inc("promessa_orders_cancelled_total")
            return 200, order

        return self.execute(actor, idem, run)

    def _close(self, txn: Txn, order: Order, action: str, note: str | None) -> None:
        """Cancel what has not shipped: release it; the order is cancelled, or shipped if some of it has."""
        st = S(order.status)
        shipped = any(ln.shipped_qty > EPS for ln in order.lines)
        # what shipped stays: shipped, or delivered when the customer has every unit that shipped
        delivered = shipped and all(ln.delivered_qty >= ln.shipped_qty - EPS for ln in order.lines) \
            and lifecycle.can_transition(st, S.DELIVERED)
        dst = (S.DELIVERED if delivered else S.SHIPPED) if shipped else S.CANCELLED
        if st not in lifecycle.OPEN:
            lifecycle.check_transition(st, S.CANCELLED, order_id=order.order_id, action=action)  # raises
        released = {}
        for ln in order.lines:
            released[str(ln.line)] = txn.unreserve_open(order, ln)
            if shipped:
                ln.qty = ln.shipped_qty
        holds = [h.to_dict() for h in order.holds]
        order.hold_reasons = []
        order.holds = []
        txn.transition(order, dst, action, {"released": released, "note": note, **({"holds": holds} if holds else {})})

    def decide(self, order_id: str, *, approve: bool, actor: str, idem: Idem | None = None,
               note: str | None = None, if_version: int | None = None) -> tuple[int, str, bool]:
        """Approve (`approve`) or reject an order on hold; (200, the order, replayed). `if_version`: as for :meth:`change`."""

        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            _check_version(order, if_version)
            if S(order.status) is not S.ON_HOLD:
                raise ConflictError(f"order {order_id!r} is {order.status}, not on hold; there is nothing to "
                                    f"{'approve' if approve else 'reject'}")
            needs_reason = [h.code for h in order.holds if h.code in _REASON_NEEDED]
            if needs_reason and not (note or "").strip():
                raise ValidationError(f"a reason is needed to {'release' if approve else 'reject'} a "
                                      f"{', '.join(sorted(set(needs_reason)))} hold", field="note", value=note,
                                      hint='send {"note": "<why>"}')
            if approve:
                prev = order.approval or {}
                order.approval = {
                    "by": txn.actor, "at": txn.now.isoformat(),
                    "value": order.totals.net.to_dict() if order.totals is not None else None,
                    "prices": {str(ln.line): str(ln.unit_price) for ln in order.lines if ln.price_override},
                    "manual": [m.to_dict() for m in order.manual],
                    "holds": sorted({*prev.get("holds", ()), *(h.code for h in order.holds)}),
                    "credit_total": (str(order.totals.total.amount) if order.totals is not None
                                     and any(h.code == "credit_limit" for h in order.holds) else prev.get("credit_total")),
                    "hits": sorted({*prev.get("hits", ()), *(_hit_key(x) for h in order.holds for x in h.hits)}),
                    "note": note}
                reasons, order.hold_reasons = order.hold_reasons, []
                holds, order.holds = order.holds, []
                txn.transition(order, self.fulfilment_status(order), "approve",
                               {"note": note, "hold_reasons": reasons, "holds": [h.to_dict() for h in holds]})
                self._freeze(order)
                self.metrics.inc("promessa_orders_approved_total")
            else:
                self._close(txn, order, "reject", note)
                self.metrics.inc("promessa_orders_rejected_total")
            return 200, order

        return self.execute(actor, idem, run)

    def event(self, order_id: str, ev: FulfillmentEvent, *, actor: str, idem: Idem | None = None) -> tuple[int, str, bool]:
        """Record a shipment or a delivery; (200, the order, replayed). A shipment dated before the
        supply it consumes is refused (ValidationError naming the line, the date and the supply)."""
        def run(txn: Txn) -> tuple[int, dict]:
            order = self._get_for_write(txn, order_id)
            if ev.type == "shipped":
                self._ship(txn, order, ev)
            else:
                self._deliver(txn, order, ev)
            self.metrics.inc("promessa_fulfillment_events_total", labels={"type": ev.type})
            return 200, order

        return self.execute(actor, idem, run)

    def _ship(self, txn: Txn, order: Order, ev: FulfillmentEvent) -> None:
        st = S(order.status)
        if st not in lifecycle.SHIPPABLE:
            lifecycle.check_transition(st, S.SHIPPED, order_id=order.order_id, action="ship")
            raise ConflictError(f"order {order.order_id!r} is {st} and cannot ship")
        at = self._event_time(ev, txn)
        # consumption is dated on the ship day (past days fall into bucket 0); a ship day past the
        # snapshot's horizon (a stale snapshot) leaves it on the schedule line's date
        ship_date = at.date() if at.date() <= self.snap.last_date else None
        wanted = ev.lines
        if wanted is None:
            wanted = [_EvLine(ln.line, sum(sl.open_qty for sl in ln.schedule), None) for ln in order.lines
                      if sum(sl.open_qty for sl in ln.schedule) > EPS]
            if not wanted:
                raise ConflictError(f"order {order.order_id!r} has no open scheduled quantity to ship")
        shipped = {}
        for i, el in enumerate(wanted):
            ln = order.line(el.line)
            if ln is None:
                raise ValidationError("no such line", field=f"lines.{i}.line", value=el.line)
            if el.location is not None and el.location != ln.location:
                raise ValidationError(f"line {ln.line} ships from {ln.location}", field=f"lines.{i}.location", value=el.location)
            avail = sum(sl.open_qty for sl in ln.schedule)
            if el.qty > avail + EPS:
                raise ConflictError(f"line {ln.line}: shipping {el.qty:g} exceeds the open scheduled quantity {avail:g}",
                                    hint="change the order first if more was shipped than promised")
            remaining = float(el.qty)
            for sl in sorted(ln.schedule, key=lambda x: x.date):
                if remaining <= EPS:
                    break
                take = min(remaining, sl.open_qty)
                if take > EPS:
                    txn.consume(order, ln, sl, take, ship_date, field="at")
                    remaining -= take
            ln.shipped_qty += float(el.qty)
            shipped[str(ln.line)] = float(el.qty)
        dst = self.fulfilment_status(order)
        txn.transition(order, dst, "ship", {"lines": shipped, "at": at.isoformat(), "reference": ev.reference})

    @staticmethod
    def _event_time(ev: FulfillmentEvent, txn: Txn) -> dt.datetime:
        at = ev.at or txn.now
        at = at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)
        if at > txn.now + dt.timedelta(days=1):
            raise ValidationError("an event cannot happen in the future", field="at", value=at.isoformat())
        return at

    def _deliver(self, txn: Txn, order: Order, ev: FulfillmentEvent) -> None:
        st = S(order.status)
        if st not in (S.PARTIALLY_SHIPPED, S.SHIPPED):
            lifecycle.check_transition(st, S.DELIVERED, order_id=order.order_id, action="deliver")
        wanted = ev.lines
        if wanted is None:
            wanted = [_EvLine(ln.line, ln.shipped_qty - ln.delivered_qty, None) for ln in order.lines
                      if ln.shipped_qty - ln.delivered_qty > EPS]
            if not wanted:
                raise ConflictError(f"order {order.order_id!r} has nothing shipped and not yet delivered")
        delivered = {}
        for i, el in enumerate(wanted):
            ln = order.line(el.line)
            if ln is None:
                raise ValidationError("no such line", field=f"lines.{i}.line", value=el.line)
            undelivered = ln.shipped_qty - ln.delivered_qty
            if el.qty > undelivered + EPS:
                raise ConflictError(f"line {ln.line}: delivering {el.qty:g} exceeds the shipped, undelivered quantity {undelivered:g}")
            ln.delivered_qty = min(ln.shipped_qty, ln.delivered_qty + float(el.qty))
            delivered[str(ln.line)] = float(el.qty)
        detail = {"lines": delivered, "at": self._event_time(ev, txn).isoformat(), "reference": ev.reference}
        if st is S.SHIPPED and all(ln.delivered_qty >= ln.qty - EPS for ln in order.lines):
            txn.transition(order, S.DELIVERED, "deliver", detail)
        else:
            txn.audit(order, "deliver", detail)

    # ------------------------------------------------------------------ bulk import
    def import_orders(self, source_system: str, rows: list[dict], *, actor: str,
                      idem: Idem | None = None) -> tuple[int, str, bool]:
        """Import rows of the orders table, an order at a time (a bad order spoils only itself);
        (200, a result per row, replayed)."""
        if len(rows) > self.settings.api.max_import_rows:
            raise ValidationError(f"too many rows (at most {self.settings.api.max_import_rows})", field="orders", value=len(rows))

        def run(txn: Txn) -> tuple[int, dict]:
            return 200, self._import(txn, source_system, rows)

        return self.execute(actor, idem, run)

    def _import(self, txn: Txn, source_system: str, rows: list[dict]) -> dict:
        results: list[dict] = [None] * len(rows)  # type: ignore[list-item]
        groups: dict[str, list[tuple[int, ImportRow]]] = {}
        bad_orders: set[str] = set()
        for i, raw in enumerate(rows):
            oid = raw.get("order") if isinstance(raw, dict) else None
            try:
                if not isinstance(raw, dict):
                    raise TypeError
                row = ImportRow.model_validate(raw)
            except (PydanticValidationError, TypeError) as exc:
                errs = ([{"loc": ["orders", i, *e["loc"]], "msg": e["msg"], "input": _jsonable_deep(e.get("input"))}
                         for e in exc.errors()] if isinstance(exc, PydanticValidationError)
                        else [{"loc": ["orders", i], "msg": "a row must be an object", "input": _jsonable(raw)}])
                results[i] = {"row": i, "order": str(oid) if oid is not None else None, "result": "error", "errors": errs}
                if oid is not None:
                    bad_orders.add(str(oid))
                continue
            groups.setdefault(row.order, []).append((i, row))
        created = dups = 0
        for oid, members in groups.items():
            def mark(result: str, *, order_id=None, status=None, errors_at: dict[int, list] | None = None,
                     members=members, oid=oid) -> None:
                for i, row in members:
                    errs = (errors_at or {}).get(i, [])
                    res = result
                    if result == "error" and not errs:
                        res = "rejected"
                        errs = [{"loc": ["orders", i], "msg": "another row of this order is invalid", "input": oid}]
                    results[i] = {"row": i, "order": oid, "line": row.line, "result": res, "order_id": order_id,
                                  "status": status, "errors": errs}

            if oid in bad_orders:
                mark("error")
                continue
            existing = self.store.import_key(source_system, oid) or next(
                (o for s_, so, o in txn.ws.import_keys if s_ == source_system and so == oid), None)
            if existing is not None:
                o = self.orders.get(existing)
                mark("duplicate", order_id=existing, status=o.status if o else None)
                dups += 1
                continue
            members.sort(key=lambda m: m[1].line)
            seen = set()
            dup_line = next((i for i, r in members if r.line in seen or seen.add(r.line)), None)
            if dup_line is not None:
                mark("error", errors_at={dup_line: [{"loc": ["orders", dup_line, "line"], "msg": "duplicate line number",
                                                     "input": members[[m[0] for m in members].index(dup_line)][1].line}]})
                continue
            first = members[0][1]
            customer = next((r.customer for _, r in members if r.customer), None)
            zone = next((r.zone for _, r in members if r.zone), None)
            if customer is None:
                mark("error", errors_at={members[0][0]: [{"loc": ["orders", members[0][0], "customer"],
                                                          "msg": "an order needs a customer", "input": None}]})
                continue
            sp = txn.savepoint()
            try:
                data = OrderCreate.model_construct(
                    customer=customer, zone=zone, ship_to=None, demand_class=first.demand_class, priority=first.priority,
                    policy=None, manual_adjustments=[],
                    lines=[LineCreate.model_construct(item=r.item, qty=r.qty, requested_date=r.requested_date,
                                                      location=r.location, unit_price=r.unit_price,
                                                      demand_class=r.demand_class) for _, r in members])
                order = self._capture(txn, data, allow_past=True, source=(source_system, oid), created_at=first.created_at)
                txn.ws.import_keys.append((source_system, oid, order.order_id))
            except ValidationError as exc:
                txn.rollback_to(sp)
                at, field = _row_of(exc.field, members)
                msg = exc.message.removeprefix(f"{exc.field}={exc.value!r}: ")
                mark("error", errors_at={at: [{"loc": ["orders", at, *field], "msg": msg, "input": _jsonable(exc.value)}]})
                continue
            except PromessaError as exc:
                txn.rollback_to(sp)
                mark("error", errors_at={members[0][0]: [{"loc": ["orders", members[0][0]], "msg": str(exc), "input": oid}]})
                continue
            mark("created", order_id=order.order_id, status=order.status)
            created += 1
        self.metrics.inc("promessa_import_rows_total", len(rows))
        errors = sum(1 for r in results if r["result"] in ("error", "rejected"))
        return {"source_system": source_system, "rows": len(rows), "created": created, "duplicates": dups,
                "errors": errors, "results": results}


    # ------------------------------------------------------------------ supply deltas
    def apply_supply_deltas(self, deltas: Sequence[Any], *, actor: str, idem: Idem | None = None) -> Answer:
        """Apply real-time supply deltas (inventory adjustments, new or changed receipts), all or nothing.

        Parameters
        ----------
        deltas : objects (or dicts) with ``item``, ``location``, ``date``, ``qty`` (added; negative:
            removed) and optionally ``kind`` (adjustment | receipt) and ``ref`` - for example
            `supplydata.live.SupplyDelta` or the API's delta schema.
        actor : who acts (the API key's name); recorded with each delta.
        idem : the Idempotency-Key and request hash, if any.

        Returns
        -------
        (200, body, replayed): body ``{"applied", "uncovered", "version", "journal_seq"}``; `uncovered`
        lists the positions a removal pushed below zero (commitments it uncovers, for the planner).

        Each delta is numbered from the journal sequence and written to the order book in the same
        transaction as its idempotency entry; it is re-applied at start-up and on every refresh until
        an extract's ``journal_seq`` carries it."""
        rows = [_delta_fields(d, i) for i, d in enumerate(deltas)]
        if not rows:
            raise ValidationError("at least one delta is needed", field="deltas", value=0)
        if len(rows) > self.settings.api.max_import_rows:
            raise ValidationError(f"too many deltas (at most {self.settings.api.max_import_rows})", field="deltas",
                                  value=len(rows))

        def run(txn: Txn) -> tuple[int, dict]:
            snap, state = self.snap, self.state
            coded = [self._check_delta(snap, e, i) for i, e in enumerate(rows)]
            uncovered = []
            for e, (il, b) in zip(rows, coded, strict=True):
                was_ok = state.min_from(il, b) >= -EPS
                txn.adjust_supply(il, b, e)
                if was_ok and e.qty < 0 and (low := state.min_from(il, b)) < -EPS:
                    uncovered.append({"item": e.item, "location": e.location, "date": e.date.isoformat(),
                                      "short": float(-low)})
            self.metrics.inc("promessa_supply_deltas_total", len(rows))
            return 200, {"applied": len(rows), "uncovered": uncovered, "version": snap.version, "journal_seq": self.seq}

        return self.execute(actor, idem, run)

    @staticmethod
    def _check_delta(snap, e: DeltaEntry, i: int) -> tuple[int, int]:
        where = f"deltas.{i}"
        if e.item not in snap.item_index:
            raise ValidationError("unknown item", field=f"{where}.item", value=e.item)
        if e.location not in snap.location_index:
            raise ValidationError("unknown location", field=f"{where}.location", value=e.location)
        pos = rules.delta_position(snap, e)
        if isinstance(pos, str):
            if snap.il_of(e.item, e.location) < 0:
                raise ValidationError("the item has no row at that location in the live snapshot",
                                      field=f"{where}.location", value=e.location, hint="it arrives with the next refresh")
            raise ValidationError(f"date outside the horizon (last day {snap.last_date})", field=f"{where}.date",
                                  value=e.date.isoformat())
        return pos

    # ------------------------------------------------------------------ rescheduling
    def apply_reschedule(self, config_or_result: Any, *, actor: str, idem: Idem | None = None,
                         progress: Callable[[str, float], None] | None = None) -> Answer:
        """Commit a rescheduling of the backlog: every changed line gives back its open reservation
        and reserves its new schedule, in one atomic, durable step.

        Parameters
        ----------
        config_or_result : a :class:`ReschedulePlan` (made by scenarios on a copy of the state, with
            the basis it was made on and how to plan again); a `scenarios.backlog.RescheduleResult`
            of the order book's backlog (applied as is: refused with a conflict if a line moved or a
            schedule no longer fits); or a `RescheduleConfig`, planned by the service's `planner`
            (wired by the composition root: `scenarios.service.plan`).
        actor : who acts (the API key's name); recorded in each order's audit trail.
        idem : the Idempotency-Key and request hash, if any.
        progress : told what takes time (planning), as (message, fraction).

        Returns
        -------
        (200, body, replayed): the rescheduling report plus ``applied`` (lines and orders changed,
        skipped lines, whether it was planned again under the lock, seconds).

        Each changed line gets the same typed records capture gives it: `Draw`s, `ScheduleLine`s and
        a `PromiseRecord` (source ``reschedule``) with the supply it pegs to."""
        t0 = time.perf_counter()

        def make_plan() -> ReschedulePlan:
            if isinstance(config_or_result, ReschedulePlan):
                return config_or_result
            if hasattr(config_or_result, "new_n") and hasattr(config_or_result, "lines"):
                return ReschedulePlan.from_result(config_or_result, self.snap)
            if self.planner is not None:
                return self.planner(self, config_or_result, progress=progress)
            raise ValidationError("no rescheduling planner is configured: pass a plan or a result", field="config",
                                  value=type(config_or_result).__name__)

        # a key answered before needs no plan: `execute` answers it (or refuses another body) without running
        answered = idem is not None and (idem.key in self._pending_idem or self.store.idempotency(idem.key) is not None)
        plan = None if answered else make_plan()

        def run(txn: Txn) -> tuple[int, dict]:
            nonlocal plan
            if plan is None:  # the answered key was forgotten meanwhile: plan here, under the lock
                plan = make_plan()
            replanned = False
            if plan.basis is not None and not plan.basis_holds(self):
                if plan.replan is None:
                    raise ConflictError("the order book changed since the rescheduling was planned",
                                        hint="plan again and apply the new plan")
                plan = plan.replan()
                replanned = True
            touched = self._apply_plan(txn, plan, checked=plan.basis is None)
            body = dict(plan.report)
            body["applied"] = {"lines_changed": len(plan.lines), "orders_changed": len(touched),
                               "skipped_lines": plan.skipped, "replanned_under_lock": replanned,
                               "seconds": round(time.perf_counter() - t0, 4)}
            self.metrics.inc("promessa_reschedule_applied_total")
            return 200, body

        return self.execute(actor, idem, run)

    def _apply_plan(self, txn: Txn, plan: ReschedulePlan, *, checked: bool) -> dict[str, Order]:
        """Release every changed line's open reservation, then reserve its new schedule; returns the touched orders."""
        from promising import pegs_for

        snap, state = self.snap, self.state
        touched: dict[str, Order] = {}
        targets: list[tuple[Order, Line, RescheduleLine]] = []
        for pl_ in plan.lines:
            order = self.orders.get(pl_.order_id)
            ln = order.line(pl_.line) if order is not None else None
            if order is None or ln is None or order.status not in self.OPEN_STATUSES:
                raise ConflictError(f"order {pl_.order_id!r} line {pl_.line} is no longer open to rescheduling",
                                    hint="plan again and apply the new plan")
            if checked and (abs(ln.open_qty - pl_.qty) > 1e-6
                            or (pl_.promise is None and not all(d.kind == "atp" for d in ln.draws))):
                raise ConflictError(f"order {pl_.order_id!r} line {pl_.line} changed since the rescheduling was planned "
                                    f"(open {ln.open_qty:g}, planned {pl_.qty:g})", hint="plan again and apply the new plan")
            txn.touch(order)
            touched[order.order_id] = order
            targets.append((order, ln, pl_))
        for order, ln, _ in targets:  # give back every changed line's reservation first
            txn.unreserve_open(order, ln)
        # then reserve, earliest schedule first: each line is pegged (like a capture) to the supply
        # the lines before it left, just before its own draws are committed
        for order, ln, pl_ in sorted(targets, key=lambda t: (min((d for d, _ in t[2].schedule), default=dt.date.max),
                                                             t[0].order_id, t[1].line)):
            dc = pl_.demand_class if pl_.demand_class is not None else (ln.demand_class or order.demand_class)
            if pl_.promise is not None:  # re-planned through the engine: its draws, as planned
                self._apply_promise(txn, order, ln, pl_)
                continue
            sched = [(d, q) for d, q in pl_.schedule if q > EPS]
            il = snap.il_of(ln.item, ln.location)
            pegs = ()
            if sched and il >= 0:
                pegs = pegs_for(snap, state, il, np.array([snap.bucket(d) for d, _ in sched], dtype=np.int64),
                                np.array([q for _, q in sched], dtype=np.float64))
            draws = []
            for d, q in sched:
                draw = Draw("atp", ln.item, ln.location, d, q, dc)
                if not txn.commit_draw(order, ln, draw):
                    raise ConflictError(f"order {order.order_id!r} line {ln.line}: {q:g} {ln.item} at {ln.location} on {d} "
                                        "no longer fits the supply", hint="plan again and apply the new plan")
                ln.schedule.append(ScheduleLine(date=d, qty=q))
                draws.append(draw)
            p = Promise(request=Request(ln.item, ln.location, ln.open_qty, ln.requested_date, Policy(), dc),
                        status=Status[pl_.status.upper()], reason=Reason[pl_.reason.upper()],
                        lines=tuple(PromisedLine(d, q) for d, q in sched), earliest_full_date=None, pegs=tuple(pegs),
                        committed=True, draws=tuple(draws))
            ln.promise = PromiseRecord.from_promise(p, source="reschedule",
                                                    details={"strategy": pl_.strategy, "change": pl_.change})
        for order in touched.values():
            dst = S.ON_HOLD if order.status == str(S.ON_HOLD) else rules.fulfilment_status(order)
            lines = sorted(pl_.line for o, _, pl_ in targets if o is order)
            txn.transition(order, dst, "reschedule", {"lines": lines,
                                                      "promised": {str(n): order.line(n).promised_qty for n in lines}})
        return touched

    @staticmethod
    def _apply_promise(txn: Txn, order: Order, ln: Line, pl_: RescheduleLine) -> None:
        """Reserve a re-planned line's new promise: every draw (positions, pools, capacity,
        components, substitutes) as planned, its schedule lines naming the item promised."""
        p = pl_.promise
        for draw in p.reservation.draws:
            if not txn.commit_draw(order, ln, draw):
                raise ConflictError(f"order {order.order_id!r} line {ln.line}: {draw.qty:g} {draw.key} at {draw.location} "
                                    f"on {draw.date} no longer fits", hint="plan again and apply the new plan")
        for sl in p.lines:
            if sl.qty > EPS:
                ln.schedule.append(ScheduleLine(date=sl.date, qty=float(sl.qty),
                                                item=sl.item if sl.item not in (None, ln.item) else None))
        ln.promise = PromiseRecord.from_promise(p, source="reschedule",
                                                details={"strategy": pl_.strategy, "change": pl_.change})


#: holds a planner releases or rejects only with a reason
_REASON_NEEDED = frozenset({"unknown_customer", "blocked_customer", "credit_limit", "compliance"})



_IDS = random.Random(os.urandom(32))  # order ids: 80 bits from a generator seeded once by the OS (no syscall per id)


def new_order_id() -> str:
    """A new order id, ``SO-`` and 20 hex digits (80 random bits)."""
    return f"SO-{_IDS.getrandbits(80):020x}"


def _hit_key(hit: dict) -> str:
    """What identifies a compliance hit an approval released: the subject, the list entry and the text screened."""
    return f"{hit.get('subject')}|{hit.get('entry')}|{hit.get('screened')}"


def _manual(items: Sequence[ManualAdjustmentIn], max_line: int) -> list[ManualAdjustment]:
    """The pricing records of manual adjustments from an API body (validated again by pricing's rules)."""
    out = []
    for k, m in enumerate(items):
        if m.line > max_line:
            raise ValidationError("no such line in the order", field=f"manual_adjustments.{k}.line", value=m.line)
        out.append(ManualAdjustment.from_dict({"line": m.line, "kind": m.kind, "value": str(m.value), "reason": m.reason},
                                              prefix=f"manual_adjustments.{k}."))
    return out


@dataclasses.dataclass
class _EvLine:
    line: int
    qty: float
    location: str | None


def _row_of(field: str, members: list[tuple[int, ImportRow]]) -> tuple[int, list]:
    """Map a capture field path (lines.K.item) back to the import row and its column."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(members):
        return members[int(parts[1])][0], parts[2:]
    return members[0][0], parts


def _jsonable_deep(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable_deep(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable_deep(x) for x in v]
    return _jsonable(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


def _delta_fields(d: Any, i: int) -> DeltaEntry:
    """A delta (object or dict) as an unnumbered DeltaEntry; missing or malformed fields are refused by name."""
    get = d.get if isinstance(d, dict) else (lambda k, default=None: getattr(d, k, default))
    where = f"deltas.{i}"
    for k in ("item", "location", "date", "qty"):
        if get(k) is None:
            raise ValidationError("required", field=f"{where}.{k}", value=None)
    day = get("date")
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            raise ValidationError("not a date (YYYY-MM-DD)", field=f"{where}.date", value=day) from None
    if isinstance(day, dt.datetime):
        day = day.date()
    try:
        qty = float(get("qty"))
    except (TypeError, ValueError):
        raise ValidationError("not a number", field=f"{where}.qty", value=get("qty")) from None
    if qty != qty or abs(qty) == float("inf"):
        raise ValidationError("must be a finite number", field=f"{where}.qty", value=repr(qty))
    kind = get("kind") or "adjustment"
    if kind not in ("adjustment", "receipt"):
        raise ValidationError("must be adjustment or receipt", field=f"{where}.kind", value=kind)
    return DeltaEntry(seq=0, item=str(get("item")), location=str(get("location")), date=day, qty=qty, kind=kind,
                      ref=get("ref"))


@dataclasses.dataclass(frozen=True, slots=True)
class RescheduleLine:
    """One changed line of a rescheduling plan: its new schedule and how it came about."""

    order_id: str
    line: int
    qty: float                                    # open quantity when planned
    schedule: tuple[tuple[dt.date, float], ...]   # new schedule lines (date, qty)
    status: str                                   # promising.Status name, lower case
    reason: str                                   # promising.Reason name, lower case
    demand_class: str | None = None
    strategy: str | None = None
    change: str | None = None
    # a line re-planned through the engine (quota pools, capable-to-promise, substitutes): its new
    # promise (`promising.Promise`); its draws are reserved exactly, its lines name their items
    promise: Any = None


@dataclasses.dataclass
class ReschedulePlan:
    """A rescheduling to apply: the changed lines, the report to answer with, and the basis it was
    planned on ((journal seq, snapshot, copy of the cumulative positions); None: check each line
    when applying) with `replan` to plan again under the lock when the basis moved."""

    lines: list[RescheduleLine]
    report: dict
    skipped: int = 0
    basis: tuple[int, Any, np.ndarray] | None = None
    replan: Callable[[], ReschedulePlan] | None = None

    def basis_holds(self, svc: Any) -> bool:
        """True when nothing moved supply since planning (same sequence, snapshot and positions).
        The sequence alone could come back to the same number after a failed group write was undone
        and another request made as many entries, so the positions must match exactly too."""
        seq, snap, cum = self.basis
        return svc.seq == seq and svc.snap is snap and np.array_equal(svc.state.cum, cum)

    @classmethod
    def from_result(cls, res: Any, snap: Any, *, skipped: int = 0, basis: tuple | None = None,
                    replan: Callable[[], ReschedulePlan] | None = None, max_report_lines: int = 1000) -> ReschedulePlan:
        """The plan of a `scenarios.backlog.RescheduleResult` whose lines carry ``order`` and ``line``:
        its changed lines (change other than ``unchanged``), new schedules dated on `snap`."""
        from orderbook.records import reason_name

        frame = res.lines
        for c in ("order", "line", "change", "status", "reason", "qty"):
            if c not in frame.columns:
                raise ValidationError("the rescheduling result lacks a column the order book needs", field=c, value=None,
                                      hint="reschedule the order book's backlog (it has order and line columns)")
        promises = getattr(res, "promises", None) or {}
        changed = np.flatnonzero((frame["change"] != "unchanged").to_numpy())
        if promises:  # a re-planned line whose draws changed on the same schedule (another item, pool)
            changed = np.union1d(changed, np.fromiter(promises, np.int64, len(promises)))
        cols = {c: frame[c].to_list() for c in ("order", "line", "qty", "status", "reason", "change")}
        dcs = frame["demand_class"].to_list() if "demand_class" in frame.columns else [None] * frame.height
        strategies = frame["strategy"].to_list() if "strategy" in frame.columns else [None] * frame.height
        lines = []
        for r in changed.tolist():
            sched = tuple((snap.date(int(res.new_b[r, k])), float(res.new_q[r, k])) for k in range(int(res.new_n[r]))
                          if float(res.new_q[r, k]) > EPS)
            lines.append(RescheduleLine(order_id=str(cols["order"][r]), line=int(cols["line"][r]), qty=float(cols["qty"][r]),
                                        schedule=sched, status=str(cols["status"][r]), reason=reason_name(cols["reason"][r]),
                                        demand_class=dcs[r], strategy=None if strategies[r] is None else str(strategies[r]),
                                        change=str(cols["change"][r]), promise=promises.get(r)))
        return cls(lines=lines, report=res.to_dict(max_lines=max_report_lines), skipped=skipped, basis=basis, replan=replan)


def _check_version(order: Order, if_version: int | None) -> None:
    """Refuse (409) a write made for another version of the order than the one it is at (None: any)."""
    if if_version is not None and order.version != if_version:
        raise ConflictError(f"order {order.order_id!r} is at version {order.version}, not {if_version}",
                            hint="read the order again and re-apply the change")
