"""Available-to-promise and capable-to-promise over the in-memory snapshot.

The facade of the package: `promise` (the engine: allocation, ATP, capable-to-promise),
the records (`Request`, `Policy`, `Promise`, ...), the plain-ATP batch and reports, and the
reservation functions (`reserve`, `unreserve`, `reserve_many`, `commit`, `release`).
Modules: `types` (records), `enums` (codes), `kernels`/`ctp_kernels` (compiled), `reservation`
(draws), `atp`, `ctp`, `engine` (`promise` and the dispatch on the draw kind), `testing`
(plain-Python references for tests and benchmarks).
"""

from promising.atp import (
    atp_report,
    available,
    check_qty,
    encode_lines,
    pegs_for,
    promise_atp,
    promise_batch,
    promise_encoded,
    resolve_il,
)
from promising.enums import EPS, MAX_LINES, Reason, Status
from promising.reservation import Draw, ManyResult, Reservation
from promising.types import (
    DEFAULT_POLICY,
    BatchResult,
    EncodedLines,
    Peg,
    Policy,
    Promise,
    Request,
    ScheduleLine,
)

# The engine (`promise` and the reservation functions: allocation, capable-to-promise, substitution) and the
# capable-to-promise batch are imported on first use, by explicit import below: planning with plain ATP (backlog
# rescheduling, `promessa reschedule`) does not pay for importing allocation and capable-to-promise.
_ENGINE = frozenset({"apply_draw", "commit", "promise", "promise_many", "release", "reserve", "reserve_many", "unreserve"})


def __getattr__(name: str):
    if name in _ENGINE:
        from promising import engine

        value = getattr(engine, name)
    elif name == "promise_batch_ctp":
        from promising.ctp import promise_batch_ctp as value
    else:
        raise AttributeError(f"module 'promising' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_POLICY", "EPS", "MAX_LINES", "BatchResult", "Draw", "EncodedLines", "ManyResult", "Peg", "Policy",
    "Promise", "Reason", "Request", "Reservation", "ScheduleLine", "Status", "apply_draw", "atp_report", "available",
    "check_qty", "commit", "encode_lines", "pegs_for", "promise", "promise_atp", "promise_batch", "promise_batch_ctp",
    "promise_encoded", "promise_many", "release", "reserve", "reserve_many", "resolve_il", "unreserve",
]
