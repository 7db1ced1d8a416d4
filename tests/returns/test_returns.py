"""Return stories: authorization per shipped line, receipt into supply or quarantine, refund to the original methods, exchange."""

from __future__ import annotations

import datetime as dt

import pytest

from invoicing import InvoiceRequest, Invoicer, LineInput, PaymentTerms, open_store
from payments import OfflineProvider, PaymentBook, PaymentSettings, PaymentState, TestGateway, sign
from promessa.errors import ValidationError
from promessa.money import Money
from returns import Condition, ReturnBook, ReturnState, ShippedLine
from supplydata.live import SupplyDelta

D = dt.date(2026, 1, 5)
SECRET = b"whsec_r"


def eur(x: str) -> Money:
    return Money.of(x, "EUR")


class Clock:
    t = 1_770_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def o2c(tmp_path):
    """A card and a voucher payment for order O1 (3 x 20.00 net at 20 % = 72.00), shipped and invoiced in full."""
    clock = Clock()
    gw = TestGateway(secret=SECRET, clock=clock)
    off = OfflineProvider(vouchers={"V1": eur("12.00")})
    pay = PaymentBook(providers={"gateway": gw, "offline": off}, settings=PaymentSettings(), webhook_secrets={"gateway": SECRET})
    store = open_store(tmp_path / "inv.sqlite")
    inv = Invoicer(store)

    def pump() -> None:
        clock.t += 5
        for body, h in gw.deliver():
            pay.handle_webhook("gateway", body, h["Webhook-Signature"], now=clock.t)

    v = pay.open(order="O1", method="voucher", amount=eur("12.00"), token="V1", business_date=D)
    c = pay.open(order="O1", method="card", amount=eur("60.00"), token="tok_visa", business_date=D)
    pay.authorize(v.payment_id)
    pay.authorize(c.payment_id)
    doc = inv.invoice_shipment(InvoiceRequest("SH1", "O1", "C1", "EUR", [LineInput("I1", 3, eur("20.00"), "0.2", line_ref="O1/1")],
                                              PaymentTerms(30)), issue_date=D)
    pay.capture_shipment("O1", doc.total, key="SH1")
    pump()
    assert pay.summary("O1").captured == eur("72.00")
    shipped = ShippedLine("O1", "1", "I1", 3.0, customer="C1", shipped_from="DC01", invoice=doc.number, line_ref="O1/1")
    yield pay, inv, shipped, pump, off, (v, c)
    store.close()


def test_refund_after_a_return(o2c):
    """The customer returns 2 of 3 units: one comes back new (back to sellable supply at DC02), one damaged (quarantine).
    Each receipt is credited (24.00 = 20.00 + 4.00 tax) and refunded card first (refund order): 24.00 + 24.00 from the card,
    the voucher keeps its 12.00 captured. Captured - refunded = 72.00 - 48.00 = invoiced - credited."""
    pay, inv, shipped, pump, off, (v, c) = o2c
    rb = ReturnBook(locations={"DC01", "DC02"})
    rma = rb.authorize(shipped, qty=2, reason="size_or_fit", condition="new", business_date=D)
    r1 = rb.receive(rma.rma_id, location="DC02", date=D + dt.timedelta(days=3), qty=1)
    assert r1.supply == SupplyDelta("I1", "DC02", dt.date(2026, 1, 8), 1.0, kind="receipt", ref=f"{rma.rma_id}/1")
    assert r1.non_sellable is None and rma.state == ReturnState.PARTIALLY_RECEIVED
    r2 = rb.receive(rma.rma_id, location="DC02", date=D + dt.timedelta(days=4), condition="damaged")
    assert r2.supply is None and r2.non_sellable.condition == Condition.DAMAGED and r2.qty == 1.0
    assert rma.state == ReturnState.RECEIVED

    f1 = rb.refund_receipt(r1, invoicer=inv, payments=pay, issue_date=D + dt.timedelta(days=3))
    assert f1.credit_note.total == eur("24.00") and f1.parts == ((c.payment_id, eur("24.00")),)
    assert rb.refund_receipt(r1, invoicer=inv, payments=pay, issue_date=D) == f1  # a retry does nothing twice
    f2 = rb.refund_receipt(r2, invoicer=inv, payments=pay, issue_date=D + dt.timedelta(days=4))
    assert f2.parts == ((c.payment_id, eur("24.00")),) and rma.state == ReturnState.REFUNDED
    pump()
    assert c.refunded == eur("48.00") and c.state == PaymentState.PARTIALLY_REFUNDED and v.refunded.is_zero()
    invoiced, credited = inv.order_totals("O1")
    s = pay.summary("O1")
    assert (invoiced, credited) == (eur("72.00"), eur("48.00"))
    assert s.captured - s.refunded == invoiced - credited == eur("24.00")


