"""Processes: definitions users deploy as data, each order's process (current step, late steps, history, message
log), manual step completion, signed status updates from fulfilment systems, process-step jeopardy, and documents
attached to an order or a step (every view and download audited)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import OrchestrationDep, PlanningReader, ProcessesDeployer, ProcessesOperator, ProcessesReader, ServiceDep
from api.errors import responses
from monitoring.jeopardy import process_step_alerts
from promessa.errors import NotFoundError

router = APIRouter(tags=["processes"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
Name = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]

#: The path of the signed inbound webhook (public: the signature authenticates it, see api.deps.PUBLIC_PATHS).
INBOUND_PATH = "/processes/inbound"


# ------------------------------------------------------------------ schemas


class CompletionPublic(BaseModel):
    kind: str
    event: str | None = None
    timer_s: float | None = None


class StepPublic(BaseModel):
    name: str
    system: str
    duration_s: float
    completion: CompletionPublic
    request: str | None = None
    effects: list[str] = []


class ProcessPublic(BaseModel):
    """One deployed version of a process: its steps and the data it was deployed from."""

    name: str
    version: int
    versions: list[int]
    report_to: str | None = None
    description: str = ""
    steps: list[StepPublic]
    source: dict[str, Any]


class ProcessSummary(BaseModel):
    name: str
    latest: int
    versions: list[int]
    steps: list[str]


class ProcessesPublic(BaseModel):
    processes: list[ProcessSummary]


class MessagePublic(BaseModel):
    """One outbox message: its order in the outbox, kind (schema), addressee, line, the step that sent it, when it was
    written and when it was published (none: waiting)."""

    seq: int
    kind: str
    system: str
    line: str | None = None
    step: str | None = None
    created_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    published: bool


class AlertPublic(BaseModel):
    instance_id: str
    order: str
    line: str | None = None
    process: str
    version: int
    step: str
    system: str
    late_s: float
    raised_at: dt.datetime
    reason: str


class InstancePublic(BaseModel):
    """One process of the order (or of one line): its step now, how late it is, what happened, what was sent."""

    instance: str
    line: str | None = None
    process: str
    version: int
    status: str
    step: str | None = None
    system: str | None = None
    step_started_at: dt.datetime | None = None
    due_at: dt.datetime | None = Field(None, description="when the current step is due (started + expected duration)")
    late_s: float
    history: list[dict[str, Any]]
    alerts: list[AlertPublic]
    messages: list[MessagePublic]


class DocumentPublic(BaseModel):
    doc_id: str
    order: str
    step: str | None = None
    kind: str
    filename: str
    content_type: str
    sha256: str
    size: int
    attached_by: str
    attached_at: dt.datetime


class OrderProcessesPublic(BaseModel):
    """An order's processes, late steps (the ``late_s`` of each current step past its expected duration) and documents."""

    order_id: str
    processes: list[InstancePublic]
    late_steps: list[dict[str, Any]]
    messages: list[MessagePublic] = Field([], description="the order's message log: every outbox message, oldest first")
    documents: list[DocumentPublic]


class RunningPublic(BaseModel):
    order: str
    instance: str
    line: str | None = None
    process: str
    version: int
    status: str
    step: str | None = None
    system: str | None = None
    step_started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    late_s: float


class RunningProcessesPublic(BaseModel):
    """Active processes of every order, the latest deadline first: a step is late when ``late_s`` > 0."""

    processes: list[RunningPublic]
    late: int = Field(description="how many of them are past their current step's due time")


class OrderMessagePublic(MessagePublic):
    order: str


class MessageLogPublic(BaseModel):
    """The last messages of the outbox, in outbox order."""

    messages: list[OrderMessagePublic]


class StepComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: str | None = Field(None, min_length=1, max_length=20, description="the line's process (empty: every process of "
                                                                               "the order at that step)")


class InboundPublic(BaseModel):
    """What an inbound status update did: nothing when it was a duplicate; else the processes it moved."""

    message_id: str
    duplicate: bool
    processes: list[dict[str, Any]]
    notes: list[str]


