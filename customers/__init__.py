"""Customer master: records, validation, file import, and order validation (unknown, blocked, credit limit)."""

from customers.credit import BLOCKED_CUSTOMER, CREDIT_LIMIT, UNKNOWN_CUSTOMER, HoldReason, check_order
from customers.errors import CustomerFileError
from customers.io import CSV_COLUMNS, load_customers
from customers.model import TAX_PROFILES, Address, Contact, Customer, CustomerMaster, PaymentTerms

__all__ = [
    "BLOCKED_CUSTOMER", "CREDIT_LIMIT", "CSV_COLUMNS", "TAX_PROFILES", "UNKNOWN_CUSTOMER", "Address", "Contact", "Customer",
    "CustomerFileError", "CustomerMaster", "HoldReason", "PaymentTerms", "check_order", "load_customers",
]
