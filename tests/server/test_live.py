"""A real uvicorn server on loopback: concurrency (never oversell), crash safety (kill -9) and
rebuild of the in-memory commitments from the order book. Marked slow; bounded request counts."""

from __future__ import annotations

import concurrent.futures as cf
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CAP = {"X-API-Key": "cap-key"}
VIEW = {"X-API-Key": "view-key"}   # reads need a key too
D1 = "2026-01-06"


def _capture(c: httpx.Client, item: str, qty: float, key: str | None = None, customer: str = "LOAD") -> httpx.Response:
    h = dict(CAP)
    if key:
        h["Idempotency-Key"] = key
    return c.post("/v1/orders", headers=h, json={
        "customer": customer, "zone": "EAST", "lines": [{"item": item, "qty": qty, "requested_date": D1}]})


def test_many_clients_racing_for_the_last_units_never_oversell(live_server, db):
    """40 SCARCE on hand; 24 clients ask for 1-3 units each, 10 times: exactly 40 promised."""
    srv = live_server(db)
    rng = random.Random(7)
    plan = [[rng.randint(1, 3) for _ in range(10)] for _ in range(24)]
    start = threading.Barrier(len(plan))

    def client(qtys: list[int]) -> list[float]:
        out = []
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            start.wait()
            for q in qtys:
                r = _capture(c, "SCARCE", q)
                assert r.status_code == 201, r.text
                out.append(r.json()["lines"][0]["promised_qty"])
        return out

    with cf.ThreadPoolExecutor(len(plan)) as ex:
        promised = [p for ps in ex.map(client, plan) for p in ps]
    assert sum(sum(q) for q in plan) > 40  # more asked than there is
    assert abs(sum(promised) - 40.0) < 1e-9  # total promised == supply, never more
    com = httpx.get(srv.url + "/v1/commitments", headers=VIEW).json()
    scarce = [c for c in com["by_item_location"] if c["item"] == "SCARCE"]
    assert abs(scarce[0]["total"] - 40.0) < 1e-9
    atp = httpx.get(srv.url + "/v1/atp/SCARCE/DC-EAST", headers=VIEW).json()["rows"]
    assert all(r["available"] <= 1e-9 for r in atp) and min(r["cumulative"] for r in atp) >= -1e-9


def _all_orders(url: str) -> dict[str, dict]:
    out, offset = {}, 0
    while True:
        page = httpx.get(url + "/v1/orders", params={"limit": 1000, "offset": offset}, headers=VIEW, timeout=30).json()
        out.update({o["order_id"]: o for o in page["data"]})
        offset += page["count"]
        if offset >= page["total"] or not page["count"]:
            return out


def test_kill_9_loses_no_acknowledged_order_and_rebuilds_commitments_exactly(live_server, db):
    srv = live_server(db)
    acked: dict[str, tuple[str, float]] = {}   # idempotency key -> (order id, promised)
    failed: list[tuple[str, int]] = []         # requests without an answer (in flight at the kill)
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w: int) -> None:
        rng = random.Random(w)
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            n = 0
            while not stop.is_set() and n < 400:
                key, qty = f"w{w}-{n}", rng.randint(1, 5)
                n += 1
                try:
                    r = _capture(c, "BULK", qty, key=key, customer=key)
                except httpx.HTTPError:
                    with lock:
                        failed.append((key, qty))
                    return
                assert r.status_code == 201, r.text
                with lock:
                    acked[key] = (r.json()["order_id"], r.json()["lines"][0]["promised_qty"])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    srv.kill9()  # under load
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 300

    srv2 = live_server(db)
    book = _all_orders(srv2.url)
    for key, (oid, promised) in acked.items():
        assert oid in book, f"acknowledged order {oid} ({key}) lost"
        assert book[oid]["customer"] == key and book[oid]["lines"][0]["promised_qty"] == promised
    # the rebuilt commitments are exactly those of the orders in the book
    com = httpx.get(srv2.url + "/v1/commitments", headers=VIEW).json()
    bulk = next(c for c in com["by_item_location"] if c["item"] == "BULK")
    assert abs(bulk["total"] - sum(o["lines"][0]["promised_qty"] for o in book.values())) < 1e-6
    # a client retrying an unanswered request with its key gets one order, not two
    with httpx.Client(base_url=srv2.url, timeout=10) as c:
        for key, qty in failed:
            r = _capture(c, "BULK", qty, key=key, customer=key)
            assert r.status_code in (201, 409), r.text
            found = c.get("/v1/orders", params={"customer": key}, headers=VIEW).json()
            assert found["total"] == 1

    # quiet: commitments before the crash == commitments after restart
    before = httpx.get(srv2.url + "/v1/commitments", headers=VIEW).json()
    srv2.kill9()
    srv3 = live_server(db)
    after = httpx.get(srv3.url + "/v1/commitments", headers=VIEW).json()
    assert after == before


def test_serve_without_a_snapshot_generates_the_sample(live_server, tmp_path):
    sample = tmp_path / "sample"
    srv = live_server((str(tmp_path / "ob.sqlite"), "unused"), sample=True, extra=("--demo",),
                      env={"PROMESSA_SNAPSHOT__SAMPLE_DIR": str(sample)})
    h = httpx.get(srv.url + "/v1/health", headers=VIEW).json()
    assert h["snapshot"]["source"] == str(sample) and h["snapshot"]["item_locations"] > 0 and h["demo"] is True
    said = srv.log_path.read_text()
    assert f"promessa serving {srv.url}/v1" in said and "DEMO MODE: loopback only" in said
    assert (sample / "meta.json").exists()
    spec = httpx.get(srv.url + "/openapi.json").json()  # public: the schema, no data
    assert "/v1/orders" in spec["paths"]


