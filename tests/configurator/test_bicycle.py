"""Stories on the hand-made bicycle (configurator/examples/bicycle.yaml).

Weights (g): frame alu 1800 / carbon 1100 / steel 2600; gears single 300, hub-8 1500,
derailleur-11 900, derailleur-12 1000; brakes rim 300, disc-mech 700, disc-hyd 600; motor hub
3500, mid 3200; rack 400. The weight-limit rule keeps their sum at or under 7000 g.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from configurator import Session, compile_model, load_model, price_configuration
from promessa.errors import ValidationError

BIKE = Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml"


@pytest.fixture(scope="module")
def model():
    return load_model(BIKE)


@pytest.fixture(scope="module")
def compiled(model):
    return compile_model(model)


def brute_force(model):
    """Every valid configuration, by checking each rule on every combination (the reference)."""
    names = [v.name for v in model.variables]
    out = []
    for combo in itertools.product(*(v.values for v in model.variables)):
        cfg = dict(zip(names, combo))
        if all(r.holds(cfg, model.attributes) for r in model.rules):
            out.append(cfg)
    return out


def test_valid_values_are_exactly_the_completable_ones(model, compiled):
    every = brute_force(model)
    assert compiled.count() == len(every)
    for choices in ({}, {"frame": "steel"}, {"motor": "mid"}, {"frame": "carbon", "size": "S"},
                    {"gears": "hub-8", "brakes": "disc-hyd"}, {"motor": "hub", "rack": "yes"}):
        s = Session(compiled, choices)
        ext = [c for c in every if all(c[x] == v for x, v in choices.items())]
        for var in model.variables:
            assert set(s.valid[var.name]) == {c[var.name] for c in ext}, (choices, var.name)
        assert s.count() == len(ext)


def test_steel_frame_story(compiled):
    # A steel frame starts at size M and is too heavy for a mid motor: steel 2600 + the lightest drive a
    # mid motor accepts (derailleur-11, 900) + the hydraulic discs every e-bike needs (600) + 3200 = 7300 g.
    s = Session(compiled)
    s.choose("frame", "steel")
    assert s.valid["size"] == ("M", "L", "XL")
    assert s.valid["motor"] == ("none", "hub")
    w = s.why("motor", "mid")
    assert not w.valid
    # each of the three rules is needed: without ebike-needs-disc rim brakes make 7000 g, without
    # mid-motor-gears a single cog makes 6700 g, without the weight limit anything goes
    assert set(w.rules) == {"ebike-needs-disc", "mid-motor-gears", "weight-limit"}
    assert w.choices == {"frame": "steel"}
    assert s.why("size", "S").rules == ("frame-sizes",)
    assert s.why("size", "M").valid
    with pytest.raises(ValidationError, match="weight-limit"):
        s.choose("motor", "mid")
    assert s.choices == {"frame": "steel"}  # the refused choice left the session as it was


def test_how_to_get_changes_the_fewest_choices(compiled):
    # steel XL with a rack: the mid motor needs another frame; carbon has no XL and no rack, alu has both
    s = Session(compiled, {"frame": "steel", "size": "XL", "rack": "yes"})
    h = s.how_to_get("motor", "mid")
    assert h.possible
    assert h.changes == {"frame": ("steel", "alu")}
    assert h.configuration["motor"] == "mid" and h.configuration["size"] == "XL"
    assert compiled.is_valid(h.configuration)
    # asking for another value of a chosen variable lists that change too: carbon stops at L
    h2 = Session(compiled, {"frame": "steel", "size": "XL"}).how_to_get("frame", "carbon")
    assert set(h2.changes) == {"frame", "size"}
    assert h2.changes["frame"] == ("steel", "carbon") and h2.changes["size"][1] in ("S", "M", "L")


def test_retraction_gives_values_back(compiled):
    s = Session(compiled)
    s.choose("frame", "steel")
    assert "mid" not in s.valid["motor"]
    s.retract("frame")
    assert s.valid["motor"] == ("none", "hub", "mid")
    s.choose("motor", "mid")
    assert s.valid["frame"] == ("alu", "carbon")
    assert s.valid["brakes"] == ("disc-hyd",)


def test_complete_by_defaults(compiled):
    # a hub motor: defaults alu, M, derailleur-11, rack no; the default disc-mech is excluded, so the
    # first valid brake (disc-hyd) is taken
    s = Session(compiled, {"motor": "hub"})
    cfg = s.complete_by("defaults")
    assert cfg == {"frame": "alu", "size": "M", "gears": "derailleur-11", "brakes": "disc-hyd", "motor": "hub",
                   "rack": "no"}


def test_cheapest_completion_and_price(model, compiled):
    # a hub motor with a rack: the cheapest is alu (0), S (0, first of the free sizes), single (0),
    # disc-hyd (140, forced), rack 49.90 -> 499 + 140 + 900 + 49.90 - 30 (bundle) = 1558.90
    s = Session(compiled, {"motor": "hub", "rack": "yes"})
    cfg = s.complete_by("cheapest")
    assert cfg == {"frame": "alu", "size": "S", "gears": "single", "brakes": "disc-hyd", "motor": "hub", "rack": "yes"}
    p = price_configuration(model, cfg, qty=2)
    assert p.unit.amount == Decimal("1558.90")
    assert p.total.amount == Decimal("3117.80")
    assert ("adjustment", "e-bike-commuter-bundle") in {(k, n) for k, n, _ in p.lines}
    # the mid motor forces derailleur-11 or hub-8: the cheapest is 499 + 120 + 140 + 1400 = 2159.00
    cfg = Session(compiled, {"motor": "mid"}).complete_by("cheapest")
    assert price_configuration(model, cfg).unit.amount == Decimal("2159.00")


def test_price_by_option_without_adjustment(model):
    cfg = {"frame": "alu", "size": "XL", "gears": "derailleur-12", "brakes": "disc-mech", "motor": "none", "rack": "yes"}
    p = price_configuration(model, cfg)
    assert p.unit.amount == Decimal("898.90")  # 499 + 30 + 260 + 60 + 49.90
    assert p.unit.currency == "EUR"


def test_fastest_completion_avoids_late_options(compiled):
    day0 = dt.date(2026, 3, 2)
    late = {("motor", "mid"): 9, ("rack", "yes"): 5}

    def date_of(var, value):
        return day0 + dt.timedelta(days=late.get((var, value), 0))

    # hub-8 gears exclude the hub motor: fastest keeps the motor out (the mid motor is 9 days away)
    cfg = Session(compiled, {"gears": "hub-8"}).complete_by("fastest", date_of=date_of)
    assert cfg["motor"] == "none" and cfg["rack"] == "no"
    # an option that cannot be dated is never picked
    cfg = Session(compiled).complete_by("fastest", date_of=lambda x, v: None if (x, v) == ("frame", "alu") else day0)
    assert cfg["frame"] != "alu"


def test_incomplete_or_invalid_configuration_is_refused(model):
    with pytest.raises(ValidationError, match="incomplete") as e:
        price_configuration(model, {"frame": "alu"})
    assert e.value.field == "size"
    bad = {"frame": "carbon", "size": "M", "gears": "single", "brakes": "rim", "motor": "none", "rack": "yes"}
    with pytest.raises(ValidationError, match="carbon-no-rack"):
        price_configuration(model, bad)
    with pytest.raises(ValidationError, match="not a value"):
        Session(compile_model(model)).choose("frame", "titanium")


def test_the_diagram_accepts_exactly_the_valid_configurations(model, compiled):
    every = {tuple(c.values()) for c in brute_force(model)}
    names = [v.name for v in model.variables]
    for combo in itertools.product(*(v.values for v in model.variables)):
        assert compiled.is_valid(dict(zip(names, combo))) == (combo in every)
    assert not compiled.is_valid({"frame": "alu"})


def test_a_chosen_variable_offers_the_values_that_could_replace_it(compiled):
    """With a steel frame chosen, the frame's own valid value is steel alone, but alu could take its
    place (every other choice kept) and is offered as an alternative; the page marks it valid, not
    excluded. A variable not chosen offers its valid values."""
    s = Session(compiled, {"frame": "steel"})
    assert s.valid["frame"] == ("steel",)
    assert "alu" in s.alternatives("frame") and "steel" in s.alternatives("frame")
    assert s.alternatives("size") == s.valid["size"]
    frame = next(v for v in s.to_dict()["variables"] if v["name"] == "frame")
    assert frame["chosen"] == "steel" and "alu" in frame["alternatives"]
