"""What-if scenarios: a scenario file describes changes; they run on a fork of the live state.

A *fork* is a new snapshot built (`build_snapshot`) from the live snapshot's tables where only
the touched tables are replaced (polars frames share their buffers: the untouched tables are
the very same objects), and a commitment state carrying every live commitment over: the
live state's committed quantities (``base_cum - cum``, exact and linear) are subtracted from
the fork's base position, item-location by item-location. The live snapshot, state and order
book are never written to.

The backlog is then rescheduled on the fork (`scenarios.backlog.reschedule`) and compared
with the *baseline*: the same backlog rescheduled on the live state with the same rules.

Scenario file (YAML or JSON)::

    name: supplier S1 two weeks late
    description: optional text
    reschedule: {within: fair_share}        # optional RescheduleConfig overrides
    changes:
      - {type: delay_receipts, days: 14, ref: "PU00001*", item: [I000001], location: [DC01]}
      - {type: cut_receipts, keep: 0.5, category: [toys]}
      - {type: add_supply, rows: [{item: I000002, location: DC01, date: 2026-02-01, qty: 500}]}
      - {type: demand_spike, factor: 1.5, category: [toys], zone: [Z01]}
      - {type: add_orders, rows: [{order: X1, item: I000003, location: DC02, qty: 40, requested_date: 2026-01-20}]}
      - {type: node_out, location: DC03, date_from: 2026-01-10, date_to: 2026-01-24, reroute_to: DC02}
      - {type: lane_change, location: DC01, zone: Z02, transit_days: 4}
      - {type: quota_change, factor: 0.5, demand_class: [online]}

A file may hold one scenario or a list of them (``scenarios: [...]``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import itertools
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from promessa.errors import ValidationError
from promessa.money import quantum
from promising import kernels as pnb
from promising.enums import EPS
from promising.reservation import Reservation
from scenarios import kernels as nb
from scenarios.backlog import Progress, RescheduleConfig, RescheduleResult, _frozen, old_schedule, reschedule
from supplydata.scaleout import attach_state, check_executor, detach_state, gather, ray_init, ray_module, snapshot_ref, worker_snapshot
from supplydata.schema import TABLES
from supplydata.snapshot import Snapshot, State, build_snapshot

# ------------------------------------------------------------------ schema


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SupplyFilter(_Model):
    """Which supply rows a change touches; every given condition must hold."""

    item: list[str] | None = None
    location: list[str] | None = None
    category: list[str] | None = None
    ref: str | list[str] | None = Field(None, description="supply ref(s); shell wildcards allowed (PU0001*)")
    supplier: list[str] | None = Field(None, description="needs a 'supplier' column in the supply table")
    kind: list[str] | None = Field(None, description="supply kinds; default: every receipt (not on hand)")
    date_from: dt.date | None = None
    date_to: dt.date | None = None


class DelayReceipts(SupplyFilter):
    type: Literal["delay_receipts"]
    days: int = Field(..., description="days later (negative: earlier); past the horizon: the last day")


class CutReceipts(SupplyFilter):
    type: Literal["cut_receipts"]
    keep: float = Field(..., ge=0.0, description="share of the quantity kept (0: cancelled)")


class SupplyRow(_Model):
    item: str
    location: str
    date: dt.date
    qty: float = Field(..., ge=0.0)
    kind: Literal["onhand", "purchase", "transfer", "production", "planned"] = "purchase"
    ref: str | None = None


class AddSupply(_Model):
    type: Literal["add_supply"]
    rows: list[SupplyRow]


class DemandSpike(_Model):
    """More (or less) demand: existing planned demand rows and open lines matching the filter are
    scaled by `factor`; an open line's extra quantity is added as a new line (order id ~spike)."""

    type: Literal["demand_spike"]
    factor: float = Field(..., ge=0.0)
    item: list[str] | None = None
    category: list[str] | None = None
    zone: list[str] | None = None
    location: list[str] | None = None
    demand_class: list[str] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


class OrderRow(_Model):
    order: str
    line: int = 1
    item: str
    location: str
    qty: float = Field(..., gt=0.0)
    requested_date: dt.date
    demand_class: str | None = None
    customer: str | None = None
    priority: int | None = None
    zone: str | None = None


class AddOrders(_Model):
    type: Literal["add_orders"]
    rows: list[OrderRow]


class NodeOut(_Model):
    """A node out of service: it neither ships nor receives between the dates. Its receipts in
    the window arrive on the day it reopens; its lines move to `reroute_to` when given."""

    type: Literal["node_out"]
    location: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    reroute_to: str | None = None


class LaneChange(_Model):
    """A lane's transit time changes: lines shipping over it must ship earlier (or may ship later)
    to keep their delivery date, so their requested (ship) date moves by the difference."""

    type: Literal["lane_change"]
    location: str
    zone: str
    transit_days: int = Field(..., ge=0)
    cost_per_unit: float | None = Field(None, ge=0.0)


class QuotaChange(_Model):
    type: Literal["quota_change"]
    factor: float | None = Field(None, ge=0.0)
    qty: float | None = Field(None, ge=0.0, description="set the quota to this quantity")
    item: list[str] | None = None
    location: list[str] | None = None
    demand_class: list[str] | None = None


ChangeSpec = Annotated[Union[DelayReceipts, CutReceipts, AddSupply, DemandSpike, AddOrders, NodeOut, LaneChange, QuotaChange],
                       Field(discriminator="type")]


class Scenario(_Model):
    name: str = Field(..., min_length=1, max_length=200)
    description: str | None = None
    changes: list[ChangeSpec] = Field(default_factory=list)
    reschedule: RescheduleConfig | None = None


_SCENARIOS = TypeAdapter(list[Scenario])


def parse_scenarios(data: object, *, source: str = "scenario") -> list[Scenario]:
    """Scenarios from parsed YAML/JSON: one scenario, a list, or {scenarios: [...]}."""
    if isinstance(data, dict) and "scenarios" in data and "changes" not in data:
        data = data["scenarios"]
    if isinstance(data, dict):
        data = [data]
    try:
        return _SCENARIOS.validate_python(data)
    except PydanticValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(x) for x in e["loc"])
        raise ValidationError(f"{source}: {e['msg']}", field=field, value=e.get("input"),
                              hint="see scenarios/README.md for the scenario file format") from None


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read a scenario file (.yaml, .yml or .json)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read the scenario file: {exc.strerror}", field="scenario", value=str(p)) from None
    if p.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}", field="scenario", value=str(p)) from None
    out = parse_scenarios(data, source=p.name)
    return out


