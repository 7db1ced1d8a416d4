"""The engine's one dispatch on the draw kind: replaying and releasing draws of every kind.

The shop: item A at DC1 with 100 on hand; gold holds a quota of 40, silver 30, the other 30
units are unallocated. Stored reservations come back as draws: plain ATP draws, draws that
name the quota pools they consumed, draws with only a demand class, and capacity draws.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from promessa_testing import day

import allocation
import promising
from promessa.errors import ValidationError
from promising import Draw, Reservation


def shop(alloc_snapshot):
    return alloc_snapshot(
        supply=[("A", "DC1", 0, 100), ("B", "DC1", 0, 5)],
        classes=[("gold", 1, None, True), ("silver", 2, None, False)],
        quotas=[dict(demand_class="gold", qty=40), dict(demand_class="silver", qty=30)],
    )


def quota_left(snap, state, cls, bucket=0):
    """The class's quota left at A/DC1 on that day (positions are cumulative: a draw on day 2
    lowers them from day 2 on)."""
    row = allocation.model_for(snap).pool_row(snap.il_of("A", "DC1"), cls)
    return float(allocation.positions(snap, state)[row, bucket])


def test_replay_charges_the_pools_named_by_the_draw_and_release_gives_them_back(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    # gold took 35 from its own quota and 5 stolen from silver; silver took 10 with only its class recorded
    r = Reservation((Draw("atp", "A", "DC1", day(0), 40.0, "gold", (("gold", 35.0), ("silver", 5.0))),
                     Draw("atp", "A", "DC1", day(0), 10.0, "silver")))
    assert promising.reserve(snap, st, r) == []
    assert quota_left(snap, st, "gold") == pytest.approx(40 - 35)
    assert quota_left(snap, st, "silver") == pytest.approx(30 - 5 - 10)
    assert promising.available(snap, st, "A", "DC1", day(0)) == pytest.approx(100 - 50)
    promising.unreserve(snap, st, r)
    assert quota_left(snap, st, "gold") == pytest.approx(40)
    assert quota_left(snap, st, "silver") == pytest.approx(30)
    assert (st.cum == snap.base_cum).all()


def test_bulk_replay_equals_one_by_one_for_class_draws(alloc_snapshot):
    # The bulk path must not skip the pools: draws with a class at an item-location with quotas
    # go through the dispatch, plain draws through the compiled bulk call.
    snap = shop(alloc_snapshot)
    draws = [Draw("atp", "A", "DC1", day(0), 20.0, "gold"), Draw("atp", "A", "DC1", day(1), 12.0),
             Draw("atp", "B", "DC1", day(0), 3.0, "silver"), Draw("atp", "A", "DC1", day(2), 8.0, "silver", (("silver", 8.0),))]
    one, many = snap.new_state(), snap.new_state()
    for d in draws:
        promising.reserve(snap, one, Reservation((d,)))
    res = promising.reserve_many(snap, many, draws)
    assert res.not_fitting == [] and res.errors == []
    assert np.array_equal(one.cum, many.cum)
    assert np.array_equal(allocation.positions(snap, one), allocation.positions(snap, many))
    assert quota_left(snap, many, "gold") == pytest.approx(40 - 20)
    assert quota_left(snap, many, "silver", 0) == pytest.approx(30) and quota_left(snap, many, "silver", 2) == pytest.approx(30 - 8)


def test_a_draw_of_an_unknown_kind_is_refused_by_name(alloc_snapshot):
    snap = shop(alloc_snapshot)
    with pytest.raises(ValidationError) as e:
        promising.reserve(snap, snap.new_state(), Reservation((Draw("labour", "A", "DC1", day(0), 1.0),)))
    assert e.value.field == "draw.kind" and e.value.value == "labour"
    assert "atp" in str(e.value) and "capacity" in str(e.value)


def test_commit_and_release_with_a_class_keep_the_pools_in_step(alloc_snapshot):
    snap = shop(alloc_snapshot)
    st = snap.new_state()
    assert promising.commit(snap, st, "A", "DC1", day(0), 25.0, demand_class="silver")
    assert quota_left(snap, st, "silver") == pytest.approx(5)
    promising.release(snap, st, "A", "DC1", day(0), 25.0, demand_class="silver")
    assert quota_left(snap, st, "silver") == pytest.approx(30)


@pytest.mark.slow
def test_the_packages_import_in_any_order():
    """allocation sits below promising.engine and imports promising's low modules; the facade
    imports the engine. Every import order works in a fresh interpreter."""
    orders = ["import allocation; import promising; import sourcing.choosers",
              "import promising; import allocation; import sourcing.realtime",
              "import sourcing.choosers; import promising.engine; import allocation.core",
              "import allocation.kernels; from promising import promise; from allocation import class_path"]
    code = "; ".join(f"subprocess.run([sys.executable, '-c', {o!r}], check=True)" for o in orders)
    out = subprocess.run([sys.executable, "-c", "import subprocess, sys; " + code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
