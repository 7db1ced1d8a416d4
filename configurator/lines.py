"""Configured order lines: a complete configuration -> components and operations -> a promise.

The model's mapping rules (``bom`` and ``routing``) pick, by option, the components a configured
unit consumes and the operations it needs (``qty_per`` per unit). An operation is an item made at
the build location whose bill in the snapshot uses a resource, so promising it checks capacity
through capable-to-promise. `promise_configuration` asks `promising.promise` (public API only,
no commitment: an availability inquiry) for every component and operation, each for the whole
quantity on one date, due `assembly_days` before the requested date; the configured line can be
built on the latest of those dates and ships `assembly_days` later. The explanation names the
option whose component or capacity binds.

Each need is asked on its own against the same state: needs that share a scarce component are
summed into one request, but two operations that share a resource are each checked against the
whole capacity (the commitment, done by order capture, is where they meet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from configurator.model import Model
from promessa.errors import ValidationError
from promising import Policy, Request, Reservation, promise, promise_many, unreserve

ONE_DATE = Policy(allow_partial=False, allow_split=False)


@dataclasses.dataclass(frozen=True)
class Need:
    """One item a configured line needs: its total quantity and the options (var, value) that picked it."""

    item: str
    kind: str            # component or operation
    qty: float
    options: tuple[tuple[str, str], ...]
    rules: tuple[str, ...]  # the mapping rules that picked it


@dataclasses.dataclass(frozen=True)
class NeedPromise:
    need: Need
    promise: object      # promising.Promise
    date: dt.date | None  # when the whole quantity is available (None: not within the horizon)


@dataclasses.dataclass(frozen=True)
class ConfiguredPromise:
    """The answer for a configured line: ship date, status, each need's promise and what binds."""

    qty: float
    requested_date: dt.date
    date: dt.date | None           # ship date of the configured line (None: cannot be promised)
    status: str                    # full, late or short
    needs: tuple[NeedPromise, ...]
    binding: NeedPromise | None    # the need whose date sets the line's date (or that is short)

    @property
    def message(self) -> str:
        if self.binding is None and self.status == "full":
            return f"{self.qty:g} configured on {self.date}: promised in full on the requested date"
        if self.binding is None:
            return f"{self.qty:g} configured on {self.date} (requested {self.requested_date}): the assembly lead time binds"
        b = self.binding
        opts = ("for option " + ", ".join(f"{x}={v}" for x, v in b.need.options)) if b.need.options else \
            "needed by every configuration"
        what = f"component {b.need.item}"
        if b.need.kind == "operation":
            res = ((b.promise.details or {}).get("ctp") or {}).get("binding") or {}
            what = (f"capacity of {res['resource']} (operation {b.need.item})" if res.get("resource")
                    else f"operation {b.need.item}")
        reason = b.promise.reason.description
        if self.date is None:
            return f"not promised: {what} {opts} is short ({reason})"
        return f"{self.qty:g} configured on {self.date} (requested {self.requested_date}): {what} {opts} binds ({reason})"

    def to_dict(self) -> dict:
        return {
            "qty": self.qty, "requested_date": self.requested_date.isoformat(),
            "date": self.date.isoformat() if self.date else None, "status": self.status, "message": self.message,
            "binding": None if self.binding is None else {
                "item": self.binding.need.item, "kind": self.binding.need.kind,
                "options": [{"var": x, "value": v} for x, v in self.binding.need.options],
                "reason": self.binding.promise.reason.name.lower()},
            "needs": [{"item": n.need.item, "kind": n.need.kind, "qty": n.need.qty,
                       "options": [{"var": x, "value": v} for x, v in n.need.options],
                       "date": n.date.isoformat() if n.date else None, "status": n.promise.status.name.lower(),
                       "reason": n.promise.reason.name.lower()} for n in self.needs],
        }


def explode(model: Model, config: Mapping[str, str], *, qty: float = 1.0) -> list[Need]:
    """The components and operations `qty` units of `config` need, summed per item, in mapping order."""
    acc: dict[tuple[str, str], list] = {}
    keyed, always = model.mapping_index
    picked = list(always)
    for x, v in config.items():
        picked += keyed.get((x, v), ())
    picked.sort(key=lambda pm: pm[0])  # mapping order
    for _, m in picked:
        if all(config[x] in vals for x, vals in m.when[1:]):
            key = (m.item, m.kind)
            e = acc.setdefault(key, [0.0, {}, []])
            e[0] += m.qty_per * qty
            for x, _ in m.when:
                e[1][(x, config[x])] = None
            e[2].append(m.name)
    return [Need(item, kind, q, tuple(opts), tuple(rules)) for (item, kind), (q, opts, rules) in acc.items()]