def test_racing_captures_changes_and_cancels_keep_the_books_balanced(live_server, db):
    """Clients capture SCARCE, change and cancel each other's orders at once: commitments always
    equal the open reservations in the book, and never exceed the 40 on hand."""
    srv = live_server(db)
    ids: list[str] = []
    lock = threading.Lock()

    def client(w: int) -> None:
        rng = random.Random(w)
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for _ in range(12):
                r = rng.random()
                with lock:
                    target = rng.choice(ids) if ids else None
                if r < 0.5 or target is None:
                    resp = _capture(c, "SCARCE", rng.randint(1, 4))
                    assert resp.status_code == 201, resp.text
                    with lock:
                        ids.append(resp.json()["order_id"])
                elif r < 0.8:
                    resp = c.patch(f"/v1/orders/{target}", headers=CAP,
                                   json={"lines": [{"line": 1, "qty": rng.randint(1, 6)}]})
                    assert resp.status_code in (200, 409), resp.text
                else:
                    resp = c.post(f"/v1/orders/{target}/cancel", headers=CAP)
                    assert resp.status_code in (200, 409), resp.text

    with cf.ThreadPoolExecutor(12) as ex:
        list(ex.map(client, range(12)))
    book = _all_orders(srv.url)
    open_qty = sum(sl["qty"] - sl["shipped_qty"] for o in book.values() if o["status"] not in ("cancelled",)
                   for ln in o["lines"] for sl in ln["schedule"])
    com = httpx.get(srv.url + "/v1/commitments", headers=VIEW).json()
    scarce = next((c["total"] for c in com["by_item_location"] if c["item"] == "SCARCE"), 0.0)
    assert abs(scarce - open_qty) < 1e-9 and scarce <= 40 + 1e-9


def test_serve_says_where_what_and_how_long(live_server, db):
    srv = live_server(db)
    line = next(ln for ln in srv.log_path.read_text().splitlines() if ln.startswith("promessa serving"))
    assert line.startswith(f"promessa serving {srv.url}/v1 (docs {srv.url}/docs) · 5 API key(s)")
    detail = srv.log_path.read_text().split(line, 1)[1].splitlines()[1]
    assert f"snapshot {srv.snapshot_dir}" in detail and "as of 2026-01-05, 5 item-locations" in detail
    assert ("store sqlite" in detail or "store postgresql" in detail) and "ready in " in detail
    assert "kernels compiled in " in detail
    if "postgresql" in srv.db[0] and "@" in srv.db[0] and ":" in srv.db[0].split("@")[0].split("//")[-1]:
        assert srv.db[0].split("@")[0].split(":")[-1] not in detail  # no password


def test_a_busy_port_fails_before_anything_is_loaded(tmp_path, snapshot_dir):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "promessa.cli", "serve", "--snapshot", str(snapshot_dir), "--db",
                            str(tmp_path / "ob.sqlite"), "--port", str(port), "--api-key", "k=admin"],
                           capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
        took = time.monotonic() - t0
    assert p.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in p.stderr, p.stderr[-2000:]
    assert "promessa serving" not in p.stderr and not (tmp_path / "ob.sqlite").exists()  # nothing was opened
    assert took < 60


def test_a_supply_delta_survives_kill_9(live_server, db):
    """SCARCE has 40 on hand at DC-EAST: 15 are found lost (-15), a receipt of 20 is booked on Jan 10;
    after kill -9 and a restart the ATP is what it was after the deltas (25 now, 45 from Jan 10), and
    the lost stock is not promised again."""
    plan = {"X-API-Key": "plan-key"}
    srv = live_server(db)
    r = httpx.post(srv.url + "/v1/supply/deltas", headers={**plan, "Idempotency-Key": "d-1"}, timeout=30, json={"deltas": [
        {"item": "SCARCE", "location": "DC-EAST", "date": "2026-01-05", "qty": -15},
        {"item": "SCARCE", "location": "DC-EAST", "date": "2026-01-10", "qty": 20, "kind": "receipt", "ref": "PO-9"}]})
    assert r.status_code == 200, r.text
    before = httpx.get(srv.url + "/v1/atp/SCARCE/DC-EAST", headers=VIEW, timeout=30).json()["rows"]
    assert before[0]["available"] == 25 and before[5]["available"] == 45
    srv.kill9()
    srv2 = live_server(db)
    after = httpx.get(srv2.url + "/v1/atp/SCARCE/DC-EAST", headers=VIEW, timeout=30).json()["rows"]
    assert after == before
    o = httpx.post(srv2.url + "/v1/orders", headers=CAP, timeout=30, json={
        "customer": "X", "zone": "EAST", "policy": {"allow_partial": True, "max_late_days": 0},
        "lines": [{"item": "SCARCE", "qty": 40, "requested_date": D1}]}).json()
    assert o["lines"][0]["promised_qty"] == 25  # on time, the 15 lost are not promised again
