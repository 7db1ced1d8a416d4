"""Helpers shared by the tests (import as `from promessa_testing import day, AS_OF`)."""

from __future__ import annotations

import datetime as dt

AS_OF = dt.date(2026, 1, 5)  # a Monday


def day(n: int) -> dt.date:
    """The date of bucket n."""
    return AS_OF + dt.timedelta(days=n)
