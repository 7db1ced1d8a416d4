"""Payment stories: each tells the situation and the expected amounts and states, computed by hand."""

from __future__ import annotations

import pytest
from pay_testing import TODAY, eur, pump

from payments import CaptureRule, PaymentState
from promessa.errors import ConflictError, ValidationError

S = PaymentState


def test_pay_by_two_methods_voucher_first_then_card(make_book, clock):
    """Order O1 of 100.00 EUR: a 30.00 gift card and 70.00 by card. It ships in two parts worth 40.00 and 60.00.
    Capture order puts vouchers first: shipment 1 takes 30.00 from the gift card and 10.00 from the card;
    shipment 2 takes the remaining 60.00 from the card."""
    book, gw, off = make_book(vouchers={"GC-1": eur("50.00")})
    gc = book.open(order="O1", method="gift_card", amount=eur("30.00"), token="GC-1", business_date=TODAY)
    card = book.open(order="O1", method="card", amount=eur("70.00"), token="tok_visa", business_date=TODAY)
    book.authorize(gc.payment_id)
    book.authorize(card.payment_id)
    assert gc.state == S.AUTHORIZED and card.state == S.AUTHORIZED
    assert off.balances["GC-1"] == eur("20.00")  # 30.00 reserved of 50.00

    r1 = book.capture_shipment("O1", eur("40.00"), key="SH1")
    assert r1.captures == ((gc.payment_id, eur("30.00")), (card.payment_id, eur("10.00")))
    assert gc.state == S.CAPTURED and gc.captured == eur("30.00")
    assert card.state == S.AUTHORIZED  # the card capture waits for its webhook
    pump(book, gw, clock)
    assert card.state == S.PARTIALLY_CAPTURED and card.captured == eur("10.00")

    r2 = book.capture_shipment("O1", eur("60.00"), key="SH2")
    assert r2.captures == ((card.payment_id, eur("60.00")),) and r2.shortfall.is_zero()
    pump(book, gw, clock)
    assert card.state == S.CAPTURED and card.captured == eur("70.00")
    s = book.summary("O1")
    assert s.captured == eur("100.00") and s.open.is_zero() and s.refunded.is_zero()
    # the same shipment again (a retried event) captures nothing more
    assert book.capture_shipment("O1", eur("60.00"), key="SH2") == r2
    assert book.summary("O1").captured == eur("100.00")


