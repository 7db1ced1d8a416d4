"""The `promessa` command.

Each package that has a command line keeps it in its own ``cli.py`` with a
``register(subparsers)`` function; this module only mounts them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Packages that contribute subcommands, in the order they appear in --help.
_COMMAND_MODULES = (
    "supplydata.cli",     # generate, snapshot
    "promising.cli",      # promise, atp
    "sourcing.cli",       # sourcing ...
    "orderbook.cli",      # serve, orders ...
    "scenarios.cli",      # reschedule, whatif
    "monitoring.cli",     # jeopardy, reports
    "benchmarks.cli",     # bench
    "promessa.demo",      # demo (the README's main job)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promessa", description="In-memory order promising and sourcing engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a package without a command line yet
            if exc.name in (name, name.rsplit(".", 1)[0]):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from promessa.errors import PromessaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except PromessaError as exc:
        print(f"promessa: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
