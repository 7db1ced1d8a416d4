"""Order to cash: invoicing a batch of shipments, and verifying + applying payment webhooks.

Timed, each beside a bare reference measured in the same run (the ratio is the figure to quote):

- ``payments.invoice_batch``: N shipments (2 lines each, 20 % and 7 % tax) invoiced in ONE call
  (``Invoicer.invoice_batch``: checks, amounts, gapless numbers and the documents written in one
  SQLite transaction, WAL + synchronous=FULL). Reference: a raw ``executemany`` of N rows of the
  same stored size into a bare table in one transaction. The issue's target: 10,000 shipments in
  at most 5 s (size ``medium`` and ``full``);
- ``payments.webhook``: one signed gateway webhook (capture.succeeded) verified (HMAC-SHA256 and
  timestamp) and applied to its payment, per call; p50 and p99 over M webhooks. Reference: the
  bare HMAC-SHA256 check of the same bodies. Target: p99 at most 5 ms.

Before timing, the batch is checked: numbers 1..N without gaps, and the totals of a sample of
invoices equal the amounts computed by hand from the line data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.harness import Result, median, percentile

SIZES = {"tiny": (500, 500), "small": (2_000, 2_000), "medium": (10_000, 10_000), "full": (10_000, 20_000)}
SECRET = b"whsec_bench"


def _requests(n: int, seed: int):
    import random

    from invoicing import InvoiceRequest, LineInput, PaymentTerms
    from promessa.money import Money

    rnd = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rnd.randint(1, 5), rnd.randint(1, 3)
        pa, pb = Decimal(rnd.randint(100, 99_999)) / 100, Decimal(rnd.randint(100, 9_999)) / 100
        out.append(InvoiceRequest(f"SH{k:07d}", f"O{k // 2:07d}", f"C{k % 500:04d}", "EUR", [
            LineInput(f"I{rnd.randint(1, 9999):05d}", a, Money(pa, "EUR"), "0.20", line_ref="1"),
            LineInput(f"I{rnd.randint(1, 9999):05d}", b, Money(pb, "EUR"), "0.07", line_ref="2"),
        ], PaymentTerms(30)))
    return out


def _hand_total(req) -> Decimal:
    tot = Decimal(0)
    for li in req.lines:
        net = (li.unit_net.amount * li.qty).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        tot += net + (net * Decimal(li.tax_rate)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    return tot


def _bench_invoices(n: int, seed: int, repeats: int, tmp: Path) -> tuple[list[float], list[float], int]:
    from invoicing import Invoicer, SqliteInvoiceStore

    reqs = _requests(n, seed)
    day = dt.date(2026, 1, 5)
    times, refs = [], []
    body_len = 0
    for r in range(repeats):
        store = SqliteInvoiceStore(tmp / f"inv{r}.sqlite")
        inv = Invoicer(store)
        t0 = time.perf_counter()
        docs = inv.invoice_batch(reqs, issue_date=day)
        times.append(time.perf_counter() - t0)
        if r == 0:  # check before quoting anything
            seqs = sorted(d.seq for d in store.documents())
            assert seqs == list(range(1, n + 1)), "invoice numbers are not gapless"
            for k in range(0, n, max(1, n // 50)):
                assert docs[k].total.amount == _hand_total(reqs[k]), (docs[k].number, docs[k].total, _hand_total(reqs[k]))
            body_len = len(json.dumps(docs[0].to_dict(), separators=(",", ":")))
        store.close()
        # the bare reference: the same number of rows of the same size, one transaction, same pragmas
        conn = sqlite3.connect(tmp / f"raw{r}.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (number TEXT PRIMARY KEY, seq INTEGER, body TEXT)")
        pad = "x" * body_len
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", ((f"INV-{k:06d}", k, pad) for k in range(n)))
        conn.execute("COMMIT")
        refs.append(time.perf_counter() - t0)
        conn.close()
    return times, refs, body_len


def _bench_webhooks(m: int) -> tuple[list[float], list[float]]:
    from payments import OfflineProvider, PaymentBook, TestGateway
    from promessa.money import Money

    clock_t = [1_770_000_000.0]
    gw = TestGateway(secret=SECRET, clock=lambda: clock_t[0], delay_s=0.0)
    book = PaymentBook(providers={"gateway": gw, "offline": OfflineProvider()}, webhook_secrets={"gateway": SECRET})
    day = dt.date(2026, 1, 5)
    for k in range(m):
        p = book.open(order=f"O{k}", method="card", amount=Money.of("25.00", "EUR"), token="tok_visa", business_date=day)
        book.authorize(p.payment_id)
    gw.deliver()  # the authorization confirmations (the book already knows): dropped, not timed
    for k in range(m):
        book.capture(f"PAY{k + 1:07d}", key="c1")
    hooks = gw.deliver()
    assert len(hooks) == m
    now = clock_t[0]
    times, refs = [], []
    for body, h in hooks:
        sig = h["Webhook-Signature"]
        t0 = time.perf_counter()
        out = book.handle_webhook("gateway", body, sig, now=now)
        times.append(time.perf_counter() - t0)
        assert out.applied
        t0 = time.perf_counter()
        ts, mac = sig.split(",")
        expected = hmac.new(SECRET, ts[2:].encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, mac[3:])
        refs.append(time.perf_counter() - t0)
        assert ok
    assert all(book.payment(f"PAY{k + 1:07d}").captured == Money.of("25.00", "EUR") for k in range(m))
    return times, refs


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    """Both cases at ``size`` (tiny, small, medium, full); returns the figures with their ratios to the references."""
    repeats = repeats or 3
    n, m = SIZES[size]
    target_size = n >= 10_000
    with tempfile.TemporaryDirectory() as tmp:
        times, refs, body_len = _bench_invoices(n, seed, repeats, Path(tmp))
    t, ref = median(times), median(refs)
    wt, wr = _bench_webhooks(m)
    p99, p99_ref = percentile(wt, 99) * 1e3, percentile(wr, 99) * 1e3
    return [
        Result("payments.invoice_batch", "median", t, "s", "<= 5 s for 10,000 shipments" if target_size else None,
               (t <= 5.0) if target_size else None, {"shipments": n, "lines": 2 * n, "repeats": repeats, "store": "sqlite"},
               notes=f"{n / t:,.0f} invoices/s; ratio {t / ref:.1f}x a bare insert loop of {n} rows of {body_len} bytes "
                     f"({ref * 1e3:.1f} ms), one transaction each, measured side by side"),
        Result("payments.webhook", "p99", p99, "ms", "<= 5 ms", p99 <= 5.0, {"webhooks": m},
               notes=f"p50 {percentile(wt, 50) * 1e3:.3f} ms; ratio {p99 / p99_ref:.1f}x the bare HMAC-SHA256 check "
                     f"(p99 {p99_ref * 1e3:.1f} us) in the same run; in-process, without HTTP"),
    ]


if __name__ == "__main__":  # python -m benchmarks.bench_payments [size]
    import sys

    for r in run(size=sys.argv[1] if len(sys.argv) > 1 else "tiny", seed=7, repeats=2):
        print(f"{r.case:28s} {r.metric:6s} {r.value:10.4f} {r.unit:3s} target={r.target} passed={r.passed}  {r.notes}")
