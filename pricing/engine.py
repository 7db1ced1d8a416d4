"""The one-order pricer: ``price_order(book, request, on=day) -> OrderPrice``.

Per line, in this order (each step's amount rounded half up to the currency's minor unit, so that the
waterfall adds up exactly):

1. list: the first price list in the party's chain (see ``Assignment``) that prices the item;
   ``list_amount = round(unit_price x qty)``;
2. tiers: ``graduated`` (each unit at its tier's price) or ``volume`` (all units at the highest tier reached):
   an adjustment ``round(tiered amount) - list_amount`` by ``<list>@<version>/tiers``;
3. rules in precedence order (exclusive / stackable, see ``Rule``); ``min_order_total`` compares with the
   order's sum after steps 1-2;
4. manual adjustments (need approval);
5. proration of a recurring item's first period: ``round(amount x days / period days)``;
6. tax by ship-to country/region and the item's tax category: tax-exclusive lists add
   ``round(net x rate)``; tax-inclusive lists take ``round(total x rate / (1 + rate))`` out of the total.

Order net, tax and total are the exact sums of the lines' rounded amounts.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from pricing.book import PriceBook
from pricing.model import (
    Adjustment,
    LineRequest,
    LineWaterfall,
    ManualAdjustment,
    OrderPrice,
    OrderRequest,
    PriceEntry,
    PriceList,
    RecurringCharge,
)
from promessa.errors import ValidationError
from promessa.money import money_unchecked as M
from promessa.money import quantum

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_ONE = Decimal(1)


def tiered_amount(entry: PriceEntry, qty: Decimal) -> Decimal:
    """The exact (unrounded) amount of ``qty`` units under the entry's tiers (the list amount when none)."""
    if entry.tier_mode == "none":
        return entry.unit_price * qty
    if entry.tier_mode == "volume":
        price = entry.unit_price
        for t in entry.tiers:
            if qty >= t.from_qty:
                price = t.unit_price
        return price * qty
    # graduated: the units from each tier's from_qty up to the next tier's at that tier's price
    bounds = [(_ZERO, entry.unit_price)] + [(t.from_qty, t.unit_price) for t in entry.tiers]
    total = _ZERO
    for k, (lo, p) in enumerate(bounds):
        hi = bounds[k + 1][0] if k + 1 < len(bounds) else None
        if qty <= lo:
            break
        top = qty if hi is None or qty < hi else hi
        total += p * (top - lo)
    return total


def add_months(d: dt.date, months: int) -> dt.date:
    """``d`` plus whole months, the day clamped to the month's length."""
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def first_period(period: str, start: dt.date, *, prorate: bool) -> tuple[dt.date, int, int, dt.date]:
    """``(first_end, first_days, period_days, next_start)`` of a recurring charge starting ``start``.

    Monthly periods start on the 1st, yearly on 1 January. With ``prorate`` and a start inside a period, the
    first charge covers ``start`` up to the period's end (``first_days`` of the ``period_days`` of that period);
    otherwise the first period is a full one from ``start``.
    """
    months = 1 if period == "monthly" else 12
    anchor = start.replace(day=1) if period == "monthly" else start.replace(month=1, day=1)
    if prorate and start != anchor:
        nxt = add_months(anchor, months)
        return nxt - dt.timedelta(days=1), (nxt - start).days, (nxt - anchor).days, nxt
    nxt = add_months(start, months)
    days = (nxt - start).days
    return nxt - dt.timedelta(days=1), days, days, nxt


def _find_entry(chain: tuple[PriceList, ...], item: str) -> tuple[PriceList, PriceEntry] | None:
    for pl in chain:
        e = pl.entries.get(item)
        if e is not None:
            return pl, e
    return None


