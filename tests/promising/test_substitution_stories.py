"""Item substitution stories with hand-computed answers.

The network: DC1 stocks AS54888 (80 on hand, 40 more on day 6), its preferred substitute
AS6000 (50 on hand) and a second choice AS7000 (30 on hand), valid from day 3 until day 9.
"""

from __future__ import annotations

import pytest
from promessa_testing import day

import promising
from promessa.errors import SnapshotError
from promising import Policy, Reason, Request, Status


def network(make_snapshot, subs=None):
    subs = subs if subs is not None else [
        {"item": "AS54888", "substitute": "AS7000", "preference": 2, "valid_from": day(3), "valid_to": day(9)},
        {"item": "AS54888", "substitute": "AS6000", "preference": 1, "valid_from": None, "valid_to": None},
    ]
    return make_snapshot(
        supply=[("AS54888", "DC1", 0, 80), ("AS54888", "DC1", 6, 40), ("AS6000", "DC1", 0, 50), ("AS7000", "DC1", 0, 30)],
        extra={"substitutes": subs},
    )


def lines(p):
    return [(ln.date, ln.qty, ln.item) for ln in p.lines]


def test_split_between_the_original_and_its_substitute(make_snapshot):
    """100 of AS54888 on day 2: it has 80 then (120 only from day 6), so 80 of AS54888 and 20 of
    AS6000, both on day 2 (Oracle's "80 of AS54888 + 20 of AS6000")."""
    snap = network(make_snapshot)
    st = snap.new_state()
    p = promising.promise(snap, st, Request("AS54888", "DC1", 100, day(2)), commit=True)
    assert p.status is Status.FULL and p.reason is Reason.NONE
    assert lines(p) == [(day(2), 80.0, "AS54888"), (day(2), 20.0, "AS6000")]
    assert {(d.key, d.qty) for d in p.reservation.draws} == {("AS54888", 80.0), ("AS6000", 20.0)}
    assert p.details["substitution"]["items"] == [["AS54888", 80.0], ["AS6000", 20.0]]
    assert [ln["item"] for ln in p.to_dict()["lines"]] == ["AS54888", "AS6000"]
    assert promising.available(snap, st, "AS6000", "DC1", day(0)) == pytest.approx(30)
    promising.unreserve(snap, st, p.reservation)
    assert st.cum == pytest.approx(snap.new_state().cum)


def test_never_a_substitute_while_the_original_covers_it_on_time(make_snapshot):
    """80 of AS54888 on day 2: the original has exactly 80, so no substitute and no item named."""
    snap = network(make_snapshot)
    p = promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 80, day(2)))
    assert p.status is Status.FULL and lines(p) == [(day(2), 80.0, None)] and p.details is None


def test_the_chain_in_preference_order_and_validity(make_snapshot):
    """150 of AS54888: on day 4 the chain is AS6000 (50) then AS7000 (30, valid days 3 to 9):
    80 + 50 + 20. On day 1 AS7000 is not valid yet: 80 + 50 = 130 on time, short of 150; with
    partial allowed that beats the original alone (120 on day 6), so 130 on day 1, PARTIAL.
    All or nothing: the original's own answer (nothing: 120 is the most it ever has)."""
    snap = network(make_snapshot)
    p = promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 150, day(4)))
    assert p.status is Status.FULL
    assert lines(p) == [(day(4), 80.0, "AS54888"), (day(4), 50.0, "AS6000"), (day(4), 20.0, "AS7000")]
    p = promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 150, day(1)))
    assert p.status is Status.PARTIAL and lines(p) == [(day(1), 80.0, "AS54888"), (day(1), 50.0, "AS6000")]
    assert p.details["substitution"]["without_substitution"]["lines"] == [{"date": day(6).isoformat(), "qty": 120.0}]
    p = promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 150, day(1), Policy(allow_partial=False)))
    assert p.status is Status.SHORT and p.lines == ()
    # substitution can be refused per line: the original's late answer, 100 on day 6
    p = promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 100, day(2), Policy(allow_substitution=False)))
    assert p.status is Status.LATE and lines(p) == [(day(6), 100.0, None)]


def test_bad_substitutes_are_refused(make_snapshot):
    snap = network(make_snapshot, subs=[{"item": "AS54888", "substitute": "AS54888", "preference": 1,
                                         "valid_from": None, "valid_to": None}])
    with pytest.raises(SnapshotError) as e:
        promising.promise(snap, snap.new_state(), Request("AS54888", "DC1", 100, day(2)))
    assert (e.value.column, e.value.row) == ("substitute", 1)