def promise_configuration(snap, state, model: Model, config: Mapping[str, str], *, qty: float = 1.0,
                          requested_date: dt.date, location: str | None = None, check: bool = True,
                          compiled=None) -> ConfiguredPromise:
    """Promise `qty` configured units (no commitment) against a snapshot and its state.

    Parameters
    ----------
    snap, state : a `supplydata.Snapshot` and its `State`.
    model : the model version; `config` one value per variable.
    qty : configured units; `requested_date` when the customer wants them.
    location : the build location (default: the model's ``build.location``).
    check : refuse an incomplete or invalid configuration first, naming the rule broken.
    compiled : the model's `Compiled` diagram, for a faster check.

    Returns a `ConfiguredPromise` whose `binding` need names the option whose component or capacity binds.
    """
    if check:
        model.check_complete(config, compiled=compiled)
    loc = location or model.build_location
    if not loc:
        raise ValidationError("no build location (give one or set build.location in the model)", field="location", value=loc)
    if qty <= 0:
        raise ValidationError("must be positive", field="qty", value=qty)
    lt = dt.timedelta(days=model.assembly_days)
    due = max(snap.as_of, requested_date - lt)
    needs = explode(model, config, qty=qty)
    answers = promise_many(snap, state, [Request(need.item, loc, need.qty, due, ONE_DATE) for need in needs])
    out: list[NeedPromise] = []
    for need, p in zip(needs, answers, strict=True):
        date = p.lines[-1].date if p.lines and p.short_qty <= 1e-9 else None
        out.append(NeedPromise(need, p, date))
    return _answer(qty, requested_date, due, lt, out)


def _answer(qty: float, requested_date: dt.date, due: dt.date, lt: dt.timedelta, out: list[NeedPromise]) -> ConfiguredPromise:
    """The configured line's answer from its needs' promises: short when one is, else built on the latest
    need date and shipped the assembly time later; the binding need is the latest one after the due date."""
    short = [n for n in out if n.date is None]
    if short:
        return ConfiguredPromise(qty, requested_date, None, "short", tuple(out), short[0])
    build = max((n.date for n in out), default=due)
    ship = max(requested_date, build + lt)
    if ship <= requested_date:
        return ConfiguredPromise(qty, requested_date, requested_date, "full", tuple(out), None)
    late = [n for n in out if n.date > due]
    binding = max(late, key=lambda n: n.date) if late else None  # None: the assembly lead time itself binds
    return ConfiguredPromise(qty, requested_date, ship, "late", tuple(out), binding)


def commit_configuration(snap, state, model: Model, config: Mapping[str, str], *, qty: float = 1.0,
                         requested_date: dt.date, location: str | None = None, check: bool = True,
                         compiled=None) -> tuple[ConfiguredPromise, Reservation | None]:
    """Promise `qty` configured units like `promise_configuration` and commit them: each component and
    operation is reserved (capable-to-promise draws: the component's supply, the resource's capacity) on
    the date its promise gives. All or nothing: when a need cannot be had within the horizon, what was
    reserved for the others is given back and the answer is short with no reservation.

    Returns ``(ConfiguredPromise, Reservation)``: the caller (the order book) journals the reservation's
    draws with the line, and gives them back with `promising.unreserve` when the line is changed or
    cancelled. Two operations sharing a resource meet here: the second is dated on what the first left."""
    if check:
        model.check_complete(config, compiled=compiled)
    loc = location or model.build_location
    if not loc:
        raise ValidationError("no build location (give one or set build.location in the model)", field="location", value=loc)
    if qty <= 0:
        raise ValidationError("must be positive", field="qty", value=qty)
    lt = dt.timedelta(days=model.assembly_days)
    due = max(snap.as_of, requested_date - lt)
    out: list[NeedPromise] = []
    draws: list = []
    for need in explode(model, config, qty=qty):
        p = promise(snap, state, Request(need.item, loc, need.qty, due, ONE_DATE), commit=True, explain=False)
        full = bool(p.lines) and p.short_qty <= 1e-9
        if p.committed:
            draws.extend(p.reservation.draws)
        if not full:
            unreserve(snap, state, Reservation(tuple(draws)))
            out.append(NeedPromise(need, p, None))
            return _answer(qty, requested_date, due, lt, out), None
        out.append(NeedPromise(need, p, p.lines[-1].date))
    return _answer(qty, requested_date, due, lt, out), Reservation(tuple(draws))