# ------------------------------------------------------------------ fork


@dataclasses.dataclass
class Fork:
    """A scenario's copy-on-write world: snapshot, commitment state and backlog."""

    scenario: Scenario
    snapshot: Snapshot
    state: State
    backlog: pl.DataFrame
    schedule: pl.DataFrame | None
    n_original: int               # backlog rows 0..n_original-1 are the live lines; later rows were added
    touched: list[str]            # tables replaced
    memory_bytes: int             # what the fork holds beyond the live data
    seconds: float
    notes: list[str]
    as_of: dt.date | None = None  # the fork's snapshot day (kept when a Ray task leaves the snapshot on its worker)


def _glob(col: str, pats: str | list[str]) -> pl.Expr:
    pats = [pats] if isinstance(pats, str) else pats
    rx = "|".join(f"(?:^{_glob_rx(p)}$)" for p in pats)
    return pl.col(col).str.contains(rx).fill_null(False)


def _glob_rx(pat: str) -> str:
    """A shell wildcard (* and ?) as a regular expression for polars."""
    meta = set("\\.^$|+()[]{}")
    return "".join(".*" if c == "*" else "." if c == "?" else ("\\" + c if c in meta else c) for c in pat)


def _supply_mask(tables: dict[str, pl.DataFrame], f: SupplyFilter, i: int) -> pl.Expr:
    cond = [pl.col("kind").is_in(f.kind) if f.kind else pl.col("kind") != "onhand"]
    if f.item:
        cond.append(pl.col("item").is_in(f.item))
    if f.location:
        cond.append(pl.col("location").is_in(f.location))
    if f.category:
        items = tables["items"].filter(pl.col("category").is_in(f.category))["item"]
        cond.append(pl.col("item").is_in(items.implode()))
    if f.ref:
        cond.append(_glob("ref", f.ref))
    if f.supplier:
        if "supplier" not in tables["supply"].columns:
            raise ValidationError("the supply table has no 'supplier' column", field=f"changes.{i}.supplier", value=f.supplier,
                                  hint="filter by ref, item or location instead")
        cond.append(pl.col("supplier").is_in(f.supplier))
    if f.date_from:
        cond.append(pl.col("date") >= f.date_from)
    if f.date_to:
        cond.append(pl.col("date") <= f.date_to)
    return pl.all_horizontal(cond)


def _nbytes(snap: Snapshot) -> int:
    return int(sum(getattr(snap, a).nbytes for a in ("supply", "demand", "base_cum", "sup_ptr", "sup_bucket", "sup_qty",
                                                     "sup_row", "il_item", "il_loc", "il_lead_time", "il_calendar",
                                                     "calendar_open")))


