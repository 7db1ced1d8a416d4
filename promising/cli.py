"""`promessa promise` and `promessa atp`."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json

#: pegs listed per schedule line before "... and N more" (--json shows every one)
PEGS_SHOWN = 8


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promise", help="promise one line against a snapshot (nothing is committed)")
    p.add_argument("--snapshot", required=True, help="snapshot directory")
    p.add_argument("--item", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--qty", required=True, type=float)
    p.add_argument("--date", required=True, type=_date, metavar="YYYY-MM-DD",
                   help="requested date: the snapshot's day (as_of) or later, within its horizon")
    p.add_argument("--demand-class", default=None)
    p.add_argument("--no-partial", action="store_true", help="all or nothing")
    p.add_argument("--split", action="store_true", help="allow several schedule lines")
    p.add_argument("--max-late-days", type=int, default=None)
    p.add_argument("--max-lines", type=int, default=4)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_promise)

    a = sub.add_parser("atp", help="time-phased ATP table of an item at a location")
    a.add_argument("--snapshot", required=True, help="snapshot directory")
    a.add_argument("--item", required=True)
    a.add_argument("--location", required=True)
    a.add_argument("--days", type=int, default=30, help="days to show from as_of (default 30; 0: the whole horizon)")
    a.add_argument("--all", action="store_true", help="show every bucket, not only those with activity")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_atp)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def close_names(value: str, names: list[str], *, n: int = 3) -> list[str]:
    """The names a typo most likely meant: the fewest edits first (at most a third of the name), else difflib's."""
    limit = max(1, len(value) // 3)
    scored = sorted((d, name) for name in names if abs(len(name) - len(value)) <= limit
                    and (d := _edits(value.upper(), name.upper())) <= limit)
    return [name for _, name in scored[:n]] or difflib.get_close_matches(value, names, n=n, cutoff=0.6)


def _check_request(snap, args: argparse.Namespace) -> None:
    """The checks the API makes on a request (``orderbook.rules``), with a hint in each error: a known item and
    location, a date from the snapshot's day to the end of its horizon, a positive quantity."""
    from promessa.errors import ValidationError

    for field, value, index, what in (("item", args.item, snap.item_index, "items"),
                                      ("location", args.location, snap.location_index, "locations")):
        if value not in index:
            close = close_names(value, list(index))
            hint = ("did you mean " + " or ".join(close) + "?") if close else (
                f"the snapshot has {len(index):,} {what} ({what}.parquet or {what}.csv in {args.snapshot})")
            raise ValidationError(f"unknown {field}", field=field, value=value, hint=hint)
    if args.date < snap.as_of:
        raise ValidationError(f"date before the snapshot day {snap.as_of}", field="date", value=args.date.isoformat(),
                              hint=f"ask for {snap.as_of} or later; the API refuses it too")
    if args.date > snap.last_date:
        raise ValidationError(f"date outside the horizon (last day {snap.last_date})", field="date",
                              value=args.date.isoformat(), hint=f"ask for a day up to {snap.last_date}")
    if not args.qty > 0:
        raise ValidationError("the quantity must be more than 0", field="qty", value=args.qty)


def _promise(args: argparse.Namespace) -> int:
    from promising import Policy, Request, promise
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    _check_request(snap, args)
    state = snap.new_state()
    pol = Policy(allow_partial=not args.no_partial, allow_split=args.split, max_late_days=args.max_late_days,
                 max_lines=args.max_lines)
    p = promise(snap, state, Request(args.item, args.location, args.qty, args.date, pol, args.demand_class))
    if args.json:
        print(json.dumps(p.to_dict(), indent=2))
        return 0
    print(p.message)
    print(f"status: {p.status.name.lower()}   reason: {p.reason.name.lower()} ({p.reason.description})")
    for i, ln in enumerate(p.lines):
        print(f"  schedule line {i + 1}: {_num(ln.qty):>10} on {ln.date}")
        pegs = [pg for pg in p.pegs if pg.line == i]
        for pg in pegs[:PEGS_SHOWN]:
            src = f"{pg.kind} {pg.ref or ''} of {pg.supply_date}" if pg.supply_date else "replenishment after the lead time"
            print(f"    pegged: {_num(pg.qty):>8} from {src}")
        if len(pegs) > PEGS_SHOWN:
            rest = pegs[PEGS_SHOWN:]
            print(f"    ... and {len(rest)} more pegs ({_num(sum(pg.qty for pg in rest))} units, up to "
                  f"{max((pg.supply_date for pg in rest if pg.supply_date), default='the lead time')}; --json lists every one)")
    for line in explain_details(p.details or {}):
        print("  " + line)
    return 0


def _num(v: float) -> str:
    """A quantity with thousands separators and no trailing zeros (1,392; 2.5)."""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3f}".rstrip("0").rstrip(".")


