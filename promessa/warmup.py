"""`promessa warm-up`: compile the kernels ahead of the first request, and say how long it took.

numba keeps what it compiles in its on-disk cache (``cache=True`` on every kernel), so this is
paid once per install: the README's first command runs it, and later commands start at speed.
With a cold cache and more than one core, the kernel paths (ATP, allocation, capable-to-promise,
real-time sourcing and its quota curves) compile in parallel worker processes
(``python -m promessa.warmup --worker``), each leaving its kernels in the on-disk cache
(``promessa.app.warm_up``; the demo starts them before it opens the engine, ``promessa.app.start_warm_up``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warm-up", help="compile the promising kernels once (numba's on-disk cache) and report the time")
    p.add_argument("--snapshot", default=None, help="snapshot directory to warm up on (default: a generated tiny sample)")
    p.add_argument("--serial", action="store_true", help="compile in this process only (no worker processes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from promessa.app import Engine, warm_up
    from promessa.compiling import compile_seconds
    from promessa.config import settings_of

    t0 = time.perf_counter()
    c0 = compile_seconds()
    print("compiling the promising kernels (numba; cached on disk, so only the first run pays) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="promessa-warm-") as tmp:
        snap_dir = args.snapshot
        if snap_dir is None:
            from supplydata.generate import generate

            snap_dir = Path(tmp) / "sample"
            generate(snap_dir, seed=7, size="tiny")
        settings = settings_of(db=str(Path(tmp) / "warm.sqlite"), snapshot=Path(snap_dir), approval_value_threshold=None)
        with Engine.open(settings, warm=False, watch=False) as engine:
            took = warm_up(engine.service, say=lambda line: print(line, file=sys.stderr, flush=True),
                           processes=1 if args.serial else 0)
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s (warm-up {took:.1f} s, of it compiling in this process "
          f"{compile_seconds() - c0:.1f} s)", file=sys.stderr)
    return 0


def worker_main(argv: list[str] | None = None) -> int:
    """Entry of a warm-up worker process started by ``promessa.app.warm_up``."""
    from promessa.app import warm_worker

    p = argparse.ArgumentParser(prog="python -m promessa.warmup")
    p.add_argument("--worker", required=True, help="comma-separated warm-up paths to compile")
    p.add_argument("--snapshot", required=True)
    p.add_argument("--objective", default=None)
    a = p.parse_args(argv)
    warm_worker(a.worker.split(","), a.snapshot, a.objective)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
