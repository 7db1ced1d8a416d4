"""Compile a configuration model once into a decision diagram, then answer queries on arrays.

The reasoning is done by CUDD (through the `dd` package's ``dd.cudd`` binding): each variable
is log-encoded on ceil(log2 |domain|) Boolean variables kept adjacent, every rule becomes a
BDD, and their conjunction is the set of valid configurations. The variable order decides the
size: a model may carry an ``order_hint`` (found once by CUDD's group sifting, `find_order`);
without one, the compile runs with dynamic group sifting on (fine for small models, about 20 s
for the Renault model, which therefore ships its hint).

The BDD is then read once into a layered multi-valued diagram held as flat arrays (one layer per
variable, one edge per value) so that valid values, counts, cheapest/fastest completions, the
smallest change for `how_to_get` and uniform samples are one linear pass in
`configurator.kernels` (microseconds to a millisecond on the Renault model).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from decimal import Decimal

import numpy as np
from dd import cudd

from configurator import kernels as kn
from configurator.model import Model, Rule, compare
from promessa.errors import InfeasibleError, ValidationError

MAX_NUMERIC_STATES = 200_000  # distinct (variable, partial sum) pairs a numeric rule may build


@dataclasses.dataclass(eq=False)
class Compiled:
    """A compiled model: variable order, value codes and the layered diagram arrays."""

    model: Model
    order: tuple[str, ...]                 # variables in diagram order (layer i = order[i])
    codes: dict[str, dict[str, int]]       # var -> value -> code (the model's value order)
    e_src: np.ndarray
    e_dst: np.ndarray
    e_var: np.ndarray                      # layer (index in `order`)
    e_val: np.ndarray
    node_start: np.ndarray
    node_count: np.ndarray
    n_nodes: int
    bdd_nodes: int
    compile_seconds: float
    timings: dict[str, float]
    bdd: cudd.BDD
    root: object                           # the dd.cudd Function of all valid configurations
    rule_bdds: dict[str, object]
    bits: dict[str, list[str]]             # var -> its Boolean variables (bit j of the value code)
    domains: object                        # BDD: every variable takes a code of its domain

    @property
    def n_vars(self) -> int:
        return len(self.order)

    @property
    def layer(self) -> dict[str, int]:
        """var -> layer index."""
        return self._layer  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # CUDD is not thread-safe: one BDD operation sequence at a time
        self._layer = {x: i for i, x in enumerate(self.order)}
        self.max_dom = max(len(self.model.variable(x).values) for x in self.order)
        self.values = [self.model.variable(x).values for x in self.order]

    # -- masks -----------------------------------------------------------------------------

    def allowed(self, choices: dict[str, str] | None = None) -> np.ndarray:
        """bool[n_vars, max_dom]: every domain value, restricted to the chosen value where chosen."""
        a = np.zeros((self.n_vars, self.max_dom), dtype=np.bool_)
        for i, vals in enumerate(self.values):
            a[i, :len(vals)] = True
        for x, v in (choices or {}).items():
            i = self.layer[x]
            a[i, :] = False
            a[i, self.codes[x][v]] = True
        return a

    # -- queries -----------------------------------------------------------------------------

    def valid_values(self, choices: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
        """For every variable, the values that some valid completion of `choices` takes
        (in the model's value order). Empty tuples everywhere when the choices are inconsistent."""
        valid = kn.valid_values_nb(self.e_src, self.e_dst, self.e_var, self.e_val, self.n_nodes, self.allowed(choices))
        out = {}
        for x in self.model.variables:
            i = self.layer[x.name]
            out[x.name] = tuple(v for c, v in enumerate(x.values) if valid[i, c])
        return out

    def count(self, choices: dict[str, str] | None = None) -> int:
        """How many complete valid configurations extend `choices` (exact below 2**53)."""
        return int(kn.count_nb(self.e_src, self.e_dst, self.e_var, self.e_val, self.n_nodes, self.allowed(choices)))

    def best(self, cost: np.ndarray, *, choices: dict[str, str] | None = None, allowed: np.ndarray | None = None,
             bottleneck: bool = False) -> tuple[dict[str, str] | None, float]:
        """The completion of `choices` with the least total (or, `bottleneck`, least largest)
        ``cost[layer, code]``; returns (configuration or None, its cost)."""
        a = self.allowed(choices) if allowed is None else allowed
        codes, c = kn.best_path_nb(self.e_src, self.e_dst, self.e_var, self.e_val, self.n_nodes, a,
                                   np.ascontiguousarray(cost, dtype=np.float64), bottleneck, self.n_vars)
        if codes[0] < 0:
            return None, math.inf
        return self.decode(codes), float(c)

    def sample(self, rng: np.random.Generator, choices: dict[str, str] | None = None) -> dict[str, str] | None:
        """One valid completion of `choices` drawn uniformly at random, or None."""
        codes = kn.sample_nb(self.e_src, self.e_dst, self.e_var, self.e_val, self.n_nodes, self.allowed(choices),
                             self.node_start, self.node_count, rng.random(self.n_vars), self.n_vars)
        return None if codes[0] < 0 else self.decode(codes)

    def decode(self, codes: np.ndarray) -> dict[str, str]:
        """Value codes per layer -> {var: value} in the model's variable order."""
        by = {x: self.values[i][int(codes[i])] for i, x in enumerate(self.order)}
        return {x.name: by[x.name] for x in self.model.variables}

    def possible(self, choices: dict[str, str]) -> bool:
        """Whether some valid configuration extends `choices`."""
        return kn.count_nb(self.e_src, self.e_dst, self.e_var, self.e_val, self.n_nodes, self.allowed(choices)) > 0

    def conflict(self, choices: dict[str, str], extra: dict[str, str]) -> tuple[list[str], dict[str, str]] | None:
        """A minimal set of rules and of `choices` that exclude the values `extra` (None when some
        valid configuration has `extra` with all the choices).

        Choices are dropped one at a time while the diagram still excludes `extra`; then the
        rules, each cofactored by the kept choices and `extra` on CUDD, are gathered outwards from
        the variables in question until their conjunction is empty, and dropped one at a time while
        it stays empty. Removing any rule or choice named makes `extra` possible again."""
        if self.possible({**choices, **extra}):
            return None
        with self._lock:
            return self._conflict(choices, extra)

    def _conflict(self, choices: dict[str, str], extra: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        kept = {x: v for x, v in choices.items() if x not in extra}
        for x in list(kept):
            trial = {y: w for y, w in kept.items() if y != x}
            if not self.possible({**trial, **extra}):
                kept = trial
        fixed = {**kept, **extra}
        assign = {}
        for x, v in fixed.items():
            code = self.codes[x][v]
            for j, b in enumerate(self.bits[x]):
                assign[b] = bool((code >> j) & 1)
        bdd = self.bdd
        false = bdd.false
        dom = bdd.let(assign, self.domains) if assign else self.domains
        restricted = {n: (bdd.let(assign, u) if assign else u) for n, u in self.rule_bdds.items()}
        single = [n for n, u in restricted.items() if u == false]
        if single:
            return [single[0]], kept
        by_var: dict[str, list[str]] = {}
        for r in self.model.rules:
            for x in r.variables:
                by_var.setdefault(x, []).append(r.name)
        seen = set(fixed)
        asked: list[str] = []
        conj = dom
        while conj != false:
            new = list(dict.fromkeys(n for x in sorted(seen) for n in by_var.get(x, ()) if n not in asked))
            if not new:
                new = [n for n in restricted if n not in asked]
                if not new:
                    raise RuntimeError("the diagram excludes the values but the rules do not")
            for n in new:
                conj = conj & restricted[n]
            asked += new
            seen |= {x for n in new for x in self.model.rule(n).variables}
        keep = list(asked)
        for n in list(asked):
            trial = dom
            for m in keep:
                if m != n:
                    trial = trial & restricted[m]
                    if trial == false:
                        break
            if trial == false:
                keep.remove(n)
        return keep, kept

    def is_valid(self, config: dict[str, str]) -> bool:
        """Whether a complete configuration is valid according to the diagram (one walk down it);
        unknown variables or values, or a missing variable, make it invalid."""
        try:
            codes = np.array([self.codes[x][config[x]] for x in self.order], dtype=np.int64)
        except KeyError:
            return False
        return bool(kn.accepts_nb(self.e_dst, self.e_val, self.node_start, self.node_count, codes, self.n_nodes))


# ---------------------------------------------------------------------------------------------
# building


class _Encoder:
    def __init__(self, model: Model, order: tuple[str, ...], *, reorder: bool) -> None:
        self.bdd = cudd.BDD()
        self.bdd.configure(reordering=False)
        self.model = model
        self.codes = {x.name: {v: i for i, v in enumerate(x.values)} for x in model.variables}
        self.bits: dict[str, list[str]] = {}
        for k, x in enumerate(order):
            n = len(model.variable(x).values)
            nb = math.ceil(math.log2(n)) if n > 1 else 0
            self.bits[x] = [f"x{k}_{j}" for j in range(nb)]
            for b in self.bits[x]:
                self.bdd.declare(b)
        if reorder:
            for x in order:
                if len(self.bits[x]) > 1:
                    self.bdd.group({self.bits[x][0]: len(self.bits[x])})
        self._lit: dict[tuple[str, str], object] = {}

    def lit(self, x: str, v: str):
        key = (x, v)
        u = self._lit.get(key)
        if u is None:
            c = self.codes[x][v]
            u = self.bdd.cube({b: bool((c >> j) & 1) for j, b in enumerate(self.bits[x])})
            self._lit[key] = u
        return u

    def any_of(self, x: str, vals) -> object:
        u = self.bdd.false
        for v in vals:
            u = u | self.lit(x, v)
        return u

    def domain(self, x: str):
        return self.any_of(x, self.model.variable(x).values)

    def table(self, scope: tuple[str, ...], rows) -> object:
        level = {x: self.bdd.level_of_var(self.bits[x][0]) if self.bits[x] else -1 for x in scope}
        perm = sorted(range(len(scope)), key=lambda j: level[scope[j]])
        sc = [scope[j] for j in perm]
        rs = [tuple(r[j] for j in perm) for r in rows]
        return self._trie(sc, rs, 0)

    def _trie(self, scope, rows, k):
        if k == len(scope):
            return self.bdd.true
        groups: dict[str, list] = {}
        for r in rows:
            groups.setdefault(r[k], []).append(r)
        u = self.bdd.false
        for v, rest in groups.items():
            u = u | (self.lit(scope[k], v) & self._trie(scope, rest, k + 1))
        return u

    def conds(self, conds) -> object:
        u = self.bdd.true
        for x, vals in conds:
            u = u & self.any_of(x, vals)
        return u

    def rule(self, r: Rule) -> object:
        if r.kind == "table":
            return self.table(r.scope, r.allowed)
        if r.kind == "requires":
            return ~self.conds(r.when) | self.conds(r.targets)
        if r.kind == "excludes":
            body = self.bdd.true
            for x, vals in r.targets:
                body = body & ~self.any_of(x, vals)
            return ~self.conds(r.when) | body
        return self.numeric(r)

    def numeric(self, r: Rule) -> object:
        """sum over scope of attribute(var, value) OP bound, by recursion over partial sums."""
        attr = self.model.attributes[r.attribute]
        scope = sorted(r.scope, key=lambda x: self.bdd.level_of_var(self.bits[x][0]) if self.bits[x] else -1)
        memo: dict[tuple[int, Decimal], object] = {}

        def go(k: int, acc: Decimal):
            if k == len(scope):
                return self.bdd.true if compare(acc, r.op, r.bound) else self.bdd.false
            key = (k, acc)
            u = memo.get(key)
            if u is None:
                if len(memo) > MAX_NUMERIC_STATES:
                    raise ValidationError(f"too many partial sums (> {MAX_NUMERIC_STATES})", field=f"rules[{r.name}]",
                                          value=r.attribute, hint="use fewer distinct attribute values")
                x = scope[k]
                u = self.bdd.false
                for v in self.model.variable(x).values:
                    u = u | (self.lit(x, v) & go(k + 1, acc + attr.get(x, {}).get(v, Decimal(0))))
                memo[key] = u
            return u

        return go(0, Decimal(0))


def _conjoin(fs: list) -> object:
    """Balanced conjunction, smallest first."""
    while len(fs) > 1:
        fs = sorted(fs, key=len)
        fs = [fs[i] & fs[i + 1] if i + 1 < len(fs) else fs[i] for i in range(0, len(fs), 2)]
    return fs[0]


def find_order(model: Model) -> tuple[str, ...]:
    """A variable order for `model` found by CUDD's group sifting during a compile (slow, run
    once per model and stored as the model's ``order_hint``). Returns the variables in order."""
    c = compile_model(dataclasses.replace(model, order_hint=None), reorder=True)
    return c.order


def compile_model(model: Model, *, reorder: bool | None = None) -> Compiled:
    """Compile `model` into a `Compiled` diagram.

    Parameters
    ----------
    model : a validated model.
    reorder : run CUDD's dynamic group sifting while building (default: only when the model has
        no ``order_hint``).

    Raises `InfeasibleError` naming a minimal set of contradictory rules when no configuration is valid.
    """
    t0 = time.perf_counter()
    order = model.order_hint or tuple(v.name for v in model.variables)
    if reorder is None:
        reorder = model.order_hint is None
    enc = _Encoder(model, order, reorder=reorder)
    bdd = enc.bdd
    if reorder:
        bdd.configure(reordering=True)
    dom = [enc.domain(x) for x in order]
    rule_bdds = {}
    for r in model.rules:
        rule_bdds[r.name] = enc.rule(r)
    t1 = time.perf_counter()
    root = _conjoin(dom + list(rule_bdds.values()))
    t2 = time.perf_counter()
    if reorder:
        bdd.configure(reordering=False)
        levels = {x: bdd.level_of_var(enc.bits[x][0]) if enc.bits[x] else -1 for x in order}
        # variables without bits (one value) keep their place relative to their neighbours
        order = tuple(sorted(order, key=lambda x: (levels[x] if levels[x] >= 0 else _near(order, x, levels))))
    if root == bdd.false:
        from configurator.checker import Checker

        rules = [n[len("rule "):] for n in Checker(model).conflict({}) if n.startswith("rule ")]
        raise InfeasibleError(f"model {model.name!r} admits no configuration: rules {', '.join(rules)} contradict "
                              "each other", rules=rules, hint="relax one of these rules")
    arrays = _layered(enc, order, root)
    t3 = time.perf_counter()
    return Compiled(model, order, enc.codes, *arrays, bdd_nodes=len(root), compile_seconds=t3 - t0,
                    timings={"rules": t1 - t0, "conjoin": t2 - t1, "layers": t3 - t2}, bdd=bdd, root=root,
                    rule_bdds=rule_bdds, bits=enc.bits, domains=_conjoin(list(dom)))


def _near(order, x, levels) -> float:
    i = order.index(x)
    for j in range(i - 1, -1, -1):
        if levels[order[j]] >= 0:
            return levels[order[j]] + 0.5
    return -0.5


def _layered(enc: _Encoder, order: tuple[str, ...], root) -> tuple:
    """Read the BDD into a layered diagram: node (layer, bdd node) -> edges per value code."""
    bdd = enc.bdd
    true = bdd.true
    false = bdd.false
    n = len(order)
    ids: dict[tuple[int, object], int] = {(0, root): 0}
    frontier = [root]
    src: list[int] = []
    dst: list[int] = []
    var: list[int] = []
    val: list[int] = []
    terminal_edges: list[int] = []  # edge indexes that go to the terminal (patched at the end)
    bits_levels = [[(bdd.level_of_var(b)) for b in enc.bits[x]] for x in order]
    for i, x in enumerate(order):
        nxt: dict[object, int] = {}
        nxt_list = []
        blv = bits_levels[i]
        nvals = len(enc.model.variable(x).values)
        for u in frontier:
            s = ids[(i, u)]
            for c in range(nvals):
                w = u
                for j, lv in enumerate(blv):
                    if w == false or w == true:
                        break
                    if w.level == lv:  # dd.cudd gives the children of the regular node
                        neg = w.negated
                        w = w.high if (c >> j) & 1 else w.low
                        if neg:
                            w = ~w
                if w == false:
                    continue
                if i == n - 1:
                    if w != true:
                        continue
                    terminal_edges.append(len(src))
                    d = -1
                else:
                    d = nxt.get(w)
                    if d is None:
                        d = len(ids)
                        ids[(i + 1, w)] = d
                        nxt[w] = d
                        nxt_list.append(w)
                src.append(s)
                dst.append(d)
                var.append(i)
                val.append(c)
        frontier = nxt_list
    n_nodes = len(ids) + 1
    e_dst = np.asarray(dst, dtype=np.int64)
    e_dst[terminal_edges] = n_nodes - 1
    e_src = np.asarray(src, dtype=np.int64)
    node_start = np.zeros(n_nodes, dtype=np.int64)
    node_count = np.bincount(e_src, minlength=n_nodes).astype(np.int64)
    node_start[1:] = np.cumsum(node_count)[:-1]
    return (e_src, e_dst, np.asarray(var, dtype=np.int64), np.asarray(val, dtype=np.int64), node_start, node_count, n_nodes)
