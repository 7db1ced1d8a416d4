"""The command line and the walk-through example, end to end on the example files."""

from __future__ import annotations

import csv
import io
import json
import runpy
from pathlib import Path

import pytest

from channel.cli import main

EX = Path(__file__).resolve().parents[2] / "channel" / "examples"


@pytest.mark.slow  # about 4 s on the shared machine, most of it importing matplotlib for the chart
def test_cli_record_claim_receive_aging_report(tmp_path, capsys):
    j = str(tmp_path / "j.sqlite")
    assert main(["validate", str(EX / "programs.csv")]) == 0
    assert "4 programs ok" in capsys.readouterr().out
    assert main(["record", "--journal", j, "--programs", str(EX / "programs.yaml"), "--events", str(EX / "events.jsonl")]) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # H1 (60 BIGCO units at 9.50, cost 8.20) under the ship-and-debit: 60 x 1.20 = 72.00; the stock count: 40 x 1.50 = 60.00
    assert {(r["source"], r["program"], r["kind"]): r["amount"] for r in recs}[("H1", "ACME-SPA-BIGCO", "accrual")] == "72.00"
    assert {(r["source"], r["program"]): r["amount"] for r in recs if r["kind"] == "accrual"}[("C1", "ACME-PP-W1")] == "60.00"
    # ACME's first quarter: 72 + 25 + 30 + 60 - 5 - 12 = 170.00
    assert main(["claim", "--journal", j, "--supplier", "ACME", "--from", "2026-01-01", "--to", "2026-03-31",
                 "--business-date", "2026-04-01", "--format", "csv", "--out-dir", str(tmp_path / "claims")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "claims" / "CL000001.csv").read_text())))
    assert sum(float(r["amount"]) for r in rows) == 170.0 and "unit_cost" in rows[0]
    assert main(["status", "--journal", j, "CL000001", "submitted", "--business-date", "2026-04-02"]) == 0
    assert main(["receive", "--journal", j, "CL000001", "170.00", "--ref", "ACME-INV-1", "--deduction",
                 "--business-date", "2026-04-20"]) == 0
    assert "settled, received 170.00 of 170.00 EUR" in capsys.readouterr().out
    assert main(["status", "--journal", j, "CL000001", "accepted", "--business-date", "2026-04-21"]) == 2
    assert "cannot go from settled to accepted" in capsys.readouterr().err
    assert main(["aging", "--journal", j, "--business-date", "2026-05-01", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing open
    png = tmp_path / "r.png"
    assert main(["report", "--journal", j, "--by", "supplier", "--format", "json", "--chart", str(png)]) == 0
    rep = {r["supplier"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rep["ACME"]["accrued"], rep["ACME"]["received"], rep["BETA"]["unclaimed"]) == ("170.0000", "170.0000", "1.5000")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_bad_input_with_the_field(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PROMESSA_CLOCK__BUSINESS_DATE", raising=False)
    bad = tmp_path / "p.yaml"
    bad.write_text("- {program: X, supplier: A, kind: allowance, currency: EUR, valid_from: 2026-01-01, "
                   "valid_to: 2026-02-01, rate: '-1'}\n")
    assert main(["validate", str(bad)]) == 2
    assert "p.yaml[0].rate='-1': negative rate" in capsys.readouterr().err
    assert main(["claim", "--journal", str(tmp_path / "j.sqlite"), "--supplier", "A", "--from", "2026-01-01",
                 "--to", "2026-01-31"]) == 2  # no business date given and none in settings
    assert "business date" in capsys.readouterr().err


def test_cli_whatif(tmp_path, capsys):
    changed = tmp_path / "c.yaml"
    changed.write_text("- {program: BETA-PROMO-SPRING, supplier: BETA, kind: allowance, currency: EUR, valid_from: 2026-03-01,"
                       " valid_to: 2026-05-31, categories: [gadgets], rate_kind: percent, rate: '5'}\n")
    assert main(["whatif", "--programs", str(EX / "programs.yaml"), "--events", str(EX / "events.jsonl"),
                 "--changed", str(changed), "--format", "json"]) == 0
    rows = {r["order"]: r for r in json.loads(capsys.readouterr().out)}
    # O3: 3 x 19.99 = 59.97 at 2.5 % = 1.50, at 5 % = 3.00
    assert (rows["O3"]["income_before"], rows["O3"]["income_after"], rows["O3"]["delta"]) == ("1.5000", "3.0000", "1.5000")
    assert rows["O1"]["delta"] == "0.0000"


def test_walkthrough_runs(tmp_path, capsys):
    mod = runpy.run_path(str(EX / "walkthrough.py"))
    figures = mod["main"](tmp_path)
    assert figures["CL000001"] == {"total": "170.00", "status": "partially_paid", "open": "70.00"}
    assert (tmp_path / "income.png").exists() and (tmp_path / "CL000001.csv").exists()
