"""`promessa generate` and `promessa snapshot`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from supplydata.generate import DEFAULT_AS_OF, SIZES

    p = sub.add_parser("generate", help="write a synthetic network and order stream (seeded)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--size", default="small", choices=list(SIZES), help="preset (full = 100,000 item-locations x 365 days, 1,000,000 order lines)")
    for name in ("items", "dcs", "stores", "plants", "zones", "days", "order-lines"):
        p.add_argument(f"--{name}", type=int, default=None, help=f"override the preset's {name.replace('-', ' ')}")
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=DEFAULT_AS_OF, help="snapshot date (YYYY-MM-DD)")
    p.add_argument("--format", dest="fmt", default="parquet", choices=["parquet", "csv"])
    p.set_defaults(func=_generate)

    s = sub.add_parser("snapshot", help="load and check a snapshot directory, print its status")
    s.add_argument("snapshot", help="snapshot directory")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_snapshot)


def _generate(args: argparse.Namespace) -> int:
    from supplydata.generate import generate

    counts = generate(
        args.out, seed=args.seed, size=args.size, items=args.items, dcs=args.dcs, stores=args.stores,
        plants=args.plants, zones=args.zones, days=args.days, order_lines=args.order_lines, as_of=args.as_of,
        fmt=args.fmt, progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
    )
    print(json.dumps({"out": args.out, **counts}, indent=2))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    st = snap.status()
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        print(f"snapshot {st['source']}: as of {st['as_of']}, {st['horizon_days']} days, "
              f"{st['item_locations']} item-locations, loaded in {st['load_seconds']:.3f} s")
        for k, v in st["rows"].items():
            print(f"  {k:<15} {v:>10} rows")
    return 0
