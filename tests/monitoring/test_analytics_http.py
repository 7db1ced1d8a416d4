"""Customer-journey analytics over HTTP (api/routes/analytics.py): the coffee shop of test_analytics.py, this
time captured through the order book - each order imported on its business day and priced from the
catalogue (COFFEE 12.00, MUG 8.00, TEA 6.50, FILTER 3.00 EUR) - and read back through /v1/analytics.

    O1  ANA 01-05  COFFEE 1, MUG 1            = 20.00
    O2  BEN 01-12  COFFEE 2                    = 24.00
    O3  CAT 01-20  TEA 1, MUG 1               = 14.50
    O4  ANA 02-02  COFFEE 1, FILTER 1         = 15.00
    O5  DAN 02-14  COFFEE 1, MUG 2, FILTER 1  = 31.00
    O6  BEN 02-20  TEA 2                       = 13.00
    O7  ANA 03-03  COFFEE 1, MUG 1            = 20.00
    O8  EVE 03-10  TEA 1                       =  6.50
    O9  DAN 03-12  COFFEE 1, FILTER 2         = 18.00
    O10 FOX 03-20  COFFEE 1     (after the business day 03-15: not happened yet, left out)

The business day is Sunday 2026-03-15, set in settings (``clock.business_date``) after the capture: the
analytics never look at the wall clock, which stamps every order 2026-11-30. The expected figures are the
hand-computed ones of test_analytics.py (the derivations are in its docstrings).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from api.app import build_app
from monitoring.config import MonitoringConfig
from monitoring.monitor import Monitor
from promessa.config import Role, settings_of

KEYS = {"view": Role.VIEWER, "plan": Role.PLANNER, "cap": Role.ORDER_CAPTURE, "ful": Role.FULFILLMENT}
PRICES = {"COFFEE": "12", "MUG": "8", "TEA": "6.5", "FILTER": "3"}
ORDERS = [  # order, customer, business day, [(item, qty)]
    ("O1", "ANA", "2026-01-05", [("COFFEE", 1), ("MUG", 1)]),
    ("O2", "BEN", "2026-01-12", [("COFFEE", 2)]),
    ("O3", "CAT", "2026-01-20", [("TEA", 1), ("MUG", 1)]),
    ("O4", "ANA", "2026-02-02", [("COFFEE", 1), ("FILTER", 1)]),
    ("O5", "DAN", "2026-02-14", [("COFFEE", 1), ("MUG", 2), ("FILTER", 1)]),
    ("O6", "BEN", "2026-02-20", [("TEA", 2)]),
    ("O7", "ANA", "2026-03-03", [("COFFEE", 1), ("MUG", 1)]),
    ("O8", "EVE", "2026-03-10", [("TEA", 1)]),
    ("O9", "DAN", "2026-03-12", [("COFFEE", 1), ("FILTER", 2)]),
    ("O10", "FOX", "2026-03-20", [("COFFEE", 1)]),
]
TODAY = "2026-03-15"


def write_shop(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 120}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\n"
                                 + "".join(f"{i},shop,house,{p},1,\n" for i, p in PRICES.items()))
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nSHOP,store,TOWN,FR,\n")
    (d / "supply.csv").write_text("item,location,date,qty,kind,ref,supplier\n"
                                  + "".join(f"{i},SHOP,2026-01-05,1000,onhand,OH-{i},\n" for i in PRICES))
    (d / "lanes.csv").write_text("location,zone,transit_days,cost_per_unit,cost_per_shipment\nSHOP,TOWN,0,0,0\n")
    (d / "sourcing.csv").write_text("zone,location,rank,item,category\nTOWN,SHOP,1,,\n")
    (d / "demand_classes.csv").write_text("demand_class,priority,parent,can_steal_lower\nonline,1,,true\n")
    return d


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The order service over the coffee shop's book, every order captured on its business day."""
    from orderbook.service import OrderService
    from orderbook.store import open_store
    from supplydata import load_snapshot

    root = tmp_path_factory.mktemp("shop")
    snap = load_snapshot(write_shop(root / "snap"))
    db = str(root / "orderbook.sqlite")
    store = open_store(db)
    svc = OrderService(snap, store, settings_of(db=db, approval_value_threshold=None, approval_on_price_override=False))
    for order, cust, bday, lines in ORDERS:
        svc.settings.clock.business_date = dt.date.fromisoformat(bday)
        rows = [{"order": order, "line": k, "item": i, "qty": q, "requested_date": bday, "customer": cust,
                 "demand_class": "online", "zone": "TOWN", "created_at": "2026-11-30T09:00:00", "location": "SHOP"}
                for k, (i, q) in enumerate(lines, start=1)]
        status, body, _ = svc.import_orders("test", rows, actor="test")
        assert json.loads(body)["created"] == 1, body
    svc.settings.clock.business_date = dt.date.fromisoformat(TODAY)
    yield svc
    store.close()


