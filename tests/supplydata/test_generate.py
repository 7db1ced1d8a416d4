"""The generator writes a realistic, reproducible network that the loader accepts."""

from __future__ import annotations

import polars as pl
import pytest

from supplydata import load_snapshot
from supplydata.generate import generate


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = generate(tmp_path / "a", seed=3, size="tiny")
    b = generate(tmp_path / "b", seed=3, size="tiny")
    c = generate(tmp_path / "c", seed=4, size="tiny")
    for name in ("items", "supply", "orders", "bom"):
        fa, fb = pl.read_parquet(tmp_path / "a" / f"{name}.parquet"), pl.read_parquet(tmp_path / "b" / f"{name}.parquet")
        assert fa.equals(fb)
    assert not pl.read_parquet(tmp_path / "a" / "supply.parquet").equals(pl.read_parquet(tmp_path / "c" / "supply.parquet"))
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert c["items"] == a["items"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_generated_snapshot_loads_and_has_every_table(tmp_path, fmt):
    counts = generate(tmp_path / "s", seed=1, size="small", fmt=fmt, order_lines=3000)
    snap = load_snapshot(tmp_path / "s")
    for name in ("items", "locations", "supply", "demand", "lanes", "sourcing", "demand_classes", "allocation",
                 "resources", "bom", "calendars"):
        assert snap.tables[name].height > 0, name
    assert snap.n_il == counts["item_locations"]
    assert set(snap.tables["locations"]["kind"]) == {"dc", "store", "plant"}
    assert set(snap.tables["supply"]["kind"]) >= {"onhand", "purchase", "transfer", "production"}
    orders = pl.read_parquet(tmp_path / "s" / "orders.parquet") if fmt == "parquet" else pl.read_csv(tmp_path / "s" / "orders.csv")
    assert orders.height == 3000
    per_order = orders.group_by("order").len()["len"]
    assert per_order.min() >= 1 and per_order.max() <= 5
    assert orders["line"].min() == 1
    # long tail: the top 10% of items take far more than 10% of the order lines
    top = orders.group_by("item").len().sort("len", descending=True)
    assert top.head(max(1, 500 // 10))["len"].sum() > 0.3 * orders.height
    # multi-level bills: some components are made items themselves at the same plant
    bom = snap.tables["bom"]
    made = set(bom["item"])
    assert made & set(bom["component"])


def test_sizes_can_be_overridden(tmp_path):
    counts = generate(tmp_path / "s", seed=1, size="tiny", items=7, dcs=1, stores=0, plants=0, zones=1, days=10, order_lines=5)
    assert counts["items"] == 7 and counts["orders"] == 5
    snap = load_snapshot(tmp_path / "s")
    assert snap.horizon == 10 and snap.n_locations == 1
    with pytest.raises(ValueError):
        generate(tmp_path / "t", size="enormous")
