"""Available-to-promise (and capable-to-promise) over the in-memory snapshot."""

from promising.atp import (
    DEFAULT_POLICY,
    BatchResult,
    EncodedLines,
    Peg,
    Policy,
    Promise,
    Request,
    ScheduleLine,
    atp_report,
    available,
    commit,
    encode_lines,
    promise,
    promise_batch,
    promise_encoded,
    promise_many,
    release,
    resolve_il,
)
from promising.enums import EPS, MAX_LINES, Reason, Status

__all__ = [
    "DEFAULT_POLICY", "EPS", "MAX_LINES", "BatchResult", "EncodedLines", "Peg", "Policy", "Promise", "Reason",
    "Request", "ScheduleLine", "Status", "atp_report", "available", "commit", "encode_lines", "promise",
    "promise_batch", "promise_encoded", "promise_many", "release", "resolve_il",
]
