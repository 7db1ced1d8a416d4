"""The durable step engine: order events and status updates in, outbox messages, alerts and effects out.

Every decision reads the instances it touches and writes the result (instance state, timers,
outbox rows, inbox id, alerts, effects) in ONE transaction of the store; pass ``conn=`` the
order book's open transaction to make it the same transaction as the order change.

- ``handle(OrderEvent)``: captured starts one instance per line (or per order) with the process
  chosen by the assignment rules, at the latest version; changed runs the current step's
  ``on_change`` (compensate the started steps from the ``goto`` step on, newest first, then go back
  there); cancelled runs every started step's ``on_cancel`` (newest first) and ends the instance;
  the other kinds complete the current step when it waits for that event.
- ``receive(InboundUpdate)``: the same for status updates from fulfilment systems, consumed once
  (a second update with the same message id changes nothing).
- ``complete_manual``: a person completes a step whose completion is manual.
- ``tick()``: fires due timers (timer completions, retries with exponential backoff) and raises a
  jeopardy alert for each step past its expected duration (the step, its system, how late).

Times: ``clock.now()`` (injected) stamps records and is compared with deadlines. Business dates
are not used here.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from promessa.errors import ConflictError, NotFoundError, ValidationError

from .definitions import Catalog, ProcessDefinition, Step, parse_definition
from .records import Clock, Effect, EventKind, InboundUpdate, JeopardyAlert, Message, OrderEvent, new_id, new_message
from .store import Changes, Instance, OrchestrationStore, Timer, encoded


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationRule:
    """E-mail on chosen triggers: an order event kind, an inbound event name, ``jeopardy``, ``failed`` or
    ``completed``. ``to`` holds addresses and/or ``customer`` (the order's ``email`` attribute)."""

    on: frozenset[str]
    to: tuple[str, ...]
    subject: str = "Order {order}: {trigger}"


def message_row(m: Message, published_at: dt.datetime | None) -> dict[str, Any]:
    """One row of a message log (the console's): outbox order, the order, kind, addressee, line, the step that sent it (its
    payload's ``step``, when it has one), when written and when published (None: waiting)."""
    step = m.payload.get("step") if isinstance(m.payload, dict) else None
    return {"seq": m.seq, "order": m.order, "kind": m.kind, "system": m.system, "line": m.line, "step": step if isinstance(step, str) else None,
            "created_at": m.created_at, "published_at": published_at, "published": published_at is not None}


@dataclasses.dataclass
class Outcome:
    """What one call decided: the instances after it, the messages queued, alerts, effects, and notes."""

    instances: list[Instance] = dataclasses.field(default_factory=list)
    messages: list[Message] = dataclasses.field(default_factory=list)
    alerts: list[JeopardyAlert] = dataclasses.field(default_factory=list)
    effects: list[Effect] = dataclasses.field(default_factory=list)
    duplicate: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)


def _later(a: dt.datetime, seconds: float) -> dt.datetime:
    return a + dt.timedelta(seconds=seconds)