class ProcessAlertsPublic(BaseModel):
    alerts: list[AlertPublic]


class AuditEntryPublic(BaseModel):
    action: str
    who: str
    at: dt.datetime


class DocumentAuditPublic(BaseModel):
    doc_id: str
    audit: list[AuditEntryPublic]


class DocumentsPublic(BaseModel):
    order_id: str
    documents: list[DocumentPublic]


# ------------------------------------------------------------------ helpers


def _process(hub: Any, name: str, version: int | None) -> dict:
    cat = hub.engine.catalog
    if name not in cat.names():
        raise NotFoundError(f"process {name!r} is not deployed")
    if version is not None and version not in cat.versions(name):
        raise NotFoundError(f"process {name!r} has no version {version}", hint=f"versions: {cat.versions(name)}")
    d = cat.get(name, version)
    return {"name": d.name, "version": d.version, "versions": cat.versions(name), "report_to": d.report_to,
            "description": d.description, "source": json.loads(d.source) if d.source else {},
            "steps": [{"name": s.name, "system": s.system, "duration_s": s.duration_s, "request": s.request,
                       "completion": {"kind": s.completion.kind, "event": s.completion.event, "timer_s": s.completion.timer_s},
                       "effects": list(s.effects)} for s in d.steps]}


def _doc(d: Any) -> dict:
    return {"doc_id": d.doc_id, "order": d.order, "step": d.step, "kind": d.kind, "filename": d.filename,
            "content_type": d.content_type, "sha256": d.sha256, "size": d.size, "attached_by": d.attached_by,
            "attached_at": d.attached_at}


def _known_order(svc: Any, order_id: str) -> None:
    if svc.orders.get(order_id) is None:
        raise NotFoundError(f"unknown order {order_id!r}")


def _order_view(hub: Any, order_id: str) -> dict:
    procs = hub.view(order_id)
    late = [{"line": p["line"], "process": p["process"], "step": p["step"], "system": p["system"], "late_s": p["late_s"]}
            for p in procs if p["late_s"] > 0]
    return {"order_id": order_id, "processes": procs, "late_steps": late, "messages": hub.message_log(order_id),
            "documents": [_doc(d) for d in hub.documents.of_order(order_id)]}


# ------------------------------------------------------------------ definitions


@router.get("/processes", operation_id="processes", response_model=ProcessesPublic, responses=responses())
def list_processes(hub: OrchestrationDep, user: ProcessesReader) -> dict:
    """Every deployed process: its versions, the latest and that version's steps."""
    cat = hub.engine.catalog
    out = []
    for name in cat.names():
        d = cat.get(name)
        out.append({"name": name, "latest": d.version, "versions": cat.versions(name), "steps": [s.name for s in d.steps]})
    return {"processes": out}


@router.get("/process-instances", operation_id="running_processes", response_model=RunningProcessesPublic,
            responses=responses())
