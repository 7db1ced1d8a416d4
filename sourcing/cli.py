"""`promessa sourcing ...`: command line of the sourcing package.

    promessa sourcing solve INSTANCE [--time-limit S] [--workers N] [--json]
    promessa sourcing batch SNAPSHOT ORDERS [--parts N] [--executor inprocess|ray] [--greedy] [--json]

`solve` solves a generalised assignment instance (OR-Library GAP format) with the assignment
core; `batch` sources a batch of orders against a snapshot, as one problem or partitioned by
independent clusters of orders (`sourcing.partitioned`).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sourcing", help="sourcing: candidate nodes, node choice, assignment solver")
    ssub = p.add_subparsers(dest="sourcing_command", metavar="SUBCOMMAND")
    ssub.required = True

    s = ssub.add_parser("solve", help="solve an assignment (GAP) instance in OR-Library format with CP-SAT")
    s.add_argument("instance", metavar="INSTANCE", help="path to the instance file (`m n`, cost m x n, usage m x n, capacities m)")
    s.add_argument("--time-limit", type=float, default=20.0, metavar="S", help="solver time limit in seconds (default 20)")
    s.add_argument("--workers", type=int, default=2, metavar="N", help="CP-SAT workers (default 2)")
    s.add_argument("--no-hint", action="store_true", help="do not give CP-SAT the greedy answer as a hint")
    s.add_argument("--json", action="store_true", help="print the solution as JSON")
    s.set_defaults(func=_solve)

    b = ssub.add_parser("batch", help="source a batch of orders at once (CP-SAT) against a snapshot")
    b.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot directory")
    b.add_argument("orders", metavar="ORDERS", help="orders table (.parquet or .csv: order, line, item, qty, requested_date, zone, ...)")
    b.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N orders")
    b.add_argument("--time-limit", type=float, default=30.0, metavar="S", help="solver time limit in seconds (default 30)")
    b.add_argument("--workers", type=int, default=2, metavar="N", help="CP-SAT workers (default 2)")
    b.add_argument("--date-kind", choices=["arrival", "ship"], default="arrival", help="requested dates are arrival or ship dates")
    b.add_argument("--max-splits", type=int, default=None, metavar="N", help="most extra nodes per order")
    b.add_argument("--parts", type=int, default=1, metavar="N",
                   help="partitions the independent clusters of orders are packed into and solved apart (default 1: "
                        "the whole batch as one problem)")
    b.add_argument("--executor", choices=["inprocess", "ray"], default="inprocess",
                   help="where the partitions are solved (ray: one task per partition, needs promessa[scale])")
    b.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    b.add_argument("--greedy", action="store_true", help="the greedy answer only (no LP, no CP-SAT)")
    b.add_argument("--out", default="", metavar="FILE", help="write the assignments (.parquet or .csv)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=_batch)


def _solve(args: argparse.Namespace) -> int:
    from sourcing.assignment import AssignmentConfig, read_orlib_gap, solve

    inst = read_orlib_gap(args.instance)
    cfg = AssignmentConfig(time_limit_s=args.time_limit, workers=args.workers, hint=None if args.no_hint else "greedy")
    sol = solve(inst, cfg)
    if args.json:
        payload = sol.to_dict()
        payload["instance"] = args.instance
        payload["chosen"] = {str(k): v for k, v in sol.chosen().items()}
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"instance   {args.instance} ({inst.n_orders} orders, {inst.n_pools} pools, {inst.n_options} options)")
        print(f"status     {sol.status}")
        print(f"objective  {sol.objective:g}")
        print(f"bound      {sol.bound:g}")
        print(f"gap        {sol.gap:.4%}")
        print(f"time       {sol.solve_time_s:.3f} s (solver), {sol.wall_time_s:.3f} s (total)")
        if sol.hint_objective is not None:
            print(f"greedy     {sol.hint_objective:g}")
        chosen = sol.chosen()
        print("assignment " + " ".join(f"{k}->{v}" for k, v in chosen.items()))
    return 0 if sol.status in ("optimal", "feasible") else 1


def _batch(args: argparse.Namespace) -> int:
    import polars as pl

    from sourcing.batch import BatchConfig, solve_batch
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    orders = pl.read_parquet(args.orders) if args.orders.endswith(".parquet") else pl.read_csv(args.orders, try_parse_dates=True)
    if args.limit:
        ids = orders["order"].unique(maintain_order=True).head(args.limit)
        orders = orders.filter(pl.col("order").is_in(ids.implode()))
    cfg = BatchConfig(time_limit_s=args.time_limit, workers=args.workers, date_kind=args.date_kind, max_splits=args.max_splits)
    if args.parts > 1 or args.executor != "inprocess" or args.greedy:
        from sourcing.partitioned import solve_partitioned

        sol = solve_partitioned(snap, snap.new_state(), orders, cfg, method="greedy" if args.greedy else "solve",
                                executor=args.executor, parts=args.parts, ray_address=args.ray_address)
    else:
        sol = solve_batch(snap, snap.new_state(), orders, cfg)
    if args.out:
        (sol.assignments.write_parquet if args.out.endswith(".parquet") else sol.assignments.write_csv)(args.out)
    d = sol.to_dict()
    if args.json:
        json.dump(d, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for k, v in d.items():
            print(f"{k:<16} {v}")
    return 0
