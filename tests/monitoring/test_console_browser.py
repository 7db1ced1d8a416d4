"""The planner console in a real headless browser (Debian's Chromium; skipped when it is absent).

A uvicorn server on 127.0.0.1 (a free port, stopped afterwards) serves the API. Chromium is driven
over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port opened), at a desktop
size (1400x900) and a phone size (390x844, a mobile viewport): the test loads a view, waits for
the page to say it is ready, reads the DOM and the layout with JavaScript, collects every console
error and uncaught exception, and takes a screenshot (kept in ``PROMESSA_SCREENSHOT_DIR`` when set).
Every wait is bounded and Chromium's whole process group is killed afterwards.

The server runs one engine (payments, invoicing and processes running) on the story's snapshot,
evaluated as of 2026-01-12: the story's orders (conftest.py), then order H captured under a 10 %
rule on tools and a 20 % US tax, so the order page's figures can be checked by hand.
"""

from __future__ import annotations

import base64
import fcntl
import datetime as dt
import json
import os
import queue
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
DESKTOP = (1400, 900)
PHONE = (390, 844)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


# ------------------------------------------------------------------ a server and a browser


def serve(app):
    """Run `app` on a free loopback port in a thread; yields its base URL and stops it afterwards."""
    import uvicorn

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(10)


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe (fd 3: commands in, fd 4: answers and events out)."""

    def __init__(self, profile: Path) -> None:
        r, self._cmd_w = os.pipe()
        self._out_r, w = os.pipe()
        cmd_r, out_w = fcntl.fcntl(r, fcntl.F_DUPFD, 10), fcntl.fcntl(w, fcntl.F_DUPFD, 10)  # clear of 3 and 4
        os.close(r)
        os.close(w)
        args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # offline: no other host resolves
                "about:blank"]
        # bash puts the pipe ends on 3 and 4, as --remote-debugging-pipe expects, closes the originals and execs
        script = f'exec "$@" 3<&{cmd_r} 4>&{out_w} {cmd_r}<&- {out_w}>&-'
        self.proc = subprocess.Popen(["/bin/bash", "-c", script, "chromium", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(cmd_r, out_w),
                                     start_new_session=True)
        os.close(cmd_r)
        os.close(out_w)
        self._next = 0
        self._answers: dict[int, queue.Queue] = {}
        self.events: list[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.session: str | None = None

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._out_r, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._answers.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    self.events.append(msg)

    def send(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 30) -> dict:
        with self._lock:
            self._next += 1
            mid = self._next
            q: queue.Queue = queue.Queue()
            self._answers[mid] = q
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        try:
            answer = q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"chromium did not answer {method} within {timeout} s")
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def open(self, width: int, height: int, *, mobile: bool) -> None:
        """A new tab of the given viewport (a phone: a mobile viewport that honours the meta viewport tag)."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")

    def go(self, url: str, *, timeout: float = 90) -> str:
        """Load `url` and wait until the page says it is ready ("true") or failed ("error"); answers which."""
        self.events.clear()
        if self.js("location.href") == url:
            self.send("Page.reload", {})
        else:
            # a change of the fragment keeps the document (ready from the view before) until the console's
            # hashchange handler starts loading: mark it so that the wait sees the new view's readiness
            self.js("document.body && (document.body.dataset.ready = 'navigating')")
            self.send("Page.navigate", {"url": url})
        return self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.js("document.body ? document.body.dataset.ready || '' : ''")
            if state in ("true", "error"):
                return state
            time.sleep(0.1)
        pytest.fail(f"the page was not ready within {timeout} s: {self.js('document.body.innerText.slice(0, 500)')}")

    def wait_for(self, expression: str, *, timeout: float = 30):
        """Poll `expression` until it is truthy; answers its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        pytest.fail(f"{expression} stayed false for {timeout} s")

    def js(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen since the last navigation."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(json.dumps(p.get("args", []))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        return out

    def layout(self) -> dict:
        return self.js("""(() => {
          const h = document.querySelector('header').getBoundingClientRect();
          return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                  headerLeft: h.left, headerRight: h.right, headerTop: h.top,
                  clipped: [...document.querySelectorAll('header h1, header form > *, header nav')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '#' + e.id)};
        })()""")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        keep = os.environ.get("PROMESSA_SCREENSHOT_DIR")
        if keep:  # for a human (CI artifact)
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / path.name).write_bytes(data)
        return data

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "chromium-profile")
    try:
        yield b
    finally:
        b.close()


def assert_fits(b: Browser, width: int, what: str) -> None:
    lay = b.layout()
    assert lay["innerWidth"] == width, lay
    assert lay["scrollWidth"] <= lay["innerWidth"], f"{what}: the page scrolls sideways: {lay}"
    assert lay["headerLeft"] >= 0 and lay["headerTop"] >= 0 and lay["clipped"] == [], f"{what}: header clipped: {lay}"


def assert_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ------------------------------------------------------------------ one engine: the story's orders and a priced order H


@pytest.fixture(scope="module")
def story(tmp_path_factory, mon_snap_dir):
    """An engine on the story's snapshot (payments, invoicing, processes running) with a supplier program
    (ACME pays a 5 % allowance on shipped tools) and the story's orders (conftest.py); then a 10 % rule on
    tools and a 20 % US tax, and order H captured: 30 BOLT (tools, list 1.00) from ST-WEST, shipped to the
    US, requested 2026-01-13. Answers (engine, {letter: order id})."""
    from channel.programs import Catalogue, parse_programs
    from tests.monitoring.conftest import play_story
    from orderbook.schemas import OrderCreate
    from promessa.app import Engine
    from promessa.config import settings_of
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("console-engine")
    eng = Engine.open(settings_of(db=str(d / "ob.sqlite"), approval_value_threshold=None, approval_on_price_override=False),
                      snapshot=load_snapshot(mon_snap_dir), warm=False)
    try:
        svc = eng.service
        eng.o2c.define_programs(parse_programs([{
            "program": "ACME-TOOLS", "supplier": "ACME", "kind": "allowance", "currency": "EUR", "valid_from": "2026-01-01",
            "valid_to": "2026-03-31", "categories": ["tools"], "rate_kind": "percent", "rate": "5"}],
            catalogue=Catalogue.of_snapshot(svc.snap)))
        ids = play_story(svc)
        for kind, body in (("rule", {"id": "TOOLS10", "version": 1, "kind": "percent", "value": "10", "stacking": "stackable",
                                     "precedence": 10, "valid_from": "2026-01-01", "categories": ["tools"]}),
                           ("tax_rate", {"country": "US", "tax_category": "standard", "rate": "0.2", "valid_from": "2026-01-01"})):
            assert svc.post_pricing(kind, body, actor="test")[0] == 201
        st, body, _ = svc.capture(OrderCreate.model_validate({
            "customer": "C9", "zone": "WEST", "ship_to": {"country": "US"},
            "lines": [{"item": "BOLT", "qty": 30, "requested_date": "2026-01-13"}]}), actor="test")
        assert st == 201, body
        ids["H"] = json.loads(body)["order_id"]
        assert eng.orchestration.wait_idle(10.0)
        yield eng, ids
    finally:
        eng.close()


@pytest.fixture
def server(story, tmp_path):
    from api.app import build_app
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import Monitor
    from promessa.config import Role, settings_of

    eng, _ = story
    app = build_app(settings_of(api_keys={VIEW_KEY: Role.VIEWER}))
    app.state.engine = eng
    app.state.monitor = Monitor.of_service(eng.service, MonitoringConfig(event_log=tmp_path / "events.jsonl"),
                                           today=lambda: TODAY, cash=eng.o2c.cash_items)  # as the app wires it
    yield from serve(app)


JEOPARDY_ROWS = """[...document.querySelectorAll('#jeopardy-list tr')].map(tr =>
  [tr.dataset.order, tr.dataset.level, [...tr.cells].map(c => c.textContent.trim())])"""


def test_console_overview_at_desktop_and_phone_sizes(server, story, browser, tmp_path):
    letters = {v: k for k, v in story[1].items()}
    browser.open(*DESKTOP, mobile=False)
    assert browser.go(f"{server}/v1/console?today={TODAY.isoformat()}") == "error"  # the data needs a key
    assert "401" in browser.js("document.getElementById('status').textContent")

    url = f"{server}/v1/console?today={TODAY.isoformat()}#key={VIEW_KEY}"
    assert browser.go(url) == "true", browser.js("document.getElementById('status').textContent")
    assert browser.errors() == []
    assert browser.js("location.hash") == ""  # the key left the address bar
    rows = browser.js(JEOPARDY_ROWS)
    got = [(letters[o], level, cells[4]) for o, level, cells in rows]
    # worst first: D (critical, no date), then the warnings by days late (A and C 6, E 4), then B and H on track
    assert got[0] == ("D", "critical", "–")
    assert sorted(got[1:3]) == [("A", "warning", "6"), ("C", "warning", "6")]
    assert got[3] == ("E", "warning", "4")
    assert sorted(got[4:]) == [("B", "ok", "0"), ("H", "ok", "0")]
    # the KPIs on top: 6 open orders, 1 critical, 3 warning, 0 watch, 2 on track
    kpis = browser.js("Object.fromEntries([...document.querySelectorAll('.kpi')].map(k => [k.id, k.querySelector('b').textContent]))")
    assert {k: kpis[k] for k in ("kpi-open", "kpi-critical", "kpi-warning", "kpi-watch", "kpi-ok")} == {
        "kpi-open": "6", "kpi-critical": "1", "kpi-warning": "3", "kpi-watch": "0", "kpi-ok": "2"}
    assert browser.js("document.getElementById('jeo-pager').querySelector('.page-info').textContent") == "1–6 of 6"
    # cash on 2026-01-12: E's invoice (shipped 01-06) is within its terms, no return is open
    assert _text(browser, "#cash-note") == "no invoice unpaid past its terms, no return overdue"
    # each row links to its order page; exceptions by customer; the top products
    assert browser.js("document.querySelector('#jeopardy-list a').getAttribute('href')") == "#/orders/" + rows[0][0]
    assert sorted(browser.js("[...document.querySelectorAll('#exceptions-list tr')].map(tr => tr.dataset.key)")) == ["C1", "C2", "C3"]
    assert "GADGET" in browser.js("document.getElementById('report-list').textContent")
    assert_fits(browser, DESKTOP[0], "overview, desktop")
    assert_png(browser.screenshot(tmp_path / "console-overview-desktop.png"))

    # filters: the "warning" chip asks the server for the warning orders only; the chips keep every count
    browser.js("[...document.querySelectorAll('#jeopardy-counts .chip')].find(b => b.textContent.startsWith('warning')).click()")
    deadline = time.monotonic() + 20
    while len(browser.js(JEOPARDY_ROWS)) != 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(letters[o] for o, _, _ in browser.js(JEOPARDY_ROWS)) == ["A", "C", "E"]
    assert browser.js("document.getElementById('jeopardy-counts').textContent").startswith("ok: 2 watch: 0 warning: 3 critical: 1")
    # paging: two orders a page (an option added for the test) walks the six orders in three pages, worst first
    browser.js("document.getElementById('jeo-level').value = ''; const sel = document.querySelector('#jeo-pager .page-size');"
               "sel.add(new Option('2', '2')); sel.value = '2'; sel.dispatchEvent(new Event('change'))")
    info = "document.querySelector('#jeo-pager .page-info').textContent"
    pages = [browser.wait_for(f"{info} === '1–2 of 6' && {JEOPARDY_ROWS}.map(r => r[0])")]
    for expected in ("3–4 of 6", "5–6 of 6"):
        browser.js("document.querySelector('#jeo-pager [data-step=\"1\"]').click()")
        pages.append(browser.wait_for(f"{info} === '{expected}' && {JEOPARDY_ROWS}.map(r => r[0])"))
    assert [letters[o] for o in pages[0]][0] == "D" and sorted(letters[o] for o in pages[2]) == ["B", "H"]
    assert sorted(o for page in pages for o in page) == sorted(o for o, _, _ in rows)  # each order once
    assert browser.js("document.querySelector('#jeo-pager [data-step=\"1\"]').disabled") is True
    # a drill-down row links to the order and to the item-location's ATP
    browser.js("document.querySelector('#exceptions-list tr[data-key=\"C3\"]').click()")
    deadline = time.monotonic() + 20
    while not browser.js("document.querySelectorAll('#drill-list tr').length") and time.monotonic() < deadline:
        time.sleep(0.1)
    links = browser.js("[...document.querySelectorAll('#drill-list a')].map(a => a.getAttribute('href'))")
    d_id = next(o for o, letter in letters.items() if letter == "D")
    assert links == ["#/orders/" + d_id, "#/atp/GADGET/DC-EAST"]
    assert browser.errors() == []
    # on 2026-02-10 the invoices of E (20.00) and F (1.00), issued 01-05 at net 30, are 6 days past due (02-04)
    assert browser.go(f"{server}/v1/console?today=2026-02-10#key={VIEW_KEY}") == "true"
    cash = browser.js("[...document.querySelectorAll('#cash-list tr')].map(tr => [tr.cells[0].textContent, tr.cells[2].textContent,"
                      " tr.cells[4].textContent, tr.cells[5].textContent, tr.cells[6].textContent, tr.cells[7].textContent])")
    assert sorted((letters[o], *rest) for o, *rest in cash) == [
        ("E", "invoice", "2026-02-04", "6", "warning", "20.00 EUR"), ("F", "invoice", "2026-02-04", "6", "warning", "1.00 EUR")]
    assert _text(browser, "#cash-note") == "2 past due"
    assert browser.errors() == []

    browser.open(*PHONE, mobile=True)
    assert browser.go(url) == "true"
    assert browser.errors() == []
    assert len(browser.js(JEOPARDY_ROWS)) == 6
    assert_fits(browser, PHONE[0], "overview, phone")
    # on a phone the jeopardy rows are cards: each value under its column's name, the level on screen
    level = browser.js("""(() => { const td = document.querySelector('#jeopardy-list tr').cells[3];
      const r = td.getBoundingClientRect(); return {label: td.dataset.label, left: r.left, right: r.right}; })()""")
    assert level["label"] == "level" and 0 <= level["left"] and level["right"] <= PHONE[0]
    assert_png(browser.screenshot(tmp_path / "console-overview-phone.png"))


def test_item_location_atp_with_its_chart(server, story, browser, tmp_path):
    """WIDGET at DC-EAST: 10 on hand, 20 arriving 01-15; A (4), B (10) and E (2, shipped) order it there."""
    letters = {v: k for k, v in story[1].items()}
    for (w, h), mobile in ((DESKTOP, False), (PHONE, True)):
        browser.open(w, h, mobile=mobile)
        assert browser.go(f"{server}/v1/console#/atp/WIDGET/DC-EAST&key={VIEW_KEY}") == "true"
        assert browser.errors() == []
        assert browser.js("location.hash") == "#/atp/WIDGET/DC-EAST"
        rows = browser.js("[...document.querySelectorAll('#atp-list tr')].map(tr => [...tr.cells].map(c => c.textContent))")
        assert ["2026-01-15", "20"] == rows[-1][:2]
        assert browser.js("document.querySelectorAll('#atp-chart svg path.available').length") == 1
        caption = browser.js("document.querySelector('#atp-chart figcaption').textContent")
        assert "Next receipt: 20 on 2026-01-15" in caption
        # the order lines of WIDGET at DC-EAST, each linked to its order: A (4), B (10), E (2, shipped)
        here = browser.js("[...document.querySelectorAll('#atp-orders tr')].map(tr => [tr.querySelector('a').getAttribute('href'), tr.cells[4].textContent, tr.cells[7].textContent])")
        assert sorted((letters[h.split("/")[-1]], q, shipped) for h, q, shipped in here) == [
            ("A", "4", "0"), ("B", "10", "0"), ("E", "2", "2")]
        # the legend sits above the plot: no legend box reaches below the top grid line
        legend_bottom = browser.js("Math.max(...[...document.querySelectorAll('#atp-chart text.legend')].map(t => t.getBBox().y + t.getBBox().height))")
        top_grid = browser.js("Math.min(...[...document.querySelectorAll('#atp-chart line.grid')].map(l => +l.getAttribute('y1')))")
        assert legend_bottom < top_grid
        assert_fits(browser, w, f"atp {w}x{h}")
        assert_png(browser.screenshot(tmp_path / f"console-atp-{'phone' if mobile else 'desktop'}.png"))


# ------------------------------------------------------------------ the order page


def _text(b: Browser, selector: str) -> str:
    return b.js(f"document.querySelector({json.dumps(selector)}).textContent.replace(/\\s+/g, ' ').trim()")


def test_order_page_shows_lines_promise_pricing_payments_process_and_audit(server, story, browser, tmp_path):
    h = story[1]["H"]
    for (w, ht), mobile in ((DESKTOP, False), (PHONE, True)):
        browser.open(w, ht, mobile=mobile)
        # find H in the jeopardy list by (part of) its id, then follow its row to the order page
        assert browser.go(f"{server}/v1/console#key={VIEW_KEY}") == "true"
        browser.js(f"document.getElementById('jeo-order').value = {json.dumps(h[-8:])}; "
                   "document.querySelector('#jeo-filter button').click()")
        deadline = time.monotonic() + 20
        while browser.js(JEOPARDY_ROWS + ".map(r => r[0]).join()") != h:
            assert time.monotonic() < deadline, "the order filter did not narrow the list to H"
            time.sleep(0.1)
        browser.js("document.querySelector('#jeopardy-list a.order-link').click()")
        deadline = time.monotonic() + 20
        while browser.js("document.body.dataset.view") != "order" or browser.js("document.body.dataset.ready") != "true":
            assert time.monotonic() < deadline, "the order page did not open from the jeopardy row"
            time.sleep(0.1)
        assert browser.js("location.hash") == "#/orders/" + h
        assert browser.errors() == []
        assert _text(browser, "#order-title") == "Order " + h
        # the line: 30 BOLT at ST-WEST, promised in full on the requested day from the 100 on hand (OH-3)
        lines = browser.js("[...document.querySelectorAll('#order-lines tr')].map(tr => [...tr.cells].map(c => c.textContent))")
        assert [ln[:6] for ln in lines] == [["1", "BOLT @ ST-WEST", "30", "2026-01-13", "30", "0"]]
        assert browser.js("document.querySelector('#order-lines a').getAttribute('href')") == "#/atp/BOLT/ST-WEST"
        assert "promised in full on the requested date" in _text(browser, '.promise[data-line="1"] .promise-message')
        pegs = browser.js("""[...document.querySelectorAll('.promise[data-line="1"] table.pegs tbody tr')]
                             .map(tr => [...tr.cells].map(c => c.textContent))""")
        assert pegs == [["30", "2026-01-05", "onhand", "OH-3"]]
        # the waterfall: 30 x 1.00 = 30.00, TOOLS10 10 % = -3.00, net 27.00, US tax 20 % = 5.40, total 32.40
        steps = browser.js("""Object.fromEntries([...document.querySelectorAll('.price[data-line="1"] tbody tr')]
                              .map(tr => [tr.dataset.step, tr.cells[2].textContent]))""")
        assert steps == {"list price": "30.00 EUR", "rule TOOLS10@1": "-3.00 EUR", "net": "27.00 EUR",
                         "tax": "5.40 EUR", "total": "32.40 EUR"}
        assert _text(browser, "#order-total") == "32.40 EUR"
        # the margin: net 27.00, cost 30 x 0.50 = 15.00, gross margin 12.00; ACME's 5 % allowance on tools, quoted for
        # the 30 open units as if shipped on the business day: 5 % of 27.00 = 1.35; margin after it 13.35
        totals = browser.js("Object.fromEntries([...document.querySelectorAll('#order-margin [data-total]')]"
                            ".map(s => [s.dataset.total, s.textContent]))")
        assert totals == {"net": "27.00 EUR", "cost": "15.00 EUR", "gross_margin": "12.00 EUR",
                          "program_income": "1.35 EUR", "margin": "13.35 EUR"}
        msteps = browser.js("""Object.fromEntries([...document.querySelectorAll('.margin-line[data-line="1"] tbody tr')]
                               .map(tr => [tr.dataset.step, tr.cells[2].textContent]))""")
        assert msteps == {"list price": "30.00 EUR", "rule TOOLS10@1": "-3.00 EUR", "net": "27.00 EUR", "cost": "−15.00 EUR",
                          "gross margin": "12.00 EUR", "program": "1.35 EUR", "margin": "13.35 EUR"}
        assert "quoted 1.35 EUR on 30 open" in _text(browser, '.margin-line[data-line="1"] tr[data-program="ACME-TOOLS"]')
        # payments and invoices from the order-to-cash hub: nothing paid or invoiced yet; no returns
        money = browser.js("Object.fromEntries([...document.querySelectorAll('#order-money .fact')]"
                           ".map(f => [f.querySelector('dt').textContent, f.querySelector('dd').textContent]))")
        assert {k: money[k] for k in ("payment status", "order total", "captured", "invoiced")} == {
            "payment status": "unpaid", "order total": "32.40 EUR", "captured": "0.00 EUR", "invoiced": "0.00 EUR"}
        assert "no returns" in _text(browser, "#order-money") and "no invoice yet" in _text(browser, "#order-money")
        facts = browser.js("Object.fromEntries([...document.querySelectorAll('#order-head .fact')]"
                           ".map(f => [f.querySelector('dt').textContent, f.querySelector('dd').textContent]))")
        assert facts["jeopardy"] == "ok 0 days late · on track (as of 2026-01-12)"
        # its process (one per line, the engine's default), and the audit trail: captured, then scheduled
        assert browser.js("document.querySelectorAll('#order-process h4.proc-instance').length") == 1
        audit = browser.js("[...document.querySelectorAll('#order-audit tr')].map(tr => [tr.cells[1].textContent, tr.cells[3].textContent])")
        assert audit[:2] == [["capture", "captured"], ["promise", "scheduled"]]
        assert_fits(browser, w, f"order page {w}x{ht}")
        assert_png(browser.screenshot(tmp_path / f"console-order-{'phone' if mobile else 'desktop'}.png"))
        # the line's item-location link opens the ATP view
        browser.js("document.querySelector('#order-lines a').click()")
        deadline = time.monotonic() + 20
        while browser.js("document.body.dataset.view") != "atp" or browser.js("document.body.dataset.ready") != "true":
            assert time.monotonic() < deadline, "the ATP view did not open from the order line"
            time.sleep(0.1)
        assert _text(browser, "#atp-title") == "Time-phased ATP · BOLT @ ST-WEST"
        assert browser.errors() == []


def test_unknown_order_says_so(server, browser):
    browser.open(*DESKTOP, mobile=False)
    assert browser.go(f"{server}/v1/console#/orders/SO-NOPE&key={VIEW_KEY}") == "error"
    assert "404" in browser.js("document.getElementById('status').textContent")


def test_docs_render_offline(server, browser):
    """/docs draws the API's operations with no host but ours reachable (Swagger UI from /docs/assets)."""
    browser.open(*DESKTOP, mobile=False)
    browser.events.clear()
    browser.send("Page.navigate", {"url": f"{server}/docs"})
    title = browser.wait_for("document.querySelector('.swagger-ui .info .title')?.textContent", timeout=60)
    assert title.startswith("promessa")
    assert browser.wait_for("document.querySelectorAll('.opblock').length") > 50  # every operation drawn
    assert browser.errors() == []


