"""Scenarios: backlog rescheduling (simulate, or apply through the order book) and what-if runs, as jobs.

Every POST creates a job. With ``"background": true`` it answers 202 at once with the job's URL
(``Location``); ``GET /v1/jobs/{id}`` reports status, progress (0..1) and message, then the
result; ``GET /v1/jobs/{id}/report`` serves a what-if job's HTML report. Without it the POST waits
and answers the result (with its job id); a run that fails answers its error in the one shape.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from api.conventions import idem
from api.deps import IdempotencyKey, Permission, PlanningReader, PlanningRunner, ServiceDep, forbidden
from api.errors import item, jsonable, responses, unprocessable
from promessa.errors import ConflictError, NotFoundError, ValidationError
from scenarios import service
from scenarios.backlog import RescheduleConfig
from scenarios.progress import Job, Jobs
from scenarios.report import html
from scenarios.whatif import Scenario, parse_scenarios

router = APIRouter(tags=["scenarios"])


async def get_jobs(request: Request) -> Jobs:
    """The app's job registry."""
    return request.app.state.jobs


JobsDep = Annotated[Jobs, Depends(get_jobs)]
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


# ------------------------------------------------------------------ schemas


class RescheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: RescheduleConfig = Field(default_factory=RescheduleConfig)
    mode: Literal["simulate", "apply"] = Field("simulate", description="apply: commit the new schedule (planner or admin)")
    background: bool = Field(False, description="answer 202 with a job id at once; poll GET /v1/jobs/{id}")
    max_lines: int = Field(1000, ge=0, le=100_000, description="most per-line rows in the answer")


class ScenariosCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[Scenario] = Field(..., min_length=1, max_length=20)
    config: RescheduleConfig = Field(default_factory=RescheduleConfig)
    background: bool = False
    curves: int = Field(3, ge=0, le=10)


class ReschedulePublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    counts: dict[str, Any]
    summary: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    lines_truncated: bool
    timings: dict[str, Any]
    applied: dict[str, Any] | None = None
    idempotent_replayed: bool | None = None


class WhatIfPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    as_of: str
    current: dict[str, Any]
    baseline: dict[str, Any]
    scenarios: list[dict[str, Any]]
    seconds: float
    report_url: str


