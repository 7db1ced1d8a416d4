"""`promessa reorder report|propose|proposals|edit|reject|release` against an order book.

The order book is a SQLite file or a ``postgresql://`` URL (``--db``); the supply snapshot is
``--snapshot``. Both are opened through the one composition root (``promessa.app.Engine.open``, handed
in by the ``promessa`` command as ``args.open_engine``). The business day is ``--today`` (report and
propose), else ``PROMESSA_CLOCK__BUSINESS_DATE``, else the snapshot's ``as_of`` day; the default policy
and the overrides file come from ``PROMESSA_REORDER__*`` (``promessa.config.ReorderSettings``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snapshot", metavar="DIR", required=True, help="supply snapshot directory")
    p.add_argument("--db", metavar="PATH_OR_URL", required=True, help="order book: SQLite file or postgresql:// URL")
    p.add_argument("--pg-schema", metavar="NAME", default=None, help="PostgreSQL schema of the order-book tables")


REPORT_COLUMNS = ("item", "location", "demand_mean", "demand_sigma", "lead_time_days", "receipt_date", "reorder_point",
                  "order_up_to", "position", "proposed_qty", "proposal", "reason")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reorder", help="automatic reorder: report, propose, review and release purchases",
                       description="Reorder point (or min-max) per item-location from the order book's demand history, "
                                   "lead time and service level; proposals released as durable supply deltas.")
    cmds = p.add_subparsers(dest="reorder_command", metavar="ACTION")
    cmds.required = True
    for name, help_ in (("report", "per item-location: demand mean and sigma, lead time, ROP, position, proposal, reason"),
                        ("propose", "run the report and keep a proposal for each item-location that should reorder")):
        q = cmds.add_parser(name, help=help_)
        _common(q)
        q.add_argument("--today", type=_date, metavar="YYYY-MM-DD", help="the business day (default: the business clock)")
        q.add_argument("--item", action="append", help="only this item (repeatable)")
        q.add_argument("--location", action="append", help="only this location (repeatable)")
        q.add_argument("--format", choices=["table", "json", "csv"], default="table")
        q.set_defaults(func=_run, action=name)
    q = cmds.add_parser("proposals", help="list proposals")
    _common(q)
    q.add_argument("--status", choices=["proposed", "released", "rejected"])
    q.add_argument("--format", choices=["table", "json"], default="table")
    q.set_defaults(func=_run, action="proposals")
    q = cmds.add_parser("edit", help="change the quantity of an open proposal")
    _common(q)
    q.add_argument("id")
    q.add_argument("--qty", type=float, required=True)
    q.set_defaults(func=_run, action="edit")
    for name, help_ in (("reject", "reject an open proposal"),
                        ("release", "release a proposal as a durable receipt (a supply delta); twice = once")):
        q = cmds.add_parser(name, help=help_)
        _common(q)
        q.add_argument("id")
        if name == "reject":
            q.add_argument("--note")
        q.set_defaults(func=_run, action=name)


def _table(rows: list[dict], columns: tuple[str, ...]) -> str:
    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(b[i]) for b in body)]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), *(line(b) for b in body)])


def _run(args: argparse.Namespace) -> int:
    engine = args.open_engine(snapshot=args.snapshot, db=args.db, pg_schema=args.pg_schema)
    try:
        rb = engine.reorder
        actor = "cli"
        if args.action in ("report", "propose"):
            if args.action == "report":
                lines = [ln.to_dict() for ln in rb.report(today=args.today, items=args.item, locations=args.location)]
                out = {"lines": lines}
            else:
                out = rb.propose(actor=actor, today=args.today, items=args.item, locations=args.location)
                lines = out["lines"]
            if args.format == "json":
                print(json.dumps(out, indent=1))
            elif args.format == "csv":
                w = csv.DictWriter(sys.stdout, fieldnames=list(lines[0]) if lines else list(REPORT_COLUMNS), extrasaction="ignore")
                w.writeheader()
                w.writerows(lines)
            else:
                print(_table(lines, REPORT_COLUMNS))
                if args.action == "propose":
                    print(f"created: {', '.join(out['created']) or '-'}; kept open: {', '.join(out['kept']) or '-'}")
            return 0
        if args.action == "proposals":
            docs = rb.proposals(status=args.status)
            if args.format == "json":
                print(json.dumps(docs, indent=1))
            else:
                print(_table(docs, ("id", "status", "item", "location", "qty", "proposed_qty", "receipt_date", "created_on")))
            return 0
        if args.action == "edit":
            doc = rb.edit(args.id, qty=args.qty, actor=actor)
        elif args.action == "reject":
            doc = rb.reject(args.id, actor=actor, note=args.note)
        else:
            doc, replayed = rb.release(args.id, actor=actor)
            doc = {**doc, "replayed": replayed}
        print(json.dumps(doc, indent=1))
        return 0
    finally:
        engine.close()