def fork(snap: Snapshot, state: State, backlog: pl.DataFrame, scenario: Scenario, *,
         schedule: pl.DataFrame | None = None, fast: bool = True, engine_rows: np.ndarray | None = None) -> Fork:
    """Apply the scenario's changes to copies of the touched tables and of the backlog.

    `engine_rows` (bool per backlog row): lines whose reservation the engine pass gives back
    itself (`scenarios.replan`); a rerouted one keeps its old schedule in the fork.

    When only dates and quantities of existing supply/demand rows changed (and lanes or quota
    quantities), the fork's snapshot is patched: only the changed item-locations' rows are
    recomputed (`fast`); otherwise it is built from its tables with `build_snapshot`."""
    t0 = time.perf_counter()
    tables = dict(snap.tables)  # the same frames: untouched tables are shared, never copied
    touched: set[str] = set()
    notes: list[str] = []
    bl = backlog
    n0 = backlog.height
    last = snap.last_date
    rerouted = np.zeros(n0, np.bool_)

    def known(kind: str, ids: Sequence[str] | None, field: str) -> None:
        index = snap.item_index if kind == "item" else snap.location_index
        for v in ids or ():
            if v not in index:
                raise ValidationError(f"unknown {kind}", field=field, value=v)

    for i, ch in enumerate(scenario.changes):
        f = f"changes.{i}"
        if isinstance(ch, (DelayReceipts, CutReceipts)):
            known("item", ch.item, f"{f}.item")
            known("location", ch.location, f"{f}.location")
            sup = tables["supply"]
            m = _supply_mask(tables, ch, i)
            if isinstance(ch, DelayReceipts):
                new_date = (pl.col("date") + pl.duration(days=ch.days)).clip(snap.as_of - dt.timedelta(days=3650), last)
                sup = sup.with_columns(pl.when(m).then(new_date).otherwise(pl.col("date")).alias("date"))
            else:
                sup = sup.with_columns(pl.when(m).then(pl.col("qty") * ch.keep).otherwise(pl.col("qty")).alias("qty"))
            tables["supply"] = sup
            touched.add("supply")
        elif isinstance(ch, AddSupply):
            for k, r in enumerate(ch.rows):
                known("item", [r.item], f"{f}.rows.{k}.item")
                known("location", [r.location], f"{f}.rows.{k}.location")
                if r.date > last:
                    raise ValidationError(f"date outside the horizon (last day {last})", field=f"{f}.rows.{k}.date", value=str(r.date))
            add = pl.DataFrame([r.model_dump() for r in ch.rows], schema=TABLES["supply"].polars_schema())
            sup = tables["supply"]
            extra = [c for c in sup.columns if c not in add.columns]
            add = add.with_columns([pl.lit(None, dtype=sup.schema[c]).alias(c) for c in extra]).select(sup.columns)
            tables["supply"] = pl.concat([sup, add])
            touched.add("supply")
        elif isinstance(ch, DemandSpike):
            cat_items = (tables["items"].filter(pl.col("category").is_in(ch.category))["item"].implode()
                         if ch.category else None)
            loc_zone = tables["locations"].select("location", "zone")
            dem = tables["demand"]
            if dem.height:
                cond = [pl.lit(True)]
                if ch.item:
                    cond.append(pl.col("item").is_in(ch.item))
                if cat_items is not None:
                    cond.append(pl.col("item").is_in(cat_items))
                if ch.location:
                    cond.append(pl.col("location").is_in(ch.location))
                if ch.zone:
                    zl = loc_zone.filter(pl.col("zone").is_in(ch.zone))["location"].implode()
                    cond.append(pl.col("location").is_in(zl))
                if ch.demand_class:
                    cond.append(pl.col("demand_class").is_in(ch.demand_class).fill_null(False))
                if ch.date_from:
                    cond.append(pl.col("date") >= ch.date_from)
                if ch.date_to:
                    cond.append(pl.col("date") <= ch.date_to)
                m = pl.all_horizontal(cond)
                tables["demand"] = dem.with_columns(pl.when(m).then(pl.col("qty") * ch.factor).otherwise(pl.col("qty")).alias("qty"))
                touched.add("demand")
            cond = [pl.col("_r") < n0]
            if ch.item:
                cond.append(pl.col("item").is_in(ch.item))
            if cat_items is not None:
                cond.append(pl.col("item").is_in(cat_items))
            if ch.location:
                cond.append(pl.col("location").is_in(ch.location))
            if ch.zone:
                if "zone" in bl.columns:
                    cond.append(pl.col("zone").is_in(ch.zone).fill_null(False))
                else:
                    zl = loc_zone.filter(pl.col("zone").is_in(ch.zone))["location"].implode()
                    cond.append(pl.col("location").is_in(zl))
            if ch.demand_class:
                if "demand_class" not in bl.columns:
                    raise ValidationError("the backlog has no demand_class column", field=f"{f}.demand_class", value=ch.demand_class)
                cond.append(pl.col("demand_class").is_in(ch.demand_class).fill_null(False))
            if ch.date_from:
                cond.append(pl.col("requested_date") >= ch.date_from)
            if ch.date_to:
                cond.append(pl.col("requested_date") <= ch.date_to)
            hit = bl.with_row_index("_r").filter(pl.all_horizontal(cond))
            if ch.factor > 1.0 and hit.height:
                extra = hit.drop("_r").with_columns((pl.col("qty") * (ch.factor - 1.0)).alias("qty"))
                if "order" in extra.columns:
                    extra = extra.with_columns((pl.col("order") + "~spike").alias("order"))
                for c in ("old_qty", "old_date", "value", "currency"):  # new lines: valued at the catalogue's price
                    if c in extra.columns:
                        extra = extra.with_columns(pl.lit(None, dtype=extra.schema[c]).alias(c))
                bl = pl.concat([bl, extra])
            elif ch.factor < 1.0 and hit.height:
                notes.append(f"{f}: a factor below 1 lowers planned demand only; open customer lines keep their quantity")
        elif isinstance(ch, AddOrders):
            for k, r in enumerate(ch.rows):
                known("item", [r.item], f"{f}.rows.{k}.item")
                known("location", [r.location], f"{f}.rows.{k}.location")
            add = pl.DataFrame([r.model_dump() for r in ch.rows])
            cols = {}
            for c in bl.columns:
                if c in add.columns:
                    cols[c] = add[c].cast(bl.schema[c])
                else:
                    cols[c] = pl.Series(c, [None] * add.height, dtype=bl.schema[c])
            bl = pl.concat([bl, pl.DataFrame(cols)])
        elif isinstance(ch, NodeOut):
            known("location", [ch.location], f"{f}.location")
            if ch.reroute_to:
                known("location", [ch.reroute_to], f"{f}.reroute_to")
            d0 = max(ch.date_from or snap.as_of, snap.as_of)
            d1 = min(ch.date_to or last, last)
            locs = tables["locations"]
            cal_name = f"~out:{ch.location}"
            old_cal = locs.filter(pl.col("location") == ch.location)["calendar"][0]
            cals = tables["calendars"]
            days = pl.date_range(snap.as_of, last, "1d", eager=True)
            if old_cal is not None and cals.height:
                base_open = cals.filter(pl.col("calendar") == old_cal).select("date", "open")
                cal = pl.DataFrame({"date": days}).join(base_open, on="date", how="left").with_columns(pl.col("open").fill_null(True))
            else:
                cal = pl.DataFrame({"date": days, "open": [True] * len(days)})
            cal = cal.select(pl.lit(cal_name).alias("calendar"), "date",
                             pl.when(pl.col("date").is_between(d0, d1)).then(False).otherwise(pl.col("open")).alias("open"))
            cal = cal.with_columns([pl.lit(None, dtype=cals.schema[c]).alias(c) for c in cals.columns if c not in cal.columns])
            cal = cal.select(cals.columns)
            tables["calendars"] = pl.concat([cals.filter(pl.col("calendar") != cal_name), cal.cast(cals.schema)])
            tables["locations"] = locs.with_columns(
                pl.when(pl.col("location") == ch.location).then(pl.lit(cal_name)).otherwise(pl.col("calendar")).alias("calendar"))
            reopen = d1 + dt.timedelta(days=1)
            sup = tables["supply"]
            m = (pl.col("location") == ch.location) & pl.col("date").is_between(d0, d1) & (pl.col("kind") != "onhand")
            if reopen <= last:
                sup = sup.with_columns(pl.when(m).then(pl.lit(reopen)).otherwise(pl.col("date")).alias("date"))
            else:
                sup = sup.filter(~m)
            tables["supply"] = sup
            touched |= {"calendars", "locations", "supply"}
            if ch.reroute_to:
                hit = (bl["location"] == ch.location).to_numpy()
                rerouted |= hit[:n0]
                bl = bl.with_columns(pl.when(pl.col("location") == ch.location).then(pl.lit(ch.reroute_to))
                                     .otherwise(pl.col("location")).alias("location"))
        elif isinstance(ch, LaneChange):
            known("location", [ch.location], f"{f}.location")
            lanes = tables["lanes"]
            m = (pl.col("location") == ch.location) & (pl.col("zone") == ch.zone)
            old = lanes.filter(m)
            if old.height == 0:
                raise ValidationError("no such lane", field=f"{f}", value=f"{ch.location}->{ch.zone}")
            delta = int(ch.transit_days - old["transit_days"][0])
            upd = [pl.when(m).then(pl.lit(ch.transit_days)).otherwise(pl.col("transit_days")).alias("transit_days")]
            if ch.cost_per_unit is not None:
                upd.append(pl.when(m).then(pl.lit(ch.cost_per_unit)).otherwise(pl.col("cost_per_unit")).alias("cost_per_unit"))
            tables["lanes"] = lanes.with_columns(upd)
            touched.add("lanes")
            if "zone" in bl.columns and delta:
                hit = (pl.col("location") == ch.location) & (pl.col("zone") == ch.zone)
                moved = (pl.col("requested_date") - pl.duration(days=delta)).clip(upper_bound=last)
                bl = bl.with_columns(pl.when(hit).then(moved).otherwise(pl.col("requested_date")).alias("requested_date"))
            elif delta:
                notes.append(f"{f}: the backlog has no zone column; requested dates were not moved")
        elif isinstance(ch, QuotaChange):
            if (ch.factor is None) == (ch.qty is None):
                raise ValidationError("give exactly one of factor and qty", field=f, value=None)
            al = tables["allocation"]
            cond = [pl.lit(True)]
            for name in ("item", "location", "demand_class"):
                v = getattr(ch, name)
                if v:
                    cond.append(pl.col(name).is_in(v))
            m = pl.all_horizontal(cond)
            val = pl.col("qty") * ch.factor if ch.factor is not None else pl.lit(float(ch.qty))
            tables["allocation"] = al.with_columns(pl.when(m).then(val).otherwise(pl.col("qty")).alias("qty"))
            touched.add("allocation")
            notes.append(f"{f}: quotas bind promises made through promising.promise on the fork (the engine "
                         "pass re-plans the lines that draw quota pools); the plain-ATP kernel pass has no quotas")

    # supply dates before as_of stay valid (bucket 0); nothing may pass the horizon
    patched = _patch(snap, tables, touched, scenario.name) if fast else None
    if patched is not None:
        fsnap, rows, memory = patched
        fstate = State(fsnap, state.cum.copy(), {k: v.copy() for k, v in state.extras.items()})
        if rows.size == snap.n_il:  # the live commitments on the fork's supply, every row
            fstate.cum += fsnap.base_cum
            fstate.cum -= snap.base_cum
        elif rows.size:  # only the changed rows move
            fstate.cum[rows] += fsnap.base_cum[rows] - snap.base_cum[rows]
    else:
        if touched & {"supply", "demand", "calendars", "locations", "allocation"}:
            fsnap = build_snapshot(snap.meta, tables, source=f"whatif:{scenario.name}")
            memory = _nbytes(fsnap)
        else:
            fsnap = (dataclasses.replace(snap, tables=tables, derived={}, version=next(_fork_versions))
                     if touched else snap)
            memory = 0
        fstate = _carry_over(snap, state, fsnap)
    memory += sum(int(tables[t].estimated_size()) for t in touched)
    memory += fstate.nbytes
    if bl is not backlog:
        memory += int(bl.estimated_size())

    if "allocation" in touched and EXTRAS_ALLOCATION in state.extras:
        fstate.extras[EXTRAS_ALLOCATION] = _pools_on_fork(snap, state, fsnap)
    sched = schedule
    if engine_rows is not None:
        rerouted &= ~engine_rows
    if rerouted.any():
        # lines moved to another node give their old schedule back at the old node
        ptr, ob, oq = old_schedule(snap, backlog, schedule)
        ils = _ils(fsnap, backlog["item"], backlog["location"])
        ils = np.where(rerouted, ils, -1)
        nb.release_csr_nb(fstate.cum, ils, ptr, ob, oq)
        if schedule is not None:
            keep = ~rerouted[schedule["row"].to_numpy()]
            sched = schedule.filter(pl.Series(keep))
        else:
            mask = pl.Series(np.concatenate([rerouted, np.zeros(bl.height - n0, np.bool_)]))
            bl = bl.with_columns(pl.when(mask).then(0.0).otherwise(pl.col("old_qty")).alias("old_qty"))
    return Fork(scenario, fsnap, fstate, bl, sched, n0, sorted(touched), memory, time.perf_counter() - t0, notes, fsnap.as_of)


