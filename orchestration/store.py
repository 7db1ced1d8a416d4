"""The durable store of the orchestration engine: process instances, timers, outbox, inbox, alerts,
effects for the order book, documents and their audit.

One Protocol (``OrchestrationStore``) and two implementations with the same tables (all named
``orch_*`` so they can live in the order book's own database):

- ``SqliteStore(path)``: stdlib sqlite3, WAL, ``synchronous=FULL``;
- ``PostgresStore(url, schema=...)``: psycopg 3, tables in ``schema``.

Every method takes ``conn=None``: with a connection from the caller (say the order book's open
transaction on the same database) it runs there and neither begins nor commits; without one the
store opens its own transaction and commits it before returning. ``transaction(conn)`` is the
seam: ``with store.transaction(conn) as c:`` yields ``conn`` untouched when given, else a new
transaction that commits on exit (rolls back on an exception).

Times are stored as epoch seconds (UTC), so deadlines compare as numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from promessa.errors import ConflictError, NotFoundError, ValidationError

from .records import Effect, JeopardyAlert, Message


def ts(t: dt.datetime | None) -> float | None:
    """Epoch seconds of an aware datetime (None stays None)."""
    return None if t is None else t.timestamp()


def from_ts(x: float | None) -> dt.datetime | None:
    """Aware UTC datetime from epoch seconds (None stays None)."""
    return None if x is None else dt.datetime.fromtimestamp(x, dt.UTC)


def seq_runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """The distinct ``seqs`` as runs of consecutive integers ``(first, last)``, ascending:
    ``[5, 1, 2, 3, 7, 6]`` -> ``[(1, 3), (5, 7)]``."""
    runs: list[tuple[int, int]] = []
    it = iter(sorted(set(seqs)))
    for first in it:
        last = first
        for s in it:
            if s != last + 1:
                runs.append((first, last))
                first = s
            last = s
        runs.append((first, last))
    return runs


@dataclasses.dataclass
class Instance:
    """One running process for an order (``line`` None) or a line: the version it started with, its current
    step and the steps started so far (``started``: dicts {step, request_id, state: started|completed|compensated})."""

    instance_id: str
    order: str
    line: str | None
    process: str
    version: int
    status: str = "active"            # active | completed | cancelled | failed
    step: str | None = None
    step_started_at: dt.datetime | None = None
    deadline_at: dt.datetime | None = None
    attempts: int = 0
    alerted: bool = False
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    started: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rev: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Timer:
    """A durable timer: ``kind`` complete (a timer completion) or retry (send the request again)."""

    timer_id: str
    instance_id: str
    step: str
    kind: str
    due_at: dt.datetime
    attempt: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """An unpublished outbox row with its delivery attempts so far."""

    message: Message
    attempts: int
    next_attempt_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document attached to an order (and optionally a step), with the SHA-256 of its content."""

    doc_id: str
    order: str
    step: str | None
    kind: str
    filename: str
    content_type: str
    sha256: str
    size: int
    attached_by: str
    attached_at: dt.datetime


@dataclasses.dataclass
class Changes:
    """Everything one engine decision writes, in one transaction."""

    instances: list[Instance] = dataclasses.field(default_factory=list)
    timers: list[Timer] = dataclasses.field(default_factory=list)
    fired_timers: list[str] = dataclasses.field(default_factory=list)
    messages: list[Message] = dataclasses.field(default_factory=list)
    inbox: list[tuple[str, str, str, dt.datetime]] = dataclasses.field(default_factory=list)  # message_id, system, order, at
    alerts: list[JeopardyAlert] = dataclasses.field(default_factory=list)
    effects: list[Effect] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.instances or self.timers or self.fired_timers or self.messages or self.inbox or self.alerts
                    or self.effects)


