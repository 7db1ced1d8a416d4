"""The one CP-SAT model of an `AssignmentInstance`, for the GAP core and the batch optimizer.

Same order every time: data (integer coefficients), variables, constraints (one `_add_<rule>`
per constraint family, each opening with its business rule), objective; then `solve` and read
back. Variables are keyed by the instance's business keys: `x[option key]`,
`unserved[order key]`, `shipment[shipment key]`, `taken[pool key]`, `served[customer key]`.
Families the instance does not use (the GAP has no unserved orders, shipments or chained
pools) add nothing, so the GAP model is exactly the classical one.

With ``assumptions=True`` every pool and split limit is enforced by a literal named by its
business rule, so that `conflicting_rules()` can name the rules that make it infeasible.
"""

from __future__ import annotations

import numpy as np

from promessa.errors import InfeasibleError
from sourcing.optimize.instance import AssignmentInstance

__all__ = ["AssignmentModel"]


class AssignmentModel:
    """CP-SAT model of one instance.

    Parameters
    ----------
    inst
        The instance (orders, options, pools, and the optional batch parts).
    cost_scale, usage_scale
        Multipliers that turn costs and quantities into the integers CP-SAT needs.
    assumptions
        Enforce every pool and split limit by a named literal (for `conflicting_rules`).
    """

    def __init__(self, inst: AssignmentInstance, *, cost_scale: float = 1.0, usage_scale: float = 1.0,
                 assumptions: bool = False) -> None:
        from ortools.sat.python import cp_model

        self.inst = inst
        self.cost_scale = float(cost_scale)
        self.usage_scale = float(usage_scale)
        self.assumptions = assumptions
        self.rule_literals: dict[str, object] = {}
        self.solver = None
        # data: integer coefficients
        self._cap = np.floor(inst.capacity * self.usage_scale + 1e-6).astype(np.int64)
        # model
        self.model = cp_model.CpModel()
        self._add_variables()
        self._add_one_option_per_order()
        self._add_shipments()
        self._add_chained_pools()
        self._add_pool_capacity()
        self._add_split_limit()
        self._set_objective()

    # ------------------------------------------------------------------ variables
    def _add_variables(self) -> None:
        inst, m = self.inst, self.model
        # x[option]: the order takes this option
        self._x = [m.new_bool_var(f"x[{inst.option_key(k)}]") for k in range(inst.n_options)]
        self.x = {inst.option_key(k): v for k, v in enumerate(self._x)}
        # unserved[order]: the order takes no option (batch)
        self._unserved = ([m.new_bool_var(f"unserved[{inst.order_key(j)}]") for j in range(inst.n_orders)]
                          if inst.unserved_cost is not None else [None] * inst.n_orders)
        self.unserved = {inst.order_key(j): v for j, v in enumerate(self._unserved) if v is not None}
        # shipment[customer order, node]: the customer order ships from that node (batch)
        self._ship = [m.new_bool_var(f"shipment[{inst.shipment_key(g)}]") for g in range(inst.n_shipments)]
        self.shipment = {inst.shipment_key(g): v for g, v in enumerate(self._ship)}
        self.taken: dict = {}   # pool key -> IntVar, chained pools (_add_chained_pools)
        self.served: dict = {}  # customer key -> BoolVar, orders that pay for splits (_set_objective)
        self._taken: list[tuple[int, object]] = []
        self._served: list[tuple[int, object]] = []

    def _enforce(self, ct, rule: str) -> None:
        if self.assumptions:
            lit = self.rule_literals.get(rule)
            if lit is None:
                lit = self.model.new_bool_var(rule)
                self.rule_literals[rule] = lit
            ct.only_enforce_if(lit)

    # ------------------------------------------------------------------ constraints
    def _add_one_option_per_order(self) -> None:
        """Every order takes exactly one of its options (or stays unserved, where allowed)."""
        inst = self.inst
        by_order: list[list[int]] = [[] for _ in range(inst.n_orders)]
        for k, j in enumerate(inst.option_order.tolist()):
            by_order[j].append(k)
        for j, ks in enumerate(by_order):
            terms = [self._x[k] for k in ks] + ([self._unserved[j]] if self._unserved[j] is not None else [])
            if not terms:
                rule = f"order {inst.order_key(j)!r} has no option"
                raise InfeasibleError(rule, rules=[rule], hint="add a node or lane for this order")
            self.model.add_exactly_one(terms)

    def _add_shipments(self) -> None:
        """An option of a customer order served from a node means the order ships from that node."""
        inst = self.inst
        if not inst.n_shipments:
            return
        by_ship: list[list[int]] = [[] for _ in range(inst.n_shipments)]
        for k, g in enumerate(inst.shipment_of_option.tolist()):
            if g >= 0:
                by_ship[g].append(k)
        for g, ks in enumerate(by_ship):
            y = self._ship[g]
            for k in ks:
                self.model.add_implication(self._x[k], y)
            self.model.add_bool_or([self._x[k] for k in ks]).only_enforce_if(y)

    def _add_chained_pools(self) -> None:
        """What the chosen options take up to each day stays within the availability up to that day
        (taken[p] = taken[previous day's pool] + what options take on the day, kept compact)."""
        from ortools.sat.python import cp_model

        inst = self.inst
        NA = inst.n_chained
        if not NA:
            return
        o = np.argsort(inst.chain_pool, kind="stable")
        i_pool, i_opt = inst.chain_pool[o], inst.chain_option[o]
        i_amt = np.round(inst.chain_amount[o] * self.usage_scale).astype(np.int64)
        i_ptr = np.searchsorted(i_pool, np.arange(NA + 1))
        his: list[int] = []
        for p in range(NA):
            a, b = i_ptr[p], i_ptr[p + 1]
            prev = int(inst.chain_prev[p])
            hi = int(i_amt[a:b].sum()) + (his[prev] if prev >= 0 else 0)
            sv = self.model.new_int_var(0, hi, f"taken[{inst.pool_key(p)}]")
            expr = cp_model.LinearExpr.weighted_sum([self._x[k] for k in i_opt[a:b].tolist()], i_amt[a:b].tolist())
            if prev >= 0:
                expr = expr + self._taken[prev][1]
            self.model.add(sv == expr)
            his.append(hi)
            self._taken.append((p, sv))
            self.taken[inst.pool_key(p)] = sv
            if hi > self._cap[p]:
                ct = self.model.add(sv <= int(self._cap[p]))
                self._enforce(ct, inst.pool_rule(p))

    def _add_pool_capacity(self) -> None:
        """The options chosen never use more of a pool than its capacity (quotas, node capacity,
        the GAP's agents); a pool its options can never fill gets no constraint."""
        from ortools.sat.python import cp_model

        inst = self.inst
        NA, P = inst.n_chained, inst.n_pools
        amt = np.round(inst.use_amount * self.usage_scale).astype(np.int64)
        sel = (inst.use_pool >= NA) & (amt != 0)
        o = np.argsort(inst.use_pool[sel], kind="stable")
        u_pool, u_opt, u_amt = inst.use_pool[sel][o], inst.use_option[sel][o], amt[sel][o]
        p_ptr = np.searchsorted(u_pool, np.arange(P + 1))
        for p in range(NA, P):
            a, b = p_ptr[p], p_ptr[p + 1]
            if a == b or int(u_amt[a:b].sum()) <= self._cap[p]:
                continue
            ct = self.model.add(cp_model.LinearExpr.weighted_sum([self._x[k] for k in u_opt[a:b].tolist()],
                                                                 u_amt[a:b].tolist()) <= int(self._cap[p]))
            self._enforce(ct, inst.pool_rule(p))

    def _customers(self) -> dict[int, list[int]]:
        per: dict[int, list[int]] = {}
        if self.inst.n_shipments:
            for g, c in enumerate(self.inst.shipment_customer.tolist()):
                per.setdefault(c, []).append(g)
        return per

    def _add_split_limit(self) -> None:
        """A customer order ships from at most max_splits + 1 nodes."""
        inst = self.inst
        if inst.max_splits is None:
            return
        for c, gs in self._customers().items():
            if len(gs) > inst.max_splits + 1:
                ct = self.model.add(sum(self._ship[g] for g in gs) <= inst.max_splits + 1)
                self._enforce(ct, f"at most {inst.max_splits} split(s) for order {inst.customer_key(c)}")

    # ------------------------------------------------------------------ objective
    def _set_objective(self) -> None:
        """Minimise: unserved orders, option costs, shipments, and shipments beyond a customer order's first."""
        from ortools.sat.python import cp_model

        inst, S = self.inst, self.cost_scale
        terms: list[tuple[int, object]] = []
        if inst.unserved_cost is not None:
            terms += [(int(round(c * S)), v) for c, v in zip(inst.unserved_cost.tolist(), self._unserved)]
        terms += [(int(round(c * S)), v) for c, v in zip(inst.option_cost.tolist(), self._x)]
        if inst.n_shipments:
            terms += [(int(round(c * S)), v) for c, v in zip(inst.shipment_cost.tolist(), self._ship)]
        split_w = int(round(inst.split_cost * S))
        for c, gs in self._customers().items():
            if len(gs) > 1 and split_w:
                served = self.model.new_bool_var(f"served[{inst.customer_key(c)}]")
                vs = [self._ship[g] for g in gs]
                self.model.add_max_equality(served, vs)
                self._served.append((c, served))
                self.served[inst.customer_key(c)] = served
                terms += [(split_w, v) for v in vs]
                terms.append((-split_w, served))
        terms = [(c, v) for c, v in terms if c]
        self.model.minimize(cp_model.LinearExpr.weighted_sum([v for _, v in terms], [c for c, _ in terms]))

    # ------------------------------------------------------------------ hint, solve, read back
    def add_hint(self, choice: np.ndarray) -> None:
        """Hint a full answer (option per order, -1 unserved): options, unserved orders,
        shipments, what every chained pool takes, and which customer orders are served."""
        inst = self.inst
        choice = np.asarray(choice, dtype=np.int64)
        chosen = set(int(k) for k in choice if k >= 0)
        for k, v in enumerate(self._x):
            self.model.add_hint(v, k in chosen)
        for j, v in enumerate(self._unserved):
            if v is not None:
                self.model.add_hint(v, choice[j] < 0)
        if inst.n_shipments:
            used = {int(inst.shipment_of_option[k]) for k in chosen}
            for g, v in enumerate(self._ship):
                self.model.add_hint(v, g in used)
        if self._taken:
            full = inst.pool_use(choice)
            for p, v in self._taken:
                self.model.add_hint(v, int(round(full[p] * self.usage_scale)))
        if self._served:
            served = {int(inst.shipment_customer[int(inst.shipment_of_option[k])]) for k in chosen
                      if inst.shipment_of_option[k] >= 0}
            for c, v in self._served:
                self.model.add_hint(v, c in served)

    def solve(self, *, time_limit_s: float, workers: int = 1, seed: int = 0, log: bool = False, **parameters):
        """Solve within the time limit; extra CP-SAT parameters by name. Returns the CP-SAT status."""
        from ortools.sat.python import cp_model

        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.001, float(time_limit_s))
        solver.parameters.num_workers = max(1, int(workers))
        solver.parameters.random_seed = int(seed)
        solver.parameters.log_search_progress = bool(log)
        for name, value in parameters.items():
            if name == "subsolvers":
                solver.parameters.subsolvers.extend(list(value))
            else:
                setattr(solver.parameters, name, value)
        self.solver = solver
        return solver.solve(self.model)

    def choice(self) -> np.ndarray:
        """The option chosen per order (-1: unserved), read back after a feasible solve."""
        vals = np.fromiter((self.solver.boolean_value(v) for v in self._x), dtype=bool, count=len(self._x))
        out = np.full(self.inst.n_orders, -1, dtype=np.int64)
        ks = np.flatnonzero(vals)
        out[self.inst.option_order[ks]] = ks
        return out

    @property
    def bound(self) -> float:
        """The solver's proven lower bound, in the instance's cost units."""
        return self.solver.best_objective_bound / self.cost_scale

    def conflicting_rules(self, *, time_limit_s: float) -> list[str]:
        """The named rules that together make the model infeasible (needs ``assumptions=True``):
        a core from one CP-SAT worker, or every rule when no core is found in time."""
        from ortools.sat.python import cp_model

        names = list(self.rule_literals)
        self.model.add_assumptions([self.rule_literals[n] for n in names])
        status = self.solve(time_limit_s=time_limit_s, workers=1)  # cores come from a single worker
        rules: list[str] = []
        if status == cp_model.INFEASIBLE:
            core = set(self.solver.sufficient_assumptions_for_infeasibility())
            rules = [n for n in names if self.rule_literals[n].index in core]
        return rules or names