def price_order(book: PriceBook, request: OrderRequest, *, on: dt.date) -> OrderPrice:
    """Price an order on business day ``on``.

    Parameters
    ----------
    book : the price book in force.
    request : the party, ship-to, currency (None: the first list's), lines and manual adjustments.
    on : the business day (the snapshot's as_of or the configured clock), never the wall clock.

    Returns
    -------
    ``OrderPrice`` with one ``LineWaterfall`` per line, in request order, and the order sums.

    Raises
    ------
    ``ValidationError`` naming the field and value: an item no list in the chain prices
    (``lines[i].item``), no tax rate for the ship-to (``ship_to_country``), a manual adjustment for an
    unknown line or one that makes a line negative, a duplicate line id.
    """
    party = request.party
    cur = request.currency or book.currency_for(party, on)
    q = quantum(cur)
    chain = book.chain(party, cur, on)
    refs = {id(p): p.ref for p in chain}
    # rules whose party conditions this order meets; item conditions are per line (both cached in the book)
    order_rules = book.rules_for_party(on, cur, party)
    exempt = party.tax_profile == "exempt"

    def rnd(x: Decimal) -> Decimal:
        return x.quantize(q, rounding=ROUND_HALF_UP)

    manual: dict[str, list[tuple[int, ManualAdjustment]]] = {}
    line_ids = set()
    for i, ln in enumerate(request.lines):
        if ln.line in line_ids:
            raise ValidationError("duplicate line id", field=f"lines[{i}].line", value=ln.line)
        line_ids.add(ln.line)
    for k, m in enumerate(request.manual):
        if m.line not in line_ids:
            raise ValidationError("no such line in the order", field=f"manual[{k}].line", value=m.line)
        manual.setdefault(m.line, []).append((k, m))

    # pass 1: list and tier amounts (the order base for min_order_total conditions)
    firsts: list[tuple[LineRequest, PriceList, PriceEntry, Decimal, Decimal]] = []
    order_base = _ZERO
    for i, ln in enumerate(request.lines):
        found = _find_entry(chain, ln.item)
        if found is None:
            raise ValidationError(f"no price for this item in {cur} on {on} in the price lists "
                                  f"{', '.join(p.ref for p in chain) or '(none)'}", field=f"lines[{i}].item", value=ln.item)
        pl, entry = found
        list_amt = rnd(entry.unit_price * ln.qty)
        base = rnd(tiered_amount(entry, ln.qty)) if entry.tiers else list_amt
        order_base += base
        firsts.append((ln, pl, entry, list_amt, base))

    out: list[LineWaterfall] = []
    reasons: list[str] = []
    tot_net = tot_tax = tot_total = _ZERO
    for ln, pl, entry, list_amt, base in firsts:
        adjs: list[Adjustment] = []
        if base != list_amt:
            adjs.append(Adjustment("tier", f"{pl.ref}/tiers", M(base - list_amt, cur), f"{entry.tier_mode} tiers, qty {ln.qty}"))
        running = base
        attrs = book.item(ln.item)
        applied = False
        for k, r, ref in book.rules_for_item(on, cur, ln.item):
            if k not in order_rules or (applied and r.stacking == "exclusive"):
                continue
            if r.min_order_total is not None and order_base < r.min_order_total:
                continue
            if r.kind == "percent":
                m = rnd(running * r.value / _HUNDRED)
                basis = f"{r.value}% of {running}"
            elif r.kind == "amount_off":
                m = min(rnd(r.value * ln.qty), running)
                basis = f"{r.value} x {ln.qty} off {running}"
            else:
                target = rnd(r.value * ln.qty)
                if target >= running:
                    continue
                m = running - target
                basis = f"fixed {r.value} x {ln.qty}"
            running -= m
            adjs.append(Adjustment("rule", ref, M(-m, cur), basis))
            applied = True
            if r.stacking == "exclusive":
                break
        for k, ma in manual.get(ln.line, ()):
            if ma.kind == "percent_off":
                delta = -rnd(running * ma.value / _HUNDRED)
                basis = f"{ma.value}% of {running}"
            elif ma.kind == "amount":
                delta = rnd(ma.value)
                basis = f"{delta:+}"
            else:
                delta = rnd(ma.value * ln.qty) - running
                basis = f"fixed {ma.value} x {ln.qty}"
            if running + delta < 0:
                raise ValidationError(f"would make line {ln.line} negative ({running} {delta:+})", field=f"manual[{k}].value",
                                      value=str(ma.value))
            running += delta
            adjs.append(Adjustment("manual", "manual", M(delta, cur), basis, ma.reason, True))
            reasons.append(f"manual price adjustment on line {ln.line}: {ma.reason}")
        rec = None
        if entry.recurring is not None:
            start = ln.service_start or on
            first_end, days, pdays, nxt = first_period(entry.recurring.period, start, prorate=entry.recurring.prorate)
            months = (1 if entry.recurring.period == "monthly" else 12) * entry.recurring.term
            rec = RecurringCharge(entry.recurring.period, entry.recurring.term, M(running, cur), start, first_end, days,
                                  pdays, add_months(nxt if days < pdays else start, months) - dt.timedelta(days=1))
            if days < pdays:
                prorated = rnd(running * days / pdays)
                adjs.append(Adjustment("proration", "proration", M(prorated - running, cur), f"{days}/{pdays} days of {running}"))
                running = prorated
        subtotal = running
        if exempt:
            rate, tax_rule = _ZERO, "tax:exempt"
        else:
            found_tax = book.tax_rate_ref(request.ship_to_country, request.ship_to_region, attrs.tax_category, on)
            if found_tax is None:
                raise ValidationError(f"no tax rate for region {request.ship_to_region!r}, tax category {attrs.tax_category!r} "
                                      f"on {on} (item {ln.item})", field="ship_to_country", value=request.ship_to_country)
            rate, tax_rule = found_tax
        m_sub = M(subtotal, cur)
        m_list = m_sub if list_amt == subtotal else M(list_amt, cur)
        if pl.tax_inclusive:
            total = subtotal
            tax = (total * rate / (_ONE + rate)).quantize(q, ROUND_HALF_UP)
            net = total - tax
            m_total, m_net = m_sub, (m_sub if not tax else M(net, cur))
        else:
            net = subtotal
            tax = (net * rate).quantize(q, ROUND_HALF_UP)
            total = net + tax
            m_net, m_total = m_sub, (m_sub if not tax else M(total, cur))
        tot_net += net
        tot_tax += tax
        tot_total += total
        out.append(LineWaterfall(
            ln.line, ln.item, ln.qty, refs[id(pl)], pl.tax_inclusive, M(entry.unit_price, cur), m_list, tuple(adjs),
            m_sub, m_net, rate, tax_rule, M(tax, cur), m_total, rec))
    return OrderPrice(request.order, cur, on, tuple(out), M(tot_net, cur), M(tot_tax, cur), M(tot_total, cur),
                      bool(reasons), tuple(reasons))
