"""Configuration models as data: variables with finite domains, rules, prices and mappings.

A model is read from a dict (parsed JSON or YAML, see `parse_model`) and checked on the way in:
unknown variables or values, empty domains, bad tables and bad numbers are refused with a
`ValidationError` whose field names the rule (``rules[ebike-needs-disc].then.brakes``) and the
value. Whether the rules together admit any configuration at all is checked when the model is
compiled (`configurator.compile.compile_model`), which names a minimal set of contradictory rules.

Rule kinds (each rule has a unique ``name``; every kind can be explained by ``why``):

- ``table``: ``scope`` (variables) and ``allowed`` (the allowed combinations, one list per row);
- ``requires``: ``if`` conditions (``{var: value or [values]}``, all must hold) then every
  ``then`` variable takes one of the listed values;
- ``excludes``: ``if`` conditions then no ``excludes`` variable takes a listed value;
- ``numeric``: the sum over ``over`` (default: every variable with the attribute) of a numeric
  option ``attribute`` compared (``<=``, ``<``, ``>=``, ``>``, ``==``, ``!=``) with ``bound``.

A model also carries defaults, option prices (`promessa.money.Money`) with adjustment rules, and
the mapping of options to bill-of-materials components and routing operations (see
`configurator.lines`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gzip
import json
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from promessa.errors import ValidationError
from promessa.money import Money, MoneyError

OPS = ("<=", "<", ">=", ">", "==", "!=")
RULE_KINDS = ("table", "requires", "excludes", "numeric")


@dataclasses.dataclass(frozen=True)
class Variable:
    """One option of the product: a name, its finite domain (in display order) and a default."""

    name: str
    values: tuple[str, ...]
    default: str | None = None
    label: str | None = None


@dataclasses.dataclass(frozen=True)
class Rule:
    """One named constraint. `when` are the conditions (all hold) as var -> allowed values."""

    name: str
    kind: str
    scope: tuple[str, ...] = ()                        # table: the columns of `allowed`
    allowed: tuple[tuple[str, ...], ...] = ()          # table rows
    when: tuple[tuple[str, frozenset[str]], ...] = ()  # requires / excludes conditions
    targets: tuple[tuple[str, frozenset[str]], ...] = ()  # requires: must take; excludes: must not take
    attribute: str | None = None                       # numeric
    op: str | None = None
    bound: Decimal | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable the rule reads, in first-mention order."""
        seen: dict[str, None] = {}
        for x in (*self.scope, *(v for v, _ in self.when), *(v for v, _ in self.targets)):
            seen.setdefault(x, None)
        return tuple(seen)

    @functools.cached_property
    def allowed_set(self) -> frozenset[tuple[str, ...]]:
        """The allowed rows of a table as a set (built once)."""
        return frozenset(self.allowed)

    def holds(self, config: Mapping[str, str], attributes: Mapping[str, Mapping[str, Mapping[str, Decimal]]]) -> bool:
        """Whether a complete configuration satisfies this rule (a plain reference check)."""
        if self.kind == "table":
            return tuple(config[x] for x in self.scope) in self.allowed_set
        if self.kind in ("requires", "excludes"):
            if not all(config[x] in vals for x, vals in self.when):
                return True
            if self.kind == "requires":
                return all(config[x] in vals for x, vals in self.targets)
            return all(config[x] not in vals for x, vals in self.targets)
        total = sum((attributes[self.attribute].get(x, {}).get(config[x], Decimal(0)) for x in self.scope), Decimal(0))
        return compare(total, self.op, self.bound)


def compare(left: Decimal, op: str, right: Decimal) -> bool:
    """`left op right` for one of `OPS`."""
    return {"<=": left <= right, "<": left < right, ">=": left >= right, ">": left > right,
            "==": left == right, "!=": left != right}[op]


@dataclasses.dataclass(frozen=True)
class Adjustment:
    """A price adjustment applied when every condition holds (a bundle discount, a surcharge)."""

    name: str
    when: tuple[tuple[str, frozenset[str]], ...]
    amount: Money


