"""Automatic reorder on a tiny history, every figure computed by hand.

The story: item A at DC1 has 36 on hand on the snapshot day (2026-01-05). The business clock says
2026-01-10 (day 5). Customers ordered A from DC1 for days 1..5: 2, 4, 6, 4, 4 units (20 in all,
promised from the on-hand stock). The policy looks at a 5-day window ending on the business day:

- mean = 20 / 5 = 4 a day; deviations -2, 0, 2, 0, 0 -> sample variance 8 / 4 = 2, sigma = sqrt(2);
- lead time 4 days: the receipt lands on day 9;
- service level cdf(1) = 0.8413..., so z = 1:
  ROP = 4 * 4 + 1 * sqrt(2) * sqrt(4) = 16 + 2 sqrt(2) = 18.8284...;
- cover 5 days: order up to S = ROP + 4 * 5 = 38.8284...;
- position at day 9 = 36 on hand - 20 committed = 16 <= ROP, so propose ceil(38.8284 - 16) = 23.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from promessa_testing import day

from orderbook.schemas import OrderCreate
from promessa.config import settings_of
from promessa.errors import ConflictError, ValidationError
from reorder import Policy, ReorderBook, decide, demand_stats, z_value
from reorder.planner import receipt_bucket

Z1 = NormalDist().cdf(1.0)
ROP = 16 + 2 * math.sqrt(2)
HISTORY = (2, 4, 6, 4, 4)


def test_demand_stats_and_decisions_by_hand():
    mean, sigma = demand_stats([2, 4, 6, 4, 4])
    assert mean == pytest.approx(4.0) and sigma == pytest.approx(math.sqrt(2))
    assert z_value(0.95) == pytest.approx(1.6448536, abs=1e-6)
    d = decide(Policy(service_level=0.95, cover_days=5), [2, 4, 6, 4, 4], 4, 16.0)
    assert d.reorder_point == pytest.approx(16 + 1.6448536 * math.sqrt(2) * 2, abs=1e-5)  # 20.6523
    assert d.order_up_to == pytest.approx(d.reorder_point + 20)
    assert d.qty == 25.0  # ceil(40.6523 - 16)
    assert decide(Policy(service_level=0.95, cover_days=5), [2, 4, 6, 4, 4], 4, 20.66).qty == 0  # above the ROP
    mm = decide(Policy(method="minmax", min_qty=20, max_qty=50, lot_size=5), [2, 4, 6, 4, 4], 4, 16.0)
    assert (mm.reorder_point, mm.order_up_to, mm.qty) == (20, 50, 35.0)  # 34 rounded up to a lot of 5
    assert decide(Policy(method="minmax", min_qty=20, max_qty=50), [], 4, 20.0).qty == 30  # at min: reorder
    assert decide(Policy(), [0, 0, 0], 3, 0.0).qty == 0  # no demand, nothing on hand: nothing to order


def test_a_policy_that_cannot_be_used_is_refused_by_field():
    with pytest.raises(ValidationError) as e:
        Policy().with_override({"method": "minmax", "min_qty": 5})
    assert e.value.field == "policy.max_qty"
    with pytest.raises(ValidationError) as e:
        Policy().with_override({"service_level": 1.0})
    assert e.value.field == "policy.service_level" and e.value.value == 1.0


@pytest.fixture
def book(make_snapshot, order_book_db):
    """The story's order service (business day 5) and its reorder book, on SQLite and (where one answers) PostgreSQL."""
    from orderbook.service import OrderService
    from orderbook.store import open_store

    url, schema = order_book_db
    snap = make_snapshot(supply=[("A", "DC1", 0, 36), ("B", "DC1", 0, 100)], horizon=30)
    settings = settings_of(db=url, pg_schema=schema, approval_value_threshold=None, business_date=day(5),
                           window_days=5, cover_days=5, service_level=Z1)
    store = open_store(url, pg_schema=schema)
    svc = OrderService(snap, store, settings)
    for k, q in enumerate(HISTORY, start=1):
        svc.capture(OrderCreate.model_validate({"customer": f"C{k}", "lines": [
            {"item": "A", "qty": q, "requested_date": day(k).isoformat(), "location": "DC1"}]}), actor="t")
    rb = ReorderBook(svc, settings)
    rb.set_policies([{"item": "A", "location": "DC1", "lead_time_days": 4}], actor="t")
    yield svc, rb
    svc.close()
    store.close()


