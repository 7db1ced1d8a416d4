"""HTTP: backlog rescheduling, what-if scenarios and job progress under /v1.

Mount with ``app.include_router(scenarios.api.router)``. Dependencies the app wires:

- `get_order_service` (default: ``request.app.state.service``, the live `OrderService`);
- `get_planner` (who may *apply* a rescheduling; default: an ``X-API-Key`` whose role in
  ``app.state.settings.api.keys`` is planner or admin, or anyone in demo mode). Override either
  with ``app.dependency_overrides[...]``, e.g. with the server's ``require("orders:approve")``.

Long runs: every POST creates a job. With ``"background": true`` it answers 202 at once with
the job id; ``GET /v1/jobs/{id}`` reports status, progress (0..1) and message, then the result;
``GET /v1/jobs/{id}/report`` serves a what-if job's HTML report. Without it the POST waits and
answers the result (with its job id).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from scenarios.backlog import RescheduleConfig
from scenarios.progress import Job, Jobs
from scenarios.whatif import Scenario

router = APIRouter(prefix="/v1", tags=["scenarios"])
jobs = Jobs()


def get_order_service(request: Request) -> Any:
    svc = getattr(request.app.state, "service", None)
    if svc is None:
        raise HTTPException(503, "the order service is not ready")
    return svc


def get_planner(request: Request, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> str | None:
    """Who is asking, when a key is given (None without one); refuses unknown keys and roles other
    than planner or admin. Applying a rescheduling needs an actor (or demo mode)."""
    settings = getattr(request.app.state, "settings", None)
    if x_api_key is None:
        return "demo" if settings is not None and getattr(settings, "demo", False) else None
    role = (getattr(settings, "api_keys", {}) or {}).get(x_api_key)
    if role is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "APIKey"})
    if str(role) not in ("planner", "admin"):
        raise HTTPException(403, f"role {role} may not reschedule the backlog (planner or admin)")
    return f"{role}:{hashlib.sha256(x_api_key.encode()).hexdigest()[:8]}"


ServiceDep = Annotated[Any, Depends(get_order_service)]
PlannerDep = Annotated[str | None, Depends(get_planner)]


# ------------------------------------------------------------------ schemas


class RescheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: RescheduleConfig = Field(default_factory=RescheduleConfig)
    mode: Literal["simulate", "apply"] = "simulate"
    background: bool = Field(False, description="answer 202 with a job id at once; poll GET /v1/jobs/{id}")
    max_lines: int = Field(1000, ge=0, le=100_000, description="most per-line rows in the answer")


class ScenariosRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[Scenario] = Field(..., min_length=1, max_length=20)
    config: RescheduleConfig = Field(default_factory=RescheduleConfig)
    background: bool = False
    curves: int = Field(3, ge=0, le=10)


class JobPublic(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    created_at: str
    finished_at: str | None = None
    error: str | None = None
    result: dict | None = None


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


# ------------------------------------------------------------------ routes


async def _run(job: Job, fn, background: bool, request: Request) -> Response:
    if background:
        jobs.start(job, fn)
        url = str(request.url_for("get_job", job_id=job.id))
        return JSONResponse({"job_id": job.id, "status_url": url}, status_code=202, headers={"Location": url})
    await run_in_threadpool(jobs.run, job, fn)
    if job.status == "failed":
        return JSONResponse({"detail": job.error, "job_id": job.id}, status_code=_status_of(job))
    return JSONResponse({"job_id": job.id, **job.result})


def _status_of(job: Job) -> int:
    from promessa.errors import ConflictError, NotFoundError, ValidationError

    exc = getattr(job, "exc", None)
    for kind, code in ((ValidationError, 422), (NotFoundError, 404), (ConflictError, 409)):
        if isinstance(exc, kind):
            return code
    return 500


def _keep_exc(fn):
    """Remember the exception on the job so a synchronous answer can map it to an HTTP status."""
    def wrapped(job: Job):
        try:
            return fn(job)
        except Exception as exc:
            job.exc = exc  # type: ignore[attr-defined]
            raise
    return wrapped


@router.post("/backlog/reschedule", status_code=200, responses={202: {"model": JobAccepted}},
             summary="Promise the open backlog again against current supply, by strategy group")
async def reschedule_backlog(body: RescheduleRequest, request: Request, svc: ServiceDep, actor: PlannerDep,
                             idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None
                             ) -> Response:
    from scenarios import service

    if body.mode == "apply" and actor is None:
        raise HTTPException(401, "an API key (planner or admin) is required to apply a rescheduling (X-API-Key header)",
                            headers={"WWW-Authenticate": "APIKey"})
    job = jobs.new(f"reschedule:{body.mode}")

    def fn(job: Job):
        if body.mode == "simulate":
            res = service.simulate(svc, body.config, progress=job.update)
            return res.to_dict(max_lines=body.max_lines), None
        from orderbook.service import Idem

        idem = Idem.of(idempotency_key, "POST", "/v1/backlog/reschedule", body.model_dump_json())
        _status, text, replayed = service.apply(svc, body.config, actor=actor, idem=idem, progress=job.update)
        out = json.loads(text)
        out["idempotent_replayed"] = replayed
        out["lines"] = out.get("lines", [])[: body.max_lines]
        return out, None

    return await _run(job, _keep_exc(fn), body.background, request)


@router.post("/scenarios", status_code=200, responses={202: {"model": JobAccepted}},
             summary="Run what-if scenarios on forks of the live state, side by side with the baseline")
async def run_scenarios(body: ScenariosRequest, request: Request, svc: ServiceDep) -> Response:
    from scenarios import service

    job = jobs.new("whatif")

    def fn(job: Job):
        rep = service.whatif(svc, body.scenarios, body.config, progress=job.update, curves=body.curves)
        out = rep.to_dict()
        out["report_url"] = f"/v1/jobs/{job.id}/report"
        return out, rep

    return await _run(job, _keep_exc(fn), body.background, request)


@router.post("/scenarios/file", status_code=200, responses={202: {"model": JobAccepted}},
             openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}},
                                                        "application/json": {"schema": {"type": "object"}}},
                                            "required": True}},
             summary="Run a scenario file as it is (YAML or JSON: one scenario, a list, or {scenarios: [...]})")
async def run_scenario_file(request: Request, svc: ServiceDep, background: bool = False, curves: int = 3) -> Response:
    import yaml

    from scenarios import service
    from scenarios.whatif import parse_scenarios

    raw = await request.body()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))  # JSON is YAML too
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"the body is not YAML or JSON: {exc}") from None
    try:
        scenarios = parse_scenarios(data, source="body")
    except Exception as exc:  # promessa ValidationError: name the field
        raise HTTPException(422, str(exc)) from None
    try:  # {scenarios: [...], reschedule: {...}}: the run's rescheduling rules
        run_cfg = (data.get("reschedule") or {}) if isinstance(data, dict) and "scenarios" in data else {}
        cfg = RescheduleConfig.model_validate(run_cfg)
    except Exception as exc:  # pydantic error
        raise HTTPException(422, f"reschedule: {exc}") from None
    job = jobs.new("whatif")

    def fn(job: Job):
        rep = service.whatif(svc, scenarios, cfg, progress=job.update, curves=max(0, min(curves, 10)))
        out = rep.to_dict()
        out["report_url"] = f"/v1/jobs/{job.id}/report"
        return out, rep

    return await _run(job, _keep_exc(fn), background, request)


@router.get("/jobs/{job_id}", response_model=JobPublic, name="get_job", summary="Status and progress of a long run")
async def get_job(job_id: str) -> dict:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"unknown job {job_id!r}")
    return job.public()


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse, summary="HTML report (charts) of a what-if job")
async def get_job_report(job_id: str) -> HTMLResponse:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"unknown job {job_id!r}")
    if job.kind != "whatif":
        raise HTTPException(404, "only what-if jobs have a report")
    if job.status != "done":
        raise HTTPException(409, f"the job is {job.status}; poll /v1/jobs/{job_id}")
    from scenarios.report import html

    text = await run_in_threadpool(html, job.artifact)
    return HTMLResponse(text)
