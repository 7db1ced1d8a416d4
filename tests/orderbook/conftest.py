"""Order-book fixtures: one `store` fixture parametrized over SQLite and the real PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("PROMESSA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip"
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh order-book location: a SQLite file, or a unique PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "orderbook.sqlite"), "unused"
        return
    if not pg_reachable():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def store(db_url):
    from orderbook.store import open_store

    url, schema = db_url
    s = open_store(url, pg_schema=schema)
    yield s
    s.close()