def test_processes_and_channel_views(server, browser, tmp_path):
    for (w, h), mobile in ((DESKTOP, False), (PHONE, True)):
        browser.open(w, h, mobile=mobile)
        assert browser.go(f"{server}/v1/console#/processes&key={VIEW_KEY}") == "true"
        browser.wait_for("document.querySelectorAll('#proc-defs tr').length > 0")
        assert browser.errors() == []
        assert _text(browser, "#proc-note") == "0 late or failed steps"
        defs = browser.js("Object.fromEntries([...document.querySelectorAll('#proc-defs tr')].map(tr => [tr.cells[0].textContent, tr.cells[3].textContent]))")
        assert defs["ship-from-node"] == "schedule → release → pack → ship → invoice → deliver"
        assert_fits(browser, w, f"processes {w}x{h}")
        # channel: E shipped 2 WIDGET at 10.00 and F 1 BOLT at 1.00, both tools: 5 % of 20.00 + 5 % of 1.00 = 1.05
        assert browser.go(f"{server}/v1/console#/channel&key={VIEW_KEY}") == "true"
        # a change of the address fragment keeps the page (ready from the view before): wait for the channel's data
        browser.wait_for("document.querySelectorAll('#chan-programs tr').length > 0 && "
                         "document.querySelectorAll('#chan-report tr').length > 0")
        assert browser.errors() == []
        programs = browser.js("[...document.querySelectorAll('#chan-programs tr')].map(tr => [...tr.cells].map(c => c.textContent))")
        assert programs == [["ACME-TOOLS", "ACME", "allowance", "2026-01-01 – 2026-03-31", "categories: tools"]]
        report = browser.js("""(() => { const head = [...document.querySelectorAll('#chan-report-head th')].map(th => th.textContent);
          return [...document.querySelectorAll('#chan-report tr')].map(tr => Object.fromEntries([...tr.cells].map((c, i) => [head[i], c.textContent]))); })()""")
        assert [(r["supplier"], r["program"], r["period"], r["accrued"], r["unclaimed"]) for r in report] == [
            ("ACME", "ACME-TOOLS", "2026-01", "1.05", "1.05")]
        assert_fits(browser, w, f"channel {w}x{h}")
        assert_png(browser.screenshot(tmp_path / f"console-channel-{'phone' if mobile else 'desktop'}.png"))


