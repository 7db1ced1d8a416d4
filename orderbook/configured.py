"""Configured order lines: what the order book needs from a configurator, as a protocol.

An order line may carry a ``configuration`` (a model, its version and one value per variable)
instead of, or beside, a plain item. The order book stays generic: it does not know how a model
is checked, priced or exploded into components and operations. The composition root
(`promessa.app.Engine.open`) hands `OrderService` an object with the three methods of
:class:`ConfiguredLines` (the configurator's `configurator.capture.ConfiguredCapture`); without
one, a configured line is refused naming ``lines.<i>.configuration``.

- `resolve` checks a configuration when it comes in (complete and valid, else a ValidationError
  naming the rule or the variable under the given field path) and pins the model version;
- `price` gives the line's waterfall (`pricing.LineWaterfall`) for the configured unit price;
- `commit` promises and reserves the line through its bill (components and capacity) and
  returns a :class:`ConfiguredCommit`; the order book journals its draws like any other line's,
  so replay at start-up, refresh, cancel and change need nothing more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from pricing import LineWaterfall, Party, PriceBook
from promising import Draw


@dataclasses.dataclass(frozen=True)
class ResolvedConfiguration:
    """A configuration checked at capture: `configuration` is what the line stores (``model``, the pinned
    ``version``, ``choices``); `item` the configured item the line carries; `location` the build location
    (None: the model names none); `currency` the currency of its price."""

    configuration: dict[str, Any]
    item: str
    location: str | None
    currency: str


@dataclasses.dataclass(frozen=True)
class ConfiguredCommit:
    """What committing a configured line gave: `status` (full, late or short; promising's status names),
    `reason` (promising's reason name of the need that binds: supply, capacity, lead_time, none), the ship
    `date` (None: short), the `draws` reserved (empty when short: all or nothing), the explanation `message`
    naming the option whose component or capacity binds, and `details` (each need's answer) for the record."""

    status: str
    reason: str
    date: dt.date | None
    draws: tuple[Draw, ...]
    message: str
    details: dict[str, Any]


class ConfiguredLines(Protocol):
    """What the order book asks of a configurator (see the module docstring)."""

    def resolve(self, spec: Mapping[str, Any], *, on: dt.date, field: str) -> ResolvedConfiguration:
        """Check `spec` (``{model, version?, choices}``) on business day `on`; errors name ``<field>.<...>``."""
        ...

    def price(self, configuration: Mapping[str, Any], *, book: PriceBook, party: Party, on: dt.date, country: str,
              region: str | None, qty: Decimal, line: str) -> LineWaterfall:
        """The waterfall of `qty` configured units (a stored, resolved configuration) priced with `book`."""
        ...

    def commit(self, snap: Any, state: Any, configuration: Mapping[str, Any], *, qty: float, requested_date: dt.date,
               location: str) -> ConfiguredCommit:
        """Promise and reserve `qty` configured units built at `location` (all or nothing)."""
        ...
