"""Process definitions as data: parsed from YAML or JSON, validated, versioned, assigned per line.

A definition is a mapping::

    process: ship-from-node        # name
    version: 1                     # a positive integer; a new deployment needs a higher one
    report_to: capture             # optional: each completed step sends a status update there
    steps:
      - name: ship
        system: wms                # who performs it (one of the known systems)
        duration: 1d               # expected duration; past it the step raises a jeopardy alert
        request: shipping.request  # optional message kind sent to the system when the step starts
        completion: {event: shipped}          # or {timer: 2h} or {manual: true}
        retry: {events: [shipping.rejected], max_attempts: 3, backoff: 1m}
        when: {ship_method: [ground]}          # optional branch: the step runs only for these attributes
        next: invoice                          # optional: where to go after it (default: the next step)
        branches: [{when: {channel: b2b}, goto: invoice}]
        on_change: {compensate: shipping.cancel, goto: schedule}
        on_cancel: {compensate: shipping.cancel, applies: any, until: ship}
        on_complete: {effects: [line_closed]}  # records handed to the order book (line_closed, supply_delta)

Everything unknown is refused with the step and the field named (``ValidationError.field`` is a
path such as ``steps[2](ship).completion``). Assignment rules are a separate, ordered list
(``parse_assignment``): the first rule whose ``when`` matches a line's attributes names the
process for that line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from promessa.errors import ConflictError, NotFoundError, ValidationError

#: Systems a step may name unless the caller passes its own list.
DEFAULT_SYSTEMS: frozenset[str] = frozenset({"oms", "wms", "carrier", "billing", "payments", "supplier", "capture", "planner"})

#: Order attributes assignment rules and branches may test.
ATTRIBUTES: frozenset[str] = frozenset({"channel", "item_kind", "ship_method", "configured", "customer_segment",
                                        "country", "node", "to_node", "supplier", "order_type"})

#: Effects a step may hand to the order book on completion.
EFFECTS: frozenset[str] = frozenset({"line_closed", "supply_delta"})

_STEP_FIELDS = {"name", "system", "duration", "request", "completion", "retry", "when", "next", "branches", "on_change",
                "on_cancel", "on_complete", "description"}
_TOP_FIELDS = {"process", "version", "description", "report_to", "steps"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


def parse_duration(value: Any, *, field: str) -> float:
    """Seconds from ``30s``, ``5m``, ``2h``, ``1d`` or a non-negative number of seconds; refused otherwise."""
    if isinstance(value, bool):
        raise ValidationError("not a duration", field=field, value=value, hint="write e.g. 30s, 5m, 2h or 1d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValidationError("a duration cannot be negative", field=field, value=value)
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
    raise ValidationError("not a duration", field=field, value=value, hint="write e.g. 30s, 5m, 2h or 1d")


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    """Attribute tests, all of which must hold: attribute -> accepted values."""

    tests: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, attrs: Mapping[str, Any]) -> bool:
        """True when every tested attribute of ``attrs`` (as text) is one of the accepted values."""
        return all(_text(attrs.get(k)) in vals for k, vals in self.tests)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """What completes a step: an ``event`` name, a ``timer`` in seconds, or a ``manual`` action."""

    kind: str                   # event | timer | manual
    event: str | None = None
    timer_s: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """Failure events that make the step send its request again, after ``backoff_s * 2**(attempt-1)``."""

    events: frozenset[str]
    max_attempts: int
    backoff_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class Compensation:
    """On a change or cancel: the message kind sent to the step's system, when it applies, and where to go back."""

    compensate: str | None = None
    goto: str | None = None
    applies: str = "any"        # started (in progress only) | completed | any
    until: str | None = None    # no compensation once this (later) step has completed, e.g. a shipping request once shipped