class OrchestrationStore(Protocol):
    """What the engine, the relay and the documents need from a durable store (see the module docstring)."""

    def transaction(self, conn: Any = None) -> contextlib.AbstractContextManager[Any]: ...
    def save_definition(self, name: str, version: int, source: str, at: dt.datetime, *, conn: Any = None) -> None: ...
    def definitions(self, *, conn: Any = None) -> list[tuple[str, int, str]]: ...
    def instances_of(self, order: str, *, conn: Any = None) -> list[Instance]: ...
    def instances_of_many(self, orders: Sequence[str], *, conn: Any = None) -> dict[str, list[Instance]]: ...
    def instance_order(self, inst: Instance) -> tuple: ...
    def write_many(self, changes: Changes, revs: dict[str, int], *, conn: Any = None) -> None: ...
    def inbox_seen_many(self, message_ids: Sequence[str], *, conn: Any = None) -> set[str]: ...
    def instance(self, instance_id: str, *, conn: Any = None) -> Instance: ...
    def write(self, changes: Changes, *, conn: Any = None) -> None: ...
    def due_timers(self, now: dt.datetime, *, limit: int = 1000, conn: Any = None) -> list[Timer]: ...
    def overdue(self, now: dt.datetime, *, limit: int = 1000, conn: Any = None) -> list[Instance]: ...
    def active(self, *, limit: int = 1000, conn: Any = None) -> list[Instance]: ...
    def inbox_seen(self, message_id: str, *, conn: Any = None) -> bool: ...
    def pending(self, *, limit: int = 1000, after_seq: int = 0, conn: Any = None) -> list[Pending]: ...
    def mark_published(self, seqs: Sequence[int], at: dt.datetime, *, conn: Any = None) -> None: ...
    def mark_failed(self, seq: int, attempts: int, next_at: dt.datetime, error: str, *, conn: Any = None) -> None: ...
    def messages(self, *, order: str | None = None, limit: int = 1000, newest: bool = False,
                 conn: Any = None) -> list[tuple[Message, dt.datetime | None]]: ...
    def alerts(self, *, order: str | None = None, conn: Any = None) -> list[JeopardyAlert]: ...
    def effects(self, *, pending_only: bool = True, conn: Any = None) -> list[Effect]: ...
    def mark_effects_applied(self, effect_ids: Sequence[str], at: dt.datetime, *, conn: Any = None) -> None: ...
    def put_document(self, doc: DocumentRecord, content: bytes, *, conn: Any = None) -> None: ...
    def document(self, doc_id: str, *, conn: Any = None) -> DocumentRecord: ...
    def document_content(self, doc_id: str, *, conn: Any = None) -> bytes: ...
    def documents_of(self, order: str, *, conn: Any = None) -> list[DocumentRecord]: ...
    def audit(self, doc_id: str, action: str, who: str, at: dt.datetime, *, conn: Any = None) -> None: ...
    def audit_trail(self, doc_id: str, *, conn: Any = None) -> list[tuple[str, str, dt.datetime]]: ...
    def close(self) -> None: ...


_DDL = """
CREATE TABLE IF NOT EXISTS {p}orch_definitions (name TEXT NOT NULL, version INTEGER NOT NULL, source TEXT NOT NULL,
  deployed_at {REAL} NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS {p}orch_instances (instance_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, line_id TEXT,
  process TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL, step TEXT, step_started_at {REAL}, deadline_at {REAL},
  attempts INTEGER NOT NULL, alerted INTEGER NOT NULL, attrs TEXT NOT NULL, started TEXT NOT NULL, history TEXT NOT NULL,
  rev INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orch_instances_order ON {p}orch_instances (order_id);
CREATE INDEX IF NOT EXISTS orch_instances_deadline ON {p}orch_instances (deadline_at) WHERE status = 'active' AND alerted = 0;
CREATE TABLE IF NOT EXISTS {p}orch_timers (timer_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, step TEXT NOT NULL,
  kind TEXT NOT NULL, due_at {REAL} NOT NULL, attempt INTEGER NOT NULL, fired INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS orch_timers_due ON {p}orch_timers (due_at) WHERE fired = 0;
CREATE TABLE IF NOT EXISTS {p}orch_outbox (seq {SERIAL}, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
  system TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT, created_at {REAL} NOT NULL, payload TEXT NOT NULL,
  published_at {REAL}, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at {REAL}, last_error TEXT);
CREATE INDEX IF NOT EXISTS orch_outbox_pending ON {p}orch_outbox (seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS orch_outbox_order ON {p}orch_outbox (order_id);
CREATE TABLE IF NOT EXISTS {p}orch_inbox (message_id TEXT PRIMARY KEY, system TEXT NOT NULL, order_id TEXT NOT NULL,
  received_at {REAL} NOT NULL);
CREATE TABLE IF NOT EXISTS {p}orch_alerts (alert_id {SERIAL}, instance_id TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT,
  process TEXT NOT NULL, version INTEGER NOT NULL, step TEXT NOT NULL, system TEXT NOT NULL, late_s {REAL} NOT NULL,
  raised_at {REAL} NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {p}orch_effects (effect_id TEXT PRIMARY KEY, kind TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT,
  payload TEXT NOT NULL, created_at {REAL} NOT NULL, applied_at {REAL});
CREATE TABLE IF NOT EXISTS {p}orch_documents (doc_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, step TEXT, kind TEXT NOT NULL,
  filename TEXT NOT NULL, content_type TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, content {BLOB} NOT NULL,
  attached_by TEXT NOT NULL, attached_at {REAL} NOT NULL);
CREATE TABLE IF NOT EXISTS {p}orch_document_audit (audit_id {SERIAL}, doc_id TEXT NOT NULL, action TEXT NOT NULL,
  who TEXT NOT NULL, at {REAL} NOT NULL);
"""

