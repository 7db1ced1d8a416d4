"""Plain-Python reference for the reports (slow, obviously correct): top-N and the trend table.

Works on a list of dict rows with the frames' line columns plus the catalogue as dicts."""

from __future__ import annotations

import datetime as dt

EPS = 1e-9


def revenue(row: dict, price: dict[str, float]) -> float:
    p = row["unit_price"] if row["unit_price"] is not None else price.get(row["item"])
    return row["qty"] * (p if p is not None else 0.0)


def top(rows: list[dict], key: str, *, price: dict[str, float], metric: str = "revenue", n: int = 10) -> list[tuple]:
    """[(key, revenue, units)] of the `n` largest keys by `metric` (ties: key ascending); cancelled left out."""
    acc: dict = {}
    for r in rows:
        if r["status"] == "cancelled":
            continue
        k = r[key] if r[key] is not None else "(none)"
        rev, units = acc.get(k, (0.0, 0.0))
        acc[k] = (rev + revenue(r, price), units + r["qty"])
    i = 0 if metric == "revenue" else 1
    out = sorted(acc.items(), key=lambda kv: (-kv[1][i], kv[0]))[:n]
    return [(k, v[0], v[1]) for k, v in out]


def trends(rows: list[dict]) -> list[tuple]:
    """[(day, lines, fill_rate, on_time_lines)] per order day."""
    acc: dict[dt.date, list] = {}
    for r in rows:
        if r["status"] == "cancelled":
            continue
        a = acc.setdefault(r["order_date"], [0, 0.0, 0.0, 0])
        a[0] += 1
        a[1] += r["qty"]
        a[2] += r["promised_qty"]
        full = r["qty"] - r["promised_qty"] <= EPS
        done = r["last_ship_date"] if (r["qty"] - r["shipped_qty"] <= EPS and r["last_ship_date"]) else r["promised_date"]
        a[3] += int(full and done is not None and done <= r["requested_date"])
    return [(d, a[0], a[2] / a[1], a[3]) for d, a in sorted(acc.items())]