def option_dater(snap, state, model: Model, *, qty: float = 1.0, requested_date: dt.date, location: str | None = None):
    """A `date_of(var, value)` callback for `Session.complete_by("fastest")`: the date by which the
    items that the option maps to (every mapping whose conditions name that value) are available
    for `qty` units, each promised like `promise_configuration` does (no commitment); the due date
    when the option maps to nothing; None when an item cannot be had within the horizon. Answers
    are cached per option."""
    loc = location or model.build_location
    if not loc:
        raise ValidationError("no build location (give one or set build.location in the model)", field="location", value=loc)
    due = max(snap.as_of, requested_date - dt.timedelta(days=model.assembly_days))
    cache: dict[tuple[str, str], dt.date | None] = {}

    def date_of(var: str, value: str) -> dt.date | None:
        key = (var, value)
        if key not in cache:
            best: dt.date | None = due
            for m in model.mappings:
                if any(x == var and value in vals for x, vals in m.when):
                    p = promise(snap, state, Request(m.item, loc, m.qty_per * qty, due, ONE_DATE), explain=False)
                    if not p.lines or p.short_qty > 1e-9:
                        best = None
                        break
                    best = max(best, p.lines[-1].date)
            cache[key] = best
        return cache[key]

    return date_of


def resolve_configuration(library, spec, *, on: dt.date, field: str = "configuration", compiled: bool = True):
    """Check the configuration an order line carries and return ``(model, config, compiled diagram)``.

    Parameters
    ----------
    library : the `configurator.model.ModelLibrary` serving the models.
    spec : ``{"model": name, "version"?: version, "choices": {var: value}}`` (a complete configuration).
    on : the business day that picks the version in force when none is named.
    field : the field path of `spec` in the caller's document (``lines.3.configuration``), prefixed to every error.
    compiled : also return the compiled diagram (compiled on first use and kept by the library).

    Refused with a ValidationError whose field names what is wrong: ``<field>.model`` (unknown, or no version
    in force), ``<field>.version``, ``<field>.choices.<var>`` (unknown value, or no value: incomplete) and
    ``<field>.rules[<rule>]`` with the values it reads (a rule the configuration breaks).
    """
    if not isinstance(spec, Mapping):
        raise ValidationError("must be {model, version?, choices}", field=field, value=spec)
    unknown = set(spec) - {"model", "version", "choices"}
    if unknown:
        raise ValidationError("unknown field (model, version, choices)", field=f"{field}.{sorted(unknown)[0]}",
                              value=sorted(unknown)[0])
    name = spec.get("model")
    if not isinstance(name, str) or not name:
        raise ValidationError("names the configuration model", field=f"{field}.model", value=name)
    if name not in library.names():
        raise ValidationError("unknown configuration model", field=f"{field}.model", value=name,
                              hint="GET /v1/configurator/models lists them")
    version = spec.get("version")
    try:
        model = library.version(name, str(version)) if version is not None else library.effective(name, on)
    except ValidationError as exc:
        raise ValidationError(exc.message.removeprefix(f"{exc.field}={exc.value!r}: "), field=f"{field}.{exc.field}",
                              value=exc.value, hint=exc.hint) from None
    choices = spec.get("choices")
    if not isinstance(choices, Mapping) or not all(isinstance(v, str) for v in choices.values()):
        raise ValidationError("must map every variable to its value", field=f"{field}.choices", value=choices)
    config = {str(x): v for x, v in choices.items()}
    diagram = library.compiled_of(model) if compiled else None
    try:
        model.check_complete(config, compiled=diagram)
    except ValidationError as exc:
        sub = (exc.field if exc.field.startswith("rules[") else
               f"choices.{exc.value}" if exc.field == "variable" else f"choices.{exc.field}")
        raise ValidationError(exc.message.removeprefix(f"{exc.field}={exc.value!r}: "), field=f"{field}.{sub}",
                              value=exc.value, hint=exc.hint) from None
    return model, config, diagram
