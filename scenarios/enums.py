"""Codes shared by the rescheduling kernels (integers) and the Python layer (enums)."""

from __future__ import annotations

import enum


class Strategy(enum.IntEnum):
    """Backorder-processing strategy groups, processed in this order (as in SAP's BOP)."""

    WIN = 0           # must keep its confirmation, improves where it can; flagged unless full on time
    GAIN = 1          # keeps its confirmation, improves where it can; never gets worse
    REDISTRIBUTE = 2  # promised afresh: may gain or lose
    FILL = 3          # promised last, from what is left; keeps its confirmation at best (never gains)
    LOSE = 4          # gives everything back

    @property
    def description(self) -> str:
        return _STRATEGY_TEXT[self]

    @classmethod
    def parse(cls, name: str) -> Strategy:
        return cls[name.upper()]


_STRATEGY_TEXT = {
    Strategy.WIN: "must keep or improve its confirmation; should be confirmed in full on the requested date",
    Strategy.GAIN: "may improve, never gets worse",
    Strategy.REDISTRIBUTE: "may gain or lose",
    Strategy.FILL: "keeps only what is left over after the other groups",
    Strategy.LOSE: "gives its confirmation back",
}


class Change(enum.IntEnum):
    """How a line's new schedule compares with its old one (confirmed quantity by date)."""

    UNCHANGED = 0  # the same quantity confirmed by every date
    IMPROVED = 1   # at least as much by every date, more by some
    WORSENED = 2   # at most as much by every date, less by some
    MIXED = 3      # more by some dates, less by others

    @property
    def description(self) -> str:
        return _CHANGE_TEXT[self]


_CHANGE_TEXT = {
    Change.UNCHANGED: "the same quantity confirmed by every date",
    Change.IMPROVED: "at least as much confirmed by every date, more by some",
    Change.WORSENED: "at most as much confirmed by every date, less by some",
    Change.MIXED: "more confirmed by some dates, less by others",
}


class Exception_(enum.IntEnum):
    """Why a strategy could not be honoured for a line (0 = it was)."""

    NONE = 0
    OLD_DOES_NOT_FIT = 1   # win/gain: the old confirmation no longer fits the supply
    WIN_NOT_FULL = 2       # win: not confirmed in full on the requested date
    NO_SOURCE = 3          # the item is not stocked at the line's location

    @property
    def description(self) -> str:
        return _EXC_TEXT[self]


_EXC_TEXT = {
    Exception_.NONE: "",
    Exception_.OLD_DOES_NOT_FIT: "the old confirmation no longer fits the supply (receipts cut, delayed or taken by a higher group)",
    Exception_.WIN_NOT_FULL: "not confirmed in full on the requested date",
    Exception_.NO_SOURCE: "the item is not stocked at the line's location",
}
