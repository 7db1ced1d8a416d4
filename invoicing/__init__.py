"""Invoices and credit notes: gapless numbering per series in one transaction with the document,
immutable once issued, rendered as HTML and PDF, listed per customer with the open balance.

Imports promessa only (errors, money). See README.md.
"""

from invoicing.model import (
    CustomerStatement,
    DocLine,
    Document,
    DocumentBalance,
    DocumentDraft,
    DocumentKind,
    InvoiceMode,
    InvoicingSettings,
    LineInput,
    PaymentTerms,
    PricedLine,
    Settlement,
    prorate,
)
from invoicing.render import render_html, render_pdf
from invoicing.service import InvoiceRequest, Invoicer, ReturnCredit
from invoicing.store import InvoiceStore, PostgresInvoiceStore, SqliteInvoiceStore, open_store

__all__ = [
    "CustomerStatement", "DocLine", "Document", "DocumentBalance", "DocumentDraft", "DocumentKind", "InvoiceMode", "InvoiceRequest",
    "InvoiceStore", "Invoicer", "InvoicingSettings", "LineInput", "PaymentTerms", "PostgresInvoiceStore", "PricedLine",
    "ReturnCredit", "Settlement", "SqliteInvoiceStore", "open_store", "prorate", "render_html", "render_pdf",
]
