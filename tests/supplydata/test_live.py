"""Double-buffered refresh: build beside, replay, swap; nothing lost, nothing twice."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from promessa.errors import SnapshotError, ValidationError
from promessa_testing import day
from promising import Request, Reservation, available, promise, reserve, unreserve
from supplydata import load_snapshot
from supplydata.live import LiveSupply, ReplayResult, SupplyDelta


class Journal:
    """A minimal commitment journal: (seq, +1/-1, reservation)."""

    def __init__(self):
        self.entries: list[tuple[int, int, Reservation]] = []
        self.lock = threading.Lock()

    def append(self, sign, res):
        with self.lock:
            self.entries.append((len(self.entries) + 1, sign, res))

    def open_reservations(self):
        net = {}
        for _, sign, res in self.entries:
            net[res] = net.get(res, 0) + sign
        return [r for r, n in net.items() for _ in range(n)]  # equal reservations count each time

    def replay(self, snap, state, after):
        with self.lock:
            entries = list(self.entries)
        bad = []
        if after is None:
            for r in self.open_reservations():
                bad += [d.to_dict() for d in reserve(snap, state, r)]
            return ReplayResult(entries[-1][0] if entries else 0, len(entries), tuple(bad))
        n = 0
        for seq, sign, res in entries:
            if seq > after:
                n += 1
                if sign > 0:
                    bad += [d.to_dict() for d in reserve(snap, state, res)]
                else:
                    unreserve(snap, state, res)
        return ReplayResult(entries[-1][0] if entries else after, n, tuple(bad))


def capture(live, journal, item, qty, when):
    with live.write_lock:
        st = live.state
        p = promise(live.snapshot, st, Request(item, "DC", qty, when), commit=True)
        if p.lines:
            journal.append(+1, p.reservation)
        return p


def test_refresh_replays_commitments_made_since_the_extract(make_snapshot, tmp_path):
    old = make_snapshot(supply=[("A", "DC", 0, 10)])
    journal = Journal()
    live = LiveSupply(old, replay=journal.replay)
    capture(live, journal, "A", 4, day(1))            # seq 1, inside the new extract below
    capture(live, journal, "A", 3, day(2))            # seq 2, not in it
    # the new extract: 50 on hand, the first order already in its demand, journal_seq 1
    new = make_snapshot(supply=[("A", "DC", 0, 50)], demand=[("A", "DC", 1, 4)])
    new_dir = Path(new.source)
    meta = json.loads((new_dir / "meta.json").read_text())
    (new_dir / "meta.json").write_text(json.dumps({**meta, "journal_seq": 1}))
    report = live.refresh(new_dir)
    assert report["replayed"] == 1 and report["exceptions"] == []
    # 50 - 4 (in the extract) - 3 (replayed) = 43: the first order is not counted twice
    assert available(live.snapshot, live.state, "A", "DC", day(0)) == pytest.approx(43)
    assert live.status()["version"] == live.snapshot.version and live.status()["last_error"] is None


def test_without_journal_seq_every_open_reservation_is_replayed(make_snapshot):
    journal = Journal()
    live = LiveSupply(make_snapshot(supply=[("A", "DC", 0, 10)]), replay=journal.replay)
    p1 = capture(live, journal, "A", 4, day(1))
    capture(live, journal, "A", 3, day(2))
    with live.write_lock:
        unreserve(live.snapshot, live.state, p1.reservation)
        journal.append(-1, p1.reservation)
    new = make_snapshot(supply=[("A", "DC", 0, 5)])
    report = live.refresh(new.source)
    assert available(live.snapshot, live.state, "A", "DC", day(0)) == pytest.approx(2)
    assert report["exceptions"] == []


def test_a_commitment_that_no_longer_fits_is_kept_and_reported(make_snapshot):
    journal = Journal()
    live = LiveSupply(make_snapshot(supply=[("A", "DC", 0, 10)]), replay=journal.replay)
    capture(live, journal, "A", 8, day(1))
    report = live.refresh(make_snapshot(supply=[("A", "DC", 0, 5)]).source)
    assert len(report["exceptions"]) == 1 and report["exceptions"][0]["qty"] == 8
    il = live.snapshot.il_of("A", "DC")
    assert live.state.committed(il)[1] == pytest.approx(8)  # kept, not dropped


def test_a_bad_extract_is_refused_and_the_live_pair_keeps_serving(make_snapshot, tmp_path):
    journal = Journal()
    good = make_snapshot(supply=[("A", "DC", 0, 10)])
    live = LiveSupply(good, replay=journal.replay)
    bad = make_snapshot(supply=[("A", "DC", 0, 10)], fmt="csv")
    p = Path(bad.source) / "supply.csv"
    p.write_text(p.read_text().replace(",10.0,", ",-10.0,"))
    with pytest.raises(SnapshotError, match="must not be negative"):
        live.refresh(bad.source)
    assert live.snapshot is good
    assert "must not be negative" in live.status()["last_error"]["message"]
    assert capture(live, journal, "A", 2, day(0)).promised_qty == 2


def test_promises_during_a_slow_build_are_not_lost_or_doubled(make_snapshot):
    journal = Journal()
    live = LiveSupply(make_snapshot(supply=[("A", "DC", 0, 1000)]), replay=journal.replay)
    new = make_snapshot(supply=[("A", "DC", 0, 1000)])
    started = threading.Event()

    def slow_loader(path):
        started.set()
        time.sleep(0.3)
        return load_snapshot(path)

    t = threading.Thread(target=live.refresh, args=(new.source,), kwargs={"loader": slow_loader})
    t.start()
    started.wait(5)
    old_snapshot = live.snapshot
    with live.lease() as served:          # a request that started on the old pair
        total = 0.0
        while t.is_alive():
            total += capture(live, journal, "A", 1, day(1)).promised_qty
            time.sleep(0.005)
        assert served.snapshot is old_snapshot
        assert live.status()["retired_in_use"] == [{"version": old_snapshot.version, "readers": 1}]
    t.join()
    assert live.snapshot is not old_snapshot and live.status()["retired_in_use"] == []
    total += capture(live, journal, "A", 1, day(1)).promised_qty
    il = live.snapshot.il_of("A", "DC")
    # every promise made before, during and after the build is in the new state, once
    assert live.state.committed(il).sum() == pytest.approx(total)
    assert total == len(journal.entries)


def test_real_time_deltas(make_snapshot):
    live = LiveSupply(make_snapshot(supply=[("A", "DC", 0, 10), ("A", "DC", 5, 10)]))
    snap = live.snapshot
    r = live.apply_deltas([SupplyDelta("A", "DC", day(2), 5.0, "receipt", "PO9"), SupplyDelta("A", "DC", day(0), -3.0)])
    assert r["applied"] == 2 and r["uncovered"] == []
    assert available(snap, live.state, "A", "DC", day(0)) == pytest.approx(7)
    assert available(snap, live.state, "A", "DC", day(2)) == pytest.approx(12)
    # the ATP report shows them as supply, not as negative commitments
    from promising import atp_report
    rep = atp_report(snap, live.state, "A", "DC")
    assert rep["supply"].to_list()[:3] == [7, 0, 5] and rep["committed"].sum() == 0
    # a pegged promise can point at the adjustment
    p = promise(snap, live.state, Request("A", "DC", 12, day(2)))
    assert [pg.kind for pg in p.pegs] == ["onhand", "adjustment"]
    # all or nothing: one bad delta in a batch applies none
    before = live.state.cum.copy()
    with pytest.raises(ValidationError, match=r"deltas\[1\].item='Q'"):
        live.apply_deltas([SupplyDelta("A", "DC", day(1), 1.0), SupplyDelta("Q", "DC", day(1), 1.0)])
    assert np.array_equal(before, live.state.cum)
    # a removal that uncovers committed units is applied and reported
    with live.write_lock:
        promise(snap, live.state, Request("A", "DC", 7, day(0)), commit=True)
    r = live.apply_deltas([SupplyDelta("A", "DC", day(0), -2.0)])
    assert r["uncovered"] and r["uncovered"][0]["short"] == pytest.approx(2)


def test_watcher_refreshes_when_meta_changes_and_survives_a_bad_extract(make_snapshot):
    from supplydata.watch import SnapshotWatcher

    snap = make_snapshot(supply=[("A", "DC", 0, 10)], fmt="csv")
    live = LiveSupply(snap)
    w = SnapshotWatcher(live, snap.source, interval_s=0.01)
    assert w.check_once() is False                      # nothing changed yet
    d = Path(snap.source)
    (d / "supply.csv").write_text((d / "supply.csv").read_text().replace(",10.0,", ",25.0,"))
    meta = json.loads((d / "meta.json").read_text())
    (d / "meta.json").write_text(json.dumps({**meta, "journal_seq": 0}))
    assert w.check_once() is True and w.refreshes == 1
    assert available(live.snapshot, live.state, "A", "DC", day(0)) == pytest.approx(25)
    (d / "supply.csv").write_text((d / "supply.csv").read_text().replace(",25.0,", ",-1.0,"))
    (d / "meta.json").write_text(json.dumps({**meta, "journal_seq": 1}))
    assert w.check_once() is True and w.failures == 1
    assert available(live.snapshot, live.state, "A", "DC", day(0)) == pytest.approx(25)
    assert "must not be negative" in live.status()["last_error"]["message"]
