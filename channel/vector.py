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
    """Programs as frames: attributes, product selectors, buyer/channel selectors, tiers."""
    attrs, sel, who, tiers = [], [], [], []
    for p in programs:
        if p.kind is ProgramKind.PRICE_PROTECTION:
            continue
        mu = minor_unit(p.currency)
        pct = p.rate_kind == "percent"
        # per unit: rate (major) -> minor x 10^SCALE; percent: rate x 10^SCALE, divided by 100 x 10^SCALE
        rd = SCALE if pct else mu + SCALE
        a = {"program": p.program, "kind": p.kind.value, "pcurrency": p.currency, "valid_from": p.valid_from,
             "valid_to": p.valid_to, "pct": pct, "period_kind": p.period, "incremental": p.tier_mode == "incremental",
             "rate_n": None, "special": None, "agreed": None, "den": 10 ** SCALE * (100 if pct else 1),
             "buyers": bool(p.customers or p.segments), "channels_only": bool(p.channels)}
        if p.kind is ProgramKind.ALLOWANCE:
            a["rate_n"] = _scaled(p.rate, rd, f"program[{p.program}].rate")  # type: ignore[arg-type]
        elif p.kind is ProgramKind.SHIP_AND_DEBIT:
            a["special"] = _scaled(p.special_cost.amount, mu, f"program[{p.program}].special_cost")  # type: ignore[union-attr]
            a["agreed"] = None if p.agreed_price is None else _scaled(p.agreed_price.amount, mu, f"program[{p.program}].agreed_price")
            a["den"] = 1
        else:
            for k, t in enumerate(p.tiers):
                tiers.append({"program": p.program, "t_from": _scaled(t.from_qty, 0, f"program[{p.program}].tiers[{k}].from"),
                              "t_to": None if t.to_qty is None else _scaled(t.to_qty, 0, f"program[{p.program}].tiers[{k}].to"),
                              "t_rate": _scaled(t.rate, rd, f"program[{p.program}].tiers[{k}].rate")})
        attrs.append(a)
        dims = (("item", p.items), ("category", p.categories), ("brand", p.brands))
        if not any(v for _, v in dims):
            sel.append({"program": p.program, "supplier": p.supplier, "dim": "all", "key": ""})
        for dim, vals in dims:
            sel += [{"program": p.program, "supplier": p.supplier, "dim": dim, "key": v} for v in sorted(vals)]
        who += [{"program": p.program, "wdim": "customer", "who": v} for v in sorted(p.customers)]
        who += [{"program": p.program, "wdim": "segment", "who": v} for v in sorted(p.segments)]
        who += [{"program": p.program, "wdim": "channel", "who": v} for v in sorted(p.channels)]
    attr_schema = {"program": pl.String, "kind": pl.String, "pcurrency": pl.String, "valid_from": pl.Date,
                   "valid_to": pl.Date, "pct": pl.Boolean, "period_kind": pl.String, "incremental": pl.Boolean,
                   "rate_n": pl.Int64, "special": pl.Int64, "agreed": pl.Int64, "den": pl.Int64, "buyers": pl.Boolean,
                   "channels_only": pl.Boolean}
    return (pl.DataFrame(attrs, schema=attr_schema, orient="row"),
            pl.DataFrame(sel, schema={"program": pl.String, "supplier": pl.String, "dim": pl.String, "key": pl.String},
                         orient="row"),
            pl.DataFrame(who, schema={"program": pl.String, "wdim": pl.String, "who": pl.String}, orient="row"),
            pl.DataFrame(tiers, schema={"program": pl.String, "t_from": pl.Int64, "t_to": pl.Int64, "t_rate": pl.Int64},
                         orient="row"))


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
        s = sel.filter(pl.col("dim") == dim).select("program", "supplier", pl.col("key").alias(dim))
        parts.append(key.join(s, on=["supplier", dim], how="inner").select("row", "program"))
    s_all = sel.filter(pl.col("dim") == "all").select("program", "supplier")
    parts.append(key.join(s_all, on="supplier", how="inner").select("row", "program"))
    cand = pl.concat(parts).unique(["row", "program"])
    cand = (cand.join(lines, on="row").join(attrs, on="program")
            .filter((pl.col("currency") == pl.col("pcurrency")) & (pl.col("ship_date") >= pl.col("valid_from"))
                    & (pl.col("ship_date") <= pl.col("valid_to"))))
    # buyers: a named customer or segment; channels
    for wdim, col in (("customer", "customer"), ("segment", "segment"), ("channel", "channel")):
        w = who.filter(pl.col("wdim") == wdim).select("program", pl.col("who").alias(col)).with_columns(pl.lit(True).alias(f"m_{wdim}"))
        cand = cand.join(w, on=["program", col], how="left")
    cand = cand.filter((~pl.col("buyers") | pl.col("m_customer").is_not_null() | pl.col("m_segment").is_not_null())
                       & (~pl.col("channels_only") | pl.col("m_channel").is_not_null()))
    cand = cand.filter((pl.col("kind") != ProgramKind.SHIP_AND_DEBIT.value)
                       | ((pl.col("unit_cost") > pl.col("special"))
                          & (pl.col("agreed").is_null() | (pl.col("unit_price") <= pl.col("agreed")))))
    month = pl.col("ship_date").dt.strftime("%Y-%m")
    cand = cand.with_columns(
        pl.when(pl.col("kind") != ProgramKind.VOLUME_REBATE.value).then(month)
        .when(pl.col("period_kind") == "month").then(month)
        .when(pl.col("period_kind") == "quarter")
        .then(pl.col("ship_date").dt.year().cast(pl.String) + "-Q" + pl.col("ship_date").dt.quarter().cast(pl.String))
        .when(pl.col("period_kind") == "year").then(pl.col("ship_date").dt.year().cast(pl.String))
        .otherwise(pl.lit("program")).alias("period"))
    ub = pl.when(pl.col("pct")).then(pl.col("unit_price")).otherwise(1)
    flat = cand.filter(pl.col("kind") != ProgramKind.VOLUME_REBATE.value).with_columns(
        pl.when(pl.col("kind") == ProgramKind.SHIP_AND_DEBIT.value)
        .then(pl.col("qty") * (pl.col("unit_cost") - pl.col("special")))
        .otherwise(pl.col("qty") * ub * pl.col("rate_n")).alias("num"))
    reb = (cand.filter(pl.col("kind") == ProgramKind.VOLUME_REBATE.value).sort("program", "row")
           .with_columns(pl.col("qty").cum_sum().over(["program", "period"]).alias("c_end"),
                         pl.col("qty").sum().over(["program", "period"]).alias("c_total")))
    retro = reb.filter(~pl.col("incremental"))
    if retro.height:
        groups = retro.select("program", "c_total").unique().sort("c_total")
        rates = groups.join_asof(tiers.sort("t_from").select("program", "t_from", "t_rate"), left_on="c_total", right_on="t_from",
                                 by="program", strategy="backward", check_sortedness=False).select("program", "c_total", pl.col("t_rate").fill_null(0))
        retro = retro.join(rates, on=["program", "c_total"]).with_columns((pl.col("qty") * ub * pl.col("t_rate")).alias("num"))
    else:
        retro = retro.with_columns(pl.lit(0, pl.Int64).alias("num"))
    inc = reb.filter(pl.col("incremental")).with_columns((pl.col("c_end") - pl.col("qty")).alias("c_start"))
    if inc.height:
        ov = (pl.min_horizontal(pl.col("c_end"), pl.col("t_to").fill_null(pl.col("c_end")))
              - pl.max_horizontal(pl.col("c_start"), pl.col("t_from"))).clip(lower_bound=0)
        units = (inc.select("row", "program", "c_start", "c_end").join(tiers, on="program")
                 .group_by("row", "program").agg((ov * pl.col("t_rate")).sum().alias("u")))
        inc = inc.join(units, on=["row", "program"], how="left").with_columns((ub * pl.col("u").fill_null(0)).alias("num"))
    else:
        inc = inc.with_columns(pl.lit(0, pl.Int64).alias("num"))
    cols = ["row", "shipment", "program", "supplier", "kind", "period", pl.col("ship_date").alias("posted"), "currency",
            _round_div(pl.col("num"), pl.col("den")).alias("amount")]
    return pl.concat([f.select(cols) for f in (flat, retro, inc)]).sort("row", "program")


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
