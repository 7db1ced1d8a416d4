"""Load and check a snapshot directory (Parquet or CSV tables plus meta.json).

Every refusal is a `SnapshotError` naming the file, the 1-based data row (header excluded),
the column and the value. Checks run in this order per table: presence, columns, types,
nulls, allowed values, ranges, keys; references and horizon checks run once all tables are in.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from promessa.errors import SnapshotError
from supplydata.schema import TABLES, Column, Table

META = "meta.json"


def find_table_file(directory: Path, name: str) -> Path | None:
    for ext in (".parquet", ".csv"):
        p = directory / f"{name}{ext}"
        if p.exists():
            return p
    return None


def read_meta(directory: Path) -> dict:
    path = directory / META
    if not path.exists():
        raise SnapshotError("required file missing", file=str(path), hint='write {"as_of": "YYYY-MM-DD", "horizon_days": 365}')
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"not valid JSON ({exc.msg} at line {exc.lineno})", file=str(path)) from None
    if not isinstance(meta, dict):
        raise SnapshotError("must be a JSON object", file=str(path), value=meta)
    raw = meta.get("as_of")
    try:
        as_of = dt.date.fromisoformat(str(raw))
    except ValueError:
        raise SnapshotError("not a date", file=str(path), column="as_of", value=raw, hint="use YYYY-MM-DD") from None
    horizon = meta.get("horizon_days", 365)
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= 3660:
        raise SnapshotError("must be a whole number of days from 1 to 3660", file=str(path), column="horizon_days", value=horizon)
    seq = meta.get("journal_seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        raise SnapshotError("must be a non-negative integer", file=str(path), column="journal_seq", value=seq)
    return {"as_of": as_of, "horizon_days": horizon, "journal_seq": seq, **{k: v for k, v in meta.items() if k not in ("as_of", "horizon_days", "journal_seq")}}


def _read_raw(path: Path) -> pl.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        # CSV: read every column as text, then cast with our schema so that a bad cell is found by row.
        return pl.read_csv(path, infer_schema=False, null_values=[""], try_parse_dates=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a refusal of that file
        raise SnapshotError(f"cannot be read ({type(exc).__name__}: {exc})", file=str(path)) from None


def _cast(col: Column, s: pl.Series) -> pl.Series:
    target = col.dtype
    if s.dtype == target:
        return s
    if target == pl.Date:
        if s.dtype == pl.String:
            return s.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        if isinstance(s.dtype, pl.Datetime):
            return s.dt.date()
    if target == pl.Boolean and s.dtype == pl.String:
        low = s.str.strip_chars().str.to_lowercase()
        mapping = {"true": True, "1": True, "yes": True, "t": True, "false": False, "0": False, "no": False, "f": False}
        return low.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
    if target == pl.Int64 and (s.dtype == pl.String or s.dtype.is_float()):
        # accept "3" and 3.0, refuse "3.5"
        f = (s.str.strip_chars() if s.dtype == pl.String else s).cast(pl.Float64, strict=False)
        whole = f.is_not_null() & (f == f.round(0))
        return pl.select(pl.when(whole).then(f.cast(pl.Int64, strict=False)).otherwise(None).alias(s.name)).to_series()
    if s.dtype == pl.String:
        s = s.str.strip_chars()
    try:
        return s.cast(target, strict=False)
    except Exception:  # noqa: BLE001 - e.g. a list column cast to float
        return pl.Series(s.name, [None] * len(s), dtype=target)


def _first_row(mask: pl.Series) -> int:
    return int(mask.arg_true()[0]) + 1


def load_table(path: Path, table: Table) -> pl.DataFrame:
    """Read one table file and return it with the declared schema, or raise SnapshotError."""
    raw = _read_raw(path)
    f = str(path)
    missing = [c.name for c in table.columns if c.name not in raw.columns]
    # optional columns may be absent when nullable; required (non-nullable) ones may not
    for name in missing:
        col = next(c for c in table.columns if c.name == name)
        if not col.nullable:
            raise SnapshotError("required column missing", file=f, column=name, hint=f"columns are {', '.join(table.column_names)}")
    out = {}
    for col in table.columns:
        if col.name in missing:
            out[col.name] = pl.Series(col.name, [None] * raw.height, dtype=col.dtype)
            continue
        s = raw[col.name]
        cast = _cast(col, s)
        bad = s.is_not_null() & cast.is_null()
        if bad.any():
            r = _first_row(bad)
            raise SnapshotError(f"not a valid {col.dtype}", file=f, row=r, column=col.name, value=s[r - 1])
        if not col.nullable and cast.null_count():
            r = _first_row(cast.is_null())
            raise SnapshotError("empty value in a column that needs one", file=f, row=r, column=col.name)
        if cast.dtype.is_float():
            nonfinite = cast.is_nan() | cast.is_infinite()
            if nonfinite.any():
                r = _first_row(nonfinite.fill_null(False))
                raise SnapshotError("must be a finite number", file=f, row=r, column=col.name, value=cast[r - 1])
        if col.non_negative or col.positive:
            neg = (cast <= 0) if col.positive else (cast < 0)
            neg = neg.fill_null(False)
            if neg.any():
                r = _first_row(neg)
                raise SnapshotError("must be positive" if col.positive else "must not be negative", file=f, row=r, column=col.name, value=cast[r - 1])
        if col.choices:
            badc = ~cast.is_in(list(col.choices)) & cast.is_not_null()
            if badc.any():
                r = _first_row(badc)
                raise SnapshotError(f"must be one of {', '.join(col.choices)}", file=f, row=r, column=col.name, value=cast[r - 1])
        out[col.name] = cast
    df = pl.DataFrame(out)
    extra = [c for c in raw.columns if c not in table.column_names]
    if extra:  # extra columns are kept and ignored
        df = df.hstack(raw.select(extra))
    if table.key:
        dup = ~df.select(pl.struct(list(table.key)).is_first_distinct()).to_series()
        if dup.any():  # name the second occurrence
            r = _first_row(dup)
            key = {k: df[k][r - 1] for k in table.key}
            same = pl.all_horizontal([pl.col(k) == key[k] for k in table.key])
            first = _first_row(df.select(same).to_series())
            raise SnapshotError(f"duplicate key ({', '.join(table.key)}), first seen in row {first}", file=f, row=r,
                                column=table.key[-1], value=key[table.key[0]] if len(table.key) == 1 else key)
    return df


def load_tables(directory: str | Path) -> tuple[dict, dict[str, pl.DataFrame], dict[str, Path]]:
    """Read meta.json and every table; check references and horizon. Returns (meta, tables, files)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SnapshotError("snapshot directory not found", file=str(directory))
    meta = read_meta(directory)
    tables: dict[str, pl.DataFrame] = {}
    files: dict[str, Path] = {}
    for name, table in TABLES.items():
        path = find_table_file(directory, name)
        if path is None:
            if table.required:
                raise SnapshotError("required table missing", file=str(directory / f"{name}.parquet"), hint=f"write {name}.parquet or {name}.csv")
            tables[name] = table.empty()
            continue
        files[name] = path
        tables[name] = load_table(path, table)
    last_day = meta["as_of"] + dt.timedelta(days=meta["horizon_days"] - 1)
    for name, table in TABLES.items():
        df = tables[name]
        if df.height == 0:
            continue
        f = str(files[name])
        for col in table.columns:
            if col.ref is None:
                continue
            ref_table, ref_col = col.ref
            known = tables[ref_table][ref_col]
            vals = df[col.name]
            bad = vals.is_not_null() & ~vals.is_in(known.implode())
            if bad.any():
                r = _first_row(bad)
                raise SnapshotError(f"unknown {ref_col} (not in {ref_table})", file=f, row=r, column=col.name, value=vals[r - 1])
        for c in table.in_horizon:
            late = (df[c] > last_day).fill_null(False)
            if late.any():
                r = _first_row(late)
                raise SnapshotError(
                    f"date outside the horizon (as_of {meta['as_of']}, last day {last_day})",
                    file=f, row=r, column=c, value=str(df[c][r - 1]),
                    hint="raise horizon_days in meta.json or drop the row",
                )
    return meta, tables, files
