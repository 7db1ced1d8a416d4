"""Jeopardy: expected completion of every open order line, days late against its promise, levels,
and alerts when an order crosses a level.

The rules (``MonitoringConfig`` holds the numbers):

- A line's goods are available at its node on its promised date ``P`` (the latest schedule line;
  a line with nothing promised uses its requested date). Then the node's steps run
  (``schedule + pick + pack + ship`` days, by node kind), then delivery (a lane override, the
  kind's ``deliver``, the lane's ``transit_days``, or ``default_transit_days``).
- **Promised completion** ``= P + before_ship + deliver`` - what the promise meant for the customer.
- **Expected completion**, from what is known today (the book records shipments and deliveries,
  not picking or packing, so an unshipped line is assumed not started):
  - units not yet shipped and fully promised: ``max(P, today) + before_ship + deliver``;
  - units not promised (backordered): the same from the date the whole quantity is available
    (``earliest_full_date``: the promise's, or - with ``refresh_backorders`` - what the current
    supply and commitments give, see :func:`refresh_backorder_dates`); with no such date the
    expected completion is unknown;
  - units shipped, not delivered: ``max(last ship date + deliver, today)``;
  - the line's expected completion is the latest of these.
- **Days late** ``= expected - promised completion`` (the jeopardy score); the level is the
  highest whose ``min_days_late`` it reaches (``ok`` below the first); an unknown expected date
  is the top level.
- An order's level, score and dates are those of its worst open line.

``today`` is always the business day, given by the caller (``Monitor.resolve_today``: a day asked
for, else ``Settings().clock.business_date``, else the snapshot's ``as_of``); the wall clock only
stamps the recorded events (``at``).

Level crossings are found against the last level recorded per order in the event log (JSONL,
or memory) and, when a webhook URL is configured, POSTed as one JSON batch with a timeout.
Problems are computed on demand and never change the plan or the order book.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from monitoring.config import MonitoringConfig
from monitoring.frames import EPS, OPEN_STATUSES, Catalogue

log = logging.getLogger("promessa.monitoring")

REASONS = {
    "on_track": "on track",
    "not_shipped": "available at the node since the promised date but not shipped",
    "backordered": "not all units promised; the whole quantity is available later",
    "backordered_no_date": "not all units promised and no supply date for the rest",
    "in_transit_late": "shipped but not delivered within the lane's transit time",
}

LINE_COLUMNS = ("order_id", "line", "customer", "status", "item", "location", "zone", "qty", "open_qty",
                "backordered_qty", "requested_date", "promised_date", "promised_completion", "expected_completion",
                "days_late", "level", "level_rank", "reason")


def _days(col: str | pl.Expr) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return pl.duration(days=e)


def line_jeopardy(lines: pl.DataFrame, catalogue: Catalogue, config: MonitoringConfig, *, today: dt.date) -> pl.DataFrame:
    """One row per open line: promised and expected completion, days late, level and reason (see module doc)."""
    cfg = config
    kinds = sorted(set(cfg.steps_by_kind) | set(catalogue.locations["kind"].drop_nulls().to_list()))
    steps = pl.DataFrame(
        {"kind": kinds, "_before": [cfg.steps_for(k).before_ship for k in kinds],
         "_kind_deliver": [cfg.steps_for(k).deliver for k in kinds]},
        schema={"kind": pl.String, "_before": pl.Int64, "_kind_deliver": pl.Int64},
    )
    overrides = pl.DataFrame([o.model_dump() for o in cfg.lanes],
                             schema={"location": pl.String, "zone": pl.String, "deliver": pl.Int64}
                             ).rename({"deliver": "_lane_deliver"}).unique(["location", "zone"], keep="last")
    today_l = pl.lit(today, pl.Date)
    open_ = lines.lazy().filter(
        pl.col("status").is_in(OPEN_STATUSES)
        & ((pl.col("qty") - pl.col("shipped_qty") > EPS) | (pl.col("shipped_qty") - pl.col("delivered_qty") > EPS))
    )
    df = (
        open_
        .join(catalogue.locations.lazy().select("location", "kind"), on="location", how="left")
        .join(steps.lazy(), on="kind", how="left")
        .join(catalogue.lanes.lazy().select("location", "zone", "transit_days"), on=["location", "zone"], how="left")
        .join(overrides.lazy(), on=["location", "zone"], how="left")
        .with_columns(
            pl.col("_before").fill_null(cfg.steps.before_ship),
            pl.coalesce("_lane_deliver", "_kind_deliver",
                        pl.lit(cfg.steps.deliver, pl.Int64) if cfg.steps.deliver is not None else pl.lit(None, pl.Int64),
                        "transit_days", pl.lit(cfg.default_transit_days, pl.Int64)).alias("_deliver"),
            (pl.col("qty") - pl.col("shipped_qty")).clip(lower_bound=0).alias("open_qty"),
            (pl.col("qty") - pl.col("promised_qty")).clip(lower_bound=0).alias("backordered_qty"),
            pl.coalesce("promised_date", "requested_date").alias("_p"),
        )
        .with_columns(
            (pl.col("open_qty") > EPS).alias("_unshipped"),
            (pl.col("backordered_qty") > EPS).alias("_back"),
            (pl.col("shipped_qty") - pl.col("delivered_qty") > EPS).alias("_transit"),
            (pl.col("_p") + _days(pl.col("_before") + pl.col("_deliver"))).alias("promised_completion"),
        )
        .with_columns(
            pl.when(pl.col("_back")).then(pl.col("earliest_full_date")).otherwise(pl.col("_p")).alias("_avail"),
        )
        .with_columns(
            pl.when(pl.col("_unshipped"))
            .then(pl.max_horizontal("_avail", today_l) + _days(pl.col("_before") + pl.col("_deliver")))
            .alias("_exp_open"),
            pl.when(pl.col("_transit"))
            .then(pl.max_horizontal(pl.coalesce("last_ship_date", today_l) + _days("_deliver"), today_l))
            .alias("_exp_transit"),
            (pl.col("_unshipped") & pl.col("_avail").is_null()).alias("_unknown"),
        )
        .with_columns(
            pl.when(pl.col("_unknown")).then(None)
            .otherwise(pl.max_horizontal("_exp_open", "_exp_transit")).alias("expected_completion"),
        )
        .with_columns(
            (pl.col("expected_completion") - pl.col("promised_completion")).dt.total_days().alias("days_late"),
        )
    )
    # level: the highest threshold reached; unknown = top
    top = len(cfg.levels)
    rank = pl.lit(0, pl.Int64)
    for k, lv in enumerate(cfg.levels, start=1):
        rank = pl.when(pl.col("days_late") >= lv.min_days_late).then(pl.lit(k, pl.Int64)).otherwise(rank)
    rank = pl.when(pl.col("_unknown")).then(pl.lit(top, pl.Int64)).otherwise(rank)
    names = pl.Series(cfg.level_names, dtype=pl.String)
    reason = (
        pl.when(pl.col("_unknown")).then(pl.lit("backordered_no_date"))
        .when(pl.col("_back") & (pl.col("days_late") > 0)).then(pl.lit("backordered"))
        .when(pl.col("_unshipped") & (pl.col("_exp_open") > pl.col("promised_completion"))).then(pl.lit("not_shipped"))
        .when(pl.col("_transit") & (pl.col("_exp_transit") > pl.col("promised_completion"))).then(pl.lit("in_transit_late"))
        .when(pl.col("_back")).then(pl.lit("backordered"))
        .otherwise(pl.lit("on_track"))
    )
    out = (
        df.with_columns(rank.alias("level_rank"), reason.alias("reason"))
        .with_columns(pl.col("level_rank").replace_strict(list(range(top + 1)), names.to_list(),
                                                          return_dtype=pl.String).alias("level"))
        .select(LINE_COLUMNS)
        .sort(["level_rank", "days_late", "order_id", "line"], descending=[True, True, False, False], nulls_last=False)
        .collect()
    )
    return out


def order_jeopardy(line_j: pl.DataFrame) -> pl.DataFrame:
    """One row per open order: its worst line's level, days late, dates and reason, and how many
    of its open lines are late."""
    if line_j.height == 0:
        return pl.DataFrame(schema={
            "order_id": pl.String, "customer": pl.String, "status": pl.String, "level": pl.String,
            "level_rank": pl.Int64, "days_late": pl.Int64, "promised_completion": pl.Date,
            "expected_completion": pl.Date, "reason": pl.String, "lines": pl.UInt32, "lines_late": pl.UInt32,
            "worst_line": pl.Int64})
    worst = (
        line_j.sort(["level_rank", "days_late", "line"], descending=[True, True, False], nulls_last=False)
        .group_by("order_id", maintain_order=True)
        .agg(
            pl.col("customer").first(), pl.col("status").first(), pl.col("level").first(), pl.col("level_rank").first(),
            pl.col("days_late").first(),
            pl.col("promised_completion").first(),
            pl.col("expected_completion").first(),
            pl.col("reason").first(),
            pl.len().alias("lines"),
            (pl.col("level_rank") > 0).sum().cast(pl.UInt32).alias("lines_late"),
            pl.col("line").first().alias("worst_line"),
        )
    )
    return worst.sort(["level_rank", "days_late", "order_id"], descending=[True, True, False], nulls_last=False)


def refresh_backorder_dates(lines: pl.DataFrame, snap: Any, state: Any) -> pl.DataFrame:
    """Replace ``earliest_full_date`` of open backordered lines with the date the current supply
    could cover their unpromised units (one batch ATP inquiry, nothing committed): supply that
    arrived after capture gives a backorder a date. Lines whose item, location or requested date
    the snapshot does not know keep the promise's date."""
    from promising import encode_lines, promise_encoded

    if lines.height == 0 or snap is None or state is None:
        return lines
    idx = lines.with_row_index("_row")
    back = idx.filter(
        pl.col("status").is_in(OPEN_STATUSES) & (pl.col("qty") - pl.col("promised_qty") > EPS)
        & pl.col("item").is_in(list(snap.item_index)) & pl.col("location").is_in(list(snap.location_index))
        & (pl.col("requested_date") <= snap.last_date)
    )
    if back.height == 0:
        return lines
    ask = back.select("item", "location", (pl.col("qty") - pl.col("promised_qty")).alias("qty"), "requested_date")
    if snap.form == "compact":  # supply.form=compact: the same plain ATP answers from the compact form
        from promising.sparse_atp import promise_compact_encoded as promise_encoded
    res = promise_encoded(snap, state, encode_lines(snap, ask), commit=False)
    base = np.datetime64(snap.as_of, "D")
    ef = res.earliest_full
    dates = pl.Series("_ef", np.where(ef >= 0, base + ef.astype("timedelta64[D]"), np.datetime64("NaT", "D")))
    fresh = back.select("_row").with_columns(dates.cast(pl.Date))
    return (idx.join(fresh, on="_row", how="left")
            .with_columns(pl.when(pl.col("_row").is_in(fresh["_row"].implode())).then(pl.col("_ef"))
                          .otherwise(pl.col("earliest_full_date")).alias("earliest_full_date"))
            .drop("_row", "_ef"))


