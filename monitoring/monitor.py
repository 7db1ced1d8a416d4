"""`Monitor`: the monitoring package's one entry point for the API and the CLI.

It holds what the analytics need - the order book (read-only), the supply snapshot and the
commitment state (as callables, so a snapshot refresh is seen at once), the configuration,
the event log and the business clock - and caches the order frames until the book changes
(``orderbook.queries.book_version``: every write adds an audit entry; monitoring never reads the
order book's tables).

The one business clock (:func:`business_day`): a day given to the call (``?today=``,
``--today``), else the monitor's fixed ``today``, else ``Settings().clock.business_date``, else
the snapshot's ``as_of`` day. It is resolved once per request by :meth:`Monitor.resolve_today`
and passed as an explicit ``today: date`` to every function below; the wall clock is only used
for the timestamps of recorded events.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import polars as pl

from monitoring import analytics as an
from monitoring import cash as cash_mod
from monitoring import exceptions as exc_mod
from monitoring import jeopardy as jeo
from monitoring import reports as rep
from monitoring.config import MonitoringConfig
from monitoring.frames import Catalogue, OrderFrames, from_store
from promessa.config import Settings
from promessa.errors import ValidationError


def business_day(*, today: dt.date | None = None, settings: Settings | None = None, snapshot: Any = None) -> dt.date:
    """The one business day: `today` when given, else ``settings.clock.business_date``, else the
    snapshot's ``as_of`` day. Never the wall clock: with none of them it is an error."""
    if today is not None:
        if isinstance(today, dt.datetime) or not isinstance(today, dt.date):
            raise ValidationError("the business day must be a date", field="today", value=today)
        return today
    if settings is not None and settings.clock.business_date is not None:
        return settings.clock.business_date
    as_of = getattr(snapshot, "as_of", None)
    if as_of is not None:
        return as_of
    raise ValidationError("no business day: no snapshot is loaded and no clock is set", field="today", value=None,
                          hint="give --today (or ?today=), a snapshot, or set PROMESSA_CLOCK__BUSINESS_DATE")