@pytest.fixture
def client(shop):
    app = build_app(settings_of(api_keys=KEYS))
    app.state.monitor = Monitor.of_service(shop, MonitoringConfig())
    with TestClient(app, headers={"X-API-Key": "view"}) as c:
        yield c


PATHS = ("/v1/analytics/retention", "/v1/analytics/repeat", "/v1/analytics/rfm", "/v1/analytics/cross-sell")


def test_every_analytics_route_needs_a_planning_reader(client):
    for path in PATHS:
        assert client.get(path, headers={"X-API-Key": ""}).status_code == 401, path
        assert client.get(path, headers={"X-API-Key": "nope"}).status_code == 401, path
        assert client.get(path, headers={"X-API-Key": "cap"}).status_code == 403, path  # order capture: no planning reads
        assert client.get(path, headers={"X-API-Key": "ful"}).status_code == 403, path
        assert client.get(path, headers={"X-API-Key": "plan"}).status_code == 200, path


def test_retention_by_cohort(client):
    """January's cohort is ANA, BEN, CAT: in February ANA and BEN came back (2 of 3), in March ANA (1 of 3).
    February's is DAN, back in March; March's is EVE. FOX's order (03-20) has not happened on 03-15."""
    r = client.get("/v1/analytics/retention")
    assert r.status_code == 200
    body = r.json()
    assert (body["today"], body["date_field"], body["currency"]) == (TODAY, "order_date", "EUR")
    assert (body["lines"], body["lines_after"], body["customers"], body["total"]) == (16, 1, 5, 3)
    got = [(c["cohort"], c["customers"], [(m["months_since"], m["active"], round(m["retention"], 4)) for m in c["months"]])
           for c in body["cohorts"]]
    assert got == [("2026-01-01", 3, [(0, 3, 1.0), (1, 2, 0.6667), (2, 1, 0.3333)]),
                   ("2026-02-01", 1, [(0, 1, 1.0), (1, 1, 1.0)]),
                   ("2026-03-01", 1, [(0, 1, 1.0)])]
    # paged by cohort; at most K months after the first
    body = client.get("/v1/analytics/retention", params={"limit": 1, "offset": 1, "max_months": 0}).json()
    assert [(c["cohort"], len(c["months"])) for c in body["cohorts"]] == [("2026-02-01", 1)]
    assert (body["total"], body["offset"], body["limit"], body["max_months"]) == (3, 1, 1, 0)
    # a week later FOX has ordered: March's cohort is EVE and FOX
    body = client.get("/v1/analytics/retention", params={"today": "2026-03-25"}).json()
    assert body["cohorts"][-1]["customers"] == 2 and body["lines_after"] == 0


def test_repeat_purchase(client):
    """ANA (3 orders), BEN and DAN (2 each) came back, CAT and EVE did not: 3 of 5, 9 orders, 1.8 per customer;
    days to the second order ANA 28, BEN 39, DAN 26: median 28. By cohort: January 2 of 3 (median of 28 and
    39: 33.5), February 1 of 1 (26), March 0 of 1."""
    body = client.get("/v1/analytics/repeat").json()
    assert body["overall"] == {"cohort": None, "customers": 5, "repeat_customers": 3, "repeat_rate": 0.6, "orders": 9,
                               "orders_per_customer": 1.8, "median_days_to_second_order": 28.0}
    assert body["cohorts"] is None
    body = client.get("/v1/analytics/repeat", params={"by_cohort": "true"}).json()
    assert body["total"] == 3
    assert [(c["cohort"], c["customers"], c["repeat_customers"], c["median_days_to_second_order"]) for c in body["cohorts"]] == [
        ("2026-01-01", 3, 2, 33.5), ("2026-02-01", 1, 1, 26.0), ("2026-03-01", 1, 0, None)]
    body = client.get("/v1/analytics/repeat", params={"by_cohort": "true", "offset": 2}).json()
    assert [c["cohort"] for c in body["cohorts"]] == ["2026-03-01"]
    # before anyone ordered: no customer, the rate is unknown (null), not 0
    body = client.get("/v1/analytics/repeat", params={"today": "2026-01-04"}).json()
    assert body["overall"]["customers"] == 0 and body["overall"]["repeat_rate"] is None and body["lines"] == 0


