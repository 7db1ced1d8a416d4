"""Configurator on the Renault Megane model (99 variables, 111 tables, 112,680 allowed rows).

Cases, each with a reference measured in the same run:

- load + compile (JSON parse, model checks, CUDD compile with the stored order hint, layered
  diagram), target <= 5 s; reference: parsing the gzip JSON alone;
- valid values after each choice over random choice sequences (p95), target <= 100 ms;
  reference: the direct way on the same CUDD diagram (one conjunction per value, `B & lit != 0`)
  for the first steps, where it is slowest;
- price + promise of a full configuration (no commitment), target <= 5 ms; every option of
  the mapped variables picks one component (size "small": 20 variables, "full": all) held in a
  generated plant; reference: one plain `promising.promise` of one item.

Before timing, valid values are checked against the direct CUDD computation on the first steps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import random
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.harness import Result, median, percentile

RENAULT = Path("/work/shared/data/renault/renault_megane.json.gz")
SIZES = {"small": (20, 5), "medium": (50, 20), "full": (99, 50)}  # (mapped variables, choice sequences)
AS_OF = dt.date(2026, 1, 5)


def plant(model, mapped: list[str], seed: int):
    """A snapshot with one component per option value of the mapped variables, stocked at PLANT."""
    from supplydata import TABLES, build_snapshot

    rng = np.random.default_rng(seed)
    comps = [f"{x}:{v}" for x in mapped for v in model.variable(x).values]
    tables = {name: t.empty() for name, t in TABLES.items()}
    tables["items"] = pl.DataFrame({"item": comps}, schema_overrides={"item": pl.Utf8}).with_columns(
        *(pl.lit(None, dtype=TABLES["items"].polars_schema()[c]).alias(c) for c in TABLES["items"].column_names if c != "item"))
    tables["locations"] = pl.DataFrame({"location": ["PLANT"], "kind": ["plant"], "zone": ["Z"], "country": [None],
                                        "calendar": [None]}, schema=TABLES["locations"].polars_schema())
    rows = [(c, "PLANT", AS_OF + dt.timedelta(days=int(rng.integers(0, 30))), float(rng.integers(5, 50)), "purchase", None)
            for c in comps]
    tables["supply"] = pl.DataFrame(rows, schema=TABLES["supply"].polars_schema(), orient="row")
    return build_snapshot({"as_of": AS_OF, "horizon_days": 90}, tables)


def run(*, size: str = "small", seed: int = 0, repeats: int = 3) -> list[Result]:
    """Measure the three cases; returns `Result`s (absolute figures and ratios to the references)."""
    from configurator import Session, compile_model, load_model, parse_model, price_configuration, promise_configuration
    from promising import Request, promise

    n_mapped, n_seq = SIZES[size]
    repeats = max(1, repeats)
    params = {"model": "renault_megane", "variables": 99, "tables": 111, "sequences": n_seq}
    out: list[Result] = []

    # 1. load + compile, against parsing the file alone
    loads, parses = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        with gzip.open(RENAULT, "rt") as f:
            json.load(f)
        parses.append(time.perf_counter() - t)
        t = time.perf_counter()
        model = load_model(RENAULT)
        c = compile_model(model)
        loads.append(time.perf_counter() - t)
    lc = median(loads)
    out.append(Result("configurator.load_compile", "median", lc, "s", "<= 5 s", lc <= 5.0, dict(params, nodes=c.n_nodes,
                      edges=int(c.e_src.shape[0]), bdd_nodes=c.bdd_nodes), notes=f"stages {c.timings}"))
    out.append(Result("configurator.load_compile", "ratio", lc / median(parses), "x", notes="vs parsing the gzip JSON alone"))

    # 2. valid values after each choice, random sequences; the direct CUDD way as reference (first 3 steps)
    c.valid_values({})  # JIT compile apart
    rng = random.Random(seed)
    times, ref_times, checked = [], [], 0
    enc_lit = _direct_lits(c)
    for _ in range(n_seq):
        s = Session(c)
        step = 0
        while True:
            t = time.perf_counter()
            s._valid = None
            valid = s.valid
            times.append(time.perf_counter() - t)
            if step < 3 and checked < 3 * min(n_seq, 3):
                t = time.perf_counter()
                direct = _direct_valid(c, s.choices, enc_lit)
                ref_times.append(time.perf_counter() - t)
                assert direct == {x: set(vs) for x, vs in valid.items()}, "valid values differ from the direct CUDD computation"
                checked += 1
            open_vars = [x for x, vs in valid.items() if len(vs) > 1]
            if not open_vars:
                break
            x = rng.choice(open_vars)
            s.choose(x, rng.choice(valid[x]))
            step += 1
    p95 = percentile(times, 95) * 1000
    out.append(Result("configurator.valid_values", "p95", p95, "ms", "<= 100 ms", p95 <= 100.0,
                      dict(params, steps=len(times)), compile_s=None))
    out.append(Result("configurator.valid_values", "ratio", percentile(times, 95) / percentile(ref_times, 95), "x",
                      notes="vs one CUDD conjunction per value on the same diagram (first steps)"))

    # 3. price + promise of a full configuration
    mapped = [v.name for v in model.variables][:n_mapped]
    doc = {"name": "renault_priced", "variables": {x.name: list(x.values) for x in model.variables},
           "prices": {"base": "15000.00", "options": {x: {v: str(100 + 10 * i) for i, v in enumerate(model.variable(x).values)}
                                                        for x in mapped}},
           "build": {"location": "PLANT", "assembly_days": 1},
           "bom": [{"name": f"{x}={v}", "when": {x: v}, "component": f"{x}:{v}"} for x in mapped
                   for v in model.variable(x).values]}
    priced = dataclasses.replace(parse_model(doc), rules=model.rules)
    snap = plant(model, mapped, seed)
    state = snap.new_state()
    nprng = np.random.default_rng(seed)
    configs = [c.sample(nprng) for _ in range(20)]
    req = AS_OF + dt.timedelta(days=20)
    promise_configuration(snap, state, priced, configs[0], qty=1, requested_date=req)  # warm
    pp, one = [], []
    for _ in range(repeats):
        for cfg in configs:
            t = time.perf_counter()
            price_configuration(priced, cfg, compiled=c)
            promise_configuration(snap, state, priced, cfg, qty=1, requested_date=req, check=False)
            pp.append(time.perf_counter() - t)
            item = f"{mapped[0]}:{cfg[mapped[0]]}"
            t = time.perf_counter()
            promise(snap, state, Request(item, "PLANT", 1.0, req), explain=False)
            one.append(time.perf_counter() - t)
    m = median(pp) * 1000
    out.append(Result("configurator.price_promise", "median", m, "ms", "<= 5 ms", m <= 5.0,
                      dict(params, mapped_variables=n_mapped, components=n_mapped),
                      notes="price (validity checked on the diagram) + one promise() per component, no commitment"))
    out.append(Result("configurator.price_promise", "ratio", median(pp) / median(one), "x", notes="vs one plain promise()"))
    return out


def _direct_lits(c):
    bdd = c.bdd
    bits = {}
    for x in c.order:
        bits[x] = sorted((v for v in bdd.vars if v.startswith(f"x{c.order.index(x)}_")), key=lambda b: int(b.split("_")[1]))
    return {(x, v): bdd.cube({b: bool((code >> j) & 1) for j, b in enumerate(bits[x])})
            for x in c.order for v, code in c.codes[x].items()}


def _direct_valid(c, choices, lits):
    u = c.root
    for x, v in choices.items():
        u = u & lits[(x, v)]
    false = c.bdd.false
    return {x.name: {v for v in x.values if (u & lits[(x.name, v)]) != false} for x in c.model.variables}


if __name__ == "__main__":
    for r in run(size="small", seed=0, repeats=1):
        print(r)
