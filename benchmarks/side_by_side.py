"""Order capture over HTTP, this checkout against an earlier commit, side by side on one machine.

    python -m benchmarks.side_by_side --ref 2d0bde0 [--rounds 3] [--seconds 8]

The earlier commit is checked out into ``var/side-by-side/<ref>`` (a git worktree) and served by this
checkout's Python environment (the dependencies must cover both). Each round starts ``promessa serve`` of
each tree in turn on the same generated medium snapshot, warms it up for 2 s, then loads it with the
capture of `benchmarks.bench_server` (one-line orders, an Idempotency-Key each, 6 connections) for
``--seconds``, and reads the server process's CPU time from /proc. Server CPU time per captured order is
the steadiest figure on a machine shared with other work (wall-clock throughput moves with the load); both
are printed per round, then the medians and the ratios new/old. Linux only (/proc).

Environment variables reach both servers, so ``PROMESSA_ORCHESTRATION__PROCESSES=false`` and
``PROMESSA_O2C__ENABLED=false`` measure the order core alone (an earlier commit ignores what it does not know).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_server import KEY, _free_port, _lines, _load, _request
from benchmarks.harness import ROOT


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(tree: Path, snapdir: Path, lines: list[dict], zones: list[str], *, seconds: float, work: Path) -> dict:
    """One capture run of `tree`'s server: orders/s and server CPU ms per order."""
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(tree),
           # no approval holds in either build (the old settings were flat, the new ones nested)
           "PROMESSA_ORDERS__APPROVAL_VALUE_THRESHOLD": "1000000000000", "PROMESSA_ORDERS__APPROVAL_ON_PRICE_OVERRIDE": "false",
           "PROMESSA_APPROVAL_VALUE_THRESHOLD": "1e15", "PROMESSA_APPROVAL_ON_PRICE_OVERRIDE": "false"}
    # each run in a directory of its own: the stores kept beside a SQLite book (the processes' orchestration.sqlite with
    # its feed cursor, order to cash's) would otherwise carry one run's cursors into the next run's new book
    run = work / f"run-{time.time_ns()}"
    run.mkdir()
    db = run / "book.sqlite"
    with open(work / f"{tree.name}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "promessa.cli", "serve", "--snapshot", str(snapdir), "--db", str(db),
                                 "--host", "127.0.0.1", "--port", str(port), "--api-key", f"{KEY}=admin"],
                                cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", headers={"X-API-Key": KEY}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the server of {tree} did not start (see {work / (tree.name + '.log')})")
            time.sleep(0.5)
        counter = iter(range(10**12))

        def make() -> bytes:
            k = next(counter)
            ln = lines[k % len(lines)]
            body = json.dumps({"customer": f"C{k % 997}", "zone": zones[k % len(zones)], "lines": [ln]}).encode()
            return _request(port, "POST", "/v1/orders", body, {"X-API-Key": KEY, "Idempotency-Key": f"s-{k}"})

        _load(port, make, concurrency=6, duration=2.0)  # warm-up
        c0 = _cpu_seconds(proc.pid)
        _lat, statuses, elapsed, _ = _load(port, make, concurrency=6, duration=seconds)
        ok = statuses.get(201, 0)
        if ok == 0:
            raise RuntimeError(f"no order captured by {tree}: {statuses}")
        return {"orders_s": ok / elapsed, "cpu_ms_per_order": (_cpu_seconds(proc.pid) - c0) / ok * 1e3,
                "load": os.getloadavg()[0]}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=True, help="the earlier commit")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args(argv)
    from supplydata import load_snapshot
    from supplydata.generate import generate

    work = ROOT / "var" / "side-by-side"
    work.mkdir(parents=True, exist_ok=True)
    old = work / args.ref
    if not old.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.ref], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    snapdir = work / "snapshot-medium-7"
    if not (snapdir / "meta.json").exists():
        generate(snapdir, seed=7, size="medium")
    snap = load_snapshot(snapdir)
    lines = _lines(snap, random.Random(7), 256)
    zones = sorted(z for z in snap.tables["locations"]["zone"].drop_nulls().unique().to_list())
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for name, tree in (("old", old), ("new", ROOT)):
            m = measure(tree, snapdir, lines, zones, seconds=args.seconds, work=work)
            runs[name].append(m)
            print(f"round {r + 1} {name:3s} ({tree.name}): {m['orders_s']:7.1f} orders/s  "
                  f"{m['cpu_ms_per_order']:.3f} ms server CPU per order  load {m['load']:.1f}", flush=True)
    med = {n: {k: statistics.median(x[k] for x in v) for k in ("orders_s", "cpu_ms_per_order")} for n, v in runs.items()}
    print(f"median old: {med['old']['orders_s']:.1f} orders/s, {med['old']['cpu_ms_per_order']:.3f} ms CPU/order")
    print(f"median new: {med['new']['orders_s']:.1f} orders/s, {med['new']['cpu_ms_per_order']:.3f} ms CPU/order")
    print(f"new/old: throughput {med['new']['orders_s'] / med['old']['orders_s']:.2f}x, "
          f"CPU per order {med['new']['cpu_ms_per_order'] / med['old']['cpu_ms_per_order']:.2f}x "
          f"({os.cpu_count()} cores, {os.uname().machine})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
