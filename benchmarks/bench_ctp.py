"""Capable-to-promise: one-line promise latency on a three-level bill with ten components.

The plant (built in memory, seeded): a finished good FG made from two sub-assemblies and two
purchased parts; SA1 from three parts, SA2 from four, one part (P5) shared by both:

    FG  = 1 SA1 + 2 SA2 + 1 P1 + 2 P2     ASSY 0.5 h, lead time 2
    SA1 = 1 P3 + 2 P4 + 1 P5              LINE1 0.25 h, lead time 3
    SA2 = 1 P5 + 1 P6 + 3 P7 + 1 P8       LINE2 0.2 h, lead time 1

Ten components (SA1, SA2, P1..P8), three levels. Parts arrive in weekly receipts (sized by
each part's use per finished good); FG has a little stock; resources have 8 h a day, none on
Sundays. Requests ask for 20..120 FG on a
random day: most need making, some wait for capacity or parts. The answers are checked
against the plain-Python reference (`promising.testing.ctp_reference`) before timing.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl

from benchmarks.harness import ROOT, Result, median, percentile

AS_OF = dt.date(2026, 1, 5)
LOC = "PLANT"
BILLS = {
    "FG": ([("SA1", 1.0), ("SA2", 2.0), ("P1", 1.0), ("P2", 2.0)], [("ASSY", 0.5)], 2),
    "SA1": ([("P3", 1.0), ("P4", 2.0), ("P5", 1.0)], [("LINE1", 0.25)], 3),
    "SA2": ([("P5", 1.0), ("P6", 1.0), ("P7", 3.0), ("P8", 1.0)], [("LINE2", 0.2)], 1),
}
PARTS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8")
SIZES = {"small": (90, 500), "medium": (180, 2000), "full": (365, 5000)}  # (horizon days, requests)


def plant(horizon: int, seed: int):
    """The snapshot: the bill above plus `filler` unrelated stocked items (realistic array sizes)."""
    from supplydata.schema import TABLES
    from supplydata.snapshot import build_snapshot

    rng = np.random.default_rng(seed)
    day = lambda n: AS_OF + dt.timedelta(days=int(n))  # noqa: E731
    filler = [f"X{i:04d}" for i in range(200)]
    items = ["FG", "SA1", "SA2", *PARTS, *filler]
    supply = [("FG", 0, 30.0), ("SA1", 0, 10.0), ("SA2", 0, 10.0)]
    def per_fg(item: str, mult: float = 1.0) -> dict[str, float]:  # parts per finished good
        out: dict[str, float] = {}
        for c, q in BILLS.get(item, ((), (), 0))[0]:
            if c in BILLS:
                for k, v in per_fg(c, mult * q).items():
                    out[k] = out.get(k, 0.0) + v
            else:
                out[c] = out.get(c, 0.0) + mult * q
        return out

    usage = per_fg("FG")
    for p in PARTS:
        need = usage[p]
        supply.append((p, 0, float(rng.integers(40, 120)) * need))
        for d in range(7, horizon, 7):
            supply.append((p, d, float(rng.integers(10, 40)) * need))
    for x in filler:
        supply.append((x, 0, float(rng.integers(0, 500))))
    rows = {
        "items": [{"item": i} for i in items],
        "locations": [{"location": LOC, "kind": "plant"}],
        "supply": [{"item": i, "location": LOC, "date": day(d), "qty": q, "kind": "onhand" if d == 0 else "purchase"}
                   for i, d, q in supply],
        "bom": [{"item": it, "location": LOC, "component": c, "qty_per": q, "resource": res[0][0],
                 "usage_per_unit": res[0][1], "lead_time_days": lt}
                for it, (comps, res, lt) in BILLS.items() for c, q in comps],
        "resources": [{"resource": r, "location": LOC, "date": day(d), "capacity": 0.0 if day(d).weekday() == 6 else 8.0}
                      for r in ("ASSY", "LINE1", "LINE2") for d in range(horizon)],
    }
    frames = {}
    for name, t in TABLES.items():
        schema = t.polars_schema()
        rs = rows.get(name, [])
        frames[name] = (pl.DataFrame([{c: r.get(c) for c in schema} for r in rs], schema_overrides=schema, infer_schema_length=None)
                        if rs else pl.DataFrame(schema=schema))
    return build_snapshot({"as_of": AS_OF, "horizon_days": horizon, "journal_seq": None}, frames)


def _check(snap, reqs, n_check: int) -> str:
    """Plan the first requests with the kernels and with the plain-Python reference."""
    from promising import ctp
    from promising.testing.ctp_reference import Reference

    state = snap.new_state()
    m = ctp.ctp_model(snap)
    used = ctp.capacity_used(snap, state)
    items = ("FG", "SA1", "SA2", *PARTS)
    ref = Reference(
        {k: (list(c), list(r), lt) for k, (c, r, lt) in BILLS.items()},
        {i: list(state.cum[snap.il_of(i, LOC)]) for i in items},
        {i: int(snap.il_lead_time[snap.il_of(i, LOC)]) for i in items},
        {r: list(m.cap[m.resource_index[(r, LOC)]] - used[m.resource_index[(r, LOC)]]) for r in ("ASSY", "LINE1", "LINE2")},
        {},
        horizon=snap.horizon,
    )
    for rq in reqs[:n_check]:
        req = snap.bucket(rq.requested_date)
        p = ctp.plan(snap, state, rq)
        r = ref.promise("FG", rq.qty, req, snap.horizon - 1, True)
        lots = [int(p.lot_f[k]) for k in range(p.n_lots)]
        assert (p.status, p.t, lots) == (r[0], r[1], [f for f, _ in r[3]]) and abs(p.qty - r[2]) < 1e-6, (rq, p, r)
    return f"{n_check} answers equal to the plain-Python reference"


_COLD = """
import sys, time, datetime as dt
sys.path.insert(0, {root!r})
from benchmarks.bench_ctp import plant, AS_OF, LOC
snap = plant(60, 1)
import promising
t0 = time.perf_counter()
promising.promise(snap, snap.new_state(), promising.Request("FG", LOC, 500.0, AS_OF + dt.timedelta(days=20)))
print(time.perf_counter() - t0)
"""


def cold_compile_seconds() -> float | None:
    """JIT compile time of the CTP kernels from an empty numba cache (in a fresh process)."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _COLD.format(root=str(ROOT))], env=env, capture_output=True,
                             text=True, timeout=600)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    import promising
    from promising import Request, Status, ctp
    from promising import ctp_kernels as ck

    horizon, n_req = SIZES[size]
    repeats = repeats or 3
    snap = plant(horizon, seed)
    rng = np.random.default_rng(seed + 1)
    reqs = [Request("FG", LOC, float(rng.integers(20, 121)), AS_OF + dt.timedelta(days=int(d)))
            for d in rng.integers(8, horizon - 30, n_req)]

    # compile apart from steady state: from an empty cache in a fresh process, and the first
    # call here (which loads the on-disk numba cache when it is warm)
    cold = cold_compile_seconds()
    t0 = time.perf_counter()
    st0 = snap.new_state()
    p = promising.promise(snap, st0, reqs[0], commit=True, explain=True)
    promising.unreserve(snap, st0, p.reservation)
    compile_s = time.perf_counter() - t0
    checked = _check(snap, reqs, 60 if size != "full" else 30)

    state = snap.new_state()
    ctp.capacity_used(snap, state)
    statuses = [promising.promise(snap, state, rq, explain=False).status for rq in reqs]
    mix = {s.name.lower(): sum(1 for x in statuses if x is s) for s in Status}
    plans = [ctp.plan(snap, state, rq) for rq in reqs]
    made = sum(1 for p in plans if p.made_qty > 0)
    multi = sum(1 for p in plans if p.n_lots > 1)
    on_time = [rq for rq, s in zip(reqs, statuses) if s is Status.FULL]
    params = {"days": horizon, "requests": n_req, "components": 10, "levels": 3, "item_locations": snap.n_il}

    def lat(fn, items) -> list[float]:
        out = []
        for _ in range(repeats):
            for rq in items:
                t = time.perf_counter_ns()
                fn(rq)
                out.append((time.perf_counter_ns() - t) / 1000.0)
        return out

    results = []
    a = lat(lambda rq: promising.promise(snap, state, rq, explain=False), reqs)
    results.append(Result("ctp.promise_one_line", "median", median(a), "us", "<= 100 us", median(a) <= 100.0, params,
                          compile_s=cold if cold is not None else compile_s,
                          notes=f"compile from an empty numba cache {cold if cold is None else round(cold, 1)} s, first call "
                                f"with a warm cache {compile_s:.2f} s; p99 {percentile(a, 99):.1f} us; promising.promise, no commit, no pegging (ATP first, "
                                f"then CTP); {made} of {n_req} need making ({multi} in several lots); mix {mix}; {checked}"))
    b = lat(lambda rq: promising.promise(snap, state, rq, explain=False), on_time)
    results.append(Result("ctp.promise_made_on_time", "median", median(b) if b else float("nan"), "us", "<= 100 us",
                          (median(b) <= 100.0) if b else None, params | {"requests": len(on_time)},
                          notes=f"p99 {percentile(b, 99):.1f} us; only requests CTP answers in full on the requested date"))
    c = lat(lambda rq: promising.promise(snap, state, rq, explain=True), reqs)
    results.append(Result("ctp.promise_one_line_explained", "median", median(c), "us", None, None, params,
                          notes=f"p99 {percentile(c, 99):.1f} us; with lots, component draws, capacity days and supply pegs"))

    def commit_release(rq):
        p = promising.promise(snap, state, rq, commit=True, explain=False)
        promising.unreserve(snap, state, p.reservation)

    before = state.cum.copy(), state.extras["capacity"].copy()
    d = lat(commit_release, reqs)
    assert np.allclose(state.cum, before[0], atol=1e-6) and np.allclose(state.extras["capacity"], before[1], atol=1e-6)
    results.append(Result("ctp.commit_and_release", "median", median(d), "us", None, None, params,
                          notes=f"p99 {percentile(d, 99):.1f} us; promise with commit, then unreserve (state restored, checked)"))

    # the kernel alone, and plain ATP side by side (ratio)
    m = ctp.ctp_model(snap)
    il = snap.il_of("FG", LOC)
    row = m.root_tab[m.il_root[il]]
    used = ctp.capacity_used(snap, state)
    cal = np.ones(0, dtype=np.bool_)

    def kernel(rq):
        req = snap.bucket(rq.requested_date)
        ck.ctp_promise_1d_nb(state.cum, snap.il_lead_time, m.cap, used, il, cal, rq.qty, req, horizon - 1, True,
                             ck.MAX_LOTS, row,
                             m.ent_int, m.ent_qty, m.eres_rslot, m.eres_use, m.slot_il, m.slot_lt, m.rslot_res)

    k = lat(kernel, reqs)
    results.append(Result("ctp.kernel_only", "median", median(k), "us", None, None, params,
                          notes=f"p99 {percentile(k, 99):.1f} us; ctp_promise_1d_nb alone (search, bound, plan)"))
    # batch: every request in one kernel call, committing in order; checked against promise()
    # smaller lines (1..8) so that the year's parts and hours cover a good part of them
    lines = pl.DataFrame({"item": [rq.item for rq in reqs], "location": [LOC] * n_req,
                          "qty": [max(1.0, rq.qty // 15) for rq in reqs],
                          "requested_date": [rq.requested_date for rq in reqs]})
    k_chk = min(300, n_req)
    s1, s2 = snap.new_state(), snap.new_state()
    t0 = time.perf_counter()
    chk = ctp.promise_batch_ctp(snap, s2, lines.head(k_chk), commit=True)
    compile_batch = time.perf_counter() - t0
    for i, r in enumerate(lines.head(k_chk).iter_rows(named=True)):
        p = promising.promise(snap, s1, Request(r["item"], LOC, r["qty"], r["requested_date"]), commit=True, explain=False)
        assert int(p.status) == int(chk.status[i]) and abs(p.promised_qty - chk.promised[i]) < 1e-6, (i, p)
    assert np.allclose(s1.cum, s2.cum, atol=1e-9) and np.allclose(s1.extras["capacity"], s2.extras["capacity"], atol=1e-9)
    enc = promising.encode_lines(snap, lines)
    times = []
    for _ in range(repeats):
        sb = snap.new_state()
        t0 = time.perf_counter()
        outb = ctp.promise_encoded_ctp(snap, sb, enc, commit=True)
        times.append(time.perf_counter() - t0)
    rate = n_req / median(times)
    bmix = {st.name.lower(): int((outb.status == int(st)).sum()) for st in Status}
    results.append(Result("ctp.promise_batch", "throughput", rate, "lines/s", None, None, params,
                          compile_s=compile_batch,
                          notes=f"all requests in one kernel call, committing in order: they compete for parts and "
                                f"capacity, which the first ones use up ({int((outb.made > 0).sum())} lines made; status "
                                f"mix {bmix}), so most later lines search the horizon in vain; first {k_chk} equal to "
                                f"promise() line by line"))
    atp_reqs = [Request("P3", LOC, rq.qty, rq.requested_date) for rq in reqs]
    e = lat(lambda rq: promising.promise_atp(snap, state, rq, explain=False), atp_reqs)
    results.append(Result("ctp.ratio_to_atp", "ratio", median(a) / median(e), "x", None, None, params,
                          notes=f"CTP promise median / plain ATP promise median ({median(e):.1f} us) in the same run"))
    return results
