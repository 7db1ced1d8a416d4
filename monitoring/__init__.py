"""Order monitoring: jeopardy alerts, exceptions and performance reports over the order book.

Pure analytics over polars frames (``frames`` builds them from the order book, read-only);
``jeopardy``, ``exceptions``, ``reports`` and ``charts`` compute on them; ``api`` serves them
under ``/v1`` together with a small planner console; ``cli`` adds ``promessa jeopardy`` and
``promessa report``. See ``monitoring/README.md``.
"""

from monitoring.config import JeopardyLevel, MonitoringConfig, StepDurations

__all__ = ["JeopardyLevel", "MonitoringConfig", "StepDurations"]
