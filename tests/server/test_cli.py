"""`promessa serve` flags become settings; bad flags are refused with the flag and the value."""

from __future__ import annotations

import pytest

from orderbook.cli import settings_from_args
from orderbook.settings import Role
from promessa.cli import build_parser
from promessa.errors import ValidationError


def _args(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_flags_override_settings(monkeypatch):
    monkeypatch.setenv("PROMESSA_MAX_LINES", "7")
    s = settings_from_args(_args("--db", "postgresql://u@h/db", "--pg-schema", "ob", "--port", "9001", "--demo",
                                 "--api-key", "k1=planner", "--api-key", "k2=admin", "--snapshot", "/tmp/x"))
    assert s.db == "postgresql://u@h/db" and s.pg_schema == "ob" and s.port == 9001 and s.demo is True
    assert s.api_keys == {"k1": Role.PLANNER, "k2": Role.ADMIN} and str(s.snapshot) == "/tmp/x" and s.max_lines == 7
    assert s.host == "127.0.0.1"


def test_api_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROMESSA_API_KEYS", '{"env-key": "order_capture"}')
    s = settings_from_args(_args("--api-key", "cli-key=admin"))
    assert s.api_keys == {"env-key": Role.ORDER_CAPTURE, "cli-key": Role.ADMIN}


def test_bad_api_key_flag_is_refused():
    with pytest.raises(ValidationError, match="--api-key"):
        settings_from_args(_args("--api-key", "k1=superuser"))
