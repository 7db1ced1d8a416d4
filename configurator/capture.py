"""Configured order lines at capture: the configurator's side of `orderbook.configured.ConfiguredLines`.

`ConfiguredCapture(library)` is handed to the order service by the composition root
(`promessa.app.Engine.open`); the order book calls it, under its lock, inside the request's transaction:

- `resolve` checks the configuration a line carries (`resolve_configuration`: complete and valid on the
  business day, else a ValidationError naming ``lines.<i>.configuration.rules[<rule>]`` or
  ``...choices.<var>``) and pins the version in force, so a restart, a change or a reprice reads the same
  model whatever was posted since;
- `price` is `price_configured_line`: the option pricer's unit price (base + options + the model's
  adjustments) as the list price of the model's item, then the book's rules and tax;
- `commit` is `commit_configuration`: every component and operation promised and reserved through
  capable-to-promise (all or nothing), one ship date, the explanation naming the option whose component
  or capacity binds. The draws go back to the order book, which journals them with the line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from configurator.lines import commit_configuration, resolve_configuration
from configurator.model import Model, ModelLibrary
from configurator.pricing import price_configured_line
from orderbook.configured import ConfiguredCommit, ResolvedConfiguration
from pricing import LineWaterfall, Party, PriceBook


class ConfiguredCapture:
    """Resolve, price and commit configured order lines against the models of `library` (a `ModelLibrary`,
    e.g. ``Configurator.library``; versions posted later are seen as they arrive)."""

    def __init__(self, library: ModelLibrary) -> None:
        self.library = library

    def resolve(self, spec: Mapping[str, Any], *, on: dt.date, field: str) -> ResolvedConfiguration:
        """Check `spec` (``{model, version?, choices}``) on business day `on`; returns what the line stores (the
        model, the version pinned, the choices), the configured item, the build location and the currency."""
        model, config, _ = resolve_configuration(self.library, spec, on=on, field=field)
        return ResolvedConfiguration({"model": model.name, "version": model.version, "choices": dict(config)},
                                     model.configured_item, model.build_location, model.currency)

    def _model(self, configuration: Mapping[str, Any]) -> tuple[Model, Any]:
        m = self.library.version(str(configuration["model"]), str(configuration["version"]))
        return m, self.library.compiled_of(m)

    def price(self, configuration: Mapping[str, Any], *, book: PriceBook, party: Party, on: dt.date, country: str,
              region: str | None, qty: Decimal, line: str) -> LineWaterfall:
        """The waterfall of `qty` units of a stored configuration (`price_configured_line`)."""
        m, compiled = self._model(configuration)
        return price_configured_line(book, m, configuration["choices"], qty=qty, party=party, on=on, country=country,
                                     region=region, line=line, compiled=compiled).waterfall

    def commit(self, snap: Any, state: Any, configuration: Mapping[str, Any], *, qty: float, requested_date: dt.date,
               location: str) -> ConfiguredCommit:
        """Promise and reserve `qty` units built at `location` (`commit_configuration`, all or nothing)."""
        m, compiled = self._model(configuration)
        p, res = commit_configuration(snap, state, m, configuration["choices"], qty=qty, requested_date=requested_date,
                                      location=location, compiled=compiled)
        if p.binding is not None:
            reason = p.binding.promise.reason.name.lower()
        else:
            reason = "lead_time" if p.status == "late" else "none"  # late with no binding need: the assembly time
        return ConfiguredCommit(status=p.status, reason=reason, date=p.date, draws=tuple(res.draws) if res else (),
                                message=p.message, details=p.to_dict())
