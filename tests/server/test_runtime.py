"""api/runtime.py: the survivors of a full collection are frozen (the next full pass does not walk them), a cycle that
dies while frozen is reclaimed once the frozen objects grew by `regrow` times, and the switch interval is set."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

from api.runtime import SurvivorFreezer, tune_for_latency


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture()
def clean_gc():
    interval = sys.getswitchinterval()
    gc.collect()
    gc.unfreeze()
    gc.disable()  # only the collections a test asks for (the callback runs on those too)
    yield
    gc.enable()
    gc.unfreeze()
    sys.setswitchinterval(interval)
    gc.collect()


def _in_gen2(obj) -> bool:
    return any(o is obj for o in gc.get_objects(generation=2))


def test_full_pass_survivors_are_frozen_and_not_walked_again(clean_gc):
    f = SurvivorFreezer(regrow=1e9).install()
    try:
        keep = [{"k": i} for i in range(1000)]
        before = gc.get_freeze_count()
        gc.collect()
        assert f.freezes == 1
        assert gc.get_freeze_count() >= before + 1000  # the list and its 1000 dicts at least
        assert not _in_gen2(keep) and not _in_gen2(keep[0])  # frozen: the next full pass does not walk them
        frozen = gc.get_freeze_count()
        young = [{"k": 1}]
        gc.collect(1)  # not a full pass: nothing more frozen
        assert f.freezes == 1 and gc.get_freeze_count() == frozen
        assert any(o is young for o in gc.get_objects(generation=2))  # promoted by the young pass, not frozen
    finally:
        f.remove()
    gc.collect()
    assert f.freezes == 1  # removed: no longer called


def test_a_cycle_that_died_frozen_is_reclaimed_once_the_frozen_objects_doubled(clean_gc):
    gc.freeze()  # what "start-up" built
    f = SurvivorFreezer(regrow=2.0).install()
    base = f.base
    try:
        n = Node()
        alive = weakref.ref(n)
        gc.collect()
        del n
        gc.collect()
        assert alive() is not None  # frozen: its cycle is not walked, so not reclaimed
        assert f.compactions == 0
        grow = [[i] for i in range(2 * base + 10)]  # the heap more than doubles
        gc.collect()  # freezes them; the frozen count is now above 2 x base: everything unfrozen
        assert f.compactions == 1 and gc.get_freeze_count() == 0
        gc.collect()  # this pass walks everything once: the dead cycle goes, the survivors are frozen again
        assert alive() is None
        assert gc.get_freeze_count() >= len(grow) and f.compactions == 1
    finally:
        f.remove()


def test_tune_for_latency_freezes_start_up_and_sets_the_switch_interval(clean_gc):
    built = [{"i": i} for i in range(500)]
    f = tune_for_latency(switch_interval_s=0.0007)
    try:
        assert sys.getswitchinterval() == pytest.approx(0.0007)
        assert not _in_gen2(built) and gc.get_freeze_count() >= 500
        assert f.base >= 500  # the compaction threshold counts from what start-up froze
    finally:
        f.remove()


def test_regrow_must_be_above_one():
    with pytest.raises(ValueError, match="regrow"):
        SurvivorFreezer(regrow=1.0)