class Orchestrator:
    """Runs process instances durably over an ``OrchestrationStore``.

    Parameters
    ----------
    catalog : the deployed definitions and assignment rules
    store : where instances, timers, outbox and inbox live
    clock : the injected wall clock (``now()``, aware UTC)
    notifications : e-mail rules
    """

    def __init__(self, catalog: Catalog, store: OrchestrationStore, *, clock: Clock,
                 notifications: Iterable[NotificationRule] = ()) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.notifications = tuple(notifications)
        now = clock.now()
        stored = {(n, v) for n, v, _ in store.definitions()}
        for name in catalog.names():          # deployed in the catalog -> durable
            for v in catalog.versions(name):
                if (name, v) not in stored:
                    store.save_definition(name, v, catalog.get(name, v).source, now)
        for name, v, source in store.definitions():   # durable -> the catalog (old versions of running orders)
            if v not in catalog.versions(name):
                catalog.keep(parse_definition(json.loads(source), systems=catalog.systems, source=f"stored {name} v{v}"))

    # -- deployment -----------------------------------------------------------------------------
    def deploy(self, data: Any, *, source: str = "definition", conn: Any = None) -> ProcessDefinition:
        """Validate and deploy a definition (mapping or YAML/JSON text) as the latest version of its process; running
        instances keep theirs. Returns the definition; ValidationError / ConflictError otherwise."""
        defn = data if isinstance(data, ProcessDefinition) else parse_definition(data, systems=self.catalog.systems, source=source)
        if defn.version <= max(self.catalog.versions(defn.name) or [0]):
            raise ConflictError(f"process {defn.name!r}: version {defn.version} is not above the deployed "
                                f"{max(self.catalog.versions(defn.name))}", hint=f"use version {max(self.catalog.versions(defn.name)) + 1}")
        self.store.save_definition(defn.name, defn.version, defn.source, self.clock.now(), conn=conn)
        return self.catalog.deploy(defn)

    # -- entry points ---------------------------------------------------------------------------
    def handle(self, event: OrderEvent, *, conn: Any = None) -> Outcome:
        """Apply an order event; returns the Outcome (written in one transaction, ``conn`` if given).

        An event with an ``event_id`` (say the order book's ``<order>/E<audit id>``) is applied once: its id goes
        into the inbox with the state, and the same id again changes nothing (``Outcome.duplicate``), so an
        at-least-once event feed is safe."""
        now = self.clock.now()
        out = Outcome()
        with self.store.transaction(conn) as c:
            if event.event_id and self.store.inbox_seen(event.event_id, conn=c):
                out.duplicate = True
                out.notes.append(f"event {event.event_id} already applied")
                return out
            insts = self.store.instances_of(event.order, conn=c)
            ch = self._decide(event, insts, out, now)
            self.store.write(ch, conn=c)
        return self._done(out, ch)

    def handle_many(self, *, conn: Any, orders: Iterable[str] = (), event_ids: Iterable[str] = ()) -> EventBatch:
        """A batch of order events applied as ``handle`` applies each, in the open transaction ``conn``: an
        :class:`EventBatch`; call its ``handle`` for each event, in order, then its ``write``.

        ``orders`` and ``event_ids`` are read ahead in one query each (the instances of those orders, which of those
        ids the inbox has); anything else is read when first needed."""
        return EventBatch(self, conn, orders=orders, event_ids=event_ids)

    def _decide(self, event: OrderEvent, insts: list[Instance], out: Outcome, now: dt.datetime) -> Changes:
        """What ``handle`` decides for ``event`` over the order's instances ``insts`` (changed in place): the Changes."""
        ch = Changes(inbox=[(event.event_id, "orderbook", event.order, now)] if event.event_id else [])
        if event.kind is EventKind.CAPTURED:
            self._capture(event, insts, ch, out, now)
        else:
            for inst in self._targets(insts, event.line):
                defn = self.catalog.get(inst.process, inst.version)
                if event.kind is EventKind.CHANGED:
                    self._change(inst, defn, event.attrs, ch, out, now)
                elif event.kind is EventKind.CANCELLED:
                    self._cancel(inst, defn, ch, now)
                else:
                    self._event(inst, defn, str(event.kind), {}, ch, out, now)
                ch.instances.append(inst)
            self._notify(str(event.kind), event.order, insts[0].attrs if insts else event.attrs, ch, now)
        return ch

    def receive(self, update: InboundUpdate, *, conn: Any = None) -> Outcome:
        """Consume a status update once: a message id seen before changes nothing (``Outcome.duplicate``)."""
        now = self.clock.now()
        out = Outcome()
        with self.store.transaction(conn) as c:
            if self.store.inbox_seen(update.message_id, conn=c):
                out.duplicate = True
                out.notes.append(f"message {update.message_id} already consumed")
                return out
            insts = self.store.instances_of(update.order, conn=c)
            ch = Changes(inbox=[(update.message_id, update.system, update.order, now)])
            for inst in self._targets(insts, update.line):
                defn = self.catalog.get(inst.process, inst.version)
                if self._event(inst, defn, update.event, update.payload, ch, out, now, system=update.system):
                    ch.instances.append(inst)
            if not insts:
                out.notes.append(f"order {update.order!r} has no process")
            self._notify(update.event, update.order, insts[0].attrs if insts else {}, ch, now)
            self.store.write(ch, conn=c)
        return self._done(out, ch)

    def complete_manual(self, order: str, step: str, *, who: str, line: str | None = None, conn: Any = None) -> Outcome:
        """A person (``who``) completes ``step`` of the order's (or line's) instance; the step must be current and manual."""
        now = self.clock.now()
        out = Outcome()
        with self.store.transaction(conn) as c:
            ch = Changes()
            hits = [i for i in self._targets(self.store.instances_of(order, conn=c), line) if i.step == step]
            if not hits:
                raise NotFoundError(f"no process of order {order!r} is at step {step!r}")
            for inst in hits:
                defn = self.catalog.get(inst.process, inst.version)
                st = defn.step(step)
                if st.completion.kind != "manual":
                    raise ValidationError("this step is not completed by hand", field="step", value=step,
                                          hint=f"it completes on {st.completion.kind}")
                inst.history.append({"at": now.isoformat(), "step": step, "what": "manual", "who": who})
                self._complete(inst, defn, st, {}, ch, now)
                ch.instances.append(inst)
            self.store.write(ch, conn=c)
        return self._done(out, ch)

    def tick(self, *, conn: Any = None, limit: int = 1000) -> Outcome:
        """Fire due timers and raise jeopardy alerts for steps past their expected duration; returns what happened."""
        now = self.clock.now()
        out = Outcome()
        for timer in self.store.due_timers(now, limit=limit, conn=conn):
            with self.store.transaction(conn) as c:
                ch = Changes(fired_timers=[timer.timer_id])
                inst = self.store.instance(timer.instance_id, conn=c)
                if inst.status == "active" and inst.step == timer.step:
                    defn = self.catalog.get(inst.process, inst.version)
                    st = defn.step(timer.step)
                    if timer.kind == "complete":
                        inst.history.append({"at": now.isoformat(), "step": st.name, "what": "timer"})
                        self._complete(inst, defn, st, {}, ch, now)
                        ch.instances.append(inst)
                    elif timer.kind == "retry" and inst.attempts == timer.attempt:
                        inst.attempts += 1
                        self._send_request(inst, defn, st, ch, now, retry=True)
                        ch.instances.append(inst)
                self.store.write(ch, conn=c)
                self._done(out, ch)
        for stale in self.store.overdue(now, limit=limit, conn=conn):
            with self.store.transaction(conn) as c:
                inst = self.store.instance(stale.instance_id, conn=c)
                if inst.status != "active" or inst.alerted or inst.deadline_at is None or inst.deadline_at > now:
                    continue
                defn = self.catalog.get(inst.process, inst.version)
                st = defn.step(inst.step)
                ch = Changes()
                inst.alerted = True
                self._alert(inst, st, (now - inst.deadline_at).total_seconds(), "late", ch, now)
                ch.instances.append(inst)
                self.store.write(ch, conn=c)
                self._done(out, ch)
        return out

    # -- reading (console) ----------------------------------------------------------------------
    def view(self, order: str, *, conn: Any = None) -> list[dict[str, Any]]:
        """Each process of ``order``: process, version, status, current step and system, when it started and is due,
        how late it is (seconds, 0 when on time), the history, the alerts and the message log (kind, system, the
        step that sent it, when written and published)."""
        now = self.clock.now()
        msgs = self.store.messages(order=order, conn=conn)
        alerts = self.store.alerts(order=order, conn=conn)
        out = []
        for inst in self.store.instances_of(order, conn=conn):
            out.append({**self._summary(inst, now), "history": inst.history,
                        "alerts": [dataclasses.asdict(a) for a in alerts if a.instance_id == inst.instance_id],
                        "messages": [message_row(m, p) for m, p in msgs if m.line in (inst.line, None)]})
        return out

    def running(self, *, limit: int = 1000, conn: Any = None) -> list[dict[str, Any]]:
        """The active processes of every order (the latest deadline first): order, line, process, current step and
        system, started and due, how late (seconds)."""
        now = self.clock.now()
        return [{"order": inst.order, **self._summary(inst, now)} for inst in self.store.active(limit=limit, conn=conn)]

    def _summary(self, inst: Instance, now: dt.datetime) -> dict[str, Any]:
        defn = self.catalog.get(inst.process, inst.version)
        st = defn.step(inst.step) if inst.step else None
        active = inst.status == "active"
        late = max(0.0, (now - inst.deadline_at).total_seconds()) if inst.deadline_at and active else 0.0
        return {"instance": inst.instance_id, "line": inst.line, "process": inst.process, "version": inst.version,
                "status": inst.status, "step": inst.step, "system": st.system if st else None,
                "step_started_at": inst.step_started_at if active else None,
                "due_at": inst.deadline_at if active else None, "late_s": late}

    # -- decisions ------------------------------------------------------------------------------
    @staticmethod
    def _targets(insts: Sequence[Instance], line: str | None) -> list[Instance]:
        return [i for i in insts if line is None or i.line in (line, None)]

    def _done(self, out: Outcome, ch: Changes) -> Outcome:
        out.instances.extend(ch.instances)
        out.messages.extend(ch.messages)
        out.alerts.extend(ch.alerts)
        out.effects.extend(ch.effects)
        return out

    def _capture(self, event: OrderEvent, insts: list[Instance], ch: Changes, out: Outcome, now: dt.datetime) -> None:
        have = {i.line for i in insts}
        lines: list[str | None] = list(event.lines) or [None]
        for line in lines:
            if line in have:
                out.notes.append(f"order {event.order} line {line}: process already started")
                continue
            attrs = {**event.attrs, **(event.line_attrs.get(line, {}) if line is not None else {})}
            defn = self.catalog.assign(attrs)
            inst = Instance(instance_id=f"{event.order}#{line if line is not None else '*'}", order=event.order, line=line,
                            process=defn.name, version=defn.version, attrs=attrs)
            inst.history.append({"at": now.isoformat(), "what": "started", "process": defn.name, "version": defn.version})
            self._enter(inst, defn, defn.steps[0].name, ch, now)
            ch.instances.append(inst)
        self._notify("captured", event.order, event.attrs, ch, now)

    def _enter(self, inst: Instance, defn: ProcessDefinition, name: str | None, ch: Changes, now: dt.datetime) -> None:
        """Start step ``name`` (skipping steps whose ``when`` does not match); the end of the process when None."""
        while name is not None:
            st = defn.step(name)
            if st.when is not None and not st.when.matches(inst.attrs):
                inst.history.append({"at": now.isoformat(), "step": name, "what": "skipped"})
                name = defn.next_after(st, inst.attrs)
                continue
            inst.step, inst.step_started_at = name, now
            inst.deadline_at = _later(now, st.duration_s)
            inst.attempts, inst.alerted = 1, False
            inst.started.append({"step": name, "request_id": new_id(), "state": "started"})
            inst.history.append({"at": now.isoformat(), "step": name, "what": "started"})
            if st.request is not None:
                self._send_request(inst, defn, st, ch, now, retry=False)
            if st.completion.kind == "timer":
                ch.timers.append(Timer(new_id(), inst.instance_id, name, "complete", _later(now, st.completion.timer_s or 0)))
            return
        inst.status, inst.step, inst.step_started_at, inst.deadline_at = "completed", None, None, None
        inst.history.append({"at": now.isoformat(), "what": "completed"})
        self._notify("completed", inst.order, inst.attrs, ch, now)

    def _current_entry(self, inst: Instance) -> dict[str, Any]:
        for e in reversed(inst.started):
            if e["step"] == inst.step and e["state"] == "started":
                return e
        raise ConflictError(f"instance {inst.instance_id}: step {inst.step!r} has no started entry")

    def _send_request(self, inst: Instance, defn: ProcessDefinition, st: Step, ch: Changes, now: dt.datetime, *, retry: bool) -> None:
        entry = self._current_entry(inst)
        ch.messages.append(new_message(st.request, st.system, inst.order, inst.line, now, {
            "process": defn.name, "version": defn.version, "step": st.name, "request_id": entry["request_id"],
            "attempt": inst.attempts, "attrs": inst.attrs}))
        if retry:
            inst.history.append({"at": now.isoformat(), "step": st.name, "what": "retry", "attempt": inst.attempts})

    def _event(self, inst: Instance, defn: ProcessDefinition, name: str, payload: Mapping[str, Any], ch: Changes, out: Outcome,
               now: dt.datetime, *, system: str | None = None) -> bool:
        """Complete or retry the current step on event ``name``; False when the instance does not wait for it."""
        if inst.status != "active" or inst.step is None:
            out.notes.append(f"{inst.instance_id}: {name} ignored ({inst.status})")
            return False
        st = defn.step(inst.step)
        if system is not None and system != st.system:
            out.notes.append(f"{inst.instance_id}: {name} from {system} ignored (step {st.name} is done by {st.system})")
            return False
        if st.completion.kind == "event" and st.completion.event == name:
            inst.history.append({"at": now.isoformat(), "step": st.name, "what": name})
            self._complete(inst, defn, st, payload, ch, now)
            return True
        if st.retry is not None and name in st.retry.events:
            inst.history.append({"at": now.isoformat(), "step": st.name, "what": name, "attempt": inst.attempts})
            if inst.attempts < st.retry.max_attempts:
                due = _later(now, st.retry.backoff_s * 2 ** (inst.attempts - 1))
                ch.timers.append(Timer(new_id(), inst.instance_id, st.name, "retry", due, inst.attempts))
            else:
                inst.status = "failed"
                inst.deadline_at = None
                self._alert(inst, st, (now - inst.step_started_at).total_seconds() if inst.step_started_at else 0.0, "failed", ch, now)
            return True
        out.notes.append(f"{inst.instance_id}: {name} ignored at step {st.name}")
        return False

    def _complete(self, inst: Instance, defn: ProcessDefinition, st: Step, payload: Mapping[str, Any], ch: Changes,
                  now: dt.datetime) -> None:
        self._current_entry(inst)["state"] = "completed"
        for kind in st.effects:
            ch.effects.append(self._effect(kind, inst, st, payload, now))
        if defn.report_to is not None:
            ch.messages.append(new_message("order.status", defn.report_to, inst.order, inst.line, now, {
                "process": defn.name, "version": defn.version, "step": st.name, "status": "completed"}))
        self._enter(inst, defn, defn.next_after(st, inst.attrs), ch, now)

    def _effect(self, kind: str, inst: Instance, st: Step, payload: Mapping[str, Any], now: dt.datetime) -> Effect:
        eid = new_id()
        if kind == "line_closed":
            return Effect(eid, kind, inst.order, inst.line, {"order": inst.order, "line": inst.line, "step": st.name,
                                                             "process": inst.process}, now)
        vals = {"item": payload.get("item", inst.attrs.get("item")), "location": inst.attrs.get("to_node"),
                "qty": payload.get("qty", inst.attrs.get("qty")), "date": payload.get("date", now.date().isoformat())}
        for f, v in vals.items():
            if v is None or v == "":
                raise ValidationError(f"a supply delta needs {f} (from the receipt payload or the line attributes)",
                                      field=f"{st.name}.{f}", value=v)
        try:
            qty = float(vals["qty"])
            dt.date.fromisoformat(str(vals["date"]))
        except ValueError:
            raise ValidationError("not a quantity and date", field=f"{st.name}.qty/date", value=(vals["qty"], vals["date"])) from None
        if qty <= 0:
            raise ValidationError("a received quantity must be positive", field=f"{st.name}.qty", value=qty)
        return Effect(eid, kind, inst.order, inst.line, {"item": vals["item"], "location": vals["location"], "qty": qty,
                                                         "date": str(vals["date"]), "ref": f"transfer:{inst.order}/{inst.line}"}, now)

    def _compensate(self, inst: Instance, defn: ProcessDefinition, entries: list[dict[str, Any]], reason: str, ch: Changes,
                    now: dt.datetime) -> None:
        done = {e["step"] for e in inst.started if e["state"] == "completed"}
        for e in reversed(entries):
            st = defn.step(e["step"])
            comp = st.on_change if reason == "change" else st.on_cancel
            if (comp is not None and comp.compensate and comp.applies in ("any", e["state"])
                    and (comp.until is None or comp.until not in done)):
                ch.messages.append(new_message(comp.compensate, st.system, inst.order, inst.line, now, {
                    "process": defn.name, "version": defn.version, "step": st.name, "request_id": e["request_id"],
                    "reason": reason, "attrs": inst.attrs}))
                inst.history.append({"at": now.isoformat(), "step": st.name, "what": f"compensated ({comp.compensate})"})
            e["state"] = "compensated"

    def _change(self, inst: Instance, defn: ProcessDefinition, attrs: Mapping[str, Any], ch: Changes, out: Outcome,
                now: dt.datetime) -> None:
        inst.attrs = {**inst.attrs, **attrs}
        if inst.status != "active" or inst.step is None:
            out.notes.append(f"{inst.instance_id}: change recorded ({inst.status})")
            return
        st = defn.step(inst.step)
        if st.on_change is None:
            inst.history.append({"at": now.isoformat(), "step": st.name, "what": "changed (no compensation)"})
            return
        target = st.on_change.goto or st.name
        first = defn.index(target)
        undo = [e for e in inst.started if e["state"] in ("started", "completed") and defn.index(e["step"]) >= first]
        self._compensate(inst, defn, undo, "change", ch, now)
        inst.history.append({"at": now.isoformat(), "step": st.name, "what": f"changed: back to {target}"})
        self._enter(inst, defn, target, ch, now)

    def _cancel(self, inst: Instance, defn: ProcessDefinition, ch: Changes, now: dt.datetime) -> None:
        if inst.status not in ("active", "failed"):
            return
        self._compensate(inst, defn, [e for e in inst.started if e["state"] in ("started", "completed")], "cancel", ch, now)
        inst.status, inst.step, inst.step_started_at, inst.deadline_at = "cancelled", None, None, None
        inst.history.append({"at": now.isoformat(), "what": "cancelled"})

    def _alert(self, inst: Instance, st: Step, late_s: float, reason: str, ch: Changes, now: dt.datetime) -> None:
        a = JeopardyAlert(inst.instance_id, inst.order, inst.line, inst.process, inst.version, st.name, st.system, late_s, now, reason)
        ch.alerts.append(a)
        ch.messages.append(new_message("jeopardy.alert", "planner", inst.order, inst.line, now, {
            "process": inst.process, "version": inst.version, "step": st.name, "system": st.system, "late_s": late_s,
            "reason": reason}))
        self._notify("jeopardy" if reason == "late" else "failed", inst.order, inst.attrs, ch, now,
                     detail=f"step {st.name} ({st.system}) {reason}, {late_s / 3600:.1f} h past its expected duration")

    def _notify(self, trigger: str, order: str, attrs: Mapping[str, Any], ch: Changes, now: dt.datetime, *, detail: str = "") -> None:
        for rule in self.notifications:
            if trigger not in rule.on:
                continue
            to = [attrs.get("email") if t == "customer" else t for t in rule.to]
            to = [t for t in to if t]
            if not to:
                continue
            ch.messages.append(new_message("email.notify", "email", order, None, now, {
                "to": to, "subject": rule.subject.format(order=order, trigger=trigger),
                "text": f"Order {order}: {trigger}.{(' ' + detail) if detail else ''}", "trigger": trigger}))


