"""Generic single-sourcing assignment core (a generalised assignment problem, GAP).

Business reading: every *order* takes exactly one *option* (a node, a node-date, a lane...);
an option costs money and uses capacity from one or more *pools* (a node's daily capacity,
an item-location-day's availability, a quota); the total use of a pool stays within its
capacity; the total cost is minimised.

The OR-Library GAP instances are the special case "one option per (agent, job), option
(i, j) uses ``w[i][j]`` of pool i": :meth:`AssignmentInstance.from_matrices` builds that
case and :func:`read_orlib_gap` reads the file format.

The model follows the house order: data, model, variables, constraints, objective, solve,
read back.  ``AssignmentConfig.solver`` picks the engine: ``"auto"`` (default) solves the
classical GAP form (one pool per option) as a MIP with SCIP through OR-Tools' ``pywraplp``,
whose knapsack cover cuts reach the type c optima reliably (c10200 in about 12 s, c20200 in
about 6 s on 2 shared cores, where CP-SAT took 5 to more than 20 s), and everything else with
CP-SAT; ``"cp-sat"`` and ``"scip"`` force one.  Either way the answer is never worse than the
hint.  ``solve()`` handles every CP-SAT status, always reports objective and bound, and
when the capacities make the problem infeasible it names the pools (assumption literals).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from promessa.config import EPS
from promessa.errors import InfeasibleError, ValidationError

__all__ = [
    "AssignmentInstance",
    "AssignmentConfig",
    "AssignmentSolution",
    "read_orlib_gap",
    "greedy_assignment",
    "solve",
]

_STATUS_NAMES = {
    "OPTIMAL": "optimal",
    "FEASIBLE": "feasible",
    "INFEASIBLE": "infeasible",
    "MODEL_INVALID": "model_invalid",
    "UNKNOWN": "unknown",
}


# --------------------------------------------------------------------------------------
# Typed instance, config and solution
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class AssignmentInstance:
    """Orders, their options, option costs, pool usage and pool capacities.

    Options are stored flat: option ``k`` belongs to order ``option_order[k]`` and costs
    ``option_cost[k]``.  Usage is a list of triples (``use_option[u]``, ``use_pool[u]``,
    ``use_amount[u]``): option k uses that amount of that pool.  An order without any option
    makes the instance infeasible (it is named in the error).

    Business keys (``order_keys``, ``pool_keys``, ``option_keys``) are optional labels used in
    explanations and error messages; by default orders, pools and options are numbered.
    """

    n_orders: int
    option_order: np.ndarray  # int64[K]
    option_cost: np.ndarray  # float64[K]
    use_option: np.ndarray  # int64[U]
    use_pool: np.ndarray  # int64[U]
    use_amount: np.ndarray  # float64[U]
    capacity: np.ndarray  # float64[P]
    order_keys: tuple | None = None
    pool_keys: tuple | None = None
    option_keys: tuple | None = None

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
        for name, keys, n in (("order_keys", self.order_keys, self.n_orders), ("pool_keys", self.pool_keys, p), ("option_keys", self.option_keys, k)):
            if keys is not None:
                f(self, name, tuple(keys))
                if len(keys) != n:
                    raise ValidationError(f"has {len(keys)} keys, expected {n}", field=name, value=len(keys))

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

    def order_key(self, j: int):
        return self.order_keys[j] if self.order_keys is not None else j

    def pool_key(self, p: int):
        return self.pool_keys[p] if self.pool_keys is not None else p

    def option_key(self, k: int):
        return self.option_keys[k] if self.option_keys is not None else k

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
        a = np.asarray(assignment, dtype=np.int64)
        if len(a) != self.n_orders or np.any(a < 0) or np.any(a >= self.n_options):
            return False
        if np.any(self.option_order[a] != np.arange(self.n_orders)):
            return False
        return bool(np.all(self.pool_use(a) <= self.capacity + tol))


@dataclasses.dataclass(frozen=True, kw_only=True)
class AssignmentConfig:
    """How to solve: time limit, CP-SAT workers, warm start.

    ``hint`` is ``"greedy"`` (a regret greedy answer is given to CP-SAT as a hint), ``None``
    (no hint) or an explicit option index per order.  ``cost_scale`` / ``usage_scale`` turn
    decimal costs and quantities into the integers CP-SAT needs (``None``: 1 when the data is
    integral, else 1000).
    """

    time_limit_s: float = 20.0
    workers: int = 2
    hint: str | Sequence[int] | None = "greedy"
    cost_scale: float | None = None
    usage_scale: float | None = None
    seed: int = 0
    linearization_level: int = 2  # 2 puts the knapsack rows and cuts in the LP: much faster on GAP
    subsolvers: tuple[str, ...] = ()  # CP-SAT subsolver names; empty = CP-SAT's own portfolio
    log: bool = False
    # "cp-sat", "scip" (MIP through OR-Tools' pywraplp) or "auto": SCIP for the classical GAP
    # form (one pool per option, its knapsack cover cuts close type c reliably) when SCIP is
    # available, CP-SAT otherwise.  Infeasibility is always explained by CP-SAT.
    solver: str = "auto"

    def __post_init__(self) -> None:
        if self.solver not in ("cp-sat", "scip", "auto"):
            raise ValidationError("must be 'cp-sat', 'scip' or 'auto'", field="solver", value=self.solver)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class AssignmentSolution:
    """The answer: status, objective (original units), bound, chosen option per order.

    ``status`` is ``optimal`` (proven), ``feasible`` (a solution, not proven optimal) or
    ``unknown`` (time ran out before any solution: ``assignment`` is all -1 and
    ``objective`` is NaN).  ``bound`` is the solver's proven lower bound.
    """

    status: str
    objective: float
    bound: float
    assignment: np.ndarray  # int64[n_orders], option index per order, -1 = none
    solve_time_s: float
    wall_time_s: float
    hint_objective: float | None = None
    instance: AssignmentInstance | None = dataclasses.field(default=None, repr=False)

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound (0 when proven optimal)."""
        if math.isnan(self.objective):
            return math.inf
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))

    def chosen(self) -> dict:
        """Order key -> option key (or pool key for matrix instances with no option keys)."""
        inst = self.instance
        if inst is None:
            return {j: int(k) for j, k in enumerate(self.assignment)}
        out = {}
        for j, k in enumerate(self.assignment):
            if k < 0:
                out[inst.order_key(j)] = None
            elif inst.option_keys is None:
                pools = inst.use_pool[inst.use_option == k]
                out[inst.order_key(j)] = inst.pool_key(int(pools[0])) if len(pools) == 1 else int(k)
            else:
                out[inst.order_key(j)] = inst.option_key(int(k))
        return out

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "objective": None if math.isnan(self.objective) else self.objective,
            "bound": self.bound,
            "gap": None if math.isinf(self.gap) else self.gap,
            "solve_time_s": round(self.solve_time_s, 4),
            "wall_time_s": round(self.wall_time_s, 4),
            "hint_objective": self.hint_objective,
            "assignment": [int(k) for k in self.assignment],
        }


