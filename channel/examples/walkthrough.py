"""A walk through the channel ledger with the example programs and events (run: python channel/examples/walkthrough.py OUT_DIR).

Defines the programs of ``programs.yaml``, records the shipments, the stock count and the return
of ``events.jsonl`` in a SQLite journal, claims ACME's first quarter, submits the claim, takes a
deduction from an ACME invoice, ages what is open and reports income per supplier and program
(table and PNG chart). Business dates are passed in, as everywhere in the ledger.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from channel import ChannelLedger, SqliteJournal, aging, claim_to_csv, load_programs, program_report, report_chart
from channel.events import load_events
from promessa.money import Money

HERE = Path(__file__).resolve().parent


def main(out_dir: Path) -> dict:
    """Run the walk-through, writing the journal, the claim CSV and the chart into ``out_dir``; returns the figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = SqliteJournal(out_dir / "channel.sqlite")
    led = ChannelLedger(journal)
    if not led.state.programs:
        led.define_programs(load_programs(HERE / "programs.yaml"))
        led.record(load_events(HERE / "events.jsonl"))
    claims = led.create_claims("ACME", period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31),
                               business_date=dt.date(2026, 4, 1))
    figures: dict = {"accruals": len(led.state.accruals)}
    for c in claims:
        (out_dir / f"{c.claim}.csv").write_text(claim_to_csv(led.state, c))
        led.transition(c.claim, "submitted", date=dt.date(2026, 4, 2))
        led.receive(c.claim, Money.of("100.00", c.currency), date=dt.date(2026, 4, 30), ref="ACME-INV-2291", deduction=True)
        figures[c.claim] = {"total": str(c.total), "status": c.status.value, "open": str(c.open_amount)}
    print(aging(led.state, dt.date(2026, 5, 31)))
    rep = program_report(led.state)
    print(rep)
    (out_dir / "income.png").write_bytes(report_chart(program_report(led.state, by=["supplier"])))
    journal.close()
    return figures


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/channel-walkthrough")))
