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


def test_seq_runs_are_the_consecutive_stretches():
    from orchestration.store import seq_runs

    assert seq_runs([5, 1, 2, 3, 7, 6, 2]) == [(1, 3), (5, 7)]
    assert seq_runs([9]) == [(9, 9)] and seq_runs([]) == []
    assert seq_runs([1, 3, 5]) == [(1, 1), (3, 3), (5, 5)]


def test_marking_published_touches_exactly_the_given_rows(store, clock):
    """Eight outbox rows (seq s..s+7). Rows 3 and 6 (1-based) were published at t0; the relay now marks 1, 2, 4,
    5 and 8 at t1 (three runs around the unmarked 7 and the published 3 and 6). Afterwards 7 alone is pending,
    3 and 6 keep their first stamp, the others carry t1."""
    import datetime as dt

    from orchestration.records import new_message
    from orchestration.store import Changes

    t0 = clock.now()
    msgs = [new_message("order.status", "capture", "M1", None, t0, {"i": i}) for i in range(8)]
    store.write(Changes(messages=msgs))
    seqs = [p.message.seq for p in store.pending()]
    assert seqs == list(range(seqs[0], seqs[0] + 8))
    store.mark_published([seqs[2], seqs[5]], t0)
    t1 = t0 + dt.timedelta(seconds=30)
    store.mark_published([seqs[i] for i in (0, 1, 3, 4, 7)], t1)
    assert [p.message.payload["i"] for p in store.pending()] == [6]
    assert [(m.payload["i"], at) for m, at in store.messages(order="M1")] == [
        (0, t1), (1, t1), (2, t0), (3, t1), (4, t1), (5, t0), (6, None), (7, t1)]


def test_a_message_read_back_equals_the_one_written_and_publishes_the_same_envelope(store, clock):
    """The outbox row of a message comes back with its payload decoded on first use; it equals the written
    message (seq aside) and its envelope is the same JSON document."""
    import dataclasses
    import json

    from orchestration.records import Message, new_message
    from orchestration.store import Changes

    m = new_message("shipping.request", "wms", "M2", "L1", clock.now(), {"request_id": "r1", "attrs": {"qty": 2, "é": [1.5]}})
    store.write(Changes(messages=[m]))
    [p] = store.pending()
    back = p.message
    assert back.raw_payload is not None
    assert json.loads(back.body()) == json.loads(m.body())
    assert back.payload == m.payload and back != m and back == Message(m.message_id, m.kind, m.system, m.order, m.line,
                                                                        m.created_at, m.payload, seq=back.seq)
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.kind = "other"
