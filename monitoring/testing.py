"""Plain-Python references for the monitoring views (slow, obviously correct), as ``polars.testing``:
tests and benchmarks hold the polars implementations equal to them. Imports no test libraries.

- reports: :func:`report_top`, :func:`report_trends` over dict rows with the frames' line columns;
- analytics: :func:`ref_cohorts`, :func:`ref_repeat`, :func:`ref_rfm`, :func:`ref_cross_sell` over
  dict rows with ``monitoring.analytics.LINES``' columns (``net_value`` a ``Decimal``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

EPS = 1e-9

# ------------------------------------------------------------------ reports


def report_revenue(row: dict, price: dict[str, float], *, minor: int = 2) -> Decimal:
    """The line's priced net (``net_value``), else qty x the catalogue's price rounded half up to `minor`
    decimal digits, else 0: exact."""
    if row["net_value"] is not None:
        return Decimal(row["net_value"])
    p = price.get(row["item"])
    if p is None:
        return Decimal(0)
    return (Decimal(repr(float(row["qty"]))) * Decimal(repr(float(p)))).quantize(Decimal(1).scaleb(-minor), ROUND_HALF_UP)


def report_top(rows: list[dict], key: str, *, price: dict[str, float], metric: str = "revenue", n: int = 10) -> list[tuple]:
    """[(key, revenue, units)] of the `n` largest keys by `metric` (ties: key ascending); cancelled left out;
    revenue a Decimal (one currency)."""
    acc: dict = {}
    for r in rows:
        if r["status"] == "cancelled":
            continue
        k = r[key] if r[key] is not None else "(none)"
        rev, units = acc.get(k, (Decimal(0), 0.0))
        acc[k] = (rev + report_revenue(r, price), units + r["qty"])
    i = 0 if metric == "revenue" else 1
    out = sorted(acc.items(), key=lambda kv: (-kv[1][i], kv[0]))[:n]
    return [(k, v[0], v[1]) for k, v in out]


def report_trends(rows: list[dict], *, date_field: str = "order_date", today: dt.date | None = None) -> list[tuple]:
    """[(day, lines, fill_rate, on_time_lines)] per day of `date_field` (lines without it left out); a line
    not fully shipped completes on its promised date, no earlier than `today` when given."""
    acc: dict[dt.date, list] = {}
    for r in rows:
        if r["status"] == "cancelled" or r[date_field] is None:
            continue
        a = acc.setdefault(r[date_field], [0, 0.0, 0.0, 0])
        a[0] += 1
        a[1] += r["qty"]
        a[2] += r["promised_qty"]
        full = r["qty"] - r["promised_qty"] <= EPS
        if r["qty"] - r["shipped_qty"] <= EPS and r["last_ship_date"]:
            done = r["last_ship_date"]
        else:
            done = r["promised_date"]
            if done is not None and today is not None:
                done = max(done, today)
        a[3] += int(full and done is not None and done <= r["requested_date"])
    return [(d, a[0], a[2] / a[1], a[3]) for d, a in sorted(acc.items())]


# ------------------------------------------------------------------ analytics


def _known(rows: list[dict], today: dt.date) -> list[dict]:
    return [r for r in rows if r["order_date"] <= today]


def _month(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def ref_cohorts(rows: list[dict], *, today: dt.date, max_months: int | None = None) -> list[tuple]:
    """[(cohort first day, months_since, customers, active, retention)], cohorts oldest first."""
    rows = _known(rows, today)
    months: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        months[r["customer"]].add(_month(r["order_date"]))
    cohorts: dict[int, list[str]] = defaultdict(list)
    for c, ms in months.items():
        cohorts[min(ms)].append(c)
    out = []
    for m0 in sorted(cohorts):
        members = cohorts[m0]
        last = _month(today) - m0
        if max_months is not None:
            last = min(last, max_months)
        for k in range(last + 1):
            active = sum(1 for c in members if m0 + k in months[c])
            out.append((dt.date(m0 // 12, m0 % 12 + 1, 1), k, len(members), active, active / len(members)))
    return out


def _orders_by_customer(rows: list[dict]) -> dict[str, dict[str, dt.date]]:
    out: dict[str, dict[str, dt.date]] = defaultdict(dict)
    for r in rows:
        d = out[r["customer"]]
        o = r["order_id"]
        d[o] = min(d[o], r["order_date"]) if o in d else r["order_date"]
    return out


def ref_repeat(rows: list[dict], *, today: dt.date, by_cohort: bool = False) -> list[tuple]:
    """[(cohort or None, customers, repeat_customers, repeat_rate, orders, orders_per_customer,
    median_days_to_second_order)]."""
    rows = _known(rows, today)
    per = _orders_by_customer(rows)
    groups: dict = defaultdict(list)
    for orders in per.values():
        first = min(orders.values())
        groups[dt.date(first.year, first.month, 1) if by_cohort else None].append(sorted(orders.values()))
    if not by_cohort and not groups:
        return [(None, 0, 0, None, 0, None, None)]
    out = []
    for key in sorted(groups, key=lambda k: (k is None, k)):
        dates = groups[key]
        n = len(dates)
        rep = [d for d in dates if len(d) >= 2]
        n_orders = sum(len(d) for d in dates)
        gaps = [(d[1] - d[0]).days for d in rep]
        out.append((key, n, len(rep), len(rep) / n, n_orders, n_orders / n,
                    float(statistics.median(gaps)) if gaps else None))
    return out


def ref_score(values: dict[str, object], *, worse) -> dict[str, int]:
    """Quintile scores 1..5: ``1 + floor(5 * (r - 1) / n)``, r = 1 + the number of keys strictly worse
    (``worse(a, b)``: a is worse than b)."""
    n = len(values)
    out = {}
    for k, v in values.items():
        r = 1 + sum(1 for w in values.values() if worse(w, v))
        out[k] = 1 + (5 * (r - 1)) // n
    return out


def ref_rfm(rows: list[dict], *, today: dt.date, segments) -> dict[str, tuple]:
    """{customer: (recency_days, frequency, monetary, r, f, m, segment)}; `segments` as in
    ``AnalyticsConfig.segments`` (first match wins)."""
    rows = _known(rows, today)
    last: dict[str, dt.date] = {}
    orders: dict[str, set] = defaultdict(set)
    money: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        c = r["customer"]
        last[c] = max(last.get(c, r["order_date"]), r["order_date"])
        orders[c].add(r["order_id"])
        money[c] += r["net_value"]
    rec = {c: (today - d).days for c, d in last.items()}
    freq = {c: len(o) for c, o in orders.items()}
    rs = ref_score(rec, worse=lambda a, b: a > b)
    fs = ref_score(freq, worse=lambda a, b: a < b)
    ms = ref_score(dict(money), worse=lambda a, b: a < b)
    out = {}
    for c in last:
        seg = next(s.name for s in segments if s.covers(rs[c], fs[c], ms[c]))
        out[c] = (rec[c], freq[c], money[c], rs[c], fs[c], ms[c], seg)
    return out


def ref_cross_sell(rows: list[dict], *, today: dt.date, top: int = 5, min_orders: int = 2) -> list[tuple]:
    """[(item, rank, suggestion, orders_together, item_orders, suggestion_orders, support, confidence, lift)]."""
    rows = _known(rows, today)
    baskets: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        baskets[r["order_id"]].add(r["item"])
    n = len(baskets)
    item_orders: dict[str, int] = defaultdict(int)
    together: dict[tuple[str, str], int] = defaultdict(int)
    for items in baskets.values():
        for a in items:
            item_orders[a] += 1
            for b in items:
                if a != b:
                    together[(a, b)] += 1
    per: dict[str, list] = defaultdict(list)
    for (a, b), k in together.items():
        if k < min_orders:
            continue
        lift = k * n / (item_orders[a] * item_orders[b])
        per[a].append((b, k, lift))
    out = []
    for a in sorted(per):
        ranked = sorted(per[a], key=lambda t: (-t[1], -t[2], t[0]))[:top]
        for i, (b, k, lift) in enumerate(ranked, start=1):
            out.append((a, i, b, k, item_orders[a], item_orders[b], k / n, k / item_orders[a], lift))
    return out