# patched forks get their own (negative) versions: caches keyed by snapshot version never mix them up
_fork_versions = itertools.count(-1, -1)


def _ro(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _patch(snap: Snapshot, tables: dict[str, pl.DataFrame], touched: set[str], name: str):
    """(fork snapshot, changed item-location rows, bytes) when only dates/quantities of existing
    supply and demand rows changed; None otherwise (the caller builds the snapshot)."""
    if not touched or not touched <= {"supply", "demand", "lanes", "allocation"}:
        return None
    t0 = time.perf_counter()
    H, N = snap.horizon, snap.n_il
    base_day = (snap.as_of - dt.date(1970, 1, 1)).days
    changed: list[np.ndarray] = []
    frames = {}
    for tname in ("supply", "demand"):
        if tname not in touched:
            continue
        new, old = tables[tname], snap.tables[tname]
        if new.height != old.height or not new["item"].equals(old["item"]) or not new["location"].equals(old["location"]):
            return None
        if tname == "supply":
            il_row = np.empty(new.height, np.int64)
            il_row[snap.sup_row] = np.repeat(np.arange(N), np.diff(snap.sup_ptr))
        else:
            il_row = _ils(snap, new["item"], new["location"])
            if (il_row < 0).any():
                return None
        diff = ((new["date"] != old["date"]) | (new["qty"] != old["qty"])).fill_null(True).to_numpy()
        changed.append(il_row[diff])
        frames[tname] = (new, il_row)
    if "allocation" in touched:
        new, old = tables["allocation"], snap.tables["allocation"]
        if new.height != old.height or not new["item"].equals(old["item"]) or not new["location"].equals(old["location"]):
            return None
    rows = np.unique(np.concatenate(changed)) if changed else np.empty(0, np.int64)
    pos_of = np.full(N, -1, np.int64)
    pos_of[rows] = np.arange(rows.size)

    def dense(tname: str) -> np.ndarray:
        new, il_row = frames[tname]
        sel = np.flatnonzero(pos_of[il_row] >= 0)
        b = np.maximum(new["date"].cast(pl.Int32).to_numpy()[sel].astype(np.int64) - base_day, 0)
        return np.bincount(pos_of[il_row[sel]] * H + b, weights=new["qty"].to_numpy()[sel],
                           minlength=rows.size * H).reshape(rows.size, H)

    arrays: dict[str, np.ndarray] = {}
    if rows.size > N // 4:
        # most item-locations changed: recompute the dense arrays whole (no fancy-indexed copies)
        def full(tname: str) -> tuple[np.ndarray, np.ndarray]:
            new, il_row = frames[tname]
            b = np.maximum(new["date"].cast(pl.Int32).to_numpy().astype(np.int64) - base_day, 0)
            return np.bincount(il_row * H + b, weights=new["qty"].to_numpy(), minlength=N * H).reshape(N, H), b

        if "supply" in frames:
            supply, b = full("supply")
            il_row = frames["supply"][1]
            order = np.argsort(il_row * H + b, kind="stable")
            arrays.update(supply=supply, sup_row=order.astype(np.int64), sup_bucket=b[order].astype(np.int32),
                          sup_qty=frames["supply"][0]["qty"].to_numpy()[order].astype(np.float64))
        if "demand" in frames:
            arrays["demand"] = full("demand")[0]
        from supplydata.kernels import net_cumsum_nb

        base_cum = np.empty((N, H))
        net_cumsum_nb(arrays.get("supply", snap.supply), arrays.get("demand", snap.demand), base_cum)
        arrays["base_cum"] = base_cum
        rows = np.arange(N)
    elif "supply" in frames and rows.size:
        supply = snap.supply.copy()
        supply[rows] = dense("supply")
        arrays["supply"] = supply
        # pegging records of the changed item-locations: same rows, new buckets and quantities
        new, il_row = frames["supply"]
        lens = np.diff(snap.sup_ptr)[rows]
        starts = snap.sup_ptr[rows]
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        seg = np.repeat(np.arange(rows.size), lens)
        srow = snap.sup_row[pos]
        nbk = np.maximum(new["date"].cast(pl.Int32).to_numpy()[srow].astype(np.int64) - base_day, 0)
        order = np.lexsort((srow, nbk, seg))
        sup_row, sup_bucket, sup_qty = snap.sup_row.copy(), snap.sup_bucket.copy(), snap.sup_qty.copy()
        sup_row[pos] = srow[order]
        sup_bucket[pos] = nbk[order]
        sup_qty[pos] = new["qty"].to_numpy()[srow[order]]
        arrays.update(sup_row=sup_row, sup_bucket=sup_bucket, sup_qty=sup_qty)
    if "demand" in frames and rows.size and "base_cum" not in arrays:
        demand = snap.demand.copy()
        demand[rows] = dense("demand")
        arrays["demand"] = demand
    if rows.size and "base_cum" not in arrays:
        from supplydata.kernels import net_cumsum_nb

        base_cum = snap.base_cum.copy()
        sub = np.empty((rows.size, H))
        net_cumsum_nb(np.ascontiguousarray(arrays.get("supply", snap.supply)[rows]),
                      np.ascontiguousarray(arrays.get("demand", snap.demand)[rows]), sub)
        base_cum[rows] = sub
        arrays["base_cum"] = base_cum
    memory = sum(a.nbytes for a in arrays.values())
    fsnap = dataclasses.replace(snap, tables=tables, source=f"whatif:{name}", derived={}, version=next(_fork_versions),
                                loaded_at=dt.datetime.now(dt.timezone.utc), load_seconds=time.perf_counter() - t0,
                                **{k: _ro(v) for k, v in arrays.items()})
    return fsnap, rows, memory


def _ils(snap: Snapshot, items: pl.Series, locations: pl.Series) -> np.ndarray:
    ic = items.replace_strict(snap.item_index, default=-1, return_dtype=pl.Int64).to_numpy()
    lc = locations.replace_strict(snap.location_index, default=-1, return_dtype=pl.Int64).to_numpy()
    nloc = max(snap.n_locations, 1)
    keys = snap.il_item.astype(np.int64) * nloc + snap.il_loc
    want = ic * nloc + lc
    pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    return np.where((ic >= 0) & (lc >= 0) & (len(keys) > 0) & (keys[pos] == want), pos, -1).astype(np.int64)


EXTRAS_ALLOCATION = "allocation"  # allocation.model.EXTRAS_KEY: the state's pool positions


def _pools_on_fork(snap: Snapshot, state: State, fsnap: Snapshot) -> np.ndarray:
    """The live pools' consumption on the fork's quotas (a `quota_change`): the fork's base pool
    positions less what the live commitments consumed of each pool; by replaying the live
    commitments (`allocation.rebase`) when the fork's pools differ from the live ones."""
    import allocation

    old, new = allocation.model_for(snap), allocation.model_for(fsnap)
    live = allocation.positions(snap, state)
    if (old.n_pools == new.n_pools and np.array_equal(old.pool_il, new.pool_il) and old.pool_names == new.pool_names
            and old.base_pos.shape == new.base_pos.shape):
        return new.base_pos - (old.base_pos - live)
    return allocation.positions(fsnap, allocation.rebase(state, fsnap).state)


def _carry_over(snap: Snapshot, state: State, fsnap: Snapshot) -> State:
    """The fork's commitment state: every live commitment, on the fork's supply."""
    if fsnap is snap or fsnap.base_cum is snap.base_cum:
        return state.copy()
    same = (fsnap.n_il == snap.n_il and fsnap.item_ids == snap.item_ids and fsnap.location_ids == snap.location_ids
            and np.array_equal(fsnap.il_item, snap.il_item) and np.array_equal(fsnap.il_loc, snap.il_loc))
    if same:
        cum = fsnap.base_cum - snap.base_cum
        cum += state.cum  # = fork base - (live base - live cum): the live commitments on the fork's supply
        return State(fsnap, cum, {k: v.copy() for k, v in state.extras.items()})
    items = pl.Series([snap.item_ids[i] for i in snap.il_item.tolist()])
    locs = pl.Series([snap.location_ids[i] for i in snap.il_loc.tolist()])
    new_il = _ils(fsnap, items, locs)
    cum = fsnap.base_cum.copy()
    ok = new_il >= 0
    cum[new_il[ok]] -= snap.base_cum[ok] - state.cum[ok]
    return State(fsnap, cum)


# ------------------------------------------------------------------ KPIs


def kpis(res: RescheduleResult, *, rows: int | None = None, old: bool = False) -> dict:
    """Service KPIs of a plan (the new schedule, or the old one with `old`) over its first `rows` lines."""
    df = res.lines if rows is None else res.lines.head(rows)
    q_all, q_ot = ("old_qty", "old_on_time_qty") if old else ("new_qty", "new_on_time_qty")
    qty = float(df["qty"].sum()) or 1.0
    on_time = df.select((pl.col(q_ot) >= pl.col("qty") - 1e-6).sum()).item()
    risk, share = revenue_at_risk(df, q_ot)
    return {
        "lines": df.height,
        "lines_on_time": int(on_time),
        "on_time_rate": on_time / max(df.height, 1),
        "fill_rate": float(df[q_all].sum()) / qty,
        "on_time_fill_rate": float(df[q_ot].sum()) / qty,
        "revenue_at_risk": risk,
        "revenue_at_risk_share": share,
    }


def revenue_at_risk(lines: pl.DataFrame, on_time_qty: str) -> tuple[dict[str, Decimal], dict[str, float]]:
    """Per currency of the lines' values: the revenue at risk (exact: each line's value x its share not on time,
    rounded half up to the currency's minor unit, then added) and its share of the lines' value (0 when there is
    no value). Amounts are never added across currencies."""
    from promessa.money import float_amount_expr

    risk: dict[str, Decimal] = {}
    share: dict[str, float] = {}
    frac = ((pl.col("qty") - pl.col(on_time_qty)).clip(0.0) / pl.when(pl.col("qty") > 0).then(pl.col("qty"))).fill_null(0.0)
    for cur in sorted(c for c in lines["currency"].unique().to_list() if c is not None):
        part = lines.filter(pl.col("currency") == cur)
        at_risk = pl.when(frac >= 1.0 - 1e-12).then(pl.col("value")).otherwise(
            float_amount_expr(pl.col("value").cast(pl.Float64) * frac, cur))
        r, v = part.select(at_risk.sum().alias("r"), pl.col("value").sum().alias("v")).row(0)
        risk[cur] = Decimal(r or 0).quantize(quantum(cur))
        share[cur] = float(r or 0) / float(v) if v else 0.0
    return risk, share


def kpi_rows(k: dict) -> dict[str, float]:
    """A plan's KPIs as numbers, one per row (a per-currency KPI as one row per currency, ``name (EUR)``)."""
    out: dict[str, float] = {}
    for name, v in k.items():
        if isinstance(v, dict):
            out.update({f"{name} ({c})": float(x) for c, x in v.items()})
        else:
            out[name] = float(v)
    return out


def kpis_public(k: dict) -> dict:
    """A plan's KPIs for JSON: amounts as exact decimal strings, per currency."""
    return {name: {c: str(x) if isinstance(x, Decimal) else x for c, x in v.items()} if isinstance(v, dict) else v
            for name, v in k.items()}


def compare_to(base: RescheduleResult, other: RescheduleResult, rows: int) -> np.ndarray:
    """Change code (scenarios.enums.Change) of `other`'s first `rows` lines against `base`."""
    n = base.new_n[:rows]
    ptr = np.zeros(rows + 1, np.int64)
    np.cumsum(n, out=ptr[1:])
    mask = np.arange(base.new_b.shape[1])[None, :] < n[:, None]
    ob = base.new_b[:rows][mask]
    oq = base.new_q[:rows][mask]
    change = np.empty(rows, np.int8)
    a = np.empty(rows)
    b = np.empty(rows)
    req = np.zeros(rows, np.int64)
    nb.compare_batch_nb(ptr, ob, oq, other.new_n[:rows], other.new_b[:rows], other.new_q[:rows], req, change, a, b)
    return change


@dataclasses.dataclass
class ScenarioResult:
    scenario: Scenario
    result: RescheduleResult
    fork: Fork
    kpis: dict
    worse_lines: int
    better_lines: int
    orders_worsened_by_class: dict[str, int]
    curves: list[dict]          # ATP before/after of the most affected item-locations
    seconds: float

    def to_dict(self) -> dict:
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "kpis": kpis_public(self.kpis),
            "lines_worse_than_baseline": self.worse_lines,
            "lines_better_than_baseline": self.better_lines,
            "orders_worsened_by_class": self.orders_worsened_by_class,
            "exceptions": int(self.result.exceptions.height),
            "added_lines": self.fork.backlog.height - self.fork.n_original,
            "touched_tables": self.fork.touched,
            "fork_memory_bytes": self.fork.memory_bytes,
            "fork_seconds": round(self.fork.seconds, 4),
            "seconds": round(self.seconds, 4),
            "notes": self.fork.notes,
            "most_affected": [{**{k: v for k, v in c.items() if k not in ("before", "after")},
                               "explanation": atp_explanation(self.scenario, c, self.fork.as_of)}
                              for c in self.curves],
        }


