"""Random small models: the diagram's valid values, counts, validity and `why` agree with brute force."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from configurator import Session, compile_model, parse_model
from promessa.errors import InfeasibleError


@st.composite
def models(draw):
    n = draw(st.integers(2, 4))
    names = [f"v{i}" for i in range(n)]
    doms = {x: [f"{x}{k}" for k in range(draw(st.integers(1, 5)))] for x in names}
    rules = []
    for k in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["table", "requires", "excludes", "numeric"]))
        scope = draw(st.lists(st.sampled_from(names), min_size=1, max_size=min(3, n), unique=True))
        if kind == "table":
            combos = list(itertools.product(*(doms[x] for x in scope)))
            rows = draw(st.lists(st.sampled_from(combos), min_size=1, max_size=len(combos)))
            rules.append({"name": f"r{k}", "scope": scope, "allowed": [list(r) for r in rows]})
        elif kind in ("requires", "excludes") and len(scope) >= 2:
            a, b = scope[0], scope[1]
            cond = draw(st.lists(st.sampled_from(doms[a]), min_size=1, unique=True))
            tgt = draw(st.lists(st.sampled_from(doms[b]), min_size=1, unique=True))
            key = "then" if kind == "requires" else "excludes"
            rules.append({"name": f"r{k}", "if": {a: cond}, key: {b: tgt}})
        elif kind == "numeric":
            rules.append({"name": f"r{k}", "attribute": "w", "over": scope,
                          "op": draw(st.sampled_from(["<=", "<", ">=", ">", "==", "!="])), "bound": draw(st.integers(0, 8))})
    w = {x: {v: draw(st.integers(0, 4)) for v in doms[x]} for x in names}
    return parse_model({"name": "random", "variables": doms, "attributes": {"w": w}, "rules": rules})


def possible(model, names, rules, fixed) -> bool:
    for combo in itertools.product(*(q.values for q in model.variables)):
        cfg = dict(zip(names, combo))
        if all(cfg[y] == u for y, u in fixed.items()) and all(r.holds(cfg, model.attributes) for r in rules):
            return True
    return False


@settings(max_examples=40, deadline=None)
@given(models(), st.data())
def test_random_models_agree_with_brute_force(model, data):
    names = [v.name for v in model.variables]
    every = [dict(zip(names, c)) for c in itertools.product(*(v.values for v in model.variables))
             if all(r.holds(dict(zip(names, c)), model.attributes) for r in model.rules)]
    try:
        c = compile_model(model)
    except InfeasibleError as e:
        assert not every and e.rules
        return
    assert every and c.count() == len(every)
    choices = {}
    for x in data.draw(st.lists(st.sampled_from(names), unique=True, max_size=2)):
        ext = [cfg for cfg in every if all(cfg[y] == v for y, v in choices.items())]
        choices[x] = data.draw(st.sampled_from(sorted({cfg[x] for cfg in ext})))
    s = Session(c, choices)
    ext = [cfg for cfg in every if all(cfg[y] == v for y, v in choices.items())]
    for x in names:
        assert set(s.valid[x]) == {cfg[x] for cfg in ext}
        for v in model.variable(x).values:
            if v not in s.valid[x] and x not in choices:
                w = s.why(x, v)
                assert not w.valid
                rules = [model.rule(r) for r in w.rules]
                assert not possible(model, names, rules, {**w.choices, x: v})
                for r in rules:  # minimal: each rule and each choice named is needed
                    assert possible(model, names, [q for q in rules if q is not r], {**w.choices, x: v})
                for y in w.choices:
                    assert possible(model, names, rules, {**{z: u for z, u in w.choices.items() if z != y}, x: v})
    assert all(c.is_valid(cfg) for cfg in every[:20])
