"""OrderMap: the book's orders by id with each customer's order ids beside them (credit checks read those)."""

from __future__ import annotations

import datetime as dt

from orderbook.records import Line, Order, OrderMap


def _order(oid: str, customer: str) -> Order:
    now = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    return Order(order_id=oid, customer=customer, status="scheduled", created_at=now, updated_at=now,
                 lines=[Line(line=1, item="A", qty=1.0, requested_date=dt.date(2026, 1, 6))])


def test_index_follows_every_change():
    m = OrderMap([_order("O1", "C1"), _order("O2", "C2")])
    m["O3"] = _order("O3", "C1")
    assert sorted(o.order_id for o in m.of_customer("C1")) == ["O1", "O3"]
    assert m.pop("O1").order_id == "O1"
    assert [o.order_id for o in m.of_customer("C1")] == ["O3"]
    del m["O3"]
    assert m.of_customer("C1") == [] and m.pop("nope", None) is None
    m.update({"O4": _order("O4", "C2")})
    assert sorted(o.order_id for o in m.of_customer("C2")) == ["O2", "O4"]
    copy = _order("O2", "C2")  # a restored copy (undo) replaces the object, same id and customer
    m["O2"] = copy
    assert sorted(o.order_id for o in m.of_customer("C2")) == ["O2", "O4"] and m["O2"] is copy
    m.clear()
    assert m.of_customer("C2") == [] and len(m) == 0
    assert m.of_customer("unknown") == []
