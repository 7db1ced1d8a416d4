"""``promessa configure``: test a configuration model from the command line.

The lead's CLI calls `add_arguments(parser)` on the subcommand's parser and `run(args)`.
Examples::

    promessa configure configurator/examples/bicycle.yaml                 # consistency and count
    promessa configure MODEL --choose frame=steel --why motor=mid         # valid values, explanation
    promessa configure MODEL --sample 5 --seed 1                          # uniform valid configurations
    promessa configure MODEL --complete cheapest --json
    promessa configure renault_megane.json.gz --find-order OUT.json       # store a variable order hint
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from promessa.errors import PromessaError


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected VAR=VALUE")
    x, v = text.split("=", 1)
    return x.strip(), v.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``promessa configure`` to `parser`."""
    parser.add_argument("model", help="model file (.json, .yaml, optionally .gz; the Renault benchmark format too)")
    parser.add_argument("--choose", type=_pair, action="append", default=[], metavar="VAR=VALUE",
                        help="a choice (repeatable), applied in order")
    parser.add_argument("--why", type=_pair, metavar="VAR=VALUE", help="explain why a value is excluded")
    parser.add_argument("--how-to-get", type=_pair, metavar="VAR=VALUE", help="the fewest choices to change to get a value")
    parser.add_argument("--complete", choices=("defaults", "cheapest"), help="complete the configuration and price it")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="print N valid configurations drawn uniformly")
    parser.add_argument("--seed", type=int, default=0, help="random seed for --sample")
    parser.add_argument("--find-order", metavar="OUT", help="find a variable order by sifting and write it as JSON")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run ``promessa configure``; returns the exit code (0 ok, 1 refused model or choice)."""
    from configurator.compile import compile_model, find_order
    from configurator.model import load_model
    from configurator.pricing import price_configuration
    from configurator.session import Session

    out: dict = {}
    try:
        model = load_model(args.model)
        if args.find_order:
            order = find_order(model)
            with open(args.find_order, "w", encoding="utf-8") as f:
                json.dump(list(order), f)
            out["order_written"] = args.find_order
        c = compile_model(model)
        out.update({"model": model.name, "version": model.version, "variables": len(model.variables),
                    "rules": len(model.rules), "consistent": True, "configurations": c.count(),
                    "compile_seconds": round(c.compile_seconds, 3), "diagram_nodes": c.n_nodes})
        s = Session(c)
        for x, v in args.choose:
            s.choose(x, v)
        if args.choose:
            out["choices"] = dict(s.choices)
            out["valid"] = {x: list(vs) for x, vs in s.valid.items()}
            out["completions"] = s.count()
        if args.why:
            out["why"] = s.why(*args.why).to_dict()
        if args.how_to_get:
            out["how_to_get"] = s.how_to_get(*args.how_to_get).to_dict()
        if args.complete:
            cfg = s.complete_by(args.complete)
            out["configuration"] = cfg
            if model.prices or model.base_price is not None:
                out["price"] = price_configuration(model, cfg).to_dict()
        if args.sample:
            rng = np.random.default_rng(args.seed)
            out["sample"] = [c.sample(rng, dict(s.choices)) for _ in range(args.sample)]
    except PromessaError as exc:
        out["error"] = str(exc)
        print(json.dumps(out, indent=2) if args.json else f"error: {exc}", file=sys.stdout if args.json else sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['model']} {out['version']}: {out['variables']} variables, {out['rules']} rules, consistent, "
          f"{out['configurations']} valid configurations (compiled in {out['compile_seconds']} s, "
          f"{out['diagram_nodes']} diagram nodes)")
    if "valid" in out:
        print(f"after {', '.join(f'{x}={v}' for x, v in out['choices'].items())}: {out['completions']} completions")
        for x, vs in out["valid"].items():
            print(f"  {x}: {', '.join(vs)}")
    if "why" in out:
        print(out["why"]["message"])
    if "how_to_get" in out:
        h = out["how_to_get"]
        if h["possible"]:
            print(f"to get {h['var']}={h['value']} change: " +
                  (", ".join(f"{c['var']} {c['from']} -> {c['to']}" for c in h["changes"]) or "nothing"))
        else:
            print(f"{h['var']}={h['value']} is in no valid configuration (rules {', '.join(h['rules'])})")
    if "configuration" in out:
        print("configuration: " + ", ".join(f"{x}={v}" for x, v in out["configuration"].items()))
        if "price" in out:
            print(f"price: {out['price']['unit']} {out['price']['currency']}")
    for cfg in out.get("sample", []):
        print("  " + ", ".join(f"{x}={v}" for x, v in cfg.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m configurator.cli MODEL ...``) until the lead wires ``promessa configure``."""
    p = argparse.ArgumentParser(prog="promessa configure", description="test a configuration model")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
