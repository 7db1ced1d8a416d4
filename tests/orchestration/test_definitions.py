"""Bad process definitions are refused naming the step and the field; good ones load and assign."""

from __future__ import annotations

import pytest

from orchestration import Catalog, load_definition, parse_assignment, parse_definition, ready_catalog
from orchestration.definitions import PROCESSES_DIR, parse_duration
from orchestration.schemas import kinds
from promessa.errors import ConflictError, NotFoundError, ValidationError


def defn(*steps, **top):
    return {"process": "p", "version": 1, "steps": list(steps), **top}


OK = {"name": "a", "system": "wms", "duration": "1h", "completion": {"event": "done"}}


def refused(data, field, *, systems=None):
    with pytest.raises(ValidationError) as e:
        parse_definition(data, **({"systems": systems} if systems else {}))
    assert e.value.field == field, str(e.value)
    return e.value


@pytest.mark.parametrize("bad, field", [
    (defn({"name": "a", "system": "wms", "duration": "1h"}), "steps[0](a).completion"),
    (defn(OK, {"name": "b", "system": "wms", "duration": "1h", "completion": {}}), "steps[1](b).completion"),
    (defn({**OK, "system": "sap"}), "steps[0](a).system"),
    (defn({**OK, "colour": "red"}), "steps[0](a).colour"),
    (defn({**OK, "completion": {"event": "x", "timer": "1h"}}), "steps[0](a).completion"),
    (defn({**OK, "completion": {"evnt": "x"}}), "steps[0](a).completion.evnt"),
    (defn({**OK, "duration": "soon"}), "steps[0](a).duration"),
    (defn({**OK, "next": "zz"}), "steps[0](a).next"),
    (defn({**OK, "when": {"mood": "happy"}}), "steps[0](a).when.mood"),
    (defn({**OK, "retry": {"events": ["rej"]}}), "steps[0](a).retry"),      # no request to send again
    (defn({**OK, "on_complete": {"effects": ["teleport"]}}), "steps[0](a).on_complete.effects"),
    (defn(OK, {**OK, "name": "b", "on_change": {"goto": "c"}}, {**OK, "name": "c"}), "steps[1](b).on_change.goto"),
    (defn(OK, OK), "steps[1].name"),
    ({"process": "p", "version": 0, "steps": [OK]}, "definition.version"),
    ({"process": "p", "version": 1, "steps": [OK], "owner": "me"}, "definition.owner"),
])
def test_bad_definitions_are_refused_with_step_and_field(bad, field):
    refused(bad, field)


def test_a_cycle_without_exit_is_refused_naming_the_step():
    """a -> b -> a with no branch out: neither can ever reach the end."""
    e = refused(defn({**OK, "next": "b"}, {**OK, "name": "b", "next": "a"}, {**OK, "name": "c"}), "steps[0](a).next")
    assert "cycle without exit" in e.message


def test_a_cycle_with_an_exit_is_accepted():
    """b loops back to a unless the order is b2b: the loop has a way out."""
    d = parse_definition(defn(OK, {**OK, "name": "b", "next": "a", "branches": [{"when": {"channel": "b2b"}, "goto": "c"}]},
                              {**OK, "name": "c"}))
    assert d.next_after(d.step("b"), {"channel": "b2b"}) == "c" and d.next_after(d.step("b"), {"channel": "web"}) == "a"


def test_unknown_system_with_own_list_and_yaml_text():
    e = refused("process: p\nversion: 1\nsteps:\n  - {name: a, system: wms, duration: 1h, completion: {manual: true}}\n",
                "steps[0](a).system", systems=["oms"])
    assert e.value == "wms"


def test_yaml_on_is_not_a_trap_and_durations_parse():
    assert [parse_duration(x, field="d") for x in ("30s", "5m", "2h", "1d", 90)] == [30, 300, 7200, 86400, 90]
    with pytest.raises(ValidationError):
        parse_duration(-1, field="d")


def test_ready_definitions_load_and_every_message_kind_has_a_schema():
    cat = ready_catalog()
    assert cat.names() == ["back-to-back", "drop-ship", "internal-transfer", "ship-from-node"]
    assert len(cat.get("ship-from-node").steps) == 6
    used = set()
    for n in cat.names():
        for s in cat.get(n).steps:
            used |= {x for x in (s.request, s.on_change and s.on_change.compensate, s.on_cancel and s.on_cancel.compensate) if x}
    assert used <= set(kinds())
    assert {"order.status", "jeopardy.alert", "email.notify"} <= set(kinds())


@pytest.mark.parametrize("attrs, process", [
    ({"order_type": "transfer"}, "internal-transfer"),
    ({"item_kind": "dropship", "channel": "web"}, "drop-ship"),
    ({"configured": True}, "back-to-back"),
    ({"item_kind": "made_to_order"}, "back-to-back"),
    ({"channel": "web", "ship_method": "ground", "customer_segment": "gold"}, "ship-from-node"),
])
def test_assignment_rules_choose_the_process(attrs, process):
    assert ready_catalog().assign(attrs).name == process


def test_assignment_rules_are_validated():
    with pytest.raises(ValidationError) as e:
        parse_assignment([{"when": {"colour": "red"}, "process": "x"}])
    assert e.value.field == "assignment[0].when.colour"
    cat = Catalog()
    with pytest.raises(ValidationError) as e:
        cat.set_rules(parse_assignment([{"process": "nowhere"}]))
    assert e.value.field == "assignment[0].process"
    cat.deploy(load_definition(PROCESSES_DIR / "drop-ship.yaml"))
    cat.set_rules(parse_assignment([{"when": {"channel": "edi"}, "process": "drop-ship"}]))
    with pytest.raises(NotFoundError):
        cat.assign({"channel": "web"})


def test_versions_only_go_up():
    cat = Catalog()
    d1 = load_definition(PROCESSES_DIR / "drop-ship.yaml")
    cat.deploy(d1)
    with pytest.raises(ConflictError):
        cat.deploy(d1)
    assert cat.deploy(d1, replace_same=True) is d1
