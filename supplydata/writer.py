"""Write a snapshot directory (tables + meta.json) in the data contract's format."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from supplydata.schema import TABLES


def write_snapshot(
    out_dir: str | Path,
    tables: Mapping[str, pl.DataFrame | list[dict]],
    *,
    as_of: dt.date,
    horizon_days: int = 365,
    fmt: str = "parquet",
    journal_seq: int | None = None,
) -> Path:
    """Write `tables` (name -> DataFrame or list of row dicts) and meta.json into `out_dir`.

    Row dicts may leave out nullable columns. Tables not given are not written (optional
    tables are then empty when loaded)."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in tables.items():
        if isinstance(data, pl.DataFrame):
            df = data
        else:
            schema = TABLES[name].polars_schema() if name in TABLES else None
            if schema is not None:
                rows = [{c: r.get(c) for c in schema} | {k: v for k, v in r.items() if k not in schema} for r in data]
                df = pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None) if rows else pl.DataFrame(schema=schema)
            else:
                df = pl.DataFrame(data)
        if fmt == "parquet":
            df.write_parquet(out / f"{name}.parquet")
        else:
            df.write_csv(out / f"{name}.csv")
    meta = {"as_of": as_of.isoformat(), "horizon_days": horizon_days}
    if journal_seq is not None:
        meta["journal_seq"] = journal_seq
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