def test_a_shipped_order_shows_its_invoice_and_accrual(server, story, browser):
    """E shipped 2 WIDGET (list 10.00, imported before any rule or tax): invoiced 20.00; ACME's 5 % allowance
    accrues 1.00 on that shipment."""
    browser.open(*DESKTOP, mobile=False)
    assert browser.go(f"{server}/v1/console#/orders/{story[1]['E']}&key={VIEW_KEY}") == "true"
    assert browser.errors() == []
    invoices = browser.js("[...document.querySelectorAll('#order-money table.invoices tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))")
    assert [(r[1], r[6]) for r in invoices] == [("invoice", "20.00 EUR")]
    accruals = browser.js("[...document.querySelectorAll('#order-money table.accruals tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))")
    assert [(r[1], r[2], r[4]) for r in accruals] == [("ACME-TOOLS", "ACME", "1.00 EUR")]
    # its margin: net 20.00, cost 2 x 4.00 = 8.00, gross margin 12.00, the 1.00 accrued on the shipped units: 13.00
    row = _text(browser, '.margin-line[data-line="1"] tr[data-program="ACME-TOOLS"]')
    assert "accrued 1.00 EUR on 2 shipped" in row and "quoted" not in row
    assert _text(browser, '#order-margin [data-total="margin"]') == "13.00 EUR"