def test_partial_capture_on_partial_shipment_then_rest_cancelled(make_book, clock):
    """Card authorized for 90.00 (3 units at 30.00). 2 units ship (60.00): 60.00 captured, partially captured.
    The third unit is cancelled: the remaining 30.00 is released and the payment ends captured at 60.00."""
    book, gw, _ = make_book()
    p = book.open(order="O2", method="card", amount=eur("90.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture_shipment("O2", eur("60.00"), key="SH1")
    pump(book, gw, clock)
    assert p.state == S.PARTIALLY_CAPTURED and p.captured == eur("60.00") and p.open_amount() == eur("30.00")
    book.cancel_open("O2")
    assert p.state == S.CAPTURED and p.released == eur("30.00") and p.open_amount().is_zero()
    assert [t.event for t in book.trail(p.payment_id)] == ["open", "authorize", "capture_requested", "capture", "release"]
    assert [(t.from_state, t.to_state) for t in book.trail(p.payment_id) if t.from_state != t.to_state] == [
        (S.PENDING, S.AUTHORIZED), (S.AUTHORIZED, S.PARTIALLY_CAPTURED), (S.PARTIALLY_CAPTURED, S.CAPTURED)]


def test_declined_card_then_bank_transfer(make_book, clock):
    """The card is declined (test token): the payment fails with the code in its trail. The customer pays by
    transfer instead: pending until 45.00 arrives (confirmed by hand with the bank reference), then captured."""
    book, gw, _ = make_book()
    card = book.open(order="O3", method="card", amount=eur("45.00"), token="tok_declined", business_date=TODAY)
    book.authorize(card.payment_id)
    assert card.state == S.FAILED and "card_declined" in book.trail(card.payment_id)[-1].note
    with pytest.raises(ConflictError):
        book.capture(card.payment_id, eur("45.00"))
    tr = book.open(order="O3", method="bank_transfer", amount=eur("45.00"), business_date=TODAY)
    book.authorize(tr.payment_id)
    assert tr.state == S.PENDING
    assert book.capture_shipment("O3", eur("45.00"), key="SH-early").shortfall == eur("45.00")  # nothing arrived yet
    book.confirm_transfer(tr.payment_id, eur("20.00"), reference="BANK-1")
    assert tr.state == S.PARTIALLY_CAPTURED
    book.confirm_transfer(tr.payment_id, eur("25.00"), reference="BANK-2")
    book.confirm_transfer(tr.payment_id, eur("25.00"), reference="BANK-2")  # the same statement line twice: once
    assert tr.state == S.CAPTURED and tr.captured == eur("45.00")
    s = book.summary("O3")
    assert s.captured == eur("45.00") and s.expected == eur("45.00")


def test_duplicate_webhook_applied_once(make_book, clock):
    """The gateway sends every notification twice. The capture of 25.00 is applied once; the second copy
    is answered as a duplicate and changes nothing."""
    book, gw, _ = make_book(duplicate_every=1)
    p = book.open(order="O4", method="card", amount=eur("25.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, eur("25.00"), key="cap-1")
    clock.t += 10
    deliveries = gw.deliver()
    assert len(deliveries) == 4  # authorized x2, capture.succeeded x2
    outs = [book.handle_webhook("gateway", b, h["Webhook-Signature"], now=clock.t) for b, h in deliveries]
    dup = [o for o in outs if o.duplicate]
    assert len(dup) == 2 and {o.type for o in dup} == {"payment.authorized", "capture.succeeded"}
    assert p.captured == eur("25.00") and p.state == S.CAPTURED
    assert sum(1 for t in book.trail(p.payment_id) if t.event == "capture") == 1


def test_cod_collected_at_delivery(make_book, clock):
    """Cash on delivery for 59.90: accepted at once, not captured at shipment, collected by the carrier at delivery."""
    book, _, _ = make_book()
    p = book.open(order="O5", method="cod", amount=eur("59.90"), business_date=TODAY)
    book.authorize(p.payment_id)
    assert p.state == S.AUTHORIZED
    r = book.capture_shipment("O5", eur("59.90"), key="SH1")
    assert r.captures == () and p.captured.is_zero()
    with pytest.raises(ValidationError) as e:
        book.collect_cod(p.payment_id, eur("60.00"), ref="DLV-1")
    assert e.value.field == "amount" and e.value.value == "60.00" and p.captured.is_zero()
    book.collect_cod(p.payment_id, eur("59.90"), ref="DLV-1")
    assert p.state == S.CAPTURED and p.captured == eur("59.90")


def test_refund_above_captured_is_refused_and_changes_nothing(make_book, clock):
    """Captured 30.00 by voucher: refunding 30.01 is refused naming the amount; 12.50 is refunded and credited back."""
    book, _, off = make_book(vouchers={"V1": eur("30.00")})
    p = book.open(order="O6", method="voucher", amount=eur("30.00"), token="V1", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, key="c1")
    before = (p.state, p.captured, p.refunded, len(p.trail), dict(off.balances))
    with pytest.raises(ValidationError) as e:
        book.refund(p.payment_id, eur("30.01"), key="r1")
    assert e.value.field == "amount" and e.value.value == "30.01" and "30.01" in str(e.value)
    with pytest.raises(ValidationError):
        book.refund_order("O6", eur("30.01"), key="r1")
    assert (p.state, p.captured, p.refunded, len(p.trail), dict(off.balances)) == before
    book.refund(p.payment_id, eur("12.50"), key="r2")
    assert p.state == S.PARTIALLY_REFUNDED and off.balances["V1"] == eur("12.50")
    book.refund(p.payment_id, eur("17.50"), key="r3")
    assert p.state == S.REFUNDED


def test_refund_goes_back_in_the_stated_order(make_book, clock):
    """Captured 30.00 by voucher and 70.00 by card. A refund of 80.00 goes to the card first (70.00), then 10.00 to the voucher."""
    book, gw, off = make_book(vouchers={"V1": eur("30.00")}, capture_rule=CaptureRule.ON_ORDER)
    v = book.open(order="O7", method="voucher", amount=eur("30.00"), token="V1", business_date=TODAY)
    c = book.open(order="O7", method="card", amount=eur("70.00"), token="tok_visa", business_date=TODAY)
    book.authorize(v.payment_id)
    book.authorize(c.payment_id)
    pump(book, gw, clock)
    assert v.captured == eur("30.00") and c.captured == eur("70.00")
    plan = book.refund_order("O7", eur("80.00"), key="RMA1")
    assert plan == ((c.payment_id, eur("70.00")), (v.payment_id, eur("10.00")))
    pump(book, gw, clock)
    assert c.state == S.REFUNDED and v.state == S.PARTIALLY_REFUNDED and off.balances["V1"] == eur("10.00")


def test_timeout_then_webhook_resolves(make_book, clock):
    """The gateway times out on authorize; the payment stays pending. Its webhook arrives later and authorizes it."""
    book, gw, _ = make_book()
    p = book.open(order="O8", method="card", amount=eur("10.00"), token="tok_timeout", business_date=TODAY)
    book.authorize(p.payment_id)
    assert p.state == S.PENDING and book.trail(p.payment_id)[-1].event == "authorize_timeout"
    outs = pump(book, gw, clock)
    assert outs[0].applied and p.state == S.AUTHORIZED


def test_wallet_is_authorized_by_webhook_and_expiry(make_book, clock):
    """PayPal answers pending (the buyer is redirected); the webhook authorizes. A second wallet payment that is never
    completed expires after the authorization TTL (7 days) on the business clock."""
    book, gw, _ = make_book()
    p = book.open(order="O9", method="paypal", amount=eur("15.00"), token="tok_paypal", business_date=TODAY)
    q = book.open(order="O10", method="bank_transfer", amount=eur("15.00"), business_date=TODAY)
    book.authorize(p.payment_id)
    book.authorize(q.payment_id)
    assert p.state == S.PENDING
    pump(book, gw, clock)
    assert p.state == S.AUTHORIZED
    import datetime as dt
    assert book.expire_due(TODAY + dt.timedelta(days=7)) == []
    expired = book.expire_due(TODAY + dt.timedelta(days=9))
    assert [x.payment_id for x in expired] == [p.payment_id, q.payment_id] and q.state == S.EXPIRED


def test_card_numbers_are_refused_masked(make_book):
    """A PAN passed as a token is refused with a masked value and nothing is opened."""
    book, _, _ = make_book()
    with pytest.raises(ValidationError) as e:
        book.open(order="O11", method="card", amount=eur("1.00"), token="4111 1111 1111 1111", business_date=TODAY)
    assert e.value.field == "token" and e.value.value == "411111******1111" and "4111111111111111" not in str(e.value)
    assert book.payments_of("O11") == []
    with pytest.raises(ValidationError) as e:
        book.open(order="O11", method="voucher", amount=eur("1.00"), token="x-5500-0000-0000-0004-y", business_date=TODAY)
    assert e.value.field == "token"
    # an order number with many digits that fails the Luhn check is not a card number
    book.open(order="O11", method="voucher", amount=eur("1.00"), token="1234567890123", business_date=TODAY)


def test_bad_input_names_field_and_value(make_book):
    book, _, _ = make_book()
    cases = [
        (dict(method="bitcoin"), "method", "bitcoin"),
        (dict(amount=eur("-1.00")), "amount", "-1.00"),
        (dict(amount=eur("1.005")), "amount", "1.005"),
        (dict(method="card", token=None), "token", None),
        (dict(order=""), "order", ""),
    ]
    for over, field, value in cases:
        kw = dict(order="O12", method="cod", amount=eur("5.00"), business_date=TODAY) | over
        with pytest.raises(ValidationError) as e:
            book.open(**kw)
        assert (e.value.field, e.value.value) == (field, value)
    assert book.payments_of("O12") == []


def test_methods_added_by_configuration(make_book, clock):
    """A 'klarna' wallet added by configuration is offered through the gateway like PayPal."""
    from payments import MethodConfig, MethodKind, PaymentSettings

    methods = PaymentSettings().methods | {"klarna": MethodConfig(kind=MethodKind.WALLET, provider="gateway", label="Klarna")}
    book, gw, _ = make_book(methods=methods)
    p = book.open(order="O13", method="klarna", amount=eur("99.00"), token="tok_klarna", business_date=TODAY)
    book.authorize(p.payment_id)
    pump(book, gw, clock)
    assert p.state == S.AUTHORIZED and p.kind == MethodKind.WALLET


def test_close_order_refunds_a_prepayment_beyond_what_shipped(make_book, clock):
    """50.00 prepaid by transfer; only 30.00 shipped and invoiced, the rest cancelled: closing the order pays back 20.00.
    A card order whose capture still waits for its webhook cannot be closed yet."""
    book, gw, _ = make_book()
    tr = book.open(order="O14", method="bank_transfer", amount=eur("50.00"), business_date=TODAY)
    book.authorize(tr.payment_id)
    book.confirm_transfer(tr.payment_id, eur("50.00"), reference="B1")
    assert book.capture_shipment("O14", eur("30.00"), key="SH1").captures == ()  # already covered by the prepayment
    res = book.close_order("O14", eur("30.00"), key="close")
    assert res.refunds == ((tr.payment_id, eur("20.00")),) and res.due.is_zero()
    assert tr.state == S.PARTIALLY_REFUNDED and tr.net() == eur("30.00")
    assert book.close_order("O14", eur("30.00"), key="close") == res

    c = book.open(order="O15", method="card", amount=eur("10.00"), token="tok_visa", business_date=TODAY)
    book.authorize(c.payment_id)
    book.capture_shipment("O15", eur("10.00"), key="SH1")
    with pytest.raises(ConflictError):
        book.close_order("O15", eur("10.00"), key="close15")
    pump(book, gw, clock)
    assert book.close_order("O15", eur("10.00"), key="close15").refunds == ()


def test_on_shipment_rule_captures_everything_at_the_first_shipment(make_book, clock):
    """Rule on_shipment: card 80.00; the first shipment (worth 30.00) captures all 80.00; the second captures nothing."""
    book, gw, _ = make_book(capture_rule=CaptureRule.ON_SHIPMENT)
    p = book.open(order="O16", method="card", amount=eur("80.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    assert book.capture_shipment("O16", eur("30.00"), key="SH1").captures == ((p.payment_id, eur("80.00")),)
    pump(book, gw, clock)
    assert book.capture_shipment("O16", eur("50.00"), key="SH2").captures == ()
    assert p.state == S.CAPTURED and p.captured == eur("80.00")


def test_failed_capture_keeps_the_authorization_and_is_in_the_trail(make_book, clock):
    """tok_capture_fails: the gateway reports capture.failed; nothing is captured, the money stays authorized."""
    book, gw, _ = make_book()
    p = book.open(order="O17", method="card", amount=eur("10.00"), token="tok_capture_fails", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, key="k")
    assert p.open_amount().is_zero()  # pending capture
    pump(book, gw, clock)
    assert p.state == S.AUTHORIZED and p.captured.is_zero() and p.open_amount() == eur("10.00")
    assert book.trail(p.payment_id)[-1].event == "capture_failed"


def test_state_machine_refuses_moves_outside_the_table(make_book):
    book, _, _ = make_book()
    p = book.open(order="O18", method="cod", amount=eur("10.00"), business_date=TODAY)
    with pytest.raises(ConflictError):
        book.capture(p.payment_id, eur("1.00"))  # pending COD: nothing authorized yet
    book.authorize(p.payment_id)
    book.collect_cod(p.payment_id, eur("10.00"), ref="D1")
    with pytest.raises(ConflictError):
        book.void(p.payment_id)
    with pytest.raises(ConflictError):
        book.collect_cod(p.payment_id, eur("1.00"), ref="D2")  # collected in full: nothing more is due
    assert p.state == S.CAPTURED and [t.to_state for t in p.trail][-1] == S.CAPTURED


def test_concurrent_webhooks_apply_once(make_book, clock):
    """4 threads hand the same 40 notifications (each sent twice) to the book: 20 captures of 1.00, each applied once."""
    import threading

    book, gw, _ = make_book(duplicate_every=1)
    ps = [book.open(order=f"C{k}", method="card", amount=eur("1.00"), token="tok_visa", business_date=TODAY) for k in range(20)]
    for p in ps:
        book.authorize(p.payment_id)
        book.capture(p.payment_id, key="k")
    clock.t += 10
    hooks = gw.deliver()
    outs = []

    def work() -> None:
        for b, h in hooks:
            outs.append(book.handle_webhook("gateway", b, h["Webhook-Signature"], now=clock.t))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sum(1 for o in outs if o.applied and not o.duplicate and o.type == "capture.succeeded") == 20
    assert all(p.captured == eur("1.00") and p.state == S.CAPTURED for p in ps)


def test_records_restore_into_a_new_book(make_book, clock):
    """After a restart, a book restored from the order's records (JSON round trip) has the same payments, trails
    and keys: the shipment already captured is not captured again, a late duplicate webhook stays a duplicate,
    and the next shipment captures as before."""
    import json

    from payments import PaymentBook, PaymentSettings

    book, gw, off = make_book(vouchers={"V": eur("5.00")})
    v = book.open(order="O19", method="voucher", amount=eur("5.00"), token="V", business_date=TODAY)
    c = book.open(order="O19", method="card", amount=eur("20.00"), token="tok_visa", business_date=TODAY)
    book.authorize(v.payment_id)
    book.authorize(c.payment_id)
    book.capture_shipment("O19", eur("10.00"), key="SH1")
    clock.t += 5
    hooks = gw.deliver()
    for b, h in hooks:
        book.handle_webhook("gateway", b, h["Webhook-Signature"], now=clock.t)
    saved = json.loads(json.dumps(book.records("O19")))
    events = json.loads(json.dumps(book.seen_events()))

    new = PaymentBook(providers={"gateway": gw, "offline": off}, settings=PaymentSettings(), webhook_secrets={"gateway": b"whsec_test"})
    new.restore(saved, events=events)
    assert [p.to_dict() for p in new.payments_of("O19")] == [p.to_dict() for p in book.payments_of("O19")]
    assert new.capture_shipment("O19", eur("10.00"), key="SH1") == book.capture_shipment("O19", eur("10.00"), key="SH1")
    b, h = hooks[-1]
    assert new.handle_webhook("gateway", b, h["Webhook-Signature"], now=clock.t).duplicate
    new.capture_shipment("O19", eur("15.00"), key="SH2")
    pump(new, gw, clock)
    c2 = new.payment(c.payment_id)
    assert c2.captured == eur("20.00") and c2.state == S.CAPTURED
    assert new.open(order="O20", method="cod", amount=eur("1.00"), business_date=TODAY).payment_id == "PAY0000003"


def test_retry_after_timeout_gets_the_lost_answer_once(make_book, clock):
    """authorize times out; the retry (same key at the gateway) gets the approval that was lost, and the late webhook
    then changes nothing: one authorization in the trail."""
    book, gw, _ = make_book()
    p = book.open(order="O21", method="card", amount=eur("12.00"), token="tok_timeout", business_date=TODAY)
    book.authorize(p.payment_id)
    assert p.state == S.PENDING
    book.authorize(p.payment_id)
    assert p.state == S.AUTHORIZED
    outs = pump(book, gw, clock)
    assert [o.applied for o in outs] == [False] and "already succeeded" in outs[0].note
    assert [t.event for t in book.trail(p.payment_id)].count("authorize") == 1
