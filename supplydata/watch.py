"""Watch a snapshot directory and refresh the live pair when a new extract lands.

The planning system writes the tables first and `meta.json` last; a change of `meta.json`
(modification time, size or content) triggers a refresh. A bad extract is refused by the
loader and recorded in the live pair's status; the next change is tried again.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from promessa.errors import PromessaError
from supplydata.live import LiveSupply

log = logging.getLogger("promessa.watch")


class SnapshotWatcher:
    def __init__(self, live: LiveSupply, directory: str | Path, *, interval_s: float = 2.0) -> None:
        self.live = live
        self.directory = Path(directory)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = self._signature()
        self.refreshes = 0
        self.failures = 0

    def _signature(self) -> tuple | None:
        meta = self.directory / "meta.json"
        try:
            st = meta.stat()
            return (st.st_mtime_ns, st.st_size, meta.read_bytes())
        except OSError:
            return None

    def check_once(self) -> bool:
        """Refresh if meta.json changed since the last look. Returns True when a refresh ran."""
        sig = self._signature()
        if sig is None or sig == self._seen:
            return False
        self._seen = sig
        try:
            self.live.refresh(self.directory)
            self.refreshes += 1
            log.info("refreshed from %s", self.directory)
        except PromessaError as exc:  # bad extract or a refresh already running: keep serving
            self.failures += 1
            log.warning("refresh from %s refused: %s", self.directory, exc)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_once()

    def start(self) -> SnapshotWatcher:
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
