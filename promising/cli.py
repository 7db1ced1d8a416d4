"""`promessa promise` and `promessa atp`."""

from __future__ import annotations

import argparse
import datetime as dt
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promise", help="promise one line against a snapshot (nothing is committed)")
    p.add_argument("--snapshot", required=True, help="snapshot directory")
    p.add_argument("--item", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--qty", required=True, type=float)
    p.add_argument("--date", required=True, type=dt.date.fromisoformat, help="requested date YYYY-MM-DD")
    p.add_argument("--demand-class", default=None)
    p.add_argument("--no-partial", action="store_true", help="all or nothing")
    p.add_argument("--split", action="store_true", help="allow several schedule lines")
    p.add_argument("--max-late-days", type=int, default=None)
    p.add_argument("--max-lines", type=int, default=4)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_promise)

    a = sub.add_parser("atp", help="time-phased ATP table of an item at a location")
    a.add_argument("--snapshot", required=True, help="snapshot directory")
    a.add_argument("--item", required=True)
    a.add_argument("--location", required=True)
    a.add_argument("--days", type=int, default=30, help="rows to show from as_of (0: whole horizon)")
    a.add_argument("--all", action="store_true", help="show every bucket, not only those with activity")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_atp)


def _promise(args: argparse.Namespace) -> int:
    from promising import Policy, Request, promise
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    state = snap.new_state()
    pol = Policy(allow_partial=not args.no_partial, allow_split=args.split, max_late_days=args.max_late_days,
                 max_lines=args.max_lines)
    p = promise(snap, state, Request(args.item, args.location, args.qty, args.date, pol, args.demand_class))
    if args.json:
        print(json.dumps(p.to_dict(), indent=2))
        return 0
    print(p.message)
    print(f"status: {p.status.name.lower()}   reason: {p.reason.name.lower()} ({p.reason.description})")
    for i, ln in enumerate(p.lines):
        print(f"  schedule line {i + 1}: {ln.qty:>10g} on {ln.date}")
    for pg in p.pegs:
        src = f"{pg.kind} {pg.ref or ''} of {pg.supply_date}" if pg.supply_date else "replenishment after the lead time"
        print(f"    line {pg.line + 1} pegged: {pg.qty:>8g} from {src}")
    for k, v in (p.details or {}).items():
        print(f"  {k}: {v}")
    return 0


def _atp(args: argparse.Namespace) -> int:
    import polars as pl

    from promising import atp_report
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    df = atp_report(snap, snap.new_state(), args.item, args.location)
    if args.days:
        df = df.head(args.days)
    if not args.all:
        df = df.filter((pl.col("supply") != 0) | (pl.col("demand") != 0) | (pl.col("committed") != 0) | (pl.col("bucket") == 0))
    if args.json:
        print(json.dumps(df.with_columns(pl.col("date").cast(pl.String)).to_dicts(), indent=2))
        return 0
    cols = ("date", "supply", "demand", "committed", "cumulative", "available", "discrete_atp")
    print(f"{args.item} at {args.location}, as of {snap.as_of}")
    print("  ".join(f"{c:>12}" for c in cols))
    for row in df.iter_rows(named=True):
        vals = [str(row["date"])] + [("inf" if row[c] is None else f"{row[c]:g}") for c in cols[1:]]
        print("  ".join(f"{v:>12}" for v in vals))
    return 0
