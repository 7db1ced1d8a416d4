"""The constants every layer shares, in a module that imports nothing (not even pydantic), so that the
compiled kernels' modules and a command that only plans can read them cheaply. ``promessa.config`` re-exports them
beside the settings they go with.
"""

#: The one tolerance for comparing quantities (units, kg are float64): never compare with ``==``.
EPS = 1e-9

#: Width of the fixed schedule-line buffers: the one-line ATP fast path and the allocation
#: kernels (whose one-line and batch buffers hold this many lines), and the least width of a
#: batch's output arrays. A call asking for more (`Policy.max_lines`, the `max_lines` column)
#: sizes its outputs by the largest `max_lines` it asks for.
MAX_LINES = 8

#: Most schedule lines a split promise may make (`max_lines` is refused above it, naming the
#: field). A split line gets at most one schedule line per day, so the horizon bounds it too.
MAX_SPLIT_LINES = 1000

__all__ = ["EPS", "MAX_LINES", "MAX_SPLIT_LINES"]
