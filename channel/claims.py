"""Claim lifecycle, exports in the supplier's format, and aging against the claim window.

Lifecycle (``TRANSITIONS``; anything else is refused with ``ConflictError``)::

    draft -> submitted -> accepted -> partially_paid -> settled
                       `-> rejected (with a reason) -> disputed -> ...
    disputed, rejected and partially_paid claims may be written off; settled and written_off are final.

A claim's lines carry the fields its supplier's terms require (``required_detail``), then
the program, the accrual kind, the basis and the amount. Aging uses a business date passed in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import polars as pl

from promessa.errors import ConflictError

if TYPE_CHECKING:
    from channel.ledger import Claim, LedgerState


class ClaimStatus(StrEnum):
    """Where a claim stands with its supplier."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_PAID = "partially_paid"
    REJECTED = "rejected"
    DISPUTED = "disputed"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"


S = ClaimStatus
#: The moves a claim may make; settled and written_off are final.
TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.DISPUTED, S.PARTIALLY_PAID, S.SETTLED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_PAID, S.SETTLED, S.DISPUTED}),
    S.PARTIALLY_PAID: frozenset({S.PARTIALLY_PAID, S.SETTLED, S.DISPUTED, S.WRITTEN_OFF}),
    S.REJECTED: frozenset({S.DISPUTED, S.WRITTEN_OFF}),
    S.DISPUTED: frozenset({S.ACCEPTED, S.PARTIALLY_PAID, S.SETTLED, S.REJECTED, S.WRITTEN_OFF}),
    S.SETTLED: frozenset(),
    S.WRITTEN_OFF: frozenset(),
}
OPEN = frozenset({S.DRAFT, S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_PAID, S.REJECTED, S.DISPUTED})


def check_transition(current: ClaimStatus, to: ClaimStatus, *, claim: str = "") -> None:
    """Raise ``ConflictError`` unless a claim in ``current`` may move to ``to``."""
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final)"
        raise ConflictError(f"claim {claim}: cannot go from {current.value} to {to.value}", hint=f"allowed: {allowed}")


def claim_lines(state: LedgerState, claim: Claim) -> list[dict[str, Any]]:
    """The claim's lines: the supplier's required detail (union over the programs' terms, in the standard order),
    then claim, accrual, program, kind, period, basis, rate and amount (exact strings)."""
    from channel.programs import DETAIL_FIELDS

    accs = [state.by_id[a] for a in claim.accruals]
    wanted = set()
    for a in accs:
        wanted |= set(state.programs[a.program].terms.required_detail)
    fields = [f for f in DETAIL_FIELDS if f in wanted]
    out = []
    for a in accs:
        det = state.detail(a)
        row = {"claim": claim.claim, "accrual": a.id, "program": a.program, "kind": a.kind, "period": a.period}
        row.update({f: det[f] for f in fields})
        row.update({"basis": a.basis, "rate": "" if a.rate is None else str(a.rate), "amount": str(a.amount.amount),
                    "currency": a.amount.currency})
        out.append(row)
    return out


def claim_to_csv(state: LedgerState, claim: Claim) -> str:
    """The claim's lines as CSV text (header first)."""
    rows = claim_lines(state, claim)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def claim_header(claim: Claim) -> dict[str, Any]:
    """The claim without its lines, JSON-ready (amounts as exact strings)."""
    return {"claim": claim.claim, "supplier": claim.supplier, "currency": claim.currency,
            "period_start": claim.period_start.isoformat(), "period_end": claim.period_end.isoformat(),
            "created": claim.created.isoformat(), "status": claim.status.value,
            "submitted": claim.submitted.isoformat() if claim.submitted else None,
            "total": str(claim.total), "received": str(claim.received), "written_off": str(claim.written_off),
            "open": str(claim.open_amount), "lines": len(claim.accruals), "history": claim.history,
            "receipts": claim.receipts}


def claim_to_json(state: LedgerState, claim: Claim) -> str:
    """The claim header and its lines as a JSON document."""
    return json.dumps({**claim_header(claim), "lines": claim_lines(state, claim)}, indent=2)


def _bucket(days: int) -> str:
    return "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"


def aging(state: LedgerState, business_date: dt.date) -> pl.DataFrame:
    """Open claims aged on ``business_date``: days since submission (or creation for drafts), the aging bucket,
    the claim-window deadline (earliest line's day + the shortest window of its programs), whether the claim was
    (or, still a draft, now is) past it, the payment due day and the days overdue."""
    rows = []
    for c in state.claims.values():
        if c.status not in OPEN:
            continue
        accs = [state.by_id[a] for a in c.accruals]
        window = min(state.programs[a.program].terms.claim_window_days for a in accs)
        pay = max(state.programs[a.program].terms.payment_days for a in accs)
        deadline = min(a.posted for a in accs) + dt.timedelta(days=window)
        since = c.submitted or c.created
        age = (business_date - since).days
        due = c.submitted + dt.timedelta(days=pay) if c.submitted else None
        rows.append({"claim": c.claim, "supplier": c.supplier, "status": c.status.value, "currency": c.currency,
                     "open": c.open_amount, "since": since, "age_days": age, "bucket": _bucket(age),
                     "window_deadline": deadline, "past_window": (c.submitted or business_date) > deadline,
                     "payment_due": due, "days_overdue": max(0, (business_date - due).days) if due else 0})
    schema = {"claim": pl.String, "supplier": pl.String, "status": pl.String, "currency": pl.String,
              "open": pl.Decimal(38, 4), "since": pl.Date, "age_days": pl.Int64, "bucket": pl.String,
              "window_deadline": pl.Date, "past_window": pl.Boolean, "payment_due": pl.Date, "days_overdue": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("age_days", "claim", descending=[True, False])


def unclaimed_exposure(state: LedgerState, business_date: dt.date) -> pl.DataFrame:
    """Unclaimed, non-zero accruals by supplier and program with the days left in the claim window on
    ``business_date`` (negative: already past it - money at risk of being lost)."""
    rows = []
    for a in state.accruals:
        if a.id in state.claimed or a.amount.is_zero():
            continue
        deadline = a.posted + dt.timedelta(days=state.programs[a.program].terms.claim_window_days)
        rows.append({"supplier": a.supplier, "program": a.program, "currency": a.amount.currency,
                     "amount": a.amount.amount, "days_left": (deadline - business_date).days})
    schema = {"supplier": pl.String, "program": pl.String, "currency": pl.String, "amount": pl.Decimal(38, 4),
              "days_left": pl.Int64}
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return (df.group_by("supplier", "program", "currency")
            .agg(pl.col("amount").sum().alias("unclaimed"), pl.col("days_left").min().alias("min_days_left"),
                 pl.col("amount").filter(pl.col("days_left") < 0).sum().alias("past_window"))
            .sort("supplier", "program"))
