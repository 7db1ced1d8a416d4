"""Zero-downtime refresh through HTTP: status, refresh (good and bad), deltas, and a live server
serving several clients through several refreshes without failing or waiting."""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

CAP = {"X-API-Key": "cap-key"}      # roles as in tests/server/conftest.py
PLAN = {"X-API-Key": "plan-key"}
ADMIN = {"X-API-Key": "admin-key"}
VIEW = {"X-API-Key": "view-key"}
D1 = "2026-01-06"


def _copy(src: Path, dst: Path, *, filler: int = 0, bad: bool = False) -> Path:
    shutil.copytree(src, dst)
    if filler:  # make the build take a noticeable time
        with open(dst / "items.csv", "a") as f:
            f.writelines(f"F{i:06d},misc,acme,1,0.5,\n" for i in range(filler))
        with open(dst / "supply.csv", "a") as f:
            f.writelines(f"F{i:06d},DC-EAST,2026-01-{5 + i % 20:02d},{1 + i % 7},purchase,PF{i}\n" for i in range(filler))
    if bad:
        text = (dst / "supply.csv").read_text().replace("SCARCE,DC-EAST,2026-01-05,40,", "SCARCE,DC-EAST,2026-01-05,-40,")
        (dst / "supply.csv").write_text(text)
    return dst


def test_status_refresh_and_a_refused_extract(sqlite_client, snapshot_dir, tmp_path):
    c = sqlite_client
    st = c.get("/v1/snapshot").json()
    assert st["as_of"] == "2026-01-05" and st["item_locations"] == 5 and st["last_error"] is None
    r = c.post("/v1/orders", headers=CAP, json={"customer": "A", "zone": "EAST",
                                                 "lines": [{"item": "SCARCE", "qty": 10, "requested_date": D1}]})
    assert r.status_code == 201
    # writes need the admin role
    assert c.post("/v1/snapshot/refresh?wait=true", headers=CAP).status_code == 403
    good = _copy(snapshot_dir, tmp_path / "good")
    r = c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(good)})
    assert r.status_code == 200, r.text
    rep = r.json()["report"]
    assert rep["replayed"] == 1 and rep["exceptions"] == [] and rep["swap_ms"] < 1000
    assert r.json()["snapshot"]["version"] > st["version"] and r.json()["snapshot"]["source"] == str(good)
    # the commitment survived the swap: 30 of 40 SCARCE left
    atp = c.get("/v1/atp/SCARCE/DC-EAST").json()["rows"]
    assert atp[0]["available"] == pytest.approx(30)
    bad = _copy(snapshot_dir, tmp_path / "bad", bad=True)
    r = c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(bad)})
    assert r.status_code == 422
    err = r.json()["detail"][0]  # the one error shape: the file, row and column in ctx
    assert err["type"] == "snapshot_error" and "must not be negative" in err["msg"] and err["ctx"]["row"] == 5
    st2 = c.get("/v1/snapshot").json()
    assert st2["source"] == str(good) and "must not be negative" in st2["last_error"]["message"]
    assert c.get("/v1/atp/SCARCE/DC-EAST").json()["rows"][0]["available"] == pytest.approx(30)