_INST_COLS = ("instance_id, order_id, line_id, process, version, status, step, step_started_at, deadline_at, attempts, alerted, "
              "attrs, started, history, rev")
_MSG_COLS = "seq, message_id, kind, system, order_id, line_id, created_at, payload"
_DOC_COLS = "doc_id, order_id, step, kind, filename, content_type, sha256, size, attached_by, attached_at"


def _instance(r: Sequence[Any]) -> Instance:
    return Instance(instance_id=r[0], order=r[1], line=r[2], process=r[3], version=int(r[4]), status=r[5], step=r[6],
                    step_started_at=from_ts(r[7]), deadline_at=from_ts(r[8]), attempts=int(r[9]), alerted=bool(r[10]),
                    attrs=json.loads(r[11]), started=json.loads(r[12]), history=json.loads(r[13]), rev=int(r[14]))


def _message(r: Sequence[Any]) -> Message:
    return Message(message_id=r[1], kind=r[2], system=r[3], order=r[4], line=r[5], created_at=from_ts(r[6]),
                   seq=int(r[0]), raw_payload=r[7])


def _doc(r: Sequence[Any]) -> DocumentRecord:
    return DocumentRecord(doc_id=r[0], order=r[1], step=r[2], kind=r[3], filename=r[4], content_type=r[5], sha256=r[6],
                          size=int(r[7]), attached_by=r[8], attached_at=from_ts(r[9]))


#: the stored JSON form (``json.dumps(x, sort_keys=True, default=str)``), one encoder kept rather than one built per call
_dumps = json.JSONEncoder(sort_keys=True, default=str).encode

#: most values bound to one ``IN (...)`` list
_IN_CHUNK = 500


def encoded(m: Message) -> Message:
    """``m`` with its payload encoded now, as the store writes it (``raw_payload``): later changes to the objects the
    payload refers to no longer change what is written."""
    if m.raw_payload is not None:
        return m
    return Message(m.message_id, m.kind, m.system, m.order, m.line, m.created_at, seq=m.seq, raw_payload=_dumps(m.payload))


def _chunks(xs: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(xs), _IN_CHUNK):
        yield xs[i:i + _IN_CHUNK]


