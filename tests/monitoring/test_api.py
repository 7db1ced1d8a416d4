"""The monitoring routes over HTTP (api/routes/monitoring.py) on the real app, over the story's order
book (conftest.py), evaluated on 2026-01-12 (see test_jeopardy.py for the hand-computed levels)."""

from __future__ import annotations

import datetime as dt
import types

import pytest
from fastapi.testclient import TestClient

from api.app import build_app
from monitoring.config import MonitoringConfig
from monitoring.jeopardy import EventLog
from monitoring.monitor import Monitor
from promessa.config import Role, settings_of

TODAY = dt.date(2026, 1, 12)
KEYS = {"view": Role.VIEWER, "plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE}


def monitoring_app(monitor: Monitor | None = None):
    """The API app (every router, the error handlers, the key checks) serving `monitor`."""
    app = build_app(settings_of(api_keys=KEYS))
    if monitor is not None:
        app.state.monitor = monitor
    return app


@pytest.fixture
def monitor(book, tmp_path):
    svc = book[0]
    return Monitor.of_service(svc, MonitoringConfig(event_log=tmp_path / "events.jsonl"), today=lambda: TODAY)


@pytest.fixture
def client(monitor):
    """Reads as a viewer; the scan (a write to the event log) as a planner."""
    with TestClient(monitoring_app(monitor), headers={"X-API-Key": "view"}) as c:
        yield c


def test_every_monitoring_route_needs_a_key_and_the_scan_a_planner(monitor):
    anon = TestClient(monitoring_app(monitor))
    for path in ("/v1/jeopardy", "/v1/jeopardy/events", "/v1/exceptions", "/v1/exceptions/lines", "/v1/reports/customers",
                 "/v1/console/atp/WIDGET/DC-EAST", "/v1/console/catalogue"):
        assert anon.get(path).status_code == 401, path
        assert anon.get(path, headers={"X-API-Key": "cap"}).status_code == 403, path  # order capture: no planning reads
    assert anon.post("/v1/jeopardy/scan").status_code == 401
    assert anon.post("/v1/jeopardy/scan", headers={"X-API-Key": "view"}).status_code == 403
    assert anon.get("/v1/console").status_code == 200  # the static page; its data needs the key


def test_jeopardy(client, letters):
    r = client.get("/v1/jeopardy")
    assert r.status_code == 200
    body = r.json()
    assert body["today"] == "2026-01-12"
    assert body["counts"] == {"ok": 1, "watch": 0, "warning": 3, "critical": 1}
    got = {letters[o["order_id"]]: (o["level"], o["days_late"]) for o in body["orders"]}
    assert got == {"A": ("warning", 6), "B": ("ok", 0), "C": ("warning", 6), "D": ("critical", None), "E": ("warning", 4)}
    assert body["orders"][0]["reason_text"].startswith("not all units promised")
    assert body.get("lines") is None
    # a day as a parameter, a level floor and the lines
    r = client.get("/v1/jeopardy", params={"today": "2026-01-13", "min_level": "critical", "lines": "true"})
    body = r.json()
    assert sorted(letters[o["order_id"]] for o in body["orders"]) == ["A", "C", "D"]
    assert body["total"] == 3 and len(body["lines"]) == 4  # C has two open lines
    assert client.get("/v1/jeopardy", params={"min_level": "dire"}).status_code == 422
    assert client.get("/v1/jeopardy", params={"today": "yesterday"}).status_code == 422


def test_jeopardy_filters_and_paging(client, letters):
    # worst first on 2026-01-12: D (critical), A and C (warning, 6 days), E (warning, 4), B (ok)
    body = client.get("/v1/jeopardy", params={"limit": 2, "offset": 3}).json()
    assert [letters[o["order_id"]] for o in body["orders"]] == ["E", "B"]
    assert (body["total"], body["offset"], body["limit"]) == (5, 3, 2)
    body = client.get("/v1/jeopardy", params={"level": "warning"}).json()
    assert sorted(letters[o["order_id"]] for o in body["orders"]) == ["A", "C", "E"] and body["total"] == 3
    assert body["counts"] == {"ok": 1, "watch": 0, "warning": 3, "critical": 1}  # the chips keep every level
    body = client.get("/v1/jeopardy", params={"customer": "C2"}).json()
    assert [letters[o["order_id"]] for o in body["orders"]] == ["E", "B"]
    assert body["counts"] == {"ok": 1, "watch": 0, "warning": 1, "critical": 0} and body["total"] == 2
    e_id = next(o for o, letter in letters.items() if letter == "E")
    body = client.get("/v1/jeopardy", params={"order": e_id[-6:]}).json()
    assert [o["order_id"] for o in body["orders"]] == [e_id]
    assert client.get("/v1/jeopardy", params={"offset": 10}).json()["orders"] == []
    r = client.get("/v1/jeopardy", params={"level": "dire"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "level"] and "dire" in r.text
    assert client.get("/v1/jeopardy", params={"offset": -1}).status_code == 422


def test_exceptions_paging_and_drill_filters(client, letters):
    body = client.get("/v1/exceptions", params={"by": "customer", "today": "2026-01-16", "limit": 1, "offset": 1}).json()
    assert [d["key"] for d in body["data"]] == ["C2"]
    assert (body["total_keys"], body["total_lines"], body["offset"], body["limit"]) == (3, 5, 1, 1)
    body = client.get("/v1/exceptions/lines", params={"today": "2026-01-16", "limit": 2, "offset": 4}).json()
    assert (body["count"], body["total"], body["offset"]) == (1, 5, 4)
    body = client.get("/v1/exceptions/lines", params={"today": "2026-01-16", "kind": "backorder"}).json()
    assert [letters[x["order_id"]] for x in body["data"]] == ["D"] and body["total"] == 1
    body = client.get("/v1/exceptions/lines", params={"today": "2026-01-16", "level": "watch", "by": "supplier",
                                                       "key": "ACME"}).json()
    assert [letters[x["order_id"]] for x in body["data"]] == ["B"]
    r = client.get("/v1/exceptions/lines", params={"level": "dire"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "level"]
    assert client.get("/v1/exceptions/lines", params={"kind": "late"}).status_code == 422


def test_scan_and_events(client, letters, tmp_path):
    plan = {"X-API-Key": "plan"}
    r = client.post("/v1/jeopardy/scan", headers=plan)
    assert r.status_code == 200
    assert sorted((letters[e["order_id"]], e["to_level"]) for e in r.json()["events"]) == [
        ("A", "warning"), ("C", "warning"), ("D", "critical"), ("E", "warning")]
    assert r.json()["webhook"] is None
    assert client.post("/v1/jeopardy/scan", headers=plan).json()["events"] == []
    r = client.post("/v1/jeopardy/scan", params={"today": "2026-01-13"}, headers=plan)
    assert sorted(letters[e["order_id"]] for e in r.json()["events"]) == ["A", "C"]
    ev = client.get("/v1/jeopardy/events", params={"limit": 3}).json()
    assert ev["count"] == 3 and ev["data"][0]["to_level"] == "critical"  # newest first
    assert len(EventLog(tmp_path / "events.jsonl").read()) == 6


def test_exceptions(client, letters):
    r = client.get("/v1/exceptions", params={"by": "customer", "today": "2026-01-16"})
    assert r.status_code == 200
    body = r.json()
    assert (body["total_lines"], body["total_orders"]) == (5, 5)
    assert [(d["key"], d["lines"], d["backorder_lines"]) for d in body["data"]] == [("C1", 2, 0), ("C2", 2, 0), ("C3", 1, 1)]
    r = client.get("/v1/exceptions", params={"by": "supplier", "today": "2026-01-16"})
    assert [(d["key"], d["lines"]) for d in r.json()["data"]] == [("(on hand)", 5), ("ACME", 1)]
    r = client.get("/v1/exceptions/lines", params={"by": "supplier", "key": "ACME", "today": "2026-01-16"})
    d = r.json()["data"]
    assert [(letters[x["order_id"]], x["reason"], x["level"]) for x in d] == [("B", "not_shipped", "watch")]
    assert client.get("/v1/exceptions", params={"by": "planet"}).status_code == 422
    assert client.get("/v1/exceptions/lines", params={"by": "customer"}).status_code == 422


def test_trends_group_by_the_date_the_planner_picks(client):
    """Lines per day: by the orders' business dates (A B on 01-05; C1 C2 D on 01-06; E F on 01-07), by the
    requested dates (A C1 C2 E F 01-06, B 01-07, D 01-10) and by the promised dates (A C2 E F 01-06; D's one
    unit 01-10: the on-hand 2 GADGET stay available to 01-10 as C1 takes its 4 from 01-20; B 01-15 with PO-1;
    C1 01-20 with PO-2); G is cancelled."""
    def lines_by(field):
        r = client.get("/v1/reports/trends", params={"date_field": field})
        assert r.status_code == 200 and r.json()["date_field"] == field
        return [(d["period"][5:], d["lines"]) for d in r.json()["data"]]

    assert lines_by("order_date") == [("01-05", 2), ("01-06", 3), ("01-07", 2)]
    assert lines_by("requested_date") == [("01-06", 5), ("01-07", 1), ("01-10", 1)]
    assert lines_by("promised_date") == [("01-06", 4), ("01-10", 1), ("01-15", 1), ("01-20", 1)]
    r = client.get("/v1/reports/trends", params={"date_field": "shipped_date"})
    assert r.status_code == 422 and "date_field" in r.text


def test_reports_json_csv_png(client):
    r = client.get("/v1/reports/customers", params={"top": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["columns"][:4] == ["customer", "revenue", "currency", "units"]
    # exact amounts, with their currency (C3: D 1000 + F 1; C1: A 40 + C 400 + 5)
    assert [(d["customer"], d["revenue"], d["currency"]) for d in body["data"]] == [("C3", "1001.00", "EUR"),
                                                                                 ("C1", "445.00", "EUR")]
    r = client.get("/v1/reports/products", params={"metric": "units", "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[:2] == ["item,revenue,currency,units,lines,orders,share",
                                       "WIDGET,160.00,EUR,16.0,3,3,0.4444444444444444"]
    r = client.get("/v1/reports/days", params={"start": "2026-01-06", "end": "2026-01-07", "format": "json"})
    assert [d["day"] for d in r.json()["data"]] == ["2026-01-06", "2026-01-07"]
    for kind in ("brands", "trends", "on_time"):
        r = client.get(f"/v1/reports/{kind}", params={"format": "png"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n" and len(r.content) > 5000
    assert client.get("/v1/reports/planets").status_code == 404
    assert client.get("/v1/reports/products", params={"format": "xls"}).status_code == 422
    assert client.get("/v1/reports/products", params={"start": "2026-01-07", "end": "2026-01-06"}).status_code == 422


def test_console_and_atp(client):
    r = client.get("/v1/console")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="jeopardy-list"' in r.text
    assert client.get("/v1/console/console.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/v1/console/console.css").status_code == 200
    r = client.get("/v1/console/atp/WIDGET/DC-EAST", params={"end": "2026-01-15"})
    rows = r.json()["data"]
    # 10 on hand; A (4) and E (2) on 01-06; B (10) on 01-15 with PO-1 (20): available 4 until 01-15, then 14
    assert [(x["date"], x["committed"], x["available"]) for x in rows if x["supply"] or x["committed"]] == [
        ("2026-01-05", 0.0, 4.0), ("2026-01-06", 6.0, 4.0), ("2026-01-15", 10.0, 14.0)]
    assert client.get("/v1/console/atp/NOPE/DC-EAST").status_code == 422
    cat = client.get("/v1/console/catalogue").json()
    assert cat["items"] == ["WIDGET", "GADGET", "BOLT"] and ["BOLT", "ST-WEST"] in cat["item_locations"]


def test_routes_over_the_engine_service(book):
    """No monitor set: the routes build one over the engine's order service, once."""
    app = monitoring_app()
    app.state.engine = types.SimpleNamespace(service=book[0])
    with TestClient(app, headers={"X-API-Key": "view"}) as c:
        r = c.get("/v1/jeopardy", params={"today": "2026-01-12"})
        assert r.status_code == 200 and r.json()["total"] == 5
        assert app.state.monitor_auto[0] is book[0]
        assert c.get("/v1/jeopardy", params={"today": "2026-01-12"}).json()["total"] == 5


def test_mounted_in_the_real_server(tmp_path, mon_snap):
    """server.create_app (demo mode, loopback): capture an order over HTTP, then see it in jeopardy,
    exceptions and reports; the server's error handlers map our errors."""
    from server import create_app as create_server

    app = create_server(settings_of(db=str(tmp_path / "ob.sqlite"), demo=True, approval_value_threshold=None),
                        snapshot=mon_snap)
    with TestClient(app, client=("127.0.0.1", 50000)) as c:
        r = c.post("/v1/orders", json={"customer": "C9", "zone": "EAST", "lines": [
            {"item": "GADGET", "qty": 3, "requested_date": "2026-01-06", "location": "DC-EAST"}]})
        assert r.status_code == 201, r.text
        oid = r.json()["order_id"]
        # 2 on hand, the third GADGET comes with PO-2 on 01-20: promised 01-20 (late against the request,
        # on time against the promise): on 01-12 it is on track; on 01-22 it is 2 days late
        j = c.get("/v1/jeopardy", params={"today": "2026-01-12"}).json()
        assert [(o["order_id"], o["level"]) for o in j["orders"]] == [(oid, "ok")]
        j = c.get("/v1/jeopardy", params={"today": "2026-01-22"}).json()
        assert [(o["order_id"], o["level"], o["days_late"]) for o in j["orders"]] == [(oid, "watch", 2)]
        e = c.get("/v1/exceptions", params={"by": "supplier", "today": "2026-01-22"}).json()
        # value at risk: the line's priced net (3 x 100), exact, in its currency, under each receipt it is pegged to
        assert [(d["key"], d["lines"], d["value"], d["currency"]) for d in e["data"]] == [
            ("(on hand)", 1, "300.00", "EUR"), ("ZETA", 1, "300.00", "EUR")]
        r = c.get("/v1/reports/customers", params={"format": "csv"})
        assert r.text.splitlines()[1].startswith("C9,300.00,EUR,3.0,1,1")
        assert c.get("/v1/jeopardy", params={"min_level": "dire"}).status_code == 422
        assert c.get("/v1/console").status_code == 200
