"""A small, self-contained option pricer: base price + option prices + adjustment rules.

It prices a complete, valid configuration of one model (refusing anything else with the variable
missing or the rule broken). Amounts are `promessa.money.Money` in the model's currency; the
total is rounded to the minor unit (half up) once, as documents show it.

`price_configured_line` prices a configured line through the order hub's pricing engine
(`pricing.price_order`): the option pricer's unit price is the line's list price, and the price
book's rules and tax apply on top (the waterfall).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from configurator.model import Model
from pricing import LineRequest, LineWaterfall, OrderRequest, Party, PriceBook, PriceEntry, PriceList, price_order
from pricing.model import qty_of
from promessa.errors import ValidationError
from promessa.money import Money


@dataclasses.dataclass(frozen=True)
class OptionPrice:
    """The price of one configured unit: base, one line per priced option, adjustments, total.

    `lines` holds (kind, name, amount) with kind ``base``, ``option`` (name ``var=value``) or
    ``adjustment`` (the adjustment rule's name)."""

    lines: tuple[tuple[str, str, Money], ...]
    unit: Money       # per configured unit, rounded
    qty: Decimal
    total: Money      # unit * qty, rounded

    def to_dict(self) -> dict:
        return {"lines": [{"kind": k, "name": n, "amount": str(m.amount)} for k, n, m in self.lines],
                "unit": str(self.unit.amount), "qty": str(self.qty), "total": str(self.total.amount),
                "currency": self.unit.currency}


def price_configuration(model: Model, config: Mapping[str, str], *, qty: int | Decimal = 1, check: bool = True,
                        compiled=None) -> OptionPrice:
    """Price `qty` units of a complete configuration of `model`.

    Parameters
    ----------
    model : the model version the configuration belongs to.
    config : one value per variable.
    qty : configured units (an integer or Decimal, positive).
    check : refuse an incomplete or invalid configuration first (naming the rule broken).
    compiled : the model's `configurator.compile.Compiled` diagram, for a faster check.

    Returns an `OptionPrice`.
    """
    if check:
        model.check_complete(config, compiled=compiled)
    q = Decimal(qty)
    lines: list[tuple[str, str, Money]] = []
    total = Money.zero(model.currency)
    if model.base_price is not None:
        lines.append(("base", model.name, model.base_price))
        total = total + model.base_price
    for x in model.variables:
        m = model.prices.get(x.name, {}).get(config[x.name])
        if m is not None:
            lines.append(("option", f"{x.name}={config[x.name]}", m))
            total = total + m
    for a in model.adjustments:
        if all(config[x] in vals for x, vals in a.when):
            lines.append(("adjustment", a.name, a.amount))
            total = total + a.amount
    unit = total.rounded()
    return OptionPrice(tuple(lines), unit, q, (unit * q).rounded())


@dataclasses.dataclass(frozen=True)
class ConfiguredPrice:
    """A configured line priced through the pricing engine: the option pricer's build-up of the unit list
    price (`options`) and the line's waterfall (`waterfall`: list price, the book's rules, tax, total)."""

    options: OptionPrice
    waterfall: LineWaterfall
    on: dt.date

    def to_dict(self) -> dict:
        """API form: the option lines, unit and list total of `OptionPrice.to_dict()` plus ``waterfall`` and the
        line's ``net``, ``tax`` and ``total_with_tax`` (amounts as strings in ``currency``)."""
        w = self.waterfall
        return {**self.options.to_dict(), "on": self.on.isoformat(), "waterfall": w.to_dict(),
                "net": str(w.net.amount), "tax": str(w.tax.amount), "total_with_tax": str(w.total.amount)}


def price_list_id(model: Model) -> str:
    """The id of the one-entry price list that carries a configured unit price (``configured/<model>/<version>``)."""
    return f"configured/{model.name}/{model.version}"


def price_configured_line(book: PriceBook, model: Model, config: Mapping[str, str], *, qty: int | Decimal = 1,
                          party: Party, on: dt.date, country: str, region: str | None = None, line: str = "1",
                          compiled=None, check: bool = True) -> ConfiguredPrice:
    """Price a configured line through `pricing.price_order`.

    The list price of one configured unit is the option pricer's sum (base + option prices + the model's
    adjustment rules, `price_configuration`), carried by a one-entry price list put first in the party's
    chain for the model's configured item (`Model.configured_item`); the book's discount rules (by
    item, category, brand, customer, segment, channel, order total) and tax by ship-to then apply to the
    line as to any other.

    Parameters
    ----------
    book : the price book in force (rules, tax rates, the catalogue for the item's category and tax category).
    model, config : the model version and a complete, valid configuration of it.
    qty : configured units.
    party : who buys (`pricing.Party`); its segments and channel select the rules, its tax profile the tax.
    on : the business day.
    country, region : the ship-to jurisdiction for tax.
    line : the line id shown in the waterfall.
    compiled, check : as for `price_configuration`.

    Returns a `ConfiguredPrice`; raises ValidationError for an incomplete or invalid configuration (naming the
    variable or the rule) or what `price_order` refuses (no tax rate for the ship-to, ...).
    """
    options = price_configuration(model, config, qty=qty, check=check, compiled=compiled)
    item = model.configured_item
    if options.unit.amount < 0:
        raise ValidationError("the options and adjustments price the unit below zero", field="prices", value=str(options.unit.amount))
    pl = PriceList(price_list_id(model), 1, model.currency, dt.date.min, None, False, {item: PriceEntry(item, options.unit.amount)},
                   f"configured price of {model.name} {model.version}: base + options + adjustments")
    priced_book = book.replace(price_lists=[*book.price_lists, pl])
    buyer = dataclasses.replace(party, price_list=pl.id)
    req = OrderRequest(f"configuration {model.name}", buyer, country.upper(), (LineRequest(line, item, qty_of(qty, "qty")),),
                       region.upper() if region else None, model.currency)
    price = price_order(priced_book, req, on=on)
    return ConfiguredPrice(options, price.lines[0], on)
