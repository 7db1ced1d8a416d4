"""`promessa jeopardy`, `promessa exceptions` and `promessa report` against the story's order book file."""

from __future__ import annotations

import datetime as dt
import json

from promessa.cli import main


def test_jeopardy_json_and_scan(book, mon_snap_dir, letters, tmp_path, capsys):
    db = book[2]
    log = tmp_path / "events.jsonl"
    rc = main(["jeopardy", "--db", db, "--snapshot", str(mon_snap_dir), "--today", "2026-01-12", "--format", "json",
               "--scan", "--event-log", str(log)])
    out = capsys.readouterr()
    assert rc == 0
    rows = json.loads(out.out)
    assert {letters[r["order_id"]]: r["level"] for r in rows} == {
        "A": "warning", "B": "ok", "C": "warning", "D": "critical", "E": "warning"}
    assert "4 level crossing(s) recorded" in out.err
    assert len(log.read_text().splitlines()) == 4
    rc = main(["jeopardy", "--db", db, "--snapshot", str(mon_snap_dir), "--today", "2026-01-12", "--min-level",
               "critical", "--lines", "--format", "csv"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and out[0].startswith("order_id,line,") and len(out) == 2


def test_report_and_exceptions(book, mon_snap_dir, tmp_path, capsys):
    db = book[2]
    base = ["--db", db, "--snapshot", str(mon_snap_dir)]
    assert main(["report", "customers", *base, "--top", "2", "--format", "csv"]) == 0
    rows = [r.split(",")[:6] for r in capsys.readouterr().out.splitlines()]
    assert rows == [["customer", "revenue", "currency", "units", "lines", "orders"], ["C3", "1001.00", "EUR", "11.0", "2", "2"],
                    ["C1", "445.00", "EUR", "13.0", "3", "2"]]
    png = tmp_path / "trends.png"
    assert main(["report", "trends", *base, "--format", "png", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["report", "products", *base, "--start", "2026-01-06", "--end", "2026-01-06", "--format", "table"]) == 0
    assert "GADGET" in capsys.readouterr().out
    assert main(["exceptions", *base, "--today", "2026-01-16", "--by", "supplier", "--format", "json"]) == 0
    assert [r["supplier"] for r in json.loads(capsys.readouterr().out)] == ["(on hand)", "ACME"]
    # without a snapshot: the lines' own priced amounts (stored at capture from the catalogue prices:
    # WIDGET 10, GADGET 100, BOLT 1), so the same revenue per product as with the snapshot
    assert main(["report", "products", *base, "--format", "json"]) == 0
    with_snapshot = {r["item"]: r["revenue"] for r in json.loads(capsys.readouterr().out)}
    assert main(["report", "products", "--db", db, "--format", "json"]) == 0
    without = {r["item"]: r["revenue"] for r in json.loads(capsys.readouterr().out)}
    assert without == with_snapshot and set(without.values()) == {"6.00", "160.00", "1400.00"}


def test_missing_book(tmp_path, capsys):
    assert main(["jeopardy", "--db", str(tmp_path / "nope.sqlite")]) == 2
    assert "no order book" in capsys.readouterr().err


def test_analytics_names_a_misspelled_orders_column(tmp_path, capsys, mon_snap_dir):
    """An orders table whose requested_date is spelt requsted_date: the error names the column and the likely typo."""
    import polars as pl

    from promessa.cli import main

    bad = tmp_path / "orders.csv"
    pl.DataFrame({"order": ["O1"], "line": [1], "item": ["WIDGET"], "qty": [1.0], "requsted_date": ["2026-01-10"],
                  "customer": ["X"], "demand_class": ["online"], "zone": ["EAST"],
                  "created_at": ["2026-01-05T09:00:00"]}).write_csv(bad)
    assert main(["analytics", "rfm", "--orders", str(bad), "--snapshot", str(mon_snap_dir)]) == 2
    assert capsys.readouterr().err.startswith(
        "promessa: error: requested_date=None: required column missing from the orders table (hint: the table has "
        "'requsted_date': did you mean 'requested_date'? columns needed: order, line, item, qty, requested_date,")


def test_analytics_cross_sell_names_an_unknown_item(tmp_path, capsys, mon_snap_dir):
    """`--item WIDGT`: not in the catalogue nor in any line; the error names it and the item it most likely meant.
    An item of the catalogue never bought together with another gives an empty table, not an error."""
    import polars as pl

    from promessa.cli import main

    path = tmp_path / "orders.parquet"
    pl.DataFrame({"order": ["O1", "O1"], "line": [1, 2], "item": ["WIDGET", "BOLT"], "qty": [1.0, 2.0],
                  "requested_date": [dt.date(2026, 1, 10)] * 2, "customer": ["X", "X"], "demand_class": ["online"] * 2,
                  "zone": ["EAST"] * 2, "created_at": [dt.datetime(2026, 1, 5, 9)] * 2}).write_parquet(path)
    base = ["analytics", "cross-sell", "--orders", str(path), "--snapshot", str(mon_snap_dir), "--today", "2026-01-31"]
    assert main([*base, "--item", "WIDGT"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "promessa: error: item.0='WIDGT': unknown item: not in the catalogue nor in any order line (hint: did you mean WIDGET?)")
    assert main([*base, "--item", "GADGET", "--min-orders", "1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip() == "item,rank,suggestion,orders_together,item_orders,suggestion_orders,support,confidence,lift"