# --------------------------------------------------------------------------------------
# Reader for the OR-Library GAP format
# --------------------------------------------------------------------------------------
def read_orlib_gap(path: str | Path) -> AssignmentInstance:
    """Read one OR-Library GAP instance: ``m n``, cost m x n, usage m x n, capacities m.

    Agents become pools ``agent0..``; jobs become orders ``job0..``.  Costs are read as given
    (the optima in ../shared/data/gap/optima.csv are for minimisation).
    """
    path = Path(path)
    try:
        tokens = path.read_text().split()
    except OSError as exc:
        raise ValidationError(f"cannot read instance: {exc.strerror}", field="instance", value=str(path)) from None
    try:
        nums = np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError:
        raise ValidationError("not an OR-Library GAP file (non-integer token)", field="instance", value=str(path), hint="expected `m n`, cost m x n, usage m x n, capacities m") from None
    if len(nums) < 2:
        raise ValidationError("empty instance", field="instance", value=str(path))
    m, n = int(nums[0]), int(nums[1])
    need = 2 + 2 * m * n + m
    if len(nums) != need:
        raise ValidationError(f"has {len(nums)} numbers, expected {need} for m={m}, n={n}", field="instance", value=str(path), hint="one instance per file: `m n`, cost m x n, usage m x n, capacities m")
    cost = nums[2 : 2 + m * n].reshape(m, n)
    usage = nums[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    cap = nums[2 + 2 * m * n :]
    return AssignmentInstance.from_matrices(
        cost, usage, cap, order_keys=[f"job{j}" for j in range(n)], pool_keys=[f"agent{i}" for i in range(m)]
    )


# --------------------------------------------------------------------------------------
# Greedy (hint and fallback)
# --------------------------------------------------------------------------------------
def greedy_assignment(inst: AssignmentInstance, *, local_search_passes: int = 20) -> np.ndarray:
    """A feasible starting answer, or the best effort (-1 where nothing fits).

    When every option uses exactly one pool (the GAP form) the compiled heuristic runs three
    regret greedies (desirability: cost, relative usage, both) and improves the feasible ones
    by shift and swap moves.  Otherwise a regret greedy on cost runs in Python.
    """
    k = inst.n_options
    if k and len(inst.use_option) == k and np.array_equal(np.sort(inst.use_option), np.arange(k)):
        from sourcing import kernels

        perm = np.lexsort((inst.option_cost, inst.option_order))  # group options by order
        pool = np.empty(k, dtype=np.int64)
        amt = np.empty(k, dtype=np.float64)
        pool[inst.use_option] = inst.use_pool
        amt[inst.use_option] = inst.use_amount
        o_ptr = np.searchsorted(inst.option_order[perm], np.arange(inst.n_orders + 1)).astype(np.int64)
        a = kernels.gap_heuristic_nb(
            o_ptr, inst.option_order[perm], inst.option_cost[perm], pool[perm], amt[perm], inst.capacity, local_search_passes
        )
        if inst.n_orders == 0 or a.min() >= 0:
            return perm[a]
    return _regret_greedy(inst)


def _regret_greedy(inst: AssignmentInstance) -> np.ndarray:
    """Regret greedy on cost for options that may use several pools."""
    n, k = inst.n_orders, inst.n_options
    # usage per option as CSR over options
    ord_u = np.argsort(inst.use_option, kind="stable")
    u_opt, u_pool, u_amt = inst.use_option[ord_u], inst.use_pool[ord_u], inst.use_amount[ord_u]
    u_ptr = np.searchsorted(u_opt, np.arange(k + 1))
    # options per order as CSR, cheapest first
    ord_k = np.lexsort((inst.option_cost, inst.option_order))
    o_ptr = np.searchsorted(inst.option_order[ord_k], np.arange(n + 1))
    costs = inst.option_cost[ord_k]
    regret = np.full(n, np.inf)
    for j in range(n):
        a, b = o_ptr[j], o_ptr[j + 1]
        if b - a >= 2:
            regret[j] = costs[a + 1] - costs[a]
    left = inst.capacity.astype(np.float64).copy()
    out = np.full(n, -1, dtype=np.int64)
    for j in np.argsort(-regret, kind="stable"):
        for pos in range(o_ptr[j], o_ptr[j + 1]):
            opt = ord_k[pos]
            s, e = u_ptr[opt], u_ptr[opt + 1]
            if np.all(u_amt[s:e] <= left[u_pool[s:e]] + EPS):
                left[u_pool[s:e]] -= u_amt[s:e]
                out[j] = opt
                break
    return out


# --------------------------------------------------------------------------------------
# CP-SAT model
# --------------------------------------------------------------------------------------
def _auto_scale(values: np.ndarray, given: float | None) -> float:
    if given is not None:
        return float(given)
    if len(values) == 0 or np.allclose(values, np.round(values), atol=EPS):
        return 1.0
    return 1000.0


def _build(inst: AssignmentInstance, cfg: AssignmentConfig, *, with_assumptions: bool):
    from ortools.sat.python import cp_model

    # data: integer coefficients
    cs = _auto_scale(inst.option_cost, cfg.cost_scale)
    us = _auto_scale(np.concatenate([inst.use_amount, inst.capacity]), cfg.usage_scale)
    icost = np.round(inst.option_cost * cs).astype(np.int64)
    iuse = np.round(inst.use_amount * us).astype(np.int64)
    icap = np.floor(inst.capacity * us + 1e-6).astype(np.int64)

    # model
    model = cp_model.CpModel()

    # variables: x[k] = order option_order[k] takes option k
    x = [model.new_bool_var(f"x[{inst.option_key(k)}]") for k in range(inst.n_options)]

    # constraints
    # Every order takes exactly one of its options.
    by_order: list[list[int]] = [[] for _ in range(inst.n_orders)]
    for k, j in enumerate(inst.option_order.tolist()):
        by_order[j].append(k)
    for ks in by_order:
        model.add_exactly_one(x[k] for k in ks)
    # The options chosen never use more of a pool than its capacity.
    by_pool: list[list[tuple[int, int]]] = [[] for _ in range(inst.n_pools)]
    for k, p, a in zip(inst.use_option.tolist(), inst.use_pool.tolist(), iuse.tolist()):
        if a:
            by_pool[p].append((k, a))
    pool_lits = {}
    for p, terms in enumerate(by_pool):
        if not terms or sum(a for _, a in terms) <= icap[p]:
            continue  # never binding
        ct = model.add(sum(a * x[k] for k, a in terms) <= int(icap[p]))
        if with_assumptions:
            lit = model.new_bool_var(f"capacity[{inst.pool_key(p)}]")
            ct.only_enforce_if(lit)
            pool_lits[p] = lit

    # objective: total cost
    model.minimize(sum(int(c) * x[k] for k, c in enumerate(icost.tolist()) if c))
    return model, x, pool_lits, cs


def _solver(cfg: AssignmentConfig, time_limit_s: float, workers: int):
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.001, float(time_limit_s))
    solver.parameters.num_workers = max(1, int(workers))
    solver.parameters.random_seed = int(cfg.seed)
    solver.parameters.log_search_progress = bool(cfg.log)
    solver.parameters.linearization_level = int(cfg.linearization_level)
    if cfg.subsolvers:
        solver.parameters.subsolvers.extend(list(cfg.subsolvers))
    return solver


