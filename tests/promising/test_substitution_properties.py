"""Item substitution held equal to its plain-Python reference on random chains, and the rule:
never a substitute while the original alone covers the request on time."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promising
from promising import Policy, Request
from promising.testing import substitution_reference as ref
from supplydata.schema import TABLES
from supplydata.snapshot import build_snapshot

pytestmark = pytest.mark.slow
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AS_OF = dt.date(2026, 1, 5)
ITEMS = ("A", "B", "C")


def _snapshot(H, supply, lts, chain):
    tables = {name: t.empty() for name, t in TABLES.items()}
    tables["items"] = pl.DataFrame({"item": list(ITEMS), "category": None, "brand": None, "price": 1.0, "cost": 1.0,
                                    "lead_time_days": [None if lts[i] < 0 else lts[i] for i in ITEMS],
                                    "lead_time_working_days": None}, schema=TABLES["items"].polars_schema())
    tables["locations"] = pl.DataFrame({"location": ["DC1"], "kind": ["dc"], "zone": None, "country": None, "calendar": None},
                                       schema=TABLES["locations"].polars_schema())
    tables["supply"] = pl.DataFrame(
        [{"item": i, "location": "DC1", "date": AS_OF + dt.timedelta(days=d), "qty": q, "kind": "onhand", "ref": None}
         for i, d, q in supply], schema=TABLES["supply"].polars_schema())
    tables["substitutes"] = pl.DataFrame(
        [{"item": "A", "substitute": s, "preference": k + 1, "valid_from": None, "valid_to": None} for k, s in enumerate(chain)],
        schema=TABLES["substitutes"].polars_schema())
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, tables)


@st.composite
def cases(draw):
    H = draw(st.integers(3, 10))
    supply = [(i, draw(st.integers(0, H - 1)), float(draw(st.integers(1, 15)))) for i in ITEMS
              for _ in range(draw(st.integers(1, 3)))]
    lts = {i: draw(st.one_of(st.just(-1), st.integers(1, H + 1))) for i in ITEMS}
    chain = draw(st.sampled_from([("B",), ("C",), ("B", "C"), ("C", "B")]))
    asks = [dict(qty=float(draw(st.integers(1, 40))), req=draw(st.integers(0, H - 1)),
                 max_late=draw(st.one_of(st.just(-1), st.integers(0, H))), partial=draw(st.booleans()),
                 split=draw(st.booleans()), max_lines=draw(st.integers(1, 4))) for _ in range(draw(st.integers(1, 4)))]
    return H, supply, lts, chain, asks


@SETTINGS
@given(case=cases())
def test_substitution_equals_reference_and_never_substitutes_when_the_original_covers(case):
    H, supply, lts, chain, asks = case
    snap = _snapshot(H, supply, lts, chain)
    state = snap.new_state()
    for a in asks:
        cums = {i: list(state.cum[snap.il_index[(snap.item_index[i], snap.location_index["DC1"])]]) for i in ITEMS}
        lt_of = {i: int(snap.il_lead_time[snap.il_index[(snap.item_index[i], snap.location_index["DC1"])]]) for i in ITEMS}
        pol = Policy(allow_partial=a["partial"], allow_split=a["split"], max_late_days=None if a["max_late"] < 0 else a["max_late"],
                     max_lines=a["max_lines"])
        p = promising.promise(snap, state, Request("A", "DC1", a["qty"], snap.date(a["req"]), pol), commit=True)
        want_status, want = ref.promise(cums, lt_of, "A", chain, a["qty"], a["req"], a["max_late"], a["partial"],
                                        a["split"], a["max_lines"])
        got = [(ln.item, snap.bucket(ln.date), ln.qty) for ln in p.lines]
        assert p.status == want_status
        assert [(i, b) for i, b, _ in got] == [(i, b) for i, b, _ in want]
        assert [q for _, _, q in got] == pytest.approx([q for _, _, q in want])
        if ref.atp.available(cums["A"], lt_of["A"], a["req"]) >= a["qty"] - 1e-9:
            assert all(ln.item is None for ln in p.lines), "a substitute while the original covers on time"


def _snapshot_cal(H, supply, lts, chain, closed, stocked):
    """As `_snapshot`, with the location closed on the `closed` days and only the `stocked` items
    stocked at it (the others have no item-location there)."""
    snap = _snapshot(H, [s for s in supply if s[0] in stocked], lts, chain)
    tables = dict(snap.tables)
    tables["locations"] = tables["locations"].with_columns(calendar=pl.lit("CAL"))
    tables["calendars"] = pl.DataFrame([{"calendar": "CAL", "date": AS_OF + dt.timedelta(days=d), "open": False}
                                        for d in sorted(closed)], schema=TABLES["calendars"].polars_schema())
    return build_snapshot({"as_of": AS_OF, "horizon_days": H}, tables)


@SETTINGS
@given(case=cases(), closed=st.sets(st.integers(0, 9), max_size=4), stocked=st.sets(st.sampled_from(ITEMS), min_size=1),
       explain=st.booleans(), dclass=st.sampled_from([None, "gold"]))
def test_plain_chain_fast_path_gives_the_general_paths_answer(case, closed, stocked, explain, dclass):
    """Chains answered by plain ATP take one kernel call for the items' on-time parts
    (`engine._substitutes_on_plain_atp`); the answer, its pegs and draws, and the state after
    committing equal the general path's (one promise per item), on closed days and with items not
    stocked at the location too."""
    from unittest import mock

    from promising import engine

    H, supply, lts, chain, asks = case
    snap = _snapshot_cal(H, supply, lts, chain, closed, stocked)
    fast_state, slow_state = snap.new_state(), snap.new_state()
    fast_hits = 0
    for a in asks:
        pol = Policy(allow_partial=a["partial"], allow_split=a["split"], max_late_days=None if a["max_late"] < 0 else a["max_late"],
                     max_lines=a["max_lines"])
        rq = Request("A", "DC1", a["qty"], snap.date(a["req"]), pol, dclass)
        fast_hits += engine._substitutes_on_plain_atp(snap, fast_state, rq, chain, commit=False, explain=explain,
                                                      quotas=False) is not None
        fast = promising.promise(snap, fast_state, rq, commit=True, explain=explain)
        with mock.patch.object(engine, "_substitutes_on_plain_atp", return_value=None):
            slow = promising.promise(snap, slow_state, rq, commit=True, explain=explain)
        assert fast == slow
        assert (fast_state.cum == slow_state.cum).all()
    assert fast_hits == len(asks)  # the fast path answered every request
