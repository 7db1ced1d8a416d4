"""The live engine on the compact supply form: the same answers as on the dense form, and clean refusals.

1. A property: random networks written as snapshot directories (whole and half units, past-due rows,
   lead times in calendar and working days, closed days) are loaded by both loaders
   (`supplydata.load_snapshot`, `supplydata.sparse.load_compact`); the same stream of engine calls
   (`promise` with and without commit under every policy flag, `promise_many`, `release`, `commit`,
   `reserve_many`, supply adjustments) runs on both forms, and every answer, every "fits" and every
   position afterwards is identical.
2. A story through the HTTP API with ``supply.form=compact`` (hand-computed figures), restarted on the
   same order book (the commitments rebuilt from it), and refreshed.
3. The refusals: at start-up (allocation, bills, substitutes; real-time sourcing) and per request (the
   time-phased ATP report, pegging asked by name, what-if, rescheduling), each naming the feature and
   the setting.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promessa.errors import FormUnsupported
from promising import Policy, Request
from promising import engine as eng
from promising.reservation import Draw
from supplydata import load_snapshot
from supplydata.sparse import CompactSnapshot, CompactState, load_compact
from supplydata.writer import write_snapshot

AS_OF = dt.date(2026, 1, 5)
SETTINGS = settings(max_examples=int(os.environ.get("COMPACT_ENGINE_EXAMPLES", 40)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
half_units = st.integers(1, 24).map(lambda k: k / 2.0)

_spec = importlib.util.spec_from_file_location("server_conftest", Path(__file__).parents[1] / "server" / "conftest.py")
server_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(server_conftest)


def day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


@st.composite
def networks(draw):
    """Tables of a random network: items I0.., locations L0.. (some on a calendar), supply and demand rows."""
    H = draw(st.integers(5, 40))
    n_items, n_locs = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    items = [{"item": f"I{i}", "price": 1.0, "cost": 0.5, "category": "c",
              "lead_time_days": draw(st.one_of(st.none(), st.integers(0, H + 2))),
              "lead_time_working_days": draw(st.booleans())} for i in range(n_items)]
    locations = [{"location": f"L{j}", "kind": "dc", "zone": "Z", "calendar": draw(st.sampled_from([None, "WK"]))}
                 for j in range(n_locs)]
    cal = [{"calendar": "WK", "date": day(d), "open": draw(st.booleans())} for d in range(H)]
    rows = {}
    for name, per in (("supply", 5), ("demand", 3)):
        n = draw(st.integers(0 if name == "demand" else 1, per * n_items))
        rows[name] = [{"item": f"I{draw(st.integers(0, n_items - 1))}", "location": f"L{draw(st.integers(0, n_locs - 1))}",
                       "date": day(draw(st.integers(-2, H - 1))), "qty": draw(half_units), "kind": "purchase",
                       "ref": f"{name[0]}{k}"} for k in range(n)]
    return H, {"items": items, "locations": locations, "calendars": cal, **rows}


def load_both(H: int, tables: dict, where: Path):
    path = write_snapshot(where, tables, as_of=AS_OF, horizon_days=H)
    return load_snapshot(path), load_compact(path)


@st.composite
def calls(draw, H: int, pairs: list[tuple[str, str]]):
    kind = draw(st.sampled_from(["promise", "promise", "promise", "many", "release", "commit", "adjust", "replay"]))
    item, loc = draw(st.sampled_from(pairs))
    policy = Policy(allow_partial=draw(st.booleans()), allow_split=draw(st.booleans()), backorder=draw(st.booleans()),
                    max_late_days=draw(st.one_of(st.none(), st.integers(0, H))), max_lines=draw(st.integers(1, 8)))
    return dict(kind=kind, item=item, loc=loc, qty=draw(half_units), day=draw(st.integers(-1, H - 1)),
                policy=policy, commit=draw(st.booleans()), sign=draw(st.sampled_from([1.0, -1.0])))


def answer(p):
    return (p.status, p.reason, [(ln.date, ln.qty) for ln in p.lines], p.earliest_full_date, p.committed)


@pytest.mark.slow
@SETTINGS
@given(data=st.data(), net=networks())
def test_the_engine_answers_the_same_on_both_forms(data, net):
    H, tables = net
    with tempfile.TemporaryDirectory() as tmp:
        dense, compact = load_both(H, tables, Path(tmp) / "snap")
    assert isinstance(compact, CompactSnapshot) and compact.n_il == dense.n_il
    ds, cs = dense.new_state(), compact.new_state()
    assert isinstance(cs, CompactState)
    pairs = [dense.il_name(il) for il in range(dense.n_il)]
    committed: list[Draw] = []
    for _ in range(data.draw(st.integers(1, 25))):
        c = data.draw(calls(H, pairs))
        req = Request(c["item"], c["loc"], c["qty"], day(c["day"]), c["policy"])
        if c["kind"] == "promise":
            a = eng.promise(dense, ds, req, commit=c["commit"], explain=False)
            b = eng.promise(compact, cs, req, commit=c["commit"], explain=False)
            assert answer(a) == answer(b)
            if a.committed:
                committed += a.reservation.draws
        elif c["kind"] == "many":
            reqs = [req, Request(*data.draw(st.sampled_from(pairs)), c["qty"] * 2, day(0), c["policy"])]
            assert [answer(p) for p in eng.promise_many(dense, ds, reqs)] == \
                   [answer(p) for p in eng.promise_many(compact, cs, reqs)]
        elif c["kind"] == "release" and committed:
            d = committed.pop(data.draw(st.integers(0, len(committed) - 1)))
            eng.release(dense, ds, d.key, d.location, d.date, d.qty)
            eng.release(compact, cs, d.key, d.location, d.date, d.qty)
        elif c["kind"] == "commit":
            assert eng.commit(dense, ds, c["item"], c["loc"], day(c["day"]), c["qty"]) == \
                   eng.commit(compact, cs, c["item"], c["loc"], day(c["day"]), c["qty"])
            committed.append(Draw("atp", c["item"], c["loc"], dense.date(dense.bucket(day(c["day"]))), c["qty"]))
        elif c["kind"] == "adjust":
            il, b = dense.il_of(c["item"], c["loc"]), dense.bucket(day(c["day"]))
            assert ds.min_from(il, b) == cs.min_from(compact.il_of(c["item"], c["loc"]), b)
            ds.adjust_supply(il, b, c["sign"] * c["qty"])
            cs.adjust_supply(il, b, c["sign"] * c["qty"])
        elif c["kind"] == "replay" and committed:
            sign = +1 if c["sign"] > 0 else -1
            ra = eng.reserve_many(dense, ds, committed, sign=sign)
            rb = eng.reserve_many(compact, cs, committed, sign=sign)
            assert (ra.not_fitting, ra.errors) == (rb.not_fitting, rb.errors)
            if sign < 0:
                committed = []
    for il in range(dense.n_il):
        assert np.array_equal(cs.position(il), ds.cum[il])


# ---------------------------------------------------------------- stories


def test_a_story_through_the_engine_on_the_compact_form(make_snapshot):
    """I0 at L0: 3 on hand, 4 more on day 6; lead time none. Hand-computed answers."""
    snap = make_snapshot(supply=[("I0", "L0", 0, 3), ("I0", "L0", 6, 4)], horizon=20)
    path = Path(snap.source)
    c = load_compact(path)
    st_ = c.new_state()
    split = Policy(allow_partial=True, allow_split=True)
    p = eng.promise(c, st_, Request("I0", "L0", 5, day(2), split), commit=True)
    # 3 on day 2, the other 2 from the receipt on day 6
    assert [(ln.date, ln.qty) for ln in p.lines] == [(day(2), 3.0), (day(6), 2.0)] and p.committed
    assert p.pegs == () and p.details == eng.NO_PEGGING  # explain asked: no pegs, and the details say why
    left = eng.promise(c, st_, Request("I0", "L0", 5, day(0), split), explain=False)
    assert left.promised_qty == 2.0 and [(ln.date, ln.qty) for ln in left.lines] == [(day(6), 2.0)]
    eng.release(c, st_, "I0", "L0", day(2), 3)  # 3 back on day 2
    assert eng.promise(c, st_, Request("I0", "L0", 3, day(2)), explain=False).lines[0].date == day(2)
    st_.adjust_supply(c.il_of("I0", "L0"), 0, -4)  # 4 on hand lost: 3 - 4 = -1 from day 0, 1 on day 6 (-1 + 4 - 2)
    assert st_.min_from(c.il_of("I0", "L0"), 0) == -1.0
    late = eng.promise(c, st_, Request("I0", "L0", 1, day(0)), explain=False)  # nothing before day 6, 1 from it
    assert late.status.name == "LATE" and [(ln.date, ln.qty) for ln in late.lines] == [(day(6), 1.0)]
    with pytest.raises(FormUnsupported, match="supply.form=compact"):
        st_.cum  # noqa: B018 - a dense-only reader is refused, never answered from the wrong form


def _client(tmp: Path, snap, *, form: str = "compact"):
    from fastapi.testclient import TestClient

    from server import create_app

    settings = server_conftest._make_settings((str(tmp / "ob.sqlite"), "unused"), form=form, location_choice="zone",
                                              roots=[tmp])
    return TestClient(create_app(settings, snapshot=snap), headers=server_conftest.VIEW)


def _story(tmp: Path, form: str) -> list:
    """The HTTP story of tests/server (WIDGET: 100 on hand at DC-EAST and 50 on Jan 15, 20 at DC-WEST;
    SCARCE: 40 at DC-EAST) on one supply form, with hand-computed checks; returns every answer (less
    pegging, which the compact form does not give)."""
    CAP, PLAN, ADMIN = server_conftest.CAP, server_conftest.PLAN, server_conftest.ADMIN
    sdir = server_conftest.write_snapshot(tmp / "snap")
    load = load_compact if form == "compact" else load_snapshot
    seen: list = []
    on_time = {"allow_partial": True, "max_late_days": 0}

    def keep(x):
        if isinstance(x, dict):
            return {k: keep(v) for k, v in x.items() if k not in ("pegs", "details", "created_at", "updated_at", "at",
                                                                  "order_id", "version", "message")}
        return [keep(v) for v in x] if isinstance(x, list) else x

    def order(c, item, qty, date="2026-01-06", zone="EAST", **kw):
        r = c.post("/v1/orders", json={"customer": "ACME", "zone": zone, "lines": [
            {"item": item, "qty": qty, "requested_date": date, **kw}]}, headers=CAP)
        assert r.status_code == 201, r.text
        seen.append(keep(r.json()["lines"]))
        return r.json()

    def inquire(c, item, qty, date="2026-01-06", **kw):
        r = c.post("/v1/availability", json={"lines": [{"item": item, "qty": qty, "requested_date": date, **kw}]})
        assert r.status_code == 200, r.text
        seen.append(keep(r.json()))
        return r.json()["lines"][0]

    with _client(tmp, load(sdir), form=form) as c:
        o = order(c, "WIDGET", 30)
        ln = o["lines"][0]
        assert o["status"] == "scheduled" and ln["location"] == "DC-EAST"
        assert ln["schedule"] == [{"date": "2026-01-06", "qty": 30.0, "shipped_qty": 0.0}]
        assert ln["promise"]["status"] == "full" and ln["promise"]["committed"] is True
        # 100 - 30 = 70 on hand: 71 is late, on Jan 15 (70 + 50)
        a = inquire(c, "WIDGET", 71, location="DC-EAST")
        assert a["status"] == "late" and a["lines"] == [{"date": "2026-01-15", "qty": 71.0, "item": "WIDGET"}]
        assert a["committed"] is False
        short = order(c, "SCARCE", 50)  # 40 on hand
        assert short["status"] == "backordered" and short["lines"][0]["promised_qty"] == 40.0
        r = c.get("/v1/jeopardy")  # backorders dated from current supply: a batch inquiry on the served form
        assert r.status_code == 200, r.text
        seen.append(keep(r.json()))
        # the monitor's exceptions and the console's pickers read the catalogue (the compact form keeps no supply rows)
        for path, params in (("/v1/exceptions", {"by": "item"}), ("/v1/console/catalogue", {})):
            r = c.get(path, params=params, headers=PLAN)
            assert r.status_code == 200, r.text
            seen.append(keep(r.json()))
        assert [(d["key"], d["lines"]) for d in seen[-2]["data"]] == [("SCARCE", 1)]
        # by supplier: the backorder's 40 promised are pegged to on-hand stock on the dense form; no pegs on the compact
        r = c.get("/v1/exceptions", params={"by": "supplier"}, headers=PLAN)
        assert r.status_code == 200, r.text
        assert [d["key"] for d in r.json()["data"]] == ["(unpegged)" if form == "compact" else "(on hand)"]
        # the zone chooser: WEST is served by DC-WEST (20)
        assert order(c, "WIDGET", 5, zone="WEST")["lines"][0]["location"] == "DC-WEST"
        # change: 30 -> 12 on Jan 20; the 30 on Jan 6 go back
        r = c.patch(f"/v1/orders/{o['order_id']}", json={"lines": [{"line": 1, "qty": 12, "requested_date": "2026-01-20"}]},
                    headers=CAP)
        assert r.status_code == 200, r.text
        seen.append(keep(r.json()["lines"]))
        assert inquire(c, "WIDGET", 100, location="DC-EAST")["status"] == "full"  # 100 on Jan 6 again
        assert inquire(c, "WIDGET", 101, location="DC-EAST")["status"] == "late"
        # a supply delta: 95 of the 100 on hand lost; 5 left, and the 12 on Jan 20 are still covered (5 + 50 - 12)
        r = c.post("/v1/supply/deltas", json={"deltas": [{"item": "WIDGET", "location": "DC-EAST", "date": "2026-01-05",
                                                          "qty": -95}]}, headers=PLAN)
        assert r.status_code == 200 and r.json()["uncovered"] == []
        # and 60 more lost: 5 - 60 = -55 until Jan 15, then -5 - 12 = -17: the 12 on Jan 20 are uncovered
        r = c.post("/v1/supply/deltas", json={"deltas": [{"item": "WIDGET", "location": "DC-EAST", "date": "2026-01-05",
                                                          "qty": -60}]}, headers=PLAN)
        assert r.json()["uncovered"] == [{"item": "WIDGET", "location": "DC-EAST", "date": "2026-01-05", "short": 55.0}]
        r = c.post("/v1/supply/deltas", json={"deltas": [{"item": "WIDGET", "location": "DC-EAST", "date": "2026-01-05",
                                                          "qty": 60}]}, headers=PLAN)
        assert inquire(c, "WIDGET", 6, location="DC-EAST", policy=on_time)["promised_qty"] == 5.0
        # cancel the SCARCE order: its 40 come back
        assert c.post(f"/v1/orders/{short['order_id']}/cancel", headers=CAP).status_code == 200
        assert inquire(c, "SCARCE", 40, location="DC-EAST")["status"] == "full"
        # a temporary hold of 15 SCARCE: 25 left; released: 40 again
        r = c.post("/v1/reservations", headers=CAP, json={"ttl_s": 600, "lines": [
            {"item": "SCARCE", "qty": 15, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
        assert r.status_code == 201, r.text
        assert inquire(c, "SCARCE", 40, location="DC-EAST", policy=on_time)["promised_qty"] == 25.0
        r = c.post(f"/v1/reservations/{r.json()['reservation_id']}/release", headers=CAP, json={"note": "cart abandoned"})
        assert r.status_code == 200, r.text
        assert inquire(c, "SCARCE", 40, location="DC-EAST", policy=on_time)["promised_qty"] == 40.0
    # a restart on the same order book rebuilds the commitments and the deltas from it
    with _client(tmp, load(sdir), form=form) as c:
        assert inquire(c, "WIDGET", 6, location="DC-EAST", policy=on_time)["promised_qty"] == 5.0
        # from Jan 20 on: 5 + 50 - 12 = 43
        assert inquire(c, "WIDGET", 44, "2026-01-20", location="DC-EAST", policy=on_time)["promised_qty"] == 43.0
        # a refresh from the same extract, built in the same form: an extract without a journal_seq carries every
        # delta so far (the deltas retire) and none of the commitments (replayed): 100 + 50 - 12 = 138 from Jan 20
        r = c.post("/v1/snapshot/refresh", params={"wait": True}, json={"directory": str(sdir)}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["report"]["exceptions"] == [] and c.get("/v1/snapshot").json()["refreshes"] == 1
        assert inquire(c, "WIDGET", 139, "2026-01-20", location="DC-EAST", policy=on_time)["promised_qty"] == 138.0
        assert inquire(c, "WIDGET", 101, location="DC-EAST", policy=on_time)["promised_qty"] == 100.0  # the 12 come after the 50
    return seen


def test_a_story_through_the_api_with_the_compact_setting(tmp_path):
    """Captures, inquiries, a change, a cancel, a temporary hold, supply deltas (one uncovering a commitment), a restart that
    rebuilds the commitments from the order book, and a refresh: on the compact form the hand-computed
    figures hold, and every answer is the dense form's."""
    compact = _story(tmp_path / "compact", "compact")
    assert compact == _story(tmp_path / "dense", "dense")