def _explain_infeasible(inst: AssignmentInstance, cfg: AssignmentConfig) -> InfeasibleError:
    """Name the capacity pools whose limits together make the instance infeasible."""
    from ortools.sat.python import cp_model

    model, _, pool_lits, _ = _build(inst, cfg, with_assumptions=True)
    lits = list(pool_lits.values())
    model.add_assumptions(lits)
    solver = _solver(cfg, cfg.time_limit_s, 1)  # cores come from a single worker
    status = solver.solve(model)
    rules: list[str] = []
    if status == cp_model.INFEASIBLE:
        core = set(solver.sufficient_assumptions_for_infeasibility())
        by_index = {lit.index: p for p, lit in pool_lits.items()}
        rules = [f"capacity of pool {inst.pool_key(p)!r} ({inst.capacity[p]:g})" for i, p in by_index.items() if i in core]
    if not rules:
        rules = [f"capacity of pool {inst.pool_key(p)!r} ({inst.capacity[p]:g})" for p in pool_lits]
    return InfeasibleError(
        "no assignment gives every order one option within the pool capacities; binding rules: " + "; ".join(rules),
        rules=rules,
        hint="raise one of the named capacities or allow more options for the orders that use them",
    )


def _single_pool(inst: AssignmentInstance) -> bool:
    k = inst.n_options
    return bool(k) and len(inst.use_option) == k and np.array_equal(np.sort(inst.use_option), np.arange(k))