def running_processes(hub: OrchestrationDep, user: ProcessesReader,
                      limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict:
    """The active processes of every order: the current step and its system, when it started and is due, and how
    late it is (seconds past the due time, 0 when on time); the latest first."""
    rows = hub.running(limit=limit)
    return {"processes": rows, "late": sum(1 for r in rows if r["late_s"] > 0)}


@router.get("/process-messages", operation_id="process_messages", response_model=MessageLogPublic, responses=responses())
def process_messages(hub: OrchestrationDep, user: ProcessesReader,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> dict:
    """The message log of every order: the last ``limit`` outbox messages (order, kind, addressee, line, step, when
    written and published), in outbox order."""
    return {"messages": hub.message_log(limit=limit)}


@router.get("/processes/{name}", operation_id="process", response_model=ProcessPublic, responses=responses(404))
def get_process(name: Name, hub: OrchestrationDep, user: ProcessesReader,
                version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict:
    """One process (the latest version, or ``version``): steps with system, expected duration and completion."""
    return _process(hub, name, version)


_DEFINITION_BODY = {"requestBody": {"required": True, "content": {
    "application/yaml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object", "additionalProperties": True},
                         "example": {"process": "ship-from-node", "version": 2, "steps": [
                             {"name": "schedule", "system": "oms", "duration": "15m", "completion": {"event": "scheduled"}}]}}}}}


@router.post("/processes", operation_id="deploy_process", status_code=201, response_model=ProcessPublic,
             responses=responses(409, _409="the version is not above the deployed one"), openapi_extra=_DEFINITION_BODY)
async def deploy_process(request: Request, response: Response, hub: OrchestrationDep, user: ProcessesDeployer) -> dict:
    """Deploy a new version of a process from its definition (YAML or JSON body, see orchestration/README.md).

    Orders already running keep the version they started with. Refused with 422 naming the step and field (a step
    with no completion, an unknown system, a cycle with no exit, ...), 409 when the version is not above the
    deployed one."""
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    source = "definition.json" if "json" in ctype else "definition"
    defn = hub.engine.deploy(body.decode("utf-8", "replace"), source=source)
    response.headers["Location"] = f"/v1/processes/{defn.name}?version={defn.version}"
    return _process(hub, defn.name, defn.version)


# ------------------------------------------------------------------ an order's processes


@router.get("/orders/{order_id}/processes", operation_id="order_processes", response_model=OrderProcessesPublic,
            responses=responses(404))
def order_processes(order_id: Id, hub: OrchestrationDep, svc: ServiceDep, user: ProcessesReader) -> dict:
    """The order's processes: current step and its system, how late (seconds past the expected duration), the
    history, jeopardy alerts, the message log (published or waiting), and the documents attached."""
    _known_order(svc, order_id)
    return _order_view(hub, order_id)


@router.post("/orders/{order_id}/processes/steps/{step}/complete", operation_id="complete_step",
             response_model=OrderProcessesPublic, responses=responses(404))
def complete_step(order_id: Id, step: Name, hub: OrchestrationDep, svc: ServiceDep, user: ProcessesOperator,
                  body: StepComplete | None = None) -> dict:
    """Complete a step whose completion is manual (for example an approval); who did it is recorded in the history.
    404 when no process of the order is at that step; 422 when the step is not completed by hand."""
    _known_order(svc, order_id)
    hub.complete_manual(order_id, step, who=user.actor, line=body.line if body else None)
    return _order_view(hub, order_id)


_INBOUND_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["message_id", "system", "event", "order", "at"], "additionalProperties": False,
    "properties": {"message_id": {"type": "string"}, "system": {"type": "string"}, "event": {"type": "string"},
                   "order": {"type": "string"}, "line": {"type": ["string", "null"]}, "at": {"type": "string", "format": "date-time"},
                   "payload": {"type": "object"}}},
    "example": {"message_id": "WMS-1-released", "system": "wms", "event": "released", "order": "SO-1", "line": "1",
                "at": "2026-01-05T10:00:00+00:00", "payload": {}}}}},
    "parameters": [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                   for h in ("X-Promessa-Timestamp", "X-Promessa-Signature")]}


@router.post(INBOUND_PATH, operation_id="process_inbound", response_model=InboundPublic, responses=responses(409),
             openapi_extra=_INBOUND_BODY)
async def inbound(request: Request, hub: OrchestrationDep) -> dict:
    """A status update from a fulfilment system (released, packed, po.ack, ship.notice, transfer.received,
    invoiced...), the ``inbound.update`` schema. No API key: the body is signed with the webhook secret,
    ``X-Promessa-Signature: sha256=HMAC(secret, X-Promessa-Timestamp + "." + body)``, the timestamp within 5 minutes.
    Consumed once by ``message_id``: the same update again changes nothing (``duplicate: true``). A bad signature or
    stale timestamp is 422 naming the header."""
    body = await request.body()
    out = hub.receive_webhook(body, request.headers)
    mid = json.loads(body).get("message_id", "")
    return {"message_id": mid, "duplicate": out.duplicate, "notes": out.notes,
            "processes": [{"instance": i.instance_id, "line": i.line, "process": i.process, "status": i.status, "step": i.step}
                          for i in out.instances]}


