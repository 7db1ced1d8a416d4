"""Operations pending at the gateway survive a restart of the in-memory gateway, and reconciliation settles those
whose webhook never comes (issue 15: nothing waits forever).

A "restart" here is what the server does at start-up: a new gateway and a new book, the book restored from the
records (a JSON round trip), the gateway told again what it had (``adopt``), the pending operations retried with
their own keys (``retry_pending``)."""

from __future__ import annotations

import datetime as dt
import json

from pay_testing import SECRET, TODAY, eur, pump

from payments import OfflineProvider, PaymentBook, TestGateway


def _restart(book: PaymentBook, order: str, clock) -> tuple[PaymentBook, TestGateway]:
    saved = json.loads(json.dumps(book.records(order)))
    events = json.loads(json.dumps(book.seen_events()))
    gw = TestGateway(secret=SECRET, clock=clock, delay_s=2.0)
    new = PaymentBook(providers={"gateway": gw, "offline": OfflineProvider()}, webhook_secrets={"gateway": SECRET})
    new.restore(saved, events=events)
    assert gw.adopt(new.payments_of(order)) == len([p for p in new.payments_of(order) if p.provider_ref])
    return new, gw


def test_a_capture_pending_at_a_restart_is_delivered_by_the_restarted_gateway(make_book, clock):
    """60.00 authorized by card; a capture of 24.00 is sent (pending) and the server restarts before its webhook.
    The restarted gateway knows the authorization (60.00) again, takes the retried capture once, and its webhook
    captures 24.00; a second retry with the same key does nothing more. A new payment gets a new gateway ref."""
    book, gw, _ = make_book()
    p = book.open(order="O1", method="card", amount=eur("60.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, eur("24.00"), key="ship1")
    assert [op.status for op in p.ops.values()] == ["succeeded", "pending"]
    new, gw2 = _restart(book, "O1", clock)          # the old gateway's outbox is lost with the process
    assert gw2.authorized[p.provider_ref] == eur("60.00")
    assert new.retry_pending("gateway") == [f"{p.payment_id}:ship1"]
    assert new.retry_pending("gateway") == [f"{p.payment_id}:ship1"]  # still pending: sent again, taken once
    assert gw2.authorized[p.provider_ref] == eur("36.00") and gw2.captured[p.provider_ref] == eur("24.00")
    outs = pump(new, gw2, clock)
    assert [(o.type, o.applied) for o in outs] == [("capture.succeeded", True)]
    q = new.payment(p.payment_id)
    assert (q.state, q.captured, q.open_amount()) == ("partially_captured", eur("24.00"), eur("36.00"))
    assert new.retry_pending("gateway") == []
    other = new.open(order="O2", method="card", amount=eur("5.00"), token="tok_visa", business_date=TODAY)
    new.authorize(other.payment_id)
    assert other.provider_ref != p.provider_ref


def test_a_webhook_sent_before_and_again_after_a_restart_is_a_duplicate(make_book, clock):
    """The event id is derived from the operation, so the outcome resent after a restart is the same event: once
    applied, the second copy is a duplicate and changes nothing."""
    book, gw, _ = make_book()
    p = book.open(order="O1", method="card", amount=eur("10.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, key="c1")
    clock.t += 5
    before = [b for b, _ in gw.deliver() if b"capture.succeeded" in b]
    gw2 = TestGateway(secret=SECRET, clock=clock, delay_s=2.0)  # the gateway restarted, the book did not
    gw2.adopt([p])
    gw2.authorized[p.provider_ref] = eur("10.00")
    gw2.capture(key=f"{p.payment_id}:c1", ref=p.provider_ref, amount=eur("10.00"))
    after = [b for b, _ in gw2.deliver(clock.t + 5)]
    assert json.loads(before[0])["id"] == json.loads(after[0])["id"]
    from payments import sign

    first = book.handle_webhook("gateway", before[0], sign(before[0], secret=SECRET, timestamp=int(clock.t)), now=clock.t)
    again = book.handle_webhook("gateway", after[0], sign(after[0], secret=SECRET, timestamp=int(clock.t)), now=clock.t)
    assert (first.applied, again.duplicate) == (True, True) and book.payment(p.payment_id).captured == eur("10.00")


def test_reconciliation_settles_operations_whose_webhook_never_comes(make_book, clock):
    """Cards whose gateway never notifies (tok_webhook_lost): captures of 30.00 and 8.00 stay pending. Asked before
    they are older than the limit, nothing happens; after, the gateway's status says both were carried out. A refund
    of 4.00 of the second then waits the same way and is settled the same way. A capture the gateway never received
    (recorded, then a crash before it was sent) is declined ``unknown_operation``: marked failed, its amount open again."""
    book, gw, _ = make_book()
    a = book.open(order="O1", method="card", amount=eur("30.00"), token="tok_webhook_lost", business_date=TODAY)
    b = book.open(order="O2", method="card", amount=eur("8.00"), token="tok_webhook_lost", business_date=TODAY)
    for x in (a, b):
        book.authorize(x.payment_id)
        book.capture(x.payment_id, key="c1")
    assert [o.type for o in pump(book, gw, clock)] == ["payment.authorized", "payment.authorized"]  # nothing more comes
    assert len(book.pending_operations()) == 2
    now = dt.datetime.now(dt.UTC)
    assert book.reconcile(older_than_s=60, now=now) == []   # not old enough yet
    got = book.reconcile(older_than_s=60, now=now + dt.timedelta(seconds=61))
    assert sorted((r.payment_id, r.kind, r.status) for r in got) == sorted(
        [(a.payment_id, "capture", "approved"), (b.payment_id, "capture", "approved")])
    assert (a.state, a.captured, b.state, b.captured) == ("captured", eur("30.00"), "captured", eur("8.00"))
    book.refund(b.payment_id, eur("4.00"), key="r1")
    assert pump(book, gw, clock) == [] and b.refunded == eur("0.00")
    got = book.reconcile(older_than_s=60, now=now + dt.timedelta(seconds=120))
    assert [(r.kind, r.status) for r in got] == [("refund", "approved")]
    assert (b.state, b.refunded) == ("partially_refunded", eur("4.00"))
    assert b.trail[-1].event == "refund" and b.trail[-1].note == "reconciled"
    assert book.pending_operations() == [] and book.reconcile(older_than_s=0, now=now + dt.timedelta(days=1)) == []
    # a capture the gateway never got: its status is unknown, the capture fails and the money is open again
    c = book.open(order="O3", method="card", amount=eur("12.00"), token="tok_visa", business_date=TODAY)
    book.authorize(c.payment_id)
    new, _gw = _restart(book, "O3", clock)
    q = new.payment(c.payment_id)
    from payments.model import Operation

    new._add_op(q, Operation(f"{c.payment_id}:lost", "capture", eur("12.00")))  # recorded, never sent: crash
    assert q.open_amount() == eur("0.00")
    got = new.reconcile(older_than_s=0, now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert [(r.status, r.code) for r in got] == [("declined", "unknown_operation")]
    assert q.ops[f"{c.payment_id}:lost"].status == "failed" and q.open_amount() == eur("12.00")
    assert q.trail[-1].event == "capture_failed" and "reconciled" in q.trail[-1].note


def test_operation_times_survive_the_records(make_book):
    book, _gw, _ = make_book()
    p = book.open(order="O1", method="card", amount=eur("10.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, key="c1")
    saved = json.loads(json.dumps(book.records("O1")))
    ops = {o["key"]: o for o in saved["payments"][0]["ops"]}
    at = dt.datetime.fromisoformat(ops[f"{p.payment_id}:c1"]["at"])
    assert abs((at - p.ops[f"{p.payment_id}:c1"].at).total_seconds()) == 0
