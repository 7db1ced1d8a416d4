"""Server benchmark: availability inquiries and durable order capture over HTTP on loopback.

Starts ``promessa serve`` (uvicorn, one process) on 127.0.0.1 with a generated snapshot and a
fresh SQLite order book (WAL, synchronous=FULL), then drives it with a small closed-loop load
generator (raw HTTP/1.1 keep-alive connections on asyncio, so that the client costs little of
the shared CPU). Before timing it checks the server's answer against an in-process promise.

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
_SNAPSHOT = {"small": "small", "medium": "medium", "full": "medium"}  # the server barely depends on size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, snapshot: Path, db: Path | str, log: Path, *, extra: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        env = {**os.environ, "PROMESSA_ORDERS__APPROVAL_VALUE_THRESHOLD": "1000000000000", "PROMESSA_ORDERS__APPROVAL_ON_PRICE_OVERRIDE": "false"}
        if os.environ.get("PROMESSA_BENCH_SERVER_PYTHONPATH"):  # e.g. a directory with uvloop and httptools
            env["PYTHONPATH"] = os.environ["PROMESSA_BENCH_SERVER_PYTHONPATH"] + os.pathsep + env.get("PYTHONPATH", "")
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
            _load(port, make_inq, concurrency=4, duration=1.0)  # warm-up
            conc_inq = 6
            lat, st, el, _ = _load(port, make_inq, concurrency=conc_inq, duration=duration)
            ok = st.get(200, 0)
            thr = ok / el
            p50, p99 = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
            params = {"concurrency": conc_inq, "duration_s": round(el, 1), "requests": len(lat), "non_200": len(lat) - ok,
                      "snapshot": _SNAPSHOT[size], "item_locations": snap.n_il, "loadavg_1m": _loadavg()}
            results += [
                Result("server.inquiry", "throughput", thr, "req/s", ">= 3000 req/s", thr >= 3000, params,
                       compile_s=srv.start_s, notes="one line per request, no pegging; load generator on the same 2 cores"),
                Result("server.inquiry", "p50", p50, "ms", None, None, params),
                Result("server.inquiry", "p99", p99, "ms", "<= 10 ms", p99 <= 10, params),
            ]

            results += _capture_case(port, snap, lines, duration=duration, case="server.capture",
                                     store="sqlite wal synchronous=FULL")
        finally:
            srv.stop()
        # the same capture load on PostgreSQL, when a server is reachable
        pg_url = os.environ.get("PROMESSA_BENCH_PG_URL", os.environ.get("PROMESSA_TEST_PG_URL",
                                                                        "postgresql://postgres@127.0.0.1:5432/test"))
        schema = f"bench_{os.getpid()}"
        if _pg_reachable(pg_url):
            srv = _Server(tmp / "snap", pg_url, tmp / "server-pg.log", extra=("--pg-schema", schema))
            try:
                results += _capture_case(srv.port, snap, lines, duration=duration, case="server.capture_postgresql",
                                         store="postgresql (loopback)")
            finally:
                srv.stop()
                _drop_schema(pg_url, schema)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


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


def _capture_case(port: int, snap, lines: list[dict], *, duration: float, case: str, store: str) -> list[Result]:
    """Durable order capture, each order with an Idempotency-Key; checks the book afterwards."""
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

    conc_cap = 6
    lat, st, el, bodies = _load(port, make_cap, concurrency=conc_cap, duration=duration, keep_bodies=True)
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
