"""The command line: generate, snapshot, promise and atp, readable and --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from promessa.cli import COMMANDS, build_parser, main


def test_generate_promise_atp(tmp_path, capsys):
    out = tmp_path / "net"
    assert main(["generate", "--out", str(out), "--seed", "5", "--size", "tiny"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["items"] == 20
    assert main(["snapshot", str(out)]) == 0
    assert "item-locations" in capsys.readouterr().out
    assert main(["promise", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--qty", "3",
                 "--date", "2026-01-10", "--split", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["item"] == "I000001" and p["status"] in ("full", "late", "partial", "short")
    assert sum(ln["qty"] for ln in p["lines"]) == p["promised_qty"]
    assert main(["promise", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--qty", "3",
                 "--date", "2026-01-10"]) == 0
    assert "status:" in capsys.readouterr().out
    assert main(["atp", "--snapshot", str(out), "--item", "I000001", "--location", "DC01", "--json", "--all"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 30 and set(rows[0]) >= {"supply", "demand", "committed", "cumulative", "available", "discrete_atp"}


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["snapshot", str(tmp_path / "missing")]) == 2
    assert "snapshot directory not found" in capsys.readouterr().err
    main(["generate", "--out", str(tmp_path / "n"), "--size", "tiny"])
    capsys.readouterr()
    assert main(["promise", "--snapshot", str(tmp_path / "n"), "--item", "NOPE", "--location", "DC01", "--qty", "1",
                 "--date", "2026-01-10"]) == 2
    assert "item='NOPE'" in capsys.readouterr().err


def test_each_command_is_mounted_from_the_module_that_commands_names():
    # `promessa X` imports only the cli module that registers X: the table must name every command it registers
    def commands(parser) -> set[str]:
        return set(next(a for a in parser._actions if a.dest == "command").choices)

    delegated = {"configure", "channel"}
    named = [n for _load, names in COMMANDS for n in names]
    assert len(named) == len(set(named))
    assert commands(build_parser()) == set(named) | delegated
    for _load, names in COMMANDS:
        assert commands(build_parser(names[0])) == set(names) | delegated


def test_reschedule_imports_only_what_planning_an_orders_file_needs(tmp_path):
    # a fresh process, as a user runs it: no web framework, solver, Ray, settings loader or unrelated commands
    from benchmarks import bench_peer as peer

    d = peer.generate_instance(tmp_path / "inst", n_orders=300, n_items=10, seed=3)
    out, mods = tmp_path / "plan.parquet", tmp_path / "modules.json"
    code = ("import json, sys\nfrom promessa.cli import main\n"
            f"rc = main(['reschedule', '--snapshot', {str(d)!r}, '--start-from', 'nothing', '--out', {str(out)!r}, "
            "'--quiet'])\n"
            f"open({str(mods)!r}, 'w').write(json.dumps(sorted(sys.modules)))\nsys.exit(rc)\n")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PROMESSA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert pl.read_parquet(out).height == 300
    loaded = {m.split(".")[0] for m in json.loads(mods.read_text())}
    unwanted = {"fastapi", "starlette", "uvicorn", "ortools", "ray", "pyarrow", "pydantic_settings", "api",
                "monitoring", "reorder", "orderbook", "sourcing", "pricing", "benchmarks", "matplotlib"}
    assert loaded & unwanted == set()
    assert "promessa.config" not in json.loads(mods.read_text())


def test_reschedule_reads_the_settings_only_when_they_say_something(monkeypatch):
    # planning an orders file: the defaults (in-process) without building Settings, unless a flag or the
    # environment names the executor
    import argparse

    from scenarios.cli import _scenario_settings

    args = argparse.Namespace(executor=None, parts=None, ray_address=None)
    for k in [k for k in os.environ if k.upper().startswith("PROMESSA_SCENARIOS")]:
        monkeypatch.delenv(k)
    assert _scenario_settings(args, None) is None
    monkeypatch.setenv("PROMESSA_SCENARIOS__PARTS", "3")
    assert _scenario_settings(args, None).scenarios.parts == 3
    monkeypatch.delenv("PROMESSA_SCENARIOS__PARTS")
    s = _scenario_settings(argparse.Namespace(executor=None, parts=2, ray_address=None), None)
    assert s.scenarios.parts == 2 and s.scenarios.executor == "inprocess"


def test_the_reschedule_program_ends_with_its_outputs_whole(tmp_path):
    # run as the program, `promessa reschedule` leaves without the interpreter's teardown once its work is done:
    # the exit code, the JSON on stdout (a pipe) and the plan file must still be complete
    from benchmarks import bench_peer as peer

    d = peer.generate_instance(tmp_path / "inst", n_orders=500, n_items=12, seed=5)
    out = tmp_path / "plan.parquet"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "promessa", "reschedule", "--snapshot", str(d), "--start-from", "nothing",
           "--out", str(out), "--json", "--quiet"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["counts"]["lines"] == 500
    assert pl.read_parquet(out).height == 500
    bad = subprocess.run([*cmd[:5], str(tmp_path / "missing"), "--quiet"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert bad.returncode == 2 and "promessa: error:" in bad.stderr
