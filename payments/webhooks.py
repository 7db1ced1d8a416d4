"""Signed webhooks: HMAC-SHA256 over ``"<timestamp>.<body>"``, sent as ``t=<unix seconds>,v1=<hex>``.

The receiver passes its clock in (``now``, unix seconds): a webhook older or newer than the
tolerance is refused, so a captured request cannot be replayed later. Refusals are
:class:`promessa.errors.ValidationError` naming the field (``signature``, ``timestamp``, ``body``)
and the value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json

from promessa.errors import ValidationError

SIGNATURE_HEADER = "Webhook-Signature"


def sign(body: bytes, *, secret: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified notification: the provider's event id (idempotency), type and payload."""

    event_id: str
    type: str
    payload: dict
    timestamp: int


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise ValidationError("missing: every webhook must be signed", field="signature", value=header,
                              hint=f"send the {SIGNATURE_HEADER} header 't=<unix seconds>,v1=<hex hmac-sha256>'")
    ts: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        k, _, v = part.strip().partition("=")
        if k == "t":
            try:
                ts = int(v)
            except ValueError:
                raise ValidationError("not unix seconds", field="timestamp", value=v) from None
        elif k == "v1":
            macs.append(v)
    if ts is None or not macs:
        raise ValidationError("malformed: needs t=<unix seconds> and v1=<hex>", field="signature", value=header)
    return ts, macs


def verify(body: bytes, header: str | None, *, secret: bytes, now: float, tolerance_s: float = 300.0) -> WebhookEvent:
    """Check the signature and the timestamp of a webhook and parse its JSON body.

    Parameters
    ----------
    body : the raw request body, exactly as received.
    header : the signature header value (``t=...,v1=...``), or None when missing.
    secret : the shared secret of the provider.
    now : the receiver's clock in unix seconds (passed in, so tests and replays are exact).
    tolerance_s : largest difference between ``now`` and the signed timestamp.

    Returns the :class:`WebhookEvent`; raises ValidationError (field signature/timestamp/body).
    """
    ts, macs = _parse_header(header)
    expected = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, m) for m in macs):
        raise ValidationError("does not match the body and timestamp", field="signature", value=header,
                              hint="sign '<timestamp>.<raw body>' with HMAC-SHA256 and the shared secret")
    if abs(now - ts) > tolerance_s:
        raise ValidationError(f"outside the tolerance of {tolerance_s:g} s around now={now:.0f}", field="timestamp", value=ts,
                              hint="a webhook is accepted only shortly after it was signed (replays are refused)")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("not JSON", field="body", value=body[:60]) from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise ValidationError("needs string 'id' and 'type'", field="body", value=body[:60])
    return WebhookEvent(data["id"], data["type"], data, ts)
