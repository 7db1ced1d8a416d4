"""Order-book fixtures: one `store` fixture parametrized over SQLite and the real PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_url(order_book_db):
    """A fresh order-book location (tests/conftest.py: SQLite, and PostgreSQL where reachable)."""
    return order_book_db


@pytest.fixture
def store(db_url):
    from orderbook.store import open_store

    url, schema = db_url
    s = open_store(url, pg_schema=schema)
    yield s
    s.close()