class _SqlStore:
    """The SQL shared by both stores; subclasses give connections, placeholders and the DDL types."""

    prefix = ""
    param = "?"

    def _sql(self, sql: str) -> str:
        sql = sql.replace("{p}", self.prefix)
        return sql if self.param == "?" else sql.replace("?", self.param)

    # -- subclass hooks -------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, conn: Any = None) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def _exec(self, c: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return c.execute(self._sql(sql), tuple(args))

    def _many(self, c: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            c.executemany(self._sql(sql), rows)

    def _rows(self, sql: str, args: Sequence[Any] = (), *, conn: Any = None) -> list[Any]:
        with self.transaction(conn) as c:
            return list(self._exec(c, sql, args).fetchall())

    # -- definitions ----------------------------------------------------------------------------
    def save_definition(self, name: str, version: int, source: str, at: dt.datetime, *, conn: Any = None) -> None:
        """Store a deployed definition (idempotent for the same source; ConflictError for a different one)."""
        with self.transaction(conn) as c:
            row = self._exec(c, "SELECT source FROM {p}orch_definitions WHERE name = ? AND version = ?", (name, version)).fetchone()
            if row is not None:
                if row[0] != source:
                    raise ConflictError(f"process {name!r} version {version} is already stored with another content",
                                        hint="deploy a new version")
                return
            self._exec(c, "INSERT INTO {p}orch_definitions (name, version, source, deployed_at) VALUES (?, ?, ?, ?)",
                       (name, version, source, ts(at)))

    def definitions(self, *, conn: Any = None) -> list[tuple[str, int, str]]:
        """Every stored (name, version, source), by name and version."""
        return [(r[0], int(r[1]), r[2]) for r in
                self._rows("SELECT name, version, source FROM {p}orch_definitions ORDER BY name, version", conn=conn)]

    # -- instances ------------------------------------------------------------------------------
    def instances_of(self, order: str, *, conn: Any = None) -> list[Instance]:
        """The process instances of ``order`` (order-level first, then by line)."""
        rows = self._rows(f"SELECT {_INST_COLS} FROM {{p}}orch_instances WHERE order_id = ? ORDER BY line_id, instance_id",
                          (order,), conn=conn)
        return [_instance(r) for r in rows]

    #: where the store sorts a NULL line_id in ``ORDER BY line_id`` (SQLite first, PostgreSQL last)
    nulls_first = True

    def instance_order(self, inst: Instance) -> tuple:
        """The sort key of ``instances_of``'s order (line, then instance id), for instances not read from the store."""
        return (inst.line is not None) == self.nulls_first, inst.line or "", inst.instance_id

    def instances_of_many(self, orders: Sequence[str], *, conn: Any = None) -> dict[str, list[Instance]]:
        """``instances_of`` for many orders in few queries: order -> its instances (orders without any are left out)."""
        out: dict[str, list[Instance]] = {}
        orders = list(orders)
        with self.transaction(conn) as c:
            for part in _chunks(orders):
                marks = ", ".join("?" * len(part))
                for r in self._exec(c, f"SELECT {_INST_COLS} FROM {{p}}orch_instances WHERE order_id IN ({marks}) "
                                       "ORDER BY line_id, instance_id", part).fetchall():
                    out.setdefault(r[1], []).append(_instance(r))
        return out

    def instance(self, instance_id: str, *, conn: Any = None) -> Instance:
        """One instance; NotFoundError when absent."""
        rows = self._rows(f"SELECT {_INST_COLS} FROM {{p}}orch_instances WHERE instance_id = ?", (instance_id,), conn=conn)
        if not rows:
            raise NotFoundError(f"process instance {instance_id!r} does not exist")
        return _instance(rows[0])

    def write(self, changes: Changes, *, conn: Any = None) -> None:
        """Write ``changes`` atomically: instances (optimistic: ConflictError when one changed since it was read),
        timers, fired timers, outbox messages, inbox ids (ConflictError on a duplicate), alerts and effects."""
        with self.transaction(conn) as c:
            for inst in changes.instances:
                vals = _instance_values(inst)
                if inst.rev == 0:
                    self._exec(c, f"INSERT INTO {{p}}orch_instances ({_INST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                               (inst.instance_id, *vals))
                else:
                    cur = self._exec(c, "UPDATE {p}orch_instances SET order_id = ?, line_id = ?, process = ?, version = ?, status = ?, "
                                        "step = ?, step_started_at = ?, deadline_at = ?, attempts = ?, alerted = ?, attrs = ?, "
                                        "started = ?, history = ?, rev = rev + 1 WHERE instance_id = ? AND rev = ?",
                                     (*vals, inst.instance_id, inst.rev))
                    if cur.rowcount != 1:
                        raise ConflictError(f"process instance {inst.instance_id!r} changed since it was read (rev {inst.rev})",
                                            hint="read it again and retry")
                inst.rev += 1
            for mid, system, order, at in changes.inbox:
                if self._exec(c, "SELECT 1 FROM {p}orch_inbox WHERE message_id = ?", (mid,)).fetchone() is not None:
                    raise ConflictError(f"inbound message {mid!r} was already consumed")
                self._exec(c, "INSERT INTO {p}orch_inbox (message_id, system, order_id, received_at) VALUES (?, ?, ?, ?)",
                           (mid, system, order, ts(at)))
            self._write_rows(c, changes)

    def _write_rows(self, c: Any, changes: Changes) -> None:
        """The rows `write` and `write_many` add alike: timers (and those fired), outbox messages (a payload as encoded
        when it was decided, else encoded now), alerts and effects."""
        self._many(c, "INSERT INTO {p}orch_timers (timer_id, instance_id, step, kind, due_at, attempt) VALUES (?, ?, ?, ?, ?, ?)",
                   [(t.timer_id, t.instance_id, t.step, t.kind, ts(t.due_at), t.attempt) for t in changes.timers])
        self._many(c, "UPDATE {p}orch_timers SET fired = 1 WHERE timer_id = ?", [(t,) for t in changes.fired_timers])
        self._many(c, "INSERT INTO {p}orch_outbox (message_id, kind, system, order_id, line_id, created_at, payload) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [(m.message_id, m.kind, m.system, m.order, m.line, ts(m.created_at),
                     m.raw_payload if m.raw_payload is not None else _dumps(m.payload)) for m in changes.messages])
        self._many(c, "INSERT INTO {p}orch_alerts (instance_id, order_id, line_id, process, version, step, system, late_s, "
                      "raised_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(a.instance_id, a.order, a.line, a.process, a.version, a.step, a.system, a.late_s, ts(a.raised_at), a.reason)
                    for a in changes.alerts])
        self._many(c, "INSERT INTO {p}orch_effects (effect_id, kind, order_id, line_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [(e.effect_id, e.kind, e.order, e.line, _dumps(e.payload), ts(e.created_at)) for e in changes.effects])

    def write_many(self, changes: Changes, revs: dict[str, int], *, conn: Any = None) -> None:
        """Write the changes of several decisions at once (``orchestration.engine.EventBatch``), as ``write`` would
        write them one decision after another: ``changes.instances`` holds each instance once, at its newest state and
        revision, and ``revs`` the revision each was read at (0: new; else ConflictError when it changed since);
        the other rows in the order they were decided (a message's payload as encoded when it was decided)."""
        with self.transaction(conn) as c:
            new, old = [], []
            for inst in changes.instances:
                vals = _instance_values(inst)
                base = revs.get(inst.instance_id, inst.rev - 1)
                if base == 0:
                    new.append((inst.instance_id, *vals, inst.rev))
                else:
                    old.append((inst, base, (*vals, inst.rev, inst.instance_id, base)))
            self._many(c, f"INSERT INTO {{p}}orch_instances ({_INST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       new)
            for inst, base, row in old:
                cur = self._exec(c, "UPDATE {p}orch_instances SET order_id = ?, line_id = ?, process = ?, version = ?, "
                                    "status = ?, step = ?, step_started_at = ?, deadline_at = ?, attempts = ?, alerted = ?, "
                                    "attrs = ?, started = ?, history = ?, rev = ? WHERE instance_id = ? AND rev = ?", row)
                if cur.rowcount != 1:
                    raise ConflictError(f"process instance {inst.instance_id!r} changed since it was read (rev {base})",
                                        hint="read it again and retry")
            mids = [m[0] for m in changes.inbox]
            if len(set(mids)) != len(mids) or self.inbox_seen_many(mids, conn=c):
                dup = next(m for m in mids if mids.count(m) > 1 or self.inbox_seen_many([m], conn=c))
                raise ConflictError(f"inbound message {dup!r} was already consumed")
            self._many(c, "INSERT INTO {p}orch_inbox (message_id, system, order_id, received_at) VALUES (?, ?, ?, ?)",
                       [(mid, system, order, ts(at)) for mid, system, order, at in changes.inbox])
            self._write_rows(c, changes)

    def due_timers(self, now: dt.datetime, *, limit: int = 1000, conn: Any = None) -> list[Timer]:
        """Unfired timers due at or before ``now``, earliest first."""
        rows = self._rows("SELECT timer_id, instance_id, step, kind, due_at, attempt FROM {p}orch_timers "
                          "WHERE fired = 0 AND due_at <= ? ORDER BY due_at, timer_id LIMIT ?", (ts(now), limit), conn=conn)
        return [Timer(r[0], r[1], r[2], r[3], from_ts(r[4]), int(r[5])) for r in rows]

    def overdue(self, now: dt.datetime, *, limit: int = 1000, conn: Any = None) -> list[Instance]:
        """Active instances whose current step is past its deadline and not yet alerted."""
        rows = self._rows(f"SELECT {_INST_COLS} FROM {{p}}orch_instances WHERE status = 'active' AND alerted = 0 "
                          "AND deadline_at <= ? ORDER BY deadline_at LIMIT ?", (ts(now), limit), conn=conn)
        return [_instance(r) for r in rows]

    def active(self, *, limit: int = 1000, conn: Any = None) -> list[Instance]:
        """Active instances (alerted or not), the earliest deadline first (the latest steps lead)."""
        rows = self._rows(f"SELECT {_INST_COLS} FROM {{p}}orch_instances WHERE status = 'active' "
                          "ORDER BY deadline_at, instance_id LIMIT ?", (limit,), conn=conn)
        return [_instance(r) for r in rows]

    def inbox_seen(self, message_id: str, *, conn: Any = None) -> bool:
        """True when an inbound message with this id was consumed already."""
        return bool(self._rows("SELECT 1 FROM {p}orch_inbox WHERE message_id = ?", (message_id,), conn=conn))

    def inbox_seen_many(self, message_ids: Sequence[str], *, conn: Any = None) -> set[str]:
        """Which of ``message_ids`` were consumed already (few queries for many ids)."""
        out: set[str] = set()
        ids = list(message_ids)
        with self.transaction(conn) as c:
            for part in _chunks(ids):
                marks = ", ".join("?" * len(part))
                out.update(r[0] for r in self._exec(c, f"SELECT message_id FROM {{p}}orch_inbox WHERE message_id IN ({marks})",
                                                    part).fetchall())
        return out

    # -- outbox ---------------------------------------------------------------------------------
    def pending(self, *, limit: int = 1000, after_seq: int = 0, conn: Any = None) -> list[Pending]:
        """Unpublished outbox rows after ``after_seq``, in outbox order."""
        rows = self._rows(f"SELECT {_MSG_COLS}, attempts, next_attempt_at FROM {{p}}orch_outbox WHERE published_at IS NULL "
                          "AND seq > ? ORDER BY seq LIMIT ?", (after_seq, limit), conn=conn)
        return [Pending(_message(r), int(r[8]), from_ts(r[9])) for r in rows]

    def mark_published(self, seqs: Sequence[int], at: dt.datetime, *, conn: Any = None) -> None:
        """Record that the rows ``seqs`` were delivered: one UPDATE per run of consecutive seqs (a relay batch is
        mostly one run), all in one transaction."""
        with self.transaction(conn) as c:
            self._many(c, "UPDATE {p}orch_outbox SET published_at = ? WHERE seq BETWEEN ? AND ? AND published_at IS NULL",
                       [(ts(at), a, b) for a, b in seq_runs(seqs)])

    def mark_failed(self, seq: int, attempts: int, next_at: dt.datetime, error: str, *, conn: Any = None) -> None:
        """Record a failed delivery: the attempts so far and when to try again."""
        with self.transaction(conn) as c:
            self._exec(c, "UPDATE {p}orch_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE seq = ?",
                       (attempts, ts(next_at), error[:500], seq))

    def messages(self, *, order: str | None = None, limit: int = 1000, newest: bool = False,
                 conn: Any = None) -> list[tuple[Message, dt.datetime | None]]:
        """The message log: (message, published_at or None), in outbox order, for one order or all; the first ``limit``
        rows, or with ``newest`` the last ``limit`` (still in outbox order)."""
        where, args = ("WHERE order_id = ? ", (order, limit)) if order is not None else ("", (limit,))
        rows = self._rows(f"SELECT {_MSG_COLS}, published_at FROM {{p}}orch_outbox {where}ORDER BY seq "
                          f"{'DESC ' if newest else ''}LIMIT ?", args, conn=conn)
        out = [(_message(r), from_ts(r[8])) for r in rows]
        return out[::-1] if newest else out

    def alerts(self, *, order: str | None = None, conn: Any = None) -> list[JeopardyAlert]:
        """Jeopardy alerts raised, oldest first."""
        where, args = ("WHERE order_id = ? ", (order,)) if order is not None else ("", ())
        rows = self._rows("SELECT instance_id, order_id, line_id, process, version, step, system, late_s, raised_at, reason "
                          f"FROM {{p}}orch_alerts {where}ORDER BY alert_id", args, conn=conn)
        return [JeopardyAlert(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6], float(r[7]), from_ts(r[8]), r[9]) for r in rows]

    def effects(self, *, pending_only: bool = True, conn: Any = None) -> list[Effect]:
        """Effects for the order book (only those not yet applied unless ``pending_only`` is False)."""
        where = "WHERE applied_at IS NULL " if pending_only else ""
        rows = self._rows(f"SELECT effect_id, kind, order_id, line_id, payload, created_at FROM {{p}}orch_effects {where}"
                          "ORDER BY created_at, effect_id", conn=conn)
        return [Effect(r[0], r[1], r[2], r[3], json.loads(r[4]), from_ts(r[5])) for r in rows]

    def mark_effects_applied(self, effect_ids: Sequence[str], at: dt.datetime, *, conn: Any = None) -> None:
        """Record that the order book applied these effects (pass its transaction to make it atomic with them)."""
        with self.transaction(conn) as c:
            self._many(c, "UPDATE {p}orch_effects SET applied_at = ? WHERE effect_id = ?", [(ts(at), e) for e in effect_ids])

    # -- documents ------------------------------------------------------------------------------
    def put_document(self, doc: DocumentRecord, content: bytes, *, conn: Any = None) -> None:
        """Store a document and its content."""
        with self.transaction(conn) as c:
            self._exec(c, f"INSERT INTO {{p}}orch_documents ({_DOC_COLS}, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (doc.doc_id, doc.order, doc.step, doc.kind, doc.filename, doc.content_type, doc.sha256, doc.size,
                        doc.attached_by, ts(doc.attached_at), content))

    def document(self, doc_id: str, *, conn: Any = None) -> DocumentRecord:
        """The record of a document; NotFoundError when absent."""
        rows = self._rows(f"SELECT {_DOC_COLS} FROM {{p}}orch_documents WHERE doc_id = ?", (doc_id,), conn=conn)
        if not rows:
            raise NotFoundError(f"document {doc_id!r} does not exist")
        return _doc(rows[0])

    def document_content(self, doc_id: str, *, conn: Any = None) -> bytes:
        """The stored bytes of a document."""
        rows = self._rows("SELECT content FROM {p}orch_documents WHERE doc_id = ?", (doc_id,), conn=conn)
        if not rows:
            raise NotFoundError(f"document {doc_id!r} does not exist")
        return bytes(rows[0][0])

    def documents_of(self, order: str, *, conn: Any = None) -> list[DocumentRecord]:
        """The documents attached to ``order``, oldest first."""
        rows = self._rows(f"SELECT {_DOC_COLS} FROM {{p}}orch_documents WHERE order_id = ? ORDER BY attached_at, doc_id",
                          (order,), conn=conn)
        return [_doc(r) for r in rows]

    def audit(self, doc_id: str, action: str, who: str, at: dt.datetime, *, conn: Any = None) -> None:
        """Append (action, who, at) to a document's audit trail."""
        with self.transaction(conn) as c:
            self._exec(c, "INSERT INTO {p}orch_document_audit (doc_id, action, who, at) VALUES (?, ?, ?, ?)",
                       (doc_id, action, who, ts(at)))

    def audit_trail(self, doc_id: str, *, conn: Any = None) -> list[tuple[str, str, dt.datetime]]:
        """(action, who, at) of every attach, view and download of a document, oldest first."""
        rows = self._rows("SELECT action, who, at FROM {p}orch_document_audit WHERE doc_id = ? ORDER BY audit_id", (doc_id,),
                          conn=conn)
        return [(r[0], r[1], from_ts(r[2])) for r in rows]


