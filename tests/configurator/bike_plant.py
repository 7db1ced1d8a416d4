"""The bicycle plant P1 for configured-line stories (as of 2026-03-02, 30 days).

On hand at P1: 50 of every component except MOTOR-MID (2 on hand, 10 on a purchase order due
day 9) and RACK (none; lead time 5 days, so unlimited from day 5). Two operations are items made
at P1 whose bills are routing steps: OP-ASSEMBLY uses ASSY 1 h per bike (20 h a day) and
OP-EBIKE-TEST uses TESTBENCH 1 h per e-bike (2 h a day), each with a 1-day lead time.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from supplydata import TABLES, build_snapshot

AS_OF = dt.date(2026, 3, 2)
H = 30
COMPONENTS = ("FRAME-ALU", "FRAME-CARBON", "FRAME-STEEL", "WHEEL", "COG", "HUB-8", "DERAILLEUR-11", "DERAILLEUR-12",
              "BRAKE-RIM", "BRAKE-DISC-M", "BRAKE-DISC-H", "MOTOR-HUB", "MOTOR-MID", "BATTERY", "RACK")
OPERATIONS = {"OP-ASSEMBLY": ("ASSY", 1.0, 20.0), "OP-EBIKE-TEST": ("TESTBENCH", 1.0, 2.0)}


def day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


def frames(rows: dict) -> dict[str, pl.DataFrame]:
    out = {}
    for name, t in TABLES.items():
        schema = t.polars_schema()
        rs = rows.get(name, [])
        out[name] = (pl.DataFrame([{c: r.get(c) for c in schema} for r in rs], schema=schema) if rs
                     else pl.DataFrame(schema=schema))
    return out


def bike_snapshot(*, testbench: float = 2.0, mid_on_hand: float = 2.0):
    items = [{"item": i, "lead_time_days": 5 if i == "RACK" else None} for i in (*COMPONENTS, *OPERATIONS)]
    supply = []
    for c in COMPONENTS:
        q = {"MOTOR-MID": mid_on_hand, "RACK": 0.0}.get(c, 50.0)
        supply.append({"item": c, "location": "P1", "date": AS_OF, "qty": q, "kind": "onhand", "ref": f"OH-{c}"})
    supply.append({"item": "MOTOR-MID", "location": "P1", "date": day(9), "qty": 10.0, "kind": "purchase", "ref": "PO-MID"})
    bom = [{"item": op, "location": "P1", "resource": r, "usage_per_unit": u, "lead_time_days": 1}
           for op, (r, u, _) in OPERATIONS.items()]
    caps = {"ASSY": 20.0, "TESTBENCH": testbench}
    resources = [{"resource": r, "location": "P1", "date": day(d), "capacity": caps[r]}
                 for op, (r, u, _) in OPERATIONS.items() for d in range(H)]
    rows = {"items": items, "locations": [{"location": "P1", "kind": "plant"}], "supply": supply, "bom": bom,
            "resources": resources}
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, frames(rows))
