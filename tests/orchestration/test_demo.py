"""The README's walk-through runs with no broker."""

from __future__ import annotations

from orchestration.demo import main


def test_demo_runs_without_a_broker(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "o.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "SO-1 line -: ship-from-node v1 active at release (wms)" in out
    assert "duplicate, nothing changed" in out and "effect line_closed" in out
    assert "jeopardy: SO-1 step release (wms) 2.0 h late" in out
    assert "outbox: 14 messages delivered by signed webhook (0 bad signatures)" in out
