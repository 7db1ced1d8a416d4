"""Fuzz the order API's OpenAPI with schemathesis: whatever the input, never a 5xx; answers match the schema.

Runs in-process (ASGI) against a demo-mode app (writes need no key) on SQLite, with a bounded
number of examples per operation so that the whole run stays well under a minute."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from promessa.config import settings_of
from server import create_app
from supplydata.generate import generate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


_TMP = Path(tempfile.mkdtemp(prefix="promessa-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)  # also when this module is collected but not run
# the generated tiny sample: the schemas' examples (I000001, DC01, Z01, ...) are valid against it,
# so the examples phase captures, changes and ships real orders
generate(_TMP / "snap", seed=7, size="tiny")
_APP = create_app(settings_of(db=str(_TMP / "orderbook.sqlite"), snapshot=_TMP / "snap",
                           demo=True, max_lines=20, max_body_bytes=64 * 1024))
# This module's routes (server.py); routers other packages mount are fuzzed by their own tests.
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP).include(
    tag=["availability", "orders", "imports", "operations"])


@pytest.fixture(scope="module", autouse=True)
def _running_app():
    """Run the lifespan (snapshot, order book, rebuilt state) around the fuzz run, then clean up."""
    from fastapi.testclient import TestClient

    try:
        with TestClient(_APP):
            yield
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