def test_rfm_scores_segments_and_money(client):
    """Recency on 03-15: DAN 3, EVE 5, ANA 12, BEN 23, CAT 54 days -> R 5 4 3 2 1. Frequency ANA 3, BEN 2, DAN 2,
    CAT 1, EVE 1 (ties take the lowest rank) -> 5, 3, 3, 1, 1. Monetary (priced by the order book from the
    catalogue) ANA 55.00, DAN 49.00, BEN 37.00, CAT 14.50, EVE 6.50 -> 5 4 3 2 1. Segments: DAN 534 potential
    loyalists, EVE 411 new customers, ANA 355 loyal, BEN 233 at risk, CAT 112 lost. Total 162.00."""
    body = client.get("/v1/analytics/rfm").json()
    assert (body["customers_total"], body["total"]) == (5, 5)
    got = [(c["customer"], c["recency_days"], c["frequency"], c["monetary"], c["rfm"], c["segment"]) for c in body["customers"]]
    assert got == [
        ("DAN", 3, 2, {"amount": "49.00", "currency": "EUR"}, "534", "potential_loyalists"),
        ("EVE", 5, 1, {"amount": "6.50", "currency": "EUR"}, "411", "new_customers"),
        ("ANA", 12, 3, {"amount": "55.00", "currency": "EUR"}, "355", "loyal"),
        ("BEN", 23, 2, {"amount": "37.00", "currency": "EUR"}, "233", "at_risk"),
        ("CAT", 54, 1, {"amount": "14.50", "currency": "EUR"}, "112", "lost"),
    ]
    seg = {s["segment"]: s for s in body["segments"]}
    assert list(seg) == [s.name for s in MonitoringConfig().analytics.segments]  # every segment, in its order
    assert (seg["loyal"]["customers"], seg["loyal"]["share"], seg["loyal"]["monetary"]) == (
        1, 0.2, {"amount": "55.00", "currency": "EUR"})
    assert seg["loyal"]["monetary_share"] == pytest.approx(55 / 162)
    assert seg["champions"]["customers"] == 0 and seg["champions"]["monetary"] == {"amount": "0.00", "currency": "EUR"}
    # filters and paging
    body = client.get("/v1/analytics/rfm", params={"segment": "lost"}).json()
    assert [c["customer"] for c in body["customers"]] == ["CAT"] and body["total"] == 1
    body = client.get("/v1/analytics/rfm", params={"limit": 2, "offset": 2}).json()
    assert [c["customer"] for c in body["customers"]] == ["ANA", "BEN"] and body["total"] == 5
    assert client.get("/v1/analytics/rfm", params={"customer": "BEN"}).json()["customers"][0]["rfm"] == "233"


def test_cross_sell(client):
    """Baskets O1..O9: COFFEE in 6, MUG 4, FILTER 3, TEA 3. COFFEE+MUG 3 (O1 O5 O7), COFFEE+FILTER 3 (O4 O5 O9),
    MUG+FILTER 1, MUG+TEA 1. COFFEE -> FILTER confidence 3/6, lift 3 x 9 / (6 x 3) = 1.5 ranks before COFFEE
    -> MUG (lift 1.125); FILTER -> COFFEE 3/3, MUG -> COFFEE 3/4."""
    body = client.get("/v1/analytics/cross-sell").json()
    assert (body["orders"], body["top"], body["min_orders"], body["total"]) == (9, 5, 2, 4)
    assert [(d["item"], d["rank"], d["suggestion"], d["orders_together"], d["item_orders"], d["suggestion_orders"])
            for d in body["data"]] == [("COFFEE", 1, "FILTER", 3, 6, 3), ("COFFEE", 2, "MUG", 3, 6, 4),
                                       ("FILTER", 1, "COFFEE", 3, 3, 6), ("MUG", 1, "COFFEE", 3, 4, 6)]
    cf = body["data"][0]
    assert (cf["support"], cf["confidence"], cf["lift"]) == (pytest.approx(3 / 9), 0.5, pytest.approx(1.5))
    # one item, from one order on: MUG goes with COFFEE (3), then FILTER and TEA (1 each, lift 0.75: by name)
    body = client.get("/v1/analytics/cross-sell", params={"item": "MUG", "min_orders": 1}).json()
    assert [(d["suggestion"], d["orders_together"]) for d in body["data"]] == [("COFFEE", 3), ("FILTER", 1), ("TEA", 1)]
    assert body["items"] == ["MUG"] and body["data"][1]["lift"] == pytest.approx(0.75)
    body = client.get("/v1/analytics/cross-sell", params=[("item", "MUG"), ("item", "COFFEE"), ("top", 1)]).json()
    assert [(d["item"], d["suggestion"]) for d in body["data"]] == [("COFFEE", "FILTER"), ("MUG", "COFFEE")]
    body = client.get("/v1/analytics/cross-sell", params={"min_orders": 4}).json()  # no pair in 4 orders
    assert (body["total"], body["data"], body["orders"]) == (0, [], 9)
    body = client.get("/v1/analytics/cross-sell", params={"limit": 1, "offset": 3}).json()
    assert [(d["item"], d["suggestion"]) for d in body["data"]] == [("MUG", "COFFEE")] and body["total"] == 4