@dataclasses.dataclass
class WhatIfReport:
    current: dict
    baseline: dict
    baseline_result: RescheduleResult
    scenarios: list[ScenarioResult]
    as_of: dt.date
    seconds: float
    skipped: list[dict] = dataclasses.field(default_factory=list)  # open lines kept as promised, with the reason

    def table(self) -> pl.DataFrame:
        """KPIs side by side: one row per KPI, one column per plan."""
        names = ["current", "baseline"] + [s.scenario.name for s in self.scenarios]
        cols = [kpi_rows(c) for c in [self.current, self.baseline] + [s.kpis for s in self.scenarios]]
        keys = list(dict.fromkeys(k for c in cols for k in c))
        return pl.DataFrame({"kpi": keys, **{n: [c.get(k, 0.0) for k in keys] for n, c in zip(names, cols)}})

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "current": kpis_public(self.current), "baseline": kpis_public(self.baseline),
                "scenarios": [s.to_dict() for s in self.scenarios], "seconds": round(self.seconds, 4),
                "skipped": self.skipped}


#: ATP differences below a hundredth of a unit are rounding, not a change a planner would see on a chart
ATP_VISIBLE = 0.005


def _curve_changed(before: np.ndarray, after: np.ndarray) -> bool:
    """True when the two ATP curves differ somewhere by more than :data:`ATP_VISIBLE` (infinite on both sides: equal)."""
    both_inf = np.isinf(before) & np.isinf(after) & (np.sign(before) == np.sign(after))
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.where(both_inf, 0.0, after - before))
    return bool(np.any(~np.isfinite(diff)) or np.any(diff > ATP_VISIBLE))


