"""Returns and exchanges: authorizations per shipped line, receipts into sellable supply or
non-sellable stock, the refund to the original payment methods, and exchange requests.

Imports promessa, supplydata (the SupplyDelta record), invoicing and payments. See README.md.
"""

from returns.book import ReturnBook, ReturnRefund
from returns.model import (
    Condition,
    ExchangeRequest,
    NonSellableStock,
    ReturnAuthorization,
    ReturnReason,
    ReturnReceipt,
    ReturnSettings,
    ReturnState,
    ShippedLine,
)

__all__ = [
    "Condition", "ExchangeRequest", "NonSellableStock", "ReturnAuthorization", "ReturnBook", "ReturnReason", "ReturnReceipt",
    "ReturnRefund", "ReturnSettings", "ReturnState", "ShippedLine",
]