@dataclasses.dataclass(frozen=True)
class Mapping_:
    """Options -> a bill-of-materials component or a routing operation, `qty_per` per configured unit.

    `kind` is ``component`` (an item consumed) or ``operation`` (an item made at the build
    location whose bill in the snapshot uses a resource: promising it checks capacity)."""

    name: str
    kind: str
    when: tuple[tuple[str, frozenset[str]], ...]
    item: str
    qty_per: float


@dataclasses.dataclass(frozen=True)
class Model:
    """A validated configuration model (one version of it)."""

    name: str
    version: str
    variables: tuple[Variable, ...]
    rules: tuple[Rule, ...]
    attributes: dict[str, dict[str, dict[str, Decimal]]]
    currency: str = "EUR"
    base_price: Money | None = None
    prices: dict[str, dict[str, Money]] = dataclasses.field(default_factory=dict)
    adjustments: tuple[Adjustment, ...] = ()
    mappings: tuple[Mapping_, ...] = ()
    build_location: str | None = None
    assembly_days: int = 0
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None   # exclusive
    order_hint: tuple[str, ...] | None = None  # a variable order for the decision diagram (see compile)
    item: str | None = None   # the configured item's id in the catalogue and on order lines (default: the name)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_var", {v.name: v for v in self.variables})
        object.__setattr__(self, "_rule", {r.name: r for r in self.rules})

    @property
    def configured_item(self) -> str:
        """The item id a configured line carries (pricing rules and catalogue attributes apply to it)."""
        return self.item or self.name

    def variable(self, name: str) -> Variable:
        """The variable called `name`; an unknown name is refused naming it."""
        v = self._var.get(name)  # type: ignore[attr-defined]
        if v is None:
            raise ValidationError("unknown variable", field="variable", value=name,
                                  hint=f"one of {', '.join(list(self._var)[:8])}")  # type: ignore[attr-defined]
        return v

    def rule(self, name: str) -> Rule:
        """The rule called `name`."""
        r = self._rule.get(name)  # type: ignore[attr-defined]
        if r is None:
            raise ValidationError("unknown rule", field="rule", value=name)
        return r

    def check_value(self, var: str, value: str) -> None:
        """Refuse an unknown variable or a value outside its domain, naming both."""
        v = self.variable(var)
        if value not in v.values:
            raise ValidationError(f"not a value of variable {var!r}", field=var, value=value,
                                  hint=f"one of {', '.join(v.values[:10])}")

    def check_complete(self, config: Mapping[str, str], *, compiled: Any = None) -> None:
        """Refuse an incomplete or invalid configuration with the variable missing or the rule broken.

        With `compiled` (this model's `configurator.compile.Compiled`) a valid configuration is
        recognised on the diagram in one pass; the rules are read one by one only to name the
        one broken."""
        if compiled is not None and len(config) == len(self.variables) and compiled.is_valid(config):
            return
        for x, v in config.items():
            self.check_value(x, v)
        for var in self.variables:
            if var.name not in config:
                raise ValidationError("the configuration is incomplete: no value chosen", field=var.name, value=None,
                                      hint="complete it (defaults or an objective) before pricing or promising")
        for r in self.rules:
            if not r.holds(config, self.attributes):
                shown = {x: config[x] for x in r.variables}
                raise ValidationError(f"breaks rule {r.name!r} ({r.kind})", field=f"rules[{r.name}]", value=shown)

    @functools.cached_property
    def mapping_index(self) -> tuple[dict[tuple[str, str], list[tuple[int, Mapping_]]], list[tuple[int, Mapping_]]]:
        """(position, mapping) keyed by each (var, value) of the mapping's first condition, and the
        unconditional ones (built once)."""
        keyed: dict[tuple[str, str], list[tuple[int, Mapping_]]] = {}
        always: list[tuple[int, Mapping_]] = []
        for i, m in enumerate(self.mappings):
            if not m.when:
                always.append((i, m))
                continue
            x, vals = m.when[0]
            for v in vals:
                keyed.setdefault((x, v), []).append((i, m))
        return keyed, always

    def is_effective(self, on: dt.date) -> bool:
        """Whether this version is in force on day `on` (from inclusive, to exclusive)."""
        return (self.effective_from is None or self.effective_from <= on) and (self.effective_to is None or on < self.effective_to)