def _change_words(ch) -> str:
    """One change of a scenario in a planner's words."""
    t = ch.type
    if t == "delay_receipts":
        kinds = "/".join(ch.kind) + " receipts" if getattr(ch, "kind", None) else "receipts"
        return f"{kinds} arrive {abs(ch.days)} days {'later' if ch.days >= 0 else 'earlier'}"
    if t == "cut_receipts":
        return "receipts cancelled" if ch.keep == 0 else f"receipts cut to {ch.keep:.0%} of their quantity"
    if t == "demand_spike":
        return f"demand x{ch.factor:g}"
    if t == "add_supply":
        return f"{len(ch.rows):,} supply rows added"
    if t == "add_orders":
        return f"{len(ch.rows):,} order lines added"
    if t == "node_out":
        return f"{ch.location} out of service" + (f" until {ch.date_to}" if ch.date_to else "")
    if t == "lane_change":
        return f"lane {ch.location} to {ch.zone} takes {ch.transit_days} days"
    if t == "quota_change":
        return "quotas changed"
    return t.replace("_", " ")


def atp_explanation(scenario: Scenario, curve: dict, as_of: dt.date) -> str:
    """The sentence under an ATP chart: how the scenario's ATP differs from the baseline's at one item-location (by how
    much, from when) and why - the scenario's changes, and the backlog's units confirmed there before and after.

    ATP is the quantity a new request could still take by a date. A scenario can raise it: when receipts arrive late or
    shrink, backlog lines that took them in the baseline are promised later, elsewhere or not at all, so units that
    arrive (later) are no longer consumed by them and stay free for new requests."""
    before = np.asarray(curve["before"], dtype=float)
    after = np.asarray(curve["after"], dtype=float)
    with np.errstate(invalid="ignore"):  # inf - inf: the same unbounded ATP on both sides, no difference
        d = np.where(np.isinf(before) & np.isinf(after), 0.0, after - before)
    d = np.nan_to_num(d, nan=0.0, posinf=1e18, neginf=-1e18)

    def day(i: int) -> str:
        return (as_of + dt.timedelta(days=int(i))).isoformat()

    def units(v: float) -> str:
        return f"{v:,.0f}" if abs(v - round(v)) < 0.005 else f"{v:,.2f}"

    what = "; ".join(_change_words(c) for c in scenario.changes) or "no change"
    parts = []
    low = np.flatnonzero(d < -ATP_VISIBLE)
    high = np.flatnonzero(d > ATP_VISIBLE)
    if low.size:
        i = int(np.argmin(d))
        parts.append(f"lower from {day(low[0])}, by up to {units(-d[i])} units ({day(i)})")
    if high.size:
        i = int(np.argmax(d))
        parts.append(f"higher from {day(high[0])}, by up to {units(d[i])} units ({day(i)})")
    head = (f"ATP of {curve['item']} at {curve['location']} with '{scenario.name}' is "
            + (" and ".join(parts) if parts else "the same as the baseline's") + f": {what}.")
    why = []
    cb, ca = curve.get("confirmed_before"), curve.get("confirmed_after")
    lost = curve.get("lost_on_time_qty", 0.0)
    if lost > EPS:
        why.append(f"The backlog here loses {units(lost)} units on time")
    if high.size and cb is not None and ca is not None and ca < cb - EPS:
        why.append(f"it confirms {units(ca)} units here instead of {units(cb)}: lines that needed the units earlier are "
                   "promised later, elsewhere or not at all, so the units arriving later are not consumed by them "
                   "and stay free for new requests")
    elif high.size and lost > EPS:
        why.append("those lines are promised later, so they take their units later and until then the units are "
                   "free for new requests")
    elif high.size:
        why.append("supply the backlog no longer takes here (or takes later) is free for new requests")
    if low.size and not lost > EPS:
        why.append("less is free for new requests: the supply arrives later or less of it, or more demand takes it")
    return head + (" " + "; ".join(why) + "." if why else "")


