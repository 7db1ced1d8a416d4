"""HTTP conventions shared by the routers: answers from the order book's commands, ``Location``,
``ETag`` (the quoted order version) and ``If-Match`` (quoted, weak or ``*``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from orderbook.txn import Idem
from promessa.errors import ValidationError


def idem(key: str | None, request: Request, body: Any) -> Idem | None:
    """The idempotency record of a write: the key and a hash of method, path and body."""
    if key is None:
        return None
    try:
        payload = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body, sort_keys=True, default=str)
    except ValueError:  # e.g. lone surrogates inside free-form import rows: hash an escaped form
        data = body.model_dump() if hasattr(body, "model_dump") else body
        payload = json.dumps(data, sort_keys=True, default=str, ensure_ascii=True)
    return Idem.of(key, request.method, request.url.path, payload)


def etag(version: int) -> str:
    """The entity tag of an order at `version`: the version, quoted (``"3"``)."""
    return f'"{int(version)}"'


def answer(result: tuple[int, str, bool], *, order: bool = False, location: str | None = None) -> Response:
    """A command's (status, body, replayed) as a response. ``order``: the body is an order, so it
    gets its ``ETag``; ``location``: a format string with ``{order_id}`` for ``Location`` (201)."""
    status, body, replayed = result
    headers: dict[str, str] = {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if order and 200 <= status < 300:
        ref = getattr(body, "ref", None)  # (order_id, version) of a body written just now
        if ref is None:  # an idempotent replay: the stored body
            data = json.loads(body)
            ref = (data["order_id"], data["version"])
        headers["ETag"] = etag(ref[1])
        if location is not None:
            headers["Location"] = location.format(order_id=_path_quote(ref[0]))
    return Response(content=body, status_code=status, media_type="application/json", headers=headers or None)


def _path_quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


ANY = "*"


def parse_if_match(value: str | None) -> frozenset[int] | str | None:
    """An ``If-Match`` header as the order versions it accepts: None (absent), ``"*"`` (any), or a set
    of versions from a list of entity tags, each quoted (``"2"``), weak (``W/"2"``) or bare (``2``).
    Anything else is a 422 naming the header and the value."""
    if value is None:
        return None
    text = value.strip()
    if text == ANY:
        return ANY
    versions = set()
    for part in text.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if not (tag.isascii() and tag.isdigit()) or len(tag) > 12:
            raise ValidationError('not an entity tag of an order (an ETag such as "2", W/"2", or *)',
                                  field="header.If-Match", value=value)
        versions.add(int(tag))
    return frozenset(versions)
