"""Memory that follows activity (issue 19 item 6): the compact form (`supplydata.sparse`) against the dense one.

Builds N item-locations with the generated sample's activity directly in numpy, block by block
(no parquet files): ten locations per item (six DCs on a weekday calendar, four stores open every
day), Zipf item popularity as `supplydata.generate`, on hand plus a receipt every 21-42 days over
365 days, a Poisson number of existing demand rows in the first 45 days, and a lead time for a
quarter of the items. Sizes: small 100,000, medium 1,000,000, full 10,000,000 item-locations.

Reports bytes per item-location (snapshot alone; with a refresh in flight: old and new snapshot
and both states alive; the state after the batch's commitments), one-line promise latency and
batch throughput on the compact form, and the dense form side by side in the same run at 100,000
item-locations (where it fits), after checking that both give identical answers.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np

from benchmarks.harness import Result, median, percentile

N_BY_SIZE = {"small": 100_000, "medium": 1_000_000, "full": 10_000_000}
DENSE_N = 100_000
H = 365
N_LOC = 10           # locations per item: 6 DCs then 4 stores
N_DC = 6
BLOCK = 500_000      # item-locations generated and encoded at a time
AS_OF = dt.date(2026, 1, 5)
LINES_PER_IL = 10    # order lines per item-location in the batch (the full sample has ~10), at most 1,000,000


def _popularity(n_items: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    pop = pop[rng.permutation(n_items)]
    return pop / pop.sum()


def network(n: int, seed: int) -> dict:
    """Per-item-location attributes of n item-locations (n a multiple of 10): key, lead time, calendar, rate."""
    n_items = n // N_LOC
    pop = _popularity(n_items, seed)
    rng = np.random.default_rng(seed + 1)
    lead_item = np.where(rng.random(n_items) < 0.25, rng.integers(7, 46, n_items), -1).astype(np.int32)
    il = np.arange(n, dtype=np.int64)
    item, loc = il // N_LOC, il % N_LOC
    # the generator's daily demand: order lines / (H / 4) * 2 spread over the item's locations
    total_daily = LINES_PER_IL * n / (H * 0.25) * 2.0
    rate = total_daily * pop[item] / N_LOC
    calendar_open = np.ones((2, H), dtype=np.bool_)
    calendar_open[1] = [(AS_OF + dt.timedelta(days=d)).weekday() < 5 for d in range(H)]  # 0 everyday, 1 weekdays
    return {"il_key": il, "il_lead_time": lead_item[item], "il_calendar": np.where(loc < N_DC, 1, 0).astype(np.int32),
            "calendar_open": calendar_open, "rate": rate, "pop": pop}


def block_rows(rate: np.ndarray, seed: int) -> tuple[tuple, tuple]:
    """Supply and demand rows (il within the block, day, qty) for a block of item-locations, as the generator draws them."""
    rng = np.random.default_rng(seed)
    n = rate.shape[0]
    onhand = np.round(rate * rng.uniform(0, 25, n) + rng.integers(0, 3, n))
    interval = rng.integers(21, 43, n)
    first = rng.integers(1, 15, n)
    n_rec = np.maximum(0, (H - 1 - first) // interval + 1)
    rec_il = np.repeat(np.arange(n), n_rec)
    k_in = np.arange(rec_il.shape[0]) - np.repeat(np.cumsum(n_rec) - n_rec, n_rec)
    rec_day = first[rec_il] + k_in * interval[rec_il]
    rec_qty = np.round(rate[rec_il] * interval[rec_il] * rng.uniform(0.6, 1.3, rec_il.shape[0]) + 1.0)
    keep = onhand > 0
    sup = (np.concatenate([np.flatnonzero(keep), rec_il]), np.concatenate([np.zeros(int(keep.sum()), np.int64), rec_day]),
           np.concatenate([onhand[keep], rec_qty]))
    n_dem = rng.poisson(np.minimum(rate * 3, 6.0))
    dem_il = np.repeat(np.arange(n), n_dem)
    dem = (dem_il, rng.integers(0, 45, dem_il.shape[0]), np.maximum(1.0, np.round(rate[dem_il] * rng.uniform(0.5, 3.0, dem_il.shape[0]))))
    return sup, dem


def build(n: int, seed: int, *, keep_rows: bool = False, as_of: dt.date = AS_OF):
    """The compact snapshot of n item-locations, built block by block (with `keep_rows`, also the
    rows, with il codes over the whole network, for the dense snapshot of the same data)."""
    from supplydata.sparse import CompactBuilder

    net = network(n, seed)
    b = CompactBuilder(as_of=as_of, horizon=H)
    rows = {"supply": 0, "demand": 0}
    kept: dict[str, list] = {"supply": [], "demand": []}
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        sup, dem = block_rows(net["rate"][lo:hi], seed * 1_000_003 + lo)
        b.add(hi - lo, sup, dem)
        for name, r in (("supply", sup), ("demand", dem)):
            rows[name] += r[0].shape[0]
            if keep_rows:
                kept[name].append((r[0] + lo, r[1], r[2]))
    snap = b.finish(il_key=net["il_key"], n_locations=N_LOC, il_lead_time=net["il_lead_time"], il_calendar=net["il_calendar"],
                    calendar_open=net["calendar_open"])
    if keep_rows:
        rows["kept"] = {k: tuple(np.concatenate(parts) for parts in zip(*v)) for k, v in kept.items()}
    return snap, net, rows


def dense_snapshot(n: int, net: dict, kept: dict):
    """The dense `Snapshot` of the same rows, through `build_snapshot` (ids I0000000.., L00..L09)."""
    import polars as pl

    from supplydata.schema import TABLES
    from supplydata.snapshot import build_snapshot

    n_items = n // N_LOC
    item_ids = pl.Series([f"I{i:07d}" for i in range(n_items)])
    loc_ids = pl.Series([f"L{i:02d}" for i in range(N_LOC)])
    lead_item = net["il_lead_time"][::N_LOC]
    dates = [AS_OF + dt.timedelta(days=d) for d in range(H)]
    base = np.datetime64(AS_OF, "D")

    def rows_df(il, day, qty, extra):
        return pl.DataFrame({"item": item_ids.gather(il // N_LOC), "location": loc_ids.gather(il % N_LOC),
                             "date": pl.Series(base + day.astype("timedelta64[D]")), "qty": qty, **extra(il.shape[0])})

    tables = {
        "items": pl.DataFrame({"item": item_ids, "price": np.full(n_items, 10.0), "cost": np.full(n_items, 6.0),
                               "lead_time_days": pl.Series(lead_item.astype(np.int64)).replace(-1, None)}),
        "locations": pl.DataFrame({"location": loc_ids, "kind": ["dc"] * N_DC + ["store"] * (N_LOC - N_DC),
                                   "calendar": ["weekdays"] * N_DC + ["everyday"] * (N_LOC - N_DC)}),
        "calendars": pl.DataFrame({"calendar": ["everyday"] * H + ["weekdays"] * H, "date": dates + dates,
                                   "open": [True] * H + net["calendar_open"][1].tolist()}),
        "supply": rows_df(*kept["supply"], lambda m: {"kind": pl.Series(["purchase"] * m), "ref": pl.Series(["R"] * m)}),
        "demand": rows_df(*kept["demand"], lambda m: {"ref": pl.Series(["D"] * m)}),
    }
    for name in TABLES:  # the optional tables empty, as the loader gives them (the live engine reads them)
        if name not in tables:
            tables[name] = TABLES[name].empty()
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, tables)


def order_lines(net: dict, n: int, n_lines: int, seed: int):
    """Encoded order lines: items by popularity, any of the ten locations, 1..20 units, requested 1..21 days after creation."""
    from promising.enums import FLAG_PARTIAL, FLAG_SPLIT
    from promising.types import EncodedLines

    rng = np.random.default_rng(seed + 2)
    item = rng.choice(net["pop"].shape[0], size=n_lines, p=net["pop"])
    ils = item * N_LOC + rng.integers(0, N_LOC, n_lines)
    qty = np.minimum(rng.geometric(0.45, n_lines), 20).astype(np.float64)
    created = np.sort(rng.integers(0, int(H * 0.6), n_lines))
    req = np.minimum(created + rng.integers(1, 22, n_lines), H - 1).astype(np.int64)
    return EncodedLines(ils.astype(np.int64), qty, req, np.full(n_lines, -1, np.int64),
                        np.full(n_lines, FLAG_PARTIAL | FLAG_SPLIT, np.int64), np.full(n_lines, 4, np.int64))


def _peak_rss_mib() -> float:
    """The process's peak resident set so far (MiB), the dense side-by-side part included."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _one_line(call, picks) -> list[float]:
    lat = []
    for args in picks:
        t0 = time.perf_counter_ns()
        call(*args)
        lat.append((time.perf_counter_ns() - t0) / 1000.0)
    return lat


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    from promising import kernels as nb
    from promising import sparse_kernels as sk
    from promising.atp import promise_atp, promise_encoded
    from promising.sparse_atp import promise_compact, promise_compact_encoded
    from promising.types import Policy, Request
    from supplydata.sparse import compact_from_snapshot, replay

    repeats = repeats or 3
    n = N_BY_SIZE[size]
    results: list[Result] = []

    # ---- side by side at 100,000 item-locations: the dense Snapshot of the rows and its compact form
    built, net, rows = build(DENSE_N, seed, keep_rows=True)
    dense = dense_snapshot(DENSE_N, net, rows.pop("kept"))
    csnap = compact_from_snapshot(dense)
    # check before timing: the block builder encodes the rows as the dense snapshot does
    for name in ("il_key", "il_lead_time", "il_calendar", "calendar_open", "ev_ptr", "ev_day", "ev_cum"):
        assert np.array_equal(getattr(built, name), getattr(csnap, name)), name
    del built
    n_lines = min(LINES_PER_IL * DENSE_N, 1_000_000)
    enc = order_lines(net, DENSE_N, n_lines, seed)
    # ... and both forms give identical answers and positions, line by line
    dstate = dense.new_state()
    t0 = time.perf_counter()
    r_d = promise_encoded(dense, dstate, enc, commit=True)
    compile_dense = time.perf_counter() - t0
    cstate = csnap.new_state()
    t0 = time.perf_counter()
    r_c = promise_compact_encoded(csnap, cstate, enc, commit=True)
    compile_compact = time.perf_counter() - t0
    for name in ("status", "reason", "n_lines", "bucket", "qty", "earliest_full"):
        got, want = getattr(r_c, name), getattr(r_d, name)
        if name in ("bucket", "qty"):
            mask = np.arange(got.shape[1])[None, :] < r_d.n_lines[:, None]
            got, want = got[mask], want[mask]
        assert np.array_equal(got, want), name
    for il in np.random.default_rng(seed).choice(DENSE_N, 2000, replace=False).tolist():
        assert np.array_equal(cstate.position(il), dstate.cum[il]), il
    dense_bytes = (dense.supply.nbytes + dense.demand.nbytes + dense.base_cum.nbytes) / DENSE_N
    dense_state = dstate.nbytes / DENSE_N
    params = {"item_locations": DENSE_N, "days": H, "supply_rows_per_il": round(rows["supply"] / DENSE_N, 2),
              "demand_rows_per_il": round(rows["demand"] / DENSE_N, 2), "event_days_per_il": round(csnap.n_events / DENSE_N, 2)}

    # one-line latency on the committed states, no commit, the same 20,000 requests in interleaved rounds:
    # (a) the Python entry point (promise_atp / promise_compact: ids, date, kernel, answer object);
    # (b) the kernel alone, called from Python as those entry points call it
    rng = np.random.default_rng(seed + 3)
    pick = rng.choice(n_lines, size=20_000, replace=False)
    pol = Policy(allow_split=True)
    reqs = [Request(*dense.il_name(int(enc.ils[i])), float(enc.qty[i]), dense.date(int(enc.req[i])), pol) for i in pick.tolist()]
    picks = [(int(enc.ils[i]), float(enc.qty[i]), int(enc.req[i])) for i in pick.tolist()]
    scratch = np.empty(H)
    out_b, out_q = np.empty(8, np.int64), np.empty(8)
    no_cal = np.ones(0, np.bool_)
    cal_rows = [dense.calendar_open[c] for c in range(dense.calendar_open.shape[0])]
    cargs = (csnap.ev_ptr, csnap.ev_day, csnap.ev_cum, *cstate.overlay)

    def dense_kernel(il, q, req):
        c = dense.il_calendar[il]
        return nb.promise_1d_nb(dstate.cum[il], dense.il_lead_time[il], cal_rows[c] if c >= 0 else no_cal, q, req, -1, 3, 4,
                                False, scratch, out_b, out_q)

    def compact_kernel(il, q, req):
        c = csnap.il_calendar[il]
        return sk.promise_compact_1d_nb(*cargs, il, H, csnap.il_lead_time[il], cal_rows[c] if c >= 0 else no_cal, q, req, -1, 3, 4,
                                        False, out_b, out_q)

    for rq in reqs[:3]:  # same answers through the entry points too
        a, b = promise_atp(dense, dstate, rq, explain=False)[0], promise_compact(csnap, cstate, rq)[0]
        assert (a.status, a.lines) == (b.status, b.lines)
    t0 = time.perf_counter(); compact_kernel(*picks[0]); compile_one = time.perf_counter() - t0
    dense_kernel(*picks[0])
    lat = {k: [] for k in ("dense", "compact", "dense_k", "compact_k")}
    for _ in range(2):
        lat["dense"] += _one_line(lambda rq: promise_atp(dense, dstate, rq, explain=False), [(rq,) for rq in reqs])
        lat["compact"] += _one_line(lambda rq: promise_compact(csnap, cstate, rq), [(rq,) for rq in reqs])
        lat["dense_k"] += _one_line(dense_kernel, picks)
        lat["compact_k"] += _one_line(compact_kernel, picks)
    med = {k: median(v) for k, v in lat.items()}
    load_one = _load()

    # batch throughput: every line in one call, committing in order; fresh states, interleaved repeats
    t_d, t_c = [], []
    for _ in range(repeats):
        st = dense.new_state()
        t0 = time.perf_counter(); promise_encoded(dense, st, enc, commit=True); t_d.append(time.perf_counter() - t0)
        del st
        cs = csnap.new_state()
        t0 = time.perf_counter(); promise_compact_encoded(csnap, cs, enc, commit=True); t_c.append(time.perf_counter() - t0)
    rate_d, rate_c = n_lines / median(t_d), n_lines / median(t_c)
    load_batch = _load()
    one, onek = med["compact"] / med["dense"], med["compact_k"] / med["dense_k"]
    results += [
        Result("memory.one_line_ratio", "ratio", one, "x", "<= 1.5x dense (issue 19)", one <= 1.5, params,
               notes=f"promise_compact / promise_atp (no pegging, no commit): median {med['compact']:.2f} / {med['dense']:.2f} us, "
                     f"p99 {percentile(lat['compact'], 99):.1f} / {percentile(lat['dense'], 99):.1f} us; "
                     f"{len(reqs):,} requests x 2 interleaved rounds; {load_one}"),
        Result("memory.one_line_kernel_ratio", "ratio", onek, "x", "<= 1.5x dense (issue 19)", onek <= 1.5, params,
               notes=f"the one-line kernel alone, called from Python: median {med['compact_k']:.2f} / {med['dense_k']:.2f} us "
                     f"(numba's argument dispatch: 18 arguments, 9 of them arrays, against 12 and 5); {load_one}"),
        Result("memory.batch_ratio", "ratio", rate_d / rate_c, "x", "<= 1.5x dense (issue 19)", rate_d / rate_c <= 1.5,
               {**params, "lines": n_lines},
               notes=f"time compact / dense: {rate_c:,.0f} vs {rate_d:,.0f} lines/s, median of {repeats} interleaved; "
                     f"split, 4 lines, committing; {load_batch}"),
        Result("memory.snapshot_ratio", "ratio", csnap.nbytes / DENSE_N / dense_bytes, "x", None, None, params,
               notes=f"compact {csnap.nbytes / DENSE_N:.0f} B vs dense {dense_bytes:.0f} B per item-location (arrays only)"),
        Result("memory.dense_refresh_in_flight", "bytes_per_il", 2 * (dense_bytes + dense_state), "B", None, None, params,
               notes=f"dense: two snapshots ({dense_bytes:.0f} B each) + two states ({dense_state:.0f} B each); "
                     "the tables and dicts kept beside them not counted"),
        Result("memory.dense_one_line", "median", med["dense"], "us", None, None, params,
               notes=f"promise_atp, no pegging; p99 {percentile(lat['dense'], 99):.1f} us"),
        Result("memory.dense_batch", "throughput", rate_d, "lines/s", None, None, {**params, "lines": n_lines},
               compile_s=compile_dense, notes=f"median {median(t_d):.3f} s"),
    ]
    results += _live_engine(dense, dstate, csnap, cstate, reqs, params, repeats)
    med_ck = med["compact_k"]
    dense = dstate = r_d = r_c = lat = None  # free the dense form before the compact one at the asked size

    # ---- the compact form at the asked size
    if n != DENSE_N:
        del csnap, cstate, cargs
        t0 = time.perf_counter()
        csnap, net, rows = build(n, seed)
        build_s = time.perf_counter() - t0
        n_lines = min(LINES_PER_IL * n, 1_000_000)
        enc = order_lines(net, n, n_lines, seed)
        cstate = csnap.new_state()
        t_b = time.perf_counter()
        promise_compact_encoded(csnap, cstate, enc, commit=True)
        batch_s = time.perf_counter() - t_b
        rate_c = n_lines / batch_s
        cargs = (csnap.ev_ptr, csnap.ev_day, csnap.ev_cum, *cstate.overlay)
        pick = np.random.default_rng(seed + 3).choice(n_lines, size=20_000, replace=False)
        picks = [(int(enc.ils[i]), float(enc.qty[i]), int(enc.req[i])) for i in pick.tolist()]
        med_ck = median(_one_line(compact_kernel, picks))
        params = {"item_locations": n, "days": H, "supply_rows_per_il": round(rows["supply"] / n, 2),
                  "demand_rows_per_il": round(rows["demand"] / n, 2), "event_days_per_il": round(csnap.n_events / n, 2)}
        notes_build = f"built in {build_s:.1f} s in blocks of {BLOCK:,}"
    else:
        batch_s = median(t_c)
        notes_build = "built through build_snapshot and compact_from_snapshot"
    state_b = cstate.nbytes / n
    snap_b = csnap.nbytes / n
    # a refresh: the next day's extract built beside the live pair, the overlay replayed onto it, both alive
    t0 = time.perf_counter()
    new_snap, _, _ = build(n, seed, as_of=AS_OF + dt.timedelta(days=1))
    fresh, report = replay(cstate, new_snap)
    refresh_s = time.perf_counter() - t0
    in_flight = report.bytes_in_flight / n
    load = _load()
    results += [
        Result("memory.refresh_in_flight", "bytes_per_il", in_flight, "B", "<= 1 KB per item-location with a refresh in flight (issue 19)",
               in_flight <= 1024, {**params, "committed_lines": n_lines},
               notes=f"old + new snapshot + both states, after {n_lines:,} committed lines ({report.replayed:,} overlay entries "
                     f"replayed, {report.not_fitting:,} no longer fit the new extract); built and replayed in {refresh_s:.1f} s; "
                     f"process peak RSS {_peak_rss_mib():,.0f} MiB (the dense side-by-side part included); {load}"),
        Result("memory.snapshot", "bytes_per_il", snap_b, "B", None, None, params, notes=notes_build),
        Result("memory.state", "bytes_per_il", state_b, "B", None, None, {**params, "committed_lines": n_lines},
               notes=f"{cstate.n_entries:,} overlay entries in an arena of {cstate.capacity:,} (10 B each) + 12 B per item-location (segment start, length, capacity)"),
        Result("memory.compact_one_line_kernel", "median", med_ck, "us",
               None, None, params, compile_s=compile_one, notes="the one-line kernel called from Python, no commit"),
        Result("memory.compact_batch", "throughput", n_lines / batch_s, "lines/s", None, None, {**params, "lines": n_lines},
               compile_s=compile_compact, notes=f"{batch_s:.3f} s; split, 4 lines, committing; {load}"),
    ]
    return results


