"""Webhook verification: signature, timestamp tolerance with the clock passed in, idempotency by event id."""

from __future__ import annotations

import json

import pytest
from pay_testing import SECRET, TODAY, eur

from payments import sign, verify
from promessa.errors import ValidationError

BODY = json.dumps({"id": "evt_1", "type": "payment.authorized", "payment_ref": "gw_1"}).encode()


def test_good_signature_parses():
    ev = verify(BODY, sign(BODY, secret=SECRET, timestamp=1000), secret=SECRET, now=1100)
    assert (ev.event_id, ev.type, ev.timestamp) == ("evt_1", "payment.authorized", 1000)


@pytest.mark.parametrize("header,field", [
    (None, "signature"),
    ("", "signature"),
    ("t=1000", "signature"),
    ("t=abc,v1=00", "timestamp"),
    ("t=1000,v1=" + "0" * 64, "signature"),
])
def test_bad_signatures_are_refused(header, field):
    with pytest.raises(ValidationError) as e:
        verify(BODY, header, secret=SECRET, now=1000)
    assert e.value.field == field


def test_tampered_body_and_wrong_secret_and_stale_timestamp():
    h = sign(BODY, secret=SECRET, timestamp=1000)
    with pytest.raises(ValidationError, match="signature"):
        verify(BODY.replace(b"gw_1", b"gw_2"), h, secret=SECRET, now=1000)
    with pytest.raises(ValidationError, match="signature"):
        verify(BODY, h, secret=b"other", now=1000)
    with pytest.raises(ValidationError) as e:
        verify(BODY, h, secret=SECRET, now=1000 + 301, tolerance_s=300)
    assert e.value.field == "timestamp" and e.value.value == 1000
    verify(BODY, h, secret=SECRET, now=1000 + 300, tolerance_s=300)


def test_unsigned_webhook_changes_nothing(make_book, clock):
    """A forged capture notification (no signature, or signed with another secret) is refused; the payment stays as it was."""
    book, gw, _ = make_book()
    p = book.open(order="O1", method="card", amount=eur("10.00"), token="tok_visa", business_date=TODAY)
    book.authorize(p.payment_id)
    book.capture(p.payment_id, eur("10.00"), key="k1")
    clock.t += 5
    (b1, _), (b2, _) = gw.deliver()
    trail = len(p.trail)
    with pytest.raises(ValidationError) as e:
        book.handle_webhook("gateway", b2, None, now=clock.t)
    assert e.value.field == "signature"
    with pytest.raises(ValidationError):
        book.handle_webhook("gateway", b2, sign(b2, secret=b"forged", timestamp=int(clock.t)), now=clock.t)
    assert p.captured.is_zero() and len(p.trail) == trail
    out = book.handle_webhook("gateway", b2, sign(b2, secret=SECRET, timestamp=int(clock.t)), now=clock.t)
    assert out.applied and p.captured == eur("10.00")
    again = book.handle_webhook("gateway", b2, sign(b2, secret=SECRET, timestamp=int(clock.t) + 1), now=clock.t + 1)
    assert again.duplicate and p.captured == eur("10.00")