def test_supply_deltas_apply_at_once_and_are_idempotent(sqlite_client):
    c = sqlite_client
    body = {"deltas": [{"item": "SCARCE", "location": "DC-EAST", "date": "2026-01-05", "qty": -15, "kind": "adjustment"},
                       {"item": "SCARCE", "location": "DC-EAST", "date": "2026-01-10", "qty": 20, "kind": "receipt", "ref": "PO-9"}]}
    assert c.post("/v1/supply/deltas", json=body, headers=CAP).status_code == 403
    r = c.post("/v1/supply/deltas", json=body, headers={**PLAN, "Idempotency-Key": "d-1"})
    assert r.status_code == 200 and r.json()["applied"] == 2
    rows = c.get("/v1/atp/SCARCE/DC-EAST").json()["rows"]
    assert rows[0]["available"] == pytest.approx(25) and rows[5]["available"] == pytest.approx(45)
    assert rows[0]["supply"] == pytest.approx(25) and rows[5]["supply"] == pytest.approx(20)
    # the same key and body: answered again, not applied twice
    r = c.post("/v1/supply/deltas", json=body, headers={**PLAN, "Idempotency-Key": "d-1"})
    assert r.json()["replayed"] is True
    assert c.get("/v1/atp/SCARCE/DC-EAST").json()["rows"][0]["available"] == pytest.approx(25)
    other = {"deltas": [dict(body["deltas"][0], qty=-1)]}
    assert c.post("/v1/supply/deltas", json=other, headers={**PLAN, "Idempotency-Key": "d-1"}).status_code == 409
    # bad input: field path and value; nothing applied
    r = c.post("/v1/supply/deltas", headers=PLAN, json={"deltas": [
        {"item": "SCARCE", "location": "DC-EAST", "date": "2026-01-05", "qty": 1},
        {"item": "NOPE", "location": "DC-EAST", "date": "2026-01-05", "qty": 1}]})
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "NOPE"
    assert c.get("/v1/atp/SCARCE/DC-EAST").json()["rows"][0]["available"] == pytest.approx(25)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_clients_keep_promising_through_good_and_bad_refreshes(live_server, snapshot_dir, tmp_path):
    srv = live_server((str(tmp_path / "ob.sqlite"), "unused"), extra=("--snapshot-root", str(tmp_path)))
    extracts = [_copy(snapshot_dir, tmp_path / f"x{i}", filler=20_000, bad=(i % 2 == 1)) for i in range(5)]
    stop = threading.Event()
    log: list[tuple[str, float, float, int, float]] = []   # kind, start, end, status, promised
    lock = threading.Lock()

    def capturer(w: int) -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            n = 0
            while not stop.is_set() and n < 400:
                n += 1
                t0 = time.monotonic()
                r = c.post("/v1/orders", headers={**CAP, "Idempotency-Key": f"w{w}-{n}"}, json={
                    "customer": f"C{w}", "zone": "EAST", "lines": [{"item": "BULK", "qty": 1 + n % 3, "requested_date": D1}]})
                promised = r.json()["lines"][0]["promised_qty"] if r.status_code == 201 else 0.0
                with lock:
                    log.append(("capture", t0, time.monotonic(), r.status_code, promised))

    def inquirer() -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            n = 0
            while not stop.is_set() and n < 2000:
                n += 1
                t0 = time.monotonic()
                r = c.post("/v1/availability", headers=VIEW, json={"lines": [{"item": "WIDGET", "qty": 5, "requested_date": D1, "location": "DC-EAST"}]})
                with lock:
                    log.append(("inquiry", t0, time.monotonic(), r.status_code, 0.0))

    windows = []
    with cf.ThreadPoolExecutor(5) as ex:
        futs = [ex.submit(capturer, w) for w in range(3)] + [ex.submit(inquirer) for _ in range(2)]
        time.sleep(0.5)
        with httpx.Client(base_url=srv.url, timeout=120) as admin:
            for d in extracts:
                t0 = time.monotonic()
                r = admin.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(d)})
                windows.append((t0, time.monotonic(), r.status_code, r.json()))
                time.sleep(0.2)
        stop.set()
        for f in futs:
            f.result()

    assert [w[2] for w in windows] == [200, 422, 200, 422, 200]
    # no request failed
    assert log and all(s in (200, 201) for _, _, _, s, _ in log), [x for x in log if x[3] not in (200, 201)][:3]
    # no request waited for a build: requests were started and answered while each good
    # extract was built, and those answered then took far less than the build
    for t0, t1, status, body in windows:
        if status == 200:
            inside = sorted(e - s for _, s, e, _, _ in log if s >= t0 and e <= t1)
            assert len(inside) >= 3, (t1 - t0, len(inside))
            assert inside[len(inside) // 2] < 0.5 * (t1 - t0), (t1 - t0, inside[len(inside) // 2])
            assert body["report"]["build_s"] > 0
    # the commitments equal the open quantities in the order book; no unit promised twice
    com = httpx.get(srv.url + "/v1/commitments", headers=VIEW, timeout=30).json()
    bulk = [x for x in com["by_item_location"] if x["item"] == "BULK"]
    promised = sum(p for k, _, _, s, p in log if k == "capture")
    assert bulk and bulk[0]["total"] == pytest.approx(promised)
    orders, offset = [], 0
    while True:
        page = httpx.get(srv.url + "/v1/orders", params={"limit": 1000, "offset": offset}, headers=VIEW, timeout=30).json()
        orders += page["data"]
        offset += page["count"]
        if offset >= page["total"] or not page["count"]:
            break
    open_qty = sum(d["qty"] for o in orders for ln in o["lines"] for d in ln["draws"])
    assert open_qty == pytest.approx(sum(x["total"] for x in com["by_item_location"]))
    assert len(orders) == sum(1 for k, *_ in log if k == "capture")
