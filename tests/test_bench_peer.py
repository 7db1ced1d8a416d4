"""The peer benchmark (benchmarks/bench_peer.py): its instance generator and its plan check, at tiny sizes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from benchmarks import bench_peer as peer
from promessa.cli import main
from supplydata.writer import write_snapshot


def test_generated_instance_is_a_valid_snapshot_and_orders_table(tmp_path):
    d = peer.generate_instance(tmp_path / "inst", n_orders=300, n_items=20, seed=3)
    snap, orders = peer.load_instance(d)  # the loader validates every table against the data contract
    assert snap.as_of == peer.AS_OF and snap.horizon == peer.HORIZON
    assert snap.n_il == 20  # every item stocked at its one location, with an on-hand row even when at 0
    sup = snap.tables["supply"]
    onhand = sup.filter(pl.col("kind") == "onhand")
    assert onhand.height == 20 and onhand["date"].unique().to_list() == [peer.AS_OF]
    po = sup.filter(pl.col("kind") == "purchase")
    days = (po["date"] - peer.AS_OF).dt.total_days()
    assert po.height > 0 and days.min() >= 1 and days.max() < peer.HORIZON and po["ref"].is_unique().all()
    # receipts 28 days apart per item
    gaps = po.with_columns(d=days).sort("item", "d").group_by("item").agg(pl.col("d").diff().drop_nulls())
    assert set(gaps.explode("d")["d"].drop_nulls().to_list()) == {28}
    # total supply per item: at most 0.9 x 1.2 of the item's ordered quantity
    dem = orders.group_by("item").agg(pl.col("qty").sum().alias("dem"))
    tot = sup.group_by("item").agg(pl.col("qty").sum().alias("sup")).join(dem, on="item", how="left")
    assert (tot["sup"] <= tot["dem"].fill_null(0) * 0.9 * 1.2 + 1e-9).all()
    assert orders.height == 300 and orders["order"].is_unique().all()
    q = orders["qty"].to_numpy()
    assert (q == np.floor(q)).all() and q.min() >= 1 and q.max() <= 20
    assert set(orders["priority"].unique().to_list()) <= {1, 2, 3, 4, 5}
    due = (orders["requested_date"] - peer.AS_OF).dt.total_days().to_numpy()
    assert due.min() >= 0 and due.max() < 300
    # created_at: first come first served within (priority, due date) is frePPLe's tie-break (quantity, name)
    by_created = orders.sort("created_at")["order"].to_list()
    assert by_created == orders.sort("priority", "requested_date", "qty", "order")["order"].to_list()
    # seeded: the same instance again
    again = pl.read_parquet(peer.generate_instance(tmp_path / "again", n_orders=300, n_items=20, seed=3) / "orders.parquet")
    assert again.equals(orders)


def _hand_instance(path):
    """One item, 10 on hand on day 0 and 10 received on day 28 (cumulative 10 until day 27, 20 from day 28).
    C was created first; within priority 1, A is due first."""
    as_of = dt.date(2026, 1, 5)
    write_snapshot(path, {
        "items": [{"item": "X"}],
        "locations": [{"location": "DC00", "kind": "dc"}],
        "supply": [{"item": "X", "location": "DC00", "date": as_of, "qty": 10.0, "kind": "onhand"},
                   {"item": "X", "location": "DC00", "date": as_of + dt.timedelta(days=28), "qty": 10.0,
                    "kind": "purchase", "ref": "PO1"}],
    }, as_of=as_of, horizon_days=60)
    t = dt.datetime(2026, 1, 1)
    pl.DataFrame({
        "order": ["A", "B", "C"], "line": [1, 1, 1], "item": ["X"] * 3, "qty": [8.0, 5.0, 15.0],
        "requested_date": [as_of + dt.timedelta(days=k) for k in (5, 0, 10)], "priority": [1, 2, 1],
        "created_at": [t + dt.timedelta(hours=2), t + dt.timedelta(hours=1), t], "location": ["DC00"] * 3,
    }).write_parquet(path / "orders.parquet")
    return path


def test_kernel_command_and_bare_loop_give_the_hand_computed_plan(tmp_path):
    d = _hand_instance(tmp_path / "hand")
    snap, orders = peer.load_instance(d)
    # due date first within a priority: A (8 on day 5 leaves 2 until day 27, 12 from day 28); C (15) never fits
    # whole: the largest quantity reachable, 12, on the first day it is reached (28); B (priority 2) finds 0 left
    # from day 28 on, so nothing (first come first served would have planned C 15 on day 28, then A 5 on day 5)
    want_b, want_q = [5, -1, 28], [8.0, 0.0, 12.0]
    enc, order = peer.bare_inputs(snap, orders)
    assert order.tolist() == [0, 2, 1]
    bb, bq, _ = peer.bare_plan(snap, enc, order)
    assert bb.tolist() == want_b and bq.tolist() == want_q
    res, _ = peer.kernel_plan(snap, orders)
    assert res.new_n.tolist() == [1, 0, 1]
    assert [res.new_b[0, 0], res.new_b[2, 0]] == [5, 28] and [res.new_q[0, 0], res.new_q[2, 0]] == [8.0, 12.0]
    # the whole command, from nothing confirmed: no live plan is built, the same plan is written
    out = tmp_path / "plan.parquet"
    assert main(["reschedule", "--snapshot", str(d), "--orders", str(d / "orders.parquet"), *peer.CMD_FLAGS,
                 "--out", str(out), "--json", "--quiet"]) == 0
    plan = pl.read_parquet(out)
    assert plan["order"].to_list() == ["A", "B", "C"]
    assert plan["new_qty"].to_list() == want_q and plan["old_qty"].to_list() == [0.0, 0.0, 0.0]
    assert peer.result_days(snap, plan["new_date"]).tolist() == want_b
    assert peer.check_plan(snap, bb, bq, plan["new_qty"].to_numpy(), peer.result_days(snap, plan["new_date"])) == 0


def test_plan_check_passes_on_a_generated_instance_and_catches_a_difference(tmp_path):
    d = peer.generate_instance(tmp_path / "inst", n_orders=400, n_items=15, seed=11)
    snap, orders = peer.load_instance(d)
    enc, order = peer.bare_inputs(snap, orders)
    bb, bq, _ = peer.bare_plan(snap, enc, order)
    res, _ = peer.kernel_plan(snap, orders)
    assert (res.new_n <= 1).all()
    kq = np.where(res.new_n > 0, res.new_q[:, 0], 0.0)
    kd = np.where(res.new_n > 0, res.new_b[:, 0], -1)
    assert peer.check_plan(snap, bb, bq, kq, kd) == 0
    assert 0 < bq.sum() < enc.qty.sum()  # supply is short: some orders ship late or short
    shipped = np.flatnonzero(bq > 0)
    kd2 = kd.copy()
    kd2[shipped[0]] += 1  # one date moved
    kq2 = kq.copy()
    kq2[shipped[1]] -= 1.0  # one quantity cut
    assert peer.check_plan(snap, bb, bq, kq2, kd2) == 2


def test_a_frepple_home_without_its_executable_is_refused(monkeypatch):
    monkeypatch.setenv("FREPPLE_HOME", "/nonexistent/frepple")
    try:
        peer.run(size="small", seed=1, repeats=1)
    except ValueError as exc:
        assert "FREPPLE_HOME=/nonexistent/frepple" in str(exc)
    else:
        raise AssertionError("a FREPPLE_HOME without a frepple executable must be refused")


def test_from_nothing_an_orders_file_with_old_confirmations_gives_nothing_back(tmp_path):
    # the state is the snapshot's (nothing reserved): old_qty/old_date columns must not be released into it
    d = _hand_instance(tmp_path / "hand")
    orders = pl.read_parquet(d / "orders.parquet").with_columns(
        old_qty=pl.lit(10.0), old_date=pl.lit(dt.date(2026, 1, 6)))
    orders.write_parquet(d / "with_old.parquet")
    out = tmp_path / "plan.parquet"
    assert main(["reschedule", "--snapshot", str(d), "--orders", str(d / "with_old.parquet"), *peer.CMD_FLAGS,
                 "--out", str(out), "--json", "--quiet"]) == 0
    plan = pl.read_parquet(out)
    # the hand plan of the test above: 30 units released into the state would have let C ship 15 and B 5
    assert plan["new_qty"].to_list() == [8.0, 0.0, 12.0]
