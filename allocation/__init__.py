"""Demand-class allocation: quotas per class, nested consumption, stealing and protection.

Importing this package registers its class path and its "atp" hook with promising (promising
imports it lazily on the first promise). See allocation/README.md.
"""

from allocation.core import (
    AllocationBatchResult,
    OverQuota,
    RebaseReport,
    allocation_report,
    atp_hook,
    available,
    class_availability,
    class_path,
    earliest,
    encode_classes,
    over_quota,
    promise_batch,
    promise_encoded,
    rebase,
    state_draws,
)
from allocation.enums import UNALLOCATED, Binding, Source
from allocation.model import AllocationModel, build_model, model_for, positions
from promising.atp import register_class_path
from promising.reservation import register_atp_hook

register_class_path(class_path)
register_atp_hook(atp_hook)

__all__ = [
    "UNALLOCATED", "AllocationBatchResult", "AllocationModel", "Binding", "OverQuota", "RebaseReport", "Source",
    "allocation_report", "atp_hook", "available", "build_model", "class_availability", "class_path", "earliest",
    "encode_classes", "model_for", "over_quota", "positions", "promise_batch", "promise_encoded", "rebase", "state_draws",
]
