"""What a promise reserves, in a form that can be stored, replayed and released exactly.

A `Reservation` is a list of `Draw`s. An "atp" draw takes quantity from an item-location's
cumulative position (the finished item, or a component of a capable-to-promise promise).
Other packages register their own draw kinds (capable-to-promise registers "capacity") and
hooks on "atp" draws (allocation keeps per-class consumption). The order book stores
`Reservation.to_dict()`; at start-up and on a snapshot refresh it replays them with `reserve`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from promessa.errors import ValidationError
from promising import kernels as nb
from supplydata.snapshot import Snapshot, State


@dataclasses.dataclass(frozen=True, slots=True)
class Draw:
    kind: str                 # "atp" or a registered kind such as "capacity"
    key: str                  # item for "atp", resource for "capacity"
    location: str
    date: dt.date
    qty: float
    demand_class: str | None = None
    pools: tuple[tuple[str, float], ...] = ()  # allocation: quotas consumed, (pool, qty)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "key": self.key, "location": self.location, "date": self.date.isoformat(), "qty": self.qty}
        if self.demand_class is not None:
            d["demand_class"] = self.demand_class
        if self.pools:
            d["pools"] = [[p, q] for p, q in self.pools]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Draw:
        return cls(
            kind=d["kind"], key=d["key"], location=d["location"], date=dt.date.fromisoformat(d["date"]),
            qty=float(d["qty"]), demand_class=d.get("demand_class"),
            pools=tuple((str(p), float(q)) for p, q in d.get("pools", ())),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    draws: tuple[Draw, ...] = ()

    def to_dict(self) -> dict:
        return {"draws": [d.to_dict() for d in self.draws]}

    @classmethod
    def from_dict(cls, d: dict) -> Reservation:
        return cls(tuple(Draw.from_dict(x) for x in d.get("draws", ())))

    @property
    def qty(self) -> float:
        return float(sum(d.qty for d in self.draws))

    def __bool__(self) -> bool:
        return bool(self.draws)


# kind -> handler(snap, state, draw, sign) -> fits (sign +1 reserve, -1 release)
DrawHandler = Callable[[Snapshot, State, Draw, int], bool]
# hooks run after an "atp" draw moved the cumulative position: hook(snap, state, draw, il, sign)
AtpHook = Callable[[Snapshot, State, Draw, int, int], None]

_HANDLERS: dict[str, DrawHandler] = {}
_ATP_HOOKS: list[AtpHook] = []


def register_draw_kind(kind: str, handler: DrawHandler) -> None:
    _HANDLERS[kind] = handler


def register_atp_hook(hook: AtpHook) -> None:
    if hook not in _ATP_HOOKS:
        _ATP_HOOKS.append(hook)


def atp_hooks() -> tuple[AtpHook, ...]:
    """The hooks that run after every "atp" draw (for paths that commit draws themselves)."""
    return tuple(_ATP_HOOKS)


def _atp(snap: Snapshot, state: State, draw: Draw, sign: int) -> bool:
    ic = snap.item_index.get(draw.key)
    lc = snap.location_index.get(draw.location)
    if ic is None:
        raise ValidationError("unknown item", field="draw.key", value=draw.key)
    if lc is None:
        raise ValidationError("unknown location", field="draw.location", value=draw.location)
    il = snap.il_index.get((ic, lc), -1)
    if il < 0:
        raise ValidationError("the item has no row at that location", field="draw.location", value=draw.location)
    b = snap.bucket(draw.date, field="draw.date")
    if sign > 0:
        fits = bool(nb.commit_lt_1d_nb(state.cum[il], b, draw.qty, snap.il_lead_time[il]))
    else:
        nb.release_1d_nb(state.cum[il], b, draw.qty)
        fits = True
    for hook in _ATP_HOOKS:
        hook(snap, state, draw, il, sign)
    return fits


register_draw_kind("atp", _atp)


def _handler(kind: str) -> DrawHandler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise ValidationError(f"unknown draw kind (known: {', '.join(sorted(_HANDLERS))})", field="draw.kind", value=kind) from None


def _load_plugins() -> None:
    """Register the packages that hook into draws (allocation) before a replay: the order book
    may replay before the first promise has loaded them."""
    from promising import atp  # atp imports this module, so import it lazily

    if not atp._plugins_loaded:
        atp._load_plugins()


def reserve(snap: Snapshot, state: State, reservation: Reservation) -> list[Draw]:
    """Apply every draw unconditionally (replay). Returns the draws that did not fit: they are
    kept, and the caller reports them as exceptions."""
    _load_plugins()
    return [d for d in reservation.draws if not _handler(d.kind)(snap, state, d, +1)]


def unreserve(snap: Snapshot, state: State, reservation: Reservation) -> None:
    """Give back every draw (exact inverse of `reserve`), last first."""
    _load_plugins()
    for d in reversed(reservation.draws):
        _handler(d.kind)(snap, state, d, -1)


@dataclasses.dataclass(frozen=True)
class ManyResult:
    """What `reserve_many` did: indexes of the draws that did not fit (applied anyway) and of
    the draws refused outright (unknown item or location, date past the horizon)."""

    not_fitting: list[int]
    errors: list[tuple[int, Exception]]


def reserve_many(snap: Snapshot, state: State, draws: list[Draw], *, sign: int = +1) -> ManyResult:
    """Apply (sign +1) or give back (sign -1) many draws at once: the replay of a whole book.

    Plain ATP draws (no quota pools; no demand class while hooks are registered) are coded in
    bulk and applied in one compiled call that releases the GIL, so a replay beside a serving
    snapshot does not hold up the threads that promise. Every other draw goes one by one
    through its handler. The resulting state equals applying the draws one after another."""
    import numpy as np

    hooks = bool(_ATP_HOOKS)
    fast: list[int] = []
    slow: list[int] = []
    for i, d in enumerate(draws):
        (fast if d.kind == "atp" and not d.pools and (d.demand_class is None or not hooks) else slow).append(i)
    not_fitting: list[int] = []
    errors: list[tuple[int, Exception]] = []
    if fast:
        n = len(fast)
        nloc = max(snap.n_locations, 1)
        ic = np.fromiter((snap.item_index.get(draws[i].key, -1) for i in fast), np.int64, n)
        lc = np.fromiter((snap.location_index.get(draws[i].location, -1) for i in fast), np.int64, n)
        day0 = snap.as_of.toordinal()
        b = np.fromiter((draws[i].date.toordinal() - day0 for i in fast), np.int64, n)
        qty = np.fromiter((draws[i].qty for i in fast), np.float64, n)
        keys = snap.il_item.astype(np.int64) * nloc + snap.il_loc
        want = ic * nloc + lc
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        ok = (ic >= 0) & (lc >= 0) & (b < snap.horizon) & (qty > 0)
        if len(keys):
            ok &= keys[pos] == want
        else:
            ok[:] = False
        idx = np.asarray(fast)
        slow += idx[~ok].tolist()  # refused or odd: the handler says why
        if ok.any():
            fits = np.empty(int(ok.sum()), dtype=np.bool_)
            nb.commit_batch_nb(state.cum, snap.il_lead_time, pos[ok].astype(np.int64), np.maximum(b[ok], 0),
                               qty[ok], 1 if sign > 0 else -1, fits)
            not_fitting += idx[ok][~fits].tolist()
    for i in sorted(slow):
        try:
            if not _handler(draws[i].kind)(snap, state, draws[i], +1 if sign > 0 else -1):
                not_fitting.append(i)
        except Exception as exc:  # noqa: BLE001 - reported per draw; the rest is applied
            errors.append((i, exc))
    return ManyResult(sorted(not_fitting), errors)
