"""The command line: generate, snapshot, promise and atp, readable and --json."""

from __future__ import annotations

import json

from promessa.cli import main


def test_generate_promise_atp(tmp_path, capsys):
    out = tmp_path / "net"
    assert main(["generate", "--out", str(out), "--seed", "5", "--size", "tiny"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["items"] == 20
    assert main(["snapshot", str(out)]) == 0
    assert "item-locations" in capsys.readouterr().out
    assert main(["promise", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--qty", "3",
                 "--date", "2026-01-10", "--split", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["item"] == "I000001" and p["status"] in ("full", "late", "partial", "short")
    assert sum(ln["qty"] for ln in p["lines"]) == p["promised_qty"]
    assert main(["promise", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--qty", "3",
                 "--date", "2026-01-10"]) == 0
    assert "status:" in capsys.readouterr().out
    assert main(["atp", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--json", "--all"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 30 and set(rows[0]) >= {"supply", "demand", "committed", "cumulative", "available", "discrete_atp"}


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["snapshot", str(tmp_path / "missing")]) == 2
    assert "snapshot directory not found" in capsys.readouterr().err
    main(["generate", "--out", str(tmp_path / "n"), "--size", "tiny"])
    capsys.readouterr()
    assert main(["promise", "--snapshot", str(tmp_path / "n"), "--item", "NOPE", "--location", "DC01", "--qty", "1",
                 "--date", "2026-01-10"]) == 2
    assert "item='NOPE'" in capsys.readouterr().err
