"""Durable invoice stores: numbers and documents written in ONE transaction.

:class:`InvoiceStore` is the Protocol; :class:`SqliteInvoiceStore` (stdlib sqlite3, WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE``) and :class:`PostgresInvoiceStore` (psycopg 3, the
series row locked ``FOR UPDATE``) implement it. Within the transaction that writes a document
the store reads the series' last number, writes the document with the next one and stores the
new last number: a crash before the commit loses both, after it keeps both, so numbers stay
gapless and unique across threads, processes and ``kill -9``. Issued documents cannot be
updated or deleted (database triggers refuse it). A document already issued for the same
(kind, source_ref) is returned instead of a new one (idempotent issue).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from promessa.errors import ConflictError, NotFoundError, ValidationError
from promessa.money import Money

from invoicing.model import Document, DocumentDraft, DocumentKind, Settlement, number_of


class InvoiceStore(Protocol):
    """Where invoices and credit notes live. Every method is safe to call from several threads."""

    number_width: int

    def issue_many(self, drafts: Sequence[DocumentDraft]) -> list[Document]:
        """Number and write ``drafts`` in one transaction (consecutive numbers per series); returns the documents."""
        ...

    def get(self, number: str) -> Document:
        """The document with this number (NotFoundError otherwise)."""
        ...

    def by_source(self, kind: DocumentKind, source_ref: str) -> Document | None:
        """The document issued for this source (shipment, order, return, correction), if any."""
        ...

    def documents(self, *, customer: str | None = None, order: str | None = None, related: str | None = None) -> list[Document]:
        """Documents filtered by customer, order, or credited invoice, in series and number order."""
        ...

    def settle(self, settlement: Settlement) -> bool:
        """Record money received (or paid back) against a document once per ref; False when the ref was seen."""
        ...

    def settlements(self, numbers: Iterable[str]) -> list[Settlement]:
        """The settlements of these documents."""
        ...

    def series_last(self, series: str) -> int:
        """The last number issued in a series (0 when none)."""
        ...

    def close(self) -> None:
        """Close every connection this store opened."""
        ...


_TABLES = [
    """CREATE TABLE IF NOT EXISTS inv_series (series TEXT PRIMARY KEY, last INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS inv_documents (
        number TEXT PRIMARY KEY, series TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, source_ref TEXT NOT NULL,
        customer TEXT NOT NULL, order_id TEXT NOT NULL, related TEXT NOT NULL, body TEXT NOT NULL,
        UNIQUE (series, seq), UNIQUE (kind, source_ref))""",
    "CREATE INDEX IF NOT EXISTS inv_documents_customer ON inv_documents (customer)",
    "CREATE INDEX IF NOT EXISTS inv_documents_order ON inv_documents (order_id)",
    "CREATE INDEX IF NOT EXISTS inv_documents_related ON inv_documents (related)",
    """CREATE TABLE IF NOT EXISTS inv_settlements (
        ref TEXT PRIMARY KEY, number TEXT NOT NULL REFERENCES inv_documents (number), amount TEXT NOT NULL,
        currency TEXT NOT NULL, date TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS inv_settlements_number ON inv_settlements (number)",
]
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS inv_documents_no_update BEFORE UPDATE ON inv_documents
       BEGIN SELECT RAISE(ABORT, 'issued documents are immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS inv_documents_no_delete BEFORE DELETE ON inv_documents
       BEGIN SELECT RAISE(ABORT, 'issued documents are immutable'); END""",
]


def _doc(body: str) -> Document:
    return Document.from_dict(json.loads(body))


def _row(doc: Document) -> tuple:
    return (doc.number, doc.series, doc.seq, str(doc.kind), doc.source_ref, doc.customer, doc.order, doc.related,
            json.dumps(doc.to_dict(), separators=(",", ":")))


def _numbered(d: DocumentDraft, seq: int, width: int) -> Document:
    return Document(d.kind, d.series, d.source_ref, d.customer, d.order, d.issue_date, d.due_date, d.currency, d.lines,
                    d.related, d.reason, d.terms, number=number_of(d.series, seq, width), seq=seq)


def _check_drafts(drafts: Sequence[DocumentDraft]) -> None:
    for i, d in enumerate(drafts):
        if not isinstance(d, DocumentDraft) or isinstance(d, Document):
            raise ValidationError("must be a DocumentDraft", field=f"drafts[{i}]", value=type(d).__name__)
        if not d.lines:
            raise ValidationError("a document needs at least one line", field=f"drafts[{i}].lines", value=[])
        if not d.source_ref:
            raise ValidationError("must name the shipment, order, return or correction", field=f"drafts[{i}].source_ref",
                                  value=d.source_ref)


class _Base:
    """The transaction body shared by both stores (``ph`` is the driver's placeholder)."""

    ph = "?"
    number_width = 6

    def _issue_in(self, cur: Any, drafts: Sequence[DocumentDraft], lock: str) -> list[Document]:
        p = self.ph
        last: dict[str, int] = {}
        for s in sorted({d.series for d in drafts}):  # one lock order for every writer: no deadlocks
            cur.execute(f"INSERT INTO inv_series (series, last) VALUES ({p}, 0) ON CONFLICT (series) DO NOTHING", (s,))
            cur.execute(f"SELECT last FROM inv_series WHERE series = {p}{lock}", (s,))
            last[s] = int(cur.fetchone()[0])
        start = dict(last)
        out: list[Document] = []
        seen: dict[tuple[str, str], Document] = {}
        rows = []
        for d in drafts:
            k = (str(d.kind), d.source_ref)
            if k in seen:
                out.append(seen[k])
                continue
            cur.execute(f"SELECT body FROM inv_documents WHERE kind = {p} AND source_ref = {p}", k)
            r = cur.fetchone()
            if r is not None:
                doc = _doc(r[0])
            else:
                if d.kind == DocumentKind.CREDIT_NOTE:
                    self._check_credit(cur, d, [x for x in seen.values() if x.related == d.related], lock)
                last[d.series] += 1
                doc = _numbered(d, last[d.series], self.number_width)
                rows.append(_row(doc))
            seen[k] = doc
            out.append(doc)
        if rows:
            cur.executemany(f"INSERT INTO inv_documents (number, series, seq, kind, source_ref, customer, order_id, related, body) "
                            f"VALUES ({', '.join([p] * 9)})", rows)
        for s, n in last.items():
            if n != start[s]:
                cur.execute(f"UPDATE inv_series SET last = {p} WHERE series = {p}", (n, s))
        return out

    def _check_credit(self, cur: Any, d: DocumentDraft, batch: list[Document], lock: str) -> None:
        """Inside the writing transaction, with the invoice row locked: the credit notes of an invoice never
        credit more of a line than it invoiced (net, tax, and the quantity of returns), whichever process issues them."""
        p = self.ph
        cur.execute(f"SELECT body FROM inv_documents WHERE number = {p} AND kind = {p}{lock}", (d.related, str(DocumentKind.INVOICE)))
        r = cur.fetchone()
        if r is None:
            raise ValidationError("names no issued invoice", field="related", value=d.related)
        inv = _doc(r[0])
        cur.execute(f"SELECT body FROM inv_documents WHERE related = {p}", (d.related,))
        credits = [_doc(x[0]) for x in cur.fetchall()] + batch + [d]  # type: ignore[list-item]
        for ln in inv.lines:
            net = sum((c.net.amount for cn in credits for c in cn.lines if c.line_ref == ln.line_ref), Decimal(0))
            tax = sum((c.tax.amount for cn in credits for c in cn.lines if c.line_ref == ln.line_ref), Decimal(0))
            qty = sum((c.qty for cn in credits if cn.reason.startswith("return") for c in cn.lines if c.line_ref == ln.line_ref),
                      Decimal(0))
            if net > ln.net.amount or tax > ln.tax.amount or qty > ln.qty:
                raise ValidationError(f"credit notes of {inv.number} would credit more than the line invoiced "
                                      f"(net {net} of {ln.net.amount}, tax {tax} of {ln.tax.amount}, qty {qty} of {ln.qty})",
                                      field="lines.line_ref", value=ln.line_ref)
        known = {ln.line_ref for ln in inv.lines}
        for c in d.lines:
            if c.line_ref not in known:
                raise ValidationError(f"not a line of invoice {inv.number}", field="lines.line_ref", value=c.line_ref)

    @staticmethod
    def _settlement_row(st: Settlement) -> tuple:
        if not isinstance(st.amount, Money) or st.amount.rounded() != st.amount or st.amount.is_zero():
            raise ValidationError("must be a non-zero Money rounded to the minor unit", field="amount", value=st.amount)
        return (st.ref, st.number, str(st.amount.amount), st.amount.currency, st.date.isoformat())

    @staticmethod
    def _settlement(r: Sequence[Any]) -> Settlement:
        return Settlement(r[0], r[1], Money(Decimal(r[2]), r[3]), dt.date.fromisoformat(r[4]))


class SqliteInvoiceStore(_Base):
    """Invoices in a SQLite file (WAL, synchronous=FULL); one connection per thread, writers serialized by BEGIN IMMEDIATE."""

    def __init__(self, path: str | Path, *, number_width: int = 6, timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self.number_width = number_width
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        for sql in _TABLES + _SQLITE_TRIGGERS:
            conn.execute(sql)
        conn.execute("COMMIT")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def issue_many(self, drafts: Sequence[DocumentDraft]) -> list[Document]:
        """Number and write ``drafts`` in one transaction; see the module docstring."""
        _check_drafts(drafts)
        if not drafts:
            return []
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = self._issue_in(conn.cursor(), drafts, "")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return out

    def issue(self, draft: DocumentDraft) -> Document:
        """Number and write one draft (see issue_many)."""
        return self.issue_many([draft])[0]

    def get(self, number: str) -> Document:
        """The document with this number (NotFoundError otherwise)."""
        r = self._conn().execute("SELECT body FROM inv_documents WHERE number = ?", (number,)).fetchone()
        if r is None:
            raise NotFoundError(f"number={number!r}: no such invoice or credit note")
        return _doc(r[0])

    def by_source(self, kind: DocumentKind, source_ref: str) -> Document | None:
        """The document issued for this (kind, source_ref), or None."""
        r = self._conn().execute("SELECT body FROM inv_documents WHERE kind = ? AND source_ref = ?",
                                 (str(kind), source_ref)).fetchone()
        return None if r is None else _doc(r[0])

    def documents(self, *, customer: str | None = None, order: str | None = None, related: str | None = None) -> list[Document]:
        """Documents filtered by customer, order and/or credited invoice, in series and number order."""
        where, args = [], []
        for col, v in (("customer", customer), ("order_id", order), ("related", related)):
            if v is not None:
                where.append(f"{col} = ?")
                args.append(v)
        sql = "SELECT body FROM inv_documents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY series, seq"
        return [_doc(r[0]) for r in self._conn().execute(sql, args)]

    def settle(self, settlement: Settlement) -> bool:
        """Record a settlement once per ref (True when written, False when the ref was already there)."""
        row = self._settlement_row(settlement)
        self.get(settlement.number)
        cur = self._conn().execute("INSERT INTO inv_settlements (ref, number, amount, currency, date) VALUES (?, ?, ?, ?, ?) "
                                   "ON CONFLICT (ref) DO NOTHING", row)
        return cur.rowcount == 1

    def settlements(self, numbers: Iterable[str]) -> list[Settlement]:
        """The settlements of these document numbers, by date."""
        nums = list(numbers)
        out: list[Settlement] = []
        for i in range(0, len(nums), 500):
            part = nums[i:i + 500]
            out += [self._settlement(r) for r in self._conn().execute(
                f"SELECT ref, number, amount, currency, date FROM inv_settlements WHERE number IN ({', '.join('?' * len(part))}) "
                "ORDER BY date, ref", part)]
        return out

    def series_last(self, series: str) -> int:
        """The last number issued in ``series`` (0 when none)."""
        r = self._conn().execute("SELECT last FROM inv_series WHERE series = ?", (series,)).fetchone()
        return 0 if r is None else int(r[0])

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._conns_lock:
            for c in self._conns:
                try:
                    c.close()
                except sqlite3.ProgrammingError:
                    pass
            self._conns.clear()
        self._local = threading.local()


class PostgresInvoiceStore(_Base):
    """Invoices in PostgreSQL (psycopg 3) in schema ``pg_schema``; one connection per thread, the series row locked FOR UPDATE."""

    ph = "%s"

    def __init__(self, url: str, *, pg_schema: str = "promessa", number_width: int = 6) -> None:
        import psycopg

        if not pg_schema.replace("_", "").isalnum():
            raise ValidationError("must be letters, digits and underscores", field="pg_schema", value=pg_schema)
        self._psycopg = psycopg
        self.url = url
        self.schema = pg_schema
        self.number_width = number_width
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7715001)")  # concurrent first opens create the tables once
            for sql in _TABLES:
                conn.execute(sql)
            conn.execute("""CREATE OR REPLACE FUNCTION inv_documents_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
                            BEGIN RAISE EXCEPTION 'issued documents are immutable'; END $$""")
            conn.execute("DROP TRIGGER IF EXISTS inv_documents_immutable ON inv_documents")
            conn.execute("CREATE TRIGGER inv_documents_immutable BEFORE UPDATE OR DELETE ON inv_documents "
                         "FOR EACH ROW EXECUTE FUNCTION inv_documents_immutable()")

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._psycopg.connect(self.url, autocommit=True)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def issue_many(self, drafts: Sequence[DocumentDraft]) -> list[Document]:
        """Number and write ``drafts`` in one transaction; see the module docstring."""
        _check_drafts(drafts)
        if not drafts:
            return []
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                return self._issue_in(cur, drafts, " FOR UPDATE")
        except self._psycopg.errors.UniqueViolation as e:  # pragma: no cover - the series lock prevents it
            raise ConflictError(f"document already exists: {e}") from None

    def issue(self, draft: DocumentDraft) -> Document:
        """Number and write one draft (see issue_many)."""
        return self.issue_many([draft])[0]

    def get(self, number: str) -> Document:
        """The document with this number (NotFoundError otherwise)."""
        r = self._conn().execute("SELECT body FROM inv_documents WHERE number = %s", (number,)).fetchone()
        if r is None:
            raise NotFoundError(f"number={number!r}: no such invoice or credit note")
        return _doc(r[0])

    def by_source(self, kind: DocumentKind, source_ref: str) -> Document | None:
        """The document issued for this (kind, source_ref), or None."""
        r = self._conn().execute("SELECT body FROM inv_documents WHERE kind = %s AND source_ref = %s",
                                 (str(kind), source_ref)).fetchone()
        return None if r is None else _doc(r[0])

    def documents(self, *, customer: str | None = None, order: str | None = None, related: str | None = None) -> list[Document]:
        """Documents filtered by customer, order and/or credited invoice, in series and number order."""
        where, args = [], []
        for col, v in (("customer", customer), ("order_id", order), ("related", related)):
            if v is not None:
                where.append(f"{col} = %s")
                args.append(v)
        sql = "SELECT body FROM inv_documents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY series, seq"
        return [_doc(r[0]) for r in self._conn().execute(sql, args).fetchall()]

    def settle(self, settlement: Settlement) -> bool:
        """Record a settlement once per ref (True when written, False when the ref was already there)."""
        row = self._settlement_row(settlement)
        self.get(settlement.number)
        cur = self._conn().execute("INSERT INTO inv_settlements (ref, number, amount, currency, date) VALUES (%s, %s, %s, %s, %s) "
                                   "ON CONFLICT (ref) DO NOTHING", row)
        return cur.rowcount == 1

    def settlements(self, numbers: Iterable[str]) -> list[Settlement]:
        """The settlements of these document numbers, by date."""
        nums = list(numbers)
        if not nums:
            return []
        rows = self._conn().execute("SELECT ref, number, amount, currency, date FROM inv_settlements WHERE number = ANY(%s) "
                                    "ORDER BY date, ref", (nums,)).fetchall()
        return [self._settlement(r) for r in rows]

    def series_last(self, series: str) -> int:
        """The last number issued in ``series`` (0 when none)."""
        r = self._conn().execute("SELECT last FROM inv_series WHERE series = %s", (series,)).fetchone()
        return 0 if r is None else int(r[0])

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._conns_lock:
            for c in self._conns:
                c.close()
            self._conns.clear()
        self._local = threading.local()


def open_store(url: str | Path, *, pg_schema: str = "promessa", number_width: int = 6) -> InvoiceStore:
    """A PostgresInvoiceStore for a ``postgresql://`` URL, a SqliteInvoiceStore for a file path."""
    s = str(url)
    if s.startswith(("postgresql://", "postgres://")):
        return PostgresInvoiceStore(s, pg_schema=pg_schema, number_width=number_width)
    return SqliteInvoiceStore(s, number_width=number_width)
