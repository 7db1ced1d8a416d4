"""The configuration page in a real headless browser on a phone-sized screen (Debian's Chromium; skipped when absent).

A uvicorn server on 127.0.0.1 (a free port, stopped afterwards) serves promessa over the bicycle plant
(bike_plant.py). Chromium opens /v1/configurator/configure at 390x844 with the key, the model and a first
choice in the fragment (``#key=...&model=bicycle&choose=frame:steel``), the page starts a session and makes
that choice through the API, and the test reads the buttons' states from the dumped DOM: steel chosen, the
sizes a steel frame cannot have (S) and the mid motor (too heavy with steel) shown as excluded. Then it takes
a screenshot. Every Chromium run is bounded by a timeout and its whole process group is killed afterwards.
"""

from __future__ import annotations

import html.parser
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from bike_plant import bike_snapshot

CHROMIUM = Path("/usr/bin/chromium")
KEY = "configure-capture-key"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


class _Buttons(html.parser.HTMLParser):
    """(data-var, data-value) -> data-state of every value button."""

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[tuple[str, str], str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "button" and "data-var" in a:
            self.state[(a["data-var"], a["data-value"])] = a.get("data-state", "")


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from promessa.config import Role, settings_of
    from server import create_app

    app = create_app(settings_of(db=str(tmp_path / "ob.sqlite"), api_keys={KEY: Role.ORDER_CAPTURE}), snapshot=bike_snapshot())
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 120
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(15)


def chromium(tmp_path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
           "--virtual-time-budget=10000", "--window-size=390,844", *args]
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


def test_the_page_makes_a_choice_on_a_phone_and_takes_a_screenshot(server, tmp_path):
    page = f"{server}/v1/configurator/configure"
    without_key = chromium(tmp_path, "--dump-dom", f"{page}#model=bicycle&choose=frame:steel")
    assert 'data-ready="error"' in without_key.stdout  # the page loads, its data needs a key

    url = f"{page}#key={KEY}&model=bicycle&choose=frame:steel"
    r = chromium(tmp_path, "--dump-dom", url)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'data-ready="true"' in r.stdout, r.stdout[:3000]
    buttons = _Buttons()
    buttons.feed(r.stdout)
    st = buttons.state
    assert st[("frame", "steel")] == "chosen" and st[("frame", "alu")] == "valid"  # alu could replace it
    assert st[("size", "S")] == "excluded" and st[("size", "M")] == "valid"        # steel frames start at M
    assert st[("motor", "mid")] == "excluded" and st[("motor", "hub")] == "valid"  # 7.3 kg > 7 kg with a mid motor
    assert "75 valid configurations left" in r.stdout

    shot = tmp_path / "configure-phone.png"
    r = chromium(tmp_path, f"--screenshot={shot}", url)
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert int.from_bytes(data[16:20], "big") == 390  # the PNG is as wide as the phone's screen
    out = os.environ.get("PROMESSA_SCREENSHOT_DIR")
    if out:  # keep the screenshot for a human (CI artifact)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "configure-phone.png").write_bytes(data)