def _solve_mip(inst: AssignmentInstance, cfg: AssignmentConfig, hint: np.ndarray | None, t0: float):
    """The same model as a MIP with SCIP (pywraplp).  Returns None when SCIP is unavailable,
    the string "infeasible" when SCIP proves it, else an AssignmentSolution."""
    from ortools.linear_solver import pywraplp

    mip = pywraplp.Solver.CreateSolver("SCIP")
    if mip is None:
        return None
    mip.SetTimeLimit(int(max(0.001, cfg.time_limit_s - (time.perf_counter() - t0)) * 1000))
    mip.SetNumThreads(1)
    if cfg.log:
        mip.EnableOutput()
    mip.SetSolverSpecificParametersAsString(f"randomization/randomseedshift = {int(cfg.seed)}\n")
    x = [mip.BoolVar("") for _ in range(inst.n_options)]
    by_order: list[list[int]] = [[] for _ in range(inst.n_orders)]
    for k, j in enumerate(inst.option_order.tolist()):
        by_order[j].append(k)
    for ks in by_order:
        c = mip.Constraint(1.0, 1.0)
        for k in ks:
            c.SetCoefficient(x[k], 1.0)
    rows: dict[int, object] = {}
    for p, tot in enumerate(np.bincount(inst.use_pool, weights=inst.use_amount, minlength=inst.n_pools).tolist()):
        if tot > inst.capacity[p] + EPS:
            rows[p] = mip.Constraint(-mip.infinity(), float(inst.capacity[p]))
    for k, p, a in zip(inst.use_option.tolist(), inst.use_pool.tolist(), inst.use_amount.tolist()):
        c = rows.get(p)
        if c is not None and a:
            c.SetCoefficient(x[k], c.GetCoefficient(x[k]) + a)
    obj = mip.Objective()
    for k, c in enumerate(inst.option_cost.tolist()):
        obj.SetCoefficient(x[k], c)
    obj.SetMinimization()
    if hint is not None and inst.is_feasible(hint):
        chosen = np.zeros(inst.n_options)
        chosen[hint] = 1.0
        mip.SetHint(x, chosen.tolist())
    status = mip.Solve()
    wall = time.perf_counter() - t0
    if status == pywraplp.Solver.INFEASIBLE:
        return "infeasible"
    if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        vals = np.array([v.solution_value() for v in x]) > 0.5
        assignment = np.full(inst.n_orders, -1, dtype=np.int64)
        ks = np.flatnonzero(vals)
        assignment[inst.option_order[ks]] = ks
        objective = inst.cost_of(assignment)
        optimal = status == pywraplp.Solver.OPTIMAL
        bound = objective if optimal else float(obj.BestBound())
        return AssignmentSolution(
            status="optimal" if optimal else "feasible", objective=objective, bound=min(bound, objective), assignment=assignment,
            solve_time_s=mip.wall_time() / 1000.0, wall_time_s=wall, instance=inst,
        )
    return AssignmentSolution(
        status="unknown", objective=math.nan, bound=float(obj.BestBound()) if status != pywraplp.Solver.NOT_SOLVED else -math.inf,
        assignment=np.full(inst.n_orders, -1, dtype=np.int64), solve_time_s=mip.wall_time() / 1000.0, wall_time_s=wall, instance=inst,
    )