def test_return_of_more_than_shipped_is_refused_and_changes_nothing(o2c):
    _, _, shipped, _, _, _ = o2c
    rb = ReturnBook()
    with pytest.raises(ValidationError) as e:
        rb.authorize(shipped, qty=4, reason="defective", condition="defective", business_date=D)
    assert (e.value.field, e.value.value) == ("qty", 4) and "shipped 3" in str(e.value)
    assert rb.of_order("O1") == [] and rb.returnable(shipped) == 3.0
    first = rb.authorize(shipped, qty=2, reason="defective", condition="defective", business_date=D)
    with pytest.raises(ValidationError) as e:
        rb.authorize(shipped, qty=1.5, reason="defective", condition="defective", business_date=D)
    assert (e.value.field, e.value.value) == ("qty", 1.5) and "already authorized 2" in str(e.value)
    for kw, field, value in [(dict(reason="bored"), "reason", "bored"), (dict(condition="shiny"), "condition", "shiny"),
                             (dict(qty=0), "qty", 0), (dict(qty="1"), "qty", "1")]:
        with pytest.raises(ValidationError) as e:
            rb.authorize(shipped, **({"qty": 1, "reason": "defective", "condition": "new", "business_date": D} | kw))
        assert (e.value.field, e.value.value) == (field, value)
    assert [r.rma_id for r in rb.of_order("O1")] == [first.rma_id]
    rb.cancel(first.rma_id)
    assert rb.returnable(shipped) == 3.0


def test_receipt_refusals(o2c):
    _, _, shipped, _, _, _ = o2c
    rb = ReturnBook(locations={"DC01"})
    rma = rb.authorize(shipped, qty=1, reason="wrong_item", condition="new", business_date=D)
    with pytest.raises(ValidationError) as e:
        rb.receive(rma.rma_id, location="DC99", date=D)
    assert (e.value.field, e.value.value) == ("location", "DC99")
    with pytest.raises(ValidationError) as e:
        rb.receive(rma.rma_id, location="DC01", date=D, qty=2)
    assert (e.value.field, e.value.value) == ("qty", 2)
    assert rma.receipts == [] and rma.state == ReturnState.AUTHORIZED


def test_refund_refused_before_credit_when_payments_cannot_cover(o2c, tmp_path):
    """A shipped line whose order was never paid: the refund is refused (no payments) and no credit note is written."""
    pay, inv, shipped, _, _, _ = o2c
    doc = inv.invoice_shipment(InvoiceRequest("SH9", "O9", "C1", "EUR", [LineInput("I1", 1, eur("10.00"), "0.2", line_ref="L")],
                                              PaymentTerms(30)), issue_date=D)
    rb = ReturnBook()
    rma = rb.authorize(ShippedLine("O9", "1", "I1", 1, invoice=doc.number, line_ref="L"), qty=1, reason="defective",
                       condition="defective", business_date=D)
    rec = rb.receive(rma.rma_id, location="DC01", date=D)
    with pytest.raises(Exception, match="no payments"):
        rb.refund_receipt(rec, invoicer=inv, payments=pay, issue_date=D)
    assert inv.order_totals("O9")[1].is_zero()


def test_returns_not_received_are_in_jeopardy(o2c):
    _, _, shipped, _, _, _ = o2c
    rb = ReturnBook()
    a = rb.authorize(shipped, qty=1, reason="other", condition="new", business_date=D)
    b = rb.authorize(shipped, qty=1, reason="other", condition="new", business_date=D + dt.timedelta(days=10))
    rb.receive(b.rma_id, location="DC01", date=D + dt.timedelta(days=12))
    assert rb.not_received(D + dt.timedelta(days=30)) == []
    assert [r.rma_id for r in rb.not_received(D + dt.timedelta(days=31))] == [a.rma_id]


def test_exchange_promised_on_a_different_date(make_snapshot):
    """An exchange of 1 x I1 asked for day 2. DC01 has nothing on hand of I1 and 5 arriving on day 10, so the
    replacement line the lead promises from the exchange request is promised on day 10, and linked to the return."""
    from promessa_testing import day

    from promising import Policy, Request, promise

    snap = make_snapshot(supply=[("I1", "DC01", 10, 5)])
    rb = ReturnBook()
    shipped = ShippedLine("O1", "1", "I1", 2.0, shipped_from="DC01")
    rma = rb.authorize(shipped, qty=1, reason="defective", condition="defective", business_date=day(0), exchange=True,
                       requested_date=day(2))
    x = rma.exchange_request
    assert (x.rma_id, x.order, x.replaces_line, x.item, x.qty, x.requested_date) == (rma.rma_id, "O1", "1", "I1", 1.0, day(2))
    p = promise(snap, snap.new_state(), Request(x.item, shipped.shipped_from, x.qty, x.requested_date, Policy()))
    assert [ln.date for ln in p.lines] == [day(10)]
    rb.link_replacement(rma.rma_id, "O1/3")
    assert rb.get(rma.rma_id).replacement_line == "O1/3"
    plain = rb.authorize(shipped, qty=1, reason="other", condition="new", business_date=day(0))
    with pytest.raises(ValidationError):
        rb.link_replacement(plain.rma_id, "O1/4")


def test_unsigned_refund_webhook_changes_nothing(o2c):
    """A refund is pending at the gateway; a forged 'refund.succeeded' with a wrong signature is refused."""
    pay, inv, shipped, pump, _, (v, c) = o2c
    pay.refund(c.payment_id, eur("5.00"), key="R1")
    body = b'{"id":"evt_forged","type":"refund.succeeded","payment_ref":"' + c.provider_ref.encode() + b'","reference":"R1"}'
    with pytest.raises(ValidationError) as e:
        pay.handle_webhook("gateway", body, sign(body, secret=b"nope", timestamp=int(Clock.t)), now=Clock.t)
    assert e.value.field == "signature" and c.refunded.is_zero()
    pump()
    assert c.refunded == eur("5.00")
