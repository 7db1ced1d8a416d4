"""Fixtures: a hand-driven clock, a store (SQLite file, or a PostgreSQL schema dropped afterwards), an engine
over the ready definitions."""

from __future__ import annotations

import uuid

import pytest
from promessa_testing import PG_URL, pg_reachable

from orchestration import Orchestrator, PostgresStore, SqliteStore, ready_catalog
from orchestration.testing import ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "orch.sqlite")
        yield s
        s.close()
        return
    if not pg_reachable():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"o_{uuid.uuid4().hex[:12]}"
    s = PostgresStore(PG_URL, schema=schema)
    yield s
    s.close()
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_store(tmp_path):
    s = SqliteStore(tmp_path / "orch.sqlite")
    yield s
    s.close()


@pytest.fixture
def engine(store, clock):
    return Orchestrator(ready_catalog(), store, clock=clock)