def _curves(base: RescheduleResult, fk: Fork, res: RescheduleResult, n0: int, k: int) -> list[dict]:
    """The k item-locations where the scenario lost the most on-time quantity (else moved supply most), with their ATP
    before and after and ``atp_changed``. Charts draw only the curves that changed: an item-location whose ATP is the
    same before and after (often zero on both sides, every unit taken by the backlog) says nothing on a chart. So
    the list goes on past the k first until k changed curves are found (an unchanged one among the k first stays in
    the list, with ``atp_changed`` false, for the data; others are skipped)."""
    snap, fsnap = base.state.snapshot, fk.snapshot
    lost = (base.lines["new_on_time_qty"].to_numpy()[:n0] - res.lines["new_on_time_qty"].to_numpy()[:n0])
    ils = base.ils[:n0] if base.ils is not None else _ils(snap, base.lines["item"].head(n0), base.lines["location"].head(n0))
    ok = ils >= 0
    score = np.bincount(ils[ok], weights=lost[ok], minlength=snap.n_il)
    # units of the backlog confirmed at each item-location, baseline and scenario (the chart's caption says why ATP moved)
    conf_b = np.bincount(ils[ok], weights=base.lines["new_qty"].to_numpy()[:n0][ok], minlength=snap.n_il)
    conf_s = np.bincount(ils[ok], weights=res.lines["new_qty"].to_numpy()[:n0][ok], minlength=snap.n_il)
    candidates = [int(i) for i in np.argsort(-score)[: 25 * k] if score[i] > EPS]
    same = fsnap.n_il == snap.n_il and np.array_equal(fsnap.il_item, snap.il_item) and np.array_equal(fsnap.il_loc, snap.il_loc)
    if snap.n_il and same and fsnap.base_cum is not snap.base_cum:
        # then: where the fork's supply position moved most (sampled weekly: cheap on 100,000 rows)
        moved = np.abs(fsnap.base_cum[:, ::7] - snap.base_cum[:, ::7]).max(axis=1)
        seen = set(candidates)
        candidates += [int(i) for i in np.argsort(-moved)[: 25 * k] if moved[i] > EPS and int(i) not in seen]
    out = []
    H = snap.horizon
    drawn = 0
    for rank, il in enumerate(candidates):
        if drawn >= k:
            break
        item, loc = snap.il_name(il)
        before = np.empty(H)
        pnb.availability_1d_nb(base.state.cum[il], snap.il_lead_time[il], 0, before)
        after = np.zeros(H)
        fil = fsnap.il_of(item, loc)
        if fil >= 0:
            pnb.availability_1d_nb(res.state.cum[fil], fsnap.il_lead_time[fil], 0, after)
        changed = _curve_changed(before, after)
        if not changed and rank >= k:
            continue
        drawn += changed
        out.append({"item": item, "location": loc, "lost_on_time_qty": float(max(score[il], 0.0)), "atp_changed": changed,
                    "confirmed_before": float(conf_b[il]), "confirmed_after": float(conf_s[il]),
                    "before": before, "after": after})
    return out


def _run_scenario(snap: Snapshot, state: State, backlog: pl.DataFrame, sc: Scenario, config: RescheduleConfig,
                  schedule: pl.DataFrame | None, baseline: RescheduleResult, curves: int,
                  reservations: Mapping[int, Reservation] | None, progress: Progress) -> ScenarioResult:
    """One scenario: fork, reschedule on the fork, compare with the baseline. The unit of work of
    every executor (scenarios are independent of each other: each reads the live data only)."""
    ts = time.perf_counter()
    n0 = backlog.height
    progress("forking", 0.0)
    fk = fork(snap, state, backlog, sc, schedule=schedule, engine_rows=_frozen(n0, reservations))
    # validate the merge: model_copy(update=...) would leave the rules as plain dicts
    cfg = (RescheduleConfig.model_validate({**config.model_dump(), **sc.reschedule.model_dump(exclude_unset=True)})
           if sc.reschedule else config)
    res = reschedule(fk.snapshot, fk.state, fk.backlog, cfg, schedule=fk.schedule, progress=progress,
                     reservations=reservations)
    change = compare_to(baseline, res, n0)
    worse = (change == 2) | (change == 3)
    by_class: dict[str, int] = {}
    if "order" in backlog.columns and n0:
        cls = backlog["demand_class"] if "demand_class" in backlog.columns else pl.Series([None] * n0, dtype=pl.String)
        w = pl.DataFrame({"order": backlog["order"], "demand_class": cls}).filter(pl.Series(worse))
        vc = w.unique("order", keep="first").group_by("demand_class").len()
        by_class = {str(a): int(b) for a, b in vc.iter_rows()}
    return ScenarioResult(sc, res, fk, kpis(res, rows=n0), int(worse.sum()), int((change == 1).sum()), by_class,
                          _curves(baseline, fk, res, n0, curves), time.perf_counter() - ts)


