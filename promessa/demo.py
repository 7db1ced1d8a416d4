"""`promessa demo`: the main job on the embedded default.

Generates a sample network (once), opens the SQLite order book, captures a stream of orders
through the same service the HTTP API uses (validate, promise, commit, durable write), and
prints what was promised, one promise explained, and the time-phased ATP of the busiest
item-location. Running it again replays the same orders by their idempotency keys: nothing
is promised twice.

The stream is captured in blocks (``--block``, default 100 orders; ``OrderCommands.capture_many``):
each order of a block is validated, promised and committed on its own, in stream order, with its
own idempotency key and answer; a block is queued whole to group commit (one transaction for
it, or for it and the block before) and its answers come only once it is durable. Two blocks are in flight, so one is written while the next
is promised. ``--block 1`` captures the orders one at a time from 32 threads instead, as many
clients would (group commit still writes them together).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import gc
import json
import sys
import time
from pathlib import Path


#: The kernel paths capture reaches (ATP, allocation, real-time sourcing with its quota curves), compiled
#: before capturing; capable-to-promise compiles on first use.
WARM = ("atp", "allocation", "sourcing")

#: the collector's youngest-generation threshold while capturing (CPython's default is 700: a young pass every 700
#: container objects allocated, each walking what is young and promoting what survives)
GC_GEN0 = 100_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="capture a sample order stream into the SQLite order book and show the promises")
    p.add_argument("--dir", default="var", help="working directory for the sample network and the order book")
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium", "full"])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--orders", type=int, default=2000, help="how many orders of the stream to capture")
    p.add_argument("--db", default=None, help="order book (SQLite path or postgresql:// URL); default DIR/orderbook.sqlite")
    p.add_argument("--block", type=int, default=100,
                   help="orders captured per block, one group-committed write each (1: one at a time from 32 threads)")
    p.set_defaults(func=run)


def _progress(done: int, total: int, t0: float) -> None:
    rate = done / max(time.perf_counter() - t0, 1e-9)
    width = 30
    fill = int(width * done / max(total, 1))
    print(f"\r  [{'#' * fill}{'.' * (width - fill)}] {done}/{total} orders  {rate:,.0f}/s", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from orderbook.schemas import LineCreate, OrderCreate
    from orderbook.service import Idem
    from promessa.app import Engine, start_warm_up, stderr_say
    from promessa.compiling import compile_seconds, loaded_kernels
    from promessa.config import settings_of
    from promising import atp_report
    from supplydata.generate import generate

    work = Path(args.dir)
    net = work / f"sample-{args.size}-{args.seed}"
    if not (net / "meta.json").exists():
        print(f"generating the {args.size} sample network (seed {args.seed}) in {net} ...", file=sys.stderr)
        counts = generate(net, seed=args.seed, size=args.size)
        print(f"  {counts['items']} items, {counts['item_locations']} item-locations, {counts['supply']} supply rows, "
              f"{counts['orders']} order lines", file=sys.stderr)
    db = args.db or str(work / "orderbook.sqlite")
    settings = settings_of(db=db, snapshot=net, demo=True, approval_value_threshold=None)
    # the warm-up's worker processes compile while the engine loads the snapshot and opens the order book
    engine = Engine.open(settings, say=stderr_say, warm=WARM, warm_start=start_warm_up(settings, WARM, say=stderr_say))
    collector = gc.get_threshold()
    try:
        svc, snap = engine.service, engine.snapshot
        print(f"ready in {engine.ready_s:.2f} s (kernels {engine.compile_s:.2f} s): snapshot as of {snap.as_of}, "
              f"{snap.horizon} days, {snap.n_il} item-locations")
        print(f"order book {db}: {len(svc.orders)} orders already there, commitments rebuilt from the journal")
        orders = pl.read_parquet(net / "orders.parquet")
        first = orders["order"].unique(maintain_order=True).head(args.orders)
        orders = orders.filter(pl.col("order").is_in(first.implode()))
        statuses: collections.Counter = collections.Counter()
        line_status: collections.Counter = collections.Counter()
        replayed = 0
        sample = None
        k0 = loaded_kernels()
        # what start-up built (the snapshot, the compiled kernels, the book replayed) is never walked again by the
        # collector, and its young passes come less often: the objects a capture keeps are few per order
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0, *collector[1:])
        t0 = time.perf_counter()
        c0 = compile_seconds()
        # the stream's rows in one pass, grouped by order in stream order (one row tuple per line)
        by_order: dict[str, list[tuple]] = {}
        for r in orders.select("order", "customer", "zone", "demand_class", "priority", "item", "qty",
                               "requested_date").iter_rows():
            by_order.setdefault(r[0], []).append(r)
        groups = list(by_order.values())

        def request(g):
            _o, customer, zone, demand_class, priority = g[0][:5]
            data = OrderCreate(customer=customer, zone=zone, demand_class=demand_class, priority=priority,
                               lines=[LineCreate(item=r[5], qty=r[6], requested_date=r[7]) for r in g])
            return data, Idem.of(f"demo-{g[0][0]}", data.model_dump_json())

        block = max(1, args.block)
        if block == 1:
            # many capture requests in flight, as from many clients: group commit writes them in few transactions
            # (each answer still waits for its own durable write)
            def capture(g):
                data, idem = request(g)
                return svc.capture(data, actor="demo", idem=idem)

            workers, answers = 32, None
        else:
            # blocks of orders, each captured in one hold of the lock and written in one group-committed transaction;
            # two in flight: one is written while the next is promised
            def capture_block(part):
                return svc.capture_many([request(g) for g in part], actor="demo")

            workers = 2
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            if block == 1:
                answers = pool.map(capture, groups)
            else:
                blocks = pool.map(capture_block, [groups[i:i + block] for i in range(0, len(groups), block)])
                answers = (a for part in blocks for a in part)
            for k, answer in enumerate(answers, start=1):
                if isinstance(answer, Exception):  # refused (validation, conflict) or not written: nothing changed
                    statuses[f"refused ({type(answer).__name__})"] += 1
                    continue
                code, text, was_replayed = answer
                replayed += was_replayed
                res = json.loads(text)
                if code != 201:
                    statuses[f"refused ({code})"] += 1
                    continue
                statuses[res["status"]] += 1
                for ln in res["lines"]:
                    line_status[(ln.get("promise") or {}).get("status", "none")] += 1
                    if sample is None and (ln.get("promise") or {}).get("status") in ("late", "partial"):
                        sample = ln
                if k % 100 == 0 or k == len(groups):
                    _progress(k, len(groups), t0)
        el = time.perf_counter() - t0
        comp = compile_seconds() - c0  # kernels first reached while capturing (numba compiles them once)
        print(file=sys.stderr)
        missed = sorted({name for name, _ in loaded_kernels() - k0})
        if missed:  # compiled (or loaded from the disk cache) during capture: a warm-up that fell short
            print(f"capture reached {len(missed)} kernels the warm-up did not: {', '.join(missed)}", file=sys.stderr)
        fresh = len(groups) - replayed
        if fresh:
            rate = f"{fresh / el:,.0f} orders/s" if comp < 0.05 else \
                f"{fresh / max(el - comp, 1e-9):,.0f} orders/s without the {comp:.1f} s spent compiling kernels"
            how = (f"in blocks of {block}, each block written together by group commit" if block > 1
                   else "one at a time from 32 threads, group-committed")
            print(f"captured {fresh} orders in {el:.2f} s ({rate}) {how}, each durable before it was acknowledged"
                  + (f"; {replayed} answered again from their idempotency keys" if replayed else ""))
        else:
            print(f"all {replayed} orders were captured by an earlier run: answered again from their idempotency keys, "
                  f"nothing promised twice (delete {db} to start afresh)")
        print("  orders by status: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
        print("  lines by promise: " + ", ".join(f"{k} {v}" for k, v in line_status.most_common()))
        if sample is not None:
            p = sample["promise"]
            print(f"\none promise explained (order line {sample.get('line')} of {sample.get('item')}):")
            print(f"  {p.get('message')}")
            for pg in p.get("pegs", [])[:6]:
                print(f"    pegged {pg['qty']:g} to {pg['kind']} {pg.get('ref') or ''} of {pg.get('supply_date')}")
        busiest = orders.group_by("item").agg(pl.col("qty").sum()).sort("qty", descending=True)["item"][0]
        loc = next((snap.location_ids[snap.il_loc[il]] for il in range(snap.n_il)
                    if snap.item_ids[snap.il_item[il]] == busiest and snap.location_ids[snap.il_loc[il]].startswith("DC")), None)
        if loc is not None:
            rep = atp_report(snap, svc.state, busiest, loc).head(21)
            rep = rep.filter((pl.col("supply") != 0) | (pl.col("demand") != 0) | (pl.col("committed") != 0) | (pl.col("bucket") == 0))
            print(f"\ntime-phased ATP of the busiest item, {busiest} at {loc}, first three weeks:")
            print(f"  {'date':>10} {'supply':>8} {'demand':>8} {'committed':>9} {'cumulative':>10} {'available':>9}")
            for r in rep.iter_rows(named=True):
                avail = "inf" if r["available"] is None else f"{r['available']:g}"
                print(f"  {r['date']!s:>10} {r['supply']:>8g} {r['demand']:>8g} {r['committed']:>9g} {r['cumulative']:>10g} {avail:>9}")
        print(f"\nnext: promessa serve --snapshot {net} --db {db} --demo   (OpenAPI at http://127.0.0.1:8000/docs)")
    finally:
        gc.set_threshold(*collector)
        gc.unfreeze()
        engine.close()
    return 0
