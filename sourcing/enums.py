"""Codes shared by the sourcing kernels (integers) and its Python layer (enums)."""

from __future__ import annotations

import enum


class Objective(enum.IntEnum):
    """How the real-time choice ranks the nodes that can serve an order."""

    EARLIEST = 0   # earliest arrival
    CHEAPEST = 1   # cheapest landed cost among the options that meet the requested date
    PROFIT = 2     # most profitable: price - item cost - shipping (profitable-to-promise)
    FEWEST = 3     # fewest shipments

    @property
    def description(self) -> str:
        return _OBJECTIVE_TEXT[self]

    @classmethod
    def parse(cls, value: Objective | str | int) -> Objective:
        if isinstance(value, Objective):
            return value
        if isinstance(value, int):
            return cls(value)
        key = str(value).strip().lower().replace("-", "_")
        aliases = {"earliest": cls.EARLIEST, "earliest_arrival": cls.EARLIEST, "cheapest": cls.CHEAPEST,
                   "cheapest_on_time": cls.CHEAPEST, "profit": cls.PROFIT, "most_profitable": cls.PROFIT,
                   "ptp": cls.PROFIT, "fewest": cls.FEWEST, "fewest_shipments": cls.FEWEST}
        if key not in aliases:
            from promessa.errors import ValidationError

            raise ValidationError("unknown sourcing objective", field="objective", value=value,
                                  hint="use earliest, cheapest, profit or fewest_shipments")
        return aliases[key]


_OBJECTIVE_TEXT = {
    Objective.EARLIEST: "earliest arrival",
    Objective.CHEAPEST: "cheapest landed cost that meets the requested date",
    Objective.PROFIT: "most profitable (price - cost - shipping)",
    Objective.FEWEST: "fewest shipments",
}

# requested dates are ...
DATE_ARRIVAL = 0
DATE_SHIP = 1
