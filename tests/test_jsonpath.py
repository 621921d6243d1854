"""The discover filter language (mocks/cds/jsonpath.py, RFC 9535 through python-jsonpath): every
operator, nesting, missing paths, the UBC examples' expressions and targets, each UBC extension,
and syntax errors that say where and what."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mocks.cds.jsonpath import (
    MAX_NESTING,
    FilterSyntaxError,
    compile_filter,
    compile_query,
    select,
    to_literal,
)

CCS2_60: dict[str, Any] = {
    "beckn:id": "IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A*CCS2-A",
    "beckn:isActive": True,
    "beckn:rating": {"beckn:ratingValue": 4.5, "beckn:ratingCount": 128},
    "beckn:provider": {"beckn:id": "ecopower-charging"},
    "beckn:availabilityWindow": [
        {"schema:startTime": "2026-01-04T06:00:00Z", "schema:endTime": "2026-01-04T10:00:00Z"},
        {"schema:startTime": "2026-01-04T14:00:00Z", "schema:endTime": "2026-01-04T22:00:00Z"},
    ],
    "beckn:itemAttributes": {
        "connectorType": "CCS2",
        "maxPowerKW": 60,
        "minPowerKW": 5.5,
        "vehicleType": "4-WHEELER",
        "reservationSupported": True,
        "roamingNetwork": None,
        "qrIdentifier": "https://charge.ecopower.in/cs01-ccs2",
        "amenityFeature": ["RESTROOM", "WI-FI"],
        "chargingStation": {"serviceLocation": {"geo": {"type": "Point",
                                                        "coordinates": [77.5946, 12.9716]}}},
    },
}
TYPE2_22: dict[str, Any] = {
    "beckn:id": "IND*powergrid-indiranagar*cs-03*IN*PG*IND*01*TYPE2*A*TYPE2-A",
    "beckn:isActive": False,
    "beckn:provider": {"beckn:id": "powergrid-indiranagar"},
    "beckn:availabilityWindow": [
        {"schema:startTime": "2026-01-05T08:00:00Z", "schema:endTime": "2026-01-05T20:00:00Z"},
    ],
    "beckn:itemAttributes": {"connectorType": "Type2", "maxPowerKW": 22, "vehicleType": "4-WHEELER",
                             "reservationSupported": False},
}
ITEMS = [CCS2_60, TYPE2_22]


def ids(expression: str, items: list[Any] = ITEMS) -> list[str]:
    return [item["beckn:id"].split("*")[-1] for item in select(expression, items)]


def where(condition: str) -> str:
    return f"$[?({condition})]"


# --- comparisons ------------------------------------------------------------------------------


@pytest.mark.parametrize(("condition", "expected"), [
    ("@.beckn:itemAttributes.connectorType == 'CCS2'", ["CCS2-A"]),
    ("@.beckn:itemAttributes.connectorType != 'CCS2'", ["TYPE2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW > 22", ["CCS2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW >= 22", ["CCS2-A", "TYPE2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW < 60", ["TYPE2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW <= 60.0", ["CCS2-A", "TYPE2-A"]),
    ("@.beckn:itemAttributes.minPowerKW == 5.5", ["CCS2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW == 6e1", ["CCS2-A"]),
    ("@.beckn:rating.beckn:ratingValue >= 4", ["CCS2-A"]),
    ("@.beckn:isActive == true", ["CCS2-A"]),
    ("@.beckn:isActive == false", ["TYPE2-A"]),
    ("@.beckn:itemAttributes.roamingNetwork == null", ["CCS2-A"]),
    ("'CCS2' == @.beckn:itemAttributes.connectorType", ["CCS2-A"]),
    ("@.beckn:provider.beckn:id == 'ecopower-charging'", ["CCS2-A"]),
    ('@["beckn:provider"]["beckn:id"] == "powergrid-indiranagar"', ["TYPE2-A"]),
    ("@.beckn:itemAttributes.amenityFeature[1] == 'WI-FI'", ["CCS2-A"]),
    ("@.beckn:itemAttributes.amenityFeature[-1] == 'WI-FI'", ["CCS2-A"]),
    # RFC 9535 compares single values only; "any element equals" is a nested filter.
    ("@.beckn:itemAttributes.amenityFeature[?(@ == 'RESTROOM')]", ["CCS2-A"]),
    ("@.beckn:itemAttributes.maxPowerKW > @.beckn:itemAttributes.minPowerKW", ["CCS2-A"]),
])
def test_each_comparison_operator_selects_the_expected_items(condition: str,
                                                               expected: list[str]) -> None:
    assert ids(where(condition)) == expected


def test_iso_timestamps_compare_chronologically_as_strings() -> None:
    assert ids(where("@.beckn:availabilityWindow[0].schema:startTime < "
                     "'2026-01-04T07:00:00Z'")) == ["CCS2-A"]
    assert ids(where("@.beckn:availabilityWindow[0].schema:endTime >= "
                     "'2026-01-05T20:00:00Z'")) == ["TYPE2-A"]


def test_values_of_different_types_are_never_ordered_and_never_equal() -> None:
    assert ids(where("@.beckn:itemAttributes.maxPowerKW < '100'")) == []
    assert ids(where("@.beckn:itemAttributes.maxPowerKW == '60'")) == []
    assert ids(where("@.beckn:isActive == 1")) == []  # a boolean is not a number
    assert ids(where("@.beckn:isActive < true")) == []
    assert ids(where("@.beckn:isActive <= true")) == ["CCS2-A"]  # <= is < or ==
    assert ids(where("@.beckn:itemAttributes.maxPowerKW != '60'")) == ["CCS2-A", "TYPE2-A"]


def test_objects_and_arrays_compare_by_deep_equality() -> None:
    item = {"a": {"b": [1, {"c": True}]}, "n": 1}
    assert compile_filter("$[?(@.a.b[1] == @.a.b[1])]")(item)
    assert not compile_filter("$[?(@.a.b[0] == @.a.b[1])]")(item)
    assert not compile_filter("$[?(@.a.b[1].c == @.n)]")(item)  # true is not 1
    # ... nor inside arrays and objects (the library alone would say [1] == [true]).
    assert not compile_filter("$[?(@.x == @.y)]")({"x": [1, {"k": 0}], "y": [True, {"k": 0}]})
    assert not compile_filter("$[?(@.x == @.y)]")({"x": {"k": 0}, "y": {"k": False}})
    assert compile_filter("$[?(@.x != @.y)]")({"x": [1], "y": [True]})
    assert compile_filter("$[?(@.x >= @.y)]")({"x": {"k": 1.0}, "y": {"k": 1}})


def test_booleans_are_not_ordered() -> None:
    # RFC 9535 orders numbers and strings only; Python alone would say false < true.
    flags = [{"f": False, "t": True}]
    for condition in ("@.f < @.t", "@.t > @.f", "@.f <= @.t", "@.f < 1", "@.t > 0"):
        assert select(where(condition), flags) == [], condition
    assert select(where("@.t >= @.t"), flags) == flags  # >= is > or ==


# --- logic and nesting ------------------------------------------------------------------------


def test_and_or_not_and_parentheses_combine_with_the_usual_precedence() -> None:
    ccs2 = "@.beckn:itemAttributes.connectorType == 'CCS2'"
    type2 = "@.beckn:itemAttributes.connectorType == 'Type2'"
    fast = "@.beckn:itemAttributes.maxPowerKW >= 50"
    assert ids(where(f"{ccs2} && {fast}")) == ["CCS2-A"]
    assert ids(where(f"{type2} && {fast}")) == []
    assert ids(where(f"{type2} || {fast}")) == ["CCS2-A", "TYPE2-A"]
    assert ids(where(f"!({ccs2})")) == ["TYPE2-A"]
    assert ids(where(f"!!({ccs2})")) == ["CCS2-A"]
    assert ids(where(f"{type2} && {fast} || {ccs2}")) == ["CCS2-A"]  # && binds tighter
    assert ids(where(f"{type2} && ({fast} || {ccs2})")) == []
    assert ids(where(f"(({type2})) || (({ccs2}) && !{fast})")) == ["TYPE2-A"]


def test_a_bare_path_tests_existence_and_negation_tests_absence() -> None:
    assert ids(where("@.beckn:rating")) == ["CCS2-A"]
    assert ids(where("!@.beckn:rating")) == ["TYPE2-A"]
    assert ids(where("@.beckn:itemAttributes.roamingNetwork")) == ["CCS2-A"]  # null exists
    assert ids(where("@.beckn:itemAttributes.reservationSupported")) == ["CCS2-A", "TYPE2-A"]


def test_a_nested_filter_is_true_when_any_element_matches() -> None:
    overlaps_morning = ("@.beckn:availabilityWindow[?(@.schema:startTime <= "
                        "'2026-01-04T09:00:00Z' && @.schema:endTime >= '2026-01-04T08:00:00Z')]")
    overlaps_noon = ("@.beckn:availabilityWindow[?(@.schema:startTime <= "
                     "'2026-01-04T13:00:00Z' && @.schema:endTime >= '2026-01-04T11:00:00Z')]")
    assert ids(where(overlaps_morning)) == ["CCS2-A"]
    assert ids(where(overlaps_noon)) == []  # the gap between the two windows
    assert ids(where(f"!{overlaps_noon}")) == ["CCS2-A", "TYPE2-A"]
    nested_twice = "@.beckn:itemAttributes[?(@.serviceLocation[?(@.type == 'Point')])]"
    assert ids(where(nested_twice)) == ["CCS2-A"]  # filters over object members too


def test_the_official_time_window_example_selects_only_the_overlapping_ccs2_item() -> None:
    expression = (
        "$[?(@.beckn:itemAttributes.vehicleType == '4-WHEELER' && "
        "@.beckn:itemAttributes.connectorType == 'CCS2' && "
        "@.beckn:availabilityWindow[?(@.schema:startTime <= '2026-01-04T20:00:00Z' && "
        "@.schema:endTime >= '2026-01-04T08:00:00Z')])]")
    assert ids(expression) == ["CCS2-A"]


# --- missing paths and odd input --------------------------------------------------------------


@pytest.mark.parametrize("condition", [
    "@.beckn:fulfillment.beckn:deliveryAttributes.vehicle.make == 'Tata'",
    "@.nothing < 5",
    "@.nothing >= 5",
    "@.nothing == null",
    "@.beckn:itemAttributes.connectorType.deeper == 'CCS2'",  # a string has no members
    "@.beckn:itemAttributes.amenityFeature[7] == 'WI-FI'",
    "@.beckn:itemAttributes.maxPowerKW[0] == 60",
    "@.nothing < @.nothing",
])
def test_a_missing_path_makes_its_comparison_false(condition: str) -> None:
    assert ids(where(condition)) == []


@pytest.mark.parametrize("condition", [
    "@.beckn:fulfillment.beckn:deliveryAttributes.vehicle.make != 'Tata'",
    "@.nothing == @.nothing",
    "@.nothing <= @.nothing",
])
def test_nothing_is_unequal_to_a_value_and_equal_to_nothing(condition: str) -> None:
    # RFC 9535 §2.3.5.2.2: == is true when both sides select nothing; != is its negation.
    assert ids(where(condition)) == ["CCS2-A", "TYPE2-A"]


@pytest.mark.parametrize("value", [None, 3, "text", [], [1, 2], {}, {"a": [None, {"b": 1}]}])
def test_a_compiled_filter_never_raises_on_any_json(value: Any) -> None:
    predicate = compile_filter(
        "$[?(@.a[?(@.b >= 1)] || @.a[?(@.b)] && !@.c[0].d || @[0] == 1 || @[?(@ == 'text')]"
        " || @..deep || length(@.a) > 1)]")
    assert predicate(value) in (True, False)


def test_strings_take_json_escapes_and_to_literal_quotes_any_value() -> None:
    item = {"name": "EcoPower's \"hub\"\n\u00e9"}
    assert compile_filter("$[?(@.name == 'EcoPower\\'s \"hub\"\\n\\u00e9')]")(item)
    assert compile_filter("$[?(@.name == \"EcoPower's \\\"hub\\\"\\n\u00e9\")]")(item)
    assert compile_filter(f"$[?(@.name == {to_literal(item['name'])})]")(item)
    assert compile_filter(f"$[?(@.n == {to_literal(2.5)} && @.b == {to_literal(None)})]")(
        {"n": 2.5, "b": None})


def test_whitespace_is_allowed_between_tokens_and_parentheses_are_optional() -> None:
    spaced = "$ [ ? ( @.beckn:itemAttributes.maxPowerKW   >=  50 ) ]"
    assert ids(spaced) == ["CCS2-A"]
    assert ids("$[?@.beckn:itemAttributes.maxPowerKW >= 50]") == ["CCS2-A"]
    with pytest.raises(FilterSyntaxError, match="leading whitespace"):  # RFC 9535: none
        compile_filter(f"  {spaced}")


def test_filters_are_compiled_once() -> None:
    expression = where("@.beckn:isActive == true")
    assert compile_filter(expression) is compile_filter(expression)


# --- spatial targets --------------------------------------------------------------------------


def test_target_queries_read_the_examples_pointers() -> None:
    geo = CCS2_60["beckn:itemAttributes"]["chargingStation"]["serviceLocation"]["geo"]
    dotted = compile_query("$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
                           dotted_keys=True)
    assert dotted(CCS2_60) == [geo]
    assert dotted(TYPE2_22) == []
    literal = compile_query("$['beckn:itemAttributes.chargingStation.serviceLocation.geo']")
    assert literal(CCS2_60) == []  # without dotted_keys the key is taken literally
    sites = {"beckn:availableAt": [{"geo": {"type": "Point", "coordinates": [1, 2]}},
                                   {"address": "no geo"}, {"geo": {"type": "Point"}}]}
    assert compile_query("$['beckn:availableAt'][*]['geo']")(sites) == [
        {"type": "Point", "coordinates": [1, 2]}, {"type": "Point"}]
    assert compile_query("$.beckn:availableAt[0].geo.coordinates[1]")(sites) == [2]
    assert compile_query("$")(sites) == [sites]
    assert compile_query("$.geo")("a string document") == []  # never parsed as JSON text
    assert compile_query("$")("[1]") == ["[1]"]


# --- the UBC extensions and the filter's shape ------------------------------------------------


def test_member_names_with_a_colon_may_be_written_in_dot_shorthand() -> None:
    for dotted, bracketed in [
        ("@.beckn:itemAttributes.connectorType == 'CCS2'",
         "@['beckn:itemAttributes']['connectorType'] == 'CCS2'"),
        ("@.beckn:provider.beckn:id == 'ecopower-charging'",
         "@['beckn:provider']['beckn:id'] == 'ecopower-charging'"),
        ("@.beckn:availabilityWindow[?(@.schema:endTime > '2026-01-05T19:00:00Z')]",
         "@['beckn:availabilityWindow'][?(@['schema:endTime'] > '2026-01-05T19:00:00Z')]"),
    ]:
        assert ids(where(dotted)) == ids(where(bracketed)) != [], dotted
    assert compile_query("$..beckn:id")(CCS2_60) == [CCS2_60["beckn:id"], "ecopower-charging"]
    assert ids(where("@['beckn:rating'].beckn:ratingCount > 100")) == ["CCS2-A"]


def test_a_colon_inside_a_string_or_after_a_literal_stays_what_it_was() -> None:
    assert ids(where("@.beckn:itemAttributes.qrIdentifier == "
                     "'https://charge.ecopower.in/cs01-ccs2'")) == ["CCS2-A"]
    with pytest.raises(FilterSyntaxError):  # a colon is still not an operator
        compile_filter(where("@.beckn:isActive == true:false"))


def test_the_harness_own_discover_filters_compile_and_select() -> None:
    # As harness/bpp_story.py writes them (discover_by_qr, discover_ccs2_nearby).
    qr = CCS2_60["beckn:itemAttributes"]["qrIdentifier"]
    assert ids(f"$[?(@.beckn:itemAttributes.qrIdentifier == '{qr}')]") == ["CCS2-A"]
    start, end = "2026-01-04T15:00:00Z", "2026-01-04T15:30:00Z"
    nearby = ("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && "
              f"@.beckn:availabilityWindow[?(@.schema:startTime <= '{end}' && "
              f"@.schema:endTime >= '{start}')])]")
    assert ids(nearby) == ["CCS2-A"]
    assert ids(nearby.replace("T15:", "T12:")) == []  # between the two windows


EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "ubc-examples" / "01_discover"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_official_discover_example_compiles(example: str) -> None:
    message = json.loads((EXAMPLES / example).read_text())["message"]
    if "filters" in message:
        assert compile_filter(message["filters"]["expression"]).select(ITEMS) is not None
    for constraint in message.get("spatial", []):
        targets = constraint["targets"]
        for target in [targets] if isinstance(targets, str) else targets:
            compile_query(target, dotted_keys=True)(CCS2_60)


def test_the_root_inside_a_filter_is_the_list_of_items() -> None:
    # RFC 9535 allows `$` inside a filter; for discover it is the catalog's item list.
    strongest = "$[?(@.beckn:itemAttributes.maxPowerKW == $[0].beckn:itemAttributes.maxPowerKW)]"
    assert ids(strongest) == ["CCS2-A"]
    assert ids(strongest, [TYPE2_22, CCS2_60]) == ["TYPE2-A"]
    assert ids("$[?length($) == 2]") == ["CCS2-A", "TYPE2-A"]


def test_several_filter_selectors_keep_each_item_once_and_in_order() -> None:
    either = "$[?@.beckn:isActive == false, ?@.beckn:rating, ?@.beckn:isActive == false]"
    assert ids(either) == ["CCS2-A", "TYPE2-A"]


@pytest.mark.parametrize("expression", ["$", "$.a", "$[0]", "$[*]", "$..[?@.a]", "$[?@.a][0]",
                                        "$[?@.a, 0]"])
def test_a_discover_filter_must_select_items_with_filter_selectors(expression: str) -> None:
    with pytest.raises(FilterSyntaxError, match=r"write it as \$\[\?\(\.\.\.\)\]"):
        compile_filter(expression)


def test_an_item_the_library_gives_up_on_is_not_selected_and_spares_the_others() -> None:
    deep: Any = {"x": 1}
    for _ in range(300):  # deeper than the library's descendant-segment bound
        deep = {"d": deep}
    shallow = {"d": {"x": 1}}
    assert select("$[?@..x]", [deep, shallow]) == [shallow]
    assert not compile_filter("$[?@..x]")(deep)
    assert compile_query("$..x")(deep) == []


# --- syntax errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "position", "problem"), [
    ("@.a == 1", 0, "expected '$', found '@'"),
    ("$.a", 1, "write it as $[?(...)]"),
    ("$[(@.a == 1)]", 2, "unexpected token in bracketed selection '('"),
    ("$[?(@.a == )]", 11, "unexpected ')'"),
    ("$[?(@.a == 'x')", 15, "unexpected end of segment"),
    ("$[?(@.a == 'x'))]", 15, "expected ',', found ')'"),
    ("$[?(@.a = 1)]", 8, "unexpected token '='"),
    ("$[?(@.a === 1)]", 10, "unexpected token '='"),
    ("$[?(@.a == 1 & @.b == 2)]", 13, "unexpected token '&'"),
    ("$[?(@.a == 1 &&)]", 15, "unexpected ')'"),
    ("$[?(@.a == 'x)]", 11, "unexpected token \"'\""),
    ("$[?(@.a == 'x\\q')]", 12, "unknown escape sequence"),
    ("$[?('x')]", 2, "literals outside of function expressions must be compared"),
    ("$[?(42)]", 2, "literals outside of function expressions must be compared"),
    ("$[?(@..a == 1)]", 9, "non-singular query is not comparable"),
    ("$[?(@.a[*] == 1)]", 11, "non-singular query is not comparable"),
    ("$[?(@. == 1)]", 6, "expected a shorthand selector"),
    ("$[?(@.a[ == 1)]", 9, "unexpected token in bracketed selection '=='"),
    ("$[?(@.a[0 == 1)]", 10, "expected ',', found '=='"),
    ("$[?(@.a == tru)]", 11, "unexpected 'tru'"),
    ("$[?(@.a == 1)] trailing", 15, "unexpected token 'trailing'"),
    ("$[?(nope(@.a))]", 4, "function 'nope' is not defined"),
    ("", 0, "expected '$', found the end of the expression"),
])
def test_syntax_errors_give_the_position_and_what_is_wrong(expression: str, position: int,
                                                           problem: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(expression)
    error = caught.value
    assert (error.position, error.expression) == (position, expression)
    assert problem in error.problem
    assert str(error) == f"at position {position}: {error.problem}"
    assert "TOKEN_" not in error.problem  # the library's token names are said as written


def test_nesting_is_bounded_instead_of_exhausting_the_stack() -> None:
    deep = "$[?(" + "(" * (MAX_NESTING + 5) + "@.a" + ")" * (MAX_NESTING + 5) + ")]"
    with pytest.raises(FilterSyntaxError, match="levels of nesting"):
        compile_filter(deep)
    negations = "$[?(" + "!" * 10_000 + "@.a)]"
    with pytest.raises(FilterSyntaxError, match="levels of nesting"):
        compile_filter(negations)
    fine = "$[?(" + "(" * (MAX_NESTING - 2) + "@.a" + ")" * (MAX_NESTING - 2) + ")]"
    assert compile_filter(fine)({"a": 1})


def test_target_query_errors_are_syntax_errors_too() -> None:
    with pytest.raises(FilterSyntaxError, match="expected '\\$'"):
        compile_query("beckn:availableAt")
    with pytest.raises(FilterSyntaxError, match="unexpected token 'x'"):
        compile_query("$['beckn:availableAt'] x")
