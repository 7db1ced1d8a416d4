"""The `promessa` command.

Each package that has a command line keeps it in its own ``cli.py`` with a
``register(subparsers)`` function (argument parsing only; the work is imported when a command
runs, so ``promessa --help`` stays fast). This module mounts them, by explicit import.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks import cli as bench_cli
from monitoring import cli as monitoring_cli
from orderbook import cli as orderbook_cli
from promessa import demo, warmup
from promising import cli as promising_cli
from scenarios import cli as scenarios_cli
from sourcing import cli as sourcing_cli
from supplydata import cli as supplydata_cli

#: In the order they appear in --help.
COMMANDS = (
    supplydata_cli,    # generate, snapshot
    promising_cli,     # promise, atp
    sourcing_cli,      # sourcing ...
    orderbook_cli,     # serve, orders ...
    scenarios_cli,     # reschedule, whatif
    monitoring_cli,    # jeopardy, reports
    bench_cli,         # bench
    warmup,            # warm-up (compile the kernels ahead of the first request)
    demo,              # demo (the README's main job)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promessa", description="Order management hub around an in-memory promising engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from promessa.errors import PromessaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()
    except PromessaError as exc:
        print(f"promessa: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`promessa ... | head`): stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("promessa: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
