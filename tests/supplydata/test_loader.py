"""The loader refuses every kind of bad input with a message naming file, row, column and value."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from promessa.errors import SnapshotError
from promessa_testing import AS_OF, day
from supplydata import load_snapshot
from supplydata.writer import write_snapshot

GOOD = {
    "items": [{"item": "A", "price": 10.0, "cost": 6.0}, {"item": "B", "lead_time_days": 4}],
    "locations": [{"location": "DC", "kind": "dc", "zone": "Z1", "calendar": "wk"}, {"location": "ST", "kind": "store"}],
    "supply": [
        {"item": "A", "location": "DC", "date": day(-3), "qty": 10.0, "kind": "onhand", "ref": "OH1"},
        {"item": "A", "location": "DC", "date": day(4), "qty": 5.0, "kind": "purchase", "ref": "PO1"},
        {"item": "B", "location": "ST", "date": day(2), "qty": 7.0, "kind": "transfer"},
    ],
    "demand": [{"item": "A", "location": "DC", "date": day(-1), "qty": 3.0, "demand_class": "web"}],
    "calendars": [{"calendar": "wk", "date": day(5), "open": False}],
}


def write(tmp_path, tables=None, *, fmt="csv", horizon=20, **changes):
    t: dict = {k: [dict(r) for r in v] for k, v in GOOD.items()}
    t.update(tables or {})
    for name, rows in changes.items():
        t[name] = rows
    return write_snapshot(tmp_path / "snap", {k: v for k, v in t.items() if v is not None}, as_of=AS_OF, horizon_days=horizon, fmt=fmt)


def refused(path, *parts):
    with pytest.raises(SnapshotError) as e:
        load_snapshot(path)
    msg = str(e.value)
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    return e.value


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_good_snapshot_loads_into_dense_arrays(tmp_path, fmt):
    snap = load_snapshot(write(tmp_path, fmt=fmt))
    assert snap.as_of == AS_OF and snap.horizon == 20 and snap.n_il == 2
    a = snap.il_of("A", "DC")
    # past supply and past-due demand fall into bucket 0
    assert snap.supply[a, 0] == 10 and snap.supply[a, 4] == 5 and snap.demand[a, 0] == 3
    assert snap.base_cum[a, :5].tolist() == [7, 7, 7, 7, 12]
    assert snap.il_lead_time[snap.il_of("B", "ST")] == 4 and snap.il_lead_time[a] == -1
    assert not snap.calendar_open[snap.il_calendar[a], 5] and snap.calendar_open[snap.il_calendar[a], 4]
    assert snap.il_of("B", "DC") == -1
    # immutable: the dense arrays refuse writes; the state is separate and forks cheaply
    with pytest.raises(ValueError):
        snap.supply[a, 0] = 1
    s1 = snap.new_state()
    s2 = s1.copy()
    s2.cum[a, :] -= 1
    assert (s1.cum[a] == snap.base_cum[a]).all()


def test_missing_required_table(tmp_path):
    p = write(tmp_path, supply=None)
    refused(p, "supply.parquet", "required table missing")


def test_missing_meta(tmp_path):
    p = write(tmp_path)
    (p / "meta.json").unlink()
    refused(p, "meta.json", "required file missing")


def test_bad_meta_date(tmp_path):
    p = write(tmp_path)
    (p / "meta.json").write_text(json.dumps({"as_of": "2026-13-01", "horizon_days": 10}))
    refused(p, "meta.json", "'as_of'", "'2026-13-01'", "not a date")


def test_missing_column(tmp_path):
    p = write(tmp_path)
    df = pl.read_csv(p / "supply.csv").drop("qty")
    df.write_csv(p / "supply.csv")
    refused(p, "supply.csv", "column 'qty'", "required column missing")


def test_mistyped_value_names_the_row(tmp_path):
    p = write(tmp_path)
    text = (p / "supply.csv").read_text().splitlines()
    text[2] = text[2].replace(",5.0,", ",five,")
    (p / "supply.csv").write_text("\n".join(text) + "\n")
    refused(p, "supply.csv", "row 2", "column 'qty'", "'five'", "not a valid Float64")


def test_mistyped_date(tmp_path):
    p = write(tmp_path)
    text = (p / "demand.csv").read_text().splitlines()
    text[1] = text[1].replace(str(day(-1)), "yesterday")
    (p / "demand.csv").write_text("\n".join(text) + "\n")
    refused(p, "demand.csv", "row 1", "column 'date'", "'yesterday'")


def test_unknown_item_in_supply(tmp_path):
    rows = GOOD["supply"] + [{"item": "Q", "location": "DC", "date": day(1), "qty": 1.0, "kind": "purchase"}]
    p = write(tmp_path, supply=rows)
    refused(p, "supply.csv", "row 4", "column 'item'", "'Q'", "unknown item")


def test_unknown_location(tmp_path):
    rows = [dict(GOOD["demand"][0], location="NOWHERE")]
    p = write(tmp_path, demand=rows)
    refused(p, "demand.csv", "row 1", "column 'location'", "'NOWHERE'", "unknown location")


def test_negative_quantity(tmp_path):
    rows = [dict(r) for r in GOOD["supply"]]
    rows[1]["qty"] = -5.0
    p = write(tmp_path, supply=rows, fmt="parquet")
    refused(p, "supply.parquet", "row 2", "column 'qty'", "-5.0", "must not be negative")


def test_date_outside_the_horizon(tmp_path):
    rows = [dict(r) for r in GOOD["supply"]]
    rows[2]["date"] = day(20)
    p = write(tmp_path, supply=rows)
    refused(p, "supply.csv", "row 3", "column 'date'", str(day(20)), "outside the horizon")


def test_bad_choice(tmp_path):
    rows = [dict(r) for r in GOOD["supply"]]
    rows[0]["kind"] = "magic"
    p = write(tmp_path, supply=rows)
    refused(p, "supply.csv", "row 1", "column 'kind'", "'magic'", "must be one of")


def test_duplicate_key(tmp_path):
    p = write(tmp_path, items=GOOD["items"] + [{"item": "A"}])
    refused(p, "items.csv", "row 3", "duplicate key", "'A'")


def test_empty_required_value(tmp_path):
    rows = [dict(r) for r in GOOD["supply"]]
    rows[1]["item"] = None
    p = write(tmp_path, supply=rows)
    refused(p, "supply.csv", "row 2", "column 'item'", "empty value")


def test_fractional_whole_number(tmp_path):
    items = pl.DataFrame({"item": ["A", "B"], "lead_time_days": [2.5, None]})
    p = write(tmp_path, items=items, fmt="parquet")
    refused(p, "items.parquet", "row 1", "column 'lead_time_days'", "2.5")


def test_unreadable_file(tmp_path):
    p = write(tmp_path, fmt="parquet")
    (p / "items.parquet").write_bytes(b"not parquet at all")
    refused(p, "items.parquet", "cannot be read")


def test_extra_columns_and_tables_are_kept_and_ignored(tmp_path):
    items = [dict(r, colour="red") for r in GOOD["items"]]
    p = write(tmp_path, items=items)
    (p / "notes.csv").write_text("a,b\n1,2\n")
    snap = load_snapshot(p)
    assert snap.tables["items"]["colour"].to_list() == ["red", "red"]


def test_refusal_message_format(tmp_path):
    rows = [dict(r) for r in GOOD["supply"]]
    rows[1]["qty"] = -1.0
    err = refused(write(tmp_path, supply=rows), "supply")
    assert (err.row, err.column, err.value) == (2, "qty", -1.0)
    assert re.search(r"supply\.csv, row 2, column 'qty', value -1\.0: must not be negative", str(err))
