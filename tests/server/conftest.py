"""HTTP fixtures: a tiny hand-made snapshot, and a TestClient over SQLite or the real PostgreSQL.

The supply story (as_of 2026-01-05, horizon 60 days):
- WIDGET (price 10): DC-EAST (zone EAST) has 100 on hand and 50 arriving on 2026-01-15;
  DC-WEST (zone WEST) has 20 on hand.
- GADGET (price 1000): DC-EAST has 5 on hand, nothing else.
- SCARCE (price 1): DC-EAST has exactly 40 on hand; the concurrency test races for it.
- BULK (price 1): DC-EAST has 1,000,000 on hand (load and crash tests).
- Zone EAST is served by DC-EAST then DC-WEST; zone WEST by DC-WEST.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

AS_OF = "2026-01-05"
KEYS = {"cap-key": "order_capture", "plan-key": "planner", "admin-key": "admin", "view-key": "viewer",
        "ship-key": "fulfillment"}
CAP = {"X-API-Key": "cap-key"}
PLAN = {"X-API-Key": "plan-key"}
ADMIN = {"X-API-Key": "admin-key"}
VIEW = {"X-API-Key": "view-key"}    # reads only
SHIP = {"X-API-Key": "ship-key"}    # fulfillment: events and reads of orders


def write_snapshot(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps({"as_of": AS_OF, "horizon_days": 60}))
    (d / "items.csv").write_text(
        "item,category,brand,price,cost,lead_time_days\nWIDGET,tools,acme,10,4,\nGADGET,tools,acme,1000,400,\nSCARCE,misc,acme,1,0.5,\nBULK,misc,acme,1,0.5,\n")
    (d / "locations.csv").write_text(
        "location,kind,zone,country,calendar\nDC-EAST,dc,EAST,US,\nDC-WEST,dc,WEST,US,\n")
    (d / "supply.csv").write_text(
        "item,location,date,qty,kind,ref\n"
        "WIDGET,DC-EAST,2026-01-05,100,onhand,OH-1\n"
        "WIDGET,DC-EAST,2026-01-15,50,purchase,PO-1\n"
        "WIDGET,DC-WEST,2026-01-05,20,onhand,OH-2\n"
        "GADGET,DC-EAST,2026-01-05,5,onhand,OH-3\n"
        "SCARCE,DC-EAST,2026-01-05,40,onhand,OH-4\n"
        "BULK,DC-EAST,2026-01-05,1000000,onhand,OH-5\n")
    (d / "lanes.csv").write_text(
        "location,zone,transit_days,cost_per_unit,cost_per_shipment\nDC-EAST,EAST,1,0.1,5\nDC-WEST,EAST,3,0.2,5\nDC-WEST,WEST,1,0.1,5\n")
    (d / "sourcing.csv").write_text("zone,location,rank,item,category\nEAST,DC-EAST,1,,\nEAST,DC-WEST,2,,\nWEST,DC-WEST,1,,\n")
    return d


@pytest.fixture(scope="session")
def snapshot_dir(tmp_path_factory) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("snap"))


@pytest.fixture(scope="session")
def snap(snapshot_dir):
    from supplydata import load_snapshot

    return load_snapshot(snapshot_dir)


@pytest.fixture
def db(order_book_db):
    """(db, pg_schema) for a fresh order book (tests/conftest.py: SQLite, and PostgreSQL where reachable)."""
    return order_book_db


def _make_settings(db, **kw):
    from promessa.config import settings_of

    url, schema = db
    base = dict(db=url, pg_schema=schema, api_keys=KEYS, approval_value_threshold=2500.0, max_lines=10,
                max_body_bytes=64 * 1024)
    base.update(kw)
    return settings_of(**base)


@pytest.fixture
def make_settings():
    """make_settings(db, **overrides) -> Settings for a test server."""
    return _make_settings


@pytest.fixture
def client(db, snap):
    """A TestClient whose requests carry the viewer key unless they give another (reads need a key too)."""
    from fastapi.testclient import TestClient

    from server import create_app

    with TestClient(create_app(_make_settings(db), snapshot=snap), headers=VIEW) as c:
        yield c


@pytest.fixture
def sqlite_client(tmp_path, snap):
    """Over SQLite; a refresh may read extracts from tmp_path."""
    from fastapi.testclient import TestClient

    from server import create_app

    with TestClient(create_app(_make_settings((str(tmp_path / "ob.sqlite"), "unused"), roots=[tmp_path]), snapshot=snap), headers=VIEW) as c:
        yield c


# ------------------------------------------------------------------ real uvicorn servers on loopback

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`promessa serve` in a subprocess on 127.0.0.1; stop() or kill9() it."""

    def __init__(self, snapshot_dir: Path | None, db: tuple[str, str], log_path: Path, *, extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.snapshot_dir, self.db, self.log_path, self.extra, self.env = snapshot_dir, db, log_path, extra, env or {}
        self.proc = None
        self.port = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0) -> LiveServer:  # cold numba caches on a busy machine: minutes
        import subprocess
        import sys
        import time

        import httpx

        self.port = free_port()
        cmd = [sys.executable, "-m", "promessa.cli", "serve", "--db", self.db[0],
               "--pg-schema", self.db[1], "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        if self.snapshot_dir is not None:
            cmd += ["--snapshot", str(self.snapshot_dir)]
        for k, role in KEYS.items():
            cmd += ["--api-key", f"{k}={role}"]
        cmd += list(self.extra)
        env = {**os.environ, "PROMESSA_ORDERS__APPROVAL_VALUE_THRESHOLD": "1e12", **self.env}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/livez", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s: {self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        import subprocess

        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


@pytest.fixture
def live_server(snapshot_dir, tmp_path):
    """live_server(db) -> a started LiveServer; every server started is stopped at the end."""
    started: list[LiveServer] = []

    def _start(db, *, extra: tuple[str, ...] = (), env: dict[str, str] | None = None, sample: bool = False) -> LiveServer:
        s = LiveServer(None if sample else snapshot_dir, db, tmp_path / "server.log", extra=extra, env=env).start()
        started.append(s)
        return s

    yield _start
    for s in started:
        s.stop()
