"""`OrderCommands.capture_many`: a block of orders captured in one hold of the lock and one group commit.

Each order is captured on its own (validated, promised, committed, idempotent), in the order given: the answers and
the commitments are those of capturing the orders one at a time; a refused order changes nothing and the others go
on; nothing is answered before the whole block is durable; a failed write undoes the whole block.

The network: item A has 50 units on hand at L1 and 5 at L2 from 2026-01-05, 30 more arrive at L1 on 2026-01-10;
item B has 10 at L1. Lines name L1 (no chooser involved)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orderbook.schemas import OrderCreate
from orderbook.service import Idem, OrderService, StoreUnavailable
from orderbook.store import open_store
from promessa.config import settings_of
from promessa.errors import ConflictError, ValidationError


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    from supplydata import load_snapshot

    d = tmp_path_factory.mktemp("snap")
    (d / "meta.json").write_text(json.dumps({"as_of": "2026-01-05", "horizon_days": 30}))
    (d / "items.csv").write_text("item,category,brand,price,cost,lead_time_days\nA,x,y,10,5,\nB,x,y,20,5,\n")
    (d / "locations.csv").write_text("location,kind,zone,country,calendar\nL1,dc,Z,US,\nL2,dc,Z,US,\n")
    (d / "supply.csv").write_text(
        "item,location,date,qty,kind,ref\nA,L1,2026-01-05,50,onhand,\nA,L1,2026-01-10,30,purchase,\n"
        "B,L1,2026-01-05,10,onhand,\nA,L2,2026-01-05,5,onhand,\n")
    return load_snapshot(d)


def _order(*lines):
    return OrderCreate.model_validate({"customer": "c", "zone": "Z", "lines": [
        {"item": item, "qty": qty, "requested_date": f"2026-01-{day:02d}", "location": "L1"} for item, qty, day in lines]})


#: 40 A on the 6th (from the 50 on hand), an unknown item (refused), 20 A on the 6th (10 left on hand, and the
#: default policy does not split a line: all 20 on the 10th, when the purchase arrives), 4 B on the 7th
BLOCK = [_order(("A", 40, 6)), _order(("X", 1, 6)), _order(("A", 20, 6)), _order(("B", 4, 7))]


def _service(snap, path, group_commit=True):
    store = open_store(path)
    return OrderService(snap, store, settings_of(approval_value_threshold=None, group_commit=group_commit)), store


def _key(i):
    return Idem.of(f"k{i}", BLOCK[i].model_dump_json())


def _shape(body):
    """What an answer promised, without the ids and times a capture draws afresh."""
    doc = json.loads(body)
    return doc["status"], [(ln["item"], ln["location"], ln["promise"]["status"],
                            [(s["date"], s["qty"]) for s in ln["schedule"]]) for ln in doc["lines"]]


def test_a_block_answers_as_one_order_at_a_time_and_a_refused_order_changes_nothing(snap, tmp_path):
    one, s1 = _service(snap, tmp_path / "one.sqlite")
    many, s2 = _service(snap, tmp_path / "many.sqlite")
    singles = []
    for i, data in enumerate(BLOCK):
        try:
            singles.append(one.capture(data, actor="t", idem=_key(i)))
        except ValidationError as exc:
            singles.append(exc)
    answers = many.capture_many([(data, _key(i)) for i, data in enumerate(BLOCK)], actor="t")
    assert len(answers) == 4
    refused = answers[1]
    assert isinstance(refused, ValidationError) and (refused.field, refused.value) == ("lines.0.item", "X")
    assert [a[0] for k, a in enumerate(answers) if k != 1] == [201, 201, 201]
    assert _shape(answers[0][1]) == ("scheduled", [("A", "L1", "full", [("2026-01-06", 40.0)])])
    assert _shape(answers[2][1]) == ("scheduled", [("A", "L1", "late", [("2026-01-10", 20.0)])])
    assert _shape(answers[3][1]) == ("scheduled", [("B", "L1", "full", [("2026-01-07", 4.0)])])
    assert [_shape(a[1]) for k, a in enumerate(answers) if k != 1] == [_shape(a[1]) for k, a in enumerate(singles) if k != 1]
    assert np.array_equal(many.state.cum, one.state.cum) and many.seq == one.seq == 3  # one draw per promised line
    assert len(many.orders) == 3
    # durable before the answers: a service rebuilt from the store has the same commitments and orders
    again = OrderService(snap, s2, settings_of(approval_value_threshold=None))
    assert np.array_equal(again.state.cum, many.state.cum) and set(again.orders) == set(many.orders)
    for svc in (one, many, again):
        svc.close()
    s1.close()
    s2.close()


@pytest.mark.parametrize("group_commit", [True, False])
def test_a_block_is_idempotent_order_by_order(snap, tmp_path, group_commit):
    svc, store = _service(snap, tmp_path / "ob.sqlite", group_commit)
    first = svc.capture_many([(BLOCK[0], _key(0)), (BLOCK[3], _key(3))], actor="t")
    cum, seq = svc.state.cum.copy(), svc.seq
    # the same block again, a key twice within a block, and a key reused for another body
    again = svc.capture_many([(BLOCK[0], _key(0)), (BLOCK[2], _key(2)), (BLOCK[2], _key(2)),
                              (BLOCK[2], Idem.of("k3", BLOCK[2].model_dump_json()))], actor="t")
    assert again[0] == (201, first[0][1], True)
    assert again[1][2] is False and again[2] == (201, again[1][1], True)  # the second waits for the first, same answer
    assert isinstance(again[3], ConflictError)
    # only the order of k2 was new: 20 A from L1 (one draw, on the 10th)
    assert svc.seq == seq + 1 and len(svc.orders) == 3
    a_l1 = snap.il_of("A", "L1")
    assert svc.state.cum[a_l1, -1] == pytest.approx(cum[a_l1, -1] - 20)
    svc.close()
    store.close()


def test_a_failed_block_write_undoes_the_whole_block_and_answers_each_order_503(snap, tmp_path):
    svc, store = _service(snap, tmp_path / "ob.sqlite")
    svc.capture(BLOCK[3], actor="t")
    cum, seq, orders = svc.state.cum.copy(), svc.seq, set(svc.orders)
    real = store.write

    def fail(batch):
        raise OSError("disk gone")

    store.write = fail
    answers = svc.capture_many([(BLOCK[0], _key(0)), (BLOCK[1], _key(1)), (BLOCK[2], _key(2))], actor="t")
    store.write = real
    assert isinstance(answers[0], StoreUnavailable) and isinstance(answers[1], ValidationError)
    assert isinstance(answers[2], StoreUnavailable)
    assert np.array_equal(svc.state.cum, cum) and svc.seq == seq and set(svc.orders) == orders
    assert not svc._pending_idem  # noqa: SLF001 - nothing left waiting
    # the keys were not used: the same block is captured afresh
    retry = svc.capture_many([(BLOCK[0], _key(0))], actor="t")
    assert retry[0][0] == 201 and retry[0][2] is False
    svc.close()
    store.close()


def test_an_unexpected_failure_is_raised_once_the_orders_before_it_are_durable(snap, tmp_path, monkeypatch):
    svc, store = _service(snap, tmp_path / "ob.sqlite")
    real = svc._capture  # noqa: SLF001
    calls = []

    def capture(txn, data, **kw):
        calls.append(data)
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return real(txn, data, **kw)

    monkeypatch.setattr(svc, "_capture", capture)
    with pytest.raises(RuntimeError, match="a bug"):
        svc.capture_many([(BLOCK[0], _key(0)), (BLOCK[3], _key(3)), (BLOCK[2], _key(2))], actor="t")
    assert len(calls) == 2  # nothing after the failure was captured
    (oid,) = svc.orders
    assert store.get_order(oid) is not None and not svc._pending_idem  # noqa: SLF001
    a_l1 = snap.il_of("A", "L1")
    assert svc.state.cum[a_l1, -1] == pytest.approx(snap.base_cum[a_l1, -1] - 40)
    svc.close()
    store.close()