def test_report_by_hand(book):
    svc, rb = book
    (ln,) = rb.report()
    assert (ln.item, ln.location, ln.business_day, ln.window_start) == ("A", "DC1", day(5), day(1))
    assert ln.demand_total == 20 and ln.demand_mean == pytest.approx(4) and ln.demand_sigma == pytest.approx(math.sqrt(2))
    assert ln.z == pytest.approx(1.0) and ln.lead_time_days == 4 and ln.receipt_date == day(9)
    assert ln.reorder_point == pytest.approx(ROP) and ln.order_up_to == pytest.approx(ROP + 20)
    assert (ln.on_hand, ln.open_supply, ln.committed, ln.position) == (36, 0, 20, 16)
    assert ln.proposed_qty == 23 and "reorder point" in ln.reason


def test_history_window_ends_on_the_business_day(book):
    svc, rb = book
    (ln,) = rb.report(today=day(4))  # window days 0..4: 0, 2, 4, 6, 4 -> mean 3.2
    assert ln.demand_total == 16 and ln.demand_mean == pytest.approx(3.2) and ln.receipt_date == day(8)
    svc.cancel(svc.orders[next(o for o, v in svc.orders.items() if v.customer == "C3")].order_id, actor="t")
    (ln,) = rb.report()  # the cancelled order's 6 units are no demand (and no longer committed)
    assert ln.demand_total == 14 and ln.committed == 14 and ln.position == 22


def test_minmax_override_and_an_item_without_lead_time(book):
    svc, rb = book
    minmax = {"item": "A", "location": "DC1", "method": "minmax", "min_qty": 20, "max_qty": 50, "lot_size": 5}
    rb.set_policies([minmax], actor="t")
    (ln,) = rb.report()  # a posted override replaces the earlier one of its item-location: no lead time now
    assert ln.proposed_qty == 0 and ln.reason.startswith("no lead time") and ln.method == "minmax"
    rb.set_policies([{**minmax, "lead_time_days": 4}], actor="t")
    (ln,) = rb.report()
    assert ln.lead_time_days == 4 and (ln.reorder_point, ln.order_up_to, ln.proposed_qty) == (20, 50, 35)
    assert rb.policies()["overrides"] == [{"item": "A", "location": "DC1", "policy": {
        **Policy.default(svc.settings.reorder).to_dict(), "method": "minmax", "min_qty": 20, "max_qty": 50, "lot_size": 5,
        "lead_time_days": 4}}]
    rb.set_policies([{"item": "B", "location": "DC1", "service_level": 0.9}], actor="t")
    b = next(x for x in rb.report() if x.item == "B")
    assert b.proposed_qty == 0 and b.reason.startswith("no lead time")


def test_propose_review_release_once(book):
    svc, rb = book
    run = rb.propose(actor="planner")
    (pid,) = run["created"]
    assert rb.propose(actor="planner")["created"] == []  # an open proposal blocks a second one
    p = rb.get(pid)
    assert (p["status"], p["qty"], p["receipt_date"]) == ("proposed", 23, day(9).isoformat())
    rb.edit(pid, qty=24, actor="planner")
    with pytest.raises(ValidationError):
        rb.edit(pid, qty=-1, actor="planner")
    snap, state = svc.pair()
    il = snap.il_of("A", "DC1")
    before = float(state.cum[il, 9])
    doc, replayed = rb.release(pid, actor="planner")
    assert not replayed and doc["status"] == "released" and doc["released"]["qty"] == 24
    assert float(svc.state.cum[il, 9]) == before + 24
    doc2, replayed2 = rb.release(pid, actor="planner")
    assert replayed2 and doc2["released"] == doc["released"]
    assert float(svc.state.cum[il, 9]) == before + 24  # released twice = once
    assert [(d.ref, d.qty, d.kind) for d in svc.supply_deltas()] == [(f"reorder:{pid}", 24, "receipt")]
    with pytest.raises(ConflictError):
        rb.edit(pid, qty=5, actor="planner")
    with pytest.raises(ConflictError):
        rb.reject(pid, actor="planner")
    (ln,) = rb.report()  # the receipt counts in the position now: 16 + 24 = 40 > ROP
    assert ln.position == 40 and ln.proposed_qty == 0


def test_reject_then_a_new_run_proposes_again(book):
    svc, rb = book
    (pid,) = rb.propose(actor="p")["created"]
    rb.reject(pid, actor="p", note="supplier closed")
    with pytest.raises(ConflictError):
        rb.release(pid, actor="p")
    (pid2,) = rb.propose(actor="p")["created"]
    assert pid2 != pid and [p["id"] for p in rb.proposals(status="proposed")] == [pid2]