ANALYTICS_CAPTIONS = "Object.fromEntries([...document.querySelectorAll('#view-analytics figure')].map(f => [f.id, f.querySelector('figcaption').textContent]))"


def test_analytics_view_at_desktop_and_phone_sizes(server, browser, tmp_path):
    """The story's book on 2026-01-12 (G cancelled, left out): C1 ordered A (01-05, 40.00) and C (01-06, 405.00),
    C2 B (01-05, 100.00) and E (01-07, 20.00), C3 D (01-06, 1000.00) and F (01-07, 1.00), C9 H (01-05: 30 BOLT at
    1.00 less 10 % = 27.00). One cohort (January, 4 customers); 3 of 4 came back, after 1, 2 and 1 days (median 1).
    RFM: recency C9 7, C1 6, C2 and C3 5 days -> R 1, 2, 3, 3; frequency C9 1, others 2 -> F 1, 2; monetary
    27, 120, 445, 1001 -> M 1, 2, 3, 4: C3 324 and C2 322 (need attention: R 3, F <= 3; 1,121.00 of 1,593.00),
    C1 223 (hibernating: R 2, F <= 2), C9 111 (lost).
    Only order C holds two items (GADGET and BOLT): nothing in 2 orders; from 1 order on, BOLT (in C, F and H)
    goes with GADGET in 1 of 3 orders, lift 1 x 7 / (3 x 2) = 1.17."""
    for (w, h), mobile in ((DESKTOP, False), (PHONE, True)):
        browser.open(w, h, mobile=mobile)
        assert browser.go(f"{server}/v1/console#/analytics&key={VIEW_KEY}") == "true", _text(browser, "#status")
        assert browser.errors() == []
        assert browser.js("document.querySelector('#nav a.current').dataset.view") == "analytics"
        assert browser.js("document.getElementById('view-analytics').hidden") is False
        assert _text(browser, "#an-note").startswith("8 order lines of 4 customers up to 2026-01-12 (order date, amounts in EUR)")
        cohorts = browser.js("[...document.querySelectorAll('#an-cohorts-list tr')].map(tr => [...tr.cells].map(c => c.textContent))")
        assert cohorts == [["2026-01", "4", "100%"]]
        caps = browser.js(ANALYTICS_CAPTIONS)
        assert caps["an-retention-chart"] == "4 customers, all in the current month's cohort: no later month to retain them in yet."
        assert caps["an-repeat-chart"] == "3 of 4 customers (75%) placed more than one order; half of them came back within 1 day."
        assert caps["an-rfm-chart"] == ("Of 4 customers, the need attention segment (2 customers, 50%) holds the largest part of "
                                        "the net value: 1,121.00 EUR (70.4%).")
        assert caps["an-xsell-chart"] == "No two items were bought together in 2 orders or more up to 2026-01-12."
        rfm = browser.js("[...document.querySelectorAll('#an-rfm-list tr')].map(tr => [tr.dataset.customer, tr.cells[2].textContent, tr.cells[5].textContent])")
        assert rfm == [["C3", "324", "1,001.00 EUR"], ["C2", "322", "120.00 EUR"], ["C1", "223", "445.00 EUR"], ["C9", "111", "27.00 EUR"]]
        # every chart: a labeled axis, the legend above the plot, the RFM bars one per configured segment
        for fig in ("an-retention-chart", "an-repeat-chart", "an-rfm-chart", "an-xsell-chart"):
            assert browser.js(f"document.querySelector('#{fig} text.axis').textContent"), fig
            legend_bottom = browser.js(f"(() => {{ const b = document.querySelector('#{fig} text.legend').getBBox(); return b.y + b.height; }})()")
            top_grid = browser.js(f"Math.min(...[...document.querySelectorAll('#{fig} line.grid')].map(l => +l.getAttribute('y1')))")
            assert legend_bottom <= top_grid, fig
        assert browser.js("document.querySelectorAll('#an-rfm-chart rect.bar:not(.key-bar)').length") == 8
        # a segment filter asks the server for its customers only
        browser.js("const s = document.getElementById('an-segment'); s.value = 'lost'; s.dispatchEvent(new Event('change'))")
        assert browser.wait_for("[...document.querySelectorAll('#an-rfm-list tr')].map(tr => tr.dataset.customer).join() === 'C9'")
        # cross-sell from one order on: the pairs of order C, and the chart of the first item's suggestions
        browser.js("document.getElementById('an-min-orders').value = '1'; document.getElementById('an-xsell-form').requestSubmit()")
        pairs = browser.wait_for("document.querySelectorAll('#an-xsell-list tr').length === 2 && "
                                 "[...document.querySelectorAll('#an-xsell-list tr')].map(tr => tr.dataset.item + '>' + tr.dataset.suggestion)")
        assert pairs == ["BOLT>GADGET", "GADGET>BOLT"]
        assert browser.wait_for("document.querySelector('#an-xsell-chart figcaption').textContent.startsWith('Of 3')")
        assert _text(browser, "#an-xsell-chart figcaption") == ("Of 3 orders with BOLT, 33.3% also had GADGET (1 order), 1.17 times "
                                                                "as often as orders in general.")
        assert browser.errors() == []
        assert_fits(browser, w, f"analytics {w}x{h}")
        assert_png(browser.screenshot(tmp_path / f"console-analytics-{'phone' if mobile else 'desktop'}.png"))


