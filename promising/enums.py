"""Status and reason codes shared by the kernels and the Python layer.

The compiled kernels use these `IntEnum` members directly (numba treats them as integer
constants) and return them as codes; only the Python layer turns them into messages.
`EPS`, `MAX_LINES` and `MAX_SPLIT_LINES` are `promessa.constants`' (also `promessa.config`'s), re-exported here for the
kernels; `lines_width` sizes a batch's schedule-line arrays.
"""

from __future__ import annotations

import enum

import numpy as np

from promessa.constants import EPS, MAX_LINES, MAX_SPLIT_LINES


def lines_width(max_lines) -> int:
    """Columns of a batch's schedule-line arrays: the largest `max_lines` asked for (an int or an
    array of them), never fewer than `MAX_LINES`."""
    m = int(np.max(max_lines)) if np.size(max_lines) else 0
    return m if m > MAX_LINES else MAX_LINES


class Status(enum.IntEnum):
    FULL = 0      # the whole quantity on the requested date
    LATE = 1      # the whole quantity, some or all of it after the requested date
    PARTIAL = 2   # only part of the quantity could be promised (policy allows partial)
    SHORT = 3     # nothing promised

    @property
    def description(self) -> str:
        return _STATUS_TEXT[self]


_STATUS_TEXT = {
    Status.FULL: "promised in full on the requested date",
    Status.LATE: "promised in full, later than requested",
    Status.PARTIAL: "promised in part",
    Status.SHORT: "not promised",
}


class Reason(enum.IntEnum):
    """The binding constraint when a promise is short or late."""

    NONE = 0
    SUPPLY = 1          # not enough supply by the requested date
    LEAD_TIME = 2       # bound by a lead time (replenishment, production or the ATP time fence)
    CALENDAR = 3        # the requested day is not a working day at the location
    MAX_LATENESS = 4    # the quantity is available, but later than the policy allows
    HORIZON = 5         # the quantity is not available within the horizon
    NO_SOURCE = 6       # the item has no row at that location
    ALLOCATION = 7      # the demand class's allocation binds
    CAPACITY = 8        # resource capacity binds (capable-to-promise)
    MATERIAL = 9        # a component binds (capable-to-promise)
    SPLIT_LIMIT = 10    # more schedule lines would be needed than the policy allows

    @property
    def description(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.NONE: "no constraint binds",
    Reason.SUPPLY: "not enough supply by the requested date",
    Reason.LEAD_TIME: "bound by a lead time (replenishment, production or the time fence)",
    Reason.CALENDAR: "the requested day is not a working day at the location",
    Reason.MAX_LATENESS: "available only later than the policy's maximum lateness",
    Reason.HORIZON: "not available within the planning horizon",
    Reason.NO_SOURCE: "the item is not stocked at that location",
    Reason.ALLOCATION: "the demand class's allocation is used up",
    Reason.CAPACITY: "resource capacity is used up",
    Reason.MATERIAL: "a component is short",
    Reason.SPLIT_LIMIT: "more schedule lines would be needed than the policy allows",
}

# Policy flags (bit set) passed to kernels.
FLAG_PARTIAL = 1
FLAG_SPLIT = 2
FLAG_BACKORDER = 4  # with FLAG_PARTIAL, no split: confirm what the requested day has, backorder the rest

__all__ = ["EPS", "FLAG_BACKORDER", "FLAG_PARTIAL", "FLAG_SPLIT", "MAX_LINES", "MAX_SPLIT_LINES", "Reason", "Status",
           "lines_width"]