class JobPublic(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    created_at: str
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


_ACCEPTED = {202: {"model": JobAccepted, "description": "started in the background (background=true); poll the Location",
                   "headers": {"Location": {"schema": {"type": "string"}}}}}


# ------------------------------------------------------------------ running a job


def _keep_exc(fn):
    """Remember a failed run's exception on the job, so a waiting request answers it as any other error."""

    def wrapped(job: Job):
        try:
            return fn(job)
        except Exception as exc:
            job.exc = exc  # type: ignore[attr-defined]
            raise

    return wrapped


async def _run(jobs: Jobs, job: Job, fn, background: bool) -> Response:
    if background:
        jobs.start(job, _keep_exc(fn))
        url = f"/v1/jobs/{job.id}"
        return JSONResponse({"job_id": job.id, "status_url": url}, status_code=202, headers={"Location": url})
    await run_in_threadpool(jobs.run, job, _keep_exc(fn))
    if job.status == "failed":
        exc = getattr(job, "exc", None)
        if exc is not None:
            raise exc  # mapped by api.errors (422 in the one shape, 404, 409, 503, else 500)
    return JSONResponse(jsonable({"job_id": job.id, **job.result}))


# ------------------------------------------------------------------ routes


@router.post("/backlog/reschedule", operation_id="reschedule_backlog", response_model=ReschedulePublic,
             responses={**_ACCEPTED, **responses(404, 409)},
             summary="Promise the open backlog again against current supply, by strategy group (simulate or apply)")
async def reschedule_backlog(body: RescheduleCreate, request: Request, svc: ServiceDep, user: PlanningRunner, jobs: JobsDep,
                             key: IdempotencyKey = None) -> Response:
    if body.mode == "apply" and not user.can(Permission.BACKLOG_APPLY):
        raise forbidden(user, Permission.BACKLOG_APPLY)
    service.require_dense(svc, "backlog rescheduling")  # refused before a job starts, background or not
    job = jobs.new(f"reschedule:{body.mode}")
    record = idem(key, request, body)

    def fn(job: Job):
        if body.mode == "simulate":
            res = service.simulate(svc, body.config, progress=job.update)
            return res.to_dict(max_lines=body.max_lines), None
        # the order book's one writer: the engine's planner plans on a copy, and again under the lock if supply moved
        _status, text, replayed = svc.apply_reschedule(body.config, actor=user.actor, idem=record, progress=job.update)
        out = json.loads(text)
        out["idempotent_replayed"] = replayed
        out["lines"] = out.get("lines", [])[: body.max_lines]
        return out, None

    return await _run(jobs, job, fn, body.background)


def _whatif(svc, scenarios: list[Scenario], config: RescheduleConfig, curves: int):
    def fn(job: Job):
        rep = service.whatif(svc, scenarios, config, progress=job.update, curves=curves)
        out = rep.to_dict()
        out["report_url"] = f"/v1/jobs/{job.id}/report"
        return out, rep

    return fn


@router.post("/scenarios", operation_id="run_scenarios", response_model=WhatIfPublic, responses={**_ACCEPTED, **responses(404, 409)},
             summary="Run what-if scenarios on forks of the live state, side by side with the baseline")
async def run_scenarios(body: ScenariosCreate, svc: ServiceDep, user: PlanningRunner, jobs: JobsDep) -> Response:
    service.require_dense(svc, "what-if scenarios")
    job = jobs.new("whatif")
    return await _run(jobs, job, _whatif(svc, body.scenarios, body.config, body.curves), body.background)


@router.post("/scenarios/file", operation_id="run_scenario_file", response_model=WhatIfPublic,
             responses={**_ACCEPTED, **responses(404, 409)},
             openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}},
                                                        "application/json": {"schema": {"type": "object"}}},
                                            "required": True}},
             summary="Run a scenario file as it is (YAML or JSON: one scenario, a list, or {scenarios: [...]})")
async def run_scenario_file(request: Request, svc: ServiceDep, user: PlanningRunner, jobs: JobsDep,
                            background: bool = False, curves: Annotated[int, Query(ge=0, le=10)] = 3) -> Response:
    service.require_dense(svc, "what-if scenarios")
    raw = await request.body()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))  # JSON is YAML too
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return unprocessable(item("yaml_invalid", ["body"], f"the body is not YAML or JSON: {exc}", None))
    if data is None:
        return unprocessable(item("missing", ["body"], "a scenario file is required (the body is empty)", None))
    try:
        scenarios = parse_scenarios(data, source="body")
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"body.{exc.field}", value=exc.value, hint=exc.hint) from None
    try:  # {scenarios: [...], reschedule: {...}}: the run's rescheduling rules
        run_cfg = (data.get("reschedule") or {}) if isinstance(data, dict) and "scenarios" in data else {}
        cfg = RescheduleConfig.model_validate(run_cfg)
    except PydanticValidationError as exc:
        return unprocessable(*[item(e["type"], ["body", "reschedule", *e["loc"]], e["msg"], e.get("input"))
                               for e in exc.errors()])
    job = jobs.new("whatif")
    return await _run(jobs, job, _whatif(svc, scenarios, cfg, curves), background)


@router.get("/jobs/{job_id}", operation_id="read_job", response_model=JobPublic, responses=responses(404),
            summary="Status and progress of a long run")
async def get_job(job_id: JobId, user: PlanningReader, jobs: JobsDep) -> dict:
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"unknown job {job_id!r}")
    return jsonable(job.public())


@router.get("/jobs/{job_id}/report", operation_id="read_job_report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **responses(404, 409, non_json=True)},
            summary="HTML report (charts) of a what-if job")
async def get_job_report(job_id: JobId, user: PlanningReader, jobs: JobsDep) -> HTMLResponse:
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"unknown job {job_id!r}")
    if job.kind != "whatif":
        raise NotFoundError("only what-if jobs have a report")
    if job.status != "done":
        raise ConflictError(f"the job is {job.status}; poll /v1/jobs/{job_id}")
    return HTMLResponse(await run_in_threadpool(html, job.artifact))
