"""ATP: one-line promise latency from Python, and batch promising throughput (one kernel call)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import dataset, orders_at_first_node
from benchmarks.harness import Result, median, percentile


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from promising import Policy, Request, encode_lines, promise, promise_encoded
    from supplydata import build_snapshot, load_snapshot

    repeats = repeats or 5
    path = dataset(size, seed)
    snap = load_snapshot(path)
    # plain ATP: the generated quotas are dropped (requests without a class are the "all others"
    # class where quotas exist; allocation is measured in bench_allocation)
    tables = dict(snap.tables)
    tables["allocation"] = tables["allocation"].clear()
    meta = dict(snap.meta)
    del snap
    snap = build_snapshot(meta, tables)
    del tables
    orders = orders_at_first_node(snap, path)
    n_lines = orders.height
    enc = encode_lines(snap, orders, policy=Policy(allow_split=True))

    # ---- check against the one-line path before timing: the batch kernel and promise() agree
    k = min(2000, n_lines)
    s1, s2 = snap.new_state(), snap.new_state()
    sample = orders.head(k)
    t0 = time.perf_counter()
    res = promise_encoded(snap, s1, encode_lines(snap, sample, policy=Policy(allow_split=True)), commit=True)
    compile_batch = time.perf_counter() - t0
    pol = Policy(allow_split=True)
    reqs = [Request(r["item"], r["location"], r["qty"], r["requested_date"], pol) for r in sample.iter_rows(named=True)]
    t0 = time.perf_counter()
    promise(snap, s2, reqs[0], commit=False)
    compile_one = time.perf_counter() - t0
    for i, rq in enumerate(reqs):
        p = promise(snap, s2, rq, commit=True, explain=False)
        assert int(p.status) == int(res.status[i]) and abs(p.promised_qty - res.promised[i]) < 1e-6, (i, p, res.status[i])
    assert np.array_equal(s1.cum, s2.cum)
    # ... and the plain-Python reference (promising.testing.atp_reference) agrees with the kernel
    from promising.testing import atp_reference as ref

    s3 = snap.new_state()
    for i, rq in enumerate(reqs[:300]):
        il = snap.il_of(rq.item, rq.location)
        want = ref.promise(list(s3.cum[il]), int(snap.il_lead_time[il]), list(snap.calendar_open[snap.il_calendar[il]])
                           if snap.il_calendar[il] >= 0 else None, rq.qty, snap.bucket(rq.requested_date), -1, True, True, 4)
        p = promise(snap, s3, rq, commit=True, explain=False)
        got = [(snap.bucket(ln.date), ln.qty) for ln in p.lines]
        assert int(p.status) == want[0] and [b for b, _ in got] == [b for b, _ in want[2]], (i, p, want)

    # ---- one-line latency: a fresh state with the existing plan; requests drawn from the orders
    state = snap.new_state()
    rng = np.random.default_rng(seed)
    pick = rng.choice(n_lines, size=min(20_000, n_lines), replace=False)
    rows = orders[pick]
    reqs = [Request(r["item"], r["location"], r["qty"], r["requested_date"]) for r in rows.iter_rows(named=True)]
    results = []
    for explain, name in ((False, "atp.promise_one_line"), (True, "atp.promise_one_line_pegged")):
        lat = []
        for rq in reqs:
            t0 = time.perf_counter_ns()
            promise(snap, state, rq, explain=explain)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
        results.append(Result(name, "median", median(lat), "us", "<= 10 us" if not explain else None,
                              (median(lat) <= 10.0) if not explain else None,
                              {"calls": len(lat), "item_locations": snap.n_il, "days": snap.horizon},
                              compile_s=compile_one,
                              notes=f"p99 {percentile(lat, 99):.1f} us; no commit; " + ("with pegging" if explain else "without pegging")))

    # ---- batch: every order line in one kernel call, committing in the given order
    times = []
    promised = None
    for _ in range(repeats):
        st = snap.new_state()
        t0 = time.perf_counter()
        out = promise_encoded(snap, st, enc, commit=True)
        times.append(time.perf_counter() - t0)
        promised = out.promised
        del st
    best = median(times)
    rate = n_lines / best
    full = size == "full"
    results.append(Result("atp.promise_batch", "throughput", rate, "lines/s", ">= 1,000,000 lines/s" if full else None,
                          (rate >= 1_000_000) if full else None,
                          {"lines": n_lines, "item_locations": snap.n_il, "days": snap.horizon},
                          compile_s=compile_batch,
                          notes=f"median {best:.3f} s per call; {float((promised > 0).mean()) * 100:.1f}% of lines promised"))
    return results