# ---------------------------------------------------------------- level crossings


class EventLog:
    """Level crossings, appended as JSON lines to `path` (or kept in memory when `path` is None)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._mem: list[dict] = []
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> list[dict]:
        with self._lock:
            if self.path is None:
                return list(self._mem)
            if not self.path.exists():
                return []
            out = []
            for raw in self.path.read_text().splitlines():
                raw = raw.strip()
                if raw:
                    try:
                        out.append(json.loads(raw))
                    except json.JSONDecodeError:
                        log.warning("event log %s: skipping a damaged line", self.path)
            return out

    def append(self, events: list[dict]) -> None:
        if not events:
            return
        with self._lock:
            if self.path is None:
                self._mem.extend(events)
                return
            with self.path.open("a") as f:
                for e in events:
                    f.write(json.dumps(e, separators=(",", ":"), default=str) + "\n")
                f.flush()

    def last_levels(self) -> dict[str, str]:
        """The last level recorded for each order (order-to-cash items apart, see :meth:`last_cash`)."""
        out: dict[str, str] = {}
        for e in self.read():
            if e.get("subject", "order") == "order":
                out[e["order_id"]] = e["to_level"]
        return out

    def last_cash(self) -> dict[str, dict]:
        """The last event recorded for each order-to-cash item, by its key (``<kind>:<ref>``)."""
        return {e["key"]: e for e in self.read() if e.get("subject") == "cash"}


@dataclasses.dataclass
class ScanResult:
    events: list[dict]
    webhook: dict | None  # {"url", "status"} or {"url", "error"}; None when not configured or nothing to send


def detect_crossings(orders_j: pl.DataFrame, last: dict[str, str], config: MonitoringConfig, *,
                     at: dt.datetime, today: dt.date) -> list[dict]:
    """An event for every order whose level differs from the last one recorded (an order not seen
    before counts as ``ok``); orders no longer open that were recorded above ``ok`` go back to ``ok``."""
    ok = config.ok_level
    events = []
    seen = set()
    for r in orders_j.iter_rows(named=True):
        oid = r["order_id"]
        seen.add(oid)
        prev = last.get(oid, ok)
        if prev not in config.level_names:
            prev = ok
        if r["level"] == prev:
            continue
        events.append(_event(oid, prev, r["level"], config, at=at, today=today, row=r))
    for oid, prev in sorted(last.items()):
        if oid not in seen and prev != ok and prev in config.level_names:
            events.append(_event(oid, prev, ok, config, at=at, today=today, row=None))
    return events


def _event(oid: str, prev: str, new: str, config: MonitoringConfig, *, at: dt.datetime, today: dt.date,
           row: dict | None) -> dict:
    up = config.rank(new) > config.rank(prev)

    def iso(v: Any) -> Any:
        return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v

    return {
        "at": at.isoformat(), "today": today.isoformat(), "order_id": oid,
        "customer": row["customer"] if row else None,
        "from_level": prev, "to_level": new, "direction": "up" if up else "down",
        "days_late": row["days_late"] if row else None,
        "promised_completion": iso(row["promised_completion"]) if row else None,
        "expected_completion": iso(row["expected_completion"]) if row else None,
        "reason": row["reason"] if row else "closed",
    }


def post_webhook(url: str, events: list[dict], *, timeout: float) -> dict:
    """POST ``{"events": [...]}`` to `url`; never raises (the outcome is returned and logged)."""
    import httpx

    try:
        r = httpx.post(url, json={"source": "promessa", "kind": "jeopardy.level_crossing", "events": events},
                       timeout=timeout)
        if r.status_code >= 400:
            log.warning("jeopardy webhook %s answered %s", url, r.status_code)
        return {"url": url, "status": r.status_code}
    except httpx.HTTPError as exc:
        log.warning("jeopardy webhook %s failed: %s", url, exc)
        return {"url": url, "error": f"{type(exc).__name__}: {exc}"}


def scan(orders_j: pl.DataFrame | None, event_log: EventLog, config: MonitoringConfig, *, today: dt.date,
         at: dt.datetime | None = None, cash_rows: list[dict] | None = None) -> ScanResult:
    """Record every level crossing since the last scan and notify the webhook: the orders' (`orders_j`, None: not
    scanned) and, with `cash_rows` (``monitoring.cash.cash_jeopardy``), the order-to-cash items' (``subject: "cash"``)."""
    from monitoring.cash import detect_cash_crossings

    at = at or dt.datetime.now(dt.timezone.utc)
    events = detect_crossings(orders_j, event_log.last_levels(), config, at=at, today=today) if orders_j is not None else []
    if cash_rows is not None:
        events += detect_cash_crossings(cash_rows, event_log.last_cash(), config, at=at, today=today)
    event_log.append(events)
    hook = None
    if config.webhook_url and events:
        floor = config.rank(config.webhook_min_level) if config.webhook_min_level else 0
        send = [e for e in events if config.rank(e["to_level"]) >= floor or config.rank(e["from_level"]) >= floor]
        if send:
            hook = post_webhook(config.webhook_url, send, timeout=config.webhook_timeout_s)
    return ScanResult(events, hook)


# ---------------------------------------------------------------------- process steps in jeopardy

def process_step_alerts(alerts: Iterable[Any], *, reason: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Process-step jeopardy beside the order-line jeopardy: each alert raised by the orchestration engine when a step
    ran past its expected duration (``late``) or out of retries (``failed``).

    Parameters
    ----------
    alerts : the raised alerts, oldest first (``orchestration.JeopardyAlert``-like records: instance_id, order, line,
        process, version, step, system, late_s, raised_at, reason).
    reason : keep only ``late`` or ``failed`` alerts (None: both).
    limit : the most rows returned.

    Returns
    -------
    Dicts with those fields, latest raised first (the order of raising breaks ties: later first).
    """
    rows = [{f: getattr(a, f) for f in ("instance_id", "order", "line", "process", "version", "step", "system", "late_s",
                                         "raised_at", "reason")}
            for a in alerts if reason is None or a.reason == reason]
    rows.reverse()
    rows.sort(key=lambda r: r["raised_at"], reverse=True)   # stable: ties keep the later-raised first
    return rows[:limit]
