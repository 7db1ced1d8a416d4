"""The `promessa` command.

Each package that has a command line keeps it in its own ``cli.py`` with a
``register(subparsers)`` function (argument parsing only; the work is imported when a command
runs, so ``promessa --help`` stays fast). This module mounts them, by explicit import; a run of one
command imports only that command's ``cli`` module (``COMMANDS`` names the commands each one adds), so
`promessa reschedule` does not pay for the imports of `serve`, `jeopardy` or `reorder`.
"""

from __future__ import annotations

import argparse
import os
import sys


def _supplydata():
    from supplydata import cli

    return cli


def _promising():
    from promising import cli

    return cli


def _sourcing():
    from sourcing import cli

    return cli


def _api():
    from api import cli

    return cli


def _scenarios():
    from scenarios import cli

    return cli


def _monitoring():
    from monitoring import cli

    return cli


def _reorder():
    from reorder import cli

    return cli


def _bench():
    from benchmarks import cli

    return cli


def _warmup():
    from promessa import warmup

    return warmup


def _demo():
    from promessa import demo

    return demo


#: In the order they appear in --help: the module that registers them (imported only when one of its
#: commands runs, or for --help) and the commands it adds (tests/test_cli.py holds the two equal).
COMMANDS = (
    (_supplydata, ("generate", "snapshot")),
    (_promising, ("promise", "atp")),
    (_sourcing, ("sourcing",)),
    (_api, ("serve",)),                                                          # the HTTP API
    (_scenarios, ("reschedule", "whatif")),
    (_monitoring, ("jeopardy", "exceptions", "report", "analytics")),
    (_reorder, ("reorder",)),                                                    # report|propose|...|release
    (_bench, ("bench",)),
    (_warmup, ("warm-up",)),                                                     # compile the kernels ahead
    (_demo, ("demo",)),                                                          # the README's main job
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `promessa` parser: every command (``command=None``, for --help and errors), or only the module
    that registers ``command`` (and the two delegating commands), for a run of that command."""
    parser = argparse.ArgumentParser(prog="promessa", description="Order management hub around an in-memory promising engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for load, names in COMMANDS:
        if command is None or command in names:
            load().register(sub)
    # Commands whose packages are heavy to import (CUDD, OR-Tools, polars): their own parser is built when they run,
    # so `promessa --help` stays fast.
    for name, help_, func in (
        ("configure", "test a configuration model: consistency, count, sample, interactive choices", _configure),
        ("channel", "supplier programs, accruals and claims (ship-and-debit, rebates, allowances)", _channel),
    ):
        p = sub.add_parser(name, help=help_, add_help=False, prefix_chars="\0")
        p.add_argument("argv", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The command ``argv`` runs (its first word, the top-level parser having no option but --help), if it is
    one ``COMMANDS`` names; else None (help, a mistyped command: the whole parser answers)."""
    first = argv[0] if argv else None
    if first is None or first.startswith("-"):
        return None
    return first if any(first in names for _load, names in COMMANDS) else None


def _delegate(prog: str, cli, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def _configure(args: argparse.Namespace) -> int:
    from configurator import cli

    return _delegate("promessa configure", cli, args.argv)


def _channel(args: argparse.Namespace) -> int:
    from channel import cli

    return _delegate("promessa channel", cli, args.argv)


def open_engine(*, snapshot, db: str, pg_schema: str | None = None):
    """The engine (``promessa.app.Engine.open``) over a snapshot directory and an order book, for commands
    of packages below the composition root (they receive this function as ``args.open_engine``)."""
    from pathlib import Path

    from promessa.app import Engine, stderr_say
    from promessa.config import settings_of

    fields = {"snapshot": Path(snapshot), "db": db}
    if pg_schema:
        fields["pg_schema"] = pg_schema
    return Engine.open(settings_of(**fields), say=stderr_say)


def open_cash_source(*, store, db: str | None, pg_schema: str | None = None):
    """A read-only order-to-cash jeopardy source over an order book (``ordertocash.jeopardy.open_cash_source``),
    for ``promessa jeopardy --cash`` (handed in as ``args.open_cash_source``): ``(source, close)``."""
    from ordertocash.jeopardy import open_cash_source as open_source
    from promessa.config import Settings

    settings = Settings()
    upd = {"url": db or settings.store.url, **({"pg_schema": pg_schema} if pg_schema else {})}
    settings = settings.model_copy(update={"store": settings.store.model_copy(update=upd)})
    return open_source(store, settings)


def main(argv: list[str] | None = None) -> int:
    from promessa.errors import PromessaError

    program = argv is None  # the `promessa` program itself (a call with a list is a caller's: tests, scripts)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    args.open_engine = open_engine
    args.open_cash_source = open_cash_source
    from promessa.compiling import compile_seconds, compiled_kernels, light_cache_loads, watch_compiles

    watch_compiles(say=lambda line: print(line, file=sys.stderr, flush=True))  # a slow first run says why
    try:
        with light_cache_loads():  # cached kernels load without preparing numba's compiler
            rc = args.func(args)
        sys.stdout.flush()
        if compiled_kernels():
            print(f"this run compiled {compiled_kernels()} kernels in {compile_seconds():.1f} s (numba keeps them in its "
                  f"on-disk cache: later runs load them)", file=sys.stderr)
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
    rc = int(rc or 0)
    if program and getattr(args, "exit_when_done", False):
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """End the process now, for a command whose work is done and whose outputs are written and closed (it says so
    with ``exit_when_done``): flush stdout and stderr, run the exit handlers (``atexit``: logging, Ray, thread
    pools, temporary files), then leave without the interpreter's teardown of every module and object, which after
    a large plan (hundreds of MB of arrays and frames) takes 0.1-0.4 s for nothing."""
    import atexit

    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
