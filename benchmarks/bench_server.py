"""Server benchmark: availability inquiries and durable order capture over HTTP on loopback.

Starts ``promessa serve`` (uvicorn, one process) on 127.0.0.1 with a generated snapshot and a
fresh SQLite order book (WAL, synchronous=FULL), then drives it with a small closed-loop load
generator (raw HTTP/1.1 keep-alive connections on asyncio, so that the client costs little of
the shared CPU). Before timing it checks the server's answer against an in-process promise.

Reference points measured in the same run (issue 19): the HTTP ceiling, a bare FastAPI app
(benchmarks/bare_app.py) served the same way under the same load generator and concurrency,
in rounds alternating with the inquiries; and the write ceiling, raw durable inserts on the same
SQLite settings (WAL, synchronous=FULL) grouped per transaction like the committer, from as many
threads as the capture has connections, in rounds alternating with the capture. Inquiries and capture are reported as ratios to them.

Targets (issue 6): inquiries >= 3,000 req/s with p99 <= 10 ms; durable capture >= 500
orders/s with p99 <= 25 ms. The load generator shares the machine with the server; the
figures say so.

Run: ``promessa bench --only server --size small`` (or ``python -m benchmarks.bench_server``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, Result, percentile

KEY = "bench-key"
_DURATION = {"small": 4.0, "medium": 8.0, "full": 15.0}
CONC_INQUIRY = 6   # connections of the inquiry load (and of the HTTP ceiling)
CONC_CAPTURE = 6   # connections of the capture load (and threads of the write ceiling)
ROUNDS = 4         # inquiries and HTTP ceiling, capture and write ceiling: measured in this many alternating rounds
_SNAPSHOT = {"small": "small", "medium": "medium", "full": "medium"}  # the server barely depends on size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, snapshot: Path | None, db: Path | str | None, log: Path, *, extra: tuple[str, ...] = (),
                 bare: bool = False, env: dict[str, str] | None = None) -> None:
        """``promessa serve`` on a free loopback port; with `bare`, the bare FastAPI app (benchmarks/bare_app.py);
        `env`: more environment variables for the server (settings)."""
        self.port = _free_port()
        env = {**os.environ, "PROMESSA_ORDERS__APPROVAL_VALUE_THRESHOLD": "1000000000000", "PROMESSA_ORDERS__APPROVAL_ON_PRICE_OVERRIDE": "false",
               **(env or {})}
        if os.environ.get("PROMESSA_BENCH_SERVER_PYTHONPATH"):  # e.g. a directory with uvloop and httptools
            env["PYTHONPATH"] = os.environ["PROMESSA_BENCH_SERVER_PYTHONPATH"] + os.pathsep + env.get("PYTHONPATH", "")
        if bare:
            cmd = [sys.executable, "-m", "benchmarks.bare_app", str(self.port), KEY]
        else:
            cmd = [sys.executable, "-m", "promessa.cli", "serve", "--snapshot", str(snapshot), "--db", str(db),
                   "--host", "127.0.0.1", "--port", str(self.port), "--api-key", f"{KEY}=admin", *extra]
        self._log = open(log, "ab")  # noqa: SIM115
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        import httpx

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 120:
                self.stop()
                raise RuntimeError("server did not start in 120 s")
            time.sleep(0.05)
        self.start_s = time.perf_counter() - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def _request(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _connection(port: int, make, stop_at: float, lat: list[float], statuses: dict[int, int], bodies: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            req = make()
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            body = await reader.readexactly(n)
            lat.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if bodies is not None and len(bodies) < 100_000:
                bodies.append(body)
    finally:
        writer.close()


def _load(port: int, make, *, concurrency: int, duration: float, keep_bodies: bool = False):
    """Closed loop: `concurrency` keep-alive connections, each sends the next request when the last answered."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list | None = [] if keep_bodies else None

    async def main() -> float:
        stop_at = time.perf_counter() + duration
        t0 = time.perf_counter()
        await asyncio.gather(*(_connection(port, make, stop_at, lat, statuses, bodies) for _ in range(concurrency)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    return lat, statuses, elapsed, bodies


def _alternate(cases: list[tuple[int, object]], *, concurrency: int, duration: float) -> list[tuple[list, dict, float]]:
    """Each (port, make) case loaded for `duration` in all, in ROUNDS alternating rounds: (latencies, statuses, seconds)."""
    out: list[tuple[list, dict, float]] = [([], {}, 0.0) for _ in cases]
    for _ in range(ROUNDS):
        for i, (port, make) in enumerate(cases):
            lat, st, el, _ = _load(port, make, concurrency=concurrency, duration=duration / ROUNDS)
            acc_lat, acc_st, acc_el = out[i]
            acc_lat += lat
            for k, v in st.items():
                acc_st[k] = acc_st.get(k, 0) + v
            out[i] = (acc_lat, acc_st, acc_el + el)
    return out


def _lines(snap, rng: random.Random, n: int) -> list[dict]:
    """Request lines on item-locations that have supply, requested in the first weeks."""
    out = []
    ils = list(range(snap.n_il))
    rng.shuffle(ils)
    for il in ils[: n]:
        item, loc = snap.il_name(il)
        out.append({"item": item, "location": loc, "qty": float(rng.randint(1, 3)),
                    "requested_date": snap.date(rng.randint(1, 21)).isoformat()})
    return out


def run(*, size: str = "small", seed: int = 7, repeats: int = 0) -> list[Result]:
    from promising import Policy, Request, promise
    from supplydata import load_snapshot
    from supplydata.generate import generate

    duration = _DURATION[size] * max(1, repeats or 1)
    tmp = Path(tempfile.mkdtemp(prefix="promessa-bench-server-"))
    results: list[Result] = []
    try:
        generate(tmp / "snap", seed=seed, size=_SNAPSHOT[size])
        snap = load_snapshot(tmp / "snap")
        rng = random.Random(seed)
        lines = _lines(snap, rng, 256)
        srv = _Server(tmp / "snap", tmp / "orderbook.sqlite", tmp / "server.log")
        try:
            port = srv.port
            # -- check against the reference (in-process promise on the same snapshot, nothing committed yet)
            import httpx

            ref_line = lines[0]
            got = httpx.post(f"http://127.0.0.1:{port}/v1/availability", json={"lines": [ref_line]}, headers={"X-API-Key": KEY}, timeout=10).json()
            want = promise(snap, snap.new_state(), Request(ref_line["item"], ref_line["location"], ref_line["qty"],
                                                           snap.date(snap.bucket(ref_line["requested_date"])), Policy()))
            g = got["lines"][0]
            assert g["status"] == want.status.name.lower() and abs(g["promised_qty"] - want.promised_qty) < 1e-9, (g, want)
            assert [ln["date"] for ln in g["lines"]] == [ln.date.isoformat() for ln in want.lines]

            # -- availability inquiries
            inquiry_bodies = [json.dumps({"lines": [ln], "explain": False}).encode() for ln in lines]
            reqs = [_request(port, "POST", "/v1/availability", b, {"X-API-Key": KEY}) for b in inquiry_bodies]
            it = iter(range(10**12))
            make_inq = lambda: reqs[next(it) % len(reqs)]  # noqa: E731
            # the HTTP ceiling: the bare FastAPI app, served the same way, the same inquiry bodies and load, measured
            # in alternating rounds with the inquiries (the machine's load changes during a run)
            bare = _Server(None, None, tmp / "bare.log", bare=True)
            try:
                breqs = [_request(bare.port, "POST", "/v1/availability", b, {"X-API-Key": KEY}) for b in inquiry_bodies]
                bit = iter(range(10**12))
                make_bare = lambda: breqs[next(bit) % len(breqs)]  # noqa: E731
                _load(port, make_inq, concurrency=4, duration=1.0)  # warm-up
                _load(bare.port, make_bare, concurrency=4, duration=1.0)
                conc_inq = CONC_INQUIRY
                (lat, st, el), (blat, bst, bel) = _alternate([(port, make_inq), (bare.port, make_bare)],
                                                             concurrency=conc_inq, duration=duration)
            finally:
                bare.stop()
            ok = st.get(200, 0)
            thr = ok / el
            p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
            params = {"concurrency": conc_inq, "duration_s": round(el, 1), "requests": len(lat), "non_200": len(lat) - ok,
                      "rounds": ROUNDS, "snapshot": _SNAPSHOT[size], "item_locations": snap.n_il, "loadavg_1m": _loadavg()}
            results += [
                Result("server.inquiry", "throughput", thr, "req/s", ">= 3000 req/s", thr >= 3000, params,
                       compile_s=srv.start_s, notes="one line per request, no pegging; load generator on the same 2 cores"),
                Result("server.inquiry", "p50", p50, "ms", None, None, params),
                Result("server.inquiry", "p99", p99, "ms", "<= 10 ms", p99 <= 10, params),
            ]

            # the write ceiling, in rounds alternating with the capture's; its documents are as long as an order's
            ceiling: list[_WriteCeiling] = []

            def write_round(seconds: float, answers: list[bytes]) -> None:
                if not ceiling:
                    doc = next((b for b in answers if b.startswith(b'{"order_id"')), b"{}")
                    ceiling.append(_WriteCeiling(tmp / "ceiling.sqlite", threads=CONC_CAPTURE, doc=doc))
                ceiling[0].run(seconds)

            results += _capture_case(port, snap, lines, duration=duration, case="server.capture",
                                     store="sqlite wal synchronous=FULL", between=write_round)
        finally:
            srv.stop()
        bok = bst.get(200, 0)
        assert bok == len(blat), bst
        http_ceiling = bok / bel
        bparams = {"concurrency": conc_inq, "duration_s": round(bel, 1), "requests": len(blat), "non_200": len(blat) - bok,
                   "rounds": ROUNDS, "loadavg_1m": _loadavg()}
        results += [
            Result("server.http_ceiling", "throughput", http_ceiling, "req/s", None, None, bparams,
                   notes="bare FastAPI app (benchmarks/bare_app.py): one POST parsing a body like the inquiry's and "
                         "answering a JSON like its answer, nothing behind it; uvicorn started like promessa serve; in "
                         "rounds alternating with the inquiries'"),
            Result("server.http_ceiling", "p99", percentile(blat, 99) * 1e3, "ms", None, None, bparams),
        ]
        wc = ceiling[0].result()
        results += [
            Result("server.write_ceiling", "throughput", wc["throughput"], "orders/s", None, None, wc["params"],
                   notes="raw inserts (an order row with its JSON document + a line row) from as many threads as the "
                         "capture's connections, written by one thread in groups of up to 512 per transaction "
                         "(WAL, synchronous=FULL), each thread waiting for its commit; no HTTP, no promising; in rounds "
                         "alternating with the capture's"),
            Result("server.write_ceiling", "p99", wc["p99_ms"], "ms", None, None, wc["params"]),
        ]
        byname = {(r.case, r.metric): r.value for r in results}
        ratio_params = {"measured": "same run, same load generator, same concurrency"}
        results += [
            Result("server.inquiry_vs_http_ceiling", "ratio", byname[("server.inquiry", "throughput")] / http_ceiling, "x",
                   None, None, ratio_params, notes="inquiry throughput / bare FastAPI throughput"),
            Result("server.capture_vs_http_ceiling", "ratio", byname[("server.capture", "throughput")] / http_ceiling, "x",
                   None, None, ratio_params, notes="durable capture throughput / bare FastAPI throughput"),
            Result("server.capture_vs_write_ceiling", "ratio", byname[("server.capture", "throughput")] / wc["throughput"],
                   "x", None, None, ratio_params, notes="durable capture throughput / raw durable insert throughput"),
        ]
        # the same capture load on PostgreSQL, when a server is reachable
        pg_url = os.environ.get("PROMESSA_BENCH_PG_URL", os.environ.get("PROMESSA_TEST_PG_URL",
                                                                        "postgresql://postgres@127.0.0.1:5432/test"))
        schema = f"bench_{os.getpid()}"
        if _pg_reachable(pg_url):
            srv = _Server(tmp / "snap", pg_url, tmp / "server-pg.log", extra=("--pg-schema", schema))
            try:
                pg = _capture_case(srv.port, snap, lines, duration=duration, case="server.capture_postgresql",
                                   store="postgresql (loopback)")
            finally:
                srv.stop()
                _drop_schema(pg_url, schema)
            results += pg
            results.append(Result("server.capture_postgresql_vs_http_ceiling", "ratio", pg[0].value / http_ceiling, "x",
                                  None, None, ratio_params,
                                  notes="durable capture on PostgreSQL / bare FastAPI throughput (no PostgreSQL write "
                                        "ceiling is measured)"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


class _WriteCeiling:
    """Raw durable inserts: `threads` closed-loop writers each queue one order (an order row with `doc` and one line
    row) and wait until one writer thread has committed it, in groups of up to `max_batch` per transaction (like
    orderbook.committer.GroupCommitter), on SQLite in WAL mode with synchronous=FULL (like orderbook.store).
    `run(seconds)` measures one round; `result()` checks the file and sums the rounds."""

    def __init__(self, path: Path, *, threads: int, doc: bytes, max_batch: int = 512) -> None:
        import sqlite3

        self.threads, self.doc, self.max_batch = threads, doc, max_batch
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, customer TEXT, zone TEXT, status TEXT, "
                          "created_at TEXT, version INTEGER, doc TEXT)")
        self.conn.execute("CREATE TABLE order_lines (order_id TEXT, line INTEGER, item TEXT, location TEXT, qty REAL, "
                          "requested_date TEXT, promised_qty REAL, PRIMARY KEY (order_id, line))")
        self.lat: list[float] = []
        self.elapsed = 0.0
        self.transactions = 0
        self._next = 0

    def run(self, duration: float) -> None:
        import threading

        conn, text = self.conn, self.doc.decode()
        queue: list[tuple[tuple, threading.Event]] = []
        cv = threading.Condition()
        stopping = [False]

        def committer() -> None:
            while True:
                with cv:
                    while not queue and not stopping[0]:
                        cv.wait()
                    if not queue:
                        return
                    batch = queue[: self.max_batch]
                    del queue[: len(batch)]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?)", [row[0] for row, _ in batch])
                conn.executemany("INSERT INTO order_lines VALUES (?,?,?,?,?,?,?)", [row[1] for row, _ in batch])
                conn.commit()
                self.transactions += 1
                for _, ev in batch:
                    ev.set()

        lock = threading.Lock()
        lat: list[list[float]] = [[] for _ in range(self.threads)]

        def client(i: int, stop_at: float) -> None:
            ev = threading.Event()
            while time.perf_counter() < stop_at:
                with lock:
                    k = self._next
                    self._next += 1
                oid = f"O{k:09d}"
                row = ((oid, f"C{k % 997}", "Z1", "confirmed", "2026-01-01T00:00:00+00:00", 1, text),
                       (oid, 1, "I1", "L1", 1.0, "2026-01-02", 1.0))
                ev.clear()
                t0 = time.perf_counter()
                with cv:
                    queue.append((row, ev))
                    cv.notify()
                ev.wait()
                lat[i].append(time.perf_counter() - t0)

        writer = threading.Thread(target=committer, name="write-ceiling-committer")
        writer.start()
        t0 = time.perf_counter()
        clients = [threading.Thread(target=client, args=(i, t0 + duration)) for i in range(self.threads)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        self.elapsed += time.perf_counter() - t0
        with cv:
            stopping[0] = True
            cv.notify()
        writer.join()
        self.lat += [x for per in lat for x in per]

    def result(self) -> dict:
        stored = self.conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        lines = self.conn.execute("SELECT count(*) FROM order_lines").fetchone()[0]
        self.conn.close()
        assert stored == lines == len(self.lat), (stored, lines, len(self.lat))  # every acknowledged insert is stored
        return {"throughput": len(self.lat) / self.elapsed, "p99_ms": percentile(self.lat, 99) * 1e3,
                "params": {"threads": self.threads, "duration_s": round(self.elapsed, 1), "orders": len(self.lat),
                           "transactions": self.transactions, "doc_bytes": len(self.doc), "rounds": ROUNDS,
                           "store": "sqlite wal synchronous=FULL", "loadavg_1m": _loadavg()}}


def _loadavg() -> float | None:
    """1-minute load average of the machine (other work shares its 2 cores)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pg_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001
        return False


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _capture_case(port: int, snap, lines: list[dict], *, duration: float, case: str, store: str,
                  between=None) -> list[Result]:
    """Durable order capture, each order with an Idempotency-Key; checks the book afterwards. With `between`,
    the load runs in ROUNDS rounds and ``between(seconds, answers so far)`` runs after each."""
    import httpx

    results: list[Result] = []
    zones = sorted(z for z in snap.tables["locations"]["zone"].drop_nulls().unique().to_list())
    counter = iter(range(10**12))

    def make_cap() -> bytes:
        k = next(counter)
        ln = lines[k % len(lines)]
        body = json.dumps({"customer": f"C{k % 997}", "zone": zones[k % len(zones)],
                           "lines": [{"item": ln["item"], "location": ln["location"], "qty": ln["qty"],
                                      "requested_date": ln["requested_date"]}]}).encode()
        return _request(port, "POST", "/v1/orders", body, {"X-API-Key": KEY, "Idempotency-Key": f"bench-{k}"})

    conc_cap = CONC_CAPTURE
    if between is None:
        lat, st, el, bodies = _load(port, make_cap, concurrency=conc_cap, duration=duration, keep_bodies=True)
    else:  # alternating rounds: capture, then `between` (the write ceiling) for as long
        lat, st, el, bodies = [], {}, 0.0, []
        for _ in range(ROUNDS):
            rl, rs, re_, rb = _load(port, make_cap, concurrency=conc_cap, duration=duration / ROUNDS, keep_bodies=True)
            lat += rl
            bodies += rb
            el += re_
            for k, v in rs.items():
                st[k] = st.get(k, 0) + v
            between(duration / ROUNDS, bodies)
    ok = st.get(201, 0)
    thr = ok / el
    p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    # every acknowledged order is in the book, and the commitments add up
    health = httpx.get(f"http://127.0.0.1:{port}/v1/health", headers={"X-API-Key": KEY}, timeout=30).json()
    assert health["orders"] == ok, (health["orders"], ok)
    reserved = sum(d["qty"] for b in bodies if b.startswith(b'{"order_id"')
                   for d in json.loads(b)["lines"][0]["draws"] if d["kind"] == "atp")
    com = httpx.get(f"http://127.0.0.1:{port}/v1/commitments", headers={"X-API-Key": KEY}, timeout=60).json()
    assert abs(com["committed_total"] - reserved) < 1e-6 * max(1.0, reserved), (com["committed_total"], reserved)
    params = {"concurrency": conc_cap, "duration_s": round(el, 1), "orders": ok, "non_201": len(lat) - ok,
              "store": store, "idempotency_keys": True, "loadavg_1m": _loadavg()}
    results += [
        Result(case, "throughput", thr, "orders/s", ">= 500 orders/s", thr >= 500, params,
               notes="validate + promise + commit + fsync'd write before the 201"),
        Result(case, "p50", p50, "ms", None, None, params),
        Result(case, "p99", p99, "ms", "<= 25 ms", p99 <= 25, params),
    ]
    return results



if __name__ == "__main__":  # pragma: no cover
    for r in run(size=sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(f"{r.case:<18} {r.metric:<11} {r.value:>10.2f} {r.unit:<9} {r.target or ''}  {r.params}")
