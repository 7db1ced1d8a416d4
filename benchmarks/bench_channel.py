"""Channel revenue management: bulk accrual and monthly claims.

A synthetic network (``channel.testing.synthetic``): items spread over the suppliers, programs
of every sales kind (per-unit and percent allowances, retroactive monthly and incremental
quarterly volume rebates, ship-and-debits for named customers), and a year of shipped lines.
Timed, each beside a bare reference measured in the same run:

- ``channel.accrue``: ``accrue_frame`` over every line against every program (eligibility by
  item/category/brand, customers/segments, channels and dates; tiers; exact integer minor
  units) - the issue's target is at most 3 s for 1,000,000 lines against 1,000 programs;
  bare reference: one join of the lines to a flat rate per supplier and one multiplication;
- ``channel.claims_month``: ``claims_frame`` for one month (claim lines with their detail,
  headers per supplier) plus each supplier's CSV export - target at most 2 s for 100
  suppliers; bare reference: the month's amounts summed per supplier.

Before timing, ``accrue_frame`` and the claims are checked against the ``ChannelLedger``
(the journal path, one event at a time) on a slice of the lines.
"""

from __future__ import annotations

import datetime as dt
import time

import polars as pl

from benchmarks.harness import Result, median

#: size -> (lines, programs, suppliers)
SIZES = {"tiny": (20_000, 100, 10), "small": (100_000, 1000, 100), "medium": (300_000, 1000, 100),
         "full": (1_000_000, 1000, 100)}


def _check(lines: pl.DataFrame, programs, n: int) -> int:
    """The bulk path equals the ledger on the first ``n`` lines; so do January's claims. Returns the events checked."""
    from channel import ChannelLedger, accrue_frame, claims_frame
    from channel.testing import events_of

    part = lines.head(n)
    led = ChannelLedger()
    led.define_programs(programs)
    led.record(events_of(part))
    acc = accrue_frame(part, programs)
    got = {(r["shipment"], r["program"]): r["amount"] for r in acc.iter_rows(named=True)}
    want = {k: int(v * 100) for k, v in led.state.accrued.items()}
    assert got == want, "accrue_frame differs from the ledger"
    jan_end = dt.date(2026, 1, 31)
    heads, _ = claims_frame(acc, part, period_start=dt.date(2026, 1, 1), period_end=jan_end)
    vec = {r["supplier"]: r["total"] for r in heads.iter_rows(named=True)}
    ledger_claims = {}
    for sup in sorted({p.supplier for p in programs}):
        for c in led.create_claims(sup, period_start=dt.date(2026, 1, 1), period_end=jan_end, business_date=jan_end):
            ledger_claims[sup] = int(c.total * 100)
    assert vec == ledger_claims, "claims_frame differs from the ledger's claims"
    return part.height


def run(*, size: str = "small", seed: int = 7, repeats: int = 0) -> list[Result]:
    """Time bulk accrual and monthly claims at ``size`` (tiny, small, medium, full); returns the results."""
    from channel import accrue_frame, claims_frame
    from channel.testing import synthetic
    from channel.vector import claims_csv

    repeats = repeats or 3
    n_lines, n_programs, n_suppliers = SIZES[size]
    t0 = time.perf_counter()
    lines, programs = synthetic(lines=n_lines, programs=n_programs, suppliers=n_suppliers, seed=seed)
    gen_s = time.perf_counter() - t0
    checked = _check(lines, programs, min(3000, n_lines))

    t0 = time.perf_counter()
    acc = accrue_frame(lines, programs)
    first = time.perf_counter() - t0
    t_acc = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        acc = accrue_frame(lines, programs)
        t_acc.append(time.perf_counter() - t0)
    rates = pl.DataFrame({"supplier": sorted(lines["supplier"].unique().to_list())}).with_columns(
        pl.lit(125, pl.Int64).alias("rate_n"))
    t_bare = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare = lines.join(rates, on="supplier").select("shipment", ((pl.col("qty") * pl.col("rate_n") * 2 + 100) // 200).alias("amount"))
        t_bare.append(time.perf_counter() - t0)
    assert bare.height == lines.height

    month = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    t_cl, t_cl_bare = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        heads, cl = claims_frame(acc, lines, period_start=month[0], period_end=month[1])
        files = claims_csv(cl)
        t_cl.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bare_heads = (acc.filter(pl.col("posted").is_between(*month)).group_by("supplier").agg(pl.col("amount").sum()))
        t_cl_bare.append(time.perf_counter() - t0)
    assert heads["total"].sum() == bare_heads["amount"].sum() and len(files) == heads.height

    full = size == "full"
    params = {"lines": n_lines, "programs": n_programs, "suppliers": n_suppliers, "accruals": acc.height,
              "nonzero": int((acc["amount"] != 0).sum())}
    kinds = acc.group_by("kind").len().sort("kind")
    return [
        Result("channel.accrue", "median", median(t_acc), "s", "<= 3 s at 1,000,000 lines x 1,000 programs" if full else None,
               (median(t_acc) <= 3.0) if full else None, params, compile_s=max(0.0, first - median(t_acc)),
               notes=f"{median(t_acc) / median(t_bare):.1f}x the bare join+multiply ({median(t_bare):.3f} s) in the same run; "
                     + ", ".join(f"{k} {v:,}" for k, v in kinds.iter_rows())
                     + f"; checked against the ledger on {checked:,} lines; data generated in {gen_s:.1f} s"),
        Result("channel.accrue_bare", "median", median(t_bare), "s", None, None, params,
               notes="bare reference: lines joined to one flat rate per supplier, one integer multiplication"),
        Result("channel.claims_month", "median", median(t_cl), "s", f"<= 2 s for {n_suppliers} suppliers" if full else None,
               (median(t_cl) <= 2.0) if full else None, {**params, "claims": heads.height, "claim_lines": cl.height},
               notes=f"claim lines with detail, headers and one CSV per supplier for June; {median(t_cl) / median(t_cl_bare):.1f}x "
                     f"the bare month sum per supplier ({median(t_cl_bare):.3f} s)"),
        Result("channel.claims_bare", "median", median(t_cl_bare), "s", None, None, params,
               notes="bare reference: the month's accrual amounts summed per supplier"),
    ]


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(SIZES), default="tiny")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    for r in run(size=a.size, seed=a.seed, repeats=a.repeats):
        print(json.dumps({"case": r.case, "value": round(r.value, 4), "unit": r.unit, "target": r.target, "passed": r.passed,
                          "notes": r.notes}))
