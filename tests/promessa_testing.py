"""Helpers shared by the tests (import as `from promessa_testing import day, AS_OF`)."""

from __future__ import annotations

import datetime as dt
import os

AS_OF = dt.date(2026, 1, 5)  # a Monday


def day(n: int) -> dt.date:
    """The date of bucket n."""
    return AS_OF + dt.timedelta(days=n)


# The order-book tests run on SQLite and, where one answers, on a real PostgreSQL server.
PG_URL = os.environ.get("PROMESSA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip"
        return False
