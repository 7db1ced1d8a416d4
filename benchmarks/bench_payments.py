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

- ``payments.webhook_http``: the same webhooks over HTTP under load. ``promessa serve`` (benchmarks/bench_server.py's
  ``_Server``) with a fresh SQLite order book; N orders are captured, paid by card (authorized at the test gateway)
  and their payments captured (pending), all through the API; the gateway's signed webhooks (``payment.authorized``
  and ``capture.succeeded``, every 5th sent a second time: a duplicate) are taken from
  ``POST /v1/payments/gateway/outbox`` and POSTed to ``/v1/payments/webhooks/gateway`` by a closed-loop load
  generator (bench_server's, raw keep-alive HTTP/1.1 on asyncio) from several connections for a bounded time;
  throughput, p50 and p99. Reference: the bare FastAPI app (benchmarks/bare_app.py) under the
  same generator and concurrency, in rounds alternating with the webhooks', and the durable-write floor (one
  fsync'd SQLite commit, closed loop, same pragmas as the order book) in the same rounds. The closed loop measures
  saturation: its latency is mostly queueing behind the other connections. So the target is read on an OPEN-loop row
  (``payments.webhook_http_open``): webhooks due at a fixed rate (OPEN_RATE = 500/s; and
  ``payments.webhook_http_open_half`` at 50 % of the closed-loop throughput of the same run), each sent at its due
  time on a free keep-alive connection, its latency counted from that due time (no coordinated omission), reported
  with the offered and achieved rates and the bare app's p50/p99 at the same rate. Afterwards every payment whose capture
  webhook was delivered is checked captured, and every duplicate answered ``duplicate: true``.

Before timing, the batch is checked: numbers 1..N without gaps, and the totals of a sample of
invoices equal the amounts computed by hand from the line data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
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


HTTP_SIZES = {"tiny": (300, 2.0), "small": (2_500, 4.0), "medium": (5_000, 8.0), "full": (8_000, 12.0)}  # orders, seconds
HTTP_CONCURRENCY = 6
OPEN_RATE = 500.0        # webhooks/s: the fixed offered rate of the open-loop row (beside 50 % of the saturation rate)
OPEN_CONNECTIONS = 64    # keep-alive connections of the open-loop generator (a request waits for a free one: counted)


async def _open_connection(port: int, free: asyncio.Queue) -> None:
    free.put_nowait(await asyncio.open_connection("127.0.0.1", port))


async def _send_scheduled(conn, req: bytes, due: float, free: asyncio.Queue, lat: list, statuses: dict, bodies) -> None:
    reader, writer = conn
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            n = int(line[15:])
    body = await reader.readexactly(n)
    lat.append(time.perf_counter() - due)  # from the scheduled send time: waiting for a connection counts
    st = int(head[9:12])
    statuses[st] = statuses.get(st, 0) + 1
    if bodies is not None:
        bodies.append(body)
    free.put_nowait(conn)


def _load_open(port: int, make, *, rate: float, duration: float, keep_bodies: bool = False):
    """Open loop: request k is due at t0 + k / `rate`, whatever the answers before it (no coordinated omission); it is
    sent on a free keep-alive connection (of OPEN_CONNECTIONS; when none is free it waits, and that wait counts) and
    its latency runs from its due time to the end of its answer (this process's heap is frozen meanwhile: its own full
    garbage collections do not stall the sending). Returns (latencies, statuses, seconds from the first
    due time to the last answer, bodies in the order of the latencies, requests sent)."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list | None = [] if keep_bodies else None

    async def main() -> tuple[float, int]:
        free: asyncio.Queue = asyncio.Queue()
        await asyncio.gather(*(_open_connection(port, free) for _ in range(OPEN_CONNECTIONS)))
        conns = list(free._queue)  # noqa: SLF001 - every connection, to close them at the end
        n = int(rate * duration)
        tasks = []
        t0 = time.perf_counter() + 0.01
        for k in range(n):
            due = t0 + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await free.get()
            tasks.append(asyncio.ensure_future(_send_scheduled(conn, make(), due, free, lat, statuses, bodies)))
        await asyncio.gather(*tasks)
        el = time.perf_counter() - t0
        for _, w in conns:
            w.close()
        return el, n

    # the generator's own heap (the webhooks to send, the setup's answers) is frozen out of its collector's full passes
    # while it sends: a full pass of this process stalls the sending, and that stall would count as the server's latency
    gc.collect()
    gc.freeze()
    try:
        el, n = asyncio.run(main())
    finally:
        gc.unfreeze()
    return lat, statuses, el, bodies, n


class _CommitFloor:
    """The durable-write floor: one row upserted per transaction (WAL, synchronous=FULL, like the order book), in a
    closed loop from one thread: what one fsync'd commit costs on this disk, in rounds beside the webhooks'."""

    def __init__(self, path: Path, *, doc_bytes: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE consumer_records (kind TEXT, key TEXT, doc TEXT, PRIMARY KEY (kind, key))")
        self.doc, self.lat, self._k = "x" * doc_bytes, [], 0

    def run(self, seconds: float) -> None:
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            self._k += 1
            t0 = time.perf_counter()
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT OR REPLACE INTO consumer_records VALUES ('payments', ?, ?)", (f"O{self._k % 997}", self.doc))
            self.conn.execute("COMMIT")
            self.lat.append(time.perf_counter() - t0)


def _bench_webhooks_http(size: str, seed: int) -> list[Result]:
    """Webhooks over HTTP against a real server (see the module docstring); the figures and their checks."""
    import concurrent.futures
    import itertools
    import random
    import shutil

    import httpx

    from benchmarks.bench_server import KEY, ROUNDS, _lines, _load, _loadavg, _request, _Server
    from supplydata import load_snapshot
    from supplydata.generate import generate

    n, duration = HTTP_SIZES[size]
    tmp = Path(tempfile.mkdtemp(prefix="promessa-bench-webhook-"))
    try:
        generate(tmp / "snap", seed=seed, size="tiny")
        snap = load_snapshot(tmp / "snap")
        lines = _lines(snap, random.Random(seed), 64)
        zones = sorted(z for z in snap.tables["locations"]["zone"].drop_nulls().unique().to_list())
        env = {"PROMESSA_O2C__GATEWAY_SECRET": SECRET.decode(), "PROMESSA_O2C__RECONCILE_AFTER_S": "0",
               "PROMESSA_O2C__CAPTURE_RULE": "on_order"}  # the card is captured (pending) when it is authorized
        srv = _Server(tmp / "snap", tmp / "orderbook.sqlite", tmp / "server.log", env=env)
        hdr = {"X-API-Key": KEY}
        try:
            base = f"http://127.0.0.1:{srv.port}"

            def setup(k: int) -> str:
                with httpx.Client(base_url=base, headers=hdr, timeout=60) as h:
                    ln = lines[k % len(lines)]
                    r = h.post("/v1/orders", json={"customer": f"C{k % 97}", "zone": zones[k % len(zones)], "lines": [ln]})
                    assert r.status_code == 201, r.text
                    oid = r.json()["order_id"]
                    r = h.post(f"/v1/orders/{oid}/payments", json={"method": "card", "token": "tok_visa", "amount": "25.00"})
                    assert r.status_code == 201 and r.json()["state"] == "authorized", r.text  # capture sent (on_order)
                    assert r.json()["trail"][-1]["event"] == "capture_requested", r.text
                    return r.json()["payment_id"]

            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(HTTP_CONCURRENCY) as pool:
                pids = list(pool.map(setup, range(n)))
            setup_s = time.perf_counter() - t0
            hooks = httpx.post(f"{base}/v1/payments/gateway/outbox", params={"all": "true"}, headers=hdr,
                               timeout=120).json()["webhooks"]
            assert len(hooks) == 2 * n, len(hooks)  # an authorization and a capture per payment
            # in the gateway's order, every 5th sent again 10 places later (a duplicate notification)
            order: list[dict] = []
            for k, w in enumerate(hooks):
                order.append(w)
                if k >= 10 and (k - 10) % 5 == 0:
                    order.append(hooks[k - 10])
            reqs = [_request(srv.port, "POST", "/v1/payments/webhooks/gateway", w["body"].encode(),
                             {"Webhook-Signature": w["signature"]}) for w in order]
            # each row sends its own part of the webhooks (the open-loop rows as many as they need at OPEN_RATE, the
            # closed loop the rest), so each row has webhooks to apply; past the end of its part, duplicates again
            k_open = min(int(OPEN_RATE * duration / 2), len(reqs) // 4)
            parts = {"closed": (0, len(reqs) - 2 * k_open), "half": (len(reqs) - 2 * k_open, len(reqs) - k_open),
                     "fixed": (len(reqs) - k_open, len(reqs))}
            sent = {name: itertools.count() for name in parts}

            def hooks_of(name: str):
                lo, hi = parts[name]
                c = sent[name]
                return lambda: reqs[lo + next(c) % (hi - lo)]

            make_hook = hooks_of("closed")
            bare = _Server(None, None, tmp / "bare.log", bare=True)
            try:
                body = json.dumps({"lines": [lines[0]], "explain": False}).encode()
                breq = _request(bare.port, "POST", "/v1/availability", body, {"X-API-Key": KEY})
                _load(bare.port, lambda: breq, concurrency=2, duration=0.5)  # warm-up of the bare app only
                lat, answers, st, el, blat, bst, bel = [], [], {}, 0.0, [], {}, 0.0
                floor = _CommitFloor(tmp / "floor.sqlite", doc_bytes=len(hooks[0]["body"]) * 8)
                for _ in range(ROUNDS):  # alternating rounds (the machine's load changes during a run)
                    floor.run(duration / ROUNDS / 2)
                    rl, rs, re_, rb = _load(srv.port, make_hook, concurrency=HTTP_CONCURRENCY, duration=duration / ROUNDS,
                                            keep_bodies=True)
                    lat, answers, el = lat + rl, answers + rb, el + re_
                    bl, bs, be, _ = _load(bare.port, lambda: breq, concurrency=HTTP_CONCURRENCY, duration=duration / ROUNDS)
                    blat, bel = blat + bl, bel + be
                    for acc, got in ((st, rs), (bst, bs)):
                        for k, v in got.items():
                            acc[k] = acc.get(k, 0) + v
                # open loop at fixed offered rates: half the saturation throughput just measured, and OPEN_RATE; the
                # bare app at the same rates right after each (same generator)
                sat = len(lat) / el
                opened = []
                for part, rate in (("half", round(sat / 2)), ("fixed", OPEN_RATE)):
                    ol, ost, oel, ob, on = _load_open(srv.port, hooks_of(part), rate=rate, duration=duration / 2, keep_bodies=True)
                    bl, bs, bel_o, _, bn = _load_open(bare.port, lambda: breq, rate=rate, duration=duration / 2)
                    assert ost.get(200, 0) == len(ol) == on, ost
                    assert bs.get(200, 0) == len(bl) == bn, bs
                    answers += ob
                    opened.append((rate, ol, ob, oel, on, bl, bel_o))
            finally:
                bare.stop()
                floor.conn.close()
            used = {name: next(c) for name, c in sent.items()}
            total = sum(used.values())
            # checks: every answer 200; each payment whose capture webhook went out is captured, nothing else is
            assert st.get(200, 0) == len(lat), st
            assert bst.get(200, 0) == len(blat), bst
            delivered = [w for name, (lo, hi) in parts.items() for w in order[lo: lo + min(used[name], hi - lo)]]
            cap_refs = {json.loads(w["body"])["reference"].split(":")[0] for w in delivered
                        if json.loads(w["body"])["type"] == "capture.succeeded"}
            with httpx.Client(base_url=base, headers=hdr, timeout=60) as h:
                sample = random.Random(seed).sample(pids, min(60, len(pids)))
                for pid in sample:
                    p = h.get(f"/v1/payments/{pid}").json()
                    want = "25.00" if pid in cap_refs else "0.00"
                    assert p["captured"]["amount"] == want, (pid, p["state"], p["captured"], want)
        finally:
            srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    thr, bthr = len(lat) / el, len(blat) / bel
    p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    kinds = [json.loads(b) for b in answers]  # answers in the order of `lat`, then of each open-loop row's
    assert sum(a["applied"] and not a["duplicate"] for a in kinds) == \
        len({a["event_id"] for a in kinds if a["applied"] and not a["duplicate"]}), "applied twice"
    kinds = kinds[: len(lat)]
    applied = [x for x, a in zip(lat, kinds, strict=True) if a["applied"] and not a["duplicate"]]
    dup = [x for x, a in zip(lat, kinds, strict=True) if a["duplicate"]]  # (a duplicate repeats the first answer)
    dups = len(dup)
    params = {"orders": n, "webhooks_sent": total, "applied": len(applied), "duplicates": dups,
              "not_applied": len(lat) - len(applied) - dups,
              "concurrency": HTTP_CONCURRENCY, "duration_s": round(el, 1), "rounds": ROUNDS, "store": "sqlite wal synchronous=FULL",
              "setup_s": round(setup_s, 1), "loadavg_1m": _loadavg()}
    bparams = {"concurrency": HTTP_CONCURRENCY, "duration_s": round(bel, 1), "requests": len(blat), "loadavg_1m": _loadavg()}
    open_rows = []
    floor_p99 = percentile(floor.lat, 99) * 1e3
    for rate, ol, ob, oel, on, bl, _bel in opened:
        ok = [json.loads(b) for b in ob]
        o_applied = sum(a["applied"] and not a["duplicate"] for a in ok)
        o_p50, o_p99 = percentile(ol, 50) * 1e3, percentile(ol, 99) * 1e3
        oparams = {"offered_rate": rate, "achieved_rate": round(len(ol) / oel, 1), "webhooks": on, "applied": o_applied,
                   "duplicates": sum(a["duplicate"] for a in ok), "connections": OPEN_CONNECTIONS,
                   "duration_s": round(oel, 1), "saturation_rate": round(thr, 1), "loadavg_1m": _loadavg()}
        half = rate != OPEN_RATE
        case = "payments.webhook_http_open_half" if half else "payments.webhook_http_open"
        why = "50 % of the closed-loop saturation throughput of this run" if half else f"a fixed {OPEN_RATE:g} webhooks/s"
        open_rows += [
            Result(case, "p50", o_p50, "ms", None, None, oparams),
            Result(case, "p99", o_p99, "ms", None if half else "<= 5 ms at 500/s offered", None if half else o_p99 <= 5.0,
                   oparams,
                   notes=f"{'' if half else 'the target row: '}open loop, offered {rate:g}/s ({why}), achieved "
                         f"{len(ol) / oel:.0f}/s; latency from each webhook's scheduled send time (no coordinated omission); "
                         f"{o_applied} applied (written), {oparams['duplicates']} duplicates, the rest notices that change nothing; bare FastAPI at the same rate: p50 "
                         f"{percentile(bl, 50) * 1e3:.2f} ms, p99 {percentile(bl, 99) * 1e3:.2f} ms; closed-loop "
                         f"(saturation, {HTTP_CONCURRENCY} connections) p99 {p99:.2f} ms"),
            Result(case + "_vs_write_floor", "ratio", o_p99 / floor_p99, "x", None, None, oparams,
                   notes=f"p99 {o_p99:.2f} ms / the durable-write floor's p99 {floor_p99:.2f} ms in the same run: an applied "
                         f"webhook waits for at least one such commit, so on a loaded machine its p99 moves with the floor's"),
        ]
    return [
        Result("payments.webhook_http", "throughput", thr, "req/s", None, None, params,
               notes="signed webhooks POSTed to a real promessa serve: verify + apply once + durable write before the 200; "
                     "load generator on the same 2 cores; closed loop (saturation)"),
        Result("payments.webhook_http", "p50", p50, "ms", None, None, params),
        Result("payments.webhook_http", "p99", p99, "ms", None, None, params,
               notes=f"closed loop at saturation ({HTTP_CONCURRENCY} connections, each sends when answered): latency "
                     f"here is mostly queueing; the 5 ms target is read on the open-loop rows at a stated offered rate; "
                     f"all answers; the {len(applied)} applied (written): p50 {percentile(applied, 50) * 1e3:.2f} ms, "
                     f"p99 {percentile(applied, 99) * 1e3:.2f} ms; the {dups} duplicates: p99 {percentile(dup, 99) * 1e3:.2f} ms; "
                     f"bare FastAPI p99 {percentile(blat, 99) * 1e3:.2f} ms in the same run"),
        *open_rows,
        Result("payments.webhook_http_write_floor", "p99", floor_p99, "ms", None, None,
               {"commits": len(floor.lat), "doc_bytes": len(floor.doc), "loadavg_1m": _loadavg()},
               notes=f"one durable SQLite commit (WAL, synchronous=FULL, one row), p50 "
                     f"{percentile(floor.lat, 50) * 1e3:.2f} ms, in rounds beside the webhooks': an applied webhook waits "
                     f"for at least one (group commit: the one in flight, then its own)"),
        Result("payments.webhook_http_ceiling", "throughput", bthr, "req/s", None, None, bparams,
               notes="bare FastAPI app (benchmarks/bare_app.py), same generator and concurrency, alternating rounds"),
        Result("payments.webhook_http_vs_http_ceiling", "ratio", thr / bthr, "x", None, None,
               {"measured": "same run, same load generator, same concurrency"},
               notes=f"webhook throughput / bare FastAPI throughput; p99 {p99:.2f} ms vs {percentile(blat, 99) * 1e3:.2f} ms"),
    ]


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
        *_bench_webhooks_http(size, seed),
    ]


if __name__ == "__main__":  # python -m benchmarks.bench_payments [size]
    import sys

    for r in run(size=sys.argv[1] if len(sys.argv) > 1 else "tiny", seed=7, repeats=2):
        print(f"{r.case:28s} {r.metric:6s} {r.value:10.4f} {r.unit:3s} target={r.target} passed={r.passed}  {r.notes}")
