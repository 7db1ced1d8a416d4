"""Interactive configuration that never reaches a dead end.

A `Session` holds the user's choices on one compiled model. After every choice and every
retraction the valid values of every variable are exactly the values that some full valid
configuration extending the choices takes (computed on the compiled diagram), and a choice
outside them is refused with the rules and choices responsible. `why` names a minimal set of
rules and choices that exclude a value (deletion filters on the diagram and on the rules' BDDs); `how_to_get` gives the
smallest set of choices to change (a shortest path on the diagram); `complete` fills the rest by
defaults or by an objective (cheapest by option prices, or fastest given a callback that dates
each option).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable

import numpy as np

from configurator.compile import Compiled
from promessa.errors import ValidationError
from promessa.money import minor_unit

OBJECTIVES = ("defaults", "cheapest", "fastest")


@dataclasses.dataclass(frozen=True)
class Why:
    """Why `var` cannot take `value` now: the minimal rules and choices responsible."""

    var: str
    value: str
    valid: bool
    rules: tuple[str, ...]
    choices: dict[str, str]

    @property
    def message(self) -> str:
        if self.valid:
            return f"{self.var}={self.value} is available"
        parts = []
        if self.rules:
            parts.append("rules " + ", ".join(repr(r) for r in self.rules))
        if self.choices:
            parts.append("choices " + ", ".join(f"{x}={v}" for x, v in self.choices.items()))
        return f"{self.var}={self.value} is excluded by " + " and ".join(parts)

    def to_dict(self) -> dict:
        return {"var": self.var, "value": self.value, "valid": self.valid, "rules": list(self.rules),
                "choices": dict(self.choices), "message": self.message}


@dataclasses.dataclass(frozen=True)
class HowToGet:
    """The fewest changes to the current choices that make `var=value` available.

    `changes` maps each choice to change to (old, new), the asked variable included when it was
    chosen; `configuration` is one full valid configuration reached that way."""

    var: str
    value: str
    possible: bool
    changes: dict[str, tuple[str, str]]
    configuration: dict[str, str] | None
    rules: tuple[str, ...] = ()   # when impossible: the rules that exclude the value in every configuration

    def to_dict(self) -> dict:
        return {"var": self.var, "value": self.value, "possible": self.possible,
                "changes": [{"var": x, "from": a, "to": b} for x, (a, b) in self.changes.items()],
                "configuration": self.configuration, "rules": list(self.rules)}


class Session:
    """Choices on one compiled model. Every method keeps the session free of dead ends."""

    def __init__(self, compiled: Compiled, choices: dict[str, str] | None = None) -> None:
        self.compiled = compiled
        self.model = compiled.model
        self.id: str | None = None  # set by `configurator.registry.SessionRegistry` when it keeps the session
        self.choices: dict[str, str] = {}
        self._valid: dict[str, tuple[str, ...]] | None = None
        for x, v in (choices or {}).items():
            self.choose(x, v)

    # -- state -----------------------------------------------------------------------------------

    @property
    def valid(self) -> dict[str, tuple[str, ...]]:
        """var -> the values still completable to a full valid configuration (model value order)."""
        if self._valid is None:
            self._valid = self.compiled.valid_values(self.choices)
        return self._valid

    @property
    def complete(self) -> bool:
        """Whether every variable has a value (each chosen or forced to a single value)."""
        return all(len(vs) == 1 for vs in self.valid.values())

    def configuration(self) -> dict[str, str]:
        """The full configuration once every variable has a single valid value; refused before."""
        missing = [x for x, vs in self.valid.items() if len(vs) != 1]
        if missing:
            raise ValidationError("the configuration is incomplete: no value chosen", field=missing[0], value=None,
                                  hint="choose it or complete the session by defaults or an objective")
        return {x: vs[0] for x, vs in self.valid.items()}

    def count(self) -> int:
        """How many full valid configurations extend the current choices."""
        return self.compiled.count(self.choices)

    # -- choices ---------------------------------------------------------------------------------

    def choose(self, var: str, value: str) -> dict[str, tuple[str, ...]]:
        """Set `var` to `value` (replacing an earlier choice of `var`) and return the valid values.

        A value that no valid configuration with the other choices takes is refused, naming the
        rules and choices responsible (the session does not change)."""
        self.model.check_value(var, value)
        others = {x: v for x, v in self.choices.items() if x != var}
        ok = value in (self.valid[var] if var not in self.choices else self.compiled.valid_values(others)[var])
        if not ok:
            w = self.why(var, value, choices=others)
            raise ValidationError(w.message, field=var, value=value, hint="ask how_to_get for the fewest changes")
        self.choices = {**others, var: value}
        self._valid = None
        return self.valid

    def retract(self, var: str) -> dict[str, tuple[str, ...]]:
        """Remove the choice of `var` (no-op when not chosen) and return the valid values."""
        self.model.variable(var)
        if var in self.choices:
            self.choices = {x: v for x, v in self.choices.items() if x != var}
            self._valid = None
        return self.valid

    # -- explanations ----------------------------------------------------------------------------

    def why(self, var: str, value: str, *, choices: dict[str, str] | None = None) -> Why:
        """Why `var=value` is not available: a minimal set of rules and of the user's choices that
        together exclude it (`Why.valid` is True, and both sets empty, when it is available)."""
        self.model.check_value(var, value)
        ch = dict(self.choices if choices is None else choices)
        ch.pop(var, None)
        if value in self.compiled.valid_values(ch)[var]:
            return Why(var, value, True, (), {})
        rules, chosen = self.compiled.conflict(ch, {var: value})
        order = {r.name: i for i, r in enumerate(self.model.rules)}
        return Why(var, value, False, tuple(sorted(rules, key=order.__getitem__)), chosen)

    def how_to_get(self, var: str, value: str) -> HowToGet:
        """The smallest set of current choices to change so that `var=value` becomes available,
        each with the value it changes to (a least-changes path on the diagram); `possible` is
        False, with the rules responsible, when no valid configuration has `var=value`."""
        self.model.check_value(var, value)
        c = self.compiled
        allowed = c.allowed({var: value})
        cost = np.zeros((c.n_vars, c.max_dom))
        for x, v in self.choices.items():
            if x == var:
                continue
            i = c.layer[x]
            cost[i, :] = 1.0
            cost[i, c.codes[x][v]] = 0.0
        config, n = c.best(cost, allowed=allowed)
        if config is None:
            w = self.why(var, value, choices={})
            return HowToGet(var, value, False, {}, None, w.rules)
        changes = {x: (v, config[x]) for x, v in self.choices.items() if config[x] != v}
        return HowToGet(var, value, True, changes, config)

    # -- completion ------------------------------------------------------------------------------

    def complete_by(self, objective: str = "defaults", *,
                    date_of: Callable[[str, str], dt.date | None] | None = None) -> dict[str, str]:
        """Fill every open variable and return the full configuration (the choices are kept).

        - ``defaults``: in model order, each open variable takes its default when still valid,
          otherwise its first valid value;
        - ``cheapest``: the completion with the least sum of option prices (`Model.prices`);
        - ``fastest``: the completion whose latest option date is earliest, where
          ``date_of(var, value)`` dates an option (None: the option cannot be had).
        """
        if objective not in OBJECTIVES:
            raise ValidationError(f"unknown objective (one of {', '.join(OBJECTIVES)})", field="objective", value=objective)
        c = self.compiled
        if objective == "defaults":
            for x in self.model.variables:
                vs = self.valid[x.name]
                if x.name in self.choices or len(vs) == 1:
                    continue
                self.choose(x.name, x.default if x.default in vs else vs[0])
            return self.configuration()
        cost = np.zeros((c.n_vars, c.max_dom))
        allowed = c.allowed(self.choices)
        if objective == "cheapest":
            scale = 10 ** minor_unit(self.model.currency)
            for x, per in self.model.prices.items():
                for v, m in per.items():
                    cost[c.layer[x], c.codes[x][v]] = float(m.amount * scale)
            config, _ = c.best(cost, allowed=allowed)
        else:
            if date_of is None:
                raise ValidationError("a callback that dates each option is required", field="date_of", value=None)
            for x in self.model.variables:
                i = c.layer[x.name]
                for v in self.valid[x.name]:
                    d = date_of(x.name, v)
                    if d is None:
                        allowed[i, c.codes[x.name][v]] = False
                    else:
                        cost[i, c.codes[x.name][v]] = float(d.toordinal())
            config, best = c.best(cost, allowed=allowed, bottleneck=True)
            if config is None or math.isinf(best):
                raise ValidationError("no completion can be had: every way to complete it needs an option that cannot "
                                      "be dated", field="objective", value=objective)
        for x in self.model.variables:
            if x.name not in self.choices:
                self.choices[x.name] = config[x.name]
        self._valid = None
        return self.configuration()

    # -- rendering -------------------------------------------------------------------------------

    def alternatives(self, var: str) -> tuple[str, ...]:
        """The values that could take the place of `var`'s choice (valid with every other choice kept);
        for a variable not chosen, its valid values."""
        if var not in self.choices:
            return self.valid[var]
        others = {x: v for x, v in self.choices.items() if x != var}
        return self.compiled.valid_values(others)[var]

    def to_dict(self) -> dict:
        """The state the configuration page shows: the session's ``id`` (None until a registry keeps it), each
        variable with its valid values, the values that could replace its choice (``alternatives``), choice,
        default and option prices; the count of completions; whether it is complete."""
        out = []
        for x in self.model.variables:
            prices = self.model.prices.get(x.name, {})
            out.append({
                "name": x.name, "label": x.label or x.name, "values": list(x.values), "valid": list(self.valid[x.name]),
                "alternatives": list(self.alternatives(x.name)),
                "chosen": self.choices.get(x.name), "default": x.default,
                "prices": {v: str(m.amount) for v, m in prices.items()},
            })
        return {"id": self.id, "model": self.model.name, "version": self.model.version, "currency": self.model.currency,
                "variables": out, "choices": dict(self.choices), "complete": self.complete,
                "count": self.count()}
