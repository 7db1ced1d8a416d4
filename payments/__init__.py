"""Payments of orders by any method: state machine, audit trail, providers, capture rules, webhooks.

Imports promessa only (errors, money). See README.md.
"""

from payments.book import CaptureResult, CloseResult, PaymentBook, Reconciled, WebhookOutcome
from payments.cards import find_pan, luhn_ok, refuse_card_data
from payments.model import (
    TERMINAL,
    CaptureRule,
    MethodConfig,
    MethodKind,
    OrderPayments,
    Payment,
    PaymentSettings,
    PaymentState,
    Transition,
)
from payments.providers import TEST_TOKENS, OfflineProvider, PaymentProvider, ProviderResult, ProviderTimeout, TestGateway
from payments.webhooks import SIGNATURE_HEADER, WebhookEvent, sign, verify

__all__ = [
    "CaptureResult", "CaptureRule", "CloseResult", "MethodConfig", "MethodKind", "OfflineProvider", "OrderPayments", "Payment", "PaymentBook",
    "PaymentProvider", "PaymentSettings", "PaymentState", "ProviderResult", "ProviderTimeout", "Reconciled", "SIGNATURE_HEADER", "TERMINAL",
    "TEST_TOKENS", "TestGateway", "Transition", "WebhookEvent", "WebhookOutcome", "find_pan", "luhn_ok", "refuse_card_data",
    "sign", "verify",
]
