"""Demand-class allocation: quotas per class, nested consumption, stealing and protection.

`promising.engine` calls `class_path` (requests with a demand class) and `apply_atp_draw`
(every "atp" draw reserved or released) explicitly; importing this package registers nothing.
See allocation/README.md.
"""

from allocation.core import (
    AllocationBatchResult,
    OverQuota,
    RebaseReport,
    allocation_report,
    apply_atp_draw,
    available,
    charge_pools,
    class_availability,
    class_curves,
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

__all__ = [
    "UNALLOCATED", "AllocationBatchResult", "AllocationModel", "Binding", "OverQuota", "RebaseReport", "Source",
    "allocation_report", "apply_atp_draw", "available", "build_model", "charge_pools", "class_availability",
    "class_curves", "class_path", "earliest", "encode_classes", "model_for", "over_quota", "positions", "promise_batch", "promise_encoded", "rebase", "state_draws",
]
