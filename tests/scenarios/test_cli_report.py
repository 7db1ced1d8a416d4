"""The command line (reschedule, whatif) and the reports on the generated tiny network."""

from __future__ import annotations

import json

import pytest

from promessa.cli import main
from scenarios.cli import parse_rule


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    from supplydata.generate import generate

    path = tmp_path_factory.mktemp("net")
    generate(path, seed=11, size="tiny")
    return path


def test_parse_rule():
    assert parse_rule("win:demand_class=key_account,retail;priority_at_most=2") == {
        "strategy": "win", "demand_class": ["key_account", "retail"], "priority_at_most": "2"}
    assert parse_rule("lose") == {"strategy": "lose"}


def test_reschedule_command(net, tmp_path, capsys):
    out = tmp_path / "lines.parquet"
    rc = main(["reschedule", "--snapshot", str(net), "--rule", "win:demand_class=key_account", "--within", "fair_share",
               "--out", str(out), "--json", "--quiet", "--html", str(tmp_path / "r.html"), "--png", str(tmp_path / "r.png")])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["lines"] == 200
    import polars as pl

    assert pl.read_parquet(out).height == 200
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG" and "data:image/png" in (tmp_path / "r.html").read_text()
    assert main(["reschedule", "--snapshot", str(net), "--apply", "--quiet"]) == 2  # --apply needs --db


def test_whatif_command_writes_html_png_json(net, tmp_path, capsys):
    sc = tmp_path / "s.yaml"
    sc.write_text("scenarios:\n  - name: late\n    changes: [{type: delay_receipts, days: 10}]\n"
                  "  - name: out\n    changes: [{type: node_out, location: DC01, date_to: 2026-01-20}]\n")
    rc = main(["whatif", str(sc), "--snapshot", str(net), "--html", str(tmp_path / "r.html"), "--png", str(tmp_path / "r.png"),
               "--json", str(tmp_path / "r.json")])
    assert rc == 0
    printed = capsys.readouterr()
    assert "late" in printed.out and "[100%]" in printed.err  # progress on stderr
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "r.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # KPIs + one ATP figure per scenario
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [s["name"] for s in rep["scenarios"]] == ["late", "out"]


def test_whatif_on_an_order_book(net, tmp_path, capsys):
    from orderbook.schemas import OrderCreate
    from orderbook.service import OrderService
    from promessa.config import settings_of
    from orderbook.store import open_store
    from supplydata import load_snapshot

    db = tmp_path / "b.sqlite"
    snap = load_snapshot(net)
    store = open_store(str(db))
    svc = OrderService(snap, store, settings_of(approval_value_threshold=None))
    item, loc = snap.il_name(0)
    svc.capture(OrderCreate.model_validate({"customer": "C1", "lines": [
        {"item": item, "qty": 2, "requested_date": snap.as_of.isoformat(), "location": loc}]}), actor="t")
    getattr(svc, "close", lambda: None)()
    store.close()
    sc = tmp_path / "s.json"
    sc.write_text(json.dumps({"name": "cut", "changes": [{"type": "cut_receipts", "keep": 0}]}))
    assert main(["whatif", str(sc), "--snapshot", str(net), "--db", str(db), "--quiet"]) == 0
    assert main(["reschedule", "--snapshot", str(net), "--db", str(db), "--apply", "--quiet"]) == 0


def test_reschedule_command_partitioned_gives_the_same_lines(net, tmp_path, capsys):
    import polars as pl
    from polars.testing import assert_frame_equal

    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert main(["reschedule", "--snapshot", str(net), "--rule", "win:demand_class=key_account", "--out", str(one),
                 "--json", "--quiet"]) == 0
    assert "partitions" not in json.loads(capsys.readouterr().out)["timings"]
    assert main(["reschedule", "--snapshot", str(net), "--rule", "win:demand_class=key_account", "--out", str(two),
                 "--json", "--quiet", "--executor", "inprocess", "--parts", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["timings"]["partitions"] == 2
    assert_frame_equal(pl.read_parquet(one), pl.read_parquet(two))
    assert main(["reschedule", "--snapshot", str(net), "--parts", "0", "--quiet"]) == 2  # refused, named
    assert "--parts" in capsys.readouterr().err


def test_reschedule_output_for_people(net, capsys):
    """The summary says what was planned (the orders table, not the order book the API plans), has no column-type
    rows, shows each exception's requested date and its reason in full, and the progress never goes back."""
    import re

    from scenarios.backlog import Exception_

    assert main(["reschedule", "--snapshot", str(net), "--default-strategy", "win"]) == 0  # some cannot win
    printed = capsys.readouterr()
    out = printed.out.splitlines()
    assert out[0] == (f"planned: the lines of the orders table {net / 'orders.parquet'}, promised in creation order to make "
                      "the live plan (the API plans the order book: give --db to plan it here)")
    assert out[1].startswith("200 open lines: ")
    assert not any(re.search(r"┆\s*(str|u32|f64|enum|date|i64)\s*┆", ln) for ln in out), "column types printed"
    assert any("on time before (units)" in ln for ln in out)
    n_exc = int(re.search(r"; (\d+) strategy exceptions", out[1]).group(1))
    assert n_exc > 0
    if n_exc:
        head = next(ln for ln in out if "requested_date" in ln)
        assert "exception" in head
        texts = {e.description for e in Exception_ if e.description}
        rows = [ln for ln in out if ln.startswith("│ O")]
        assert rows and all(any(t in ln for t in texts) for ln in rows)  # the reason in full, not cut off
    pct = [int(m) for m in re.findall(r"\[\s*(\d+)%\]", printed.err)]
    assert pct[-1] == 100 and pct == sorted(pct), pct


def test_a_misspelled_orders_column_gets_a_hint(net, tmp_path, capsys):
    import polars as pl

    bad = tmp_path / "orders.csv"
    pl.read_parquet(net / "orders.parquet").rename({"requested_date": "requsted_date"}).write_csv(bad)
    assert main(["reschedule", "--snapshot", str(net), "--orders", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promessa: error: requested_date=None: required column missing in the orders table (hint: "
                          "the table has 'requsted_date': did you mean 'requested_date'? columns: order, line, item, qty, "
                          "requsted_date,")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    assert main(["reschedule", "--snapshot", str(net), "--orders", str(tmp_path / "broken.parquet"), "--quiet"]) == 2
    assert "cannot read the orders table" in capsys.readouterr().err


def test_whatif_kpis_for_people():
    """Counts with thousands separators, rates and shares as percentages (a share has no currency), amounts with
    two decimals: 20000 lines, 0.3718 on time, 1161484.51 EUR at risk, 0.6793 of the revenue."""
    import polars as pl

    from scenarios.cli import kpi_table

    t = pl.DataFrame({"kpi": ["lines", "on_time_rate", "revenue_at_risk (EUR)", "revenue_at_risk_share (EUR)"],
                      "current": [20000.0, 0.3718, 1161484.51, 0.6793], "late": [20000.0, 0.4657, 978860.16, None]})
    assert kpi_table(t).rows() == [("lines", "20,000", "20,000"), ("on time rate", "37.2%", "46.6%"),
                                   ("revenue at risk (EUR)", "1,161,484.51", "978,860.16"),
                                   ("revenue at risk share", "67.9%", "–")]
