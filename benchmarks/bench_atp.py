"""ATP: one-line promise latency from Python, and batch promising throughput (one kernel call).

The floor for batch promising, measured in the same run (issue 19): a bare numba greedy loop over the
same encoded lines (`benchmarks.bench_scenarios._bare_greedy_cal_nb` with nothing to give back: every
line once in the given order, the whole quantity on the earliest working day from its requested day
on, else the largest quantity reachable, committing), the batch kernel's default policy (partial, no
split). `promise_batch` with that policy, end to end from the order-line frame (validation,
encoding, the kernel, the result arrays), is reported as a ratio to it, and must give its answers.
"""

from __future__ import annotations

import os
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

    # ---- batch with the default policy, end to end from the frame, vs the bare loop (alternating repeats)
    from benchmarks.bench_scenarios import _bare_greedy_cal_nb
    from promising import DEFAULT_POLICY, promise_batch

    enc0 = encode_lines(snap, orders, policy=DEFAULT_POLICY)
    seq = np.arange(n_lines, dtype=np.int64)
    no_sched = np.zeros(n_lines + 1, np.int64), np.empty(0, np.int64), np.empty(0)
    bb, bq = np.empty(n_lines, np.int64), np.empty(n_lines)
    lt, ilc, co = snap.il_lead_time, snap.il_calendar, snap.calendar_open

    def bare_loop(st) -> None:
        _bare_greedy_cal_nb(st.cum, lt, ilc, co, seq, enc0.ils, enc0.qty, enc0.req, *no_sched, bb, bq)

    t0 = time.perf_counter()
    bare_loop(snap.new_state())
    bare_compile = time.perf_counter() - t0
    b_times, d_times, enc_times, out = [], [], [], None
    for _ in range(repeats):
        st = snap.new_state()
        t0 = time.perf_counter()
        bare_loop(st)
        b_times.append(time.perf_counter() - t0)
        bare_cum = st.cum
        st = snap.new_state()
        out = None
        t0 = time.perf_counter()
        out = promise_batch(snap, st, orders, commit=True)
        d_times.append(time.perf_counter() - t0)
        assert np.allclose(st.cum, bare_cum, rtol=0, atol=1e-6)
        del st, bare_cum
        t0 = time.perf_counter()
        encode_lines(snap, orders)
        enc_times.append(time.perf_counter() - t0)
    # the same answers as the bare loop, line by line
    assert int(out.n_lines.max(initial=0)) <= 1
    assert np.array_equal(np.where(out.n_lines > 0, out.bucket[:, 0], -1), bb)
    assert np.allclose(np.where(out.n_lines > 0, out.qty[:, 0], 0.0), bq, rtol=0, atol=1e-6)
    bare, dflt = median(b_times), median(d_times)
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    results.append(Result("atp.promise_batch_default_policy", "throughput", n_lines / dflt, "lines/s", None, None,
                          {"lines": n_lines, "policy": "partial, no split"},
                          notes=(f"median {dflt:.3f} s per call of promise_batch from the order-line frame, of which "
                                 f"validation and encoding {median(enc_times):.3f} s (timed apart); min "
                                 f"{min(d_times):.3f} s; {load}")))
    results.append(Result("atp.bare_batch_loop", "throughput", n_lines / bare, "lines/s", None, None,
                          {"lines": n_lines}, compile_s=bare_compile,
                          notes=(f"the floor: one numba loop over the encoded lines (greedy, working days, "
                                 f"committing), encoded outside the timing; median {bare:.3f} s, min "
                                 f"{min(b_times):.3f} s; the batch's answers line by line")))
    results.append(Result("atp.promise_batch_vs_bare_loop", "ratio", dflt / bare, "x", "<= 1.3x (issue 19)",
                          dflt / bare <= 1.3, {"lines": n_lines, "measured": "same run, same lines, alternating repeats"},
                          notes="promise_batch (default policy, end to end from the frame) median / bare loop median"))
    results.append(Result("atp.promise_batch", "throughput", rate, "lines/s", ">= 1,000,000 lines/s" if full else None,
                          (rate >= 1_000_000) if full else None,
                          {"lines": n_lines, "item_locations": snap.n_il, "days": snap.horizon},
                          compile_s=compile_batch,
                          notes=f"median {best:.3f} s per call; {float((promised > 0).mean()) * 100:.1f}% of lines promised"))
    return results