def _live_engine(dense, dstate, csnap, cstate, reqs, params: dict, repeats: int) -> list[Result]:
    """The live engine (`promising.engine`, what the order service calls) on both forms side by side, on the
    committed states: an inquiry (`promise`, no commit, no pegging) and a capture undone (`promise` with
    commit, then `unreserve` of what it reserved), the same requests in interleaved rounds. Then the bytes
    per item-location the live engine holds on the compact form: the snapshot as the compact loader builds
    it from the checked tables (`supplydata.sparse.build_compact_from_tables`: arrays, the tables it keeps,
    the id dictionaries) and the state, against the dense snapshot from the same tables."""
    import sys

    from promising import engine
    from supplydata.sparse import build_compact_from_tables

    def inquiry(snap, state):
        return lambda rq: engine.promise(snap, state, rq, explain=False)

    def capture(snap, state):
        def call(rq):
            p = engine.promise(snap, state, rq, commit=True, explain=False)
            if p.committed:
                engine.unreserve(snap, state, p.reservation)
        return call

    calls = {"dense_inquiry": inquiry(dense, dstate), "compact_inquiry": inquiry(csnap, cstate),
             "dense_capture": capture(dense, dstate), "compact_capture": capture(csnap, cstate)}
    picks = [(rq,) for rq in reqs]
    for rq in reqs[:200]:  # the same answers through the engine before timing
        a, b = engine.promise(dense, dstate, rq, explain=False), engine.promise(csnap, cstate, rq, explain=False)
        assert (a.status, a.reason, a.lines, a.earliest_full_date) == (b.status, b.reason, b.lines, b.earliest_full_date)
    t0 = time.perf_counter()
    for c in calls.values():
        c(*picks[0])
    compile_s = time.perf_counter() - t0
    lat: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(max(repeats, 2)):
        for k, c in calls.items():
            lat[k] += _one_line(c, picks)
    med = {k: median(v) for k, v in lat.items()}
    load = _load()
    # the live engine's memory on the compact form, by the compact loader from the dense snapshot's tables
    n = dense.n_il
    t0 = time.perf_counter()
    live = build_compact_from_tables(dense.meta, dense.tables)
    build_s = time.perf_counter() - t0
    for name in ("il_key", "ev_ptr", "ev_day", "ev_cum", "il_lead_time", "il_calendar"):
        assert np.array_equal(getattr(live, name), getattr(csnap, name)), name
    # what the compact snapshot keeps of the tables: the small ones and the monitor's supplier per receipt
    # (the supply and demand rows are dropped after loading); the full tables, as loaded, live only while
    # a load encodes them
    tables_b = sum(df.estimated_size() for df in live.tables.values()) + live.supply_refs.estimated_size()
    loaded_b = sum(df.estimated_size() for df in dense.tables.values())

    def ids_bytes(ids, index) -> int:
        return sys.getsizeof(index) + sys.getsizeof(ids) + sum(sys.getsizeof(k) for k in ids)

    ids_b = ids_bytes(live.item_ids, live.item_index) + ids_bytes(live.location_ids, live.location_index)
    arrays_b = live.nbytes + live.item_price.nbytes + live.item_cost.nbytes
    pair_c = (arrays_b + tables_b + ids_b + cstate.nbytes) / n
    dense_arrays = sum(getattr(dense, k).nbytes for k in ("supply", "demand", "base_cum", "sup_ptr", "sup_bucket", "sup_qty",
                                                          "sup_row", "il_item", "il_loc", "il_lead_time", "il_calendar"))
    il_index_b = sys.getsizeof(dense.il_index) + sum(sys.getsizeof(k) for k in dense.il_index)  # tuple keys
    pair_d = (dense_arrays + loaded_b + ids_b + il_index_b + dstate.nbytes) / n
    # a refresh in flight: the live pair plus the new one (its state replayed from the book); before that,
    # while the new extract is encoded, the live pair plus the loaded tables and the new arrays and ids
    refresh_pairs = 2 * pair_c
    refresh_load = pair_c + (loaded_b + arrays_b + ids_b) / n
    refresh_c = max(refresh_pairs, refresh_load)
    one, cap = med["compact_inquiry"] / med["dense_inquiry"], med["compact_capture"] / med["dense_capture"]
    rounds = f"{len(reqs):,} requests x {max(repeats, 2)} interleaved rounds"
    return [
        Result("memory.engine_one_line_ratio", "ratio", one, "x", "<= 1.5x dense (issue 19)", one <= 1.5, params,
               compile_s=compile_s,
               notes=f"promising.engine.promise (no commit, no pegging), compact / dense: median {med['compact_inquiry']:.2f} / "
                     f"{med['dense_inquiry']:.2f} us, p99 {percentile(lat['compact_inquiry'], 99):.1f} / "
                     f"{percentile(lat['dense_inquiry'], 99):.1f} us; {rounds}; {load}"),
        Result("memory.engine_capture_ratio", "ratio", cap, "x", "<= 1.5x dense (issue 19)", cap <= 1.5, params,
               notes=f"promise with commit then unreserve, compact / dense: median {med['compact_capture']:.2f} / "
                     f"{med['dense_capture']:.2f} us; {rounds}; {load}"),
        Result("memory.engine_bytes", "bytes_per_il", pair_c, "B", None, None, {**params, "committed_lines": cstate.n_entries},
               notes=f"the live engine's pair on the compact form: arrays {arrays_b / n:.0f} + tables kept "
                     f"{tables_b / n:.0f} (supply and demand rows dropped after loading; {loaded_b / n:.0f} as loaded) + "
                     f"id dictionaries {ids_b / n:.0f} + state {cstate.nbytes / n:.0f} B per "
                     f"item-location (loader from the tables in {build_s:.2f} s); dense form from the same tables "
                     f"{pair_d:,.0f} B ({pair_d / pair_c:.0f}x)"),
        Result("memory.engine_refresh_bytes", "bytes_per_il", refresh_c, "B", "<= 1 KB (issue 19)", refresh_c <= 1024,
               {**params, "committed_lines": cstate.n_entries},
               notes=f"the live engine on the compact form with a refresh in flight, the larger of: two pairs "
                     f"{refresh_pairs:.0f} B (the live one and the new one with its replayed state), and, while the new "
                     f"extract is encoded, the live pair {pair_c:.0f} + the loaded tables {loaded_b / n:.0f} + the new "
                     f"arrays {arrays_b / n:.0f} and ids {ids_b / n:.0f} = {refresh_load:.0f} B per item-location "
                     f"(the reader's raw CSV frames before the casts not counted)"),
    ]


def _load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
