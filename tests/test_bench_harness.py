"""BENCHMARKS.md rendering: each section lists its ratio rows first, then the rest in reported order."""

from __future__ import annotations

import json

from benchmarks.harness import write_markdown


def _result(case: str, metric: str, value: float, unit: str, **kw) -> dict:
    return {"case": case, "metric": metric, "value": value, "unit": unit, "target": kw.get("target"),
            "passed": kw.get("passed"), "params": kw.get("params", {}), "compile_s": None, "notes": kw.get("notes", "")}


def test_ratio_rows_come_first_in_each_section(tmp_path):
    machine = {"cpu": "Test CPU", "cores": 2, "memory_gib": 4.0, "python": "3.11", "os": "linux", "commit": "abc1234"}
    server = [
        _result("server.inquiry", "throughput", 2000.0, "req/s", target=">= 3000 req/s", passed=False),
        _result("server.http_ceiling", "throughput", 8000.0, "req/s"),
        _result("server.inquiry_vs_http_ceiling", "ratio", 0.25, "x", notes="inquiry / bare"),
        _result("server.capture_vs_write_ceiling", "ratio", 0.5, "x"),
    ]
    scenarios = [
        _result("scenarios.reschedule_backlog", "median", 3.0, "s"),
        _result("scenarios.whatif_fork_and_run", "median", 6.0, "s", notes="ratio to rescheduling 2.00x"),
        _result("scenarios.reschedule_vs_bare_loop", "ratio", 2.0, "x", target="<= 1.3x", passed=False),
    ]
    for area, results in (("server", server), ("scenarios", scenarios)):
        (tmp_path / f"{area}.json").write_text(json.dumps({
            "area": area, "size": "small", "seed": 7, "repeats": 0, "ran_at": "2026-11-30T06:00:00+00:00",
            "elapsed_s": 1.0, "machine": machine, "results": results}))
    text = write_markdown(tmp_path / "BENCHMARKS.md", results_dir=tmp_path).read_text()
    rows = [ln.split(" | ")[0].lstrip("| ") for ln in text.splitlines() if ln.startswith("| ") and "." in ln.split(" | ")[0]]
    # sections in AREAS order (server before scenarios), ratios first, the rest as reported
    assert rows == [
        "server.inquiry_vs_http_ceiling", "server.capture_vs_write_ceiling", "server.inquiry", "server.http_ceiling",
        "scenarios.reschedule_vs_bare_loop", "scenarios.reschedule_backlog", "scenarios.whatif_fork_and_run",
    ]
    assert "| server.inquiry_vs_http_ceiling | ratio | 0.25 x |  |  |  |  | inquiry / bare |" in text
    assert "| scenarios.reschedule_vs_bare_loop | ratio | 2 x | <= 1.3x | **no** |" in text
    assert "| server.http_ceiling | throughput | 8,000 req/s |" in text