@dataclasses.dataclass(frozen=True, slots=True)
class Branch:
    when: Condition
    goto: str


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step of a process (see the module docstring for the fields)."""

    name: str
    system: str
    duration_s: float
    completion: Completion
    request: str | None = None
    retry: Retry | None = None
    when: Condition | None = None
    next: str | None = None
    branches: tuple[Branch, ...] = ()
    on_change: Compensation | None = None
    on_cancel: Compensation | None = None
    effects: tuple[str, ...] = ()
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessDefinition:
    """A validated, versioned process: ordered steps; ``source`` is the data it was parsed from (stored as is)."""

    name: str
    version: int
    steps: tuple[Step, ...]
    report_to: str | None = None
    description: str = ""
    source: str = ""

    def step(self, name: str) -> Step:
        """The step called ``name``; NotFoundError otherwise."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFoundError(f"process {self.name!r} v{self.version} has no step {name!r}")

    def index(self, name: str) -> int:
        """Position of step ``name`` in the ordered steps."""
        return [s.name for s in self.steps].index(name)

    def successors(self, step: Step) -> list[str | None]:
        """Steps that may follow ``step`` (None is the end of the process)."""
        out: list[str | None] = [b.goto for b in step.branches]
        if step.next is not None:
            out.append(step.next)
        else:
            i = self.index(step.name)
            out.append(self.steps[i + 1].name if i + 1 < len(self.steps) else None)
        return out

    def next_after(self, step: Step, attrs: Mapping[str, Any]) -> str | None:
        """The step that follows ``step`` for an order with ``attrs``: the first matching branch, else ``next``,
        else the following step; None when the process ends."""
        for b in step.branches:
            if b.when.matches(attrs):
                return b.goto
        return self.successors(step)[-1]


def _load_text(text: str, *, source: str) -> Any:
    try:
        if source.endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise ValidationError(f"not valid YAML/JSON: {e}", field=source, value=None) from None


def _unknown(data: Mapping, allowed: set[str], where: str) -> None:
    for k in data:
        if k not in allowed:
            raise ValidationError(f"unknown field (allowed: {', '.join(sorted(allowed))})", field=f"{where}.{k}", value=data[k])


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError("must be a mapping of attribute -> value(s)", field=where, value=raw)
    tests = []
    for k, v in raw.items():
        if k not in ATTRIBUTES:
            raise ValidationError(f"unknown order attribute (known: {', '.join(sorted(ATTRIBUTES))})", field=f"{where}.{k}", value=v)
        vals = v if isinstance(v, list) else [v]
        if not vals:
            raise ValidationError("needs at least one value", field=f"{where}.{k}", value=v)
        tests.append((k, frozenset(_text(x) for x in vals)))
    return Condition(tuple(sorted(tests, key=lambda t: t[0])))