class EventBatch:
    """Order events applied one after another as ``Orchestrator.handle`` applies each, written together.

    Each event sees what the events before it in the batch did (the instances they started or moved, the event ids
    they consumed), exactly as if each had been written before the next was read, and its decision is the same as
    ``handle``'s (the same shared code decides). What differs is the I/O: the instances of the batch's orders and
    the inbox ids are read once (``OrchestrationStore.instances_of_many``, ``inbox_seen_many``), and ``write`` puts
    everything in one ``OrchestrationStore.write_many``: each instance once, at its newest state and revision
    (the revision counts every decision that changed it, as one write per decision would), outbox messages,
    timers, inbox ids, alerts and effects in the order they were decided. Rows other than the instances are
    encoded when decided, so a later event of the batch cannot change what an earlier one sent.

    The returned Outcomes hold the batch's live instances (a later event of the batch may move them on).
    Use it inside one transaction; when anything raises, roll the transaction back and drop the batch."""

    def __init__(self, engine: Orchestrator, conn: Any, *, orders: Iterable[str] = (), event_ids: Iterable[str] = ()) -> None:
        self.engine, self.conn = engine, conn
        st = engine.store
        orders = list(dict.fromkeys(orders))
        self._insts: dict[str, list[Instance]] = st.instances_of_many(orders, conn=conn) if orders else {}
        for o in orders:
            self._insts.setdefault(o, [])
        ids = list(dict.fromkeys(i for i in event_ids if i))
        self._seen: set[str] = st.inbox_seen_many(ids, conn=conn) if ids else set()
        self._absent: set[str] = set(ids) - self._seen
        self._rev0: dict[str, int] = {}              # instance id -> revision it was read at (0: started in the batch)
        self._touched: dict[str, Instance] = {}
        self.rows = Changes()                        # the decisions' changes other than instances, in order
        self.events = 0

    def instances_of(self, order: str) -> list[Instance]:
        """The order's instances as the batch has them now (read from the store on first use), by line as the store
        orders them."""
        got = self._insts.get(order)
        if got is None:
            got = self._insts[order] = self.engine.store.instances_of(order, conn=self.conn)
        return got

    def _seen_before(self, event_id: str) -> bool:
        if event_id in self._seen:
            return True
        if event_id in self._absent:
            return False
        if self.engine.store.inbox_seen(event_id, conn=self.conn):
            self._seen.add(event_id)
            return True
        self._absent.add(event_id)
        return False

    def handle(self, event: OrderEvent) -> Outcome:
        """Decide ``event`` as ``Orchestrator.handle`` would after the batch's earlier events; returns its Outcome."""
        eng = self.engine
        now = eng.clock.now()
        out = Outcome()
        if event.event_id and self._seen_before(event.event_id):
            out.duplicate = True
            out.notes.append(f"event {event.event_id} already applied")
            return out
        insts = self.instances_of(event.order)
        ch = eng._decide(event, insts, out, now)  # noqa: SLF001 - the engine's own decision code
        added = False
        for inst in ch.instances:
            if inst.instance_id not in self._rev0:
                self._rev0[inst.instance_id] = inst.rev
                self._touched[inst.instance_id] = inst
                if inst.rev == 0:
                    insts.append(inst)
                    added = True
            inst.rev += 1
        if added:
            insts.sort(key=eng.store.instance_order)
        for mid, *_ in ch.inbox:
            self._seen.add(mid)
            self._absent.discard(mid)
        r = self.rows
        r.inbox.extend(ch.inbox)
        r.timers.extend(ch.timers)
        r.fired_timers.extend(ch.fired_timers)
        r.messages.extend(encoded(m) for m in ch.messages)
        r.alerts.extend(ch.alerts)
        r.effects.extend(dataclasses.replace(e, payload=copy.deepcopy(e.payload)) for e in ch.effects)
        self.events += 1
        return eng._done(out, ch)  # noqa: SLF001

    def write(self) -> None:
        """Write what the batch decided (``OrchestrationStore.write_many``) in its transaction."""
        ch = dataclasses.replace(self.rows, instances=list(self._touched.values()))
        self.engine.store.write_many(ch, self._rev0, conn=self.conn)