def run_whatif(snap: Snapshot, state: State, backlog: pl.DataFrame, scenarios: Sequence[Scenario], *,
               config: RescheduleConfig | None = None, schedule: pl.DataFrame | None = None,
               progress: Progress | None = None, baseline: RescheduleResult | None = None,
               curves: int = 3, reservations: Mapping[int, Reservation] | None = None,
               executor: str = "inprocess", ray_address: str | None = None, cpus: int = 2,
               timeout_s: float | None = None) -> WhatIfReport:
    """Run scenarios side by side against the baseline (the backlog rescheduled on the live state).
    `reservations` (backlog row -> open reservation): lines re-planned through the engine after the
    kernel pass (`scenarios.backlog.reschedule`), on the live state and on every fork (a fork keeps
    the backlog's rows first, in order, and carries their reservations).

    `executor`: ``inprocess`` (the default) runs the scenarios one after another here; ``ray``
    runs each scenario as a Ray task (the same `_run_scenario`), on the cluster at `ray_address`
    or on a local one started with `cpus` CPUs: the snapshot, the live state, the backlog, its
    schedule and reservations and the baseline go into the object store once per sweep; the
    report is the in-process one, value for value, except that each scenario's fork snapshot
    and final commitment state stay on the worker (``fork.snapshot``, ``fork.state`` and
    ``result.state`` are None: nothing the report, the API or the CLI show reads them) and that
    ``fork.memory_bytes`` (polars' estimate, which depends on how the worker's copy of the tables
    is chunked) may differ by a few bytes. `timeout_s` bounds the wait."""
    t0 = time.perf_counter()
    config = config or RescheduleConfig()
    say = progress or (lambda _m, _f: None)
    check_executor(executor, cpus)
    parts = len(scenarios) + 1

    def sub(k: int, name: str) -> Progress:
        return lambda m, f: say(f"{name}: {m}", (k + f) / parts)

    if baseline is None:
        baseline = reschedule(snap, state, backlog, config, schedule=schedule, progress=sub(0, "baseline"),
                              reservations=reservations)
    if executor == "ray" and scenarios:
        say(f"running {len(scenarios)} scenarios as Ray tasks", 1 / parts)
        out = _sweep_on_ray(snap, state, backlog, scenarios, config, schedule, baseline, curves, reservations,
                            address=ray_address, cpus=cpus, timeout_s=timeout_s,
                            on_done=lambda k, n: say(f"{scenarios[k].name}: done", (n + 1) / parts))
    else:
        out = [_run_scenario(snap, state, backlog, sc, config, schedule, baseline, curves, reservations, sub(k, sc.name))
               for k, sc in enumerate(scenarios, start=1)]
    say("done", 1.0)
    return WhatIfReport(kpis(baseline, old=True), kpis(baseline), baseline, out, snap.as_of, time.perf_counter() - t0)


def sweep_options(settings) -> dict:
    """`run_whatif`'s executor arguments from the settings' `scenarios` group (none: in-process):
    the executor, the Ray cluster, the local Ray's CPUs (``parts``) and the wait bound."""
    sc = getattr(settings, "scenarios", None)
    if sc is None:
        return {}
    return {"executor": sc.executor, "ray_address": sc.ray_address, "cpus": max(1, sc.parts), "timeout_s": sc.timeout_s}


# ------------------------------------------------------------------ Ray


def _scenario_on_worker(snap_box: list, shared_box: list, sc: Scenario) -> tuple[ScenarioResult, tuple[bool, bool]]:
    """`_run_scenario` in a Ray worker. The snapshot and the sweep's shared inputs come by reference
    (in lists, so that Ray does not resolve them per task); the snapshot is read once per worker.
    The fork's snapshot and the new state are not sent back (they hold the whole horizon)."""
    snap = worker_snapshot(snap_box)
    live, backlog, config, schedule, base, base_state, curves, reservations = ray_module().get(shared_box[0])
    state = attach_state(snap, live).copy()  # object-store arrays are read-only
    baseline = dataclasses.replace(base, state=attach_state(snap, base_state))
    res = _run_scenario(snap, state, backlog, sc, config, schedule, baseline, curves, reservations, lambda _m, _f: None)
    # a fork that left the backlog (or its schedule) alone holds the very same frame: the driver has it already
    same = (res.fork.backlog is backlog, res.fork.schedule is schedule)
    res.fork = dataclasses.replace(res.fork, snapshot=None, state=None, backlog=None if same[0] else res.fork.backlog,
                                   schedule=None if same[1] else res.fork.schedule)
    res.result = dataclasses.replace(res.result, state=None)
    return res, same


_scenario_remote = None


def _sweep_on_ray(snap: Snapshot, state: State, backlog: pl.DataFrame, scenarios: Sequence[Scenario],
                  config: RescheduleConfig, schedule: pl.DataFrame | None, baseline: RescheduleResult, curves: int,
                  reservations: Mapping[int, Reservation] | None, *, address: str | None, cpus: int,
                  timeout_s: float | None, on_done=None) -> list[ScenarioResult]:
    global _scenario_remote
    ray = ray_module()
    ray_init(address=address, cpus=cpus)
    if _scenario_remote is None:
        _scenario_remote = ray.remote(num_cpus=1)(_scenario_on_worker)
    snap_ref = snapshot_ref(snap)
    # once per sweep: the live state and the baseline without their snapshot (the workers have it)
    shared = ray.put((detach_state(state), backlog, config, schedule, dataclasses.replace(baseline, state=None),
                      detach_state(baseline.state), curves, dict(reservations) if reservations else None))
    refs = [_scenario_remote.remote([snap_ref], [shared], sc) for sc in scenarios]
    out = []
    for res, (same_backlog, same_schedule) in gather(refs, timeout_s, on_done):
        if same_backlog or same_schedule:
            res.fork = dataclasses.replace(res.fork, backlog=backlog if same_backlog else res.fork.backlog,
                                           schedule=schedule if same_schedule else res.fork.schedule)
        out.append(res)
    return out