@pytest.mark.parametrize(("path", "params", "loc", "value"), [
    ("retention", {"today": "2026-13-01"}, ["query", "today"], "2026-13-01"),
    ("retention", {"max_months": "-1"}, ["query", "max_months"], "-1"),
    ("retention", {"date_field": "shipped_date"}, ["query", "date_field"], "shipped_date"),
    ("repeat", {"limit": "0"}, ["query", "limit"], "0"),
    ("repeat", {"by_cohort": "perhaps"}, ["query", "by_cohort"], "perhaps"),
    ("rfm", {"segment": "vip"}, ["query", "segment"], "vip"),
    ("rfm", {"offset": "-5"}, ["query", "offset"], "-5"),
    ("cross-sell", {"item": "COFEE"}, ["query", "item", 0], "COFEE"),
    ("cross-sell", {"top": "0"}, ["query", "top"], "0"),
    ("cross-sell", {"min_orders": "0"}, ["query", "min_orders"], "0"),
])
def test_bad_parameters_get_a_422_naming_the_field_and_the_value(client, path, params, loc, value):
    r = client.get("/v1/analytics/" + path, params=params)
    assert r.status_code == 422, r.text
    d = r.json()["detail"][0]
    assert d["loc"] == loc and str(d["input"]) == value


def test_an_unknown_item_is_named_with_a_hint(client):
    d = client.get("/v1/analytics/cross-sell", params={"item": "COFEE"}).json()["detail"][0]
    assert "unknown item" in d["msg"] and d["hint"] == "did you mean COFFEE?"
    # an item of the catalogue never sold has no suggestion: an empty list, not an error
    body = client.get("/v1/analytics/cross-sell", params=[("item", "COFFEE"), ("item", "TEA")]).json()
    assert [d["item"] for d in body["data"]] == ["COFFEE", "COFFEE"]


def test_etag_and_if_none_match(client, shop):
    """The same question on the same book answers 304 to its own ETag; another day, other parameters or a new
    order in the book give another tag."""
    r = client.get("/v1/analytics/rfm")
    tag = r.headers["ETag"]
    assert tag.startswith('W/"') and r.headers["Cache-Control"] == "no-cache"
    again = client.get("/v1/analytics/rfm", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    assert client.get("/v1/analytics/rfm", headers={"If-None-Match": tag[2:]}).status_code == 304  # weak comparison
    assert client.get("/v1/analytics/rfm", headers={"If-None-Match": 'W/"other", ' + tag}).status_code == 304
    assert client.get("/v1/analytics/rfm", headers={"If-None-Match": 'W/"other"'}).status_code == 200
    assert client.get("/v1/analytics/rfm", params={"today": "2026-03-16"}).headers["ETag"] != tag
    assert client.get("/v1/analytics/rfm", params={"segment": "lost"}).headers["ETag"] != tag
    assert client.get("/v1/analytics/cross-sell").headers["ETag"] != tag
    svc = shop
    status, body, _ = svc.import_orders("test", [{"order": "O11", "line": 1, "item": "TEA", "qty": 1,
                                                  "requested_date": TODAY, "customer": "GUS", "demand_class": "online",
                                                  "zone": "TOWN", "created_at": "2026-11-30T09:00:00", "location": "SHOP"}],
                                        actor="test")
    try:
        r = client.get("/v1/analytics/rfm", headers={"If-None-Match": tag})
        assert r.status_code == 200 and r.headers["ETag"] != tag and r.json()["customers_total"] == 6
    finally:
        svc.cancel(json.loads(body)["results"][0]["order_id"], actor="test")  # the other tests' book again


def test_openapi_lists_every_status(client):
    spec = client.get("/openapi.json").json()
    for path in PATHS:
        op = spec["paths"][path]["get"]
        assert {"200", "304", "401", "403", "422", "503"} <= set(op["responses"]), path
        assert "ETag" in op["responses"]["200"]["headers"]
        assert op["security"] or spec.get("security")
    rfm = spec["components"]["schemas"]["RfmCustomerPublic"]["properties"]["monetary"]
    assert rfm["$ref"].endswith("/MoneyPublic") or "MoneyPublic" in json.dumps(rfm)
