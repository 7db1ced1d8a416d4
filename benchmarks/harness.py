"""Benchmark harness: runs benchmark modules, stores machine-readable results, writes BENCHMARKS.md.

A benchmark module is ``benchmarks/bench_<area>.py`` with
``run(*, size: str, seed: int, repeats: int) -> list[Result]``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"   # published figures (promessa bench --publish)
LOCAL_DIR = ROOT / "var" / "bench"                            # everyday runs: never overwrite the published ones
AREAS = ("snapshot", "atp", "allocation", "ctp", "sourcing", "server", "refresh", "scenarios", "monitoring", "pricing",
         "payments", "channel", "orchestration", "configurator", "firstrun", "scaleout", "peer", "memory")


@dataclasses.dataclass
class Result:
    """One measured figure."""

    case: str                 # e.g. "atp.promise_one_line"
    metric: str               # e.g. "median", "p99", "throughput", "ratio"
    value: float
    unit: str                 # e.g. "us", "ms", "s", "lines/s", "x"
    target: str | None = None  # e.g. "<= 10 us"
    passed: bool | None = None
    params: dict = dataclasses.field(default_factory=dict)
    compile_s: float | None = None  # JIT compile + first call, apart from steady state
    notes: str = ""


def timeit(fn: Callable[[], object], *, repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` calls of `fn`."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001 - benchmarks run outside git too
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": commit,
    }


def area_module(area: str):
    """The benchmark module of an area (explicit imports: a missing module is an error)."""
    from benchmarks import (bench_allocation, bench_atp, bench_channel, bench_configurator, bench_ctp, bench_firstrun,
                            bench_memory, bench_monitoring, bench_orchestration, bench_payments, bench_peer,
                            bench_pricing, bench_refresh, bench_scaleout, bench_scenarios, bench_server, bench_snapshot,
                            bench_sourcing)

    modules = {"snapshot": bench_snapshot, "atp": bench_atp, "allocation": bench_allocation, "ctp": bench_ctp,
               "sourcing": bench_sourcing, "server": bench_server, "refresh": bench_refresh, "scenarios": bench_scenarios,
               "monitoring": bench_monitoring, "pricing": bench_pricing, "payments": bench_payments, "channel": bench_channel,
               "orchestration": bench_orchestration, "configurator": bench_configurator,
               "firstrun": bench_firstrun, "scaleout": bench_scaleout, "peer": bench_peer, "memory": bench_memory}
    try:
        return modules[area]
    except KeyError:
        raise ValueError(f"benchmark area {area!r} is unknown (hint: one of {', '.join(AREAS)})") from None


def run_area(area: str, *, size: str, seed: int, repeats: int, results_dir: Path = LOCAL_DIR / "results") -> dict:
    """Run one area's benchmark module and write its results file into `results_dir`."""
    module = area_module(area)
    t0 = time.perf_counter()
    results = module.run(size=size, seed=seed, repeats=repeats)
    payload = {
        "area": area,
        "size": size,
        "seed": seed,
        "repeats": repeats,
        "ran_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - t0, 2),
        "machine": machine(),
        "results": [dataclasses.asdict(r) for r in results],
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{area}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return payload


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def is_ratio(r: dict) -> bool:
    """A figure relative to another measured in the same run (metric ``ratio`` or unit ``x``)."""
    return r.get("metric") == "ratio" or r.get("unit") == "x"


def ratios_first(results: list[dict]) -> list[dict]:
    """The ratio rows first, then the others, each in the order the benchmark reported them."""
    return [r for r in results if is_ratio(r)] + [r for r in results if not is_ratio(r)]


def write_markdown(path: Path | None = None, *, results_dir: Path = RESULTS_DIR) -> Path:
    """Regenerate a BENCHMARKS.md (default: the published one) from every results file in `results_dir`."""
    path = path or ROOT / "BENCHMARKS.md"
    files = sorted(results_dir.glob("*.json"), key=lambda p: (AREAS.index(p.stem) if p.stem in AREAS else 99, p.stem))
    lines = [
        "# Benchmarks",
        "",
        "Generated by `promessa bench` from `benchmarks/results/*.json`; do not edit by hand.",
        "Each section says the machine and commit it ran on. Ratios are measured side by side in one run and come",
        "first in each section: a figure over its reference (a bare loop, a bare HTTP endpoint, a raw durable write)",
        "travels between machines better than the figure alone.",
        "",
    ]
    for f in files:
        data = json.loads(f.read_text())
        m = data["machine"]
        lines += [
            f"## {data['area']}",
            "",
            f"size `{data['size']}`, seed {data['seed']}, repeats {data['repeats'] or 'module default'}, ran {data['ran_at']} "
            f"in {data['elapsed_s']} s on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
            f"Python {m['python']}, commit `{m['commit']}`.",
            "",
            "| case | metric | value | target | met | compile (s) | parameters | notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in ratios_first(data["results"]):
            met = {True: "yes", False: "**no**", None: ""}[r.get("passed")]
            comp = "" if r.get("compile_s") is None else f"{r['compile_s']:.2f}"
            params = ", ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items())
            lines.append(
                f"| {r['case']} | {r['metric']} | {_fmt(r['value'])} {r['unit']} | {r.get('target') or ''} | {met} "
                f"| {comp} | {params} | {r.get('notes', '')} |"
            )
        lines.append("")
    path.write_text("\n".join(lines))
    return path