# ---------------------------------------------------------------- refusals


def test_what_the_compact_form_does_not_run_is_refused_per_request(tmp_path):
    sdir = server_conftest.write_snapshot(tmp_path / "snap")
    with _client(tmp_path, load_compact(sdir)) as c:
        for r in (c.get("/v1/atp/WIDGET/DC-EAST"),
                  c.get("/v1/commitments"),
                  c.get("/v1/reorder/report", headers=server_conftest.PLAN),
                  c.post("/v1/availability", json={"explain": True, "lines": [
                      {"item": "WIDGET", "qty": 1, "requested_date": "2026-01-06", "location": "DC-EAST"}]}),
                  c.post("/v1/scenarios", json={"scenarios": [{"name": "x"}]}, headers=server_conftest.PLAN),
                  c.post("/v1/backlog/reschedule", json={"mode": "simulate"}, headers=server_conftest.PLAN)):
            assert r.status_code == 409, r.text
            assert "supply.form=compact" in r.json()["detail"] and "supply.form=dense" in r.json()["hint"]
        assert "time-phased ATP report" in c.get("/v1/atp/WIDGET/DC-EAST").json()["detail"]
        # a refresh to an extract with bills (capable-to-promise) is refused; the live snapshot stays
        bom = server_conftest.write_snapshot(tmp_path / "bom")
        (bom / "bom.csv").write_text("item,location,component,qty_per,resource,usage_per_unit,lead_time_days\n"
                                     "GADGET,DC-EAST,WIDGET,2,,,1\n")
        r = c.post("/v1/snapshot/refresh", params={"wait": True}, json={"directory": str(bom)},
                   headers=server_conftest.ADMIN)
        assert r.status_code == 409 and "capable-to-promise (bills of material)" in r.json()["detail"]
        status = c.get("/v1/snapshot").json()
        assert status["refreshes"] == 0 and "supply.form=compact" in status["last_error"]["message"]