@pytest.fixture(scope="module")
def late_order(story):
    """Order L, captured with the processes' clock set 5 hours back: 5 BOLT for C9 from ST-WEST to the US, a standard order
    shipped by pickup. The promise completes `schedule` (the status goes to the capture system) and `release` asks the
    warehouse (wms) for the shipment; `release` is expected to take 4 h, so with the clock back to now it has been
    due for 1 hour: one tick raises its jeopardy alert (a `jeopardy.alert` to the planner). No webhook target is
    configured, so the three messages wait in the outbox. Created after the other tests have read the story (the
    processes view above counts 0 late steps)."""
    from orchestration.testing import ManualClock

    from orderbook.schemas import OrderCreate

    eng, _ = story
    hub = eng.orchestration
    clock = hub.engine.clock
    hub.engine.clock = ManualClock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=5))
    try:
        st, body, _ = eng.service.capture(OrderCreate.model_validate({
            "customer": "C9", "zone": "WEST", "ship_to": {"country": "US"}, "order_type": "standard", "ship_method": "pickup",
            "lines": [{"item": "BOLT", "qty": 5, "requested_date": "2026-01-13"}]}), actor="test")
        assert st == 201, body
        assert hub.wait_idle(10.0)
    finally:
        hub.engine.clock = clock
    hub.tick()
    return json.loads(body)["order_id"]


