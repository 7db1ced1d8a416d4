"""Pricing: price lists, tiers, discount rules, tax, recurring charges and manual adjustments, as data;
a price waterfall per line and an order total (``price_order``), and an exact batch pricer (``price_batch``).
Catalogue maintenance (``pricing.catalogue``) overlays item changes on the snapshot's catalogue."""

from pricing.batch import BatchPrice, price_batch
from pricing.book import CATALOGUE_LIST, PriceBook
from pricing.catalogue import Catalogue, CatalogueChange, CatalogueItem, apply_changes
from pricing.engine import price_order
from pricing.errors import RuleError
from pricing.load import (
    load_assignments,
    load_book,
    load_catalogue_changes,
    load_price_lists,
    load_rules,
    load_tax_rates,
)
from pricing.model import (
    Adjustment,
    Assignment,
    LineRequest,
    LineWaterfall,
    ManualAdjustment,
    OrderPrice,
    OrderRequest,
    Party,
    PriceEntry,
    PriceList,
    Recurring,
    RecurringCharge,
    Rule,
    TaxRate,
    Tier,
)

__all__ = [
    "CATALOGUE_LIST", "Adjustment", "Assignment", "BatchPrice", "Catalogue", "CatalogueChange", "CatalogueItem", "LineRequest",
    "LineWaterfall", "ManualAdjustment", "OrderPrice", "OrderRequest", "Party", "PriceBook", "PriceEntry", "PriceList",
    "Recurring", "RecurringCharge", "Rule", "RuleError", "TaxRate", "Tier", "apply_changes", "load_assignments", "load_book",
    "load_catalogue_changes", "load_price_lists", "load_rules", "load_tax_rates", "price_batch", "price_order",
]
