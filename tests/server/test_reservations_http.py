"""Temporary reservations (holds) over HTTP: a hold, its expiry across a restart, conversion to an order.

The supply story (tests/server/conftest.py): WIDGET at DC-EAST has 100 on hand on 2026-01-05 and
50 arriving on 2026-01-15, so on 2026-01-06 a request can take A = min(100, 150) = 100. The hold's
clock is a wall clock the test moves by hand (``create_app(wallclock=...)``).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import CAP, PLAN, SHIP, VIEW, _make_settings
from server import create_app

D1 = "2026-01-06"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


class Clock:
    """A wall clock moved by hand."""

    def __init__(self, t: dt.datetime = T0) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


def _available(c: TestClient, day: str = D1, item: str = "WIDGET", location: str = "DC-EAST") -> float:
    rows = c.get(f"/v1/atp/{item}/{location}").json()["rows"]
    return next(r["available"] for r in rows if r["date"] == day)


def _hold(c: TestClient, qty: float, ttl_s: float = 600, **extra) -> dict:
    r = c.post("/v1/reservations", headers=CAP, json={
        "ttl_s": ttl_s, "lines": [{"item": "WIDGET", "qty": qty, "requested_date": D1, "location": "DC-EAST"}], **extra})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/reservations/{r.json()['reservation_id']}"
    return r.json()


@pytest.fixture
def app_factory(tmp_path, snap):
    """app(clock, **settings) -> a TestClient over the same SQLite order book each time (a restart)."""
    opened = []

    def _open(clock: Clock, **kw) -> TestClient:
        c = TestClient(create_app(_make_settings((str(tmp_path / "ob.sqlite"), "unused"), **kw), snapshot=snap,
                                  wallclock=clock), headers=VIEW)
        c.__enter__()
        opened.append(c)
        return c

    yield _open
    for c in opened:
        c.__exit__(None, None, None)


def test_a_hold_takes_its_units_from_everyone_else_until_released(app_factory):
    c = app_factory(Clock())
    assert _available(c) == 100.0
    h = _hold(c, 30, reference="cart-1", customer="A")
    assert (h["status"], h["held_qty"], h["expires_at"]) == ("active", 30.0, "2026-01-05T09:10:00+00:00")
    assert h["lines"][0]["schedule"] == [{"date": D1, "qty": 30.0, "shipped_qty": 0.0}]
    assert h["lines"][0]["promise"]["source"] == "reservation"
    assert _available(c) == 70.0  # 100 - 30 held
    # the viewer reads it, lists it, and cannot write it
    got = c.get(f"/v1/reservations/{h['reservation_id']}")
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json()["held_qty"] == 30.0
    listed = c.get("/v1/reservations", params={"status": "active", "reference": "cart-1"}).json()
    assert listed["total"] == 1 and listed["data"][0]["reservation_id"] == h["reservation_id"]
    assert c.post(f"/v1/reservations/{h['reservation_id']}/release").status_code == 403
    assert c.post("/v1/reservations", headers=SHIP, json={}).status_code == 403
    # an order cannot get the held units: 80 on D1 (split allowed) gets the 70 free there, the rest from the
    # 50 arriving on 2026-01-15
    o = c.post("/v1/orders", headers=CAP, json={"customer": "B", "policy": {"allow_split": True}, "lines": [
        {"item": "WIDGET", "qty": 80, "requested_date": D1, "location": "DC-EAST"}]}).json()
    assert [(s["date"], s["qty"]) for s in o["lines"][0]["schedule"]] == [(D1, 70.0), ("2026-01-15", 10.0)]
    assert _available(c) == 0.0
    # released: the 30 are available again, and a second release changes nothing
    r = c.post(f"/v1/reservations/{h['reservation_id']}/release", headers=CAP, json={"note": "cart abandoned"})
    assert r.status_code == 200 and r.json()["status"] == "released" and r.json()["held_qty"] == 0.0
    assert r.headers["etag"] == '"2"'
    assert _available(c) == 30.0  # min(C from D1 on) = min(30 before the receipt, 30 + 50 - 10 after)
    again = c.delete(f"/v1/reservations/{h['reservation_id']}", headers=CAP)
    assert again.status_code == 200 and again.json()["version"] == 2
    assert _available(c) == 30.0
    actions = [a["action"] for a in c.get(f"/v1/reservations/{h['reservation_id']}/audit").json()["data"]]
    assert actions == ["reservation.create", "reservation.release"]
    # a released hold cannot be extended or converted
    assert c.post(f"/v1/reservations/{h['reservation_id']}/extend", headers=CAP, json={"ttl_s": 60}).status_code == 409
    assert c.post(f"/v1/reservations/{h['reservation_id']}/convert", headers=CAP, json={}).status_code == 409


def test_conversion_moves_exactly_the_held_units_to_the_order(app_factory):
    c = app_factory(Clock())
    h = _hold(c, 30)
    rid = h["reservation_id"]
    before = c.get("/v1/journal", headers=PLAN, params={"since": 0}).json()["data"]
    key = {**CAP, "Idempotency-Key": "convert-1"}
    r = c.post(f"/v1/reservations/{rid}/convert", headers=key, json={"customer": "A", "ship_to": {"city": "Boston"}})
    assert r.status_code == 201, r.text
    o = r.json()
    assert r.headers["location"] == f"/v1/orders/{o['order_id']}"
    assert o["customer"] == "A" and o["status"] == "scheduled"
    ln = o["lines"][0]
    assert (ln["qty"], ln["location"], ln["schedule"]) == (30.0, "DC-EAST", [{"date": D1, "qty": 30.0, "shipped_qty": 0.0}])
    assert ln["promise"]["source"] == "reservation" and ln["draws"][0]["qty"] == 30.0
    assert _available(c) == 70.0  # the same 30 units, counted once: no second promise
    # the journal: the hold gives the draw back and the order commits the same draw
    moved = c.get("/v1/journal", headers=PLAN, params={"since": before[-1]["seq"]}).json()["data"]
    assert [(j["kind"], j["order_id"], j["qty"]) for j in moved] == [("release", rid, 30.0), ("commit", o["order_id"], 30.0)]
    res = c.get(f"/v1/reservations/{rid}").json()
    assert (res["status"], res["order_id"], res["held_qty"]) == ("converted", o["order_id"], 0.0)
    # idempotent: the same key answers the same order; another convert answers it too; nothing is promised again
    same = c.post(f"/v1/reservations/{rid}/convert", headers=key, json={"customer": "A", "ship_to": {"city": "Boston"}})
    assert same.status_code == 201 and same.headers["idempotent-replayed"] == "true"
    assert same.json()["order_id"] == o["order_id"]
    plain = c.post(f"/v1/reservations/{rid}/convert", headers=CAP)
    assert plain.status_code == 200 and plain.json()["order_id"] == o["order_id"]
    assert c.post(f"/v1/reservations/{rid}/convert", headers=CAP, json={"customer": "Z"}).status_code == 409
    assert c.get("/v1/orders").json()["total"] == 1
    assert _available(c) == 70.0
    # the converted order's audit trail names the reservation; a converted hold cannot be released
    trail = c.get(f"/v1/orders/{o['order_id']}/audit").json()["data"]
    assert trail[0]["action"] == "capture" and trail[0]["detail"] == {"reservation_id": rid}
    assert c.post(f"/v1/reservations/{rid}/release", headers=CAP).status_code == 409
    # cancelling the order gives the 30 back
    assert c.post(f"/v1/orders/{o['order_id']}/cancel", headers=CAP).status_code == 200
    assert _available(c) == 100.0


def test_bad_input_is_a_422_naming_the_field_and_nothing_is_held(app_factory):
    c = app_factory(Clock(), max_ttl_s=3600)
    for body, loc, value in (
        ({"ttl_s": 7200, "lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1, "location": "DC-EAST"}]},
         ["body", "ttl_s"], 7200),
        ({"lines": [{"item": "NOPE", "qty": 1, "requested_date": D1, "location": "DC-EAST"}]}, ["body", "lines", 0, "item"],
         "NOPE"),
        ({"lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1}]}, ["body", "lines", 0, "location"], None),
        ({"lines": [{"item": "WIDGET", "qty": -1, "requested_date": D1, "location": "DC-EAST"}]},
         ["body", "lines", 0, "qty"], -1),
    ):
        r = c.post("/v1/reservations", headers=CAP, json=body)
        assert r.status_code == 422, r.text
        d = r.json()["detail"][0]
        assert [x for x in d["loc"] if x != "body"] == loc[1:] and d["input"] == value, d
    h = _hold(c, 10, ttl_s=60)
    r = c.post(f"/v1/reservations/{h['reservation_id']}/extend", headers=CAP, json={"ttl_s": 3601})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["ttl_s"] and r.json()["detail"][0]["input"] == 3601
    assert c.get("/v1/reservations").json()["total"] == 1
    assert c.get(f"/v1/reservations/{h['reservation_id']}").json()["expires_at"] == "2026-01-05T09:01:00+00:00"
    assert c.get("/v1/reservations/RS-none").status_code == 404
    assert _available(c) == 90.0


def test_expired_holds_are_released_across_a_restart_and_the_others_are_held_again(app_factory):
    clock = Clock()
    c = app_factory(clock, sweep_interval_s=3600)  # no sweep while it runs: only the restart can release it
    short = _hold(c, 30, ttl_s=60)
    long = _hold(c, 20, ttl_s=3600)
    extended = _hold(c, 5, ttl_s=60)
    clock.advance(30)
    r = c.post(f"/v1/reservations/{extended['reservation_id']}/extend", headers=CAP, json={"ttl_s": 600})
    assert r.status_code == 200 and r.json()["expires_at"] == "2026-01-05T09:10:30+00:00"
    assert _available(c) == 45.0  # 100 - 30 - 20 - 5
    c.__exit__(None, None, None)  # stop the server

    clock.advance(61)  # 09:01:31: the short hold expired while the server was down
    c = app_factory(clock, sweep_interval_s=3600)
    got = c.get(f"/v1/reservations/{short['reservation_id']}").json()
    assert (got["status"], got["held_qty"], got["closed_at"]) == ("expired", 0.0, "2026-01-05T09:01:31+00:00")
    assert c.get(f"/v1/reservations/{long['reservation_id']}").json()["status"] == "active"
    assert c.get(f"/v1/reservations/{extended['reservation_id']}").json()["status"] == "active"
    assert _available(c) == 75.0  # the 30 are free again; the 20 and the 5 are held again by the replay
    trail = c.get(f"/v1/reservations/{short['reservation_id']}/audit").json()["data"]
    assert [(a["action"], a["actor"]) for a in trail][-1] == ("reservation.expire", "scheduler")
    # the expired hold cannot be converted; the long one can, with its units
    assert c.post(f"/v1/reservations/{short['reservation_id']}/convert", headers=CAP, json={"customer": "A"}).status_code == 409
    o = c.post(f"/v1/reservations/{long['reservation_id']}/convert", headers=PLAN, json={"customer": "A"})
    assert o.status_code == 201 and o.json()["lines"][0]["schedule"][0]["qty"] == 20.0
    assert _available(c) == 75.0


def test_the_scheduler_in_the_server_releases_a_hold_when_it_expires(app_factory):
    clock = Clock()
    c = app_factory(clock, sweep_interval_s=0.05)
    h = _hold(c, 40, ttl_s=120)
    time.sleep(0.2)
    assert c.get(f"/v1/reservations/{h['reservation_id']}").json()["status"] == "active"  # not yet due
    assert _available(c) == 60.0
    clock.advance(121)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and c.get(f"/v1/reservations/{h['reservation_id']}").json()["status"] == "active":
        time.sleep(0.05)
    got = c.get(f"/v1/reservations/{h['reservation_id']}").json()
    assert got["status"] == "expired"
    assert _available(c) == 100.0


def test_a_hold_created_twice_with_one_idempotency_key_is_held_once(app_factory):
    c = app_factory(Clock())
    body = {"ttl_s": 300, "lines": [{"item": "GADGET", "qty": 4, "requested_date": D1, "location": "DC-EAST"}]}
    key = {**CAP, "Idempotency-Key": "cart-9-hold"}
    first = c.post("/v1/reservations", headers=key, json=body)
    second = c.post("/v1/reservations", headers=key, json=body)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["reservation_id"] == first.json()["reservation_id"]
    assert c.get("/v1/reservations").json()["total"] == 1
    assert _available(c, item="GADGET") == 1.0  # 5 on hand - 4 held, once
    text = c.get("/v1/metrics").text
    assert "promessa_reservations_active 1" in text and "promessa_reservations_held_units 4" in text
    assert "promessa_reservations_created_total 1" in text
    other = c.post("/v1/reservations", headers=key, json={**body, "ttl_s": 301})
    assert other.status_code == 409  # the same key with another request