@router.get("/jeopardy/processes", operation_id="jeopardy_processes", response_model=ProcessAlertsPublic, responses=responses())
def jeopardy_processes(hub: OrchestrationDep, user: PlanningReader,
                       reason: Annotated[str | None, Query(pattern="^(late|failed)$")] = None,
                       limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict:
    """Process steps in jeopardy: each step past its expected duration (or out of retries), with its system and how
    late it was when raised, latest first."""
    return {"alerts": process_step_alerts(hub.store.alerts(), reason=reason, limit=limit)}


# ------------------------------------------------------------------ documents


_DOCUMENT_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


@router.post("/orders/{order_id}/documents", operation_id="attach_document", status_code=201, response_model=DocumentPublic,
             responses=responses(404), openapi_extra=_DOCUMENT_BODY)
async def attach_document(order_id: Id, request: Request, hub: OrchestrationDep, svc: ServiceDep, user: ProcessesOperator,
                          kind: Annotated[str, Query(min_length=1, max_length=40)],
                          filename: Annotated[str, Query(min_length=1, max_length=200)],
                          step: Annotated[str | None, Query(min_length=1, max_length=100)] = None) -> dict:
    """Attach a document (the raw body: packing list, certificate, invoice...) to the order or one of its steps; it is
    stored with its SHA-256 and the attach is audited (who, when)."""
    _known_order(svc, order_id)
    content = await request.body()
    ctype = request.headers.get("content-type") or "application/octet-stream"
    return _doc(hub.documents.attach(order=order_id, kind=kind, filename=filename, content=content, who=user.actor, step=step,
                                     content_type=ctype[:100]))


@router.get("/orders/{order_id}/documents", operation_id="order_documents", response_model=DocumentsPublic,
            responses=responses(404))
def order_documents(order_id: Id, hub: OrchestrationDep, svc: ServiceDep, user: ProcessesReader) -> dict:
    """The documents of an order (their records; listing shows no content and is not audited)."""
    _known_order(svc, order_id)
    return {"order_id": order_id, "documents": [_doc(d) for d in hub.documents.of_order(order_id)]}


@router.get("/documents/{doc_id}", operation_id="document", response_model=DocumentPublic, responses=responses(404))
def view_document(doc_id: Id, hub: OrchestrationDep, user: ProcessesReader) -> dict:
    """A document's record; audited as a view by the caller."""
    return _doc(hub.documents.view(doc_id, who=user.actor))


@router.get("/documents/{doc_id}/content", operation_id="download_document", response_class=Response,
            responses={**responses(404, 409, non_json=True), 200: {"content": {"application/octet-stream": {}}}})
def download_document(doc_id: Id, hub: OrchestrationDep, user: ProcessesReader) -> Response:
    """The document's bytes, checked against the stored SHA-256 (409 when they differ); audited as a download."""
    doc, content = hub.documents.download(doc_id, who=user.actor)
    safe = "".join(ch for ch in doc.filename if ch.isalnum() or ch in "._- ")[:150] or "document"
    return Response(content, media_type=doc.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{safe}"', "X-Content-SHA256": doc.sha256})


@router.get("/documents/{doc_id}/audit", operation_id="document_audit", response_model=DocumentAuditPublic,
            responses=responses(404))
def document_audit(doc_id: Id, hub: OrchestrationDep, user: ProcessesReader) -> dict:
    """Who attached, viewed and downloaded the document, and when, oldest first."""
    hub.store.document(doc_id)  # 404 when absent
    return {"doc_id": doc_id, "audit": [{"action": a, "who": w, "at": t} for a, w, t in hub.documents.audit(doc_id)]}