# ---------------------------------------------------------------------------------------------
# parsing


def _need(d: Mapping, key: str, where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise ValidationError("is required", field=f"{where}.{key}" if where else key, value=None)
    return d[key]


def _date(value: Any, field: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError("not a date (YYYY-MM-DD)", field=field, value=value) from None


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        return Decimal(str(value))
    except Exception:  # noqa: BLE001 - any parse failure is a refusal naming the field
        raise ValidationError("not a number", field=field, value=value) from None


def _money(value: Any, currency: str, field: str) -> Money:
    try:
        return Money.of(str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value, currency)
    except MoneyError as exc:
        raise ValidationError(f"not an amount ({exc})", field=field, value=value) from None


def _conds(raw: Any, domains: dict[str, tuple[str, ...]], field: str) -> tuple[tuple[str, frozenset[str]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ValidationError("must map variables to a value or a list of values", field=field, value=raw)
    out = []
    for x, vals in raw.items():
        if x not in domains:
            raise ValidationError("unknown variable", field=f"{field}.{x}", value=x)
        vs = [vals] if isinstance(vals, str | int | bool) else list(vals)
        vs = [str(v) for v in vs]
        if not vs:
            raise ValidationError("an empty list of values can never hold", field=f"{field}.{x}", value=vals)
        for v in vs:
            if v not in domains[x]:
                raise ValidationError(f"not a value of variable {x!r}", field=f"{field}.{x}", value=v,
                                      hint=f"one of {', '.join(domains[x][:10])}")
        out.append((x, frozenset(vs)))
    return tuple(out)


def parse_model(data: Mapping[str, Any], *, source: str = "<model>") -> Model:
    """Build a `Model` from parsed JSON/YAML, checking every name and value.

    Parameters
    ----------
    data : the model document (see the package README for the format).
    source : where it came from, for messages.

    Returns the model; raises `ValidationError` naming the field (``rules[NAME].field``) and value.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("a model must be a mapping", field=source, value=type(data).__name__)
    name = str(_need(data, "name", ""))
    currency = str(data.get("currency", "EUR"))
    raw_vars = _need(data, "variables", "")
    if not isinstance(raw_vars, Mapping) or not raw_vars:
        raise ValidationError("must map each variable to its values", field="variables", value=raw_vars)
    variables = []
    for x, spec in raw_vars.items():
        if isinstance(spec, Mapping):
            vals, default, label = spec.get("values"), spec.get("default"), spec.get("label")
        else:
            vals, default, label = spec, None, None
        if not isinstance(vals, list | tuple):
            raise ValidationError("must be a list of values", field=f"variables.{x}.values", value=vals)
        vals = tuple(str(v) for v in vals)
        if not vals:
            raise ValidationError("empty domain: the variable has no value", field=f"variables.{x}.values", value=[])
        if len(set(vals)) != len(vals):
            dup = next(v for v in vals if vals.count(v) > 1)
            raise ValidationError("value listed twice", field=f"variables.{x}.values", value=dup)
        if default is not None and str(default) not in vals:
            raise ValidationError(f"default is not a value of variable {x!r}", field=f"variables.{x}.default", value=default)
        variables.append(Variable(str(x), vals, None if default is None else str(default), label))
    domains = {v.name: v.values for v in variables}

    attributes: dict[str, dict[str, dict[str, Decimal]]] = {}
    raw_attrs = data.get("attributes") or {}
    if not isinstance(raw_attrs, Mapping):
        raise ValidationError("must map attribute -> variable -> value -> number", field="attributes", value=raw_attrs)
    for a, per_var in raw_attrs.items():
        attributes[a] = {}
        if not isinstance(per_var, Mapping) or not all(isinstance(pv, Mapping) for pv in per_var.values()):
            raise ValidationError("must map variable -> value -> number", field=f"attributes.{a}", value=per_var)
        for x, per_val in per_var.items():
            if x not in domains:
                raise ValidationError("unknown variable", field=f"attributes.{a}.{x}", value=x)
            attributes[a][x] = {}
            for v, num in per_val.items():
                if str(v) not in domains[x]:
                    raise ValidationError(f"not a value of variable {x!r}", field=f"attributes.{a}.{x}", value=v)
                attributes[a][x][str(v)] = _decimal(num, f"attributes.{a}.{x}.{v}")

    rules: list[Rule] = []
    names: set[str] = set()
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list | tuple):
        raise ValidationError("must be a list of rules", field="rules", value=type(raw_rules).__name__)
    for i, r in enumerate(raw_rules):
        if not isinstance(r, Mapping):
            raise ValidationError("a rule must be a mapping (name, kind, ...)", field=f"rules[#{i + 1}]", value=r)
        rname = str(r.get("name") or f"#{i + 1}")
        where = f"rules[{rname}]"
        if rname in names:
            raise ValidationError("rule name used twice", field=where, value=rname)
        names.add(rname)
        kind = r.get("kind") or ("table" if "allowed" in r else "requires" if "then" in r else
                                 "excludes" if "excludes" in r else "numeric" if "attribute" in r else None)
        if kind not in RULE_KINDS:
            raise ValidationError(f"unknown rule kind (one of {', '.join(RULE_KINDS)})", field=f"{where}.kind", value=kind)
        if kind == "table":
            scope = tuple(str(x) for x in _need(r, "scope", where))
            for x in scope:
                if x not in domains:
                    raise ValidationError("unknown variable", field=f"{where}.scope", value=x)
            if len(set(scope)) != len(scope):
                raise ValidationError("a variable appears twice in the scope", field=f"{where}.scope", value=list(scope))
            rows = []
            allowed = _need(r, "allowed", where)
            if not isinstance(allowed, list | tuple):
                raise ValidationError("must be a list of rows", field=f"{where}.allowed", value=allowed)
            for j, row in enumerate(allowed):
                if not isinstance(row, list | tuple):
                    raise ValidationError("a row must be a list of values", field=f"{where}.allowed[{j}]", value=row)
                row = tuple(str(v) for v in row)
                if len(row) != len(scope):
                    raise ValidationError(f"row has {len(row)} values for {len(scope)} variables",
                                          field=f"{where}.allowed[{j}]", value=list(row))
                for x, v in zip(scope, row):
                    if v not in domains[x]:
                        raise ValidationError(f"not a value of variable {x!r}", field=f"{where}.allowed[{j}]", value=v)
                rows.append(row)
            rules.append(Rule(rname, "table", scope=scope, allowed=tuple(dict.fromkeys(rows))))
        elif kind in ("requires", "excludes"):
            when = _conds(r.get("if"), domains, f"{where}.if")
            key = "then" if kind == "requires" else "excludes"
            targets = _conds(_need(r, key, where), domains, f"{where}.{key}")
            rules.append(Rule(rname, kind, when=when, targets=targets))
        else:
            attr = str(_need(r, "attribute", where))
            if attr not in attributes:
                raise ValidationError("unknown attribute", field=f"{where}.attribute", value=attr)
            over = r.get("over") or list(attributes[attr])
            for x in over:
                if x not in domains:
                    raise ValidationError("unknown variable", field=f"{where}.over", value=x)
            op = r.get("op")
            if op not in OPS:
                raise ValidationError(f"unknown comparison (one of {' '.join(OPS)})", field=f"{where}.op", value=op)
            rules.append(Rule(rname, "numeric", scope=tuple(str(x) for x in over), attribute=attr, op=op,
                              bound=_decimal(_need(r, "bound", where), f"{where}.bound")))

    prices: dict[str, dict[str, Money]] = {}
    raw_prices = data.get("prices") or {}
    base = _money(raw_prices["base"], currency, "prices.base") if "base" in raw_prices else None
    for x, per_val in (raw_prices.get("options") or {}).items():
        if x not in domains:
            raise ValidationError("unknown variable", field=f"prices.options.{x}", value=x)
        prices[x] = {}
        for v, amt in per_val.items():
            if str(v) not in domains[x]:
                raise ValidationError(f"not a value of variable {x!r}", field=f"prices.options.{x}", value=v)
            prices[x][str(v)] = _money(amt, currency, f"prices.options.{x}.{v}")
    adjustments = []
    for i, a in enumerate(raw_prices.get("adjustments") or []):
        aname = str(a.get("name") or f"#{i + 1}")
        adjustments.append(Adjustment(aname, _conds(a.get("when"), domains, f"prices.adjustments[{aname}].when"),
                                      _money(_need(a, "amount", f"prices.adjustments[{aname}]"), currency,
                                             f"prices.adjustments[{aname}].amount")))

    mappings = []
    for kind, key, section in (("component", "component", "bom"), ("operation", "operation", "routing")):
        for i, m in enumerate(data.get(section) or []):
            mname = str(m.get("name") or f"{section}#{i + 1}")
            where = f"{section}[{mname}]"
            qty = _decimal(m.get("qty_per", 1), f"{where}.qty_per")
            if qty <= 0:
                raise ValidationError("must be positive", field=f"{where}.qty_per", value=m.get("qty_per"))
            mappings.append(Mapping_(mname, kind, _conds(m.get("when"), domains, f"{where}.when"),
                                     str(_need(m, key, where)), float(qty)))
    build = data.get("build") or {}
    assembly_days = int(build.get("assembly_days", 0))
    if assembly_days < 0:
        raise ValidationError("must not be negative", field="build.assembly_days", value=assembly_days)
    hint = data.get("order_hint")
    if hint is not None:
        hint = tuple(str(x) for x in hint)
        if set(hint) != set(domains) or len(hint) != len(domains):
            raise ValidationError("must list every variable once", field="order_hint", value=len(hint))
    return Model(
        name=name, version=str(data.get("version", "1")), variables=tuple(variables), rules=tuple(rules),
        attributes=attributes, currency=currency, base_price=base, prices=prices, adjustments=tuple(adjustments),
        mappings=tuple(mappings), build_location=build.get("location"), assembly_days=assembly_days,
        effective_from=_date(data.get("effective_from"), "effective_from"),
        effective_to=_date(data.get("effective_to"), "effective_to"), order_hint=hint,
        item=None if data.get("item") in (None, "") else str(data["item"]),
    )


EXAMPLES = Path(__file__).parent / "examples"


def load_model(path: str | Path, *, order_hint_file: str | Path | None = None) -> Model:
    """Read a model file: ``.json``, ``.yaml``/``.yml`` (optionally ``.gz``); the Renault benchmark
    format (``variables`` + ``tables``) is recognised and converted, with its variable order from
    `order_hint_file` or, by default, ``examples/<name>.order.json`` of this package when present
    (written by ``promessa configure MODEL --find-order``). Returns the `Model`."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    stem = p.with_suffix("") if p.suffix == ".gz" else p
    with opener(p, "rt", encoding="utf-8") as f:
        if stem.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(f)
        else:
            data = json.load(f)
    if isinstance(data, Mapping) and "tables" in data and "rules" not in data:
        hint_file = Path(order_hint_file) if order_hint_file else EXAMPLES / f"{stem.stem}.order.json"
        hint = tuple(json.loads(hint_file.read_text())) if hint_file.exists() else None
        return renault_model(data, name=stem.stem, order_hint=hint)
    return parse_model(data, source=str(p))


def renault_model(data: Mapping[str, Any], *, name: str = "renault_megane", order_hint: tuple[str, ...] | None = None) -> Model:
    """Convert the configuration-benchmark format (``{"variables": {var: [values]}, "tables":
    [{"name", "scope", "allowed"}]}``) into a `Model` with one table rule per table. Returns the model."""
    tables = data.get("tables") or []
    doc = {
        "name": name, "version": str(data.get("version", "1")),
        "variables": data["variables"],
        "rules": [{"name": f"table {t['name']}", "kind": "table", "scope": t["scope"], "allowed": t["allowed"]} for t in tables],
        "order_hint": order_hint,
    }
    return parse_model(doc, source=name)


class ModelLibrary:
    """The versions of each model, each in force from `effective_from` (inclusive) to `effective_to`
    (exclusive). `effective(name, on)` picks the version in force on a business day."""

    def __init__(self) -> None:
        self._versions: dict[str, list[Model]] = {}
        self._compiled: dict[tuple[str, str], object] = {}
        self._lock = threading.RLock()  # adds and compiles (CUDD is not thread-safe) one at a time

    def add(self, model: Model, *, compiled=None) -> None:
        """Add a version (with its compiled diagram when the caller has it); a version number used twice
        or an overlapping validity period is refused."""
        with self._lock:
            self.check_new(model)
            vs = self._versions.setdefault(model.name, [])
            vs.append(model)
            vs.sort(key=lambda m: m.effective_from or dt.date.min)
            if compiled is not None:
                self._compiled[(model.name, model.version)] = compiled

    def remove(self, name: str, version: str) -> None:
        """Take a version out again (an upload whose durable write failed)."""
        with self._lock:
            vs = self._versions.get(name, [])
            self._versions[name] = [m for m in vs if m.version != version]
            if not self._versions[name]:
                del self._versions[name]
            self._compiled.pop((name, version), None)

    def names(self) -> list[str]:
        """Every model name, sorted."""
        return sorted(self._versions)

    def check_new(self, model: Model) -> None:
        """Refuse `model` as a new version: its version number is taken, or its validity period overlaps
        another version's (naming that version)."""
        for m in self._versions.get(model.name, []):
            if m.version == model.version:
                raise ValidationError("version already exists", field="version", value=model.version)
            lo = max(m.effective_from or dt.date.min, model.effective_from or dt.date.min)
            hi = min(m.effective_to or dt.date.max, model.effective_to or dt.date.max)
            if lo < hi:
                raise ValidationError(f"in force on {lo} together with version {m.version!r}", field="effective_from",
                                      value=str(model.effective_from), hint="end the earlier version first (effective_to)")

    def compiled(self, name: str, on: dt.date):
        """The compiled diagram (`configurator.compile.Compiled`) of the version in force on `on`,
        compiled on first use and kept."""
        return self.compiled_of(self.effective(name, on))

    def compiled_of(self, m: Model):
        """The compiled diagram of version `m` (compiled on first use and kept)."""
        from configurator.compile import compile_model

        key = (m.name, m.version)
        c = self._compiled.get(key)
        if c is None:
            with self._lock:
                c = self._compiled.get(key)
                if c is None:
                    c = self._compiled[key] = compile_model(m)
        return c

    def version(self, name: str, version: str) -> Model:
        """Version `version` of model `name`; refused naming the version when there is none."""
        for m in self._versions.get(name, []):
            if m.version == version:
                return m
        raise ValidationError(f"model {name!r} has no version {version!r}", field="version", value=version,
                              hint="versions: " + ", ".join(m.version for m in self._versions.get(name, [])))

    def versions(self, name: str) -> list[Model]:
        """Every version of model `name`, oldest first."""
        return list(self._versions.get(name, []))

    def effective(self, name: str, on: dt.date) -> Model:
        """The version of `name` in force on day `on`; refused when none is."""
        for m in self._versions.get(name, []):
            if m.is_effective(on):
                return m
        raise ValidationError(f"no version of model {name!r} is in force on {on}", field="model", value=name)
