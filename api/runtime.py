"""How `promessa serve` keeps the interpreter's own pauses out of the answers' tail (``tune_for_latency``).

Two pauses of CPython reach every request that is in flight when they happen, whatever the route:

- **Full garbage collections.** A full pass walks every container object that is not frozen. What start-up builds
  is frozen once ready (``gc.freeze``), but what the server builds afterwards (the orders captured, their payments)
  is walked again by every full pass: with thousands of orders served that is a pause of tens to hundreds of
  milliseconds every few seconds of load (the payment webhook's open-loop p99 at half of saturation was 366 ms on a
  quiet machine). :class:`SurvivorFreezer` freezes what survives each full pass, so the next one walks only what
  was promoted since (a few milliseconds). The price: a reference cycle among frozen objects that becomes garbage
  later is not reclaimed (objects without cycles are freed by their reference count as always). So that this stays
  bounded, once the frozen objects have grown by ``regrow`` times (default 2: the live heap doubled since start-up
  or the last compaction) they are unfrozen and the next full pass walks, and reclaims, everything once
  (``compactions`` counts them).
- **The GIL's switch interval.** A thread that wants the GIL (the group commit's write thread when its fsync
  returns, a worker thread with a request's answer) waits for the holder to let it go, up to the switch interval
  (5 ms by default) when the event loop thread is busy. ``switch_interval_s`` (default 0.5 ms) bounds that wait.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from typing import Any

log = logging.getLogger("promessa.runtime")

SWITCH_INTERVAL_S = 0.0005


class SurvivorFreezer:
    """After each full collection, freeze its survivors (``gc.freeze``), so that a full pass walks only the objects
    promoted since the last one; unfreeze everything once the frozen objects grew by `regrow` times since the last
    compaction (then the next full pass reclaims the cycles that died among them, and its survivors are frozen again).

    :meth:`install` adds the collector callback (after start-up's own ``gc.collect(); gc.freeze()``); :meth:`remove`
    takes it away (tests)."""

    def __init__(self, *, regrow: float = 2.0) -> None:
        if regrow <= 1.0:
            raise ValueError(f"regrow={regrow!r}: must be above 1")
        self.regrow = regrow
        self.base = 0          # frozen objects after the last compaction (or at install)
        self.freezes = 0       # full passes whose survivors were frozen
        self.compactions = 0   # times everything was unfrozen
        self._installed = False
        self._lock = threading.Lock()

    def install(self) -> SurvivorFreezer:
        with self._lock:
            self.base = max(gc.get_freeze_count(), 1)
            if not self._installed:
                gc.callbacks.append(self._on_gc)
                self._installed = True
        return self

    def remove(self) -> None:
        with self._lock:
            if self._installed:
                gc.callbacks.remove(self._on_gc)
                self._installed = False

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        # the pass is over: its survivors are all in the oldest generation (a compaction's pass included)
        gc.freeze()
        self.freezes += 1
        frozen = gc.get_freeze_count()
        if frozen > self.regrow * self.base:
            # the next full pass walks everything once, reclaiming the cycles that died while frozen; its
            # survivors are frozen again by this callback, and become the new base
            gc.unfreeze()
            self.compactions += 1
            self.base = frozen


def tune_for_latency(*, switch_interval_s: float = SWITCH_INTERVAL_S, regrow: float = 2.0) -> SurvivorFreezer:
    """Call once start-up is done (what it built is collected and frozen here): freeze it, install
    :class:`SurvivorFreezer` and set the GIL's switch interval. Returns the freezer."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(switch_interval_s)
    return SurvivorFreezer(regrow=regrow).install()
