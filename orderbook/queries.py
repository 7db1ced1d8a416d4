"""Read models: everything that reads the order book, and nothing that writes it.

:class:`OrderQueries` is the read half of `OrderService` (one order, search, audit, inquiry,
time-phased ATP, the journal, the commitments); it renders the same typed records the
commands store. Two read models serve the packages above the order book:

- :func:`line_views` - every line with its order's header, schedule lines, pegs and last ship
  and delivery days (monitoring builds its frames from it);
- :func:`backlog_lines` / :func:`backlog_and_skipped` - the open, unshipped lines rescheduling
  may move, with their open reservations and the engine path each shows (`engine_path`,
  `REPLAN_PATHS`: quota pools, capable-to-promise, substitutes, re-planned through the engine;
  scenarios builds its backlog from it), and those it leaves alone with the reason
  (`SkippedLine`, `SKIP_REASONS`: asked for past the horizon).

Neither package reads the store's tables or its JSON documents itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from orderbook import lifecycle, rules
from orderbook.records import EPS, DeltaEntry, Draw, JournalEntry, Order
from orderbook.schemas import InquiryLine
from promessa.errors import FormUnsupported, NotFoundError, ValidationError
from promessa.money import Money
from promising import Request, promise

if TYPE_CHECKING:
    from orderbook.store import OrderStore

OPEN_STATUSES = frozenset(str(s) for s in lifecycle.OPEN)


class OrderQueries:
    """Reads of the order book (mixed into `OrderService`; uses its lock, orders, store and pair)."""

    OPEN_STATUSES = OPEN_STATUSES

    def get(self, order_id: str) -> dict:
        """One order as rendered to clients (NotFoundError when unknown)."""
        with self.lock:
            o = self.orders.get(order_id)
            if o is None:
                raise NotFoundError(f"unknown order {order_id!r}")
            return self.public(o)

    def public(self, o: Order, doc: dict | None = None) -> dict:
        """The client view of an order: its record, its value and per line the promised and backordered qty.
        ``doc``: ``o.to_dict()`` when the caller has it already (it is copied, not changed)."""
        if doc is None:
            d = o.to_dict()
        else:
            d = dict(doc)
            d["lines"] = [dict(dl) for dl in doc["lines"]]
        d.pop("policy", None)
        d["value"] = o.totals.net.to_dict() if o.totals is not None else None
        d["manual_adjustments"] = d.pop("manual")
        cur = o.totals.currency if o.totals is not None else self.settings.pricing.currency
        for ln, dl in zip(o.lines, d["lines"], strict=True):
            dl["promised_qty"] = ln.promised_qty
            dl["backordered_qty"] = ln.backordered_qty
            dl["unit_price"] = None if ln.unit_price is None else {"amount": str(ln.unit_price), "currency": cur}
        return d

    def search(self, **filters: Any) -> tuple[list[dict], int]:
        """Orders written to the book matching `filters` (see `OrderStore.search`): (page, total)."""
        orders, total = self.store.search(**filters)
        return [self.public(o) for o in orders], total

    def audit(self, order_id: str) -> list[dict]:
        """Every transition of an order: action, actor (the key that acted), when, from, to, detail."""
        with self.lock:
            if order_id not in self.orders:
                raise NotFoundError(f"unknown order {order_id!r}")
        return [a.to_dict() for a in self.store.audit(order_id)]

    def inquire(self, lines: list[InquiryLine], *, explain: bool = True) -> list[dict]:
        """Availability for each line; nothing is committed (and no lock is taken: advisory)."""
        if len(lines) > self.settings.api.max_lines:
            raise ValidationError(f"too many lines (at most {self.settings.api.max_lines})", field="lines", value=len(lines))
        out = []
        snap, state = self.pair()  # one consistent pair for the whole inquiry, even across a refresh
        for i, ln in enumerate(lines):
            rules.check_item(snap, ln.item, f"lines.{i}.item")
            rules.check_location(snap, ln.location, f"lines.{i}.location")
            rules.check_zone(self.zones, ln.zone, f"lines.{i}.zone")
            rules.check_class(self.demand_classes, ln.demand_class, f"lines.{i}.demand_class")
            rules.check_date(snap, ln.requested_date, f"lines.{i}.requested_date")
            pol = rules.policy_of(ln.policy)
            loc = ln.location
            if loc is None:
                if ln.zone is None:
                    raise ValidationError("a line needs a location or a zone", field=f"lines.{i}.location", value=None)
                loc = self.chooser(snap, state, item=ln.item, qty=ln.qty, requested_date=ln.requested_date,
                                   zone=ln.zone, policy=pol, demand_class=ln.demand_class)
            p = promise(snap, state, Request(ln.item, loc, ln.qty, ln.requested_date, pol, ln.demand_class),
                        explain=explain)
            out.append(p.to_dict())
        self.metrics.inc("promessa_inquiry_lines_total", len(lines))
        return out

    def atp(self, item: str, location: str, *, start: dt.date | None = None, end: dt.date | None = None) -> dict:
        """Time-phased ATP of an item-location: supply, demand, committed, cumulative, available per day."""
        from promising import atp_report

        snap, state = self.pair()
        if snap.form == "compact":
            raise FormUnsupported("the time-phased ATP report (supply, demand and committed per day)")
        rules.check_item(snap, item, "item")
        rules.check_location(snap, location, "location")
        df = atp_report(snap, state, item, location, start=start, end=end)
        il = snap.il_of(item, location)
        lt = int(snap.il_lead_time[il]) if il >= 0 else -1
        rows = df.select("date", "supply", "demand", "committed", "cumulative", "available", "discrete_atp").to_dicts()
        for r in rows:
            r["date"] = r["date"].isoformat()
            for k, v in r.items():
                if isinstance(v, float) and not math.isfinite(v):
                    r[k] = None  # unlimited (beyond the lead time) is reported as null
        return {"item": item, "location": location, "as_of": snap.as_of.isoformat(),
                "lead_time_days": lt if lt >= 0 else None, "rows": rows}

    def journal_entries_since(self, seq: int = 0) -> list[JournalEntry]:
        """Journal entries after `seq`: those written, then those made in memory and still being
        written (group commit), in sequence order. Call under `lock` for a stable answer."""
        written = self.store.journal_since(seq)
        seen = {j.seq for j in written}
        pending = [j for p in (self.committer.pending() if self.committer else []) for j in p.txn.ws.journal
                   if j.seq > seq and j.seq not in seen]
        return sorted(written + pending, key=lambda j: j.seq) if pending else written

    def journal_since(self, seq: int = 0, *, limit: int | None = None) -> list[dict]:
        """Commitment-journal entries after `seq` (what a snapshot refresh replays)."""
        entries = self.journal_entries_since(seq)
        return [j.to_dict() for j in (entries[:limit] if limit else entries)]

    def supply_deltas(self, after_seq: int = 0) -> list[DeltaEntry]:
        """Durable supply deltas after `after_seq` (retired ones included, marked), in order."""
        return self.store.supply_deltas(after_seq)

    def open_commitments(self) -> list:
        """Open (unshipped) reservations of the orders that hold supply."""
        return self.store.open_commitments()

    # -------------------------------------------------------------- customers, pricing, catalogue
    def customers(self, *, limit: int = 100, offset: int = 0) -> dict:
        """The customer master, by id: ``{data, total, configured}`` (``configured`` false: no customer check)."""
        master = self.commerce.master
        ids = sorted(master) if master is not None else []
        page = [master[i].to_dict() for i in ids[offset:offset + limit]]
        return {"data": page, "count": len(page), "total": len(ids), "configured": master is not None}

    def customer(self, customer_id: str) -> dict:
        """One customer record (NotFoundError when unknown)."""
        c = self.commerce.customer(customer_id)
        if c is None:
            raise NotFoundError(f"unknown customer {customer_id!r}")
        return c.to_dict()

    def pricing_records(self, kind: str) -> dict:
        """Every record of `kind` in the book (price lists with their entries, rules, tax rates, assignments),
        every version, with where it came from (``file`` or ``api``)."""
        from orderbook.commerce import PRICING_KINDS, ref_of

        if kind not in PRICING_KINDS:
            raise ValidationError(f"must be one of {', '.join(PRICING_KINDS)}", field="kind", value=kind)
        book = self.commerce.book
        recs = {"price_list": book.price_lists, "rule": book.rules, "tax_rate": book.tax_rates,
                "assignment": book.assignments}[kind]
        posted = {e.ref for e in self.commerce.records if e.kind == kind}
        data = [{"ref": ref_of(kind, r), "source": "api" if ref_of(kind, r) in posted else "file", "record": r.to_dict()}
                for r in recs]
        return {"kind": kind, "data": data, "count": len(data)}

    def quote(self, body: dict) -> dict:
        """Price an order without storing anything (`Commerce.quote`) on the business day."""
        return self.commerce.quote(body, self.snap, self.business_day)

    def catalogue_changes(self) -> dict:
        """Catalogue changes posted through the API, in order, the retired ones marked."""
        data = [e.to_dict() for e in self.commerce.changes]
        return {"data": data, "count": len(data), "journal_seq": self.seq}

    def catalogue_item(self, item: str) -> dict:
        """An item as pricing sees it on the business day (the extract's catalogue with the changes)."""
        cat = self.commerce.catalogue_for(self.snap, self.business_day)
        ci = cat.get(item)
        if ci is None:
            raise NotFoundError(f"unknown item {item!r}")
        return {"item": ci.item, "category": ci.category, "brand": ci.brand,
                "price": None if ci.price is None else {"amount": str(ci.price), "currency": cat.currency},
                "cost": None if ci.cost is None else {"amount": str(ci.cost), "currency": cat.currency},
                "tax_category": ci.tax_category, "item_class": ci.item_class, "description": ci.description,
                "in_supply_snapshot": item in self.snap.item_index, "as_of": self.business_day.isoformat()}

    def commitments(self) -> dict:
        """What the in-memory state holds on top of the snapshot, per item-location and date."""
        with self.lock:
            if self.snap.form == "compact":
                raise FormUnsupported("the commitments report (committed per item-location and date)")
            snap, cum = self.snap, self.state.cum
            diff = snap.base_cum - cum
            rows = np.flatnonzero(np.abs(diff).max(axis=1) > 1e-9) if diff.size else []
            out = []
            for il in rows:
                per = np.diff(diff[il], prepend=0.0)
                nz = np.flatnonzero(np.abs(per) > 1e-9)
                item, loc = snap.il_name(int(il))
                out.append({"item": item, "location": loc, "total": round(float(diff[il, -1]), 6),
                            "by_date": {snap.date(int(b)).isoformat(): round(float(per[b]), 6) for b in nz}})
            return {"journal_seq": self.seq, "committed_total": round(float(diff[:, -1].sum()) if diff.size else 0.0, 6),
                    "by_item_location": out}


# ------------------------------------------------------------------ read model: lines (monitoring)


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One schedule line of an order line."""

    order_id: str
    line: int
    sl: int
    item: str
    location: str | None
    date: dt.date
    qty: float
    shipped_qty: float
    demand_class: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PegRow:
    """One peg of a line's promise: the supply record (or replenishment) a promised quantity consumes."""

    order_id: str
    line: int
    qty: float
    supply_date: dt.date | None
    kind: str
    ref: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class LineRow:
    """One order line with its order's header and what happened to it (field order: monitoring's LINES).
    `net_value` is the line's priced net amount, exact, in `currency` (the waterfall's net, as
    :func:`priced_lines` gives it); both None when the line is not priced."""

    order_id: str
    line: int
    customer: str
    zone: str | None
    status: str
    demand_class: str | None       # the line's class, else the order's
    created_at: dt.datetime        # UTC, naive (the wall clock's stamp)
    order_date: dt.date            # the business day the order was priced on at capture (see `order_date`)
    item: str
    location: str | None
    qty: float
    requested_date: dt.date
    net_value: Decimal | None
    currency: str | None
    promised_qty: float
    shipped_qty: float
    delivered_qty: float
    promised_date: dt.date | None  # latest schedule line date
    earliest_full_date: dt.date | None
    last_ship_date: dt.date | None
    last_delivery_date: dt.date | None


@dataclasses.dataclass(frozen=True)
class LineViews:
    """The book's lines, schedule lines and pegs, sorted by order and line."""

    lines: list[LineRow]
    schedule: list[ScheduleRow]
    pegs: list[PegRow]


def book_version(store: OrderStore) -> tuple[int, int]:
    """A value that changes whenever an order is written (cache key for read models built from the book)."""
    return store.version()


def order_date(o: Order) -> dt.date:
    """An order's business date: the business-clock day it was priced on at capture (``totals.on``; the
    freeze policy keeps it once the order is confirmed). An order stored before it was priced falls back to
    its ``created_at`` day (UTC), the only date it has. Never the wall clock of the reader."""
    if o.totals is not None:
        return o.totals.on
    return o.created_at.astimezone(dt.timezone.utc).date()


def line_views(store: OrderStore) -> LineViews:
    """Every order written to the book as lines, schedule lines and pegs (read-only); each line carries its
    order's business date (:func:`order_date`), which reports, jeopardy and analytics date orders by."""
    dates = store.fulfilment_dates()
    lines, schedule, pegs = [], [], []
    for o in sorted(store.load_orders(), key=lambda o: o.order_id):
        created = o.created_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        day = order_date(o)
        for ln in sorted(o.lines, key=lambda x: x.line):
            dc = ln.demand_class or o.demand_class
            for k, sl in enumerate(ln.schedule):
                schedule.append(ScheduleRow(o.order_id, ln.line, k, ln.item, ln.location, sl.date, sl.qty, sl.shipped_qty, dc))
            prom = ln.promise
            for p in prom.pegs if prom else ():
                pegs.append(PegRow(o.order_id, ln.line, p.qty, p.supply_date, p.kind, p.ref))
            ship, deliver = dates.get((o.order_id, ln.line), (None, None))
            net = ln.waterfall.net if ln.waterfall is not None else None
            lines.append(LineRow(
                o.order_id, ln.line, o.customer, o.zone, str(o.status), dc, created, day, ln.item, ln.location,
                ln.qty, ln.requested_date, None if net is None else net.amount, None if net is None else net.currency,
                ln.promised_qty, ln.shipped_qty, ln.delivered_qty,
                max((sl.date for sl in ln.schedule), default=None), prom.earliest_full_date if prom else None, ship, deliver))
    return LineViews(lines, schedule, pegs)


# ------------------------------------------------------------------ read model: backlog (scenarios)


@dataclasses.dataclass(frozen=True, slots=True)
class BacklogLine:
    """An open, unshipped line rescheduling may move, with its open reservation. `open_value` is the open
    quantity's part of the line's priced net, exact in `currency` (see :func:`open_value`); both None when
    the line is not priced."""

    order_id: str
    line: int
    item: str
    location: str
    open_qty: float
    requested_date: dt.date
    demand_class: str | None
    customer: str
    zone: str | None
    priority: int | None
    created_at: dt.datetime
    open_value: Decimal | None
    currency: str | None
    draws: tuple[Draw, ...]
    # the engine path its reservation shows (a key of REPLAN_PATHS; None: the plain-ATP kernel's line)
    path: str | None = None
    # its open schedule lines (date, open qty), the confirmation rescheduling compares with
    schedule: tuple[tuple[dt.date, float], ...] = ()


def movable(ln) -> bool:
    """A line the rescheduling kernel re-promises: its open reservation is plain ATP on its own item
    and node (no capable-to-promise capacity or component draws, no allocation pools)."""
    return engine_path(ln) is None


# why rescheduling keeps a line as it is (the line's reservation stays in the state it plans on)
SKIP_REASONS = {
    "beyond_horizon": "requested after the snapshot's last day",
}

#: open lines the plain-ATP rescheduling kernel cannot re-promise, re-planned after it through the
#: promising engine (`scenarios.replan`), by the path their open reservation shows
REPLAN_PATHS = {
    "capable_to_promise": "its reservation holds capable-to-promise draws (resource capacity or components)",
    "substitution": "its reservation draws another item or node (a substitute)",
    "allocation": "its reservation draws demand-class quota pools",
}


def engine_path(ln) -> str | None:
    """Which engine path the open line's reservation shows (a key of `REPLAN_PATHS`), None for a
    plain-ATP reservation on its own item and node. Checked in this order: capacity or component
    draws, another item or node, quota pools."""
    draws = ln.draws
    if any(d.kind != "atp" for d in draws):
        return "capable_to_promise"
    if any(d.key != ln.item or d.location != ln.location for d in draws):
        return "substitution"
    if any(d.pools for d in draws):
        return "allocation"
    return None


def skip_reason(ln, last: dt.date | None = None) -> str | None:
    """Why rescheduling leaves the open line alone (a key of `SKIP_REASONS`), None when it may move it
    (with the kernel, or through the engine: `engine_path`)."""
    if last is not None and ln.requested_date > last:
        return "beyond_horizon"
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class SkippedLine:
    """An open, unshipped line rescheduling leaves as it is, and why."""

    order_id: str
    line: int
    item: str
    location: str
    open_qty: float
    requested_date: dt.date
    demand_class: str | None
    reason: str   # a key of SKIP_REASONS

    def to_dict(self) -> dict:
        return {"order": self.order_id, "line": self.line, "item": self.item, "location": self.location,
                "open_qty": self.open_qty, "requested_date": self.requested_date.isoformat(),
                "demand_class": self.demand_class, "reason": self.reason, "why": SKIP_REASONS[self.reason]}


def backlog_lines(svc) -> tuple[list[BacklogLine], int]:
    """The open, unshipped lines of the order book (call under `svc.lock`). Returns (lines,
    skipped) where skipped counts open lines left alone (`backlog_and_skipped` says which and why)."""
    lines, skipped = backlog_and_skipped(svc)
    return lines, len(skipped)


def backlog_and_skipped(svc) -> tuple[list[BacklogLine], list[SkippedLine]]:
    """The open, unshipped lines of the order book (call under `svc.lock`): those rescheduling may
    move (each with the engine path its reservation shows, `engine_path`), and those it leaves alone
    with the reason (`skip_reason`: asked for past the snapshot's horizon)."""
    out: list[BacklogLine] = []
    skipped: list[SkippedLine] = []
    last = svc.snap.last_date
    for o in svc.orders.values():
        if o.status not in OPEN_STATUSES:
            continue
        for ln in o.lines:
            if ln.open_qty <= EPS or not ln.location:
                continue
            why = skip_reason(ln, last)
            if why is not None:
                skipped.append(SkippedLine(o.order_id, ln.line, ln.item, ln.location, float(ln.open_qty),
                                           ln.requested_date, ln.demand_class or o.demand_class, why))
                continue
            value = open_value(ln)
            out.append(BacklogLine(o.order_id, ln.line, ln.item, ln.location, ln.open_qty, ln.requested_date,
                                   ln.demand_class or o.demand_class, o.customer, o.zone, o.priority, o.created_at,
                                   None if value is None else value.amount, None if value is None else value.currency,
                                   tuple(ln.draws), engine_path(ln),
                                   tuple((sl.date, float(sl.open_qty)) for sl in ln.schedule if sl.open_qty > EPS)))
    return out, skipped


def open_value(ln) -> Money | None:
    """The open (unshipped) quantity's part of a line's priced net: the whole net when nothing has shipped, else
    ``net x open_qty / qty`` rounded half up to the currency's minor unit; None when the line is not priced."""
    wf = ln.waterfall
    if wf is None:
        return None
    if ln.shipped_qty <= EPS or not ln.qty:
        return wf.net
    share = Decimal(repr(float(ln.open_qty))) / Decimal(repr(float(ln.qty)))
    return Money(wf.net.amount * share, wf.net.currency).rounded()


# ------------------------------------------------------------------ read model: priced lines (revenue)


@dataclasses.dataclass(frozen=True, slots=True)
class PricedLine:
    """One order line's priced amounts, exact (`promessa.money.Money`): list amount, net (revenue), tax and
    total, with the order's status and the business day it was priced on."""

    order_id: str
    line: int
    customer: str
    status: str
    item: str
    qty: Decimal
    currency: str
    priced_on: dt.date
    list_amount: Money
    net: Money
    tax: Money
    total: Money
    price_list: str
    rules: tuple[str, ...]


def priced_lines(store: OrderStore) -> list[PricedLine]:
    """Every priced line written to the book, exact, sorted by order and line (revenue reports read this)."""
    out = []
    for o in sorted(store.load_orders(), key=lambda o: o.order_id):
        if o.totals is None:
            continue
        for ln in sorted(o.lines, key=lambda x: x.line):
            wf = ln.waterfall
            if wf is None:
                continue
            out.append(PricedLine(o.order_id, ln.line, o.customer, str(o.status), ln.item, wf.qty, wf.net.currency,
                                  o.totals.on, wf.list_amount, wf.net, wf.tax, wf.total, wf.price_list,
                                  tuple(a.rule for a in wf.adjustments)))
    return out
