"""First run: the whole `promessa demo` command on a cold and on a warm numba cache.

Each case runs the demo as a fresh process (``python -m promessa.cli demo``) on its own order book
and the same generated network, with ``NUMBA_CACHE_DIR`` pointing at an empty directory (cold: every
kernel the demo reaches compiles) or at the one a cold run just filled (warm: every kernel loads from
the disk cache). The cold command runs twice: with the warm-up spread over worker processes (the
default) and in one process (``PROMESSA_KERNELS__WARM_UP_PROCESSES=1``). Figures are wall-clock and
CPU (user + system, children included) seconds of the whole command; the ratios are what travels
between machines: cold / warm is what a fresh install pays once, serial / parallel what the worker
processes save. On a machine other processes also load, the CPU seconds are the steadier figure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import dataset
from benchmarks.harness import Result

ROOT = Path(__file__).resolve().parent.parent


def _demo(work: Path, net: Path, cache: Path, orders: int, *, processes: int = 0) -> dict:
    """Run `promessa demo` once in a fresh process; its wall and CPU seconds and what it printed."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / net.name
    if not link.exists():
        link.symlink_to(net, target_is_directory=True)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PROMESSA_KERNELS__WARM_UP_PROCESSES=str(processes),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    size, seed = net.name.split("-")[0], net.name.split("-")[1]
    cmd = [sys.executable, "-c", "import sys; from promessa.cli import main; sys.exit(main())", "demo",
           "--dir", str(work), "--size", size, "--seed", seed, "--orders", str(orders)]
    c0 = os.times()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=True)
    wall = time.perf_counter() - t0
    c1 = os.times()
    text = out.stdout + out.stderr
    ready = re.search(r"ready in ([\d.]+) s \(kernels ([\d.]+) s\)", text)
    comp = re.search(r"this run compiled (\d+) kernels in ([\d.]+) s", text)
    return {
        "wall": wall,
        "cpu": (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system),
        "ready": float(ready.group(1)) if ready else float("nan"),
        "warm_up": float(ready.group(2)) if ready else float("nan"),
        "compiled": int(comp.group(1)) if comp else 0,
        "compile_s": float(comp.group(2)) if comp else 0.0,
    }


def run(*, size: str, seed: int, repeats: int) -> list[Result]:
    # the demo's own network and order count, whatever the size asked for (the first run is the demo's)
    net = dataset("small", seed)
    orders = 2000
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="promessa-firstrun-") as tmp:
        tmp = Path(tmp)
        runs = {
            "cold_parallel": _demo(tmp / "a", net, tmp / "cache-a", orders),
            "warm": _demo(tmp / "b", net, tmp / "cache-a", orders),
            "cold_serial": _demo(tmp / "c", net, tmp / "cache-c", orders, processes=1),
        }
    params = {"orders": orders, "network": net.name, "cores": os.cpu_count()}
    for name, r in runs.items():
        out.append(Result(f"firstrun.demo_{name}", "wall", round(r["wall"], 2), "s", params=params,
                          compile_s=round(r["warm_up"], 2),
                          notes=f"cpu {r['cpu']:.1f} s; ready {r['ready']:.1f} s; this process compiled "
                                f"{r['compiled']} kernels in {r['compile_s']:.1f} s"))
    cold, warm, serial = runs["cold_parallel"], runs["warm"], runs["cold_serial"]
    out.append(Result("firstrun.cold_over_warm", "ratio", round(cold["wall"] / warm["wall"], 2), "x", params=params,
                      notes=f"cpu ratio {cold['cpu'] / max(warm['cpu'], 1e-9):.2f}x"))
    out.append(Result("firstrun.serial_over_parallel", "ratio", round(serial["wall"] / cold["wall"], 2), "x",
                      params=params, notes=f"warm-up {serial['warm_up']:.1f} s serial, {cold['warm_up']:.1f} s parallel"))
    return out
