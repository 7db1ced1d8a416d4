"""The configurator as a service: sessions by id (bounded, expiring), durable posted models, pricing through the
price book."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from configurator import compile_model, load_model
from configurator.pricing import price_configured_line
from configurator.registry import SessionRegistry
from configurator.service import Configurator
from configurator.store import ModelStore
from pricing import Party, PriceBook, Rule, TaxRate
from promessa.config import settings_of
from promessa.errors import InfeasibleError, NotFoundError, ValidationError

BIKE = Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml"
LAMP = {"name": "lamp", "version": "1", "effective_from": "2026-01-01",
        "variables": {"color": ["red", "blue"], "bulb": ["led", "halogen"]},
        "rules": [{"name": "blue-is-led", "if": {"color": "blue"}, "then": {"bulb": "led"}}],
        "prices": {"base": "20.00", "options": {"bulb": {"halogen": "3.50"}}}}
D = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def bike():
    m = load_model(BIKE)
    return m, compile_model(m)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sessions_expire_after_idle_time_and_the_least_recently_used_goes_first(bike):
    clock = Clock()
    reg = SessionRegistry(max_sessions=2, ttl_s=600, clock=clock)
    a = reg.create(bike[1], {"frame": "steel"})
    assert a.id and a.to_dict()["id"] == a.id and a.choices == {"frame": "steel"}
    clock.t += 500
    b = reg.create(bike[1])
    clock.t += 200                   # a idle 700 s > 600: expired; b idle 200 s
    with pytest.raises(NotFoundError, match="expired"):
        reg.get(a.id)
    assert reg.get(b.id) is b and reg.expired == 1
    c = reg.create(bike[1])
    reg.get(b.id)                    # b used again: c is now the least recently used
    reg.create(bike[1])              # full (2): c goes
    with pytest.raises(NotFoundError):
        reg.get(c.id)
    assert reg.evicted == 1 and len(reg) == 2
    clock.t += 599
    assert reg.get(b.id) is b        # 599 s idle: still there
    with pytest.raises(ValidationError, match="must be positive"):
        SessionRegistry(ttl_s=0)


def test_a_session_refuses_an_excluded_first_choice(bike):
    reg = SessionRegistry()
    with pytest.raises(ValidationError, match="weight-limit"):
        reg.create(bike[1], {"frame": "steel", "motor": "mid"})
    assert len(reg) == 0


def test_posted_models_survive_a_restart_and_a_broken_file_is_reported(tmp_path):
    settings = settings_of(db=str(tmp_path / "ob.sqlite"))
    cfg = Configurator.open(settings)
    assert [(m["name"], m["source"]) for m in cfg.models()] == [("bicycle", "file")]
    m = cfg.upload(LAMP, actor="planner:abc")
    assert (m.name, m.version) == ("lamp", "1") and cfg.library.compiled_of(m).count() == 3  # red+led, red+halogen, blue+led
    stored = tmp_path / "configurator-models" / "lamp@1.json"
    record = json.loads(stored.read_text())
    assert record["model"] == LAMP and record["posted_by"] == "planner:abc"

    with pytest.raises(ValidationError) as e:  # the same version again: nothing written
        cfg.upload(LAMP)
    assert e.value.field == "version"
    bad = dict(LAMP, version="2", effective_from="2027-01-01", rules=[{"name": "r", "if": {"color": "green"}, "then": {}}])
    with pytest.raises(ValidationError) as e:
        cfg.upload(bad)
    assert e.value.field == "rules[r].if.color" and e.value.value == "green"
    infeasible = dict(LAMP, name="nolamp", rules=[*LAMP["rules"], {"name": "only-blue-halogen", "scope": ["color", "bulb"],
                                                                    "allowed": [["blue", "halogen"]]}])
    with pytest.raises(InfeasibleError) as e:
        cfg.upload(infeasible)
    assert set(e.value.rules) == {"blue-is-led", "only-blue-halogen"}
    with pytest.raises(ValidationError, match="malformed"):
        cfg.upload({"name": "x", "variables": {"a": ["1"]}, "prices": ["not", "a", "mapping"]})
    assert sorted(p.name for p in stored.parent.iterdir()) == ["lamp@1.json"]

    (stored.parent / "ghost@1.json").write_text(json.dumps({"model": {"name": "ghost", "variables": {"a": []}}}))
    again = Configurator.open(settings)
    assert [(m["name"], m["version"], m["source"]) for m in again.models()] == [("bicycle", "2026.1", "file"),
                                                                                ("lamp", "1", "api")]
    assert again.models()[1]["posted_by"] == "planner:abc"
    assert len(again.problems) == 1 and "ghost@1.json" in again.problems[0] and "empty domain" in again.problems[0]
    s = again.start("lamp", D, choices={"color": "blue"})
    assert s.valid["bulb"] == ("led",) and again.sessions.get(s.id) is s
    with pytest.raises(NotFoundError):
        again.start("unicycle", D)


def test_the_store_never_overwrites_a_version(tmp_path):
    store = ModelStore(tmp_path / "m")
    p = store.save(LAMP, name="a/b", version="1 beta")
    assert p.name == "a%2Fb@1%20beta.json" and p.parent == tmp_path / "m"  # names cannot escape the directory
    with pytest.raises(FileExistsError):
        store.save(LAMP, name="a/b", version="1 beta")
    assert [path for path, _ in store.load()] == [p]
    assert not [x for x in (tmp_path / "m").iterdir() if x.name.startswith(".")]  # no temporary file left


def test_a_configured_line_priced_through_the_book(bike):
    model, compiled = bike
    # an alu e-bike with a hub motor, one gear and a rack (6.6 kg): 499 + 900 (hub) + 140 (hydraulic discs)
    # + 49.90 (rack) - 30 (bundle) = 1558.90 a unit
    cfg = {"frame": "alu", "size": "M", "gears": "single", "brakes": "disc-hyd", "motor": "hub", "rack": "yes"}
    gold = Rule.from_dict({"id": "GOLD-BIKES", "version": 1, "kind": "percent", "value": "5", "segments": ["gold"],
                           "items": ["bicycle"], "stacking": "stackable", "precedence": 10, "valid_from": "2026-01-01"})
    fr = TaxRate.from_dict({"country": "FR", "tax_category": "standard", "rate": "0.20", "valid_from": "2026-01-01"})
    book = PriceBook(rules=[gold], tax_rates=[fr])
    p = price_configured_line(book, model, cfg, qty=3, party=Party("C1", segments=("gold",)), on=D, country="FR",
                              compiled=compiled)
    assert [n for _, n, _ in p.options.lines] == ["bicycle", "brakes=disc-hyd", "motor=hub", "rack=yes", "e-bike-commuter-bundle"]
    assert str(p.options.unit.amount) == "1558.90"
    w = p.waterfall
    # 3 x 1558.90 = 4676.70; 5 % gold = 233.835 -> 233.84 (half up); net 4442.86; VAT 20 % = 888.572 -> 888.57
    assert str(w.list_amount.amount) == "4676.70"
    assert [(a.rule, str(a.amount.amount)) for a in w.adjustments] == [("GOLD-BIKES@1", "-233.84")]
    assert (str(w.net.amount), str(w.tax.amount), str(w.total.amount)) == ("4442.86", "888.57", "5331.43")
    # a customer outside the segment pays the list price
    plain = price_configured_line(book, model, cfg, qty=3, party=Party("C2"), on=D, country="FR", compiled=compiled)
    assert plain.waterfall.adjustments == () and str(plain.waterfall.net.amount) == "4676.70"
    with pytest.raises(ValidationError, match="ebike-needs-disc"):
        price_configured_line(book, model, dict(cfg, brakes="rim"), party=Party("C1"), on=D, country="FR")
