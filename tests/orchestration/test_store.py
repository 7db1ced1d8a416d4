"""The store seam: writes inside the caller's transaction commit or roll back with it; documents and audit."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from promessa_testing import PG_URL

from orchestration import Documents, OrderEvent, Orchestrator, PostgresStore, SqliteStore, ready_catalog
from promessa.errors import ConflictError, ValidationError


def capture(eng, order, clock, conn=None):
    return eng.handle(OrderEvent(kind="captured", order=order, at=clock.now(), attrs={"channel": "web"}), conn=conn)


def test_sqlite_writes_in_the_callers_transaction(tmp_path, clock):
    """The order book's connection to the same file begins a transaction, writes its own row and hands the
    connection to the engine. Rolled back: neither the order row nor the process or its outbox rows exist.
    Committed: all of them do."""
    path = tmp_path / "book.sqlite"
    store = SqliteStore(path)
    eng = Orchestrator(ready_catalog(), store, clock=clock)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
    for order, commit in (("A", False), ("B", True)):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO orders VALUES (?)", (order,))
        capture(eng, order, clock, conn)
        eng.handle(OrderEvent(kind="scheduled", order=order, at=clock.now()), conn=conn)
        conn.execute("COMMIT" if commit else "ROLLBACK")
    assert [r[0] for r in conn.execute("SELECT id FROM orders")] == ["B"]
    assert store.instances_of("A") == [] and store.messages(order="A") == []
    assert [m.kind for m, _ in store.messages(order="B")] == ["order.status", "shipping.request"]
    conn.close()
    store.close()


@pytest.mark.postgres
def test_postgres_writes_in_the_callers_transaction(clock):
    import uuid

    import psycopg
    from promessa_testing import pg_reachable

    if not pg_reachable():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"o_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(PG_URL, schema=schema)
    try:
        eng = Orchestrator(ready_catalog(), store, clock=clock)
        with psycopg.connect(PG_URL) as conn:
            with pytest.raises(RuntimeError), conn.transaction():
                capture(eng, "A", clock, conn)
                raise RuntimeError("the order write failed after the engine wrote")
            with conn.transaction():
                capture(eng, "B", clock, conn)
        assert store.instances_of("A") == [] and [i.order for i in store.instances_of("B")] == ["B"]
    finally:
        store.close()
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_stale_instance_write_is_refused(store, clock):
    """Two writers read rev 1; the second write is refused rather than lost."""
    eng = Orchestrator(ready_catalog(), store, clock=clock)
    capture(eng, "C", clock)
    a = store.instances_of("C")[0]
    b = store.instances_of("C")[0]
    from orchestration.store import Changes

    store.write(Changes(instances=[a]))
    with pytest.raises(ConflictError):
        store.write(Changes(instances=[b]))


def test_documents_are_checksummed_and_every_view_and_download_audited(store, clock):
    """A packing list attached by the warehouse to O1's pack step; viewed by ann, downloaded by bob one
    minute later. The audit trail lists attach, view, download with who and when; the SHA-256 is that of the
    bytes; damaged content is refused on download."""
    docs = Documents(store, clock=clock)
    content = b"packing list O1: 3 x SKU-1"
    d = docs.attach(order="O1", step="pack", kind="packing_list", filename="pl-O1.txt", content=content, who="wms",
                    content_type="text/plain")
    assert d.sha256 == hashlib.sha256(content).hexdigest() and len(d.sha256) == 64
    t0 = clock.now()
    assert docs.view(d.doc_id, who="ann").filename == "pl-O1.txt"
    clock.advance(minutes=1)
    rec, got = docs.download(d.doc_id, who="bob")
    assert got == content and rec.size == len(content)
    assert docs.audit(d.doc_id) == [("attach", "wms", t0), ("view", "ann", t0), ("download", "bob", clock.now())]
    assert [x.doc_id for x in docs.of_order("O1")] == [d.doc_id]
    for kw, field in (({"kind": "selfie"}, "kind"), ({"who": ""}, "who"), ({"content": b""}, "content"),
                      ({"filename": "../x"}, "filename")):
        args = {"order": "O1", "kind": "invoice", "filename": "i.pdf", "content": b"%PDF", "who": "billing", **kw}
        with pytest.raises(ValidationError) as e:
            docs.attach(**args)
        assert e.value.field == field
    with store.transaction() as c:
        store._exec(c, "UPDATE {p}orch_documents SET content = ? WHERE doc_id = ?", (b"tampered", d.doc_id))
    with pytest.raises(ConflictError):
        docs.download(d.doc_id, who="bob")
    assert [a for a, _, _ in docs.audit(d.doc_id)] == ["attach", "view", "download"]