def solve(inst: AssignmentInstance, config: AssignmentConfig | None = None) -> AssignmentSolution:
    """Solve the assignment instance (CP-SAT, or SCIP for the classical GAP form: ``cfg.solver``).

    Raises :class:`InfeasibleError` naming the orders without options, or the capacity pools
    that cannot all be met.  Returns status ``optimal``, ``feasible`` or ``unknown`` otherwise.
    """
    from ortools.sat.python import cp_model

    cfg = config or AssignmentConfig()
    t0 = time.perf_counter()

    # data: orders that have no option at all are infeasible before any model is built
    counts = np.bincount(inst.option_order, minlength=inst.n_orders)
    lonely = np.flatnonzero(counts == 0)
    if len(lonely):
        rules = [f"order {inst.order_key(int(j))!r} has no option" for j in lonely[:20]]
        raise InfeasibleError("some orders have no option at all: " + "; ".join(rules), rules=rules, hint="add a node or lane for these orders")

    hint = None
    hint_obj = None
    if isinstance(cfg.hint, str):
        if cfg.hint != "greedy":
            raise ValidationError("unknown hint", field="hint", value=cfg.hint, hint="use 'greedy', None or one option index per order")
        hint = greedy_assignment(inst)
    elif cfg.hint is not None:
        hint = np.asarray(cfg.hint, dtype=np.int64)
        if len(hint) != inst.n_orders:
            raise ValidationError(f"expected one option per order ({inst.n_orders})", field="hint", value=len(hint))
    if hint is not None and inst.is_feasible(hint):
        hint_obj = inst.cost_of(hint)

    if cfg.solver == "scip" or (cfg.solver == "auto" and _single_pool(inst)):
        # SCIP gets explicit hints only: the greedy one slows its search down on type c
        res = _solve_mip(inst, cfg, None if isinstance(cfg.hint, str) else hint, t0)
        if res == "infeasible":
            raise _explain_infeasible(inst, cfg)
        if res is not None:
            if hint_obj is not None and (res.status == "unknown" or res.objective > hint_obj + EPS):  # never worse than the hint
                bound = res.bound if math.isfinite(res.bound) else -math.inf
                res = dataclasses.replace(res, status="feasible", objective=hint_obj, bound=min(bound, hint_obj), assignment=hint.copy())
            return dataclasses.replace(res, hint_objective=hint_obj, wall_time_s=time.perf_counter() - t0)

    model, x, _, cs = _build(inst, cfg, with_assumptions=False)
    if hint is not None:
        chosen = set(int(k) for k in hint if k >= 0)
        for k, var in enumerate(x):
            model.add_hint(var, k in chosen)

    solver = _solver(cfg, cfg.time_limit_s, cfg.workers)
    status = solver.solve(model)
    name = _STATUS_NAMES.get(solver.status_name(status), "unknown")

    # read back
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = np.fromiter((solver.boolean_value(v) for v in x), dtype=bool, count=len(x))
        assignment = np.full(inst.n_orders, -1, dtype=np.int64)
        ks = np.flatnonzero(values)
        assignment[inst.option_order[ks]] = ks
        objective = inst.cost_of(assignment)
        bound = solver.best_objective_bound / cs
        if status == cp_model.OPTIMAL:
            bound = objective
        return AssignmentSolution(
            status=name, objective=objective, bound=bound, assignment=assignment,
            solve_time_s=solver.wall_time, wall_time_s=time.perf_counter() - t0, hint_objective=hint_obj, instance=inst,
        )
    if status == cp_model.INFEASIBLE:
        raise _explain_infeasible(inst, cfg)
    if status == cp_model.MODEL_INVALID:
        raise ValidationError(f"CP-SAT refused the model: {model.validate()}", field="instance", value="model", hint="check for huge costs or quantities; lower cost_scale/usage_scale")
    # UNKNOWN: no solution within the time limit
    return AssignmentSolution(
        status=name, objective=math.nan, bound=solver.best_objective_bound / cs,
        assignment=np.full(inst.n_orders, -1, dtype=np.int64),
        solve_time_s=solver.wall_time, wall_time_s=time.perf_counter() - t0, hint_objective=hint_obj, instance=inst,
    )
