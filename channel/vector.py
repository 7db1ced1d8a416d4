"""Accrual and claim generation in bulk: polars joins and integer minor units (exact, no floats).

``accrue_frame`` takes a batch of shipped lines as a frame (``LINES_SCHEMA``; amounts as
integer minor units, quantities as whole units, rows in journal order) and the programs, and
returns one row per (shipment, program) that the sale is eligible for, with what it has
earned once the batch is in: the same figure as the sum of the ``ChannelLedger``'s records
for that pair (tests hold the two equal). Price protection works on stock counts and is left
to the ledger.

Rates are turned into integers once (``rate x 10^(minor unit + 6)``, so up to 6 decimals
beyond the minor unit); an amount is ``round_half_up(N / D)`` with integer ``N`` and ``D``.
Rates with more digits, or products that could overflow int64, are refused with the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import polars as pl

from channel.programs import Program, ProgramKind
from promessa.errors import ValidationError
from promessa.money import minor_unit

#: The columns ``accrue_frame`` needs, with their types (amounts in minor units of ``currency``).
LINES_SCHEMA: dict[str, pl.DataType] = {
    "shipment": pl.String, "order": pl.String, "line": pl.Int64, "item": pl.String, "category": pl.String,
    "brand": pl.String, "customer": pl.String, "segment": pl.String, "channel": pl.String, "qty": pl.Int64,
    "unit_price": pl.Int64, "unit_cost": pl.Int64, "currency": pl.String, "ship_date": pl.Date, "supplier": pl.String,
}
SCALE = 6
_LIMIT = 2 ** 62


def _scaled(rate: Decimal, digits: int, field: str) -> int:
    v = rate.scaleb(digits)
    if v != v.to_integral_value():
        raise ValidationError(f"has more than {digits} decimals for bulk accrual", field=field, value=str(rate),
                              hint="round the rate or accrue through ChannelLedger")
    return int(v)


def _frames(programs: Sequence[Program]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Programs as frames keyed by ``pidx`` (position; ``attrs`` has one row per program, in order): attributes,
    product selectors, buyer/channel selectors, tiers."""
    attrs, sel, who, tiers = [], [], [], []
    for i, p in enumerate(programs):
        mu = minor_unit(p.currency)
        pct = p.rate_kind == "percent"
        # per unit: rate (major) -> minor x 10^SCALE; percent: rate x 10^SCALE, divided by 100 x 10^SCALE
        rd = SCALE if pct else mu + SCALE
        a = {"pidx": i, "program": p.program, "kind": p.kind.value, "pcurrency": p.currency, "valid_from": p.valid_from,
             "valid_to": p.valid_to, "pct": pct, "period_kind": PERIOD_CODES[p.period] if p.kind is ProgramKind.VOLUME_REBATE else 0,
             "incremental": p.tier_mode == "incremental", "rate_n": None, "special": None, "agreed": None,
             "den": 10 ** SCALE * (100 if pct else 1), "restricted": bool(p.customers or p.segments or p.channels)}
        if p.kind is ProgramKind.ALLOWANCE:
            a["rate_n"] = _scaled(p.rate, rd, f"program[{p.program}].rate")  # type: ignore[arg-type]
        elif p.kind is ProgramKind.SHIP_AND_DEBIT:
            a["special"] = _scaled(p.special_cost.amount, mu, f"program[{p.program}].special_cost")  # type: ignore[union-attr]
            a["agreed"] = None if p.agreed_price is None else _scaled(p.agreed_price.amount, mu, f"program[{p.program}].agreed_price")
            a["den"] = 1
        elif p.kind is ProgramKind.VOLUME_REBATE:
            for k, t in enumerate(p.tiers):
                tiers.append({"pidx": i, "t_from": _scaled(t.from_qty, 0, f"program[{p.program}].tiers[{k}].from"),
                              "t_to": None if t.to_qty is None else _scaled(t.to_qty, 0, f"program[{p.program}].tiers[{k}].to"),
                              "t_rate": _scaled(t.rate, rd, f"program[{p.program}].tiers[{k}].rate")})
        attrs.append(a)
        if p.kind is ProgramKind.PRICE_PROTECTION:  # stock counts, not sales: no selector, never a candidate
            continue
        dims = (("item", p.items), ("category", p.categories), ("brand", p.brands))
        if not any(v for _, v in dims):
            sel.append({"pidx": i, "supplier": p.supplier, "dim": "all", "key": ""})
        for dim, vals in dims:
            sel += [{"pidx": i, "supplier": p.supplier, "dim": dim, "key": v} for v in sorted(vals)]
        if p.customers or p.segments:
            who += [{"pidx": i, "wdim": "customer", "who": v} for v in sorted(p.customers)]
            who += [{"pidx": i, "wdim": "segment", "who": v} for v in sorted(p.segments)]
        else:
            who.append({"pidx": i, "wdim": "anyone", "who": ""})
        who += [{"pidx": i, "wdim": "channel", "who": v} for v in sorted(p.channels)] or [{"pidx": i, "wdim": "anychannel", "who": ""}]
    attr_schema = {"pidx": pl.Int32, "program": pl.String, "kind": pl.String, "pcurrency": pl.String, "valid_from": pl.Date,
                   "valid_to": pl.Date, "pct": pl.Boolean, "period_kind": pl.Int8, "incremental": pl.Boolean,
                   "rate_n": pl.Int64, "special": pl.Int64, "agreed": pl.Int64, "den": pl.Int64, "restricted": pl.Boolean}
    return (pl.DataFrame(attrs, schema=attr_schema, orient="row"),
            pl.DataFrame(sel, schema={"pidx": pl.Int32, "supplier": pl.String, "dim": pl.String, "key": pl.String},
                         orient="row"),
            pl.DataFrame(who, schema={"pidx": pl.Int32, "wdim": pl.String, "who": pl.String}, orient="row"),
            pl.DataFrame(tiers, schema={"pidx": pl.Int32, "t_from": pl.Int64, "t_to": pl.Int64, "t_rate": pl.Int64},
                         orient="row"))


