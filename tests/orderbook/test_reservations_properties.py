"""Random histories of holds and orders held equal to the plain-Python ATP reference.

One item-location (A at L1: 50 on hand on day 0, 30 arriving on day 5, 30 days, no lead time).
The reference (`promising.testing.atp_reference`) keeps the cumulative position C as a list: each
promise is the reference's promise against it, each commitment is `commit`, each release gives
the units back. After every step the service's position equals the reference's, which says:

- a hold's units are never promised to anyone else (every later promise, hold or order, is the
  reference's promise against a position that still counts them, and C never goes below zero);
- released, expired and cancelled units become available again (the reference gives them back
  and the next promise sees them);
- conversion moves a hold's units to its order without changing C;
- expiry releases exactly the holds whose time ran out; and the book rebuilds the same state.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderbook.schemas import OrderCreate, ReservationConvert, ReservationCreate, ReservationExtend
from orderbook.service import OrderService
from orderbook.store import open_store
from promessa.config import EPS, settings_of
from promessa.errors import ConflictError
from promising.testing import atp_reference as ref

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
AS_OF = dt.date(2026, 1, 5)
H = 30
SUPPLY = [50.0 if t == 0 else 30.0 if t == 5 else 0.0 for t in range(H)]


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("snap")
    (d / "meta.json").write_text(json.dumps({"as_of": AS_OF.isoformat(), "horizon_days": H}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nA,x,y,10,5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nL1,dc,Z,US,\n")
    (d / "supply.csv").write_text("item,location,date,qty,kind,ref\nA,L1,2026-01-05,50,onhand,\nA,L1,2026-01-10,30,purchase,\n")
    return load_snapshot(d)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t


_qty = st.integers(1, 45).map(float) | st.sampled_from([0.5, 12.25])
_op = st.one_of(
    st.tuples(st.just("hold"), _qty, st.integers(0, 12), st.sampled_from([30, 60, 120]), st.booleans()),
    st.tuples(st.just("order"), _qty, st.integers(0, 12), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("extend"), st.integers(0, 20), st.sampled_from([30, 90])),
    st.tuples(st.just("convert"), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("tick"), st.integers(10, 150)),
)


def _lines(doc: dict) -> list[tuple[int, float]]:
    return [((dt.date.fromisoformat(s["date"]) - AS_OF).days, s["qty"]) for s in doc["lines"][0]["schedule"]]


def _give_back(cum: list[float], lines: list[tuple[int, float]]) -> list[float]:
    for b, q in lines:
        cum = ref.commit(cum, b, -q)
    return cum


def _line(qty: float, day: int) -> dict:
    return {"item": "A", "qty": qty, "requested_date": (AS_OF + dt.timedelta(days=day)).isoformat(), "location": "L1"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=20))
def test_random_holds_and_orders_follow_the_reference(snap, tmp_path_factory, ops):
    store = open_store(tmp_path_factory.mktemp("prop") / "ob.sqlite")
    clock = Clock()
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
    il = snap.il_of("A", "L1")
    cum = ref.net_position(SUPPLY, [0.0] * H)
    holds: dict[str, dict] = {}   # id -> {"lines", "expires", "status", "order"}
    orders: dict[str, dict] = {}  # id -> {"lines", "open"}
    hold_ids: list[str] = []
    order_ids: list[str] = []
    try:
        for op in ops:
            kind = op[0]
            if kind in ("hold", "order"):
                qty, day, split = op[1], op[2], op[-1]
                _, _, want, _ = ref.promise(cum, -1, None, qty, day, -1, True, split, 4)
                policy = {"allow_split": split}
                if kind == "hold":
                    body = {"ttl_s": op[3], "policy": policy, "lines": [_line(qty, day)]}
                    doc = json.loads(svc.create_reservation(ReservationCreate.model_validate(body), actor="p")[1])
                    holds[doc["reservation_id"]] = {"lines": want, "expires": clock.t + dt.timedelta(seconds=op[3]),
                                                    "status": "active", "order": None}
                    hold_ids.append(doc["reservation_id"])
                else:
                    doc = json.loads(svc.capture(OrderCreate.model_validate(
                        {"customer": "c", "policy": policy, "lines": [_line(qty, day)]}), actor="p")[1])
                    orders[doc["order_id"]] = {"lines": want, "open": True}
                    order_ids.append(doc["order_id"])
                got = _lines(doc)
                assert [b for b, _ in got] == [b for b, _ in want] and np.allclose([q for _, q in got], [q for _, q in want])
                for b, q in want:
                    cum = ref.commit(cum, b, q)
            elif kind == "tick":
                clock.t += dt.timedelta(seconds=op[1])
                due = sorted((h["expires"], rid) for rid, h in holds.items() if h["status"] == "active" and h["expires"] <= clock.t)
                assert svc.expire_due() == [rid for _, rid in due]
                for _, rid in due:
                    holds[rid]["status"] = "expired"
                    cum = _give_back(cum, holds[rid]["lines"])
            elif kind == "cancel":
                if not order_ids:
                    continue
                oid = order_ids[op[1] % len(order_ids)]
                if orders[oid]["open"]:
                    svc.cancel(oid, actor="p")
                    orders[oid]["open"] = False
                    cum = _give_back(cum, orders[oid]["lines"])
                else:
                    with pytest.raises(ConflictError):
                        svc.cancel(oid, actor="p")
            else:
                if not hold_ids:
                    continue
                rid = hold_ids[op[1] % len(hold_ids)]
                h = holds[rid]
                live = h["status"] == "active" and h["expires"] > clock.t
                if kind == "release":
                    if h["status"] == "converted":
                        with pytest.raises(ConflictError):
                            svc.release_reservation(rid, actor="p")
                    else:
                        assert json.loads(svc.release_reservation(rid, actor="p")[1])["status"] in ("released", "expired")
                        if h["status"] == "active":
                            h["status"] = "released"
                            cum = _give_back(cum, h["lines"])
                elif kind == "extend":
                    if live:
                        svc.extend_reservation(rid, ReservationExtend(ttl_s=op[2]), actor="p")
                        h["expires"] = clock.t + dt.timedelta(seconds=op[2])
                    else:
                        with pytest.raises(ConflictError):
                            svc.extend_reservation(rid, ReservationExtend(ttl_s=op[2]), actor="p")
                elif kind == "convert":
                    if live:
                        doc = json.loads(svc.convert_reservation(rid, ReservationConvert(customer="c"), actor="p")[1])
                        assert _lines(doc) == h["lines"]
                        h["status"], h["order"] = "converted", doc["order_id"]
                        orders[doc["order_id"]] = {"lines": h["lines"], "open": True}
                        order_ids.append(doc["order_id"])
                    elif h["status"] == "converted":
                        doc = json.loads(svc.convert_reservation(rid, ReservationConvert(customer="c"), actor="p")[1])
                        assert doc["order_id"] == h["order"]
                    else:
                        with pytest.raises(ConflictError):
                            svc.convert_reservation(rid, ReservationConvert(customer="c"), actor="p")
            assert np.allclose(svc.state.cum[il], cum, atol=1e-6), (op, list(svc.state.cum[il]), cum)
            assert min(cum) >= -EPS  # never oversold: a hold's units went to no one else
            for rid, h in holds.items():
                assert svc.reservations[rid].status == h["status"], rid
        # the order book alone rebuilds the same state, bit for bit, and the same holds
        again = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
        assert np.array_equal(again.state.cum, svc.state.cum)
        assert {k: r.to_dict() for k, r in again.reservations.items()} == {k: r.to_dict() for k, r in svc.reservations.items()}
        again.close()
    finally:
        svc.close()
        store.close()
