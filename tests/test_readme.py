"""The README's Quickstart, run as written against this checkout.

Every line of the ```bash blocks under "## Quickstart" runs in a subprocess from the repository
root, with ``var/`` pointed at a temporary directory (the lines write only there, as the README
says), each with a timeout; a line fails the test on a non-zero exit, a traceback or a Python
warning in its output. The two opening commands that build a virtual environment are not run
(the test runs in one); ``promessa demo``, which the Quickstart starts from, runs first on a
bounded number of orders. A ``promessa serve`` line runs until it says it is ready and answers
on loopback (on a free port, through ``PROMESSA_API__PORT``), then is stopped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMESSA = [sys.executable, "-c", "import sys; from promessa.cli import main; sys.exit(main())"]
TIMEOUT_S = 600          # one line (the first compiles the kernels when numba's cache is cold)
SERVE_READY_S = 300      # a server says it is ready within this
PROBLEMS = re.compile(r"Traceback \(most recent call last\)|^\S*(Warning|Error): |\b\w+Warning\b: ", re.M)


def quickstart_blocks(text: str) -> list[list[str]]:
    """The command lines of each ```bash block between "## Quickstart" and the next "## " heading."""
    start = text.index("\n## Quickstart")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [[ln.strip() for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")] for b in blocks]


def test_the_quickstart_is_found():
    blocks = quickstart_blocks((ROOT / "README.md").read_text())
    lines = [ln for b in blocks for ln in b]
    assert len(blocks) >= 2 and len(lines) >= 10
    assert all(ln.startswith("promessa ") for ln in lines), lines
    assert not any("venv" in ln or "pip install" in ln for ln in lines)  # the opening commands are not in it


def _argv(line: str, var: Path) -> list[str]:
    words = shlex.split(line, comments=True)
    assert words[0] == "promessa", line
    return PROMESSA + [re.sub(r"^var/", f"{var}/", w) for w in words[1:]]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMESSA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def _check(line: str, code: int | None, out: str) -> None:
    assert code == 0, f"{line!r} exited {code}:\n{out[-4000:]}"
    bad = PROBLEMS.search(out)
    assert bad is None, f"{line!r} printed {bad.group(0)!r}:\n{out[-4000:]}"


def _run(line: str, var: Path, *, extra: list[str] = ()) -> str:
    argv = _argv(line, var) + list(extra)
    r = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    _check(line, r.returncode, out)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, key: str | None = None) -> dict:
    req = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


def _serve(line: str, var: Path) -> dict:
    """Start a `promessa serve` line on a free loopback port, wait until it is ready, read the demo's
    jeopardy through the API, stop it (SIGINT, as Ctrl-C) and check its output."""
    port = _free_port()
    log = var / f"serve-{port}.log"
    key = next((k.split("=")[0] for k in shlex.split(line) if k.endswith("=viewer")), None)
    with log.open("w") as fh:
        proc = subprocess.Popen(_argv(line, var), cwd=ROOT, env=_env(PROMESSA_API__PORT=str(port)), stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        try:
            t0 = time.monotonic()
            while "promessa serving" not in log.read_text():
                assert proc.poll() is None, f"{line!r} exited {proc.returncode}:\n{log.read_text()[-4000:]}"
                assert time.monotonic() - t0 < SERVE_READY_S, f"{line!r} not ready:\n{log.read_text()[-4000:]}"
                time.sleep(0.5)
            base = f"http://127.0.0.1:{port}"
            assert _get(f"{base}/v1/livez", key) is not None
            jeopardy = _get(f"{base}/v1/jeopardy?limit=1", key)
            assert urllib.request.urlopen(f"{base}/docs", timeout=30).status == 200  # noqa: S310
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
    # stopped by Ctrl-C: promessa exits 130 (128 + SIGINT), as shells expect
    _check(line, 0 if proc.returncode in (0, 130, -signal.SIGINT) else proc.returncode, log.read_text())
    return jeopardy


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_every_quickstart_line_runs_as_written(tmp_path):
    """`promessa demo` (400 orders), then each Quickstart line in order; the demo's orders, captured on the
    snapshot's business day, are mostly on track in jeopardy (CLI and API), not all late by the wall clock."""
    var = tmp_path / "var"
    var.mkdir()
    demo = _run("promessa demo --dir var/ --orders 400", var)
    assert "captured 400 orders" in demo, demo
    for block in quickstart_blocks((ROOT / "README.md").read_text()):
        for line in block:
            if line.startswith("promessa serve"):
                j = _serve(line, var)
                assert j["total"] == 400 and j["counts"]["ok"] > 0.8 * j["total"], j["counts"]
                continue
            out = _run(line, var)
            if line.startswith("promessa jeopardy --cash"):  # order to cash on the day the line names
                assert "2026-03-01" in out.splitlines()[0], out[:2000]
            elif line.startswith("promessa jeopardy"):  # on the snapshot's day, most of the demo's orders are on track
                head = out.splitlines()[0]
                assert "as of 2026-01-05" in head and "400 open orders" in head, head
                ok = re.search(r"\(ok (\d+),", head)
                assert ok and int(ok.group(1)) > 0.8 * 400, head
            if line.startswith("promessa sourcing solve"):
                assert re.search(r"\b261\b", out), out[-2000:]
    assert (var / "whatif.html").exists() and (var / "whatif.png").exists() and (var / "reschedule.html").exists()