def test_what_the_compact_form_does_not_run_is_refused_at_start_up(tmp_path):
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata.writer import write_snapshot as write

    sdir = server_conftest.write_snapshot(tmp_path / "snap")
    base = dict(db=str(tmp_path / "ob.sqlite"), form="compact", location_choice="zone")
    # real-time sourcing (the default location choice) reads dense positions at every candidate node
    with pytest.raises(FormUnsupported, match=r"real-time sourcing.*supply.form=compact"):
        Engine.open(settings_of(**{**base, "location_choice": "sourcing"}, snapshot=sdir), warm=False, expiry=False)
    # a snapshot with quota pools
    alloc = write(tmp_path / "alloc", {"items": [{"item": "A", "price": 1.0, "cost": 1.0, "category": "c"}],
                                       "locations": [{"location": "L", "kind": "dc", "zone": "Z"}],
                                       "supply": [{"item": "A", "location": "L", "date": AS_OF, "qty": 5.0, "kind": "onhand"}],
                                       "demand_classes": [{"demand_class": "gold", "priority": 1}],
                                       "allocation": [{"item": "A", "location": "L", "demand_class": "gold", "date": AS_OF,
                                                       "qty": 2.0}]}, as_of=AS_OF, horizon_days=10)
    with pytest.raises(FormUnsupported, match=r"allocation \(quota pools.*1 allocation rows.*supply.form=compact"):
        Engine.open(settings_of(**base, snapshot=alloc), warm=False, expiry=False)
    # a dense snapshot handed to a compact engine
    with pytest.raises(Exception, match="supply.form"):
        Engine.open(settings_of(**base), snapshot=load_snapshot(sdir), warm=False, expiry=False)
    # the dense form stays the default
    assert settings_of().supply.form == "dense"


