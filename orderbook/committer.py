"""Group commit: one thread writes the queued changes of many requests in one transaction.

A request makes its changes in memory under the service's lock (a :class:`~orderbook.txn.Txn`),
turns them into rows at once (`OrderStore.prepare`) and queues them here; the committer writes
the queue, in the order the requests were made, several per transaction (one fsync for all),
and only then releases their answers. If a transaction fails, the service undoes every
request not yet written, newest first (`OrderService._write_failed`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
from typing import TYPE_CHECKING

from orderbook.store import Prepared
from orderbook.txn import Idem, StoreUnavailable, Txn

if TYPE_CHECKING:
    from orderbook.service import OrderService


@dataclasses.dataclass(eq=False)
class Pending:
    """A request whose changes are made in memory and wait to be written."""

    txn: Txn
    prepared: Prepared
    future: concurrent.futures.Future
    idem: Idem | None
    status: int
    body: str
    t0: float


class GroupCommitter:
    """One thread writes the queued changes of many requests in one transaction (one fsync)."""

    def __init__(self, svc: OrderService, *, max_batch: int = 512) -> None:
        self.svc = svc
        self.max_batch = max_batch
        self._queue: list[Pending] = []
        self._writing: list[Pending] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="orderbook-committer", daemon=True)
        self._thread.start()

    def submit(self, p: Pending) -> None:
        """Queue one request's prepared rows (StoreUnavailable once stopping)."""
        with self._cv:
            if self._stopping:
                raise StoreUnavailable("the order book is shutting down", hint="retry shortly")
            self._queue.append(p)
            self._cv.notify()

    def submit_many(self, batch: list[Pending]) -> None:
        """Queue several requests' prepared rows at once, in order (one wake-up; StoreUnavailable once stopping)."""
        with self._cv:
            if self._stopping:
                raise StoreUnavailable("the order book is shutting down", hint="retry shortly")
            self._queue.extend(batch)
            self._cv.notify()

    def pending(self) -> list[Pending]:
        """Requests queued or being written (not yet confirmed), oldest first."""
        with self._cv:
            return list(self._writing) + list(self._queue)

    def drain(self) -> list[Pending]:
        """Take everything queued (the caller undoes it)."""
        with self._cv:
            out, self._queue = self._queue, []
            return out

    def _run(self) -> None:
        svc = self.svc
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait()
                if not self._queue:
                    return
                batch = self._queue[: self.max_batch]
                del self._queue[: len(batch)]
                self._writing = batch
            t0 = time.perf_counter()
            try:
                svc.store.write([p.prepared for p in batch])
            except Exception as exc:  # noqa: BLE001 - any store failure: undo and report
                svc._write_failed(batch, exc)  # noqa: SLF001
                with self._cv:
                    self._writing = []
                continue
            with self._cv:
                self._writing = []
            done = time.perf_counter()
            svc.metrics.observe("promessa_store_write_seconds", done - t0)
            svc.metrics.inc("promessa_store_transactions_total")
            svc.metrics.inc("promessa_store_writes_total", len(batch))
            for p in batch:
                svc.metrics.observe("promessa_store_wait_seconds", done - p.t0)
                p.future.set_result(None)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout)