def test_a_late_step_is_marked_late_with_the_orders_message_log(server, late_order, browser, tmp_path):
    lo = late_order
    for (w, ht), mobile in ((DESKTOP, False), (PHONE, True)):
        kind = "phone" if mobile else "desktop"
        browser.open(w, ht, mobile=mobile)
        assert browser.go(f"{server}/v1/console#/orders/{lo}&key={VIEW_KEY}") == "true"
        assert browser.errors() == []
        facts = browser.js("Object.fromEntries([...document.querySelectorAll('#order-head .fact')]"
                           ".map(f => [f.querySelector('dt').textContent, f.querySelector('dd').textContent]))")
        assert (facts["order type"], facts["ship method"]) == ("standard", "pickup")
        # its one process, at `release` (wms), marked late by 1.0 h (due 4 h after it started 5 h ago)
        heads = browser.js("[...document.querySelectorAll('#order-process h4.proc-instance')].map(h => [h.className, h.textContent])")
        assert heads == [["proc-instance late", "line 1 · ship-from-node v1 · active · now: release (wms) LATE 1.0 h"]]
        assert _text(browser, "#order-process p.proc-due").endswith(" · late 1.0 h")
        # the message log: the status after schedule, the shipping request, the jeopardy alert; all waiting
        log = browser.js("[...document.querySelectorAll('#order-process table.proc-messages tbody tr')]"
                         ".map(tr => [...tr.cells].slice(1).map(c => c.textContent))")
        assert [r[:4] + r[5:] for r in log] == [["order.status", "capture", "1", "schedule", "waiting"],
                                                ["shipping.request", "wms", "1", "release", "waiting"],
                                                ["jeopardy.alert", "planner", "1", "release", "waiting"]]
        assert_fits(browser, w, f"late order {w}x{ht}")
        assert_png(browser.screenshot(tmp_path / f"console-late-order-{kind}.png"))

        # the processes view: its alert, its running process first (the latest) and marked late, its messages
        assert browser.go(f"{server}/v1/console#/processes&key={VIEW_KEY}") == "true"
        assert browser.errors() == []
        assert _text(browser, "#proc-note") == "1 late or failed steps"
        alerts = browser.js("[...document.querySelectorAll('#proc-alerts tr')].map(tr => [...tr.cells].slice(0, 7).map(c => c.textContent))")
        assert alerts == [[lo, "1", "ship-from-node v1", "release", "wms", "1.0", "late"]]
        running = browser.js("[...document.querySelectorAll('#proc-running tr')].map(tr => [tr.className, tr.dataset.order, "
                             "tr.cells[3].textContent, tr.cells[6].textContent])")
        assert running[0] == ["proc-running late", lo, "release", "late 1.0 h"]
        assert all(r[0] == "proc-running" and r[3] == "on time" for r in running[1:])   # the story's orders: on time
        assert _text(browser, "#proc-running-note") == f"{len(running)} running · 1 late"
        msgs = browser.js("[...document.querySelectorAll('#proc-log tr')].map(tr => [...tr.cells].slice(1, 3).map(c => c.textContent))")
        assert msgs[-3:] == [[lo, "order.status"], [lo, "shipping.request"], [lo, "jeopardy.alert"]]
        assert_fits(browser, w, f"processes {w}x{ht}")
        assert_png(browser.screenshot(tmp_path / f"console-processes-late-{kind}.png"))