class SqliteStore(_SqlStore):
    """The store in a SQLite file (WAL, synchronous=FULL). Thread-safe: its own transactions are serialized.

    Pass ``conn=`` a sqlite3 connection to the same file (opened with ``isolation_level=None`` and inside
    ``BEGIN``) to write within the caller's transaction; ``create_tables(conn)`` makes the tables there."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._lock = threading.RLock()
        self._depth = 0
        self.create_tables()

    def create_tables(self, conn: sqlite3.Connection | None = None) -> None:
        """Create the orch_* tables (idempotent) on ``conn`` or the store's own connection."""
        ddl = _DDL.format(p="", REAL="REAL", BLOB="BLOB", SERIAL="INTEGER PRIMARY KEY AUTOINCREMENT")
        with self._lock:
            if conn is None:
                self._conn.executescript(ddl)
            else:                       # executescript would COMMIT the caller's transaction
                for stmt in ddl.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)

    @contextlib.contextmanager
    def transaction(self, conn: Any = None) -> Iterator[Any]:
        """``conn`` as is when given; else the store's connection inside BEGIN IMMEDIATE ... COMMIT."""
        if conn is not None:
            yield conn
            return
        with self._lock:
            if self._depth:               # nested use of the store's own transaction
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the store's own connection."""
        self._conn.close()


