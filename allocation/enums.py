"""Codes shared by the allocation kernels (integers) and the Python layer (enums).

Promise status and reason codes are promising's (`promising.enums.Status`, `Reason`); a promise
bound by allocation carries `Reason.ALLOCATION`. This module adds the allocation-specific codes.
"""

from __future__ import annotations

import enum

# Pool index meaning "unallocated supply" (the root of an item-location's quota tree).
ROOT = -1
UNALLOCATED = "unallocated"

# Class code of a batch line: -2 = no demand class (plain ATP), -1 = a class without a row in
# `demand_classes` (unallocated supply only, no stealing), >= 0 = a class of the model.
NO_CLASS = -2
UNKNOWN_CLASS = -1


class Source(enum.IntEnum):
    """Where a part of a promise comes from, in consumption order."""

    OWN = 0          # the class's own quota (its own pool, or the nearest ancestor's)
    PARENT = 1       # the free part of an ancestor's quota (the child stays inside it)
    UNALLOCATED = 2  # supply not covered by any quota
    STOLEN = 3       # the quota of a lower-priority class (class may steal)

    @property
    def description(self) -> str:
        return _SOURCE_TEXT[self]


_SOURCE_TEXT = {
    Source.OWN: "the class's own quota",
    Source.PARENT: "the free part of a parent class's quota",
    Source.UNALLOCATED: "supply not covered by any quota",
    Source.STOLEN: "the quota of a lower-priority class",
}


class Binding(enum.IntEnum):
    """Whether allocation changed the answer (kernel output)."""

    NOT_APPLIED = 0  # no quotas at the item-location, or no demand class: plain ATP answered
    UNBOUND = 1      # quotas apply but the answer equals plain ATP
    BOUND = 2        # allocation binds: less quantity or a later date than plain ATP

    @property
    def description(self) -> str:
        return _BINDING_TEXT[self]


_BINDING_TEXT = {
    Binding.NOT_APPLIED: "no quotas apply; plain available-to-promise answered",
    Binding.UNBOUND: "quotas apply but do not change the answer",
    Binding.BOUND: "the demand class's allocation binds",
}
