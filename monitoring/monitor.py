"""`Monitor`: the monitoring package's one entry point for the API and the CLI.

It holds what the analytics need - the order book (read-only), the supply snapshot and the
commitment state (as callables, so a snapshot refresh is seen at once), the configuration,
the event log and the clock - and caches the order frames until the book changes (the
highest audit id and the number of orders: every write adds an audit entry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import polars as pl

from monitoring import exceptions as exc_mod
from monitoring import jeopardy as jeo
from monitoring import reports as rep
from monitoring.config import MonitoringConfig
from monitoring.frames import Catalogue, OrderFrames, from_store


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@dataclasses.dataclass
class Monitor:
    store: Any                                   # orderbook.store.OrderStore (read-only use)
    snapshot: Callable[[], Any] = lambda: None   # -> supplydata.Snapshot | None
    state: Callable[[], Any] = lambda: None      # -> supplydata.State | None
    config: MonitoringConfig = dataclasses.field(default_factory=MonitoringConfig)
    today: Callable[[], dt.date] = utc_today
    event_log: jeo.EventLog | None = None

    def __post_init__(self) -> None:
        if self.event_log is None:
            self.event_log = jeo.EventLog(self.config.event_log)
        self._lock = threading.Lock()
        self._cache: tuple[Any, OrderFrames] | None = None
        self._enriched: tuple[Any, Any, pl.DataFrame] | None = None  # (frames, catalogue, enriched lines)

    @classmethod
    def of_service(cls, svc: Any, config: MonitoringConfig | None = None, **kw: Any) -> Monitor:
        """A monitor over an :class:`orderbook.service.OrderService` (its store, snapshot and state)."""
        return cls(store=svc.store, snapshot=lambda: svc.snap, state=lambda: svc.state,
                   config=config or MonitoringConfig(), **kw)

    # ---- data
    def _version(self) -> Any:
        q = self.store.query
        return tuple(q("SELECT (SELECT MAX(id) FROM audit), (SELECT COUNT(*) FROM orders)")[0])

    def frames(self) -> OrderFrames:
        version = self._version()
        with self._lock:
            if self._cache is not None and self._cache[0] == version:
                return self._cache[1]
        fr = from_store(self.store)
        with self._lock:
            self._cache = (version, fr)
        return fr

    def catalogue(self) -> Catalogue:
        return Catalogue.of(self.snapshot())

    def resolve_today(self, today: dt.date | None) -> dt.date:
        return today or self.today()

    # ---- jeopardy
    def jeopardy(self, today: dt.date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(lines, orders) of every open order with level and days late."""
        t = self.resolve_today(today)
        lines = self.frames().lines
        if self.config.refresh_backorders:
            lines = jeo.refresh_backorder_dates(lines, self.snapshot(), self.state())
        lines = jeo.line_jeopardy(lines, self.catalogue(), self.config, today=t)
        return lines, jeo.order_jeopardy(lines)

    def scan(self, today: dt.date | None = None) -> jeo.ScanResult:
        t = self.resolve_today(today)
        _, orders = self.jeopardy(t)
        return jeo.scan(orders, self.event_log, self.config, today=t)

    # ---- exceptions
    def exceptions(self, today: dt.date | None = None) -> pl.DataFrame:
        lines, _ = self.jeopardy(today)
        return exc_mod.exception_lines(lines, self.frames(), self.catalogue(), self.config)

    def exception_summary(self, *, by: str, today: dt.date | None = None,
                          exceptions: pl.DataFrame | None = None) -> pl.DataFrame:
        exc = exceptions if exceptions is not None else self.exceptions(today)
        return exc_mod.summarize(exc, self.frames(), self.catalogue(), self.config, by=by)

    def exception_lines(self, *, by: str | None = None, key: str | None = None,
                        today: dt.date | None = None) -> pl.DataFrame:
        return exc_mod.drill_down(self.exceptions(today), self.frames(), self.catalogue(), by=by, key=key)

    # ---- reports
    def enriched_lines(self) -> pl.DataFrame:
        """The lines joined to the catalogue (reports.enrich), kept until the book or snapshot changes."""
        fr, cat = self.frames(), self.catalogue()
        with self._lock:
            hit = self._enriched
            if hit is not None and hit[0] is fr and hit[1] is cat:
                return hit[2]
        df = rep.enrich(fr.lines, cat).collect()
        with self._lock:
            self._enriched = (fr, cat, df)
        return df

    def report(self, kind: str, **kw: Any) -> pl.DataFrame:
        return rep.report(self.enriched_lines(), None, kind, enriched=True, **kw)

    # ---- ATP
    def atp(self, item: str, location: str, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        from promessa.errors import NotFoundError
        from promising import atp_report

        snap, state = self.snapshot(), self.state()
        if snap is None:
            raise NotFoundError("no supply snapshot is loaded", hint="start the server with a snapshot")
        if state is None:
            state = snap.new_state()
        return atp_report(snap, state, item, location, start=start, end=end)