def test_the_live_pair_on_the_compact_form_takes_deltas_and_refreshes(make_snapshot):
    """`supplydata.live.LiveSupply` without an order book: I0 at L0 has 10 on hand; 6 committed on day 1."""
    from supplydata.live import LiveSupply, SupplyDelta

    path = Path(make_snapshot(supply=[("I0", "L0", 0, 10)], horizon=10).source)
    live = LiveSupply(load_compact(path))
    live.loader = load_compact
    assert eng.commit(live.snapshot, live.state, "I0", "L0", day(1), 6)
    # 5 of the 10 lost: 10 - 5 - 6 = -1 from day 1, the commitment is uncovered by 1
    out = live.apply_deltas([SupplyDelta("I0", "L0", day(0), -5.0)])
    assert out["uncovered"] == [{"item": "I0", "location": "L0", "date": day(0).isoformat(), "short": 1.0}]
    report = live.refresh(path)  # built compact again; without a replayer nothing is carried over
    assert report["as_of"] == AS_OF.isoformat() and isinstance(live.state, CompactState)
    assert eng.promise(live.snapshot, live.state, Request("I0", "L0", 10, day(1)), explain=False).status.name == "FULL"


# ---------------------------------------------------------------- what the compact snapshot keeps


def test_the_compact_loader_drops_the_supply_and_demand_rows(tmp_path):
    """The compact snapshot keeps the small tables the live engine reads (items, locations, lanes, ...) as the
    dense one does, not the supply and demand rows: reading them is refused by name, their row counts stay
    in the status, and the tables given to the encoder are left as they were."""
    from supplydata.sparse import build_compact_from_tables

    sdir = server_conftest.write_snapshot(tmp_path / "snap")
    dense, compact = load_snapshot(sdir), load_compact(sdir)
    assert "supply" not in compact.tables and "demand" not in compact.tables
    for name in ("items", "locations", "lanes", "calendars"):
        assert compact.tables[name].equals(dense.tables[name]), name
    for read in (lambda: compact.tables["supply"], lambda: compact.tables.get("demand")):
        with pytest.raises(FormUnsupported, match=r"supply table's rows|demand table's rows"):
            read()
    assert compact.status()["rows"] == dense.status()["rows"]
    assert compact.status()["rows"]["supply"] == dense.tables["supply"].height > 0
    again = build_compact_from_tables(dense.meta, dense.tables)
    assert "supply" in dense.tables and dense.tables["supply"].height == compact.status()["rows"]["supply"]
    assert "supply" not in again.tables


