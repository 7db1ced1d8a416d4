"""Trade compliance at capture: denied-party screening (fuzzy names, rapidfuzz) and embargoed destinations."""

from compliance.screening import (
    LEGAL_FORMS,
    THRESHOLD,
    DeniedParty,
    Embargo,
    Hit,
    ScreeningListError,
    ScreeningLists,
    ScreeningResult,
    load_denied_parties,
    load_embargoes,
    load_lists,
    normalise,
    screen_order,
)

__all__ = [
    "LEGAL_FORMS", "THRESHOLD", "DeniedParty", "Embargo", "Hit", "ScreeningListError", "ScreeningLists", "ScreeningResult",
    "load_denied_parties", "load_embargoes", "load_lists", "normalise", "screen_order",
]
