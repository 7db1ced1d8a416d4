"""Pricing: one 5-line order through ``price_order`` and a million lines through ``price_batch``.

The book is ``pricing.testing.sample_book`` (default list with graduated and volume tiers and service items,
a tax-inclusive web list, a segment list, a customer list, 12 rules of every kind and stacking, DE/US-CA/US
tax); the lines ``sample_lines`` (orders of 5 lines, fractional quantities, service starts). Before timing,
the batch is checked equal to ``price_order`` on every line of the first orders.

Timed, each beside a bare reference loop measured in the same run (the ratio is the figure to quote):

- ``pricing.order_5_lines``: median µs of ``price_order`` on 5-line orders; the reference multiplies the
  five unit prices by the quantities in Decimal and rounds (the least an exact pricer must do). Target
  <= 200 µs.
- ``pricing.batch``: seconds for ``price_batch`` on all lines (median of ``repeats``; the first call is
  reported apart); the reference computes ``round(unit x qty)`` per line and the per-order sums in int64.
  Target <= 2 s for 1,000,000 lines (size ``full``).
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from benchmarks.harness import Result, median

SIZES = {"small": (20_000, 2_000, 1_000), "medium": (200_000, 10_000, 5_000), "full": (1_000_000, 20_000, 10_000)}
ON = dt.date(2026, 1, 20)


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from pricing import price_batch, price_order
    from pricing.batch import PS, QS, round_div
    from pricing.testing import requests_from_frame, sample_book, sample_lines, sample_parties

    repeats = repeats or 5
    n_lines, n_items, n_customers = SIZES[size]
    t0 = time.perf_counter()
    book = sample_book(n_items=n_items, seed=seed)
    parties = sample_parties(n_customers, seed=seed)
    frame = sample_lines(book, parties, n_lines=n_lines, seed=seed)
    setup_s = time.perf_counter() - t0

    # ---- check: the batch equals the one-order pricer on the first 2,000 orders
    head = frame.head(10_000)
    b = price_batch(book, head, parties, on=ON, currency="EUR")
    got = list(b.lines.select("net", "tax", "total").iter_rows())
    want = []
    requests = requests_from_frame(head, parties, currency="EUR")
    for req in requests:
        for w in price_order(book, req, on=ON).lines:
            want.append(tuple(int(m.amount.scaleb(2)) for m in (w.net, w.tax, w.total)))
    assert got == want, "batch and one-order pricer disagree"
    results: list[Result] = []

    # ---- one 5-line order
    five = [r for r in requests if len(r.lines) == 5][:500]
    for r in five[:50]:
        price_order(book, r, on=ON)  # warm the book's caches (rules and chains per day)
    per_order, cpu_order = [], []
    for _ in range(max(3, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        for r in five:
            price_order(book, r, on=ON)
        per_order.append((time.perf_counter() - t0) / len(five))
        cpu_order.append((time.process_time() - c0) / len(five))
    default = book.price_lists_for("DEFAULT")[0].entries
    q = Decimal("0.01")
    ref_lines = [[(default[ln.item].unit_price, ln.qty) for ln in r.lines] for r in five]

    def bare(lines):
        return sum(((u * qty).quantize(q, rounding=ROUND_HALF_UP) for u, qty in lines), Decimal(0))

    per_ref = []
    for _ in range(max(3, repeats)):
        t0 = time.perf_counter()
        for lines in ref_lines:
            bare(lines)
        per_ref.append((time.perf_counter() - t0) / len(ref_lines))
    one_us, ref_us = median(per_order) * 1e6, median(per_ref) * 1e6
    results.append(Result("pricing.order_5_lines", "median", one_us, "us", "<= 200 us", one_us <= 200,
                          {"rules": len(book.rules), "orders_timed": len(five)},
                          notes=f"bare Decimal loop {ref_us:.1f} us; ratio {one_us / ref_us:.1f}x; "
                                f"CPU time {median(cpu_order) * 1e6:.1f} us per order (wall clock includes waiting on a busy machine)"))

    # ---- the batch
    t0 = time.perf_counter()
    price_batch(book, frame, parties, on=ON, currency="EUR")
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = price_batch(book, frame, parties, on=ON, currency="EUR")
        times.append(time.perf_counter() - t0)
    batch_s = median(times)
    # bare reference: round(unit x qty) per line and per-order sums, int64, on pre-coded arrays
    items = sorted(default)
    unit = np.array([int(default[i].unit_price * 100 * PS) for i in items], dtype=np.int64)
    code = frame["item"].replace_strict(items, list(range(len(items)))).to_numpy()
    qty = np.round(frame["qty"].to_numpy() * QS).astype(np.int64)
    order = np.arange(n_lines) // 5
    ref = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        amt = round_div(unit[code] * qty, PS * QS)
        sums = np.zeros(order[-1] + 1, dtype=np.int64)
        np.add.at(sums, order, amt)
        ref.append(time.perf_counter() - t0)
    ref_s = median(ref)
    full = size == "full"
    results.append(Result("pricing.batch", "median", batch_s, "s", "<= 2 s for 1,000,000 lines" if full else None,
                          (batch_s <= 2.0) if full else None,
                          {"lines": n_lines, "items": n_items, "customers": n_customers, "rules": len(book.rules)},
                          compile_s=first,
                          notes=(f"{n_lines / batch_s:,.0f} lines/s; bare int64 loop {ref_s:.3f} s, ratio {batch_s / ref_s:.1f}x; "
                                 f"first call {first:.2f} s; {out.fallback_orders} orders by the exact fallback; "
                                 f"data setup {setup_s:.1f} s (not timed)")))
    return results


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small", choices=sorted(SIZES))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    for r in run(size=a.size, seed=a.seed, repeats=a.repeats):
        print(f"{r.case:24s} {r.metric:7s} {r.value:12.4g} {r.unit:3s} target {r.target} passed {r.passed}  {r.notes}")
