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
    release,
    resolve_il,
)
from promising.enums import EPS, MAX_LINES, Reason, Status

__all__ = [
    "DEFAULT_POLICY", "EPS", "MAX_LINES", "BatchResult", "EncodedLines", "Peg", "Policy", "Promise", "Reason",
    "Request", "ScheduleLine", "Status", "atp_report", "available", "commit", "encode_lines", "promise",
    "promise_batch", "promise_encoded", "release", "resolve_il",
]

from promising.atp import promise_atp, register_class_path, register_shortfall_path  # noqa: E402
from promising.reservation import (  # noqa: E402
    Draw, ManyResult, Reservation, register_atp_hook, register_draw_kind, reserve, reserve_many, unreserve,
)

__all__ += [
    "Draw", "Reservation", "promise_atp", "register_atp_hook", "register_class_path", "register_draw_kind",
    "register_shortfall_path", "reserve", "unreserve", "ManyResult", "reserve_many",
]

from promising.atp import check_qty, pegs_for  # noqa: E402

__all__ += ["check_qty", "pegs_for"]


def promise_batch_ctp(*args, **kwargs):
    """Capable-to-promise for many lines in one kernel call; see `promising.ctp.promise_batch_ctp`."""
    from promising.ctp import promise_batch_ctp as _batch

    return _batch(*args, **kwargs)


__all__ += ["promise_batch_ctp"]
