"""`promessa bench`: run benchmark modules and regenerate BENCHMARKS.md."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the benchmark suite and regenerate BENCHMARKS.md")
    p.add_argument("--only", default="", help="comma-separated areas (default: every area that has a module)")
    p.add_argument("--size", default="small", choices=["small", "medium", "full"], help="problem size; `full` is the issues' target size")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeats", type=int, default=0, help="timed repeats per case (0: the module's default)")
    p.add_argument("--publish", action="store_true",
                   help="write benchmarks/results/*.json and BENCHMARKS.md (the published figures); default: var/bench/")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from benchmarks import harness

    areas = [a for a in args.only.split(",") if a] or list(harness.AREAS)
    failed = 0
    if args.publish:
        results_dir, md = harness.RESULTS_DIR, harness.ROOT / "BENCHMARKS.md"
    else:
        results_dir, md = harness.LOCAL_DIR / "results", harness.LOCAL_DIR / "BENCHMARKS.md"
    for area in areas:
        print(f"== {area} (size {args.size}) ...", flush=True)
        payload = harness.run_area(area, size=args.size, seed=args.seed, repeats=args.repeats, results_dir=results_dir)
        for r in payload["results"]:
            mark = {True: "ok ", False: "MISS", None: "   "}[r["passed"]]
            print(f"  [{mark}] {r['case']:<44} {r['metric']:<12} {r['value']:>14.4g} {r['unit']:<8} {r['target'] or ''}")
            failed += r["passed"] is False
    path = harness.write_markdown(md, results_dir=results_dir)
    print(f"wrote {path}")
    return 0
