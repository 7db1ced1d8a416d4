"""Allocation: allocation-aware one-line promise latency beside plain ATP, and batch throughput
beside plain ATP, measured side by side in one run on the same generated network and orders.

Before timing it checks (1) the allocation kernel against the plain-Python reference
(`allocation.testing`) on requests at item-locations with quotas, and (2) the batch kernel against
the one-line path (`promising.promise` with a demand class) on a sample of the order stream.
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from benchmarks.common import dataset, orders_at_first_node
from benchmarks.harness import Result, median, percentile

def _prot_rows(prot: np.ndarray) -> list | None:
    """The model's packed protection rows as the reference's [(qty, from, until), ...] per pool."""
    if prot.shape[1] == 0:
        return None
    return [[(float(r[3 * j]), int(r[3 * j + 1]), int(r[3 * j + 2])) for j in range(prot.shape[1] // 3) if r[3 * j] > 0]
            for r in prot]


def _protected(snap):
    """The same snapshot with protection on every quota row: a fifth of its quantity, for takes
    dated within the first 30 days (in memory)."""
    import datetime as dt

    from supplydata import build_snapshot

    tables = dict(snap.tables)
    al = tables["allocation"]
    tables["allocation"] = al.with_columns(
        protect_qty=(pl.col("qty") * 0.2),
        protect_until=pl.max_horizontal(pl.col("date"), pl.lit(snap.as_of)) + dt.timedelta(days=30))
    return build_snapshot(dict(snap.meta), tables)


def _one_line_side_by_side(snap, state, reqs, name: str, target: float, note: str) -> list[Result]:
    """Median latency of `promising.promise` on reqs[i][0] beside plain ATP (`promise_atp`) on
    reqs[i][1], interleaved; Results for both and their ratio."""
    from promising import promise, promise_atp

    lat_a, lat_p = [], []
    for rq_a, rq_p in reqs:
        t0 = time.perf_counter_ns()
        promise(snap, state, rq_a, explain=False)
        t1 = time.perf_counter_ns()
        promise_atp(snap, state, rq_p, explain=False)
        t2 = time.perf_counter_ns()
        lat_a.append((t1 - t0) / 1000.0)
        lat_p.append((t2 - t1) / 1000.0)
    ma, mp = median(lat_a), median(lat_p)
    params = {"calls": len(lat_a), "days": snap.horizon}
    return [
        Result(f"{name}", "median", ma, "us", None, None, params, notes=f"p99 {percentile(lat_a, 99):.1f} us; {note}"),
        Result(f"{name}.plain_atp", "median", mp, "us", None, None, params, notes="the same requests by plain ATP"),
        Result(f"{name}_vs_atp", "ratio", ma / mp, "x", f"<= {target:g}x", ma / mp <= target, params,
               notes="median / median plain ATP, measured interleaved in one run"),
    ]


def _substitution_case(snap, orders: pl.DataFrame, seed: int, n: int) -> list[Result]:
    """Two-item chains (each item's substitute is the next item): requests larger than what the
    item has on the requested day, so the chain is walked, beside plain ATP on the same requests."""
    import promising
    from promising import Policy, Request
    from supplydata import build_snapshot

    ids = list(snap.item_ids)
    tables = dict(snap.tables)
    tables["substitutes"] = pl.DataFrame({"item": ids, "substitute": ids[1:] + ids[:1], "preference": [1] * len(ids),
                                          "valid_from": None, "valid_to": None},
                                         schema={"item": pl.String, "substitute": pl.String, "preference": pl.Int64,
                                                 "valid_from": pl.Date, "valid_to": pl.Date})
    tables["allocation"] = tables["allocation"].clear()  # substitution alone, beside plain ATP
    sub = build_snapshot(dict(snap.meta), tables)
    st = sub.new_state()
    rows = orders[np.random.default_rng(seed + 2).choice(orders.height, size=min(n, orders.height), replace=False)]
    reqs, walked = [], 0
    for r in rows.iter_rows(named=True):
        have = promising.available(sub, st, r["item"], r["location"], r["requested_date"])
        q = float(min(max(have + 1.0, r["qty"]), 1e9)) if np.isfinite(have) else float(r["qty"])
        rq = Request(r["item"], r["location"], q, r["requested_date"], Policy())
        walked += promising.promise(sub, st, rq, explain=False).details is not None
        reqs.append((rq, rq))
    return _one_line_side_by_side(sub, st, reqs, "promising.substitution_one_line", 3.0,
                                  f"two-item chains; no commit; the substitute answers for {walked / len(reqs) * 100:.0f}% "
                                  "of these requests (the others: the item alone is late or the substitute has nothing)")


def _check_reference(snap, state, rows: pl.DataFrame, n: int) -> int:
    """Kernel answer == reference answer for n requests at item-locations with quotas."""
    from allocation import class_path, model_for, positions
    from allocation import testing as ref
    from promising import Policy, Request, resolve_il

    model = model_for(snap)
    pos = positions(snap, state)
    checked = 0
    for r in rows.head(n).iter_rows(named=True):
        rq = Request(r["item"], r["location"], r["qty"], r["requested_date"], Policy(allow_split=True), r["demand_class"])
        p = class_path(snap, state, rq, commit=False, explain=False)
        il = resolve_il(snap, r["item"], r["location"])
        lo, hi = model.pools_of(il)
        cal = None
        c = snap.il_calendar[il]
        if c >= 0:
            cal = [bool(x) for x in snap.calendar_open[c]]
        k = model.class_code(r["demand_class"])
        want = ref.promise([list(x) for x in pos[lo:hi]], list(state.cum[il]), list(model.pool_parent[lo:hi]),
                           list(model.pool_class[lo:hi]), list(model.class_parent), list(model.class_priority),
                           list(model.class_steal), _prot_rows(model.protection[lo:hi]),
                           k, int(snap.il_lead_time[il]), cal, float(r["qty"]), snap.bucket(r["requested_date"]), -1,
                           True, True, 4)
        got = [(ln.date, ln.qty) for ln in p.lines]
        exp = [(snap.date(b), q) for b, q, _ in want[2]]
        assert int(p.status) == want[0] and int(p.reason) == want[1], (r, p, want)
        assert len(got) == len(exp) and all(a == b and abs(x - y) < 1e-6 for (a, x), (b, y) in zip(got, exp)), (got, exp)
        checked += 1
    return checked


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    import allocation
    from promising import Policy, Request, encode_lines, promise, promise_atp, promise_encoded
    from supplydata import load_snapshot

    repeats = repeats or 5
    path = dataset(size, seed)
    snap = load_snapshot(path)
    orders = orders_at_first_node(snap, path)
    n_lines = orders.height
    pol = Policy(allow_split=True)
    t0 = time.perf_counter()
    model = allocation.model_for(snap)
    build_s = time.perf_counter() - t0
    enc = encode_lines(snap, orders, policy=pol)
    lcls = allocation.encode_classes(snap, orders)
    has_pools = (np.diff(model.pool_ptr) > 0)[np.maximum(enc.ils, 0)] & (enc.ils >= 0)
    at_quota = orders.filter(pl.Series(has_pools & (lcls != -2)))

    # ---- compile, then check against the reference and the one-line path before timing
    t0 = time.perf_counter()
    allocation.promise_batch(snap, snap.new_state(), orders.head(50), policy=pol)
    compile_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    rq0 = at_quota.row(0, named=True)
    promise(snap, snap.new_state(), Request(rq0["item"], rq0["location"], rq0["qty"], rq0["requested_date"], pol,
                                            rq0["demand_class"]))
    compile_one = time.perf_counter() - t0

    k = min(2000, n_lines)
    sample = orders.head(k)
    s1, s2 = snap.new_state(), snap.new_state()
    res = allocation.promise_batch(snap, s1, sample, policy=pol)
    for i, r in enumerate(sample.iter_rows(named=True)):
        p = promise(snap, s2, Request(r["item"], r["location"], r["qty"], r["requested_date"], pol, r["demand_class"]),
                    commit=True, explain=False)
        assert int(p.status) == int(res.status[i]) and abs(p.promised_qty - res.promised[i]) < 1e-6, (i, p, res.status[i])
    assert np.allclose(s1.cum, s2.cum) and np.allclose(allocation.positions(snap, s1), allocation.positions(snap, s2))

    # ---- one-line latency, side by side: the same requests with their class (allocation path)
    # and without (plain ATP), interleaved, on a state that already holds half of the orders
    half = snap.new_state()
    cut = n_lines // 2
    from promising.types import EncodedLines

    head = EncodedLines(*(getattr(enc, f)[:cut] for f in ("ils", "qty", "req", "max_late", "flags", "max_lines")))
    allocation.promise_encoded(snap, half, head, lcls[:cut], commit=True)
    # the reference on that busy state (quotas partly used: allocation binds for many requests)
    ref_rows = at_quota[np.random.default_rng(seed + 1).choice(at_quota.height, size=4 if size == "full" else 8, replace=False)]
    n_ref = _check_reference(snap, half, ref_rows, ref_rows.height)
    rng = np.random.default_rng(seed)
    pick = rng.choice(at_quota.height, size=min(20_000, at_quota.height), replace=False)
    rows = at_quota[pick]
    reqs = [(Request(r["item"], r["location"], r["qty"], r["requested_date"], Policy(), r["demand_class"]),
             Request(r["item"], r["location"], r["qty"], r["requested_date"], Policy()))
            for r in rows.iter_rows(named=True)]
    results = [Result("allocation.model_build", "time", build_s * 1000, "ms", None, None,
                      {"pools": model.n_pools, "classes": len(model.class_ids), "item_locations": snap.n_il},
                      notes="allocation model derived from the snapshot once (cached in snap.derived)")]
    bound = 0
    for explain, tag in ((False, ""), (True, "_pegged")):
        lat_a, lat_p = [], []
        for rq_a, rq_p in reqs:
            t0 = time.perf_counter_ns()
            pa = promise(snap, half, rq_a, explain=explain)
            t1 = time.perf_counter_ns()
            promise_atp(snap, half, rq_p, explain=explain)  # plain ATP (without a class, promise is "all others")
            t2 = time.perf_counter_ns()
            lat_a.append((t1 - t0) / 1000.0)
            lat_p.append((t2 - t1) / 1000.0)
            if not explain and pa.reason == 7:
                bound += 1
        ma, mp = median(lat_a), median(lat_p)
        params = {"calls": len(lat_a), "pools": model.n_pools, "days": snap.horizon}
        note = "with pegging" if explain else "without pegging"
        results.append(Result(f"allocation.promise_one_line{tag}", "median", ma, "us", None, None, params,
                              compile_s=compile_one, notes=f"p99 {percentile(lat_a, 99):.1f} us; no commit; {note}; "
                              f"requests with a class at item-locations with quotas"))
        results.append(Result(f"atp.promise_one_line{tag}", "median", mp, "us", None, None, params,
                              notes=f"p99 {percentile(lat_p, 99):.1f} us; the same requests without class; {note}"))
        results.append(Result(f"allocation.one_line_vs_atp{tag}", "ratio", ma / mp, "x", "<= 2x", ma / mp <= 2.0, params,
                              notes="median allocation / median plain ATP, measured interleaved in one run"
                              + (f"; allocation binds for {bound / len(reqs) * 100:.0f}% of these requests" if not explain else "")))

    # ---- "all others" (no class) at item-locations with quotas and protection, beside plain ATP
    psnap = _protected(snap)
    allocation.model_for(psnap)
    phalf = psnap.new_state()
    allocation.promise_encoded(psnap, phalf, head, lcls[:cut], commit=True)
    n_ref += _check_reference(psnap, phalf, ref_rows.with_columns(demand_class=pl.lit(None, pl.String)), ref_rows.height)
    others = [(Request(r["item"], r["location"], r["qty"], r["requested_date"], Policy()),) * 2
              for r in rows.iter_rows(named=True)]
    promise(psnap, phalf, others[0][0])  # compile
    results += _one_line_side_by_side(psnap, phalf, others, "allocation.all_others_protected_one_line", 2.0,
                                      "requests without a class at item-locations with quotas, every quota protected "
                                      "for 30 days; no commit")
    results += _substitution_case(snap, orders, seed, min(20_000, len(reqs)))

    # ---- batch throughput, side by side: every order line in one kernel call, committing
    t_a, t_p = [], []
    out_a = None
    for _ in range(repeats):
        st = snap.new_state()
        t0 = time.perf_counter()
        out_a = allocation.promise_encoded(snap, st, enc, lcls, commit=True)
        t_a.append(time.perf_counter() - t0)
        st = snap.new_state()
        t0 = time.perf_counter()
        promise_encoded(snap, st, enc, commit=True)
        t_p.append(time.perf_counter() - t0)
        del st
    ba, bp = median(t_a), median(t_p)
    share = float(has_pools.mean()) * 100
    bound_share = float((out_a.binding == 2).mean()) * 100
    params = {"lines": n_lines, "item_locations": snap.n_il, "pools": model.n_pools, "days": snap.horizon}
    results.append(Result("allocation.promise_batch", "throughput", n_lines / ba, "lines/s", None, None, params,
                          compile_s=compile_batch,
                          notes=f"median {ba:.3f} s per call; {share:.1f}% of lines at item-locations with quotas; "
                          f"allocation binds for {bound_share:.1f}% of lines"))
    results.append(Result("atp.promise_batch", "throughput", n_lines / bp, "lines/s", None, None, params,
                          notes=f"median {bp:.3f} s per call, same lines without allocation"))
    results.append(Result("allocation.batch_vs_atp", "ratio", ba / bp, "x", "<= 3x (issue 13)", ba / bp <= 3.0, params,
                          notes="median batch time allocation / median plain ATP on the same lines, measured "
                          "alternately in one run"))
    results.append(Result("allocation.reference_check", "count", n_ref, "requests", None, True, {},
                          notes="kernel answers equal to the plain-Python reference before timing"))
    return results
