"""Temporary reservations (holds) told as stories, with hand-computed answers.

The supply (as_of 2026-01-05, 30 days): item A at L1 has 50 on hand and 30 arriving on
2026-01-10, so C(A@L1) = 50 from the 5th to the 9th and 80 from the 10th; a request on the 6th
can take A(6th) = min(50, 80) = 50, and on the 10th A(10th) = 80. B at L1 has 10 on hand; A at L2
has 5. The hold's clock is a wall clock the test moves by hand.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from orderbook.schemas import OrderCreate, ReservationConvert, ReservationCreate, ReservationExtend
from orderbook.service import OrderService, StoreUnavailable
from orderbook.store import open_store
from promessa.config import settings_of
from promessa.errors import ConflictError, ValidationError

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
D6, D10 = "2026-01-06", "2026-01-10"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("snap")
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 30}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nA,x,y,10,5,\nB,x,y,20,5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nL1,dc,Z,US,\nL2,dc,Z,US,\n")
    (d / "supply.csv").write_text(
        "item,location,date,qty,kind,ref\nA,L1,2026-01-05,50,onhand,\nA,L1,2026-01-10,30,purchase,\n"
        "B,L1,2026-01-05,10,onhand,\nA,L2,2026-01-05,5,onhand,\n")
    return load_snapshot(d)


@pytest.fixture
def book(snap, db_url):
    """(service, clock, store) over a fresh order book (SQLite, and PostgreSQL where reachable)."""
    url, schema = db_url
    store = open_store(url, pg_schema=schema)
    clock = Clock()
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None, max_ttl_s=86400), wallclock=clock)
    yield svc, clock, store
    svc.close()
    store.close()


def hold(svc, qty, day=D6, *, item="A", location="L1", ttl_s=600, policy=None, **extra) -> dict:
    body = {"ttl_s": ttl_s, "lines": [{"item": item, "qty": qty, "requested_date": day, "location": location}], **extra}
    if policy is not None:
        body["policy"] = policy
    status, out, _ = svc.create_reservation(ReservationCreate.model_validate(body), actor="t")
    assert status == 201
    return json.loads(out)


def sched(doc: dict) -> list[tuple[str, float]]:
    return [(s["date"], s["qty"]) for s in doc["lines"][0]["schedule"]]


def avail(svc, day: str, item="A", location="L1") -> float:
    return next(r["available"] for r in svc.atp(item, location)["rows"] if r["date"] == day)


def test_holds_take_what_is_free_and_expiry_gives_it_back(book):
    svc, clock, _ = book
    assert (avail(svc, D6), avail(svc, D10)) == (50.0, 80.0)
    first = hold(svc, 20)
    assert sched(first) == [(D6, 20.0)] and first["held_qty"] == 20.0
    assert (avail(svc, D6), avail(svc, D10)) == (30.0, 60.0)  # 50 - 20, 80 - 20
    # 45 on the 6th, no later: only the 30 still free there
    second = hold(svc, 45, policy={"max_late_days": 0}, ttl_s=1200)
    assert sched(second) == [(D6, 30.0)] and second["lines"][0]["promise"]["status"] == "partial"
    assert (avail(svc, D6), avail(svc, D10)) == (0.0, 30.0)
    # what the holds keep is promised to no one else: an order for 10 on the 6th gets nothing there
    order = json.loads(svc.capture(OrderCreate.model_validate({"customer": "c", "policy": {"max_late_days": 0}, "lines": [
        {"item": "A", "qty": 10, "requested_date": D6, "location": "L1"}]}), actor="t")[1])
    assert order["status"] == "backordered" and order["lines"][0]["schedule"] == []
    # 10 minutes later the first expires (600 s), the second (1200 s) does not
    clock.advance(599)
    assert svc.expire_due() == []
    clock.advance(1)
    assert svc.expire_due() == [first["reservation_id"]]
    assert (avail(svc, D6), avail(svc, D10)) == (20.0, 50.0)
    assert svc.get_reservation(first["reservation_id"])["status"] == "expired"
    clock.advance(600)
    assert svc.expire_due() == [second["reservation_id"]]
    assert (avail(svc, D6), avail(svc, D10)) == (50.0, 80.0)
    assert svc.expire_due() == []  # nothing left to expire
    trail = svc.reservation_audit(second["reservation_id"])
    assert [(a["action"], a["actor"], a["to_status"]) for a in trail] == [
        ("reservation.create", "t", "active"), ("reservation.expire", "scheduler", "expired")]
    assert trail[1]["detail"]["released"] == {"1": 30.0}


def test_extend_moves_the_expiry_and_an_expired_hold_can_no_longer_be_extended(book):
    svc, clock, _ = book
    h = hold(svc, 10, ttl_s=60)
    clock.advance(50)
    out = json.loads(svc.extend_reservation(h["reservation_id"], ReservationExtend(ttl_s=120), actor="t")[1])
    assert out["expires_at"] == "2026-01-05T09:02:50+00:00" and out["version"] == 2  # 09:00:50 + 120 s
    clock.advance(100)  # 09:02:30: the extended hold still holds
    assert svc.expire_due() == [] and avail(svc, D6) == 40.0
    clock.advance(20)  # 09:02:50: due; not yet swept, but no longer extendable
    with pytest.raises(ConflictError, match="expired"):
        svc.extend_reservation(h["reservation_id"], ReservationExtend(ttl_s=120), actor="t")
    with pytest.raises(ValidationError) as e:
        svc.extend_reservation(h["reservation_id"], ReservationExtend(ttl_s=86401), actor="t")
    assert e.value.field == "ttl_s"
    assert svc.expire_due() == [h["reservation_id"]] and avail(svc, D6) == 50.0


def test_conversion_moves_the_same_units_to_the_order(book):
    svc, _, store = book
    h = hold(svc, 20, customer="C1")
    hold(svc, 45, policy={"max_late_days": 0})  # another cart: the 30 still free on the 6th
    cum = svc.state.cum.copy()
    held = svc.reservations[h["reservation_id"]].lines[0].draws[:]
    status, body, _ = svc.convert_reservation(h["reservation_id"], ReservationConvert(), actor="t")
    order = json.loads(body)
    assert status == 201 and order["customer"] == "C1" and order["status"] == "scheduled"
    assert np.array_equal(svc.state.cum, cum)  # the units changed hands, nothing else moved
    assert svc.orders[order["order_id"]].lines[0].draws == held
    assert sched(order) == [(D6, 20.0)] and order["lines"][0]["promise"]["source"] == "reservation"
    assert svc.reservations[h["reservation_id"]].lines[0].draws == []
    # the journal: per owner, the reservation nets to zero and the order holds the 20
    net: dict[str, float] = {}
    for j in store.journal_since(0):
        net[j.order_id] = net.get(j.order_id, 0.0) + j.signed_qty
    assert net[h["reservation_id"]] == 0.0 and net[order["order_id"]] == 20.0
    # open commitments: the order's 20 and the other cart's 30, nothing of the converted hold
    assert sorted((c.order_id == order["order_id"], c.qty) for c in svc.open_commitments()) == [(False, 30.0), (True, 20.0)]
    # again: the same order, nothing new
    again = svc.convert_reservation(h["reservation_id"], ReservationConvert(), actor="t")
    assert again[0] == 200 and json.loads(again[1])["order_id"] == order["order_id"] and len(svc.orders) == 1
    with pytest.raises(ConflictError):
        svc.release_reservation(h["reservation_id"], actor="t")


def test_conversion_needs_a_customer_and_a_refusal_changes_nothing(book):
    svc, _, _ = book
    h = hold(svc, 5)
    cum = svc.state.cum.copy()
    with pytest.raises(ValidationError) as e:
        svc.convert_reservation(h["reservation_id"], ReservationConvert(), actor="t")
    assert e.value.field == "customer"
    assert np.array_equal(svc.state.cum, cum) and svc.orders == {}
    assert svc.get_reservation(h["reservation_id"])["status"] == "active"


def test_a_failed_durable_write_during_conversion_leaves_memory_as_it_was(book):
    svc, _, store = book
    h = hold(svc, 20)
    cum, seq = svc.state.cum.copy(), svc.seq
    before = svc.reservations[h["reservation_id"]].to_dict()

    def boom(batch):
        raise OSError("disk full")

    real, store.write = store.write, boom
    with pytest.raises(StoreUnavailable):
        svc.convert_reservation(h["reservation_id"], ReservationConvert(customer="C"), actor="t")
    with pytest.raises(StoreUnavailable):
        svc.release_reservation(h["reservation_id"], actor="t")
    store.write = real
    assert np.array_equal(svc.state.cum, cum) and svc.seq == seq and svc.orders == {}
    assert svc.reservations[h["reservation_id"]].to_dict() == before
    assert svc.convert_reservation(h["reservation_id"], ReservationConvert(customer="C"), actor="t")[0] == 201


def test_a_restart_holds_the_units_again_and_releases_what_expired_meanwhile(book, snap):
    svc, clock, store = book
    short = hold(svc, 20, ttl_s=60)
    long = hold(svc, 10, item="B", ttl_s=3600)
    cum = svc.state.cum.copy()
    svc.close()
    clock.advance(120)
    again = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
    try:
        assert np.array_equal(again.state.cum, cum)  # the journal replays the holds exactly
        assert {r.status for r in again.reservations.values()} == {"active"}
        again.start_expiry(interval_s=3600)  # what the composition root does before serving
        assert again.get_reservation(short["reservation_id"])["status"] == "expired"
        assert again.get_reservation(long["reservation_id"])["status"] == "active"
        assert (avail(again, D6), avail(again, D6, item="B")) == (50.0, 0.0)
    finally:
        again.close()
    third = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
    assert np.array_equal(third.state.cum, again.state.cum)  # the expiry is durable too
    assert third.get_reservation(short["reservation_id"])["status"] == "expired"
    third.close()


def test_a_snapshot_refresh_replays_the_active_holds(book, snap):
    svc, _, _ = book
    hold(svc, 20)
    released = hold(svc, 5, location="L2")
    svc.release_reservation(released["reservation_id"], actor="t")
    state = snap.new_state()
    result = svc.replay_into(snap, state, None)  # a new extract that carries none of the commitments
    assert result.exceptions == () and np.array_equal(state.cum, svc.state.cum)


def test_a_demand_class_hold_keeps_its_allocation_pools_through_conversion_expiry_and_rebuild(tmp_path):
    """On the generated sample (allocation quotas per demand class): a hold's draws carry their pools; the
    conversion moves them to the order unchanged, an expiry gives them back, and the rebuilt state - allocation
    included - is exact."""
    from supplydata import load_snapshot
    from supplydata.generate import generate

    generate(tmp_path / "snap", seed=7, size="tiny")
    snap = load_snapshot(tmp_path / "snap")
    alloc = snap.tables["allocation"]
    item, loc, dc = alloc["item"][0], alloc["location"][0], alloc["demand_class"][0]
    store = open_store(tmp_path / "ob.sqlite")
    clock = Clock()
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
    from allocation.model import model_for

    base_pools = model_for(snap).base_pos  # the quotas' positions before anything is reserved
    cum0 = svc.state.cum.copy()
    a = hold(svc, 3, "2026-01-12", item=item, location=loc, demand_class=dc, ttl_s=60)
    b = hold(svc, 5, "2026-01-12", item=item, location=loc, demand_class=dc, ttl_s=600)
    draws = svc.reservations[b["reservation_id"]].lines[0].draws[:]
    extras = {k: v.copy() for k, v in svc.state.extras.items()}
    _, body, _ = svc.convert_reservation(b["reservation_id"], ReservationConvert(customer="c"), actor="t")
    oid = json.loads(body)["order_id"]
    assert svc.orders[oid].lines[0].draws == draws  # the same draws, pools included
    for k, v in svc.state.extras.items():
        assert np.allclose(v, extras[k]), k  # the quotas did not move either
    clock.advance(60)
    assert svc.expire_due() == [a["reservation_id"]]
    svc.cancel(oid, actor="t")
    assert np.allclose(svc.state.cum, cum0)  # everything given back, quotas included
    assert np.allclose(svc.state.extras["allocation"], base_pools)
    assert not np.allclose(extras["allocation"], base_pools)  # (while the holds held, the pools were charged)
    again = OrderService(snap, store, settings_of(approval_value_threshold=None), wallclock=clock)
    assert np.array_equal(again.state.cum, svc.state.cum)
    for k, v in svc.state.extras.items():
        assert np.allclose(again.state.extras[k], v), k
    svc.close()
    again.close()
    store.close()
