"""``promessa channel ...``: supplier programs, accruals, claims, aging, reports and what-ifs from the command line.

The journal is a SQLite file (``--journal``, default ``var/channel.sqlite``). Business dates
come from ``--business-date`` or the settings' clock (``PROMESSA_CLOCK__BUSINESS_DATE``); the
wall clock is never used for them. The lead mounts this with ``add_arguments(parser)`` and
calls ``run(args)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from promessa.errors import PromessaError


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``channel`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="channel_cmd", required=True, metavar="COMMAND")

    def journal(p: argparse.ArgumentParser) -> None:
        p.add_argument("--journal", default="var/channel.sqlite", metavar="FILE", help="SQLite journal of the channel ledger")

    def bdate(p: argparse.ArgumentParser) -> None:
        p.add_argument("--business-date", type=_date, metavar="YYYY-MM-DD",
                       help="the business day (default: settings clock.business_date)")

    p = sub.add_parser("validate", help="check a program file (YAML, JSON or CSV)")
    p.add_argument("programs", type=Path)
    p.add_argument("--snapshot", type=Path, metavar="DIR", help="refuse items, categories and brands not in this snapshot")

    p = sub.add_parser("record", help="define programs and record shipped/returned/stock events (JSON Lines)")
    journal(p)
    p.add_argument("--programs", type=Path, help="program file to define (added or replaced by id) first")
    p.add_argument("--events", type=Path, help="events file (.jsonl or .json)")
    p.add_argument("--snapshot", type=Path, metavar="DIR", help="catalogue for program validation")

    p = sub.add_parser("claim", help="draft the claims of a supplier for a period and export them")
    journal(p)
    bdate(p)
    p.add_argument("--supplier", required=True)
    p.add_argument("--from", dest="period_start", type=_date, required=True, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="period_end", type=_date, required=True, metavar="YYYY-MM-DD")
    p.add_argument("--format", choices=["csv", "json"], default="json")
    p.add_argument("--out-dir", type=Path, help="write CLAIM.csv / CLAIM.json files here instead of standard output")

    p = sub.add_parser("status", help="move a claim along its lifecycle")
    journal(p)
    bdate(p)
    p.add_argument("claim")
    p.add_argument("status", choices=["submitted", "accepted", "rejected", "disputed", "written_off"])
    p.add_argument("--reason")

    p = sub.add_parser("receive", help="record a supplier payment or an invoice deduction for a claim")
    journal(p)
    bdate(p)
    p.add_argument("claim")
    p.add_argument("amount", help="decimal amount in the claim's currency")
    p.add_argument("--ref", required=True, help="payment reference, or the supplier invoice deducted from")
    p.add_argument("--deduction", action="store_true", help="deducted from the supplier invoice --ref")

    p = sub.add_parser("aging", help="open claims aged against the claim window")
    journal(p)
    bdate(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = sub.add_parser("report", help="accrued, claimed, received, written off per supplier/program/period")
    journal(p)
    p.add_argument("--by", default="supplier,program,period", help="comma-separated: supplier, program, period")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--chart", type=Path, metavar="PNG", help="also draw a bar chart per supplier")

    p = sub.add_parser("whatif", help="margin per order with and without a program change")
    p.add_argument("--programs", type=Path, required=True)
    p.add_argument("--events", type=Path, required=True)
    p.add_argument("--changed", type=Path, help="programs replacing (by id) or added to --programs")
    p.add_argument("--remove", action="append", default=[], metavar="PROGRAM", help="drop this program (repeatable)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")


def _business_date(args: argparse.Namespace) -> dt.date:
    if getattr(args, "business_date", None):
        return args.business_date
    from promessa.config import Settings

    d = Settings().clock.business_date
    if d is None:
        raise PromessaError("no business date", hint="pass --business-date or set PROMESSA_CLOCK__BUSINESS_DATE")
    return d


def _catalogue(snapshot: Path | None):
    if snapshot is None:
        return None
    from channel.programs import Catalogue
    from supplydata import load_snapshot

    return Catalogue.of_snapshot(load_snapshot(snapshot))


def _emit(df, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        print(json.dumps(df.to_dicts(), default=str, indent=2))
    else:
        import polars as pl

        with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
            print(df)


def run(args: argparse.Namespace) -> int:
    """Run the ``channel`` sub-command in ``args``; returns the exit code (2 for refused input)."""
    try:
        return _run(args)
    except PromessaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from channel.claims import aging, claim_to_csv, claim_to_json
    from channel.events import load_events
    from channel.ledger import ChannelLedger
    from channel.programs import load_programs
    from channel.reports import program_report, report_chart
    from channel.store import SqliteJournal
    from promessa.money import Money

    cmd = args.channel_cmd
    if cmd == "validate":
        progs = load_programs(args.programs, catalogue=_catalogue(args.snapshot))
        kinds: dict[str, int] = {}
        for p in progs:
            kinds[p.kind.value] = kinds.get(p.kind.value, 0) + 1
        print(f"{args.programs}: {len(progs)} programs ok (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
        return 0
    if cmd == "whatif":
        from channel.margin import whatif

        df = whatif(load_programs(args.programs), load_events(args.events),
                    changed=load_programs(args.changed) if args.changed else (), removed=args.remove)
        _emit(df, args.format)
        return 0
    store = SqliteJournal(args.journal)
    try:
        led = ChannelLedger(store)
        if cmd == "record":
            if args.programs:
                led.define_programs(load_programs(args.programs, catalogue=_catalogue(args.snapshot)))
            recs = led.record(load_events(args.events)) if args.events else []
            for a in recs:
                print(json.dumps({"id": a.id, "source": a.source, "program": a.program, "kind": a.kind, "period": a.period,
                                  "amount": str(a.amount.amount), "currency": a.amount.currency, "basis": a.basis}))
            print(f"{len(recs)} accrual records; journal {args.journal}", file=sys.stderr)
        elif cmd == "claim":
            claims = led.create_claims(args.supplier, period_start=args.period_start, period_end=args.period_end,
                                       business_date=_business_date(args))
            for c in claims:
                text = claim_to_csv(led.state, c) if args.format == "csv" else claim_to_json(led.state, c)
                if args.out_dir:
                    args.out_dir.mkdir(parents=True, exist_ok=True)
                    (args.out_dir / f"{c.claim}.{args.format}").write_text(text)
                else:
                    sys.stdout.write(text if text.endswith("\n") else text + "\n")
                print(f"claim {c.claim}: {len(c.accruals)} lines, {c.total} {c.currency}", file=sys.stderr)
            if not claims:
                print(f"nothing to claim from {args.supplier} up to {args.period_end}", file=sys.stderr)
        elif cmd == "status":
            c = led.transition(args.claim, args.status, date=_business_date(args), reason=args.reason)
            print(f"claim {c.claim}: {c.status.value}")
        elif cmd == "receive":
            c = led.claim(args.claim)
            c = led.receive(args.claim, Money.of(args.amount, c.currency), date=_business_date(args), ref=args.ref,
                            deduction=args.deduction)
            print(f"claim {c.claim}: {c.status.value}, received {c.received} of {c.total} {c.currency}")
        elif cmd == "aging":
            _emit(aging(led.state, _business_date(args)), args.format)
        elif cmd == "report":
            df = program_report(led.state, by=[b.strip() for b in args.by.split(",") if b.strip()])
            _emit(df, args.format)
            if args.chart:
                args.chart.write_bytes(report_chart(program_report(led.state, by=["supplier"])))
                print(f"chart written to {args.chart}", file=sys.stderr)
        return 0
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m channel.cli``) until the command is mounted under ``promessa``."""
    parser = argparse.ArgumentParser(prog="promessa channel", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