def test_an_interrupted_release_is_completed_not_applied_twice(book):
    svc, rb = book
    (pid,) = rb.propose(actor="p")["created"]
    from supplydata.live import SupplyDelta

    # the delta was written, then the process died before the proposal was marked released
    svc.apply_supply_deltas([SupplyDelta("A", "DC1", day(9), 23.0, "receipt", f"reorder:{pid}")], actor="p")
    again = ReorderBook(svc, svc.settings)  # opening the book completes it
    doc = again.get(pid)
    assert doc["status"] == "released" and doc["released"]["recovered"] is True
    assert again.release(pid, actor="p")[1] is True
    assert len(svc.supply_deltas()) == 1


def test_working_day_lead_time_counts_open_days_after_the_business_day(make_snapshot):
    # 2026-01-05 is a Monday; DC1's calendar closes Saturday and Sunday (days 5, 6)
    snap = make_snapshot(supply=[("A", "DC1", 0, 1)], location_calendar={"DC1": "WK"},
                         calendars={"WK": [(5, False), (6, False)]})
    il = snap.il_of("A", "DC1")
    assert receipt_bucket(snap, il, 3, 2, working=True) == (7, "2 working days of calendar WK")  # Thu + Fri, Mon
    assert receipt_bucket(snap, il, 3, 2, working=False) == (5, "2 calendar days")
    assert receipt_bucket(snap, il, 28, 5, working=False)[0] is None  # past the 30-day horizon


def test_cli_report_propose_release_with_a_policies_file(make_snapshot, tmp_path, monkeypatch, capsys):
    """`promessa reorder ...` on the story's order book, the lead time from a CSV policies file."""
    import json

    from orderbook.service import OrderService
    from orderbook.store import open_store
    from promessa.cli import main

    snap = make_snapshot(supply=[("A", "DC1", 0, 36)], horizon=30)
    db = str(tmp_path / "cli.sqlite")
    store = open_store(db)
    svc = OrderService(snap, store, settings_of(db=db, approval_value_threshold=None))
    for k, q in enumerate(HISTORY, start=1):
        svc.capture(OrderCreate.model_validate({"customer": f"C{k}", "lines": [
            {"item": "A", "qty": q, "requested_date": day(k).isoformat(), "location": "DC1"}]}), actor="t")
    svc.close()
    store.close()
    policies = tmp_path / "policies.csv"
    policies.write_text("item,location,lead_time_days,service_level,window_days,cover_days\nA,DC1,4,%r,5,5\n" % Z1)
    monkeypatch.setenv("PROMESSA_REORDER__POLICIES_FILE", str(policies))
    common = ["--snapshot", snap.source, "--db", db]
    assert main(["reorder", "report", *common, "--today", day(5).isoformat(), "--format", "json"]) == 0
    (ln,) = json.loads(capsys.readouterr().out)["lines"]
    assert ln["reorder_point"] == pytest.approx(ROP, abs=1e-6) and ln["proposed_qty"] == 23
    assert main(["reorder", "propose", *common, "--today", day(5).isoformat()]) == 0
    out = capsys.readouterr().out
    assert "created: RO-000001" in out and "23" in out
    assert main(["reorder", "release", *common, "RO-000001"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] is False
    assert main(["reorder", "release", *common, "RO-000001"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] is True
    assert main(["reorder", "proposals", *common, "--status", "released"]) == 0
    assert "RO-000001  released" in capsys.readouterr().out
    assert main(["reorder", "reject", *common, "RO-000001"]) == 2  # released is final
    assert "only a proposed one" in capsys.readouterr().err


def test_posted_overrides_are_checked_over_the_files(book, tmp_path):
    svc, _ = book
    f = tmp_path / "p.yaml"
    f.write_text("- {item: A, location: DC1, method: minmax, min_qty: 5, max_qty: 10, lead_time_days: 2}\n")
    rb = ReorderBook(svc, settings_of(db="unused", policies_file=f, business_date=day(5)))
    with pytest.raises(ValidationError) as e:
        rb.set_policies([{"item": "A", "location": "DC1", "max_qty": 3}], actor="t")  # below the file's min_qty
    assert (e.value.field, e.value.value) == ("policies.0.max_qty", 3.0)
    rb.set_policies([{"item": "A", "location": "DC1", "max_qty": 30}], actor="t")  # the API's row over the file's
    (ln,) = rb.report()
    assert (ln.method, ln.lead_time_days, ln.reorder_point, ln.order_up_to) == ("minmax", 2, 5, 30)
    assert (ln.position, ln.proposed_qty) == (36 - 2 - 4 - 6 - 4 - 4, 0)  # 16 > 5: no purchase
    bad = tmp_path / "bad.csv"
    bad.write_text("item,location,colour\nA,DC1,red\n")
    with pytest.raises(ValidationError) as e:
        ReorderBook(svc, settings_of(db="unused", policies_file=bad))
    assert e.value.field == "bad.csv[0].colour"
