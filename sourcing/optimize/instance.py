"""The one optimization instance of sourcing: orders choose options that use capacity pools.

Both the GAP core (`sourcing.assignment`) and the batch optimizer (`sourcing.batch`) state
their problem as an `AssignmentInstance`; `sourcing.optimize.model.AssignmentModel` is the one
CP-SAT model of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from promessa.config import EPS
from promessa.errors import ValidationError

__all__ = ["AssignmentInstance"]


@dataclasses.dataclass(frozen=True, eq=False)
class AssignmentInstance:
    """Orders, their options, option costs, pool usage and pool capacities.

    Options are stored flat: option ``k`` belongs to order ``option_order[k]`` and costs
    ``option_cost[k]``.  Usage is a list of triples (``use_option[u]``, ``use_pool[u]``,
    ``use_amount[u]``): option k uses that amount of that pool.  An order without any option
    makes the instance infeasible (it is named in the error).

    Business keys (``order_keys``, ``pool_keys``, ``option_keys``) label the model's variables
    and its explanations; by default orders, pools and options are numbered.  ``pool_rules``
    (optional) is the business rule of each pool in plain words, used when a pool makes the
    instance infeasible (default: "capacity of pool <key> (<capacity>)").

    The batch optimizer adds (all optional; the GAP leaves them out):

    - ``unserved_cost[j]``: order j may take no option at that cost (None: every order is served);
    - shipments: ``shipment_of_option[k]`` (-1: none, the shipment is in the option's cost) is a
      shipment (customer order, node) that costs ``shipment_cost[g]`` once, whatever number of
      the customer order's options use it; ``shipment_customer[g]`` is its customer order
      (``customer_keys``); ``split_cost`` per shipment of a customer order beyond its first;
      ``max_splits``: most extra shipments per customer order;
    - chained pools: pools ``0..len(chain_prev)-1`` are prefixes of one another (availability up
      to each day): pool p takes what pool ``chain_prev[p]`` takes (-1 none) plus the increments
      (``chain_option``, ``chain_pool``, ``chain_amount``); the usage triples still hold every
      option's full use of every pool.
    """

    n_orders: int
    option_order: np.ndarray  # int64[K]
    option_cost: np.ndarray  # float64[K]
    use_option: np.ndarray  # int64[U]
    use_pool: np.ndarray  # int64[U]
    use_amount: np.ndarray  # float64[U]
    capacity: np.ndarray  # float64[P]
    order_keys: Sequence | None = None
    pool_keys: Sequence | None = None
    option_keys: Sequence | None = None
    pool_rules: Sequence | None = None
    unserved_cost: np.ndarray | None = None  # float64[n_orders]
    shipment_of_option: np.ndarray | None = None  # int64[K], -1 = none
    shipment_customer: np.ndarray | None = None  # int64[G]
    shipment_cost: np.ndarray | None = None  # float64[G]
    shipment_keys: Sequence | None = None  # G business keys, e.g. (customer order, node)
    customer_keys: Sequence | None = None  # business key of each customer order
    split_cost: float = 0.0
    max_splits: int | None = None
    chain_prev: np.ndarray | None = None  # int64[NA]
    chain_option: np.ndarray | None = None
    chain_pool: np.ndarray | None = None
    chain_amount: np.ndarray | None = None

    def __post_init__(self) -> None:
        f = object.__setattr__
        f(self, "option_order", np.require(self.option_order, dtype=np.int64).ravel())
        f(self, "option_cost", np.require(self.option_cost, dtype=np.float64).ravel())
        f(self, "use_option", np.require(self.use_option, dtype=np.int64).ravel())
        f(self, "use_pool", np.require(self.use_pool, dtype=np.int64).ravel())
        f(self, "use_amount", np.require(self.use_amount, dtype=np.float64).ravel())
        f(self, "capacity", np.require(self.capacity, dtype=np.float64).ravel())
        k, u, p = len(self.option_order), len(self.use_option), len(self.capacity)
        if self.n_orders < 0:
            raise ValidationError("must be >= 0", field="n_orders", value=self.n_orders)
        if len(self.option_cost) != k:
            raise ValidationError(f"has {len(self.option_cost)} entries, expected one per option ({k})", field="option_cost", value=len(self.option_cost))
        if len(self.use_pool) != u or len(self.use_amount) != u:
            raise ValidationError("use_option, use_pool and use_amount must have the same length", field="use_pool", value=len(self.use_pool))
        if k and (self.option_order.min() < 0 or self.option_order.max() >= self.n_orders):
            raise ValidationError(f"order index outside 0..{self.n_orders - 1}", field="option_order", value=int(self.option_order.max()))
        if u and (self.use_option.min() < 0 or self.use_option.max() >= k):
            raise ValidationError(f"option index outside 0..{k - 1}", field="use_option", value=int(self.use_option.max()))
        if u and (self.use_pool.min() < 0 or self.use_pool.max() >= p):
            raise ValidationError(f"pool index outside 0..{p - 1}", field="use_pool", value=int(self.use_pool.max()))
        if not np.all(np.isfinite(self.option_cost)):
            raise ValidationError("costs must be finite (leave a forbidden option out instead)", field="option_cost", value="inf/nan")
        if u and (self.use_amount.min() < 0 or not np.all(np.isfinite(self.use_amount))):
            raise ValidationError("usage must be finite and >= 0", field="use_amount", value=float(np.nanmin(self.use_amount)))
        if p and (self.capacity.min() < 0 or not np.all(np.isfinite(self.capacity))):
            raise ValidationError("capacity must be finite and >= 0", field="capacity", value=float(np.nanmin(self.capacity)))
        for name, keys, n in (("order_keys", self.order_keys, self.n_orders), ("pool_keys", self.pool_keys, p),
                              ("option_keys", self.option_keys, k), ("pool_rules", self.pool_rules, p)):
            if keys is not None:
                if isinstance(keys, list) or not hasattr(keys, "__getitem__"):  # lazy sequences stay lazy
                    keys = tuple(keys)
                    f(self, name, keys)
                if len(keys) != n:
                    raise ValidationError(f"has {len(keys)} keys, expected {n}", field=name, value=len(keys))
        if self.unserved_cost is not None:
            f(self, "unserved_cost", np.require(self.unserved_cost, dtype=np.float64).ravel())
            if len(self.unserved_cost) != self.n_orders:
                raise ValidationError(f"expected one cost per order ({self.n_orders})", field="unserved_cost", value=len(self.unserved_cost))
        if self.shipment_of_option is not None:
            f(self, "shipment_of_option", np.require(self.shipment_of_option, dtype=np.int64).ravel())
            f(self, "shipment_customer", np.require(self.shipment_customer, dtype=np.int64).ravel())
            f(self, "shipment_cost", np.require(self.shipment_cost, dtype=np.float64).ravel())
            g = len(self.shipment_customer)
            if len(self.shipment_of_option) != k or len(self.shipment_cost) != g:
                raise ValidationError("one shipment per option and one cost per shipment expected", field="shipment_of_option",
                                      value=len(self.shipment_of_option))
        if self.chain_prev is not None:
            for name in ("chain_prev", "chain_option", "chain_pool"):
                f(self, name, np.require(getattr(self, name), dtype=np.int64).ravel())
            f(self, "chain_amount", np.require(self.chain_amount, dtype=np.float64).ravel())
            if len(self.chain_prev) > p:
                raise ValidationError(f"more chained pools than pools ({p})", field="chain_prev", value=len(self.chain_prev))

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_matrices(
        cls,
        cost: np.ndarray,
        usage: np.ndarray,
        capacity: np.ndarray,
        *,
        order_keys: Sequence | None = None,
        pool_keys: Sequence | None = None,
    ) -> AssignmentInstance:
        """The classical GAP: ``cost[i, j]`` and ``usage[i, j]`` of job j at agent i, capacity[i].

        Agents are pools (one option per agent and job); jobs are orders.  A non-finite cost
        forbids that pair.
        """
        cost = np.require(cost, dtype=np.float64)
        usage = np.require(usage, dtype=np.float64)
        if cost.ndim != 2 or cost.shape != usage.shape:
            raise ValidationError("cost and usage must be 2-D arrays of the same shape (agents x jobs)", field="cost", value=cost.shape)
        m, n = cost.shape
        if len(capacity) != m:
            raise ValidationError(f"expected one capacity per agent ({m})", field="capacity", value=len(capacity))
        ii, jj = np.nonzero(np.isfinite(cost))
        order = np.lexsort((ii, jj))  # group options by job, then agent
        ii, jj = ii[order], jj[order]
        k = len(ii)
        return cls(
            n_orders=n,
            option_order=jj,
            option_cost=cost[ii, jj],
            use_option=np.arange(k),
            use_pool=ii,
            use_amount=usage[ii, jj],
            capacity=np.asarray(capacity, dtype=np.float64),
            order_keys=None if order_keys is None else tuple(order_keys),
            pool_keys=None if pool_keys is None else tuple(pool_keys),
        )

    # -- derived views -----------------------------------------------------------------
    @property
    def n_options(self) -> int:
        return len(self.option_order)

    @property
    def n_pools(self) -> int:
        return len(self.capacity)

    @property
    def n_chained(self) -> int:
        """Number of chained (prefix) pools: pools 0..n_chained-1."""
        return 0 if self.chain_prev is None else len(self.chain_prev)

    @property
    def n_shipments(self) -> int:
        return 0 if self.shipment_customer is None else len(self.shipment_customer)

    def order_key(self, j: int):
        """Business key of order j (its index when the instance has none)."""
        return self.order_keys[j] if self.order_keys is not None else j

    def pool_key(self, p: int):
        """Business key of pool p (its index when the instance has none)."""
        return self.pool_keys[p] if self.pool_keys is not None else p

    def option_key(self, k: int):
        """Business key of option k (its index when the instance has none)."""
        return self.option_keys[k] if self.option_keys is not None else k

    def shipment_key(self, g: int):
        """Business key of shipment g (its index when the instance has none)."""
        return self.shipment_keys[g] if self.shipment_keys is not None else g

    def customer_key(self, c: int):
        """Business key of customer order c (its index when the instance has none)."""
        return self.customer_keys[c] if self.customer_keys is not None else c

    def pool_rule(self, p: int) -> str:
        """The business rule that pool p states, in plain words."""
        if self.pool_rules is not None:
            return str(self.pool_rules[p])
        return f"capacity of pool {self.pool_key(p)!r} ({self.capacity[p]:g})"

    def options_of(self, j: int) -> np.ndarray:
        """Option indices of order j."""
        return np.flatnonzero(self.option_order == j)

    def cost_of(self, assignment: np.ndarray) -> float:
        """Total cost of a full assignment (option index per order)."""
        return float(self.option_cost[np.asarray(assignment, dtype=np.int64)].sum())

    def pool_use(self, assignment: np.ndarray) -> np.ndarray:
        """Capacity used in every pool by an assignment (option index per order, -1 = none)."""
        chosen = np.zeros(self.n_options, dtype=bool)
        a = np.asarray(assignment, dtype=np.int64)
        chosen[a[a >= 0]] = True
        sel = chosen[self.use_option]
        return np.bincount(self.use_pool[sel], weights=self.use_amount[sel], minlength=self.n_pools)

    def is_feasible(self, assignment: np.ndarray, *, tol: float = EPS) -> bool:
        """True when every order takes one of its own options and no pool is over capacity."""
        a = np.asarray(assignment, dtype=np.int64)
        if len(a) != self.n_orders or np.any(a < 0) or np.any(a >= self.n_options):
            return False
        if np.any(self.option_order[a] != np.arange(self.n_orders)):
            return False
        return bool(np.all(self.pool_use(a) <= self.capacity + tol))
