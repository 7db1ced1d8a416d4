"""A sellable return goes back to supply through the order book's durable supply-delta command, and promising
sees it at once (and after a restart)."""

from __future__ import annotations

from promessa_testing import day

from orderbook.schemas import InquiryLine
from orderbook.service import OrderService
from orderbook.store import open_store
from promessa.config import settings_of
from returns import ReturnBook, ShippedLine


def _available(svc: OrderService, qty: float, d: int) -> float:
    [p] = svc.inquire([InquiryLine(item="A", qty=qty, requested_date=day(d), location="DC1")])
    return p["promised_qty"]


def test_returned_units_are_promised_again(make_snapshot, tmp_path):
    """A at DC1: 2 on hand. 3 units shipped earlier come back: 2 new (sellable), 1 damaged (kept out of supply).
    After applying the receipts' supply deltas, 4 can be promised on day 1 - also after a restart."""
    snap = make_snapshot(supply=[("A", "DC1", 0, 2)], horizon=30)
    settings = settings_of(approval_value_threshold=None, approval_on_price_override=False)
    svc = OrderService(snap, open_store(str(tmp_path / "ob.sqlite")), settings)
    assert _available(svc, 10, 1) == 2.0
    rb = ReturnBook(locations=snap.location_ids)
    rma = rb.authorize(ShippedLine("O1", "1", "A", 3, shipped_from="DC1"), qty=3, reason="no_longer_needed", condition="new",
                       business_date=day(0))
    good = rb.receive(rma.rma_id, location="DC1", date=day(1), qty=2)
    bad = rb.receive(rma.rma_id, location="DC1", date=day(1), condition="damaged")
    assert bad.supply is None and bad.non_sellable.qty == 1.0
    status, _, _ = svc.apply_supply_deltas([good.supply], actor="key:returns")
    assert status == 200
    assert _available(svc, 10, 1) == 4.0
    svc.close()
    svc.store.close()
    again = OrderService(snap, open_store(str(tmp_path / "ob.sqlite")), settings)
    assert _available(again, 10, 1) == 4.0
    [d] = again.store.supply_deltas()
    assert (d.item, d.location, d.qty, d.ref) == ("A", "DC1", 2.0, f"{rma.rma_id}/1")
    again.close()
    again.store.close()
