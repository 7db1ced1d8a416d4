"""Order to cash wired to the order book's events: payments, invoices, returns and channel accruals.

``OrderToCash.open(service, settings)`` builds the payment book, the invoicer, the return book and
the channel ledger, restores what they keep, and hands the order book three consumers
(``invoicing``, ``payments``, ``channel``) that follow the order event stream
(``orderbook.events``) from their durable cursors. See ordertocash/README.md.
"""

from ordertocash.consumers import ChannelConsumer, InvoicingConsumer, PaymentsConsumer
from ordertocash.hub import OrderToCash

__all__ = ["ChannelConsumer", "InvoicingConsumer", "OrderToCash", "PaymentsConsumer"]
