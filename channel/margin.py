"""Program income in margin: per order line, per order, and a what-if with and without a program change.

Expected program income of a line is what it earns on every eligible program: for a line
already in the ledger, the net of its accrual records (tier adjustments included); for a line
not shipped yet, what it would earn if it shipped now - the marginal amount, so a line that
lifts a retroactive rebate period into the next tier also brings the period's re-accrual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from channel.events import Event, ShippedLine
from channel.ledger import (
    ZERO,
    ChannelLedger,
    LedgerState,
    _PeriodBook,
    _round,
    unit_basis,
)
from channel.programs import Program, ProgramKind
from channel.store import MemoryJournal
from promessa.money import Money


def expected_income(state: LedgerState, line: ShippedLine) -> dict[str, Money]:
    """Program id -> income of ``line``: accrued (net) when its shipment is in the ledger, else what shipping it now
    would add (marginal, re-accrual of a retroactive rebate period included). Zero amounts are left out."""
    if line.shipment in state.shipments:
        return {pid: Money(state.accrued.get((line.shipment, pid), ZERO), state.programs[pid].currency)
                for pid in state.sale_programs.get(line.shipment, ()) if state.accrued.get((line.shipment, pid), ZERO) != 0}
    out: dict[str, Money] = {}
    for p in state.programs_for(line):
        amt = _marginal(state, p, line)
        if amt != 0:
            out[p.program] = Money(amt, p.currency)
    return out


def _marginal(state: LedgerState, p: Program, sl: ShippedLine) -> Decimal:
    if p.kind is not ProgramKind.VOLUME_REBATE:
        return state._target(p, sl, sl.qty, None, None)[0]
    book = state.books.get((p.program, p.period_of(sl.ship_date))) or _PeriodBook()
    new = _PeriodBook(list(book.lines), book.cum + sl.qty, p.tier_rate(book.cum + sl.qty))
    if p.tier_mode == "incremental":
        return state._target(p, sl, sl.qty, new, book.cum)[0]
    own = _round(sl.qty * unit_basis(p, sl) * new.rate, p.currency)
    if new.rate == book.rate:
        return own
    others = ZERO
    for s in book.lines:
        o = state.shipments[s]
        others += _round(state.net_qty(s) * unit_basis(p, o) * new.rate, p.currency) - state.accrued.get((s, p.program), ZERO)
    return own + others


def line_margin(state: LedgerState, line: ShippedLine) -> dict[str, Any]:
    """One line's margin waterfall: net revenue, cost, gross margin, program income (total and per program) and
    margin after program income, for its net units (shipped minus returned when it is in the ledger)."""
    q = state.net_qty(line.shipment) if line.shipment in state.shipments else line.qty
    cur = line.unit_price.currency
    revenue = Money(q * line.unit_price.amount, cur).rounded()
    cost = Money(q * line.unit_cost.amount, cur).rounded()
    inc = expected_income(state, line)
    income = Money.zero(cur)
    for m in inc.values():
        if m.currency == cur:
            income = income + m
    return {"shipment": line.shipment, "order": line.order, "line": line.line, "qty": q, "revenue": revenue, "cost": cost,
            "gross_margin": revenue - cost, "program_income": income, "by_program": inc, "margin": revenue - cost + income}


def order_margin(state: LedgerState, lines: Sequence[ShippedLine]) -> dict[str, Any]:
    """An order's margin from its lines (shipped ones from the ledger, others as quotes): revenue, cost, gross
    margin, program income and margin including it (Money, one currency), plus the per-line waterfalls."""
    rows = [line_margin(state, sl) for sl in lines]
    if not rows:
        raise ValueError("an order margin needs at least one line")
    tot = {k: rows[0][k] for k in ("revenue", "cost", "gross_margin", "program_income", "margin")}
    for r in rows[1:]:
        tot = {k: v + r[k] for k, v in tot.items()}
    return {**tot, "lines": rows}


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramIncome:
    """What one program brings to one order line: ``accrued`` on the line's shipments in the ledger (net of returns,
    tier adjustments included; ``accrued_qty`` their units not returned) and ``quoted`` for its units not shipped yet
    (``quoted_qty``), as if they shipped on the quote's date. Amounts in the program's currency."""

    program: str
    supplier: str
    kind: str
    accrued_qty: Decimal
    accrued: Money
    quoted_qty: Decimal
    quoted: Money

    @property
    def total(self) -> Money:
        """Accrued plus quoted."""
        return self.accrued + self.quoted


def line_income(state: LedgerState, order: str, line: int, quote: ShippedLine | None = None) -> list[ProgramIncome]:
    """Expected program income of order line (``order``, ``line``), one entry per program, in program id order.

    Parameters
    ----------
    state : the ledger state (hold it still: ``ChannelLedger.reading()``).
    order, line : the order line; its shipments are the ledger's shipped lines with this order and line number.
    quote : the line's units not shipped yet as a ``ShippedLine`` whose shipment is not in the ledger (its
        ``ship_date`` the day it would ship); quoted by :func:`expected_income` (the marginal amount), alone
        against the ledger. None: nothing left to ship.

    Returns
    -------
    list of ProgramIncome, programs with a non-zero accrued or quoted amount only.
    """
    if quote is not None and quote.shipment in state.shipments:
        raise ValueError(f"a quote needs a shipment id not in the ledger, not {quote.shipment!r}")
    acc: dict[str, list[Decimal]] = {}
    for s in state.line_shipments.get((order, line), ()):
        q = state.net_qty(s)
        for pid in state.sale_programs.get(s, ()):
            a = acc.setdefault(pid, [ZERO, ZERO])
            a[0] += q
            a[1] += state.accrued.get((s, pid), ZERO)
    quoted = expected_income(state, quote) if quote is not None else {}
    out = []
    for pid in sorted(set(acc) | set(quoted)):
        p = state.programs[pid]
        aq, amt = acc.get(pid, (ZERO, ZERO))
        qm = quoted.get(pid, Money.zero(p.currency))
        if amt == 0 and qm.amount == 0:
            continue
        out.append(ProgramIncome(pid, p.supplier, str(p.kind), aq, Money(amt, p.currency),
                                 quote.qty if pid in quoted else ZERO, qm))
    return out


def whatif(programs: Sequence[Program], events: Sequence[Event], *, changed: Sequence[Program] = (),
           removed: Sequence[str] = ()) -> pl.DataFrame:
    """Margin per order with the current ``programs`` and after a change: ``changed`` programs replace those with
    the same id (or are added), ``removed`` ids are dropped. Both ledgers are replayed in memory from ``events``;
    nothing live is touched. Returns a frame with order, currency, revenue, cost, income_before, income_after,
    margin_before, margin_after and delta (exact decimals), one row per order."""
    after = {p.program: p for p in programs}
    after.update({p.program: p for p in changed})
    for pid in removed:
        if pid not in after:
            from promessa.errors import ValidationError

            raise ValidationError("unknown program", field="removed", value=pid)
        del after[pid]
    res = []
    for label, progs in (("before", list(programs)), ("after", list(after.values()))):
        led = ChannelLedger(MemoryJournal())
        if progs:
            led.define_programs(progs)
        led.record(list(events))
        res.append((label, led.state))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for label, st in res:
        for sl in st.shipments.values():
            m = line_margin(st, sl)
            cur = sl.unit_price.currency
            r = rows.setdefault((sl.order, cur), {"order": sl.order, "currency": cur, "revenue": ZERO, "cost": ZERO,
                                                   "income_before": ZERO, "income_after": ZERO})
            if label == "before":
                r["revenue"] += m["revenue"].amount
                r["cost"] += m["cost"].amount
            r[f"income_{label}"] += m["program_income"].amount
    out = []
    for r in rows.values():
        r["margin_before"] = r["revenue"] - r["cost"] + r["income_before"]
        r["margin_after"] = r["revenue"] - r["cost"] + r["income_after"]
        r["delta"] = r["margin_after"] - r["margin_before"]
        out.append(r)
    dec = pl.Decimal(38, 4)
    schema = {"order": pl.String, "currency": pl.String, "revenue": dec, "cost": dec, "income_before": dec,
              "income_after": dec, "margin_before": dec, "margin_after": dec, "delta": dec}
    return pl.DataFrame(out, schema=schema, orient="row").sort("order")