def explain_ctp(ctp: dict) -> list[str]:
    """Capable-to-promise details (``details["ctp"]``) in words: what comes from stock and what is made, which
    component, resource or lead time binds and by how much, the lots, and the components and capacity drawn."""
    out = []
    if "stock_qty" in ctp:
        made = f"{_num(ctp['made_qty'])} made" + (f" (the last lot finishes {ctp['lot_finish']})" if ctp.get("lot_finish") else "")
        out.append(f"capable to promise: {_num(ctp['stock_qty'])} from stock, {made}")
    elif ctp.get("improves") is False:
        out.append("capable to promise: making the item would not promise more or earlier than stock")
    b = ctp.get("binding")
    if b:
        kind = b.get("constraint")
        where = f" at {b['location']}" if b.get("location") else ""
        of = f" (level {b['level']}, for {b['parent']})" if b.get("parent") else ""
        if kind == "capacity":
            out.append(f"binding: capacity of resource {b['resource']}{where} from {b.get('first_day')} to "
                       f"{b.get('last_day')}: {_num(b['needed'])} needed, {_num(b['available'])} free "
                       f"(short by {_num(max(0.0, b['needed'] - b['available']))}) for {b.get('item')}")
        elif kind == "calendar":
            out.append(f"binding: the calendar{where} has no working day to make it on")
        elif "date" in b:  # material, or a purchased component waiting for its replenishment lead time
            short = max(0.0, b["needed"] - b["available"])
            text = (f"binding: component {b['item']}{of}{where}: {_num(b['needed'])} needed by {b['date']}, "
                    f"{_num(b['available'])} available then (short by {_num(short)})")
            if b.get("replenishment_lead_time_days") is not None:
                text += f"; more arrives {b['replenishment_lead_time_days']} days after it is ordered"
            out.append(text)
        else:  # a lot would have to start before today, or finish inside the time fence
            text = f"binding: lead time of {b['item']}{of}{where}: a lot of {_num(b['needed'])} would start {b.get('start')}"
            if b.get("starts_days_before_today"):
                text += f", {b['starts_days_before_today']} days before today"
            if b.get("time_fence_until"):
                text += f"; nothing can be made inside the time fence until {b['time_fence_until']}"
            out.append(text)
    for lot in ctp.get("root_lots", []):
        out.append(f"  lot of {_num(lot['qty'])} finishing {lot['finish']}")
    comps, caps = ctp.get("components", []), ctp.get("capacity", [])
    if comps:
        items = sorted({c["item"] for c in comps})
        out.append(f"components drawn: {len(comps)} draws of {len(items)} items: " + ", ".join(
            f"{_num(sum(c['qty'] for c in comps if c['item'] == i))} {i}" for i in items[:6]) + (" ..." if len(items) > 6 else ""))
    if caps:
        res = sorted({(c["resource"], c["location"]) for c in caps})
        out.append("capacity drawn: " + ", ".join(
            f"{_num(sum(c['qty'] for c in caps if (c['resource'], c['location']) == r))} on {r[0]} at {r[1]}" for r in res))
    return out


def explain_details(details: dict) -> list[str]:
    """A promise's details as lines for people: capable to promise in words (:func:`explain_ctp`), other entries
    as ``key: value`` (one level of a dict as ``a=1, b=2``)."""
    out = []
    for k, v in details.items():
        if k == "ctp" and isinstance(v, dict):
            out.extend(explain_ctp(v))
        elif isinstance(v, dict):
            out.append(f"{k.replace('_', ' ')}: " + ", ".join(
                f"{a}={json.dumps(b) if isinstance(b, (dict, list)) else b}" for a, b in v.items()))
        elif v is not None:
            out.append(f"{k.replace('_', ' ')}: {v}")
    return out


def _atp(args: argparse.Namespace) -> int:
    import polars as pl

    from promising import atp_report
    from supplydata import load_snapshot

    snap = load_snapshot(args.snapshot)
    args.date, args.qty = snap.as_of, 1.0
    _check_request(snap, args)
    df = atp_report(snap, snap.new_state(), args.item, args.location)
    n_days = df.height
    if args.days:
        df = df.head(args.days)
    if not args.all:
        df = df.filter((pl.col("supply") != 0) | (pl.col("demand") != 0) | (pl.col("committed") != 0) | (pl.col("bucket") == 0))
    if args.json:
        print(json.dumps(df.with_columns(pl.col("date").cast(pl.String)).to_dicts(), indent=2))
        return 0
    cols = ("date", "supply", "demand", "committed", "cumulative", "available", "discrete_atp")
    print(f"{args.item} at {args.location}, as of {snap.as_of}")
    print("  ".join(f"{c:>12}" for c in cols))
    for row in df.iter_rows(named=True):
        vals = [str(row["date"])] + [("inf" if row[c] is None else f"{row[c]:g}") for c in cols[1:]]
        print("  ".join(f"{v:>12}" for v in vals))
    shown = f"the first {min(args.days, n_days)} days" if args.days else f"all {n_days} days of the horizon"
    which = "every day" if args.all else "the days with supply, demand or commitments (and as_of)"
    more = [h for h in ((None if not args.days else "--days 0 for the whole horizon"),
                        (None if args.all else "--all for every day")) if h]
    print(f"({df.height} rows: {which} in {shown}" + ("; " + ", ".join(more) if more else "") + ")")
    return 0
