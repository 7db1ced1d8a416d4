"""Programs as data: the example files load the same from YAML and CSV; bad programs are refused with field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from channel import ProgramKind, load_programs, parse_programs
from channel.programs import Catalogue
from promessa.errors import ValidationError

EXAMPLES = Path(__file__).resolve().parents[2] / "channel" / "examples"
BASE = {"program": "P1", "supplier": "ACME", "currency": "EUR", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}


def test_yaml_and_csv_examples_describe_the_same_programs(tmp_path):
    y = load_programs(EXAMPLES / "programs.yaml", catalogue=Catalogue(["W1", "W2", "G7"], ["widgets", "gadgets"], ["Zed", "Kay"]))
    c = load_programs(EXAMPLES / "programs.csv")
    assert [p.kind for p in y] == [ProgramKind.SHIP_AND_DEBIT, ProgramKind.VOLUME_REBATE, ProgramKind.ALLOWANCE,
                                   ProgramKind.PRICE_PROTECTION]
    assert [p.to_dict() for p in y] == [p.to_dict() for p in c]
    j = tmp_path / "p.json"
    import json

    j.write_text(json.dumps([p.to_dict() for p in y]))
    assert [p.to_dict() for p in load_programs(j)] == [p.to_dict() for p in y]
    sd = y[0]
    assert sd.customers == {"BIGCO"} and str(sd.special_cost.amount) == "7.00"
    assert sd.terms.claim_window_days == 60 and sd.terms.required_detail[-1] == "ship_date"


@pytest.mark.parametrize("extra, field, value", [
    ({"kind": "volume_rebate", "tiers": [{"from": 0, "to": 100, "rate": "0"}, {"from": 90, "rate": "1"}]},
     "programs[0].tiers[1].from", "90"),
    ({"kind": "volume_rebate", "tiers": [{"from": 0, "rate": "0"}, {"from": 90, "rate": "1"}]}, "programs[0].tiers[1].from", "90"),
    ({"kind": "volume_rebate", "tiers": "0-100:1|120-:2"}, "programs[0].tiers[1].from", "120"),
    ({"kind": "allowance", "rate": "-0.10"}, "programs[0].rate", "-0.10"),
    ({"kind": "volume_rebate", "tiers": [{"from": 0, "rate": "-1"}]}, "programs[0].tiers[0].rate", "-1"),
    ({"kind": "allowance", "rate": "1", "items": ["W1", "NOPE"]}, "programs[0].items", "NOPE"),
    ({"kind": "allowance", "rate": "1", "rate_kind": "percent", "rate_": 0, "items": ["W1"], "valid_to": "2025-12-01"},
     "programs[0].valid_to", "2025-12-01"),
    ({"kind": "allowance", "rate": "120", "rate_kind": "percent"}, "programs[0].rate", "120"),
    ({"kind": "ship_and_debit", "special_cost": "7"}, "programs[0].customers", None),
    ({"kind": "ship_and_debit", "special_cost": "-7", "customers": ["X"]}, "programs[0].special_cost", "-7"),
    ({"kind": "price_protection", "old_cost": "8", "new_cost": "9"}, "programs[0].new_cost", "9"),
    ({"kind": "rebate"}, "programs[0].kind", "rebate"),
    ({"kind": "allowance", "rate": "1", "terms": {"required_detail": ["order", "invoice"]}},
     "programs[0].terms.required_detail", "invoice"),
    ({"kind": "allowance", "rate": "1", "currency": "EURO"}, "programs[0].currency", "EURO"),
])
def test_bad_programs_are_refused_with_field_and_value(extra, field, value):
    with pytest.raises(ValidationError) as e:
        parse_programs([{**BASE, **extra}], catalogue=Catalogue(["W1", "W2"]))
    assert (e.value.field, e.value.value) == (field, value)
    assert field in str(e.value)


def test_duplicate_program_ids_are_refused():
    with pytest.raises(ValidationError, match="duplicate") as e:
        parse_programs([{**BASE, "kind": "allowance", "rate": "1"}, {**BASE, "kind": "allowance", "rate": "2"}])
    assert e.value.field == "programs[1].program"


def test_csv_row_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("program,supplier,kind,currency,valid_from,valid_to,rate\nP1,ACME,allowance,EUR,2026-01-01,2026-02-01,-1\n")
    with pytest.raises(ValidationError) as e:
        load_programs(f)
    assert e.value.field == "bad.csv[0].rate" and e.value.value == "-1"
