"""Models as data: refusals that name the rule and the value, contradictions, versions, and the
minimality of explanations on the bicycle (checked by brute force)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from configurator import ModelLibrary, Session, compile_model, load_model, parse_model
from promessa.errors import InfeasibleError, ValidationError

BIKE = Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml"


def doc(**kw):
    d = {"name": "lamp", "variables": {"color": ["red", "blue"], "bulb": ["led", "halogen"], "shade": ["glass", "paper"]},
         "rules": []}
    d.update(kw)
    return d


@pytest.mark.parametrize("rules, field, value", [
    ([{"name": "r1", "if": {"colour": "red"}, "then": {"bulb": "led"}}], "rules[r1].if.colour", "colour"),
    ([{"name": "r2", "if": {"color": "green"}, "then": {"bulb": "led"}}], "rules[r2].if.color", "green"),
    ([{"name": "r3", "scope": ["color", "bulb"], "allowed": [["red", "led", "x"]]}], "rules[r3].allowed[0]", ["red", "led", "x"]),
    ([{"name": "r4", "scope": ["color", "bulb"], "allowed": [["red", "neon"]]}], "rules[r4].allowed[0]", "neon"),
    ([{"name": "r5", "attribute": "watts", "op": "<=", "bound": 5}], "rules[r5].attribute", "watts"),
])
def test_bad_rules_are_refused_naming_the_rule(rules, field, value):
    with pytest.raises(ValidationError) as e:
        parse_model(doc(rules=rules))
    assert e.value.field == field and e.value.value == value


def test_malformed_documents_are_refused_naming_the_field():
    for bad, field in ((doc(rules=["oops"]), "rules[#1]"), (doc(rules={"a": 1}), "rules"),
                       (doc(rules=[{"name": "t", "scope": ["color"], "allowed": "red"}]), "rules[t].allowed"),
                       (doc(attributes={"w": [1, 2]}), "attributes.w"), ({"variables": {"a": ["x"]}}, "name")):
        with pytest.raises(ValidationError) as e:
            parse_model(bad)
        assert e.value.field == field


def test_empty_domain_and_bad_default_are_refused():
    with pytest.raises(ValidationError, match="empty domain") as e:
        parse_model(doc(variables={"color": []}))
    assert e.value.field == "variables.color.values"
    with pytest.raises(ValidationError) as e:
        parse_model(doc(variables={"color": {"values": ["red"], "default": "blue"}}))
    assert e.value.field == "variables.color.default"


def test_contradictory_model_names_the_rules():
    # paper shades need LED bulbs, red lamps take halogen, and the shop only sells red paper lamps
    rules = [{"name": "paper-needs-led", "if": {"shade": "paper"}, "then": {"bulb": "led"}},
             {"name": "red-is-halogen", "if": {"color": "red"}, "then": {"bulb": "halogen"}},
             {"name": "only-red-paper", "scope": ["color", "shade"], "allowed": [["red", "paper"]]},
             {"name": "unrelated", "if": {"bulb": "led"}, "excludes": {"color": "blue"}}]
    with pytest.raises(InfeasibleError) as e:
        compile_model(parse_model(doc(rules=rules)))
    assert set(e.value.rules) == {"paper-needs-led", "red-is-halogen", "only-red-paper"}
    assert "only-red-paper" in str(e.value)


def test_versions_by_effective_date():
    lib = ModelLibrary()
    lib.add(parse_model(doc(version="1", effective_from="2026-01-01", effective_to="2026-04-01")))
    lib.add(parse_model(doc(version="2", effective_from="2026-04-01")))
    assert lib.effective("lamp", dt.date(2026, 3, 31)).version == "1"
    assert lib.effective("lamp", dt.date(2026, 4, 1)).version == "2"
    with pytest.raises(ValidationError, match="no version"):
        lib.effective("lamp", dt.date(2025, 12, 31))
    c = lib.compiled("lamp", dt.date(2026, 4, 2))
    assert c.model.version == "2" and c.count() == 8 and lib.compiled("lamp", dt.date(2026, 5, 1)) is c
    with pytest.raises(ValidationError, match="together with version"):
        lib.add(parse_model(doc(version="3", effective_from="2026-06-01")))


def test_why_is_minimal_on_the_bicycle():
    model = load_model(BIKE)
    c = compile_model(model)
    names = [v.name for v in model.variables]
    configs = [dict(zip(names, combo)) for combo in itertools.product(*(v.values for v in model.variables))]

    def possible(rules, choices, var, value):
        return any(cfg[var] == value and all(cfg[x] == v for x, v in choices.items())
                   and all(r.holds(cfg, model.attributes) for r in rules) for cfg in configs)

    for choices, var, value in (({"frame": "steel"}, "motor", "mid"), ({"frame": "carbon"}, "rack", "yes"),
                                ({"motor": "hub", "frame": "steel", "size": "XL"}, "gears", "hub-8")):
        w = Session(c, choices).why(var, value)
        assert not w.valid
        rules = [model.rule(r) for r in w.rules]
        assert not possible(rules, w.choices, var, value)          # what it names does exclude the value
        for r in rules:                                             # and nothing it names is superfluous
            assert possible([q for q in rules if q is not r], w.choices, var, value)
        for x in w.choices:
            assert possible(rules, {y: v for y, v in w.choices.items() if y != x}, var, value)
