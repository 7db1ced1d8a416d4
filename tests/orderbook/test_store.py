"""The order book stores orders, audit, idempotency, import keys and the commitment journal,
identically on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from orderbook.records import AuditEntry, Draw, JournalEntry, Line, Order, ScheduleLine, WriteSet
from orderbook.store import SqliteStore, open_store
from promessa.errors import ValidationError

D0 = dt.date(2026, 1, 5)


def _order(oid: str, *, customer="C1", status="scheduled", item="I1", qty=10.0, shipped=0.0) -> Order:
    sched = [ScheduleLine(date=D0, qty=qty - 2, shipped_qty=shipped), ScheduleLine(date=D0 + dt.timedelta(days=3), qty=2)]
    draws = [Draw("atp", item, "L1", s.date, s.open_qty) for s in sched if s.open_qty > 0]
    ln = Line(line=1, item=item, qty=qty, requested_date=D0, location="L1", schedule=sched, draws=draws)
    return Order(order_id=oid, customer=customer, status=status, lines=[ln], zone="Z1")


def test_write_and_read_back_an_order_with_its_journal_and_audit(store):
    o = _order("SO-1")
    ws = WriteSet(
        orders=[o],
        audit=[AuditEntry(order_id="SO-1", action="capture", actor="tester", from_status=None, to_status="scheduled")],
        journal=[JournalEntry(seq=1, kind="commit", item="I1", location="L1", date=D0, qty=8, order_id="SO-1", line=1),
                 JournalEntry(seq=2, kind="commit", item="I1", location="L1", date=D0 + dt.timedelta(days=3), qty=2,
                              order_id="SO-1", line=1)],
        idempotency=[("key-1", "hash-1", 201, '{"order_id": "SO-1"}')],
        import_keys=[("erp", "E-1", "SO-1")],
    )
    store.apply(ws)
    back = store.get_order("SO-1")
    assert back is not None and back.to_dict() == o.to_dict()
    assert [x.order_id for x in store.load_orders()] == ["SO-1"]
    assert store.max_seq() == 2
    assert [j.seq for j in store.journal_since(0)] == [1, 2]
    assert [j.seq for j in store.journal_since(1)] == [2]
    assert store.journal_since(1)[0].draw is None and store.journal_since(1)[0].qty == 2
    assert store.idempotency("key-1") == ("hash-1", 201, '{"order_id": "SO-1"}')
    assert store.idempotency("nope") is None
    assert store.import_key("erp", "E-1") == "SO-1"
    assert store.import_key("erp", "E-2") is None
    trail = store.audit("SO-1")
    assert [(a.action, a.actor, a.to_status) for a in trail] == [("capture", "tester", "scheduled")]
    commitments = store.open_commitments()
    assert sorted((c.date, c.qty) for c in commitments) == [(D0, 8.0), (D0 + dt.timedelta(days=3), 2.0)]
    assert {(c.item, c.location, c.kind, c.order_id, c.line) for c in commitments} == {("I1", "L1", "atp", "SO-1", 1)}


def test_upsert_replaces_lines_and_open_commitments_follow_status(store):
    store.apply(WriteSet(orders=[_order("SO-1")]))
    o = _order("SO-1", shipped=8.0, status="partially_shipped")
    o.version = 2
    store.apply(WriteSet(orders=[o]))
    assert [(c.qty) for c in store.open_commitments()] == [2.0]
    o.status = "cancelled"
    store.apply(WriteSet(orders=[o]))
    assert store.open_commitments() == []
    assert store.get_order("SO-1").status == "cancelled"


def test_a_failed_transaction_writes_nothing(store):
    store.apply(WriteSet(idempotency=[("k", "h", 201, "{}")]))
    import sqlite3

    import psycopg

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        store.apply(WriteSet(orders=[_order("SO-9")], idempotency=[("k", "h2", 201, "{}")]))  # duplicate key
    assert store.get_order("SO-9") is None
    store.apply(WriteSet(orders=[_order("SO-10")]))  # the store is usable afterwards
    assert store.get_order("SO-10") is not None


def test_search_filters(store):
    store.apply(WriteSet(orders=[
        _order("SO-1", customer="A", item="I1"),
        _order("SO-2", customer="B", item="I2", status="on_hold"),
        _order("SO-3", customer="A", item="I2", status="cancelled"),
    ]))
    ids = lambda res: sorted(o.order_id for o in res[0])  # noqa: E731
    assert ids(store.search(customer="A")) == ["SO-1", "SO-3"]
    assert ids(store.search(item="I2")) == ["SO-2", "SO-3"]
    assert ids(store.search(status=["on_hold", "cancelled"])) == ["SO-2", "SO-3"]
    assert ids(store.search(customer="A", item="I2")) == ["SO-3"]
    assert ids(store.search(requested_from=D0, requested_to=D0)) == ["SO-1", "SO-2", "SO-3"]
    assert ids(store.search(requested_from=D0 + dt.timedelta(days=1))) == []
    page, total = store.search(limit=2)
    assert len(page) == 2 and total == 3
    assert store.count_orders() == {"scheduled": 1, "on_hold": 1, "cancelled": 1}


def test_reopen_keeps_everything(db_url):
    url, schema = db_url
    s = open_store(url, pg_schema=schema)
    s.apply(WriteSet(orders=[_order("SO-1")], journal=[
        JournalEntry(seq=1, kind="commit", item="I1", location="L1", date=D0, qty=8)]))
    s.close()
    s2 = open_store(url, pg_schema=schema)
    try:
        assert s2.get_order("SO-1") is not None and s2.max_seq() == 1
    finally:
        s2.close()


def test_sqlite_runs_wal_with_full_sync(tmp_path):
    s = SqliteStore(tmp_path / "ob.sqlite")
    try:
        assert s.pragmas() == {"journal_mode": "wal", "synchronous": 2}
    finally:
        s.close()


def test_unsupported_url_is_refused(tmp_path):
    with pytest.raises(ValidationError):
        open_store("mysql://x/y")


@pytest.mark.postgres
def test_postgres_writer_commits_synchronously(db_url):
    url, schema = db_url
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    s = open_store(url, pg_schema=schema)
    try:
        assert s._w.execute("SHOW synchronous_commit").fetchone()[0] == "on"  # noqa: SLF001
        s._w.rollback()  # noqa: SLF001
    finally:
        s.close()


def test_old_idempotency_keys_are_purged(store):
    store.apply(WriteSet(idempotency=[("k-old", "h", 201, "{}")]))
    assert store.purge_idempotency(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)) == 0
    assert store.purge_idempotency(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)) == 1
    assert store.idempotency("k-old") is None
