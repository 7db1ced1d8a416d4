"""The channel ledger: accruals and claims as a pure function of an append-only journal.

Journal records are dicts with a ``type``:

- ``programs``: programs defined or replaced (``programs``: their dict form);
- ``shipped``, ``returned``, ``stock_on_hand``: the events (``channel.events``);
- ``claim``: a claim created (its id, supplier, currency, period and the accruals on it);
- ``status``: a claim moved along its lifecycle (``channel.claims.TRANSITIONS``);
- ``receipt``: money received for a claim, paid or deducted from a supplier invoice.

``replay(records)`` folds them into a ``LedgerState``; ``ChannelLedger`` checks each batch
against the state, appends it to its ``JournalStore`` (durable before it answers) and only
then applies it, so the state it holds always equals ``replay(store.load())``.

Accrual rules (each shipped line against each program eligible on its ship date, fixed at
shipment; a return reverses pro rata whatever the shipment accrued, on any program, also
after the program expired or the accrual was claimed):

- the amount of a line for a program is its *target*: net units (shipped minus returned)
  times what a unit earns, rounded half up to the minor unit once per line;
- a retroactive volume rebate's target uses the rate of the tier the period's net units
  reach; when an event moves the period to another tier, every other line of the period gets
  a ``tier_adjustment`` record up to its new target (the period is re-accrued);
- an incremental rebate gives each line the tiers its units fall in, in journal order; a
  return moves later lines' units down, and they are adjusted the same way.

So for every (sale, program) the records add up to the target, and a sale has exactly one
``accrual`` record per program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from channel.claims import ClaimStatus, check_transition
from channel.events import (
    Event,
    ReturnedLine,
    ShippedLine,
    StockOnHand,
    as_date,
    event_from_dict,
    event_to_dict,
)
from channel.programs import Program, ProgramKind, program_from_dict
from channel.store import JournalStore, MemoryJournal
from promessa.errors import ConflictError, NotFoundError, ValidationError
from promessa.money import Money, quantum

ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True, slots=True)
class Accrual:
    """One accrual record: what ``program`` earns (or gives back) on ``source`` (a shipment or a stock count).

    ``kind``: ``accrual`` (the sale or count itself), ``reversal`` (a return), ``tier_adjustment``
    (a rebate period re-accrued). ``qty`` is the units the record is about (negative for a
    reversal), ``basis`` says in words what the amount is computed on, ``rate`` is the rate
    applied (None where it is a cost difference), ``posted`` the business day of the event.
    """

    id: str
    seq: int
    event: str
    source: str
    program: str
    supplier: str
    kind: str
    period: str
    posted: dt.date
    qty: Decimal
    basis: str
    rate: Decimal | None
    amount: Money


@dataclasses.dataclass(slots=True)
class Claim:
    """A claim to a supplier: its accrual lines, amounts and lifecycle (``status``, ``history``)."""

    claim: str
    supplier: str
    currency: str
    period_start: dt.date
    period_end: dt.date
    created: dt.date
    accruals: list[str]
    total: Decimal
    status: ClaimStatus = ClaimStatus.DRAFT
    submitted: dt.date | None = None
    received: Decimal = ZERO
    written_off: Decimal = ZERO
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    receipts: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def open_amount(self) -> Decimal:
        """What is still expected from the supplier (0 once settled or written off)."""
        if self.status in (ClaimStatus.SETTLED, ClaimStatus.WRITTEN_OFF):
            return ZERO
        return self.total - self.received

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.currency)


@dataclasses.dataclass(slots=True)
class _PeriodBook:
    lines: list[str] = dataclasses.field(default_factory=list)
    cum: Decimal = ZERO
    rate: Decimal = ZERO


def _round(x: Decimal, currency: str) -> Decimal:
    return x.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def unit_basis(p: Program, sl: ShippedLine) -> Decimal:
    """What one unit of ``sl`` is worth to a rate of ``p``: 1 for per-unit rates, price/100 for percentages."""
    return sl.unit_price.amount / 100 if p.rate_kind == "percent" else Decimal(1)


def eligible(p: Program, sl: ShippedLine) -> bool:
    """True when shipped line ``sl`` earns on program ``p`` (supplier, currency, dates, product, buyer, kind rules)."""
    if p.kind is ProgramKind.PRICE_PROTECTION or p.supplier != sl.supplier or p.currency != sl.unit_price.currency:
        return False
    if not p.active_on(sl.ship_date) or not p.covers_item(sl.item, sl.category, sl.brand):
        return False
    if not p.covers_buyer(sl.customer, sl.segment, sl.channel):
        return False
    if p.kind is ProgramKind.SHIP_AND_DEBIT:
        if sl.unit_cost.amount <= p.special_cost.amount:  # type: ignore[union-attr]
            return False
        if p.agreed_price is not None and sl.unit_price.amount > p.agreed_price.amount:
            return False
    return True


def band_units(p: Program, start: Decimal, qty: Decimal) -> list[tuple[Decimal, Decimal]]:
    """(units, rate) of each tier that the units ``start .. start + qty`` of a period fall in."""
    out = []
    end = start + qty
    for t in p.tiers:
        hi = end if t.to_qty is None else min(end, t.to_qty)
        lo = max(start, t.from_qty)
        if hi > lo:
            out.append((hi - lo, t.rate))
    return out


class LedgerState:
    """Programs, events, accruals and claims folded from the journal (build it with ``replay``)."""

    def __init__(self) -> None:
        self.programs: dict[str, Program] = {}
        self.shipments: dict[str, ShippedLine] = {}
        self.line_shipments: dict[tuple[str, int], list[str]] = {}  # (order, line) -> its shipments, in journal order
        self.counts: dict[str, StockOnHand] = {}
        self.returns: dict[str, ReturnedLine] = {}
        self.returned: dict[str, Decimal] = {}
        self.event_ids: set[str] = set()
        self.accruals: list[Accrual] = []
        self.by_id: dict[str, Accrual] = {}
        self.accrued: dict[tuple[str, str], Decimal] = {}      # (source, program) -> net amount
        self.sale_programs: dict[str, list[str]] = {}           # shipment -> programs it accrued to
        self.books: dict[tuple[str, str], _PeriodBook] = {}     # (program, period) -> rebate period
        self.protected: set[tuple[str, str, str]] = set()       # (program, item, location) counted
        self.claims: dict[str, Claim] = {}
        self.claimed: dict[str, str] = {}                       # accrual id -> claim id
        self.seq = 0
        self._by_supplier: dict[str, list[Program]] = {}
        self.used: set[str] = set()                             # programs with accrual records

    # ---------------------------------------------------------------- queries
    def net_qty(self, shipment: str) -> Decimal:
        """Units of a shipment not returned."""
        return self.shipments[shipment].qty - self.returned.get(shipment, ZERO)

    def programs_for(self, sl: ShippedLine) -> list[Program]:
        """The programs a shipped line would accrue to, in id order."""
        return [p for p in self._by_supplier.get(sl.supplier, ()) if eligible(p, sl)]

    def unclaimed(self, supplier: str | None = None) -> list[Accrual]:
        """Accrual records not on any claim (zero amounts included)."""
        return [a for a in self.accruals if a.id not in self.claimed and (supplier is None or a.supplier == supplier)]

    # ---------------------------------------------------------------- checks (before a batch is appended)
    def check(self, records: Sequence[dict[str, Any]], parsed: Sequence[Event | None] | None = None) -> None:
        """Refuse a batch that cannot be applied: duplicate event ids, returns of unknown shipments or of more than
        is left, a stock count already counted for a program, unknown claims, transitions the lifecycle forbids,
        receipts above the open amount. ``parsed``: the records' events already parsed (same order), if at hand."""
        ids: set[str] = set()
        back: dict[str, Decimal] = {}
        shipped: dict[str, Decimal] = {}
        status: dict[str, ClaimStatus] = {}
        received: dict[str, Decimal] = {}
        counted: set[tuple[str, str, str]] = set()
        for k, r in enumerate(records):
            t = r.get("type")
            if t in ("shipped", "returned", "stock_on_hand"):
                ev = parsed[k] if parsed is not None and parsed[k] is not None else event_from_dict({**r, "kind": t}, row=k)
                if ev.event_id in self.event_ids or ev.event_id in ids:
                    raise ConflictError(f"row {k}: event {ev.event_id!r} is already in the journal "
                                        "(a sale accrues once; hint: a new shipment needs a new id)")
                ids.add(ev.event_id)
                if isinstance(ev, ShippedLine):
                    shipped[ev.shipment] = ev.qty
                elif isinstance(ev, ReturnedLine):
                    if ev.shipment in self.shipments:
                        left = self.net_qty(ev.shipment)
                    elif ev.shipment in shipped:
                        left = shipped[ev.shipment]
                    else:
                        raise ValidationError(f"row {k}: return of an unknown shipment", field="shipment", value=ev.shipment)
                    left -= back.get(ev.shipment, ZERO)
                    if ev.qty > left:
                        raise ValidationError(f"row {k}: returns more than the {left} units left of shipment {ev.shipment}",
                                              field="qty", value=str(ev.qty))
                    back[ev.shipment] = back.get(ev.shipment, ZERO) + ev.qty
                else:
                    for p in self._protection_programs(ev):
                        key = (p.program, ev.item, ev.location)
                        if key in self.protected or key in counted:
                            raise ConflictError(f"row {k}: stock of {ev.item} at {ev.location} is already counted for "
                                                f"price protection {p.program}")
                        counted.add(key)
            elif t == "programs":
                for d in r.get("programs", ()):
                    new = program_from_dict(d)
                    old = self.programs.get(new.program)
                    if old is not None and new.program in self.used and not _same_earnings(old, new):
                        raise ConflictError(f"program {new.program!r} has accruals: only its validity dates and claim terms "
                                            "may change", hint="end it (valid_to) and define the new terms under a new id")
            elif t in ("status", "receipt"):
                cid = r.get("claim")
                c = self.claims.get(cid)
                if c is None:
                    raise NotFoundError(f"claim {cid!r} does not exist")
                cur = status.get(cid, c.status)
                if t == "status":
                    to = ClaimStatus(r["status"])
                    check_transition(cur, to, claim=cid)
                    if to in (ClaimStatus.REJECTED,) and not r.get("reason"):
                        raise ValidationError("a rejection needs a reason", field="reason", value=r.get("reason"))
                    got = received.get(cid, c.received)
                    if to is ClaimStatus.SETTLED and got != c.total:
                        raise ConflictError(f"claim {cid}: {got} of {c.total} {c.currency} received, not settled",
                                            hint="record the payments or deductions (receive), or write the rest off")
                    if to is ClaimStatus.PARTIALLY_PAID and not 0 < got < c.total:
                        raise ConflictError(f"claim {cid}: {got} of {c.total} {c.currency} received, not partially paid",
                                            hint="record a payment or deduction (receive)")
                    status[cid] = to
                else:
                    amt = Decimal(r["amount"])
                    got = received.get(cid, c.received) + amt
                    if amt <= 0:
                        raise ValidationError("a receipt is a positive amount", field="amount", value=r["amount"])
                    if got > c.total:
                        raise ValidationError(f"receipts would exceed the claim total {c.total} {c.currency}",
                                              field="amount", value=r["amount"])
                    received[cid] = got
            elif t == "claim":
                if r["claim"] in self.claims:
                    raise ConflictError(f"claim {r['claim']!r} already exists")
                for aid in r["accruals"]:
                    if aid not in self.by_id or aid in self.claimed:
                        raise ConflictError(f"accrual {aid!r} is unknown or already claimed")
            else:
                raise ValidationError("unknown journal record type", field="type", value=t)

    def _protection_programs(self, ev: StockOnHand) -> list[Program]:
        return [p for p in self._by_supplier.get(ev.supplier, ())
                if p.kind is ProgramKind.PRICE_PROTECTION and ev.date == p.valid_from
                and (not p.items or ev.item in p.items)]

    # ---------------------------------------------------------------- apply
    def apply(self, r: dict[str, Any], ev: Event | None = None) -> list[Accrual]:
        """Fold one journal record in (``ev``: its event already parsed, if at hand); returns the accrual records
        it made."""
        t = r["type"]
        self.seq += 1
        if t == "programs":
            for d in r["programs"]:
                p = program_from_dict(d)
                self.programs[p.program] = p
            self._by_supplier = {}
            for _, p in sorted(self.programs.items()):
                self._by_supplier.setdefault(p.supplier, []).append(p)
            return []
        if t in ("shipped", "returned", "stock_on_hand"):
            if ev is None:
                ev = event_from_dict({**r, "kind": t})
            if t == "shipped":
                return self._ship(ev)  # type: ignore[arg-type]
            if t == "returned":
                return self._return(ev)  # type: ignore[arg-type]
            return self._count(ev)  # type: ignore[arg-type]
        if t == "claim":
            c = Claim(r["claim"], r["supplier"], r["currency"], as_date(r["period_start"], field="period_start"),
                      as_date(r["period_end"], field="period_end"), as_date(r["date"], field="date"), list(r["accruals"]),
                      sum((self.by_id[a].amount.amount for a in r["accruals"]), ZERO))
            c.history.append({"status": ClaimStatus.DRAFT.value, "date": r["date"], "reason": None})
            self.claims[c.claim] = c
            for a in c.accruals:
                self.claimed[a] = c.claim
            return []
        c = self.claims[r["claim"]]
        if t == "status":
            to = ClaimStatus(r["status"])
            if to is ClaimStatus.SUBMITTED and c.submitted is None:
                c.submitted = as_date(r["date"], field="date")
            if to is ClaimStatus.WRITTEN_OFF:
                c.written_off = c.total - c.received
            c.status = to
            c.history.append({"status": to.value, "date": r["date"], "reason": r.get("reason")})
        elif t == "receipt":
            c.received += Decimal(r["amount"])
            c.receipts.append({k: r.get(k) for k in ("kind", "amount", "date", "ref")})
        return []

    def _post(self, *, event: str, source: str, p: Program, kind: str, period: str, posted: dt.date, qty: Decimal,
              basis: str, rate: Decimal | None, amount: Decimal) -> Accrual:
        a = Accrual(f"A{len(self.accruals) + 1:09d}", self.seq, event, source, p.program, p.supplier, kind, period, posted,
                    qty, basis, rate, Money(amount, p.currency))
        self.accruals.append(a)
        self.by_id[a.id] = a
        key = (source, p.program)
        self.accrued[key] = self.accrued.get(key, ZERO) + amount
        self.used.add(p.program)
        return a

    def _target(self, p: Program, sl: ShippedLine, q: Decimal, book: _PeriodBook | None, start: Decimal | None
                ) -> tuple[Decimal, Decimal | None, str]:
        """(rounded amount, rate, basis in words) that ``q`` net units of ``sl`` earn on ``p``."""
        cur = p.currency
        if p.kind is ProgramKind.SHIP_AND_DEBIT:
            diff = sl.unit_cost.amount - p.special_cost.amount  # type: ignore[union-attr]
            return (_round(q * diff, cur), None,
                    f"{q} units x (unit cost {sl.unit_cost.amount} - special cost {p.special_cost.amount}) {cur}")  # type: ignore[union-attr]
        ub = unit_basis(p, sl)

        def unit(rate: Decimal) -> str:
            if p.rate_kind == "percent":
                return f"{q} units x {sl.unit_price.amount} {cur} x {rate} %"
            return f"{q} units x {rate} {cur}"

        if p.kind is ProgramKind.ALLOWANCE:
            return _round(q * ub * p.rate, cur), p.rate, unit(p.rate)  # type: ignore[operator, arg-type]
        assert book is not None
        if p.tier_mode == "retroactive":
            return (_round(q * ub * book.rate, cur), book.rate,
                    f"{unit(book.rate)}, the rate of the tier reached by {book.cum} units in the period")
        bands = band_units(p, start, q)  # type: ignore[arg-type]
        amt = _round(ub * sum((u * r for u, r in bands), ZERO), cur)
        per = f" x {sl.unit_price.amount} {cur} x rate %" if p.rate_kind == "percent" else f" x rate {cur}"
        return amt, None, (f"units {start}..{start + q} of the period{per}, by tier: "  # type: ignore[operator]
                           + (", ".join(f"{u} at {r}" for u, r in bands) or "none"))

    def _ship(self, sl: ShippedLine) -> list[Accrual]:
        self.shipments[sl.shipment] = sl
        self.line_shipments.setdefault((sl.order, sl.line), []).append(sl.shipment)
        self.event_ids.add(sl.shipment)
        out: list[Accrual] = []
        progs = self.programs_for(sl)
        self.sale_programs[sl.shipment] = [p.program for p in progs]
        for p in progs:
            period = p.period_of(sl.ship_date) if p.kind is ProgramKind.VOLUME_REBATE else sl.ship_date.strftime("%Y-%m")
            if p.kind is not ProgramKind.VOLUME_REBATE:
                amt, rate, basis = self._target(p, sl, sl.qty, None, None)
                out.append(self._post(event=sl.shipment, source=sl.shipment, p=p, kind="accrual", period=period,
                                      posted=sl.ship_date, qty=sl.qty, basis=basis, rate=rate, amount=amt))
                continue
            book = self.books.setdefault((p.program, period), _PeriodBook())
            start = book.cum
            book.lines.append(sl.shipment)
            book.cum += sl.qty
            old_rate, book.rate = book.rate, p.tier_rate(book.cum)
            amt, rate, basis = self._target(p, sl, sl.qty, book, start)
            out.append(self._post(event=sl.shipment, source=sl.shipment, p=p, kind="accrual", period=period,
                                  posted=sl.ship_date, qty=sl.qty, basis=basis, rate=rate, amount=amt))
            if p.tier_mode == "retroactive" and book.rate != old_rate:
                out += self._reaccrue(p, book, period, event=sl.shipment, posted=sl.ship_date, skip=sl.shipment)
        return out

    def _reaccrue(self, p: Program, book: _PeriodBook, period: str, *, event: str, posted: dt.date, skip: str | None
                  ) -> list[Accrual]:
        """Bring every line of a rebate period (but ``skip``) to its target; the differences are tier adjustments."""
        out = []
        pos = ZERO
        for s in book.lines:
            sl = self.shipments[s]
            q = self.net_qty(s)
            if s != skip:
                amt, rate, basis = self._target(p, sl, q, book, pos)
                delta = amt - self.accrued.get((s, p.program), ZERO)
                if delta != 0:
                    out.append(self._post(event=event, source=s, p=p, kind="tier_adjustment", period=period, posted=posted,
                                          qty=q, basis="re-accrued: " + basis, rate=rate, amount=delta))
            pos += q
        return out

    def _return(self, rt: ReturnedLine) -> list[Accrual]:
        self.event_ids.add(rt.return_id)
        self.returns[rt.return_id] = rt
        self.returned[rt.shipment] = self.returned.get(rt.shipment, ZERO) + rt.qty
        sl = self.shipments[rt.shipment]
        q = self.net_qty(rt.shipment)
        out: list[Accrual] = []
        for pid in self.sale_programs.get(rt.shipment, ()):
            p = self.programs[pid]
            if p.kind is not ProgramKind.VOLUME_REBATE:
                amt, rate, basis = self._target(p, sl, q, None, None)
                period = rt.return_date.strftime("%Y-%m")
                book = None
            else:
                period = p.period_of(sl.ship_date)
                book = self.books[(p.program, period)]
                book.cum -= rt.qty
                book.rate = p.tier_rate(book.cum)
                start = ZERO
                for s in book.lines:
                    if s == rt.shipment:
                        break
                    start += self.net_qty(s)
                amt, rate, basis = self._target(p, sl, q, book, start)
            delta = amt - self.accrued.get((rt.shipment, pid), ZERO)
            out.append(self._post(event=rt.return_id, source=rt.shipment, p=p, kind="reversal", period=period,
                                  posted=rt.return_date, qty=-rt.qty, basis=f"return of {rt.qty}; now " + basis, rate=rate,
                                  amount=delta))
            if book is not None:
                out += self._reaccrue(p, book, period, event=rt.return_id, posted=rt.return_date, skip=rt.shipment)
        return out

    def _count(self, ev: StockOnHand) -> list[Accrual]:
        self.event_ids.add(ev.count_id)
        self.counts[ev.count_id] = ev
        out = []
        for p in self._protection_programs(ev):
            self.protected.add((p.program, ev.item, ev.location))
            diff = p.old_cost.amount - p.new_cost.amount  # type: ignore[union-attr]
            out.append(self._post(event=ev.count_id, source=ev.count_id, p=p, kind="accrual",
                                  period=ev.date.strftime("%Y-%m"), posted=ev.date, qty=ev.qty,
                                  basis=f"{ev.qty} units on hand at {ev.location} x (old cost {p.old_cost.amount} - "  # type: ignore[union-attr]
                                        f"new cost {p.new_cost.amount}) {p.currency}", rate=None,  # type: ignore[union-attr]
                                  amount=_round(ev.qty * diff, p.currency)))
        return out

    # ---------------------------------------------------------------- detail for claims and margin
    def detail(self, a: Accrual) -> dict[str, Any]:
        """The line detail of an accrual's source (shipment or stock count) for claims."""
        if a.source in self.shipments:
            sl = self.shipments[a.source]
            return {"shipment": sl.shipment, "order": sl.order, "line": sl.line, "item": sl.item, "category": sl.category,
                    "brand": sl.brand, "customer": sl.customer, "segment": sl.segment, "channel": sl.channel, "location": "",
                    "qty": str(a.qty), "unit_price": str(sl.unit_price.amount), "unit_cost": str(sl.unit_cost.amount),
                    "ship_date": sl.ship_date.isoformat()}
        ev = self.counts[a.source]
        return {"shipment": "", "order": "", "line": "", "item": ev.item, "category": "", "brand": "", "customer": "",
                "segment": "", "channel": "", "location": ev.location, "qty": str(a.qty), "unit_price": "", "unit_cost": "",
                "ship_date": ev.date.isoformat()}


