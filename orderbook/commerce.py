"""What prices and checks an order at capture and change: the price book, the catalogue changes, the
customer master and the screening lists, as the order book holds them.

:class:`Commerce` is held by `OrderService` (``svc.commerce``). Its parts are immutable values
(`pricing.PriceBook`, `customers.CustomerMaster`, `compliance.ScreeningLists`, a tuple of
`CatalogueEntry`); a command that changes one (a customer, a rule, a catalogue change) swaps in a
new value inside its `Txn` (undone if the write fails), so a reader always sees a whole book.

- **Book.** The rules directory (``settings.pricing.rules_dir``, `pricing.load_book`) plus every
  record posted through the API (`PricingEntry`, replayed in the order posted), priced over the
  served snapshot's catalogue (`pricing.Catalogue.from_items_frame`) with the catalogue changes the
  snapshot does not carry applied on the business day (`pricing.apply_changes`).
- **Customers.** The customer file (``settings.pricing.customers``) then the customers stored in
  the order book. With neither (no master configured) there is no customer check: any customer id
  is taken as it is, priced by the default assignments and the catalogue.
- **Screening.** `compliance.screen_order` against the denied parties and embargoes when lists are
  configured (none: no screening).

Pricing functions here are pure reads; they never change an order (the commands do).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from compliance import ScreeningLists, ScreeningResult, screen_order
from customers import Customer, CustomerMaster, check_order
from orderbook.configured import ConfiguredLines
from orderbook.records import CatalogueEntry, Hold, Order, OrderTotals, PricingEntry
from pricing import (
    Assignment,
    Catalogue,
    LineRequest,
    LineWaterfall,
    ManualAdjustment,
    OrderRequest,
    Party,
    PriceBook,
    PriceList,
    Rule,
    TaxRate,
    apply_changes,
    price_order,
)
from pricing.model import qty_of
from promessa.config import Settings
from promessa.errors import ValidationError
from promessa.money import Money

log = logging.getLogger("promessa.orderbook")

#: what a pricing record of each kind is read with
PRICING_KINDS = {"price_list": PriceList, "rule": Rule, "tax_rate": TaxRate, "assignment": Assignment}


def record_of(kind: str, doc: dict[str, Any]) -> PriceList | Rule | TaxRate | Assignment:
    """A pricing record of `kind` validated from its dict form (errors name the field and the value)."""
    return PRICING_KINDS[kind].from_dict(doc)


def ref_of(kind: str, rec: Any) -> str:
    """A short name for a pricing record (``id@version``, ``country/region/category@from``, ``kind:key``)."""
    if kind == "assignment":
        return f"{rec.kind}:{rec.key or '*'}->{rec.price_list}"
    return rec.ref


def add_record(book: PriceBook, kind: str, rec: Any) -> PriceBook:
    """A new book with `rec` added (validated as a whole: a rule or list version posted twice is refused)."""
    if kind == "price_list":
        return book.replace(price_lists=[*book.price_lists, rec])
    if kind == "rule":
        return book.replace(rules=[*book.rules, rec])
    if kind == "tax_rate":
        return book.replace(tax_rates=[*book.tax_rates, rec])
    return book.replace(assignments=[*book.assignments, rec])


@dataclasses.dataclass
class Commerce:
    """The order book's pricing, customer and screening state (see the module docstring).

    Parameters
    ----------
    settings : ``settings.pricing`` (currency, freeze policy, screening threshold, default country).
    book : the rules from files (no catalogue: the served snapshot's is added when pricing).
    master : customers from the customer file (None: none configured).
    lists : the screening lists (None: no screening).
    """

    settings: Settings
    book: PriceBook = dataclasses.field(default_factory=PriceBook)
    master: CustomerMaster | None = None
    lists: ScreeningLists | None = None
    changes: tuple[CatalogueEntry, ...] = ()
    records: tuple[PricingEntry, ...] = ()
    _priced: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._base = (self.book, self.master)  # what the files hold: replay starts from it

    # ------------------------------------------------------------------ replay
    def replay(self, records: Iterable[PricingEntry], customers: Iterable[Customer], changes: Iterable[CatalogueEntry]) -> list[str]:
        """Add what the order book stored (start-up): pricing records in the order posted (one the files now carry
        is skipped), customers (over the file's), catalogue changes. Returns the problems (logged by the caller)."""
        problems = []
        book, self.master = self._base
        kept = []
        for e in records:
            try:
                book = add_record(book, e.kind, record_of(e.kind, e.doc))
                kept.append(e)
            except ValidationError as exc:
                problems.append(f"pricing record {e.seq} ({e.kind} {e.ref}): {exc}")
        self.book, self.records = book, tuple(kept)
        for c in customers:
            self.master = (self.master or CustomerMaster()).with_customer(c)
        self.changes = tuple(changes)
        self._priced.clear()
        return problems

    # ------------------------------------------------------------------ the book in force
    def catalogue_for(self, snap: Any, day: dt.date) -> Catalogue:
        """The served snapshot's catalogue with the catalogue changes it does not carry, on `day` (cached; each
        cache entry keeps the objects it was made from, so their ids cannot be reused while it lives)."""
        changes = self.changes
        key = ("cat", id(snap), id(changes), day)
        hit = self._priced.get(key)
        if hit is not None and hit[0] is snap and hit[1] is changes:
            return hit[2]
        base = self._priced.get(("base",))
        if base is None or base[0] is not snap:
            items = snap.tables.get("items")
            base = (snap, Catalogue.from_items_frame(items, currency=self.settings.pricing.currency)
                    if items is not None else Catalogue(self.settings.pricing.currency))
            self._priced = {("base",): base}  # a new extract: nothing made from the old one is kept
        cat = base[1]
        after = snap.journal_seq or 0
        for e in changes:
            if e.seq <= after or (snap.journal_seq is None and e.retired_seq is not None):
                continue  # the extract carries it
            try:
                cat = apply_changes(cat, [e.change], on=day)
            except ValidationError as exc:
                log.warning("catalogue change %s (seq %d) does not apply to this extract: %s", e.change.id, e.seq, exc)
        if len(self._priced) > 64:
            self._priced = {("base",): base}
        self._priced[key] = (snap, changes, cat)
        return cat

    def book_for(self, snap: Any, day: dt.date) -> PriceBook:
        """The price book in force: the rules and the catalogue (with its changes) on `day` (cached like
        `catalogue_for`)."""
        book, changes = self.book, self.changes
        key = ("book", id(snap), id(book), id(changes), day)
        hit = self._priced.get(key)
        if hit is not None and hit[0] is snap and hit[1] is book and hit[2] is changes:
            return hit[3]
        got = book.with_catalogue(self.catalogue_for(snap, day))
        self._priced[key] = (snap, book, changes, got)
        return got

    @property
    def customer_check(self) -> bool:
        """True when a customer master is configured (a customer file, or a customer posted through the API)."""
        return self.master is not None

    def customer(self, customer_id: str) -> Customer | None:
        """The customer master record, or None (unknown, or no master)."""
        return self.master.get(customer_id) if self.master is not None else None

    def party(self, customer_id: str) -> Party:
        """Who buys, as pricing sees it: the master's record, else the bare id (default lists, catalogue prices)."""
        c = self.customer(customer_id)
        return Party.of(c) if c is not None else Party(customer_id)

    # ------------------------------------------------------------------ pricing an order
    def destination(self, order: Order) -> tuple[str | None, str | None]:
        """(country, region) of the order's ship-to: the order's, else the customer's ship-to address, else the
        configured default country."""
        st = order.ship_to or {}
        country = st.get("country")
        region = st.get("region")
        if country:
            if not re.fullmatch(r"[A-Za-z]{2}", str(country).strip()):
                raise ValidationError("must be an ISO 3166-1 alpha-2 country code", field="ship_to.country", value=country)
            return str(country).strip().upper(), (str(region).strip().upper() if region else None)
        c = self.customer(order.customer)
        if c is not None:
            for a in c.addresses:
                if a.kind in ("ship_to", "both"):
                    return a.country, a.region
        return self.settings.pricing.default_country, None

    def price(self, order: Order, snap: Any, day: dt.date, *, keep: set[int] = frozenset(),
              configured: ConfiguredLines | None = None) -> None:
        """Price `order` on `day` with its manual adjustments and typed unit prices (overrides as ``fixed_price``),
        and set each line's waterfall and the order's totals. Lines numbered in `keep` keep their stored waterfall
        (a confirmed order's frozen prices); the totals are the sums of the lines either way.

        Configured lines (``Line.configuration``) are priced by `configured.price` with the same book, party,
        day and ship-to (the configured unit price as the list price, then the book's rules and tax), each as
        a one-line order: order-total conditions of rules see the plain lines only. Every line must be priced
        in one currency.

        Raises ValidationError with the order-book field path (``lines.K.item``, ``ship_to.country``)."""
        book = self.book_for(snap, day)
        party = self.party(order.customer)
        if not book.tax_rates:
            party = dataclasses.replace(party, tax_profile="exempt")  # no tax rates configured: priced without tax
        country, region = self.destination(order)
        if country is None and party.tax_profile != "exempt":
            raise ValidationError("a ship-to country is needed for tax", field="ship_to.country", value=None,
                                  hint="give ship_to.country, a ship-to address in the customer master, or "
                                       "settings.pricing.default_country")
        order.ship_country, order.ship_region = country, region
        plain = [(k, ln) for k, ln in enumerate(order.lines) if ln.configuration is None]
        index = {str(ln.line): k for k, ln in plain}
        manual = [ManualAdjustment(str(ln.line), "fixed_price", ln.unit_price, "unit price typed with the order")
                  for _, ln in plain if ln.price_override and ln.unit_price is not None]
        manual += [m for m in order.manual if m.line in index]
        waterfalls: dict[int, LineWaterfall] = {}
        currency = None
        if plain:
            lines = [LineRequest(str(ln.line), ln.item, _qty(ln.qty, k)) for k, ln in plain]
            req = OrderRequest(order.order_id, party, country or "", tuple(lines), region, None, tuple(manual))
            try:
                price = price_order(book, req, on=day)
            except ValidationError as exc:
                raise _renamed(exc, {str(n): k for n, (k, _) in enumerate(plain)}) from None
            currency = price.currency
            waterfalls = {k: wf for (k, _), wf in zip(plain, price.lines, strict=True)}
        for k, ln in enumerate(order.lines):
            if ln.configuration is None:
                continue
            if configured is None:
                raise _no_configurator(k)
            try:
                wf = configured.price(ln.configuration, book=book, party=party, on=day, country=country or "",
                                      region=region, qty=_qty(ln.qty, k), line=str(ln.line))
            except ValidationError as exc:
                raise _renamed(exc, {"0": k}) from None
            if currency is not None and wf.total.currency != currency:
                raise ValidationError(f"a configured line priced in {wf.total.currency} cannot join an order priced in "
                                      f"{currency}", field=f"lines.{k}.configuration.model", value=ln.configuration.get("model"),
                                      hint="order it separately")
            currency = currency or wf.total.currency
            waterfalls[k] = wf
        net = tax = total = None
        for k, ln in enumerate(order.lines):
            wf = waterfalls[k]
            if ln.line in keep and ln.waterfall is not None and ln.waterfall.qty == wf.qty and ln.waterfall.item == wf.item \
                    and ln.waterfall.total.currency == currency:
                wf = ln.waterfall
            ln.waterfall = wf
            net = wf.net if net is None else net + wf.net
            tax = wf.tax if tax is None else tax + wf.tax
            total = wf.total if total is None else total + wf.total
        frozen = order.totals.frozen if order.totals is not None else False
        order.totals = OrderTotals(currency, day if not keep or order.totals is None else order.totals.on, net, tax,
                                   total, frozen)

    def catalogue_price(self, snap: Any, day: dt.date, item: str) -> Decimal | None:
        """The catalogue's unit price of `item` (with its changes), or None."""
        ci = self.catalogue_for(snap, day).get(item)
        return ci.price if ci is not None else None

    # ------------------------------------------------------------------ checks
    def customer_holds(self, order: Order, open_orders: Iterable[Order]) -> list[Hold]:
        """Unknown, blocked or over the credit limit (open orders plus this one, by priced totals in the
        limit's currency); empty without a customer master."""
        if self.master is None or order.totals is None:
            return []
        c = self.master.get(order.customer)
        cur = c.credit_limit.currency if c is not None and c.credit_limit is not None else order.totals.currency
        open_value = Money.zero(cur)
        if c is not None and c.credit_limit is not None:  # the open orders matter only for a credit check
            for o in open_orders:
                if o.customer == order.customer and o.order_id != order.order_id and o.totals is not None \
                        and o.totals.currency == cur:
                    open_value = open_value + o.totals.total
        try:
            reasons = check_order(self.master, order.customer, order_value=order.totals.total, open_value=open_value)
        except ValidationError as exc:
            return [Hold("credit_limit", f"the credit limit cannot be checked: order in {order.totals.currency}: {exc}",
                         {"this_order": order.totals.total.to_dict()})]
        return [Hold(r.code, r.message, {k: v.to_dict() for k, v in r.figures.items()}) for r in reasons]

    def screen(self, order: Order, book: PriceBook) -> ScreeningResult | None:
        """Screen the customer and the ship-to against the lists (None: no lists, or no destination to screen)."""
        lists = self.lists
        if lists is None or not (lists.parties or lists.embargoes):
            return None
        c = self.customer(order.customer)
        st = order.ship_to or {}
        country, region = order.ship_country, order.ship_region
        address = " ".join(str(st[k]) for k in ("address", "city") if st.get(k)) or None
        if address is None and c is not None and country is not None:
            a = next((a for a in c.addresses if a.kind in ("ship_to", "both")), None)
            if a is not None:
                address = " ".join(x for x in (a.line1, a.line2, a.city) if x) or None
        return screen_order(lists, customer_name=c.name if c is not None else order.customer, ship_to_country=country or "",
                            ship_to_name=st.get("name"), ship_to_region=region, ship_to_address=address,
                            lines=[(str(ln.line), book.item(ln.item).item_class) for ln in order.lines],
                            threshold=self.settings.pricing.screening_threshold)

    def quote(self, body: dict[str, Any], snap: Any, day: dt.date) -> dict[str, Any]:
        """A price quote (nothing stored): `body` as `pricing.OrderRequest.from_dict` reads it plus ``customer``;
        the ship-to country defaults like an order's. Returns the `OrderPrice` dict."""
        cid = body.get("customer")
        if not isinstance(cid, str) or not cid:
            raise ValidationError("names the customer", field="customer", value=cid)
        book = self.book_for(snap, day)
        party = self.party(cid)
        if self.master is not None and self.master.get(cid) is None:
            raise ValidationError("unknown customer", field="customer", value=cid)
        if not book.tax_rates:
            party = dataclasses.replace(party, tax_profile="exempt")
        raw = dict(body)
        raw.pop("customer", None)
        if not raw.get("ship_to_country"):
            c = self.customer(cid)
            a = next((a for a in c.addresses if a.kind in ("ship_to", "both")), None) if c is not None else None
            raw["ship_to_country"] = a.country if a is not None else (self.settings.pricing.default_country or "ZZ")
            if a is not None and a.region and not raw.get("ship_to_region"):
                raw["ship_to_region"] = a.region
        req = OrderRequest.from_dict(raw, party=party)
        if not req.order:
            req = dataclasses.replace(req, order="quote")
        return price_order(book, req, on=day).to_dict()


_QTY: dict[float, Decimal] = {}


def _qty(qty: float, k: int) -> Decimal:
    """A line quantity as pricing's exact decimal (at most 3 places; refused naming ``lines.<k>.qty``), memoised."""
    got = _QTY.get(qty)
    if got is None:
        got = qty_of(float(qty), f"lines.{k}.qty")
        if len(_QTY) > 10_000:
            _QTY.clear()
        _QTY[qty] = got
    return got


def _no_configurator(k: int) -> ValidationError:
    """The refusal of a configured line where no configurator is wired."""
    return ValidationError("configured lines are not taken here (no configurator is wired to the order book)",
                           field=f"lines.{k}.configuration", value=None, hint="order the plain item instead")


def _renamed(exc: ValidationError, positions: dict[str, int]) -> ValidationError:
    """A pricing error's field path in the order book's form: ``lines[0].item`` -> ``lines.K.item`` (K the order
    line's index, `positions` mapping the priced request's line positions to them), ``manual[k].value`` ->
    ``manual_adjustments.k.value``, ``ship_to_country`` -> ``ship_to.country``."""
    field = exc.field or ""
    field = re.sub(r"^lines\[(\d+)\]", lambda m: f"lines.{positions.get(m.group(1), m.group(1))}", field)
    field = re.sub(r"\[(\d+)\]", r".\1", field)
    if field.startswith("manual."):
        field = "manual_adjustments." + field[len("manual."):]
    if field == "ship_to_country":
        field = "ship_to.country"
    msg = exc.message.removeprefix(f"{exc.field}={exc.value!r}: ")
    return ValidationError(msg, field=field, value=exc.value, hint=exc.hint)
