"""`promessa serve` flags become settings; bad flags are refused with the flag and the value."""

from __future__ import annotations

import pytest

from api.cli import settings_from_args
from promessa.cli import build_parser
from promessa.config import Role
from promessa.errors import ValidationError


def _args(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_flags_override_settings(monkeypatch):
    monkeypatch.setenv("PROMESSA_API__MAX_LINES", "7")
    s = settings_from_args(_args("--db", "postgresql://u@h/db", "--pg-schema", "ob", "--port", "9001", "--demo",
                                 "--api-key", "k1=planner", "--api-key", "k2==admin", "--snapshot", "/tmp/x",
                                 "--snapshot-root", "/srv/extracts"))
    assert s.store.url == "postgresql://u@h/db" and s.store.pg_schema == "ob" and s.api.port == 9001 and s.api.demo is True
    assert s.api.keys == {"k1": Role.PLANNER, "k2=": Role.ADMIN} and str(s.snapshot.path) == "/tmp/x" and s.api.max_lines == 7
    assert s.api.host == "127.0.0.1" and [str(r) for r in s.snapshot.roots] == ["/srv/extracts"]


def test_api_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROMESSA_API__KEYS", '{"env-key": "order_capture"}')
    s = settings_from_args(_args("--api-key", "cli-key=admin", "--api-key", "sha256:" + "ab" * 32 + "=viewer"))
    assert s.api.keys == {"env-key": Role.ORDER_CAPTURE, "cli-key": Role.ADMIN, "sha256:" + "ab" * 32: Role.VIEWER}


def test_bad_api_key_flag_is_refused_without_echoing_the_key():
    with pytest.raises(ValidationError, match="--api-key") as exc:
        settings_from_args(_args("--api-key", "secret-key-1=superuser"))
    assert "secret-key-1" not in str(exc.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_demo_mode_refuses_a_non_loopback_bind(host):
    with pytest.raises(ValidationError, match="loopback only") as exc:
        settings_from_args(_args("--demo", "--host", host))
    assert exc.value.field == "--host" and exc.value.value == host


def test_demo_refusal_through_the_command_line(capsys):
    from promessa.cli import main

    assert main(["serve", "--demo", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "demo mode listens on loopback only" in err and "--host='0.0.0.0'" in err


def test_a_busy_port_is_refused_before_anything_is_loaded():
    import socket
    import time

    from api.cli import bind
    from promessa.errors import PromessaError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        t0 = time.perf_counter()
        with pytest.raises(PromessaError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
        assert time.perf_counter() - t0 < 1.0
    s = bind("127.0.0.1", port)  # free again
    s.close()


def test_store_urls_are_shown_without_their_password():
    from api.cli import redacted

    assert redacted("postgresql://ann:s3cret@db.example/ob") == "postgresql://ann:***@db.example/ob"
    assert redacted("var/orderbook.sqlite") == "var/orderbook.sqlite"


def test_serve_says_where_it_listens_and_each_watch_refresh(tmp_path):
    """`promessa serve --watch DIR`: one line once ready (the URL, the snapshot, the store, the time to ready), and
    one when a new extract lands (meta.json rewritten) and the live snapshot is refreshed."""
    import json
    import os
    import queue
    import socket
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    from supplydata.generate import generate

    root = Path(__file__).resolve().parents[2]
    net = tmp_path / "net"
    generate(net, seed=3, size="tiny")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(root), "PROMESSA_SNAPSHOT__WATCH_INTERVAL_S": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "promessa.cli", "serve", "--watch", str(net), "--db",
                             str(tmp_path / "ob.sqlite"), "--demo", "--port", str(port)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr], daemon=True).start()

    def wait_for(text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                ln = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(ln)
            if text in ln:
                return ln
        pytest.fail(f"{text!r} not said within {timeout} s: {''.join(seen)[-2000:]}")

    try:
        ready = wait_for(f"promessa serving http://127.0.0.1:{port}/v1", 240)
        assert "DEMO MODE" in ready
        assert f"snapshot {net}" in wait_for("ready in", 10)
        meta = json.loads((net / "meta.json").read_text())
        (net / "meta.json").write_text(json.dumps({**meta, "version": "extract-2"}))
        assert f"refreshed from {net}" in wait_for("promessa.watch", 30)
    finally:
        proc.terminate()
        proc.wait(30)
