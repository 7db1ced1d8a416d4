"""The allowed-transitions table is the only authority on status moves."""

from __future__ import annotations

import pytest

from orderbook.lifecycle import FINAL, TRANSITIONS, OrderStatus, can_transition, check_transition
from promessa.errors import ConflictError

S = OrderStatus


def test_every_status_has_a_row_and_final_statuses_go_nowhere():
    assert set(TRANSITIONS) == set(OrderStatus)
    for s in FINAL:
        assert TRANSITIONS[s] == frozenset()


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.CAPTURED, S.SCHEDULED), (S.CAPTURED, S.ON_HOLD), (S.ON_HOLD, S.SCHEDULED), (S.ON_HOLD, S.CANCELLED),
        (S.SCHEDULED, S.PARTIALLY_SHIPPED), (S.PARTIALLY_SHIPPED, S.SHIPPED), (S.SHIPPED, S.DELIVERED),
        (S.BACKORDERED, S.SCHEDULED), (S.SCHEDULED, S.BACKORDERED),
    ],
)
def test_allowed(src, dst):
    assert can_transition(src, dst)
    check_transition(src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.DELIVERED, S.SHIPPED), (S.CANCELLED, S.SCHEDULED), (S.SHIPPED, S.CANCELLED), (S.ON_HOLD, S.DELIVERED),
        (S.PARTIALLY_SHIPPED, S.CANCELLED), (S.SCHEDULED, S.DELIVERED), (S.CAPTURED, S.SHIPPED),
    ],
)
def test_refused(src, dst):
    assert not can_transition(src, dst)
    with pytest.raises(ConflictError, match="cannot move"):
        check_transition(src, dst, order_id="SO-1")
