"""Domain errors to HTTP, in one shape.

Invalid input of any kind (a malformed, empty or unparsable body, a bad query or header, a
value the domain refuses, a refused snapshot extract) answers **422** with ``detail`` as a list
of ``{type, loc, msg, input}`` (optionally ``ctx`` and ``hint``): ``loc`` is the field path, ``input``
the offending value. Every other error answers ``{"detail": "<message>", "hint": "..."}`` with
401, 403, 404, 409, 412 or 503. An unexpected failure answers 500 with a fixed message (and is
logged); nothing is applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from orderbook.txn import StoreUnavailable
from promessa.errors import ConflictError, InfeasibleError, NotFoundError, PromessaError, SnapshotError, ValidationError

log = logging.getLogger("promessa.api")


# ------------------------------------------------------------------ the shapes (OpenAPI)


class ErrorItem(BaseModel):
    """One problem with the input: where (``loc``), what (``type``, ``msg``) and the value (``input``)."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None
    hint: str | None = None


class ValidationErrorPublic(BaseModel):
    """The 422 answer: every problem found, each with its field path and value."""

    detail: list[ErrorItem] = Field(min_length=1)


class ErrorPublic(BaseModel):
    """Every other error: a stable message and, where there is a fix, a hint."""

    detail: str
    hint: str | None = None


class PreconditionFailed(PromessaError):
    """An ``If-Match`` precondition did not hold (412)."""


_DESCRIPTIONS = {
    401: "no API key, or an unknown one",
    403: "the key's role may not do this (or, in demo mode, the client is not on loopback)",
    404: "not found",
    409: "conflicts with the current state, or the Idempotency-Key was used with another request",
    412: "If-Match does not match the current version",
    422: "invalid input: each problem with its field path (loc) and value (input)",
    503: "the order book or the engine is not available; retry (with the same Idempotency-Key)",
}


def responses(*codes: int, non_json: bool = False, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the given error codes (401, 403, 422 and 503 are added: every
    route needs a key, validates its input and needs the engine). ``descriptions`` override a code's
    text, as ``_404="..."``. ``non_json``: the route answers another media type when it succeeds (its
    errors are still JSON)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 403, 422, 503, *codes}):
        text = descriptions.get(f"_{code}", _DESCRIPTIONS[code])
        model = ValidationErrorPublic if code == 422 else ErrorPublic
        if non_json:
            ref = {"$ref": f"#/components/schemas/{model.__name__}"}
            out[code] = {"description": text, "content": {"application/json": {"schema": ref}}}
        else:
            out[code] = {"model": model, "description": text}
    return out


#: The answers of a public route (no key needed): only demo mode's refusal of a non-loopback client.
PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorPublic, "description": "demo mode: the client is not on loopback"}}


# ------------------------------------------------------------------ JSON-safe values


def jsonable(v: Any) -> Any:
    """A JSON-safe copy of an error's input: NaN and infinities become strings, lone surrogates are
    escaped, unknown objects become their repr()."""
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else repr(v)
    if isinstance(v, dict):
        return {jsonable(str(k)): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    if isinstance(v, str):
        try:
            v.encode("utf-8")
            return v
        except UnicodeEncodeError:
            return v.encode("utf-8", "backslashreplace").decode("ascii", "replace")
    if v is None or isinstance(v, (int, bool)):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return repr(v)


def field_loc(field: str) -> list[str | int]:
    """``"lines.0.item"`` -> ``["lines", 0, "item"]``."""
    return [int(p) if p.isdigit() else p for p in field.split(".")] if field else []


def item(type_: str, loc: list[str | int], msg: str, value: Any = None, *, hint: str | None = None,
         ctx: dict | None = None) -> dict:
    """One ErrorItem as a dict."""
    out: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "input": jsonable(value)}
    if ctx:
        out["ctx"] = jsonable(ctx)
    if hint:
        out["hint"] = hint
    return out


def unprocessable(*items: dict) -> JSONResponse:
    """A 422 answer in the one shape."""
    return JSONResponse(status_code=422, content={"detail": list(items)})


def validation_items(exc: ValidationError) -> dict:
    """The ErrorItem for a promessa ValidationError (the message without its ``field=value:`` prefix)."""
    msg = exc.message
    prefix = f"{exc.field}={exc.value!r}: "
    if msg.startswith(prefix):
        msg = msg[len(prefix):]
    return item("value_error", field_loc(exc.field), msg, exc.value, hint=exc.hint)


def snapshot_item(exc: SnapshotError, loc: list[str | int]) -> dict:
    """The ErrorItem for a refused snapshot extract: the file, row and column in ``ctx``."""
    return item("snapshot_error", loc, str(exc), exc.value,
                ctx={"file": exc.file, "row": exc.row, "column": exc.column}, hint=exc.hint)


# ------------------------------------------------------------------ handlers


def install(app: FastAPI) -> None:
    """Install the handlers that map errors to HTTP on `app`."""

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        out = []
        for e in exc.errors():
            d = {k: jsonable(v) for k, v in e.items() if k not in ("url",)}
            d.setdefault("input", None)
            out.append(d)
        return JSONResponse(status_code=422, content={"detail": out})

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        return unprocessable(validation_items(exc))

    @app.exception_handler(SnapshotError)
    async def _snapshot(request: Request, exc: SnapshotError) -> JSONResponse:
        return unprocessable(snapshot_item(exc, ["body"]))

    @app.exception_handler(InfeasibleError)
    async def _infeasible(request: Request, exc: InfeasibleError) -> JSONResponse:
        return unprocessable(item("infeasible", ["body"], exc.message, None, hint=exc.hint,
                                  ctx={"rules": exc.rules} if exc.rules else None))

    def simple(status: int):
        async def handler(request: Request, exc: PromessaError) -> JSONResponse:
            content: dict[str, Any] = {"detail": exc.message}
            if exc.hint:
                content["hint"] = exc.hint
            return JSONResponse(status_code=status, content=content)

        return handler

    app.add_exception_handler(NotFoundError, simple(404))
    app.add_exception_handler(ConflictError, simple(409))
    app.add_exception_handler(PreconditionFailed, simple(412))
    app.add_exception_handler(StoreUnavailable, simple(503))

    @app.exception_handler(PromessaError)
    async def _other(request: Request, exc: PromessaError) -> JSONResponse:
        # a refusal without a more specific kind: still the caller's input, in the one shape
        return unprocessable(item("promessa_error", ["body"], exc.message, None, hint=exc.hint))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error; the request was not applied"})
