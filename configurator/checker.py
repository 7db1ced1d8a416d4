"""An independent CP-SAT model of a configuration model: completability checks and minimal conflicts.

It shares nothing with the decision diagram but the `Model`, so tests use it as the oracle for
valid values, and `why` uses it for explanations: every rule is enforced by its own assumption
literal and every choice is an assumption, so an infeasible question yields a core that is then
shrunk one element at a time to a minimal set of rules and choices (deletion filter).
"""

from __future__ import annotations

import threading

from ortools.sat.python import cp_model as cp

from configurator.model import Model

RULE = "rule"
CHOICE = "choice"


def _enforce(ct, a) -> None:
    if a is not None:
        ct.OnlyEnforceIf(a)


class Checker:
    """CP-SAT model of `model`, built once: integer variable per option plus one Boolean per value."""

    def __init__(self, model: Model, *, explain: bool = True, time_limit_s: float = 30.0, workers: int = 1,
                 rules: list[str] | None = None) -> None:
        """`explain` False adds every rule as a hard constraint (no assumption literal): faster
        completability checks on large models, but no `conflict`. `rules` keeps only the rules
        named (all by default)."""
        self.model = model
        self.time_limit_s = time_limit_s
        self.workers = workers
        self._lock = threading.Lock()
        m = cp.CpModel()
        self.cp = m
        # data -> variables: one integer per option, one Boolean per value (exactly one)
        self.ints: dict[str, cp.IntVar] = {}
        self.lit: dict[tuple[str, str], cp.IntVar] = {}
        self.codes = {x.name: {v: i for i, v in enumerate(x.values)} for x in model.variables}
        for x in model.variables:
            iv = m.NewIntVar(0, len(x.values) - 1, x.name)
            self.ints[x.name] = iv
            bs = []
            for c, v in enumerate(x.values):
                b = m.NewBoolVar(f"{x.name}={v}")
                self.lit[(x.name, v)] = b
                bs.append(b)
                m.Add(iv == c).OnlyEnforceIf(b)
            m.AddExactlyOne(bs)
        self.enforce: dict[str, cp.IntVar] = {}
        keep = None if rules is None else set(rules)
        for r in model.rules:
            if keep is not None and r.name not in keep:
                continue
            a = m.NewBoolVar(f"rule {r.name}")
            self.enforce[r.name] = a
            getattr(self, f"_add_{r.kind}")(r, a if explain else None)
        self.explain = explain

    # one _add_<kind> per rule family ---------------------------------------------------------

    def _not_when(self, when) -> list:
        """Literals of which one holds exactly when some condition of `when` fails."""
        out = []
        for x, vals in when:
            out += [self.lit[(x, v)] for v in self.model.variable(x).values if v not in vals]
        return out

    def _add_table(self, r, a) -> None:
        # the values of the scope form one of the allowed rows
        rows = [tuple(self.codes[x][v] for x, v in zip(r.scope, row)) for row in r.allowed]
        _enforce(self.cp.AddAllowedAssignments([self.ints[x] for x in r.scope], rows), a)

    def _add_requires(self, r, a) -> None:
        # when every condition holds, each target variable takes one of its listed values
        escape = self._not_when(r.when)
        for y, ws in r.targets:
            _enforce(self.cp.AddBoolOr(escape + [self.lit[(y, w)] for w in ws]), a)

    def _add_excludes(self, r, a) -> None:
        # when every condition holds, no target variable takes a listed value
        escape = self._not_when(r.when)
        for y, ws in r.targets:
            for w in ws:
                _enforce(self.cp.AddBoolOr(escape + [self.lit[(y, w)].Not()]), a)

    def _add_numeric(self, r, a) -> None:
        # the sum of the attribute over the scope compares with the bound (scaled to integers)
        attr = self.model.attributes[r.attribute]
        nums = [n for x in r.scope for n in attr.get(x, {}).values()] + [r.bound]
        scale = 10 ** max(0, max(-n.as_tuple().exponent for n in nums))
        terms = [int(n * scale) * self.lit[(x, v)] for x in r.scope for v, n in attr.get(x, {}).items()]
        total = sum(terms) if terms else 0
        bound = int(r.bound * scale)
        expr = {"<=": total <= bound, "<": total < bound, ">=": total >= bound, ">": total > bound,
                "==": total == bound, "!=": total != bound}[r.op]
        _enforce(self.cp.Add(expr), a)

    # questions --------------------------------------------------------------------------------

    def _solve(self, assumptions: list) -> tuple[int, cp.CpSolver]:
        with self._lock:
            self.cp.ClearAssumptions()
            self.cp.AddAssumptions(assumptions)
            s = cp.CpSolver()
            s.parameters.num_workers = self.workers
            s.parameters.max_time_in_seconds = self.time_limit_s
            st = s.Solve(self.cp)
            self.cp.ClearAssumptions()
        if st not in (cp.OPTIMAL, cp.FEASIBLE, cp.INFEASIBLE):
            raise TimeoutError(f"CP-SAT gave {s.StatusName(st)} within {self.time_limit_s}s")
        return st, s

    def completion(self, choices: dict[str, str]) -> dict[str, str] | None:
        """A full valid configuration extending `choices`, or None when there is none."""
        if self.explain:
            st, s = self._solve(list(self.enforce.values()) + [self.lit[(x, v)] for x, v in choices.items()])
        else:  # no assumptions: fix the choices on a copy, so that presolve sees them
            m = self.cp.Clone()
            for x, v in choices.items():
                m.Add(m.GetIntVarFromProtoIndex(self.ints[x].Index()) == self.codes[x][v])
            s = cp.CpSolver()
            s.parameters.num_workers = self.workers
            s.parameters.max_time_in_seconds = self.time_limit_s
            st = s.Solve(m)
            if st not in (cp.OPTIMAL, cp.FEASIBLE, cp.INFEASIBLE):
                raise TimeoutError(f"CP-SAT gave {s.StatusName(st)} within {self.time_limit_s}s")
        if st == cp.INFEASIBLE:
            return None
        return {x.name: x.values[s.Value(self.ints[x.name])] for x in self.model.variables}

    def completable(self, choices: dict[str, str]) -> bool:
        """Whether `choices` (a partial configuration) extends to a full valid configuration."""
        return self.completion(choices) is not None

    def conflict(self, choices: dict[str, str], *, extra: dict[str, str] | None = None) -> list[str]:
        """A minimal set of rules and choices that, with the `extra` values imposed, admit no
        configuration. Returns names: ``"rule NAME"`` and ``"choice VAR=VALUE"`` (empty when
        the question is satisfiable)."""
        if not self.explain:
            raise ValueError("this checker was built without explanations (explain=False)")
        extra = extra or {}
        # grow the rules asked from the variables in question outwards (rules sharing a variable),
        # each time on a CP-SAT model of those rules only, so that the question stays small
        by_var: dict[str, list[str]] = {}
        for r in self.model.rules:
            for x in r.variables:
                by_var.setdefault(x, []).append(r.name)
        seen_vars = set(extra) | set(choices)
        asked: list[str] = []
        while True:
            new = list(dict.fromkeys(n for x in sorted(seen_vars) for n in by_var.get(x, ()) if n not in asked))
            if not asked and not new:
                new = list(self.enforce)
            asked += new
            sub = self if len(asked) == len(self.enforce) else Checker(
                self.model, time_limit_s=self.time_limit_s, workers=self.workers, rules=asked)
            names = sub._minimal_conflict(choices, extra)
            if names is not None:
                return names
            if not new or sub is self:
                return []
            seen_vars |= {x for n in new for x in self.model.rule(n).variables}

    def _minimal_conflict(self, choices: dict[str, str], extra: dict[str, str]) -> list[str] | None:
        """With every rule of this checker and the choices assumed: None when satisfiable, else a
        minimal conflicting subset (deletion filter over the solver's core)."""
        items: dict[str, object] = {f"rule {n}": a for n, a in self.enforce.items()}
        items.update({f"choice {x}={v}": self.lit[(x, v)] for x, v in choices.items() if x not in extra})
        hard = [self.lit[(x, v)] for x, v in extra.items()]
        by_index = {a.Index(): k for k, a in items.items()}
        st, s = self._solve(list(items.values()) + hard)
        if st != cp.INFEASIBLE:
            return None
        core = [by_index[i] for i in s.SufficientAssumptionsForInfeasibility() if i in by_index]
        if not core:
            core = list(items)
        keep = list(core)
        for k in list(core):  # deletion filter: drop what is not needed for the conflict
            trial = [items[j] for j in keep if j != k]
            st, _ = self._solve(trial + hard)
            if st == cp.INFEASIBLE:
                keep.remove(k)
        return keep
