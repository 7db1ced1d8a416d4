"""The Renault Megane model (99 variables, 111 tables): valid values after random choice
sequences agree with an independent CP-SAT model on a sample of offered and removed values."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from configurator import Checker, Session, compile_model, load_model

RENAULT = Path("/work/shared/data/renault/renault_megane.json.gz")
# compiling the model takes a few seconds: the whole module is in the slow run
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not RENAULT.exists(), reason="the Renault model is not on this machine")]


@pytest.fixture(scope="module")
def renault():
    model = load_model(RENAULT)
    return model, compile_model(model)


def test_compiles_with_the_known_size(renault):
    model, c = renault
    assert len(model.variables) == 99 and len(model.rules) == 111
    assert sum(len(r.allowed) for r in model.rules) == 112_680
    # the count of valid configurations: checked once against the BDD's own model count
    assert c.count() == int(c.root.count(nvars=len(c.bdd.vars)))
    assert c.count() > 0


def test_samples_are_valid_by_every_table(renault):
    model, c = renault
    rng = np.random.default_rng(7)
    for _ in range(20):
        cfg = c.sample(rng)
        model.check_complete(cfg)  # raises naming the table a configuration breaks


def test_random_choice_sequences_against_cp_sat(renault):
    model, c = renault
    checker = Checker(model, explain=False, time_limit_s=120)
    nprng = np.random.default_rng(16)
    rng = random.Random(16)
    checked_in = checked_out = 0
    for _seq in range(3):
        s = Session(c)
        for _step in range(6):
            valid = s.valid
            open_vars = [x for x, vs in valid.items() if x not in s.choices and len(vs) > 1]
            if not open_vars:
                break
            # offered values (sampled) extend to a full configuration: the diagram's witness is checked
            # table by table against the model's rows (no solver needed to trust a witness)
            offered = [(x, v) for x in open_vars for v in valid[x]]
            for x, v in rng.sample(offered, min(6, len(offered))):
                cfg = c.sample(nprng, {**s.choices, x: v})
                assert cfg is not None and cfg[x] == v and all(cfg[y] == w for y, w in s.choices.items())
                model.check_complete(cfg)
                checked_in += 1
            # removed values (sampled) cannot be completed: CP-SAT proves it
            removed = [(x, v) for x in valid if x not in s.choices for v in model.variable(x).values if v not in valid[x]]
            for x, v in rng.sample(removed, min(4, len(removed))):
                assert not checker.completable({**s.choices, x: v}), (s.choices, x, v)
                checked_out += 1
            # why: the rules and choices named exclude the value on their own (CP-SAT on those rules
            # only), and each one named is needed
            if removed:
                x, v = rng.choice(removed)
                w = s.why(x, v)
                assert not w.valid and w.rules
                assert not Checker(model, rules=list(w.rules), explain=False).completable({**w.choices, x: v})
                for r in w.rules:
                    rest = [q for q in w.rules if q != r]
                    assert Checker(model, rules=rest, explain=False).completable({**w.choices, x: v})
                for y in w.choices:
                    fewer = {z: u for z, u in w.choices.items() if z != y}
                    assert Checker(model, rules=list(w.rules), explain=False).completable({**fewer, x: v})
            x = rng.choice(open_vars)
            s.choose(x, rng.choice(valid[x]))
        # a retraction gives back values: the valid set after retracting equals the fresh computation
        if s.choices:
            first = next(iter(s.choices))
            s.retract(first)
            assert s.valid == Session(c, dict(s.choices)).valid
            x, v = next(((x, v) for x in s.valid for v in s.valid[x] if x not in s.choices), (None, None))
            if x is not None:
                model.check_complete(c.sample(nprng, {**s.choices, x: v}))
    assert checked_in > 0 and checked_out > 0