class PostgresStore(_SqlStore):
    """The store in PostgreSQL (psycopg 3), tables in ``schema``. Pass ``conn=`` a psycopg connection inside the
    caller's transaction to write there; without one each call runs in a transaction of the store's connection."""

    param = "%s"
    nulls_first = False

    def __init__(self, url: str, *, schema: str = "promessa") -> None:
        import psycopg

        if not schema.replace("_", "").isalnum():
            raise ValidationError("a schema name is letters, digits and _", field="schema", value=schema)
        self.url = url
        self.schema = schema
        self.prefix = f'"{schema}".'
        self._conn = psycopg.connect(url, autocommit=True)
        self._lock = threading.RLock()
        self._depth = 0
        self.create_tables()

    def create_tables(self, conn: Any = None) -> None:
        """Create the schema and the orch_* tables (idempotent)."""
        ddl = _DDL.format(p=self.prefix, REAL="DOUBLE PRECISION", BLOB="BYTEA",
                          SERIAL="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        with self.transaction(conn) as c:
            c.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            for stmt in ddl.split(";"):
                if stmt.strip():          # index names are unqualified: they live in their table's schema
                    c.execute(stmt)

    @contextlib.contextmanager
    def transaction(self, conn: Any = None) -> Iterator[Any]:
        """``conn`` as is when given; else a transaction on the store's connection (commit on exit)."""
        if conn is not None:
            yield conn
            return
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._conn.transaction():
                    yield self._conn
            finally:
                self._depth = 0

    def _exec(self, c: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return c.execute(self._sql(sql), tuple(args), prepare=True)

    def _many(self, c: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            with c.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def close(self) -> None:
        """Close the store's own connection."""
        self._conn.close()


def open_store(url: str, *, schema: str = "promessa") -> SqliteStore | PostgresStore:
    """A PostgresStore for a ``postgresql://`` URL, else a SqliteStore at that path."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, schema=schema)
    return SqliteStore(url)


def _instance_values(inst: Instance) -> tuple:
    """An instance's columns after its id, in `_INST_COLS` order up to ``rev``."""
    return (inst.order, inst.line, inst.process, inst.version, inst.status, inst.step, ts(inst.step_started_at),
            ts(inst.deadline_at), inst.attempts, int(inst.alerted), _dumps(inst.attrs), _dumps(inst.started),
            _dumps(inst.history))
