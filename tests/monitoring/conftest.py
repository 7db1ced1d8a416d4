"""A small order book with a hand-made supply story, built through the order-book service.

Supply (as_of Monday 2026-01-05, horizon 60 days):
- WIDGET (tools, acme, 10.00): DC-EAST has 10 on hand (OH-1) and 20 arriving 2026-01-15 (PO-1,
  supplier ACME).
- GADGET (toys, zeta, 100.00): DC-EAST has 2 on hand (OH-2) and 3 arriving 2026-01-20 (PO-2,
  supplier ZETA).
- BOLT (tools, acme, 1.00): ST-WEST (a store) has 100 on hand (OH-3).
- Lanes: DC-EAST -> EAST 1 day, DC-EAST -> WEST 3 days, ST-WEST -> WEST 1 day.
- Zones: EAST is in the US, WEST in CA.

Steps (the default config): at a DC 1 day (pick) before shipping, at a store 0 days.

Orders (imported; policy: partial allowed, no split). Each is captured on a business day (the business
clock, ``clock.business_date``, set for its import; reset afterwards so the snapshot's as_of is the clock
again): that day is the order's date (``order_date``) for reports and analytics. The wall clock that stamps
``created_at`` says 2026-11-30 for every order (as when the demo captures January orders today): nothing
may date an order by it.
- A  C1 EAST online   on 01-05: 1 x 4 WIDGET@DC-EAST req 01-06 -> 4 on 01-06 (OH-1).
- B  C2 EAST retail   on 01-05: 1 x 10 WIDGET@DC-EAST req 01-07 -> 6 on hand left: see tests.
- C  C1 WEST online   on 01-06: 1 x 4 GADGET@DC-EAST req 01-06, 2 x 5 BOLT@ST-WEST req 01-06.
- D  C3 EAST key_account on 01-06: 1 x 10 GADGET@DC-EAST req 01-10.
- E  C2 EAST retail   on 01-07: 1 x 2 WIDGET@DC-EAST req 01-06; shipped on 01-06, not delivered.
- F  C3 WEST online   on 01-07: 1 x 1 BOLT@ST-WEST req 01-06; shipped 01-06 and delivered 01-07.
- G  C1 EAST online   on 01-08: 1 x 1 BOLT@ST-WEST req 01-09; cancelled.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

try:  # the package is installed with promessa; from a bare checkout, import it from the repository root
    import monitoring  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

AS_OF = "2026-01-05"


def write_snapshot(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps({"as_of": AS_OF, "horizon_days": 60}))
    (d / "items.csv").write_text(
        "item,category,brand,price,cost,lead_time_days\nWIDGET,tools,acme,10,4,\nGADGET,toys,zeta,100,40,\nBOLT,tools,acme,1,0.5,\n")
    (d / "locations.csv").write_text(
        "location,kind,zone,country,calendar\nDC-EAST,dc,EAST,US,\nST-WEST,store,WEST,CA,\n")
    (d / "supply.csv").write_text(
        "item,location,date,qty,kind,ref,supplier\n"
        "WIDGET,DC-EAST,2026-01-05,10,onhand,OH-1,\n"
        "WIDGET,DC-EAST,2026-01-15,20,purchase,PO-1,ACME\n"
        "GADGET,DC-EAST,2026-01-05,2,onhand,OH-2,\n"
        "GADGET,DC-EAST,2026-01-20,3,purchase,PO-2,ZETA\n"
        "BOLT,ST-WEST,2026-01-05,100,onhand,OH-3,\n")
    (d / "lanes.csv").write_text(
        "location,zone,transit_days,cost_per_unit,cost_per_shipment\n"
        "DC-EAST,EAST,1,0.1,5\nDC-EAST,WEST,3,0.2,5\nST-WEST,WEST,1,0.1,5\n")
    (d / "sourcing.csv").write_text("zone,location,rank,item,category\nEAST,DC-EAST,1,,\nWEST,ST-WEST,1,,\nWEST,DC-EAST,2,,\n")
    (d / "demand_classes.csv").write_text(
        "demand_class,priority,parent,can_steal_lower\nkey_account,1,,true\nretail,2,,true\nonline,3,,true\n")
    return d


ROWS = [
    # order, line, item, qty, requested, customer, class, zone, business day, location
    ("A", 1, "WIDGET", 4, "2026-01-06", "C1", "online", "EAST", "2026-01-05", "DC-EAST"),
    ("B", 1, "WIDGET", 10, "2026-01-07", "C2", "retail", "EAST", "2026-01-05", "DC-EAST"),
    ("C", 1, "GADGET", 4, "2026-01-06", "C1", "online", "WEST", "2026-01-06", "DC-EAST"),
    ("C", 2, "BOLT", 5, "2026-01-06", "C1", "online", "WEST", "2026-01-06", "ST-WEST"),
    ("D", 1, "GADGET", 10, "2026-01-10", "C3", "key_account", "EAST", "2026-01-06", "DC-EAST"),
    ("E", 1, "WIDGET", 2, "2026-01-06", "C2", "retail", "EAST", "2026-01-07", "DC-EAST"),
    ("F", 1, "BOLT", 1, "2026-01-06", "C3", "online", "WEST", "2026-01-07", "ST-WEST"),
    ("G", 1, "BOLT", 1, "2026-01-09", "C1", "online", "EAST", "2026-01-08", "ST-WEST"),
]
#: The wall clock's stamp on every order (created_at): months after the business days above.
WALL_CLOCK = "2026-11-30T09:00:00"


def build_book(db: str, snap, *, pg_schema: str = "promessa"):
    """Import the orders above into a fresh order book and play the fulfillment events."""
    from orderbook.service import OrderService
    from promessa.config import settings_of
    from orderbook.store import open_store

    store = open_store(db, pg_schema=pg_schema)
    svc = OrderService(snap, store, settings_of(db=db, pg_schema=pg_schema, approval_value_threshold=None,
                                             approval_on_price_override=False))
    return svc, play_story(svc)


def play_story(svc) -> dict[str, str]:
    """Import the orders above through `svc`, each on its business day, and play their fulfillment events;
    {letter: order id}."""
    from orderbook.schemas import FulfillmentEvent

    ids: dict[str, str] = {}
    for bday in sorted({r[8] for r in ROWS}):  # one import per business day, in order
        rows = [{"order": o, "line": ln, "item": it, "qty": q, "requested_date": rd, "customer": c, "demand_class": k,
                 "zone": z, "created_at": WALL_CLOCK, "location": loc}
                for o, ln, it, q, rd, c, k, z, bd, loc in ROWS if bd == bday]
        svc.settings.clock.business_date = day(bday)
        status, body, _ = svc.import_orders("test", rows, actor="test")
        res = json.loads(body)
        assert res["created"] == len({r["order"] for r in rows}), res
        ids.update({r["order"]: r["order_id"] for r in res["results"]})
    svc.settings.clock.business_date = None  # the snapshot's as_of (2026-01-05) is the business clock again
    assert len(ids) == 7
    at = lambda d: dt.datetime.fromisoformat(d + "T12:00:00+00:00")  # noqa: E731
    svc.event(ids["E"], FulfillmentEvent(type="shipped", at=at("2026-01-06")), actor="test")
    svc.event(ids["F"], FulfillmentEvent(type="shipped", at=at("2026-01-06")), actor="test")
    svc.event(ids["F"], FulfillmentEvent(type="delivered", at=at("2026-01-07")), actor="test")
    svc.cancel(ids["G"], actor="test")
    return ids


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


@pytest.fixture(scope="session")
def mon_snap_dir(tmp_path_factory) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("monsnap"))


@pytest.fixture(scope="session")
def mon_snap(mon_snap_dir):
    from supplydata import load_snapshot

    return load_snapshot(mon_snap_dir)


@pytest.fixture(scope="session")
def book(tmp_path_factory, mon_snap):
    """(service, {letter: order id}, db path) over a SQLite order book (shared, read-only in tests)."""
    db = str(tmp_path_factory.mktemp("monbook") / "orderbook.sqlite")
    svc, ids = build_book(db, mon_snap)
    yield svc, ids, db
    svc.store.close()


@pytest.fixture(scope="session")
def frames(book):
    from monitoring.frames import from_store

    return from_store(book[0].store)


@pytest.fixture(scope="session")
def catalogue(mon_snap):
    from monitoring.frames import Catalogue

    return Catalogue.of(mon_snap)


@pytest.fixture(scope="session")
def letters(book):
    """order id -> letter (A..G) of the story above."""
    return {v: k for k, v in book[1].items()}