#: Rebate periods as small integer codes (0: not a rebate, periods are calendar months of the ship date).
PERIOD_CODES = {"month": 1, "quarter": 2, "year": 3, "program": 4}


def _round_div(n: pl.Expr, d: pl.Expr) -> pl.Expr:
    """round_half_up(n / d) for n >= 0, d > 0, in integers."""
    return (2 * n + d) // (2 * d)


def accrue_frame(lines: pl.DataFrame, programs: Sequence[Program]) -> pl.DataFrame:
    """Accrue a batch of shipped lines (``LINES_SCHEMA``, rows in journal order) against the programs.

    Returns one row per eligible (shipment, program): ``row`` (the line's position), shipment, program, supplier,
    kind, period, posted (ship date), currency and ``amount`` in integer minor units - for volume rebates the
    line's share once the whole batch is in (retroactive: the rate of the tier the period reached; incremental:
    the tiers its units fall in, in row order). Rows whose amount is 0 (a rebate below its first tier) are kept.
    """
    missing = [c for c in LINES_SCHEMA if c not in lines.columns]
    if missing:
        raise ValidationError("missing column", field="lines", value=missing[0], hint="columns: " + ", ".join(LINES_SCHEMA))
    lines = lines.select([pl.col(c).cast(t, strict=True) for c, t in LINES_SCHEMA.items()]).with_row_index("row")
    lines = lines.with_columns(pl.col("category", "brand", "segment", "channel").fill_null(""))
    nulls = {c: n for c, n in lines.null_count().row(0, named=True).items() if n}
    if nulls:
        c = next(iter(nulls))
        raise ValidationError(f"{nulls[c]} empty values (first at row {int(lines['row'].filter(lines[c].is_null())[0])})",
                              field=c, value=None)
    if lines.height and int(lines["qty"].min()) <= 0:  # type: ignore[arg-type]
        raise ValidationError("must be positive", field="qty", value=int(lines["qty"].min()))  # type: ignore[arg-type]
    attrs, sel, who, tiers = _frames(programs)
    if lines.height:
        big = max(int(lines["qty"].max()) * max(int(lines["unit_price"].abs().max()), 1), 1)  # type: ignore[arg-type]
        top = max([int(x) for x in attrs["rate_n"].drop_nulls().to_list()] + [int(x) for x in tiers["t_rate"].to_list()] + [1])
        if big * top * 2 >= _LIMIT:
            raise ValidationError("qty x unit_price x rate could overflow int64", field="lines", value=big,
                                  hint="accrue through ChannelLedger")
    key = lines.select("row", "supplier", "item", "category", "brand")
    parts = []
    for dim in ("item", "category", "brand"):
        s = sel.filter(pl.col("dim") == dim).select("pidx", "supplier", pl.col("key").alias(dim))
        parts.append(key.join(s, on=["supplier", dim], how="inner").select("row", "pidx"))
    s_all = sel.filter(pl.col("dim") == "all").select("pidx", "supplier")
    parts.append(key.join(s_all, on="supplier", how="inner").select("row", "pidx"))
    cand = pl.concat(parts)
    multi = sel.filter(pl.col("dim") != "all").group_by("pidx").agg(pl.col("dim").n_unique()).filter(pl.col("dim") > 1)
    if multi.height:  # a line matched by two selectors (say its item and its brand) of one program accrues once
        cand = pl.concat([cand.filter(~pl.col("pidx").is_in(multi["pidx"].implode())),
                          cand.filter(pl.col("pidx").is_in(multi["pidx"].implode())).unique(["row", "pidx"])])

    def take(frame: pl.DataFrame, idx: pl.Series, cols: Sequence[str]) -> pl.DataFrame:
        # row and pidx are positions: a gather, not a join
        return frame.select([pl.col(c).gather(idx) for c in cols])

    cand = pl.concat([cand, take(lines, cand["row"], ["qty", "unit_price", "unit_cost", "currency", "ship_date"]),
                      take(attrs, cand["pidx"], ["pcurrency", "valid_from", "valid_to", "restricted"])], how="horizontal")
    cand = cand.filter((pl.col("currency") == pl.col("pcurrency")) & (pl.col("ship_date") >= pl.col("valid_from"))
                       & (pl.col("ship_date") <= pl.col("valid_to"))).drop("currency", "pcurrency", "valid_from", "valid_to")
    # buyers (a named customer or segment) and channels, only for the programs that restrict them
    free = cand.filter(~pl.col("restricted"))
    res = cand.filter(pl.col("restricted"))
    res = pl.concat([res, take(lines, res["row"], ["customer", "segment", "channel"])], how="horizontal")
    buyers = pl.concat([
        res.join(who.filter(pl.col("wdim") == "customer").select("pidx", pl.col("who").alias("customer")),
                 on=["pidx", "customer"], how="semi"),
        res.join(who.filter(pl.col("wdim") == "segment").select("pidx", pl.col("who").alias("segment")),
                 on=["pidx", "segment"], how="semi"),
        res.join(who.filter(pl.col("wdim") == "anyone").select("pidx"), on="pidx", how="semi"),
    ]).unique(["row", "pidx"])
    ok = pl.concat([
        buyers.join(who.filter(pl.col("wdim") == "channel").select("pidx", pl.col("who").alias("channel")),
                    on=["pidx", "channel"], how="semi"),
        buyers.join(who.filter(pl.col("wdim") == "anychannel").select("pidx"), on="pidx", how="semi"),
    ]).drop("customer", "segment", "channel")
    cand = pl.concat([free, ok])
    cand = pl.concat([cand, take(attrs, cand["pidx"], ["kind", "pct", "period_kind", "incremental", "rate_n", "special",
                                                       "agreed", "den"])], how="horizontal")
    cand = cand.filter((pl.col("kind") != ProgramKind.SHIP_AND_DEBIT.value)
                       | ((pl.col("unit_cost") > pl.col("special"))
                          & (pl.col("agreed").is_null() | (pl.col("unit_price") <= pl.col("agreed")))))
    y, m = pl.col("ship_date").dt.year().cast(pl.Int32), pl.col("ship_date").dt.month().cast(pl.Int32)
    cand = cand.with_columns(
        pl.when(pl.col("period_kind") <= 1).then(y * 100 + m)
        .when(pl.col("period_kind") == 2).then(y * 100 + (m - 1) // 3 + 1)
        .when(pl.col("period_kind") == 3).then(y * 100)
        .otherwise(pl.lit(0, pl.Int32)).alias("pcode"))
    ub = pl.when(pl.col("pct")).then(pl.col("unit_price")).otherwise(1)
    flat = cand.filter(pl.col("kind") != ProgramKind.VOLUME_REBATE.value).with_columns(
        pl.when(pl.col("kind") == ProgramKind.SHIP_AND_DEBIT.value)
        .then(pl.col("qty") * (pl.col("unit_cost") - pl.col("special")))
        .otherwise(pl.col("qty") * ub * pl.col("rate_n")).alias("num"))
    reb = (cand.filter(pl.col("kind") == ProgramKind.VOLUME_REBATE.value).sort("pidx", "row")
           .with_columns(pl.col("qty").cum_sum().over(["pidx", "pcode"]).alias("c_end"),
                         pl.col("qty").sum().over(["pidx", "pcode"]).alias("c_total")))
    # tiers side by side per program (k = 0..K-1), gathered onto the rebate rows
    n_k = int(tiers.group_by("pidx").len()["len"].max() or 0) if tiers.height else 0
    wide = pl.DataFrame({"pidx": range(attrs.height)}, schema={"pidx": pl.Int32})
    tk = tiers.with_columns(pl.int_range(pl.len()).over("pidx").alias("k"))
    for k in range(n_k):
        wide = wide.join(tk.filter(pl.col("k") == k).select("pidx", pl.col("t_from").alias(f"f{k}"), pl.col("t_to").alias(f"t{k}"),
                                                             pl.col("t_rate").alias(f"r{k}")), on="pidx", how="left",
                         maintain_order="left")
    reb = pl.concat([reb, take(wide, reb["pidx"], [c for c in wide.columns if c != "pidx"])], how="horizontal")
    start = pl.col("c_end") - pl.col("qty")
    retro_rate = pl.coalesce([pl.when(pl.col("c_total") >= pl.col(f"f{k}")).then(pl.col(f"r{k}")) for k in reversed(range(n_k))]
                             + [pl.lit(0, pl.Int64)])
    inc_units = pl.sum_horizontal([
        ((pl.min_horizontal(pl.col("c_end"), pl.col(f"t{k}").fill_null(pl.col("c_end"))) - pl.max_horizontal(start, pl.col(f"f{k}")))
         .clip(lower_bound=0) * pl.col(f"r{k}")).fill_null(0) for k in range(n_k)] + [pl.lit(0, pl.Int64)])
    reb = reb.with_columns((ub * pl.when(pl.col("incremental")).then(inc_units).otherwise(pl.col("qty") * retro_rate)).alias("num"))
    cols = ["row", "pidx", "pcode", "period_kind", _round_div(pl.col("num"), pl.col("den")).alias("amount")]
    out = pl.concat([flat.select(cols), reb.select(cols)]).sort("row", "pidx")
    out = pl.concat([out, take(attrs, out["pidx"], ["program", "kind"]),
                     take(lines, out["row"], ["shipment", "supplier", "ship_date", "currency"])], how="horizontal")
    # period labels: a small table of the distinct (kind, code) pairs, not one string per row
    labels = out.select("period_kind", "pcode").unique().with_columns(
        pl.when(pl.col("period_kind") <= 1)
        .then(pl.format("{}-{}", pl.col("pcode") // 100, (pl.col("pcode") % 100).cast(pl.String).str.zfill(2)))
        .when(pl.col("period_kind") == 2).then(pl.format("{}-Q{}", pl.col("pcode") // 100, pl.col("pcode") % 100))
        .when(pl.col("period_kind") == 3).then((pl.col("pcode") // 100).cast(pl.String))
        .otherwise(pl.lit("program")).alias("period"))
    out = out.join(labels, on=["period_kind", "pcode"], how="left", maintain_order="left")
    return out.select("row", "shipment", "program", "supplier", "kind", "period", pl.col("ship_date").alias("posted"), "currency",
                      "amount")

def claims_frame(accruals: pl.DataFrame, lines: pl.DataFrame, *, period_start: dt.date, period_end: dt.date,
                 detail: Sequence[str] = ("order", "line", "item", "customer", "qty", "ship_date")
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Claims of every supplier for accruals posted in ``period_start..period_end`` (non-zero amounts).

    ``accruals`` is ``accrue_frame``'s output, ``lines`` the frame it was computed from. Returns (headers, lines):
    headers per supplier and currency (lines, total in minor units), and the claim lines with the ``detail``
    columns of their shipped line, sorted by supplier, program and row.
    """
    acc = accruals.filter(pl.col("posted").is_between(period_start, period_end) & (pl.col("amount") != 0))
    det = lines.with_row_index("row").select("row", *[c for c in detail if c not in ("shipment",)])
    cl = (acc.join(det, on="row", how="left").sort("supplier", "program", "row")
          .select("supplier", "currency", "program", "kind", "period", "shipment", *[c for c in detail if c != "shipment"],
                  "amount"))
    heads = (cl.group_by("supplier", "currency").agg(pl.len().alias("lines"), pl.col("amount").sum().alias("total"))
             .with_columns(pl.lit(period_start).alias("period_start"), pl.lit(period_end).alias("period_end"))
             .sort("supplier", "currency"))
    return heads, cl


def claims_csv(claim_lines: pl.DataFrame) -> dict[tuple[str, str], str]:
    """Each supplier's claim lines (``claims_frame``'s second frame) as CSV text, keyed by (supplier, currency)."""
    out = {}
    for k, part in claim_lines.partition_by("supplier", "currency", as_dict=True, maintain_order=True).items():
        out[(str(k[0]), str(k[1]))] = part.write_csv()
    return out
