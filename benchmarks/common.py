"""Shared benchmark fixtures: generated networks cached on disk, orders routed to a node."""

from __future__ import annotations

from pathlib import Path

import polars as pl

DATA = Path(__file__).resolve().parent / ".data"


def dataset(size: str, seed: int) -> Path:
    """A generated network of the given preset, generated once and cached under benchmarks/.data."""
    from supplydata.generate import generate

    path = DATA / f"{size}-{seed}"
    if not (path / "meta.json").exists() or not (path / "orders.parquet").exists():
        generate(path, seed=seed, size=size)
    return path


def orders_at_first_node(snap, path: Path) -> pl.DataFrame:
    """The generated orders, each line sent to its zone's first-ranked DC (every DC stocks every item)."""
    orders = pl.read_parquet(path / "orders.parquet")
    first = (
        snap.tables["sourcing"].filter(pl.col("item").is_null() & pl.col("category").is_null())
        .sort("rank").group_by("zone", maintain_order=True).first().select("zone", "location")
    )
    return orders.join(first, on="zone", how="left").with_columns(pl.col("location").fill_null(snap.location_ids[0]))
