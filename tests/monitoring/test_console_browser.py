"""The planner console in a real headless browser (Debian's Chromium; skipped when it is absent).

A uvicorn server on 127.0.0.1 (a free port, stopped afterwards) serves the monitoring router over
the story's order book (conftest.py) as of 2026-01-12. Chromium loads /v1/console, runs its
JavaScript, and the test reads the jeopardy list from the dumped DOM, then takes a screenshot.
Every Chromium run is bounded by a timeout and its whole process group is killed afterwards.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TODAY = dt.date(2026, 1, 12)
VIEW_KEY = "console-viewer-key"   # given to the page as #key=... (the fragment never reaches the server)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


class _Rows(html.parser.HTMLParser):
    """Rows of <tbody id="jeopardy-list">: (data-order, data-level, [cell texts])."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, list[str]]] = []
        self._in_list = False
        self._row: tuple[str, str, list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody" and a.get("id") == "jeopardy-list":
            self._in_list = True
        elif self._in_list and tag == "tr":
            self._row = (a.get("data-order", ""), a.get("data-level", ""), [])
        elif self._row is not None and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody" and self._in_list:
            self._in_list = False
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row[2].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def server(book, tmp_path):
    import uvicorn

    from api.app import build_app
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import Monitor
    from promessa.config import Role, settings_of

    mon = Monitor.of_service(book[0], MonitoringConfig(event_log=tmp_path / "events.jsonl"), today=lambda: TODAY)
    app = build_app(settings_of(api_keys={VIEW_KEY: Role.VIEWER}))
    app.state.monitor = mon
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def chromium(tmp_path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
           "--virtual-time-budget=10000", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"chromium did not finish within {timeout} s")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # helpers left behind, if any
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def test_console_shows_jeopardy_and_takes_a_screenshot(server, book, tmp_path):
    letters = {v: k for k, v in book[1].items()}
    without_key = chromium(tmp_path, "--dump-dom", f"{server}/v1/console?today={TODAY.isoformat()}")
    assert 'data-ready="error"' in without_key.stdout and "401" in without_key.stdout  # the data needs a key
    url = f"{server}/v1/console?today={TODAY.isoformat()}#key={VIEW_KEY}"
    r = chromium(tmp_path, "--dump-dom", url)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'data-ready="true"' in r.stdout, r.stdout[:3000]
    parser = _Rows()
    parser.feed(r.stdout)
    got = [(letters[o], level, cells[4]) for o, level, cells in parser.rows]
    # worst first: D (critical, no date), then the warnings by days late (A and C 6, E 4), then B on track
    assert got[0] == ("D", "critical", "–")
    assert sorted(got[1:3]) == [("A", "warning", "6"), ("C", "warning", "6")]
    assert got[3:] == [("E", "warning", "4"), ("B", "ok", "0")]
    assert "warning: 3" in r.stdout and "critical: 1" in r.stdout
    # the other panels rendered too: exceptions by customer, the top products and the ATP of WIDGET at DC-EAST
    assert 'data-key="C1"' in r.stdout and "GADGET" in r.stdout and "2026-01-15" in r.stdout

    shot = tmp_path / "console.png"
    r = chromium(tmp_path, "--window-size=1400,1100", f"--screenshot={shot}", url)
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    out = os.environ.get("PROMESSA_SCREENSHOT_DIR")
    if out:  # keep the screenshot for a human (CI artifact)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "console.png").write_bytes(data)
