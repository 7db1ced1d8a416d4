"""Kept for callers that still import `sourcing.chooser`: the choosers live in `sourcing.choosers`.

Delete this module once `server.py` imports `sourcing.choosers` (promessa.app already does).
"""

from sourcing.choosers import SourcingChooser

__all__ = ["SourcingChooser"]
