"""Rescheduling from nothing confirmed is the bare greedy loop's plan (issue 19's floor), line by line.

The bare loop (`benchmarks.bench_scenarios._bare_greedy_cal_nb`, the benchmark's reference point) gives
back every old schedule and promises every line once, in priority then creation order, greedily on
the item-location's working days. With `start_from: nothing` and every line in one group, rescheduling
must give the same schedule line per line and the same state, on a generated network with lead times,
weekday calendars and a backlog that does not all fit.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.bench_scenarios import _bare_greedy_cal_nb
from promising import encode_lines
from scenarios.backlog import RescheduleConfig, old_schedule, reschedule
from scenarios.service import backlog_from_orders


@functools.lru_cache(maxsize=1)
def world():
    from supplydata import load_snapshot
    from supplydata.generate import generate

    path = Path(tempfile.mkdtemp(prefix="promessa-bare-")) / "net"
    generate(path, seed=5, size="small")
    snap = load_snapshot(path)
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(path / "orders.parquet"))
    return snap, state, bl, sch


def bare_plan(snap, state, bl, sch):
    """The bare loop in its own order: priority (the demand class's), created_at, input order."""
    prio = dict(zip(snap.tables["demand_classes"]["demand_class"], snap.tables["demand_classes"]["priority"]))
    keys = list(zip(bl["priority"].to_list(), bl["demand_class"].to_list(), bl["created_at"].to_list()))
    order = np.array(sorted(range(bl.height), key=lambda r: (keys[r][0] if keys[r][0] is not None else prio[keys[r][1]],
                                                              keys[r][2], r)), dtype=np.int64)
    enc = encode_lines(snap, bl)
    ptr, ob, oq = old_schedule(snap, bl, sch)
    cum = state.cum.copy()
    b, q = np.empty(bl.height, np.int64), np.empty(bl.height)
    _bare_greedy_cal_nb(cum, snap.il_lead_time, snap.il_calendar, snap.calendar_open, order, enc.ils, enc.qty, enc.req,
                        ptr, ob, oq, b, q)
    return b, q, cum


def test_from_nothing_equals_the_bare_loop_line_by_line():
    snap, state, bl, sch = world()
    res = reschedule(snap, state, bl, RescheduleConfig(start_from="nothing"), schedule=sch)
    b, q, cum = bare_plan(snap, state, bl, sch)
    assert res.new_n.max() == 1
    got_b = np.where(res.new_n > 0, res.new_b[:, 0], -1)
    got_q = np.where(res.new_n > 0, res.new_q[:, 0], 0.0)
    diff = np.flatnonzero((got_b != b) | (np.abs(got_q - q) > 1e-9))
    assert diff.size == 0, (diff[:5], got_b[diff[:5]], b[diff[:5]], got_q[diff[:5]], q[diff[:5]])
    assert np.allclose(res.state.cum, cum, rtol=0, atol=1e-9)
    # the sample is not trivial: lines at closed-weekday locations, late lines, and lines short of supply
    lines = res.lines
    assert (snap.il_calendar[res.ils[res.ils >= 0]] >= 0).any()
    assert (lines["status"] == "late").sum() > 0
    assert ((lines["status"] == "partial") | (lines["status"] == "short")).sum() > 0
    assert not (state.cum == res.state.cum).all()


def test_from_nothing_with_strategy_groups_in_priority_order_is_the_bare_loop_too():
    # groups win > gain > redistribute > fill that follow the demand classes' priorities keep the bare order
    snap, state, bl, sch = world()
    rules = [{"strategy": "win", "demand_class": ["key_account"]}, {"strategy": "gain", "demand_class": ["retail"]},
             {"strategy": "fill", "demand_class": ["wholesale"]}]
    res = reschedule(snap, state, bl, RescheduleConfig.model_validate({"rules": rules, "start_from": "nothing"}),
                     schedule=sch)
    b, q, _ = bare_plan(snap, state, bl, sch)
    assert np.array_equal(np.where(res.new_n > 0, res.new_b[:, 0], -1), b)
    assert np.allclose(np.where(res.new_n > 0, res.new_q[:, 0], 0.0), q, rtol=0, atol=1e-9)
