"""The snapshot data contract: one declared schema per table (see DESIGN.md).

Each table is declared once here and always passed to the loader; nothing else in the code
base spells column names or types for snapshot tables.
"""

from __future__ import annotations

import dataclasses

import polars as pl


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    dtype: type[pl.DataType] | pl.DataType
    nullable: bool = False
    non_negative: bool = False        # numeric: value >= 0
    positive: bool = False            # numeric: value > 0
    choices: tuple[str, ...] = ()     # allowed values for a string column
    ref: tuple[str, str] | None = None  # (table, column) the value must exist in


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = False
    in_horizon: tuple[str, ...] = ()  # date columns that must not lie past the horizon

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema())


Utf8, F64, I64, Date, Bool = pl.String, pl.Float64, pl.Int64, pl.Date, pl.Boolean

LOCATION_KINDS = ("dc", "store", "plant", "supplier")
SUPPLY_KINDS = ("onhand", "purchase", "transfer", "production", "planned")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "items",
            (
                Column("item", Utf8),
                Column("category", Utf8, nullable=True),
                Column("brand", Utf8, nullable=True),
                Column("price", F64, nullable=True, non_negative=True),
                Column("cost", F64, nullable=True, non_negative=True),
                Column("lead_time_days", I64, nullable=True, non_negative=True),
                # optional: count lead_time_days in working days of each location's calendar
                # (closed days do not count; a location without a calendar counts every day)
                Column("lead_time_working_days", Bool, nullable=True),
            ),
            key=("item",),
            required=True,
        ),
        Table(
            "locations",
            (
                Column("location", Utf8),
                Column("kind", Utf8, choices=LOCATION_KINDS),
                Column("zone", Utf8, nullable=True),
                Column("country", Utf8, nullable=True),
                Column("calendar", Utf8, nullable=True),
            ),
            key=("location",),
            required=True,
        ),
        Table(
            "supply",
            (
                Column("item", Utf8, ref=("items", "item")),
                Column("location", Utf8, ref=("locations", "location")),
                Column("date", Date),
                Column("qty", F64, non_negative=True),
                Column("kind", Utf8, choices=SUPPLY_KINDS),
                Column("ref", Utf8, nullable=True),
            ),
            required=True,
            in_horizon=("date",),
        ),
        Table(
            "demand",
            (
                Column("item", Utf8, ref=("items", "item")),
                Column("location", Utf8, ref=("locations", "location")),
                Column("date", Date),
                Column("qty", F64, non_negative=True),
                Column("demand_class", Utf8, nullable=True),
                Column("ref", Utf8, nullable=True),
            ),
            in_horizon=("date",),
        ),
        Table(
            "lanes",
            (
                Column("location", Utf8, ref=("locations", "location")),
                Column("zone", Utf8),
                Column("transit_days", I64, non_negative=True),
                Column("cost_per_unit", F64, non_negative=True),
                Column("cost_per_shipment", F64, non_negative=True),
            ),
            key=("location", "zone"),
        ),
        Table(
            "sourcing",
            (
                Column("zone", Utf8),
                Column("location", Utf8, ref=("locations", "location")),
                Column("rank", I64, non_negative=True),
                Column("item", Utf8, nullable=True, ref=("items", "item")),
                Column("category", Utf8, nullable=True),
            ),
        ),
        Table(
            "demand_classes",
            (
                Column("demand_class", Utf8),
                Column("priority", I64, positive=True),
                Column("parent", Utf8, nullable=True, ref=("demand_classes", "demand_class")),
                Column("can_steal_lower", Bool, nullable=True),
            ),
            key=("demand_class",),
        ),
        Table(
            "allocation",
            (
                Column("item", Utf8, ref=("items", "item")),
                Column("location", Utf8, ref=("locations", "location")),
                Column("demand_class", Utf8, ref=("demand_classes", "demand_class")),
                Column("date", Date),
                Column("qty", F64, non_negative=True),
            ),
            in_horizon=("date",),
        ),
        Table(
            "resources",
            (
                Column("resource", Utf8),
                Column("location", Utf8, ref=("locations", "location")),
                Column("date", Date),
                Column("capacity", F64, non_negative=True),
            ),
            key=("resource", "location", "date"),
            in_horizon=("date",),
        ),
        Table(
            "bom",
            (
                Column("item", Utf8, ref=("items", "item")),
                Column("location", Utf8, ref=("locations", "location")),
                Column("component", Utf8, nullable=True, ref=("items", "item")),
                Column("qty_per", F64, nullable=True, non_negative=True),
                Column("resource", Utf8, nullable=True),
                Column("usage_per_unit", F64, nullable=True, non_negative=True),
                Column("lead_time_days", I64, nullable=True, non_negative=True),
            ),
        ),
        Table(
            # optional: a chain of substitutes per item (promising.substitution); a line may be
            # split between the item and its substitutes, preference 1 first, valid on
            # [valid_from, valid_to] (empty: open-ended)
            "substitutes",
            (
                Column("item", Utf8, ref=("items", "item")),
                Column("substitute", Utf8, ref=("items", "item")),
                Column("preference", I64, nullable=True, positive=True),
                Column("valid_from", Date, nullable=True),
                Column("valid_to", Date, nullable=True),
            ),
            key=("item", "substitute"),
        ),
        Table(
            "calendars",
            (
                Column("calendar", Utf8),
                Column("date", Date),
                Column("open", Bool),
            ),
            key=("calendar", "date"),
        ),
    )
}

# Column layout of the orders table (import, backlog, benchmarks); not part of a snapshot.
ORDERS = Table(
    "orders",
    (
        Column("order", Utf8),
        Column("line", I64, positive=True),
        Column("item", Utf8),
        Column("qty", F64, positive=True),
        Column("requested_date", Date),
        Column("customer", Utf8, nullable=True),
        Column("demand_class", Utf8, nullable=True),
        Column("zone", Utf8, nullable=True),
        Column("priority", I64, nullable=True),
        Column("ship_set", Utf8, nullable=True),
        Column("created_at", pl.Datetime("us"), nullable=True),
    ),
    key=("order", "line"),
)
