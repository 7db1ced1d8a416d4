"""Fuzz every operation of the OpenAPI document with schemathesis, with an admin key: whatever the
input, never a 5xx, and every answer matches its own declared schema and content type. Then the
stateful phase: sequences of calls that follow the document's links (capture -> read, change,
cancel, approve, events ...) with the same checks.

Runs in-process (ASGI) on SQLite over the generated tiny sample, with bounded examples per
operation and bounded stateful steps (a few minutes on two busy cores: marked slow)."""

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

KEY = {"X-API-Key": "fuzz-admin"}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

_TMP = Path(tempfile.mkdtemp(prefix="promessa-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)  # also when this module is collected but not run
# the generated tiny sample: the schemas' examples (I000001, DC01, Z01, ...) are valid against it,
# so the examples phase captures, changes and ships real orders
generate(_TMP / "snap", seed=7, size="tiny")
_APP = create_app(settings_of(db=str(_TMP / "orderbook.sqlite"), snapshot=_TMP / "snap", api_keys={"fuzz-admin": "admin"},
                              roots=[_TMP], max_lines=20, max_body_bytes=64 * 1024))
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _running_app():
    """Run the lifespan (engine: snapshot, order book, rebuilt state) around the fuzz run, then clean up."""
    from fastapi.testclient import TestClient

    try:
        with TestClient(_APP):
            yield
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)


def test_every_operation_is_fuzzed():
    ops = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    for must in (("POST", "/v1/orders"), ("PATCH", "/v1/orders/{order_id}"), ("POST", "/v1/backlog/reschedule"),
                 ("POST", "/v1/scenarios"), ("GET", "/v1/jeopardy"), ("POST", "/v1/snapshot/refresh"),
                 ("POST", "/v1/supply/deltas"), ("GET", "/v1/metrics"), ("GET", "/v1/jobs/{job_id}")):
        assert must in ops
    assert len(ops) >= 30


def _validate(case, response) -> None:
    assert response.status_code != 401, (case.method, case.path)  # the key went with every call
    case.validate_response(response, checks=CHECKS, headers=KEY)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    _validate(case, case.call(headers=KEY))


class _Stateful(schema.as_state_machine()):
    def get_call_kwargs(self, case):
        return {"headers": KEY}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        _validate(case, response)


_Stateful.TestCase.settings = settings(max_examples=10, stateful_step_count=6, deadline=None, derandomize=True,
                                       suppress_health_check=list(HealthCheck))
TestStateful = _Stateful.TestCase
