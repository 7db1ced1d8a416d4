"""Channel revenue management: supplier programs, accruals, claims and program income in margin.

A distributor's suppliers run programs (ship-and-debit, volume rebates, promotional allowances,
price protection). Every shipped or returned line accrues (or reverses) what each eligible
program earns; accruals are claimed from the supplier per period; payments and invoice
deductions settle the claims. The ledger's state is a pure function of an append-only journal
(``ChannelLedger``, ``replay``), stored through a ``JournalStore`` (in memory or SQLite).

This package imports ``promessa`` (errors, config, money) and nothing of the order book, the
server or the API: the order book feeds it typed events (``ShippedLine``, ``ReturnedLine``,
``StockOnHand``).
"""

from channel.claims import TRANSITIONS, ClaimStatus, aging, claim_lines, claim_to_csv, claim_to_json, unclaimed_exposure
from channel.events import ReturnedLine, ShippedLine, StockOnHand, event_from_dict, event_to_dict, load_events
from channel.ledger import Accrual, ChannelLedger, Claim, LedgerState, replay
from channel.margin import ProgramIncome, expected_income, line_income, line_margin, order_margin, whatif
from channel.programs import Catalogue, ClaimTerms, Program, ProgramKind, Tier, load_programs, parse_programs
from channel.reports import program_report, report_chart
from channel.store import JournalStore, MemoryJournal, SqliteJournal
from channel.vector import accrue_frame, claims_frame

__all__ = [
    "TRANSITIONS", "Accrual", "Catalogue", "ChannelLedger", "Claim", "ClaimStatus", "ClaimTerms", "JournalStore",
    "LedgerState", "MemoryJournal", "Program", "ProgramIncome", "ProgramKind", "ReturnedLine", "ShippedLine", "SqliteJournal", "StockOnHand",
    "Tier", "accrue_frame", "aging", "claim_lines", "claim_to_csv", "claim_to_json", "claims_frame", "event_from_dict",
    "event_to_dict", "expected_income", "line_income", "line_margin", "load_events", "load_programs", "order_margin", "parse_programs",
    "program_report", "replay", "report_chart", "unclaimed_exposure", "whatif",
]
