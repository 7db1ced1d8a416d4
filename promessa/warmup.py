"""`promessa warm-up`: compile the kernels ahead of the first request, and say how long it took.

numba keeps what it compiles in its on-disk cache (``cache=True`` on every kernel), so this is
paid once per install: the README's first command runs it, and later commands start at speed.
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from promessa.app import Engine, warm_up
    from promessa.config import settings_of

    t0 = time.perf_counter()
    print("compiling the promising kernels (numba; cached on disk, so only the first run pays) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="promessa-warm-") as tmp:
        snap_dir = args.snapshot
        if snap_dir is None:
            from supplydata.generate import generate

            snap_dir = Path(tmp) / "sample"
            generate(snap_dir, seed=7, size="tiny")
        settings = settings_of(db=str(Path(tmp) / "warm.sqlite"), snapshot=Path(snap_dir), approval_value_threshold=None)
        with Engine.open(settings, warm=False, watch=False) as engine:
            took = warm_up(engine.service)
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s (compile and first calls {took:.1f} s)", file=sys.stderr)
    return 0
