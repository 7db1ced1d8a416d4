"""What-if invariants on random scenarios (hypothesis) over a generated tiny network.

- the live state, snapshot (arrays and tables) and backlog are byte-for-byte unchanged;
- the patched fork equals a fork built from its tables with `build_snapshot`;
- rescheduling on the fork never promises more than the fork's supply.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promising import encode_lines
from scenarios import kernels as nb
from scenarios.backlog import RescheduleConfig, old_schedule, reschedule
from scenarios.service import backlog_from_orders
from scenarios.whatif import fork, parse_scenarios



def fingerprint(snap, state) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(state.cum.tobytes())
    for a in ("supply", "demand", "base_cum", "sup_qty", "sup_bucket", "sup_row", "calendar_open"):
        h.update(getattr(snap, a).tobytes())
    for name in sorted(snap.tables):
        h.update(name.encode())
        h.update(snap.tables[name].write_ipc(None).getvalue())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def world():
    from supplydata import load_snapshot
    from supplydata.generate import generate

    path = Path(tempfile.mkdtemp(prefix="promessa-whatif-")) / "net"
    generate(path, seed=21, size="tiny")
    snap = load_snapshot(path)
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(path / "orders.parquet"))
    return snap, state, bl, sch


ITEMS = [f"I{i:06d}" for i in range(1, 21)]
DATES = st.integers(0, 59).map(lambda d: (dt.date(2026, 1, 5) + dt.timedelta(days=d)).isoformat())
LOCS = st.sampled_from(["DC01", "DC02", "ST001", "ST002", "ST003"])

changes = st.one_of(
    st.builds(lambda d, k, it: {"type": "delay_receipts", "days": d, "kind": k, **({"item": it} if it else {})},
              st.integers(-10, 30), st.sampled_from([["purchase"], ["transfer"], ["purchase", "transfer", "production"]]),
              st.one_of(st.none(), st.lists(st.sampled_from(ITEMS), min_size=1, max_size=4))),
    st.builds(lambda k, c: {"type": "cut_receipts", "keep": k, **({"category": c} if c else {})},
              st.floats(0, 1), st.one_of(st.none(), st.lists(st.sampled_from(["toys", "home", "books", "garden"]), min_size=1))),
    st.builds(lambda it, loc, d, q: {"type": "add_supply", "rows": [{"item": it, "location": loc, "date": d, "qty": q}]},
              st.sampled_from(ITEMS), st.sampled_from(["DC01", "DC02"]), DATES, st.integers(1, 50)),
    st.builds(lambda f, z: {"type": "demand_spike", "factor": f, **({"zone": z} if z else {})},
              st.floats(0, 3), st.one_of(st.none(), st.lists(st.sampled_from(["Z01", "Z02", "Z03"]), min_size=1))),
    st.builds(lambda it, q, d: {"type": "add_orders", "rows": [{"order": "X1", "item": it, "location": "DC01", "qty": q,
                                                                "requested_date": d}]},
              st.sampled_from(ITEMS), st.integers(1, 30), DATES),
    st.builds(lambda loc, a, b, r: {"type": "node_out", "location": loc, "date_from": min(a, b), "date_to": max(a, b),
                                    **({"reroute_to": r} if r and r != loc else {})},
              LOCS, DATES, DATES, st.one_of(st.none(), st.sampled_from(["DC01", "DC02"]))),
    st.builds(lambda t: {"type": "lane_change", "location": "DC01", "zone": "Z02", "transit_days": t}, st.integers(0, 9)),
    st.builds(lambda f: {"type": "quota_change", "factor": f}, st.floats(0, 2)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chs=st.lists(changes, min_size=1, max_size=3), within=st.sampled_from(["fcfs", "fair_share"]))
def test_random_scenarios_keep_live_untouched_and_never_overpromise(chs, within):
    snap, state, bl, sch = world()
    before = fingerprint(snap, state)
    bl0, sch0 = bl.clone(), sch.clone()
    sc = parse_scenarios({"name": "random", "changes": chs})[0]
    fk = fork(snap, state, bl, sc, schedule=sch)
    slow = fork(snap, state, bl, sc, schedule=sch, fast=False)
    for a in ("supply", "demand", "base_cum", "sup_ptr", "sup_bucket", "sup_qty", "sup_row", "il_item", "il_loc",
              "calendar_open", "il_calendar"):
        np.testing.assert_array_equal(getattr(fk.snapshot, a), getattr(slow.snapshot, a), err_msg=a)
    np.testing.assert_allclose(fk.state.cum, slow.state.cum, atol=1e-9)

    res = reschedule(fk.snapshot, fk.state, fk.backlog, RescheduleConfig(within=within), schedule=fk.schedule)
    fs = fk.snapshot
    released = fk.state.cum.copy()
    ptr, ob, oq = old_schedule(fs, fk.backlog, fk.schedule)
    nb.release_csr_nb(released, encode_lines(fs, fk.backlog).ils, ptr, ob, oq)
    lt = fs.il_lead_time
    ok = (released >= -1e-9) & (np.arange(fs.horizon)[None, :] < np.where(lt >= 0, lt, fs.horizon)[:, None])
    assert (res.state.cum[ok] >= -1e-6).all()

    assert fingerprint(snap, state) == before
    assert bl.equals(bl0) and sch.equals(sch0)
