"""A small, self-contained option pricer: base price + option prices + adjustment rules.

It prices a complete, valid configuration of one model (refusing anything else with the variable
missing or the rule broken). Amounts are `promessa.money.Money` in the model's currency; the
total is rounded to the minor unit (half up) once, as documents show it. The pricing engine of
the order hub can take over later from `OptionPrice.lines`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

from configurator.model import Model
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
