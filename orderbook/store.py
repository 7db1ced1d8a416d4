"""The durable order book: one interface, two backends.

- :class:`SqliteStore` - embedded default: a file, WAL journal, ``synchronous=FULL`` (an
  acknowledged transaction survives power loss and ``kill -9``).
- :class:`PostgresStore` - production: a ``postgresql://`` URL (psycopg 3), tables in their
  own schema.

Tables (created on open): ``orders`` (one row per order with the whole order as JSON plus the
columns searches use), ``order_lines`` and ``schedule_lines`` (projections for queries and
:meth:`OrderStore.open_commitments`), ``audit`` (every transition: who, when, from, to),
``idempotency`` (key, request hash, stored answer), ``reservations`` (temporary holds of carts
and quotes, the whole record as JSON; their draws are journalled under the reservation's id), ``import_keys`` (source system + source
order id -> order id), ``journal`` (the commitment journal: every commit and release of
supply with a monotonically increasing ``seq``) and ``supply_deltas`` (real-time supply
changes, numbered from the same sequence, with the key that made them and, once an extract
carries them, the extract's sequence that retired them).

Everything one request changes is a :class:`~orderbook.records.WriteSet`, written by
:meth:`OrderStore.apply` in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from customers import Customer
from orderbook.records import (
    AuditEntry,
    CatalogueEntry,
    Commitment,
    CustomerEntry,
    DeltaEntry,
    JournalEntry,
    Order,
    PricingEntry,
    StockReservation,
    WriteSet,
)
from pricing import CatalogueChange
from promessa import jsonenc
from promessa.errors import ValidationError

#: A write set turned into statements and their rows: [(sql, [params, ...]), ...].
Prepared = list[tuple[str, list[tuple]]]

_TABLES = ("orders", "order_lines", "schedule_lines", "audit", "idempotency", "import_keys", "journal", "supply_deltas",
           "customers", "pricing_records", "catalogue_changes", "reservations")

_DDL = """
CREATE TABLE IF NOT EXISTS event_cursors (
    consumer TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    zone TEXT,
    status TEXT NOT NULL,
    source_system TEXT,
    source_order_id TEXT,
    requested_date TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    item TEXT NOT NULL,
    location TEXT,
    qty {REAL} NOT NULL,
    requested_date TEXT NOT NULL,
    unit_price {REAL},
    price_override INTEGER NOT NULL,
    promised_qty {REAL} NOT NULL,
    shipped_qty {REAL} NOT NULL,
    delivered_qty {REAL} NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX IF NOT EXISTS order_lines_item ON order_lines (item);
CREATE TABLE IF NOT EXISTS schedule_lines (
    order_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    sl_no INTEGER NOT NULL,
    item TEXT NOT NULL,
    location TEXT NOT NULL,
    date TEXT NOT NULL,
    qty {REAL} NOT NULL,
    demand_class TEXT,
    shipped_qty {REAL} NOT NULL,
    PRIMARY KEY (order_id, line_no, sl_no)
);
CREATE TABLE IF NOT EXISTS audit (
    id {AUTOID},
    order_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_order ON audit (order_id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS import_keys (
    source_system TEXT NOT NULL,
    source_order_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    PRIMARY KEY (source_system, source_order_id)
);
CREATE TABLE IF NOT EXISTS journal (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT,
    line_no INTEGER,
    item TEXT NOT NULL,
    location TEXT NOT NULL,
    date TEXT NOT NULL,
    qty {REAL} NOT NULL,
    demand_class TEXT,
    draw_kind TEXT NOT NULL,
    draw TEXT
);
CREATE TABLE IF NOT EXISTS supply_deltas (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    item TEXT NOT NULL,
    location TEXT NOT NULL,
    date TEXT NOT NULL,
    qty {REAL} NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT,
    retired_seq BIGINT
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    order_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_status ON reservations (status, expires_at);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pricing_records (
    seq {AUTOID},
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalogue_changes (
    seq BIGINT PRIMARY KEY,
    change_id TEXT NOT NULL UNIQUE,
    item TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    doc TEXT NOT NULL,
    retired_seq BIGINT
);
"""


class OrderStore:
    """Interface of the durable order book (see module docstring). Backends fill in `_connect`."""

    kind = "abstract"
    _param = "?"

    def __init__(self) -> None:
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()

    # -- backend hooks -------------------------------------------------------------------
    def _write_conn(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_conn(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin(self, conn) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self._param == "?" else sql.replace("?", self._param)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._rlock:
            conn = self._read_conn()
            cur = conn.execute(self._sql(sql), tuple(params))
            rows = cur.fetchall()
            self._end_read(conn)
            return rows

    def _end_read(self, conn) -> None:
        pass

    # -- writes --------------------------------------------------------------------------
    def apply(self, ws: WriteSet) -> None:
        """Write everything in `ws` in one durable transaction (all or nothing)."""
        if ws:
            self.write([self.prepare(ws)])

    def write(self, batch: list[Prepared]) -> None:
        """Write prepared write sets, in order, in one durable transaction (group commit)."""
        if not batch:
            return
        with self._wlock:
            conn = self._write_conn()
            self._begin(conn)
            try:
                with self._batch(conn):
                    cur = conn.cursor()
                    for prepared in batch:
                        for sql, rows in prepared:
                            cur.executemany(sql, rows)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _batch(self, conn):
        """Context in which the statements of one transaction are sent (PostgreSQL: one pipeline)."""
        return contextlib.nullcontext()

    def prepare(self, ws: WriteSet, docs: dict[str, dict] | None = None) -> Prepared:
        """The statements and rows that write `ws`, computed now (orders are serialized as they are now).
        ``docs``: order id -> ``Order.to_dict()`` when the caller made them already (the same moment)."""
        q = self._sql
        out: Prepared = []
        if ws.orders:
            ids = [(o.order_id,) for o in ws.orders if o.order_id not in ws.new_orders]
            if ids:
                out.append((q("DELETE FROM order_lines WHERE order_id = ?"), ids))
                out.append((q("DELETE FROM schedule_lines WHERE order_id = ?"), ids))
            out.append((
                q(
                    "INSERT INTO orders (order_id, customer, zone, status, source_system, source_order_id, "
                    "requested_date, created_at, updated_at, version, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (order_id) DO UPDATE SET customer = excluded.customer, zone = excluded.zone, "
                    "status = excluded.status, requested_date = excluded.requested_date, "
                    "updated_at = excluded.updated_at, version = excluded.version, doc = excluded.doc"
                ),
                [
                    (
                        o.order_id, o.customer, o.zone, str(o.status), o.source_system, o.source_order_id,
                        o.requested_date.isoformat() if o.requested_date else None,
                        o.created_at.isoformat(), o.updated_at.isoformat(), o.version,
                        jsonenc.dumps(docs[o.order_id] if docs is not None and o.order_id in docs else o.to_dict()),
                    )
                    for o in ws.orders
                ],
            ))
            line_rows, sl_rows = [], []
            for o in ws.orders:
                for ln in o.lines:
                    line_rows.append((
                        o.order_id, ln.line, ln.item, ln.location, ln.qty, ln.requested_date.isoformat(),
                        None if ln.unit_price is None else float(ln.unit_price),  # search projection; exact in doc
                        int(ln.price_override), ln.promised_qty, ln.shipped_qty, ln.delivered_qty,
                    ))
                    for k, sl in enumerate(ln.schedule):
                        sl_rows.append((
                            o.order_id, ln.line, k, sl.item or ln.item, ln.location, sl.date.isoformat(), sl.qty,
                            ln.demand_class or o.demand_class, sl.shipped_qty,
                        ))
            if line_rows:
                out.append((
                    q(
                        "INSERT INTO order_lines (order_id, line_no, item, location, qty, requested_date, unit_price, "
                        "price_override, promised_qty, shipped_qty, delivered_qty) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    ),
                    line_rows,
                ))
            if sl_rows:
                out.append((
                    q(
                        "INSERT INTO schedule_lines (order_id, line_no, sl_no, item, location, date, qty, demand_class, "
                        "shipped_qty) VALUES (?,?,?,?,?,?,?,?,?)"
                    ),
                    sl_rows,
                ))
        if ws.audit:
            out.append((
                q("INSERT INTO audit (order_id, at, actor, action, from_status, to_status, detail) VALUES (?,?,?,?,?,?,?)"),
                [
                    (a.order_id, a.at.isoformat(), a.actor, a.action, a.from_status, a.to_status,
                     jsonenc.dumps(a.detail) if a.detail is not None else None)
                    for a in ws.audit
                ],
            ))
        if ws.journal:
            out.append((
                q(
                    "INSERT INTO journal (seq, at, kind, order_id, line_no, item, location, date, qty, demand_class, "
                    "draw_kind, draw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                ),
                [
                    (j.seq, j.at.isoformat(), j.kind, j.order_id, j.line, j.item, j.location, j.date.isoformat(),
                     j.qty, j.demand_class, j.draw_kind, jsonenc.dumps(j.draw) if j.draw else None)
                    for j in ws.journal
                ],
            ))
        if ws.deltas:
            out.append((
                q("INSERT INTO supply_deltas (seq, at, actor, item, location, date, qty, kind, ref) VALUES (?,?,?,?,?,?,?,?,?)"),
                [(e.seq, e.at.isoformat(), e.actor, e.item, e.location, e.date.isoformat(), e.qty, e.kind, e.ref)
                 for e in ws.deltas],
            ))
        if ws.customers:
            out.append((
                q("INSERT INTO customers (customer_id, name, updated_at, actor, action, doc) VALUES (?,?,?,?,?,?) "
                  "ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at, "
                  "actor = excluded.actor, action = excluded.action, doc = excluded.doc"),
                [(c.customer.id, c.customer.name, c.at.isoformat(), c.actor, c.action,
                  json.dumps(c.customer.to_dict(), separators=(",", ":"))) for c in ws.customers],
            ))
        if ws.pricing:
            out.append((
                q("INSERT INTO pricing_records (kind, ref, at, actor, doc) VALUES (?,?,?,?,?)"),
                [(e.kind, e.ref, e.at.isoformat(), e.actor, json.dumps(e.doc, separators=(",", ":"))) for e in ws.pricing],
            ))
        if ws.catalogue:
            out.append((
                q("INSERT INTO catalogue_changes (seq, change_id, item, at, actor, doc) VALUES (?,?,?,?,?,?)"),
                [(e.seq, e.change.id, e.change.item, e.at.isoformat(), e.actor,
                  json.dumps(e.change.to_dict(), separators=(",", ":"))) for e in ws.catalogue],
            ))
        if ws.reservations:
            out.append((
                q("INSERT INTO reservations (reservation_id, status, expires_at, created_at, updated_at, version, order_id, doc) "
                  "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (reservation_id) DO UPDATE SET status = excluded.status, "
                  "expires_at = excluded.expires_at, updated_at = excluded.updated_at, version = excluded.version, "
                  "order_id = excluded.order_id, doc = excluded.doc"),
                [(r.reservation_id, str(r.status), _utc(r.expires_at).isoformat(), r.created_at.isoformat(),
                  r.updated_at.isoformat(), r.version, r.order_id, json.dumps(r.to_dict(), separators=(",", ":")))
                 for r in ws.reservations],
            ))
        if ws.idempotency:
            now = dt.datetime.now(dt.timezone.utc).isoformat()
            out.append((
                q("INSERT INTO idempotency (key, request_hash, status_code, response, created_at) VALUES (?,?,?,?,?)"),
                [(k, h, st, b, now) for k, h, st, b in ws.idempotency],
            ))
        if ws.import_keys:
            out.append((
                q("INSERT INTO import_keys (source_system, source_order_id, order_id) VALUES (?,?,?)"),
                list(ws.import_keys),
            ))
        return out

    def purge_idempotency(self, older_than: dt.datetime) -> int:
        """Forget idempotency keys stored before `older_than`; returns how many."""
        with self._wlock:
            conn = self._write_conn()
            self._begin(conn)
            try:
                cur = conn.execute(self._sql("DELETE FROM idempotency WHERE created_at < ?"), (_utc(older_than).isoformat(),))
                n = cur.rowcount
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return int(n or 0)

    # -- reads ---------------------------------------------------------------------------
    def load_orders(self) -> list[Order]:
        return [Order.from_dict(json.loads(r[0])) for r in self._query("SELECT doc FROM orders ORDER BY created_at, order_id")]

    def load_reservations(self) -> list[StockReservation]:
        """Every temporary reservation (hold), oldest first."""
        return [StockReservation.from_dict(json.loads(r[0]))
                for r in self._query("SELECT doc FROM reservations ORDER BY created_at, reservation_id")]

    def get_order(self, order_id: str) -> Order | None:
        rows = self._query("SELECT doc FROM orders WHERE order_id = ?", (order_id,))
        return Order.from_dict(json.loads(rows[0][0])) if rows else None

    def search(
        self,
        *,
        customer: str | None = None,
        item: str | None = None,
        status: list[str] | None = None,
        created_from: dt.datetime | None = None,
        created_to: dt.datetime | None = None,
        requested_from: dt.date | None = None,
        requested_to: dt.date | None = None,
        source_system: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Order], int]:
        """Orders matching every given filter, newest first; returns (page, total count)."""
        where, params = [], []
        if customer is not None:
            where.append("customer = ?")
            params.append(customer)
        if status:
            where.append("status IN (" + ",".join("?" * len(status)) + ")")
            params.extend(status)
        if item is not None:
            where.append("EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = orders.order_id AND l.item = ?)")
            params.append(item)
        if created_from is not None:
            where.append("created_at >= ?")
            params.append(_utc(created_from).isoformat())
        if created_to is not None:
            where.append("created_at < ?")
            params.append(_utc(created_to).isoformat())
        if requested_from is not None:
            where.append("requested_date >= ?")
            params.append(requested_from.isoformat())
        if requested_to is not None:
            where.append("requested_date <= ?")
            params.append(requested_to.isoformat())
        if source_system is not None:
            where.append("source_system = ?")
            params.append(source_system)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = self._query("SELECT COUNT(*) FROM orders" + clause, params)[0][0]
        rows = self._query(
            "SELECT doc FROM orders" + clause + " ORDER BY created_at DESC, order_id DESC LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [Order.from_dict(json.loads(r[0])) for r in rows], int(total)

    def audit(self, order_id: str) -> list[AuditEntry]:
        rows = self._query(
            "SELECT order_id, at, actor, action, from_status, to_status, detail FROM audit WHERE order_id = ? ORDER BY id",
            (order_id,),
        )
        return [
            AuditEntry(order_id=r[0], at=dt.datetime.fromisoformat(r[1]), actor=r[2], action=r[3], from_status=r[4],
                       to_status=r[5], detail=json.loads(r[6]) if r[6] else None)
            for r in rows
        ]

    # -- order events (orderbook.events): the audit trail read as an outbox, consumer cursors and records
    def audit_rows(self, after_id: int = 0, *, limit: int = 500, order_id: str | None = None) -> list[tuple]:
        """Audit entries with an id above `after_id` (of one order, if given), oldest first, at most `limit`:
        ``(id, order_id, at, actor, action, from_status, to_status, detail dict or None)``."""
        where, params = "id > ?", [int(after_id)]
        if order_id is not None:
            where += " AND order_id = ?"
            params.append(order_id)
        rows = self._query("SELECT id, order_id, at, actor, action, from_status, to_status, detail FROM audit WHERE "
                           + where + " ORDER BY id LIMIT ?", [*params, int(limit)])
        return [(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]) if r[7] else None) for r in rows]

    def max_audit_id(self) -> int:
        """The id of the last audit entry written (0: none)."""
        return int(self._query("SELECT MAX(id) FROM audit")[0][0] or 0)

    def event_cursor(self, consumer: str) -> int:
        """The last event id `consumer` has handled (0: none)."""
        rows = self._query("SELECT last_id FROM event_cursors WHERE consumer = ?", (consumer,))
        return int(rows[0][0]) if rows else 0

    def advance_cursor(self, consumer: str, last_id: int, records: Iterable[tuple[str, str, Any]] = ()) -> None:
        """Move `consumer`'s cursor to `last_id` and upsert its `records` ``(kind, key, json-able doc)``, in one
        durable transaction."""
        self.put_records(records, cursors=[(consumer, int(last_id))])

    def put_records(self, records: Iterable[tuple[str, str, Any]], *, cursors: Iterable[tuple[str, int]] = ()) -> None:
        """Upsert records ``(kind, key, json-able doc)`` kept for packages above the order book (payments, returns),
        with consumers' cursors ``(consumer, last id)`` if given, in one durable transaction."""
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        rows = [(k, key, json.dumps(doc, separators=(",", ":")), now) for k, key, doc in records]
        marks = [(name, int(last), now) for name, last in cursors]
        if not rows and not marks:
            return
        with self._wlock:
            conn = self._write_conn()
            self._begin(conn)
            try:
                if rows:
                    conn.cursor().executemany(self._sql(
                        "INSERT INTO consumer_records (kind, key, doc, updated_at) VALUES (?,?,?,?) ON CONFLICT (kind, key) "
                        "DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"), rows)
                if marks:
                    conn.cursor().executemany(self._sql(
                        "INSERT INTO event_cursors (consumer, last_id, updated_at) VALUES (?,?,?) ON CONFLICT (consumer) "
                        "DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at"), marks)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def records(self, kind: str) -> dict[str, Any]:
        """Every record of `kind` kept by :meth:`put_records`: key -> doc."""
        return {r[0]: json.loads(r[1]) for r in self._query("SELECT key, doc FROM consumer_records WHERE kind = ? ORDER BY key",
                                                              (kind,))}

    def idempotency(self, key: str) -> tuple[str, int, str] | None:
        """(request hash, status code, response body) stored for `key`, or None."""
        rows = self._query("SELECT request_hash, status_code, response FROM idempotency WHERE key = ?", (key,))
        return (rows[0][0], int(rows[0][1]), rows[0][2]) if rows else None

    def idempotency_many(self, keys: Iterable[str]) -> dict[str, tuple[str, int, str]]:
        """`idempotency` of many keys in a few queries: key -> (request hash, status code, response body), for
        the keys stored."""
        keys = list(keys)
        out: dict[str, tuple[str, int, str]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = self._query("SELECT key, request_hash, status_code, response FROM idempotency WHERE key IN ("
                               + ",".join("?" * len(part)) + ")", part)
            out.update((r[0], (r[1], int(r[2]), r[3])) for r in rows)
        return out

    def import_key(self, source_system: str, source_order_id: str) -> str | None:
        rows = self._query(
            "SELECT order_id FROM import_keys WHERE source_system = ? AND source_order_id = ?",
            (source_system, source_order_id),
        )
        return rows[0][0] if rows else None

    def max_seq(self) -> int:
        """The last sequence number used (commitment journal and supply deltas share it)."""
        rows = self._query("SELECT MAX(seq) FROM journal")
        deltas = self._query("SELECT MAX(seq) FROM supply_deltas")
        catalogue = self._query("SELECT MAX(seq) FROM catalogue_changes")
        return max(int(rows[0][0] or 0), int(deltas[0][0] or 0), int(catalogue[0][0] or 0))

    def customers(self) -> list[CustomerEntry]:
        """Every customer created, changed or imported (its latest record), by id."""
        rows = self._query("SELECT doc, action, actor, updated_at FROM customers ORDER BY customer_id")
        return [CustomerEntry(Customer.from_dict(json.loads(r[0])), r[1], r[2], dt.datetime.fromisoformat(r[3])) for r in rows]

    def pricing_records(self) -> list[PricingEntry]:
        """Pricing records posted through the API (price lists, rules, tax rates, assignments), in the order posted."""
        rows = self._query("SELECT seq, kind, ref, at, actor, doc FROM pricing_records ORDER BY seq")
        return [PricingEntry(kind=r[1], doc=json.loads(r[5]), ref=r[2], seq=int(r[0]), actor=r[4],
                             at=dt.datetime.fromisoformat(r[3])) for r in rows]

    def catalogue_changes(self, after_seq: int = 0, *, include_retired: bool = True) -> list[CatalogueEntry]:
        """Catalogue changes numbered above `after_seq`, in order (without the retired ones unless `include_retired`)."""
        where = "" if include_retired else " AND retired_seq IS NULL"
        rows = self._query("SELECT seq, doc, actor, at, retired_seq FROM catalogue_changes WHERE seq > ?" + where
                           + " ORDER BY seq", (int(after_seq),))
        return [CatalogueEntry(int(r[0]), CatalogueChange.from_dict(json.loads(r[1])), r[2],
                               dt.datetime.fromisoformat(r[3]), None if r[4] is None else int(r[4])) for r in rows]

    def catalogue_change_exists(self, change_id: str) -> bool:
        """True when a catalogue change with this id was stored."""
        return bool(self._query("SELECT 1 FROM catalogue_changes WHERE change_id = ?", (change_id,)))

    def retire_catalogue_changes(self, through_seq: int, *, by_seq: int) -> int:
        """Mark the catalogue changes numbered up to `through_seq` as carried by the extract whose journal sequence
        is `by_seq`; returns how many were newly retired (kept, for the record)."""
        with self._wlock:
            conn = self._write_conn()
            self._begin(conn)
            try:
                cur = conn.execute(self._sql("UPDATE catalogue_changes SET retired_seq = ? WHERE seq <= ? AND retired_seq IS NULL"),
                                   (int(by_seq), int(through_seq)))
                n = cur.rowcount
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return int(n or 0)

    def supply_deltas(self, after_seq: int = 0, *, include_retired: bool = True) -> list[DeltaEntry]:
        """Supply deltas with a sequence number above `after_seq`, in order (without the retired
        ones unless `include_retired`)."""
        where = "" if include_retired else " AND retired_seq IS NULL"
        rows = self._query(
            "SELECT seq, item, location, date, qty, kind, ref, actor, at, retired_seq FROM supply_deltas "
            "WHERE seq > ?" + where + " ORDER BY seq", (int(after_seq),))
        return [DeltaEntry(seq=int(r[0]), item=r[1], location=r[2], date=dt.date.fromisoformat(r[3]), qty=float(r[4]),
                           kind=r[5], ref=r[6], actor=r[7], at=dt.datetime.fromisoformat(r[8]),
                           retired_seq=None if r[9] is None else int(r[9]))
                for r in rows]

    def retire_deltas(self, through_seq: int, *, by_seq: int) -> int:
        """Mark the deltas numbered up to `through_seq` as carried by the extract whose journal
        sequence is `by_seq`; returns how many were newly retired (kept, for the record)."""
        with self._wlock:
            conn = self._write_conn()
            self._begin(conn)
            try:
                cur = conn.execute(self._sql("UPDATE supply_deltas SET retired_seq = ? WHERE seq <= ? AND retired_seq IS NULL"),
                                   (int(by_seq), int(through_seq)))
                n = cur.rowcount
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return int(n or 0)

    def fulfilment_dates(self) -> dict[tuple[str, int], tuple[dt.date | None, dt.date | None]]:
        """(order id, line) -> (last ship day, last delivery day), from the audit trail's ship and
        deliver entries (the event's `at`, else when it was recorded)."""
        out: dict[tuple[str, int], list] = {}
        rows = self._query("SELECT order_id, action, at, detail FROM audit WHERE action IN ('ship', 'deliver') ORDER BY id")
        for oid, action, at, detail in rows:
            d = json.loads(detail) if detail else {}
            when = d.get("at") or at
            day = dt.date.fromisoformat(when[:10])
            k = 0 if action == "ship" else 1
            for ln in (d.get("lines") or {}):
                slot = out.setdefault((oid, int(ln)), [None, None])
                slot[k] = day if slot[k] is None else max(slot[k], day)
        return {key: (v[0], v[1]) for key, v in out.items()}

    def journal_since(self, seq: int = 0) -> list[JournalEntry]:
        """Every commit and release with a sequence number greater than `seq`, in order."""
        rows = self._query(
            "SELECT seq, kind, item, location, date, qty, order_id, line_no, demand_class, at, draw FROM journal "
            "WHERE seq > ? ORDER BY seq",
            (int(seq),),
        )
        return [
            JournalEntry(seq=int(r[0]), kind=r[1], item=r[2], location=r[3], date=dt.date.fromisoformat(r[4]),
                         qty=float(r[5]), order_id=r[6], line=r[7], demand_class=r[8], at=dt.datetime.fromisoformat(r[9]),
                         draw=json.loads(r[10]) if r[10] else None)
            for r in rows
        ]

    def open_commitments(self) -> list[Commitment]:
        """Open (unshipped) reservations of orders that still hold supply, one per draw."""
        rows = self._query(
            "SELECT doc FROM orders WHERE status IN ('captured', 'on_hold', 'scheduled', 'backordered', 'partially_shipped') "
            "ORDER BY order_id"
        )
        out = []
        for (doc,) in rows:
            o = json.loads(doc)
            for ln in o["lines"]:
                for d in ln.get("draws", []):
                    out.append(Commitment(item=d["key"], location=d["location"], date=dt.date.fromisoformat(d["date"]),
                                          qty=float(d["qty"]), demand_class=d.get("demand_class"), order_id=o["order_id"],
                                          line=int(ln["line"]), kind=d["kind"], draw=d))
        for (doc,) in self._query("SELECT doc FROM reservations WHERE status = 'active' ORDER BY reservation_id"):
            r = json.loads(doc)  # a temporary reservation holds its units like an order (order_id: its id)
            for ln in r["lines"]:
                for d in ln.get("draws", []):
                    out.append(Commitment(item=d["key"], location=d["location"], date=dt.date.fromisoformat(d["date"]),
                                          qty=float(d["qty"]), demand_class=d.get("demand_class"),
                                          order_id=r["reservation_id"], line=int(ln["line"]), kind=d["kind"], draw=d))
        return out

    def version(self) -> tuple[int, int]:
        """(last audit entry id, number of orders): changes whenever anything is written to an order."""
        r = self._query("SELECT (SELECT MAX(id) FROM audit), (SELECT COUNT(*) FROM orders)")[0]
        return int(r[0] or 0), int(r[1] or 0)

    def count_orders(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._query("SELECT status, COUNT(*) FROM orders GROUP BY status")}


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


class SqliteStore(OrderStore):
    """Embedded order book: one SQLite file in WAL mode with ``synchronous=FULL``."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._w = self._open()
        self._w.executescript(_DDL.replace("{REAL}", "REAL").replace("{AUTOID}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
        self._r = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _write_conn(self):
        return self._w

    def _read_conn(self):
        return self._r

    def _begin(self, conn) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def pragmas(self) -> dict[str, Any]:
        return {
            "journal_mode": self._w.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": self._w.execute("PRAGMA synchronous").fetchone()[0],
        }

    def close(self) -> None:
        for c in (self._r, self._w):
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing twice is fine
                pass


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresStore(OrderStore):
    """Production order book on PostgreSQL (psycopg 3); tables live in schema `schema`."""

    kind = "postgresql"
    _param = "%s"

    def __init__(self, url: str, *, schema: str = "promessa") -> None:
        import psycopg

        super().__init__()
        if not _IDENT.match(schema):
            raise ValidationError("not a valid PostgreSQL schema name", field="pg_schema", value=schema,
                                  hint="letters, digits and underscores, starting with a letter")
        self.url = url
        self.schema = schema
        with psycopg.connect(url, autocommit=True) as boot:
            boot.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        opts = f"-c search_path={schema}"
        # an acknowledged order must survive a crash whatever the server's default says
        self._w = psycopg.connect(url, options=opts + " -c synchronous_commit=on")
        with self._w.transaction():
            for stmt in _DDL.replace("{REAL}", "DOUBLE PRECISION").replace("{AUTOID}", "BIGSERIAL PRIMARY KEY").split(";"):
                if stmt.strip():
                    self._w.execute(stmt)
        self._w.commit()
        self._r = psycopg.connect(url, options=opts, autocommit=True)

    def _write_conn(self):
        return self._w

    def _read_conn(self):
        return self._r

    def _begin(self, conn) -> None:
        pass  # psycopg opens a transaction on the first statement (autocommit off)

    def _batch(self, conn):
        return conn.pipeline()  # one round trip for the whole transaction instead of one per statement

    def close(self) -> None:
        for c in (self._r, self._w):
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    def drop(self) -> None:
        """Drop the whole schema (tests)."""
        import psycopg

        self.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def open_store(db: str | Path, *, pg_schema: str = "promessa") -> OrderStore:
    """Open (and create) the order book named by a file path or a ``postgresql://`` URL."""
    s = str(db)
    if s.startswith(("postgresql://", "postgres://")):
        return PostgresStore(s, schema=pg_schema)
    if "://" in s:
        raise ValidationError("unsupported order-book URL", field="db", value=s,
                              hint="use a file path (SQLite) or a postgresql:// URL")
    return SqliteStore(s)