def _same_earnings(a: Program, b: Program) -> bool:
    """True when two versions of a program earn the same on every sale they both cover (they may differ in
    validity dates and claim terms only)."""
    return dataclasses.replace(a, valid_from=b.valid_from, valid_to=b.valid_to, terms=b.terms) == b


def replay(records: Iterable[dict[str, Any]]) -> LedgerState:
    """The ledger state that a journal (in append order) makes: a pure function of the records."""
    st = LedgerState()
    for r in records:
        st.apply(r)
    return st


class ChannelLedger:
    """Programs, accruals and claims over a ``JournalStore``: every call checks its batch, appends it (durable before
    it returns) and applies it. Business dates are passed in; the wall clock is never read."""

    def __init__(self, store: JournalStore | None = None) -> None:
        self.store: JournalStore = store if store is not None else MemoryJournal()
        self.state = replay(self.store.load())
        self._lock = threading.RLock()

    def _commit(self, records: list[dict[str, Any]], parsed: Sequence[Event | None] | None = None) -> list[Accrual]:
        with self._lock:  # one writer at a time: check, store (durable), apply
            self.state.check(records, parsed)
            self.store.append(records)
            out: list[Accrual] = []
            for k, r in enumerate(records):
                out += self.state.apply(r, parsed[k] if parsed is not None else None)
            return out

    @contextlib.contextmanager
    def reading(self) -> Iterator[LedgerState]:
        """The state, held still for a read that spans several lookups (a margin): no batch is applied meanwhile."""
        with self._lock:
            yield self.state

    def recompute(self) -> LedgerState:
        """The state rebuilt from the stored journal (equal to ``self.state``)."""
        return replay(self.store.load())

    # ---- programs and events
    def define_programs(self, programs: Sequence[Program]) -> None:
        """Add or replace programs (by id). A program that already has accruals may only change its validity dates
        (to end it early or extend it) and its claim terms; anything that changes what a sale earns is refused
        (``ConflictError``): define it under a new id. Sales already recorded keep what they accrued."""
        self._commit([{"type": "programs", "programs": [p.to_dict() for p in programs]}])

    def known(self, ev: Event) -> bool:
        """True when this very event (same id, same content) is already in the journal."""
        st = self.state
        stored = st.shipments.get(ev.event_id) or st.returns.get(ev.event_id) or st.counts.get(ev.event_id)
        return stored == ev

    def record(self, events: Sequence[Event], *, skip_known: bool = False) -> list[Accrual]:
        """Record shipped lines, returns and stock counts as one batch; returns the accrual records they made.

        Refused as a whole (nothing stored): a duplicate event id, a return of an unknown shipment or of more units
        than are left, a stock count already counted for a price protection. ``skip_known=True`` makes delivery
        idempotent: events already in the journal with the same content are left out (a different event under a
        known id is still refused).
        """
        if skip_known:
            with self._lock:
                events = [ev for ev in events if not self.known(ev)]
        recs = []
        for ev in events:
            d = event_to_dict(ev)
            d["type"] = d.pop("kind")
            recs.append(d)
        return self._commit(recs, list(events))

    # ---- claims
    def create_claims(self, supplier: str, *, period_start: dt.date, period_end: dt.date, business_date: dt.date
                      ) -> list[Claim]:
        """Draft claims (one per currency) for the supplier's unclaimed, non-zero accruals posted on or before
        ``period_end``: the period's own, and earlier ones not yet claimed (a reversal after a claim lands on the
        next claim as a negative line). A currency whose lines add up to zero or less gets no claim: its lines wait
        to be netted on a later one. Returns the claims made ([] when there is nothing to claim)."""
        if period_end < period_start:
            raise ValidationError(f"ends before period_start={period_start}", field="period_end", value=str(period_end))
        per_cur: dict[str, list[str]] = {}
        total: dict[str, Decimal] = {}
        for a in self.state.accruals:
            if a.supplier == supplier and a.posted <= period_end and a.id not in self.state.claimed and not a.amount.is_zero():
                per_cur.setdefault(a.amount.currency, []).append(a.id)
                total[a.amount.currency] = total.get(a.amount.currency, ZERO) + a.amount.amount
        recs = []
        n = len(self.state.claims)
        for cur in sorted(c for c in per_cur if total[c] > 0):
            n += 1
            recs.append({"type": "claim", "claim": f"CL{n:06d}", "supplier": supplier, "currency": cur,
                         "period_start": period_start.isoformat(), "period_end": period_end.isoformat(),
                         "date": business_date.isoformat(), "accruals": per_cur[cur]})
        self._commit(recs)
        return [self.state.claims[r["claim"]] for r in recs]

    def claim(self, claim: str) -> Claim:
        """A claim by id (NotFoundError if unknown)."""
        try:
            return self.state.claims[claim]
        except KeyError:
            raise NotFoundError(f"claim {claim!r} does not exist") from None

    def transition(self, claim: str, status: ClaimStatus | str, *, date: dt.date, reason: str | None = None) -> Claim:
        """Move a claim along its lifecycle (``TRANSITIONS``); rejected needs a reason. Returns the claim."""
        self.claim(claim)
        try:
            to = ClaimStatus(status)
        except ValueError:
            raise ValidationError("unknown claim status", field="status", value=status,
                                  hint="one of " + ", ".join(s.value for s in ClaimStatus)) from None
        self._commit([{"type": "status", "claim": claim, "status": to.value, "date": date.isoformat(), "reason": reason}])
        return self.state.claims[claim]

    def receive(self, claim: str, amount: Money, *, date: dt.date, ref: str, deduction: bool = False) -> Claim:
        """Money received for a claim: a supplier payment, or (``deduction=True``) an amount deducted from the
        supplier's invoice ``ref``. The claim becomes partially paid, or settled once received equals its total."""
        c = self.claim(claim)
        if amount.currency != c.currency:
            raise ValidationError(f"currency differs from the claim's {c.currency}", field="amount", value=str(amount))
        got = c.received + amount.amount
        to = ClaimStatus.SETTLED if got == c.total else ClaimStatus.PARTIALLY_PAID
        self._commit([{"type": "receipt", "claim": claim, "kind": "deduction" if deduction else "payment",
                       "amount": str(amount.amount), "date": date.isoformat(), "ref": ref},
                      {"type": "status", "claim": claim, "status": to.value, "date": date.isoformat(), "reason": None}])
        return c

    def write_off(self, claim: str, *, date: dt.date, reason: str) -> Claim:
        """Give up what is still open on a claim (from partially paid, rejected or disputed)."""
        return self.transition(claim, ClaimStatus.WRITTEN_OFF, date=date, reason=reason)