def _kind(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not _NAME.match(raw):
        raise ValidationError("must be a lower-case name (letters, digits, . _ -)", field=where, value=raw)
    return raw


def _compensation(raw: Any, where: str, *, cancel: bool) -> Compensation:
    if not isinstance(raw, Mapping):
        raise ValidationError("must be a mapping", field=where, value=raw)
    _unknown(raw, {"compensate", "goto", "applies", "until"} if not cancel else {"compensate", "applies", "until"}, where)
    applies = raw.get("applies", "any")
    if applies not in ("started", "completed", "any"):
        raise ValidationError("must be started, completed or any", field=f"{where}.applies", value=applies)
    comp = _kind(raw["compensate"], f"{where}.compensate") if raw.get("compensate") is not None else None
    goto = raw.get("goto")
    if comp is None and goto is None:
        raise ValidationError("says nothing: give compensate and/or goto", field=where, value=dict(raw))
    return Compensation(compensate=comp, goto=goto, applies=applies, until=raw.get("until"))


def _step(raw: Any, i: int, systems: frozenset[str]) -> Step:
    if not isinstance(raw, Mapping):
        raise ValidationError("a step must be a mapping", field=f"steps[{i}]", value=raw)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError("a step needs a lower-case name", field=f"steps[{i}].name", value=name)
    w = f"steps[{i}]({name})"
    _unknown(raw, _STEP_FIELDS, w)
    system = raw.get("system")
    if system not in systems:
        raise ValidationError(f"unknown system (known: {', '.join(sorted(systems))})", field=f"{w}.system", value=system)
    if "duration" not in raw:
        raise ValidationError("every step needs an expected duration", field=f"{w}.duration", value=None, hint="e.g. duration: 4h")
    duration = parse_duration(raw["duration"], field=f"{w}.duration")
    comp_raw = raw.get("completion")
    if not isinstance(comp_raw, Mapping) or not comp_raw:
        raise ValidationError("a step needs a completion: {event: NAME}, {timer: DURATION} or {manual: true}",
                              field=f"{w}.completion", value=comp_raw)
    _unknown(comp_raw, {"event", "timer", "manual"}, f"{w}.completion")
    if len(comp_raw) != 1:
        raise ValidationError("give exactly one of event, timer, manual", field=f"{w}.completion", value=dict(comp_raw))
    if "event" in comp_raw:
        completion = Completion("event", event=_kind(comp_raw["event"], f"{w}.completion.event"))
    elif "timer" in comp_raw:
        completion = Completion("timer", timer_s=parse_duration(comp_raw["timer"], field=f"{w}.completion.timer"))
    else:
        if comp_raw["manual"] is not True:
            raise ValidationError("must be true", field=f"{w}.completion.manual", value=comp_raw["manual"])
        completion = Completion("manual")
    retry = None
    if "retry" in raw:
        r = raw["retry"]
        if not isinstance(r, Mapping):
            raise ValidationError("must be a mapping", field=f"{w}.retry", value=r)
        _unknown(r, {"events", "max_attempts", "backoff"}, f"{w}.retry")
        on = r.get("events")
        if not isinstance(on, list) or not on:
            raise ValidationError("list the failure events that trigger a retry", field=f"{w}.retry.events", value=on)
        n = r.get("max_attempts", 3)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValidationError("must be an integer >= 1", field=f"{w}.retry.max_attempts", value=n)
        if raw.get("request") is None:
            raise ValidationError("a retry sends the request again: the step needs a request", field=f"{w}.retry", value=dict(r))
        retry = Retry(frozenset(_kind(x, f"{w}.retry.events") for x in on), n,
                      parse_duration(r.get("backoff", "30s"), field=f"{w}.retry.backoff"))
    branches = []
    for j, b in enumerate(raw.get("branches") or ()):
        bw = f"{w}.branches[{j}]"
        if not isinstance(b, Mapping):
            raise ValidationError("must be a mapping {when, goto}", field=bw, value=b)
        _unknown(b, {"when", "goto"}, bw)
        branches.append(Branch(_condition(b.get("when"), f"{bw}.when"), b.get("goto")))
    effects: tuple[str, ...] = ()
    if "on_complete" in raw:
        oc = raw["on_complete"]
        if not isinstance(oc, Mapping):
            raise ValidationError("must be a mapping {effects: [...]}", field=f"{w}.on_complete", value=oc)
        _unknown(oc, {"effects"}, f"{w}.on_complete")
        effects = tuple(oc.get("effects") or ())
        for e in effects:
            if e not in EFFECTS:
                raise ValidationError(f"unknown effect (known: {', '.join(sorted(EFFECTS))})", field=f"{w}.on_complete.effects", value=e)
    return Step(
        name=name, system=system, duration_s=duration, completion=completion,
        request=_kind(raw["request"], f"{w}.request") if raw.get("request") is not None else None,
        retry=retry,
        when=_condition(raw["when"], f"{w}.when") if "when" in raw else None,
        next=raw.get("next"), branches=tuple(branches),
        on_change=_compensation(raw["on_change"], f"{w}.on_change", cancel=False) if "on_change" in raw else None,
        on_cancel=_compensation(raw["on_cancel"], f"{w}.on_cancel", cancel=True) if "on_cancel" in raw else None,
        effects=effects, description=str(raw.get("description", "")),
    )


def parse_definition(data: Any, *, systems: Iterable[str] = DEFAULT_SYSTEMS, source: str = "definition") -> ProcessDefinition:
    """Validate one process definition.

    Parameters
    ----------
    data : a mapping, or YAML/JSON text (``source`` ending in ``.json`` reads JSON)
    systems : the systems a step may name
    source : where it came from, for messages

    Returns the ProcessDefinition; raises ValidationError naming the step and the field otherwise
    (a step with no completion, an unknown system or field, a goto to nowhere, a cycle with no exit).
    """
    systems = frozenset(systems)
    if isinstance(data, (str, bytes)):
        data = _load_text(data.decode() if isinstance(data, bytes) else data, source=source)
    if not isinstance(data, Mapping):
        raise ValidationError("a process definition must be a mapping", field=source, value=type(data).__name__)
    _unknown(data, _TOP_FIELDS, source)
    name = data.get("process")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError("needs a lower-case process name", field=f"{source}.process", value=name)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError("must be an integer >= 1", field=f"{source}.version", value=version)
    report_to = data.get("report_to")
    if report_to is not None and report_to not in systems:
        raise ValidationError(f"unknown system (known: {', '.join(sorted(systems))})", field=f"{source}.report_to", value=report_to)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ValidationError("a process needs at least one step", field=f"{source}.steps", value=raw_steps)
    steps = tuple(_step(s, i, systems) for i, s in enumerate(raw_steps))
    names = [s.name for s in steps]
    for i, s in enumerate(steps):
        if names.index(s.name) != i:
            raise ValidationError("two steps have this name", field=f"steps[{i}].name", value=s.name)
    known = set(names)
    for i, s in enumerate(steps):
        w = f"steps[{i}]({s.name})"
        if s.next is not None and s.next not in known:
            raise ValidationError("goes to a step that does not exist", field=f"{w}.next", value=s.next)
        for j, b in enumerate(s.branches):
            if b.goto not in known:
                raise ValidationError("goes to a step that does not exist", field=f"{w}.branches[{j}].goto", value=b.goto)
        if s.on_change is not None and s.on_change.goto is not None:
            if s.on_change.goto not in known:
                raise ValidationError("goes to a step that does not exist", field=f"{w}.on_change.goto", value=s.on_change.goto)
            if names.index(s.on_change.goto) > i:
                raise ValidationError("a change may only go back to this step or an earlier one", field=f"{w}.on_change.goto",
                                      value=s.on_change.goto)
    for i, s in enumerate(steps):
        for fld, comp in (("on_change", s.on_change), ("on_cancel", s.on_cancel)):
            if comp is not None and comp.until is not None and (comp.until not in known or names.index(comp.until) <= i):
                raise ValidationError("must name a later step", field=f"steps[{i}]({s.name}).{fld}.until", value=comp.until)
    defn = ProcessDefinition(name=name, version=version, steps=steps, report_to=report_to,
                             description=str(data.get("description", "")),
                             source=json.dumps(data, sort_keys=True, default=str))
    _check_exits(defn)
    return defn


def _check_exits(defn: ProcessDefinition) -> None:
    """Refuse steps from which the end of the process cannot be reached (a cycle with no exit)."""
    can_end: set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in defn.steps:
            if s.name not in can_end and any(n is None or n in can_end for n in defn.successors(s)):
                can_end.add(s.name)
                changed = True
    for i, s in enumerate(defn.steps):
        if s.name not in can_end:
            field = f"steps[{i}]({s.name}).next" if s.next is not None else f"steps[{i}]({s.name}).branches"
            loop = [n for n in defn.successors(s) if n is not None]
            raise ValidationError(f"cycle without exit: from this step the process can never end (goes to {', '.join(loop)})",
                                  field=field, value=s.next, hint="give one step of the loop a way out")


def load_definition(path: str | Path, *, systems: Iterable[str] = DEFAULT_SYSTEMS) -> ProcessDefinition:
    """Read and validate a definition file (``.yaml``, ``.yml`` or ``.json``); errors name the file, step and field."""
    path = Path(path)
    return parse_definition(path.read_text(), systems=systems, source=str(path))


@dataclasses.dataclass(frozen=True, slots=True)
class AssignmentRule:
    """The first rule whose ``when`` matches a line's attributes gives its process (no ``when``: always)."""

    process: str
    when: Condition | None = None


def parse_assignment(data: Any, *, source: str = "assignment") -> tuple[AssignmentRule, ...]:
    """Validate an ordered list of ``{when: {...}, process: NAME}``; the last one should have no ``when`` (the default)."""
    if isinstance(data, (str, bytes)):
        data = _load_text(data.decode() if isinstance(data, bytes) else data, source=source)
    if isinstance(data, Mapping) and set(data) == {"rules"}:
        data = data["rules"]
    if not isinstance(data, list) or not data:
        raise ValidationError("assignment rules must be a non-empty list", field=source, value=data)
    out = []
    for i, r in enumerate(data):
        w = f"{source}[{i}]"
        if not isinstance(r, Mapping):
            raise ValidationError("a rule must be a mapping {when, process}", field=w, value=r)
        _unknown(r, {"when", "process"}, w)
        p = r.get("process")
        if not isinstance(p, str) or not _NAME.match(p):
            raise ValidationError("names no process", field=f"{w}.process", value=p)
        out.append(AssignmentRule(p, _condition(r["when"], f"{w}.when") if "when" in r else None))
    return tuple(out)


class Catalog:
    """Deployed process definitions by (name, version) and the assignment rules.

    ``deploy`` refuses a version not above the latest of that name; instances keep the version they
    started with, so old versions stay here as long as the catalog lives (the store keeps them too).
    """

    def __init__(self, *, systems: Iterable[str] = DEFAULT_SYSTEMS) -> None:
        self.systems = frozenset(systems)
        self._defs: dict[tuple[str, int], ProcessDefinition] = {}
        self._latest: dict[str, int] = {}
        self.rules: tuple[AssignmentRule, ...] = ()

    def deploy(self, defn: ProcessDefinition, *, replace_same: bool = False) -> ProcessDefinition:
        """Make ``defn`` the latest version of its process; returns it. ConflictError when its version is not new
        (``replace_same`` accepts an identical re-deployment, as at start-up)."""
        old = self._defs.get((defn.name, defn.version))
        if old is not None:
            if replace_same and old.source == defn.source:
                return old
            raise ConflictError(f"process {defn.name!r} version {defn.version} is already deployed",
                                hint=f"deploy version {self._latest[defn.name] + 1}")
        if defn.version < self._latest.get(defn.name, 0):
            raise ConflictError(f"process {defn.name!r}: version {defn.version} is below the deployed {self._latest[defn.name]}")
        self._defs[(defn.name, defn.version)] = defn
        self._latest[defn.name] = defn.version
        return defn

    def keep(self, defn: ProcessDefinition) -> None:
        """Hold a stored version (say an old one that running orders still use) without refusing it as stale;
        it becomes the latest only when it is above every deployed version."""
        self._defs[(defn.name, defn.version)] = defn
        self._latest[defn.name] = max(self._latest.get(defn.name, 0), defn.version)

    def set_rules(self, rules: Iterable[AssignmentRule]) -> None:
        """Replace the assignment rules; every process they name must be deployed."""
        rules = tuple(rules)
        for i, r in enumerate(rules):
            if r.process not in self._latest:
                raise ValidationError("names a process that is not deployed", field=f"assignment[{i}].process", value=r.process)
        self.rules = rules

    def get(self, name: str, version: int | None = None) -> ProcessDefinition:
        """Version ``version`` of ``name`` (None: the latest); NotFoundError when absent."""
        v = self._latest.get(name) if version is None else version
        d = self._defs.get((name, v)) if v is not None else None
        if d is None:
            raise NotFoundError(f"process {name!r} version {version if version is not None else 'latest'} is not deployed")
        return d

    def versions(self, name: str) -> list[int]:
        """Deployed versions of ``name``, ascending."""
        return sorted(v for (n, v) in self._defs if n == name)

    def names(self) -> list[str]:
        return sorted(self._latest)

    def assign(self, attrs: Mapping[str, Any]) -> ProcessDefinition:
        """The latest version of the process chosen by the first matching rule for a line with ``attrs``."""
        for r in self.rules:
            if r.when is None or r.when.matches(attrs):
                return self.get(r.process)
        raise NotFoundError(f"no assignment rule matches {dict(attrs)!r}", hint="end the rules with one that has no when")


#: The ready definitions shipped with promessa.
PROCESSES_DIR = Path(__file__).resolve().parent / "processes"


def ready_catalog(*, systems: Iterable[str] = DEFAULT_SYSTEMS) -> Catalog:
    """A catalog with the ready definitions (ship-from-node, drop-ship, internal-transfer, back-to-back) and their
    assignment rules from ``orchestration/processes``."""
    cat = Catalog(systems=systems)
    for p in sorted(PROCESSES_DIR.glob("*.yaml")):
        if p.name != "assignment.yaml":
            cat.deploy(load_definition(p, systems=systems))
    cat.set_rules(parse_assignment((PROCESSES_DIR / "assignment.yaml").read_text(), source=str(PROCESSES_DIR / "assignment.yaml")))
    return cat