def test_the_monitor_keeps_the_supplier_of_each_receipt_on_the_compact_form(tmp_path):
    """Of the supply rows the compact snapshot keeps the monitor's supplier per receipt ref: the first row of
    a ref, as the catalogue takes it, and only where it names a supplier (tables given with a ``supplier``
    column, which the schema's files do not carry)."""
    import polars as pl

    from monitoring.frames import Catalogue
    from supplydata.snapshot import build_snapshot
    from supplydata.sparse import build_compact_from_tables, supply_refs_frame

    dense = load_snapshot(server_conftest.write_snapshot(tmp_path / "snap"))
    assert supply_refs_frame(dense.tables["supply"]).height == 0  # the schema's supply rows name no supplier
    tables = dict(dense.tables)
    # OH-1..OH-5 and PO-1 in file order; PO-1 named twice, first by BOLT
    sup = tables["supply"]
    tables["supply"] = pl.concat([sup, sup.slice(1, 1)]).with_columns(
        supplier=pl.Series([None, "BOLT", None, None, "ACME", None, "OTHER"]))
    compact, dense = build_compact_from_tables(dense.meta, tables), build_snapshot(dense.meta, tables)
    assert compact.supply_refs.rows() == [("PO-1", "purchase", "BOLT"), ("OH-4", "onhand", "ACME")]
    # the monitor's catalogue: on the dense form a supplier per ref (null where none), on the compact the named ones
    named = Catalogue.of(dense).supply.filter(pl.col("supplier").is_not_null()).sort("ref")
    assert Catalogue.of(compact).supply.sort("ref").rows() == named.rows() == [
        ("OH-4", "onhand", "ACME"), ("PO-1", "purchase", "BOLT")]
