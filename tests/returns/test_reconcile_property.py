"""Amounts reconcile: over random order histories (lines, payment splits, capture rules, shipments, returns,
webhooks arriving late and twice, cancellation of the rest), once the order is settled,
captured - refunded == invoiced - credited, to the cent, and no payment refunds more than it captured."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing import InvoiceRequest, Invoicer, PaymentTerms, PricedLine, open_store, prorate
from payments import CaptureRule, OfflineProvider, PaymentBook, PaymentSettings, PaymentState, TestGateway
from promessa.money import Money, allocate
from returns import ReturnBook, ShippedLine

D = dt.date(2026, 1, 5)
SECRET = b"whsec_p"
RATES = ["0", "0.055", "0.07", "0.19", "0.2"]


class Clock:
    def __init__(self) -> None:
        self.t = 1_770_000_000.0

    def __call__(self) -> float:
        return self.t


line_st = st.tuples(st.integers(1, 5), st.integers(1, 20_000), st.sampled_from(RATES))
history_st = st.fixed_dictionaries({
    "lines": st.lists(line_st, min_size=1, max_size=3),
    "methods": st.lists(st.sampled_from(["card", "paypal", "voucher", "bank_transfer"]), min_size=1, max_size=3, unique=True),
    "weights": st.lists(st.integers(1, 10), min_size=3, max_size=3),
    "rule": st.sampled_from(list(CaptureRule)),
    "actions": st.lists(st.tuples(st.sampled_from(["ship", "return", "pump"]), st.integers(0, 99), st.integers(1, 5)), max_size=12),
    "duplicates": st.booleans(),
})


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=history_st)
def test_captured_minus_refunded_equals_invoiced_minus_credited(h):
    clock = Clock()
    gw = TestGateway(secret=SECRET, clock=clock, duplicate_every=1 if h["duplicates"] else 0)
    off = OfflineProvider(vouchers={"V": Money.of("1000000.00", "EUR")})
    pay = PaymentBook(providers={"gateway": gw, "offline": off}, settings=PaymentSettings(capture_rule=h["rule"]),
                      webhook_secrets={"gateway": SECRET})
    store = open_store(":memory:")
    inv = Invoicer(store)
    rb = ReturnBook()

    def pump() -> None:
        clock.t += 5
        for body, hd in gw.deliver():
            pay.handle_webhook("gateway", body, hd["Webhook-Signature"], now=clock.t)

    # the priced order: net = unit x qty, tax = net x rate, each rounded to the cent
    priced = []
    for i, (q, cents, rate) in enumerate(h["lines"]):
        net = (Money.of(Decimal(cents) / 100, "EUR") * q).rounded()
        priced.append(PricedLine(f"L{i}", f"I{i}", q, net, (net * Decimal(rate)).rounded(), rate))
    total = sum((p.net + p.tax for p in priced), Money.zero("EUR"))
    shares = allocate(total, [Decimal(w) for w in h["weights"][:len(h["methods"])]])
    for m, amt in zip(h["methods"], shares, strict=True):
        if amt.is_zero():
            continue
        p = pay.open(order="O", method=m, amount=amt, token={"card": "tok_visa", "paypal": "tok_pp", "voucher": "V"}.get(m),
                     business_date=D)
        pay.authorize(p.payment_id)
        if m == "bank_transfer":
            pay.confirm_transfer(p.payment_id, amt, reference=f"bank-{p.payment_id}")
    pump()

    shipped_qty = [0] * len(priced)
    shipments: list[ShippedLine] = []
    for kind, a, b in h["actions"]:
        if kind == "pump":
            pump()
        elif kind == "ship":
            i = a % len(priced)
            q = min(b, priced[i].qty - shipped_qty[i])
            if q <= 0:
                continue
            sid = f"SH{len(shipments)}"
            li = prorate(priced[i], qty_before=shipped_qty[i], qty=q)
            doc = inv.invoice_shipment(InvoiceRequest(sid, "O", "C", "EUR", [li], PaymentTerms(30)), issue_date=D)
            shipped_qty[i] += q
            pay.capture_shipment("O", doc.total, key=sid)
            shipments.append(ShippedLine("O", sid, priced[i].item, float(q), invoice=doc.number, line_ref=priced[i].line_ref))
        elif kind == "return" and shipments:
            sl = shipments[a % len(shipments)]
            left = rb.returnable(sl)
            if left <= 0:
                continue
            pump()  # a refund needs its captures settled
            rma = rb.authorize(sl, qty=min(float(b), left), reason="other", condition="new", business_date=D)
            rb.refund_receipt(rb.receive(rma.rma_id, location="DC01", date=D), invoicer=inv, payments=pay, issue_date=D)
    pump()
    invoiced, credited = inv.order_totals("O")
    pay.close_order("O", invoiced - credited, key="close")  # the rest of the order is cancelled
    pump()
    pump()
    s = pay.summary("O")
    assert s.captured - s.refunded == invoiced - credited
    assert s.open.is_zero()
    for p in pay.payments_of("O"):
        assert Money.zero("EUR") <= p.refunded <= p.captured <= p.amount
        assert p.state in (PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED, PaymentState.VOIDED)
    if all(q == p.qty for q, p in zip(shipped_qty, priced, strict=True)):
        assert invoiced == total  # shipping everything invoices exactly the priced order
    store.close()
