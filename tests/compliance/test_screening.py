"""Trade compliance stories: the sample denied-party list and embargoes, the stated threshold, and refusals
of bad list files with file/row/field/value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from compliance import (
    THRESHOLD,
    DeniedParty,
    ScreeningListError,
    ScreeningLists,
    ScreeningResult,
    load_denied_parties,
    load_embargoes,
    load_lists,
    normalise,
    screen_order,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing" / "examples"
LISTS = load_lists(EXAMPLES / "denied_parties.csv", EXAMPLES / "embargoes.csv")


def test_normalisation_drops_accents_case_punctuation_and_legal_forms():
    assert normalise("Oceanic Shadow Trading L.L.C.") == "oceanic shadow trading"
    assert normalise("  Müller & Söhne GmbH ") == "muller and sohne"
    assert normalise("NORTHWIND-AVIONICS, Ltd.") == "northwind avionics"
    assert normalise("The Straße Co") == "strasse"


def test_a_customer_named_like_a_listed_party_is_a_hit_naming_entry_and_score():
    r = screen_order(LISTS, customer_name="Oceanic Shadow Trading LLC", ship_to_country="AE")
    assert r.hold and [(h.kind, h.subject, h.entry, h.list, h.score) for h in r.hits] == [
        ("denied_party", "customer", "DP-001", "Sample Consolidated List", 100.0)]
    assert r.hits[0].reason == "diversion of controlled goods"


def test_a_misspelt_or_reordered_name_still_matches_above_the_threshold():
    # one letter wrong: token_sort_ratio("oceanik shadow trading", "oceanic shadow trading") = 95.45
    (h,) = LISTS.screen_name("Oceanik Shadow Trading", subject="customer")
    assert h.entry == "DP-001" and h.score == pytest.approx(95.45, abs=0.01)
    # word order does not matter; the alias 'I. P. Sidorov' is listed too
    assert LISTS.screen_name("Sidorov, Ivan Petrovich", subject="customer")[0].entry == "DP-002"
    assert LISTS.screen_name("IP Sidorov", subject="customer")[0].matched == "I. P. Sidorov"


def test_below_the_threshold_is_no_hit_and_the_threshold_is_inclusive():
    assert THRESHOLD == 90.0
    # 'ocean trading' vs 'oceanic shadow trading' scores about 74: no hit
    assert LISTS.screen_name("Ocean Trading", subject="customer") == ()
    assert LISTS.screen_name("Northwind Traders", subject="customer") == ()
    # a score exactly at the threshold is a hit
    lists = ScreeningLists([DeniedParty("X", "L", "abcdefghij")])
    assert fuzz.token_sort_ratio("abcdefghix", "abcdefghij") == 90.0
    assert lists.screen_name("abcdefghix", subject="customer")[0].score == 90.0
    assert lists.screen_name("abcdefghix", subject="customer", threshold=90.01) == ()


def test_the_ship_to_is_screened_by_name_and_by_address_in_the_same_country():
    r = screen_order(LISTS, customer_name="Blameless Buyer", ship_to_name="Northwind Avionics", ship_to_country="CN",
                     ship_to_address="88 Airport Ave. Shenzhen")
    kinds = [(h.kind, h.subject, h.entry) for h in r.hits]
    assert ("denied_party", "ship_to", "DP-003") in kinds
    assert any(k == "denied_address" and e == "DP-003" for k, _, e in kinds)
    # the same address in another country is not a hit
    r = screen_order(LISTS, customer_name="Blameless Buyer", ship_to_country="DE", ship_to_address="88 Airport Avenue Shenzhen")
    assert not r.hold


def test_embargo_on_every_item_for_a_destination_and_a_region():
    r = screen_order(LISTS, customer_name="Anyone", ship_to_country="IR", lines=[("1", None)])
    assert [(h.kind, h.subject, h.entry) for h in r.hits] == [("embargo", "ship_to", "Sample Embargo:IR:*")]
    # Crimea (UA-43) is embargoed, the rest of Ukraine is not
    assert screen_order(LISTS, customer_name="Anyone", ship_to_country="UA", ship_to_region="UA-43").hold
    assert not screen_order(LISTS, customer_name="Anyone", ship_to_country="UA", ship_to_region="UA-30").hold


def test_embargo_per_item_class_holds_only_those_lines():
    r = screen_order(LISTS, customer_name="Anyone", ship_to_country="RU", lines=[("1", "EAR99"), ("2", "5A002"), ("3", None)])
    assert [(h.subject, h.matched, h.score) for h in r.hits] == [("line 2", "5A002", 100.0)]
    assert not screen_order(LISTS, customer_name="Anyone", ship_to_country="DE", lines=[("1", "5A002")]).hold


def test_the_result_round_trips():
    r = screen_order(LISTS, customer_name="Oceanic Shadow Trading", ship_to_country="RU", lines=[("2", "5A002")])
    assert ScreeningResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r and r.to_dict()["hold"] is True


@pytest.mark.parametrize(("text", "row", "field", "value"), [
    ("entry_id,list,name\nA,L,Alpha\nA,L,Beta\n", 2, "entry_id", "A"),
    ("entry_id,list,name\nA,L,\n", 1, "name", ""),
    ("entry_id,list,name,country\nA,L,Alpha,Germany\n", 1, "country", "Germany"),
    ("entry_id,list,name\nA,L,Ltd.\n", 1, "name", "Ltd."),
    ("entry_id,list,nom\nA,L,Alpha\n", None, "nom", "nom"),
])
def test_bad_denied_party_files_are_refused(tmp_path, text, row, field, value):
    p = tmp_path / "denied.csv"
    p.write_text(text)
    with pytest.raises(ScreeningListError) as e:
        load_denied_parties(p)
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("denied.csv", row, field, value)


def test_bad_embargo_files_are_refused(tmp_path):
    p = tmp_path / "emb.csv"
    p.write_text("country,region,item_class,list\nKP,,*,L\nXYZ,,*,L\n")
    with pytest.raises(ScreeningListError) as e:
        load_embargoes(p)
    assert (e.value.row, e.value.field, e.value.value) == (2, "country", "XYZ")
    p.write_text("country,region,item_class,list\nKP,,,L\n")
    with pytest.raises(ScreeningListError) as e:
        load_embargoes(p)
    assert (e.value.row, e.value.field) == (1, "item_class")
