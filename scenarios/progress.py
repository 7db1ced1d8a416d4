"""Progress for long runs: a terminal printer and an in-memory job registry for the API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, TextIO


class TerminalProgress:
    """Prints `[ 42%] message (1.3 s)` on stderr: one line rewritten in place on a terminal, a new
    line per step otherwise (logs)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""

    def __call__(self, message: str, fraction: float) -> None:
        if self.quiet:
            return
        text = f"[{fraction * 100:3.0f}%] {message} ({time.perf_counter() - self.t0:.1f} s)"
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self._last)))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last = text


@dataclasses.dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"      # queued, running, done, failed
    progress: float = 0.0
    message: str = ""
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    finished_at: dt.datetime | None = None
    result: Any = None          # JSON-able summary
    error: str | None = None
    artifact: Any = None        # the full result object (e.g. a WhatIfReport for the HTML report)

    def update(self, message: str, fraction: float) -> None:
        self.message = message
        self.progress = max(self.progress, min(1.0, float(fraction)))

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": round(self.progress, 4),
                "message": self.message, "created_at": self.created_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "error": self.error, "result": self.result if self.status == "done" else None}


class Jobs:
    """Jobs by id; finished jobs are kept (the most recent `keep`)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def new(self, kind: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], kind=kind)
        with self._lock:
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.status in ("done", "failed")]
            for j in sorted(done, key=lambda j: j.created_at)[: max(0, len(done) - self.keep)]:
                self._jobs.pop(j.id, None)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def run(self, job: Job, fn: Callable[[Job], tuple[Any, Any]]) -> None:
        """Run fn(job) -> (result summary, artifact) and record the outcome."""
        job.status = "running"
        try:
            job.result, job.artifact = fn(job)
            job.status = "done"
            job.progress = 1.0
        except Exception as exc:  # noqa: BLE001 - reported through the job
            job.status = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
            job.message = "failed"
            from promessa.errors import PromessaError

            if not isinstance(exc, PromessaError):
                traceback.print_exc()
        finally:
            job.finished_at = dt.datetime.now(dt.timezone.utc)

    def start(self, job: Job, fn: Callable[[Job], tuple[Any, Any]]) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(job, fn), name=f"promessa-job-{job.id}", daemon=True)
        t.start()
        return t