@dataclasses.dataclass
class Monitor:
    """The monitoring views over one order book, snapshot and configuration, on the one business clock.

    ``today``: a fixed business day (or a callable giving it) that overrides the settings and the
    snapshot, for tests and ``--today``; None (the default) uses ``settings.clock.business_date``,
    else the snapshot's ``as_of``. ``settings``: promessa's settings (default: ``Settings()``,
    from the environment)."""

    store: Any                                   # orderbook.store.OrderStore (read-only use)
    snapshot: Callable[[], Any] = lambda: None   # -> supplydata.Snapshot | None
    state: Callable[[], Any] = lambda: None      # -> supplydata.State | None
    config: MonitoringConfig = dataclasses.field(default_factory=MonitoringConfig)
    today: dt.date | Callable[[], dt.date] | None = None
    event_log: jeo.EventLog | None = None
    settings: Settings | None = None
    cash: cash_mod.CashSource | None = None     # order-to-cash items past due (handed in by the composition root)

    def __post_init__(self) -> None:
        if self.event_log is None:
            self.event_log = jeo.EventLog(self.config.event_log)
        if self.settings is None:
            self.settings = Settings()
        self._lock = threading.Lock()
        self._cache: tuple[Any, OrderFrames] | None = None
        self._enriched: tuple[Any, Any, Any, pl.DataFrame] | None = None  # (frames, catalogue, today, enriched lines)
        self._analytics: tuple[Any, Any, str, pl.DataFrame] | None = None  # (frames, catalogue, date field, lines)

    @classmethod
    def of_service(cls, svc: Any, config: MonitoringConfig | None = None, **kw: Any) -> Monitor:
        """A monitor over an :class:`orderbook.service.OrderService` (its store, snapshot, state and settings)."""
        kw.setdefault("settings", getattr(svc, "settings", None))
        return cls(store=svc.store, snapshot=lambda: svc.snap, state=lambda: svc.state,
                   config=config or MonitoringConfig(), **kw)

    # ---- data
    def _version(self) -> Any:
        from orderbook.queries import book_version

        return book_version(self.store)

    def frames(self) -> OrderFrames:
        """The order book as frames, rebuilt only when the book has changed."""
        version = self._version()
        with self._lock:
            if self._cache is not None and self._cache[0] == version:
                return self._cache[1]
        fr = from_store(self.store)
        with self._lock:
            self._cache = (version, fr)
        return fr

    @property
    def currency(self) -> str:
        """The catalogue's currency (``settings.pricing.currency``): lines without a priced net are valued in it."""
        return self.settings.pricing.currency

    def catalogue(self) -> Catalogue:
        """What the reports and jeopardy need from the current snapshot (empty without one)."""
        return Catalogue.of(self.snapshot())

    def clock_source(self, today: dt.date | None = None) -> str:
        """Where :meth:`resolve_today` takes the business day from, in words (for titles and logs)."""
        if today is not None:
            return "the day asked for"
        if self.today is not None:
            return "the monitor's fixed day"
        if self.settings is not None and self.settings.clock.business_date is not None:
            return "clock.business_date in settings"
        return "the snapshot's as_of day" if self.snapshot() is not None else "no clock"

    def resolve_today(self, today: dt.date | None = None) -> dt.date:
        """The business day for one request: `today` when given, else the monitor's own ``today``, else
        the settings' clock, else the snapshot's ``as_of`` (see :func:`business_day`)."""
        if today is None and self.today is not None:
            today = self.today() if callable(self.today) else self.today
        return business_day(today=today, settings=self.settings, snapshot=self.snapshot())

    # ---- jeopardy
    def jeopardy(self, today: dt.date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(lines, orders) of every open order with level and days late, on the business day."""
        t = self.resolve_today(today)
        lines = self.frames().lines
        if self.config.refresh_backorders:
            lines = jeo.refresh_backorder_dates(lines, self.snapshot(), self.state())
        lines = jeo.line_jeopardy(lines, self.catalogue(), self.config, today=t)
        return lines, jeo.order_jeopardy(lines)

    def scan(self, today: dt.date | None = None, *, orders: bool = True, cash: bool = True) -> jeo.ScanResult:
        """Record the level crossings since the last scan (event log, webhook) on the business day: the open orders'
        and, with a cash source, the order-to-cash items' (invoices unpaid past terms, returns not received)."""
        t = self.resolve_today(today)
        orders_j = self.jeopardy(t)[1] if orders else None
        cash_rows = self.cash_jeopardy(t) if cash and self.cash is not None else None
        return jeo.scan(orders_j, self.event_log, self.config, today=t, cash_rows=cash_rows)

    def cash_jeopardy(self, today: dt.date | None = None) -> list[dict]:
        """Order-to-cash jeopardy on the business day: invoices unpaid past terms and returns not received by
        their due day, graded by the jeopardy levels (``monitoring.cash``); empty without a cash source."""
        t = self.resolve_today(today)
        if self.cash is None:
            return []
        return cash_mod.cash_jeopardy(self.cash(t), self.config, today=t)

    # ---- exceptions
    def exceptions(self, today: dt.date | None = None) -> pl.DataFrame:
        """Backordered and at-risk open lines on the business day (``exceptions.exception_lines``)."""
        lines, _ = self.jeopardy(self.resolve_today(today))
        return exc_mod.exception_lines(lines, self.frames(), self.catalogue(), self.config, currency=self.currency)

    def exception_summary(self, *, by: str, today: dt.date | None = None,
                          exceptions: pl.DataFrame | None = None) -> pl.DataFrame:
        """The exceptions summarised by `by` (customer, item, node, supplier, receipt)."""
        exc = exceptions if exceptions is not None else self.exceptions(today)
        return exc_mod.summarize(exc, self.frames(), self.catalogue(), self.config, by=by)

    def exception_lines(self, *, by: str | None = None, key: str | None = None,
                        today: dt.date | None = None) -> pl.DataFrame:
        """The exception lines under one key of `by` (all of them without `by`)."""
        return exc_mod.drill_down(self.exceptions(today), self.frames(), self.catalogue(), by=by, key=key)

    # ---- reports
    def enriched_lines(self, today: dt.date | None = None) -> pl.DataFrame:
        """The lines joined to the catalogue (reports.enrich) as of the business day, kept until the
        book, the snapshot or the day changes. Reports need the day only for ``on_time``: with no day
        known (no snapshot, no clock) a line's completion is its promised date alone."""
        try:
            t: dt.date | None = self.resolve_today(today)
        except ValidationError:
            if today is not None:
                raise
            t = None
        fr, cat = self.frames(), self.catalogue()
        with self._lock:
            hit = self._enriched
            if hit is not None and hit[0] is fr and hit[1] is cat and hit[2] == t:
                return hit[3]
        df = rep.enrich(fr.lines, cat, today=t, currency=self.currency).collect()
        with self._lock:
            self._enriched = (fr, cat, t, df)
        return df

    def report(self, kind: str, *, today: dt.date | None = None, **kw: Any) -> pl.DataFrame:
        """One report (``reports.report``: metric, top, window, period...) on the business day; the
        window's ``date_field`` picks the date that filters and groups."""
        return rep.report(self.enriched_lines(today), None, kind, enriched=True, **kw)

    # ---- customer-journey analytics
    def analytics_lines(self, *, date_field: str = "order_date") -> pl.DataFrame:
        """The book's order lines as analytics input (``analytics.lines_from_frames``: net values in the
        configured currency, dated by `date_field`), kept until the book or the snapshot changes."""
        fr, cat = self.frames(), self.catalogue()
        field = rep.normalize_date_field(date_field)
        with self._lock:
            hit = self._analytics
            if hit is not None and hit[0] is fr and hit[1] is cat and hit[2] == field:
                return hit[3]
        df = an.lines_from_frames(fr.lines, prices=cat.items, currency=self.config.analytics.currency, date_field=field)
        with self._lock:
            self._analytics = (fr, cat, field, df)
        return df

    def analytics_version(self) -> tuple:
        """What the analytics answers depend on besides their parameters: the book's version, the snapshot
        (its source, version and ``as_of``: the catalogue prices unpriced lines), the currency and the RFM
        segments. Equal values give equal answers (the API's ``ETag``)."""
        snap = self.snapshot()
        ident = None if snap is None else (str(getattr(snap, "source", "")), str(getattr(snap, "version", "")),
                                           str(getattr(snap, "as_of", "")))
        cfg = self.config.analytics
        return (self._version(), ident, cfg.currency, tuple(s.model_dump_json() for s in cfg.segments),
                cfg.cross_sell_top, cfg.cross_sell_min_orders)

    def cohort_retention(self, *, today: dt.date | None = None, date_field: str = "order_date",
                         max_months: int | None = None) -> pl.DataFrame:
        """Retention by monthly cohort on the business day (``analytics.cohort_retention``)."""
        return an.cohort_retention(self.analytics_lines(date_field=date_field), today=self.resolve_today(today),
                                   max_months=max_months)

    def repeat_purchase(self, *, today: dt.date | None = None, date_field: str = "order_date",
                        by_cohort: bool = False) -> pl.DataFrame:
        """Repeat-purchase rate on the business day (``analytics.repeat_purchase``)."""
        return an.repeat_purchase(self.analytics_lines(date_field=date_field), today=self.resolve_today(today),
                                  by_cohort=by_cohort)

    def rfm(self, *, today: dt.date | None = None, date_field: str = "order_date") -> pl.DataFrame:
        """RFM scores and segments per customer on the business day (``analytics.rfm``)."""
        return an.rfm(self.analytics_lines(date_field=date_field), today=self.resolve_today(today),
                      segments=self.config.analytics.segments)

    def rfm_segments(self, *, today: dt.date | None = None, date_field: str = "order_date") -> pl.DataFrame:
        """Customers and net value per RFM segment (``analytics.rfm_segments``)."""
        return an.rfm_segments(self.rfm(today=today, date_field=date_field), segments=self.config.analytics.segments)

    def cross_sell(self, *, today: dt.date | None = None, date_field: str = "order_date", top: int | None = None,
                   min_orders: int | None = None, items: list[str] | None = None) -> pl.DataFrame:
        """Cross-sell suggestions from items bought together (``analytics.cross_sell``); `top` and
        `min_orders` default to the configuration's."""
        cfg = self.config.analytics
        return an.cross_sell(self.analytics_lines(date_field=date_field), today=self.resolve_today(today),
                             top=top or cfg.cross_sell_top,
                             min_orders=min_orders if min_orders is not None else cfg.cross_sell_min_orders,
                             items=items)

    # ---- ATP
    def atp(self, item: str, location: str, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        """Time-phased ATP of an item at a location over the current snapshot and commitments."""
        from promessa.errors import FormUnsupported, NotFoundError
        from promising import atp_report

        snap, state = self.snapshot(), self.state()
        if snap is None:
            raise NotFoundError("no supply snapshot is loaded", hint="start the server with a snapshot")
        if snap.form == "compact":
            raise FormUnsupported("the time-phased ATP report (supply, demand and committed per day)")
        if state is None:
            state = snap.new_state()
        return atp_report(snap, state, item, location, start=start, end=end)
