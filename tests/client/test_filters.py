"""The shared filter language: every form, every operator, every way to get it wrong."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from skyalert.client.filters import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_NODES,
    MAX_VALUES,
    Filter,
    FilterError,
    compile_filter,
    parse_filter,
)

GRB: dict[str, Any] = {
    "alert_tense": "current",
    "mission": "Swift",
    "instrument": "BAT",
    "trigger_time": "2024-05-01T12:00:00.250Z",
    "ra": 150.0,
    "dec": 30.0,
    "ra_dec_error": 0.05,
    "snr": 8.5,
    "n_events": 12,
    "is_retraction": False,
    "classification": None,
    "instruments": ["BAT", "XRT"],
    "params": {"Packet_Type": 61, "Trig.ID": "1234"},
    "citations": [{"ivorn": "ivo://nasa.gsfc.gcn/SWIFT#BAT_1", "cite": "followup"}],
    "description": "Swift-BAT GRB position",
}


def matches(filter_obj: Any, alert: dict[str, Any] = GRB) -> bool:
    return compile_filter(filter_obj).matches(alert)


def field(path: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": path, "op": op}
    if value is not None or op != "exists":
        node["value"] = value
    return node


# --- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (field("mission", "eq", "Swift"), True),
        (field("mission", "eq", "swift"), False),
        (field("snr", "eq", 8.5), True),
        (field("n_events", "eq", 12.0), True),
        (field("is_retraction", "eq", False), True),
        (field("is_retraction", "eq", 0), False),  # a number never equals a boolean
        (field("n_events", "eq", True), False),
        (field("classification", "eq", None), True),
        (field("instruments", "eq", ["BAT", "XRT"]), True),
        (field("instruments", "eq", ["XRT", "BAT"]), False),
        (field("params", "eq", {"Packet_Type": 61, "Trig.ID": "1234"}), True),
        (field("params", "eq", {"Packet_Type": 61}), False),
        (field("missing", "eq", None), False),
        (field("mission", "ne", "Fermi"), True),
        (field("mission", "ne", "Swift"), False),
        (field("missing", "ne", "test"), True),  # ne is exactly "not eq"
        (field("snr", "gt", 8), True),
        (field("snr", "ge", 8.5), True),
        (field("snr", "lt", 8.5), False),
        (field("snr", "le", 8.5), True),
        (field("mission", "gt", 5), False),  # string vs number: false, not an exception
        (field("is_retraction", "lt", 1), False),  # booleans are not numbers
        (field("mission", "lt", "Zwicky"), True),  # strings compare as strings
        (field("missing", "lt", 5), False),
        (field("trigger_time", "ge", "2024-05-01T12:00:00Z"), True),
        (field("trigger_time", "lt", "2024-05-01T12:00:00.5+00:00"), True),
        (field("trigger_time", "gt", "2024-05-01T13:00:00+02:00"), True),  # = 11:00 UTC
        (field("trigger_time", "lt", "2024-05-01T12:00:00"), False),  # naive means UTC
        (field("mission", "gt", "2024-01-01T00:00:00Z"), False),  # not a time: false
        (field("instrument", "in", ["BAT", "XRT", "UVOT"]), True),
        (field("instrument", "in", ["GBM"]), False),
        (field("n_events", "in", [1, 12.0]), True),
        (field("is_retraction", "in", [0, 1]), False),
        (field("is_retraction", "in", [False]), True),
        (field("classification", "in", [None]), True),
        (field("instruments", "in", ["BAT"]), False),  # a list is not one of the scalars
        (field("missing", "in", ["x"]), False),
        (field("instruments", "contains", "XRT"), True),
        (field("instruments", "contains", "UVOT"), False),
        (field("description", "contains", "GRB"), True),
        (field("description", "contains", 5), False),
        (
            field(
                "citations",
                "contains",
                {"ivorn": "ivo://nasa.gsfc.gcn/SWIFT#BAT_1", "cite": "followup"},
            ),
            True,
        ),
        (field("ra", "exists"), True),
        (field("classification", "exists"), False),  # null counts as absent
        (field("missing", "exists"), False),
        (field("missing", "exists", False), True),
        (field("ra", "exists", False), False),
    ],
)
def test_operators(node: dict[str, Any], expected: bool) -> None:
    assert matches(node) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("params.Packet_Type", 61),
        ("citations.0.cite", "followup"),
        ("/citations/0/cite", "followup"),
        ("/params/Trig.ID", "1234"),  # a key holding a dot: use a JSON pointer
        ("citations.1.cite", None),  # past the end
        ("instruments.x", None),  # a name on a list
        ("mission.0", None),  # an index on a string
        ("params.Packet_Type.deeper", None),
    ],
)
def test_field_paths(path: str, expected: Any) -> None:
    if expected is None:
        assert not matches(field(path, "exists"))
    else:
        assert matches(field(path, "eq", expected))


def test_json_pointer_escapes() -> None:
    alert = {"a/b": {"c~d": 1}}
    assert matches(field("/a~1b/c~0d", "eq", 1), alert)


def test_test_flag_is_a_field() -> None:
    not_test = field("alert_tense", "ne", "test")
    assert matches(not_test, GRB)
    assert not matches(not_test, {**GRB, "alert_tense": "test"})
    assert matches(not_test, {"ra": 1.0})  # no tense at all: not a test


# --- combinators ----------------------------------------------------------------------------


def test_all_any_not() -> None:
    swift = field("mission", "eq", "Swift")
    bright = field("snr", "gt", 10)
    assert not matches({"all": [swift, bright]})
    assert matches({"any": [swift, bright]})
    assert matches({"not": bright})
    assert matches({"all": [swift, {"not": bright}]})
    assert matches({"all": []})  # the empty conjunction: everything
    assert not matches({"any": []})  # the empty disjunction: nothing


def test_no_filter_matches_everything() -> None:
    anything = compile_filter(None)
    assert anything.matches({})
    assert anything.matches(GRB)
    assert anything.to_json() is None


def test_short_circuit_keeps_evaluation_cheap() -> None:
    calls = []

    class Spy(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            calls.append(key)
            return super().get(key, default)

    compiled = compile_filter({"any": [field("a", "eq", 1), field("b", "eq", 2)]})
    assert compiled.matches(Spy(a=1))
    assert calls == ["a"]


def test_compiled_filter_round_trips_as_json() -> None:
    source = {
        "all": [
            {"cone": {"ra": 150, "dec": 30, "radius": 1}},
            {"not": field("alert_tense", "eq", "test")},
            field("ra", "exists"),
            field("instrument", "in", ("BAT", "XRT")),
        ]
    }
    compiled = compile_filter(source)
    again = compile_filter(json.loads(json.dumps(compiled.to_json())))
    assert again == compiled
    assert hash(again) == hash(compiled)
    assert again.to_json() == {
        "all": [
            {"cone": {"ra": 150.0, "dec": 30.0, "radius": 1.0}},
            {"not": {"field": "alert_tense", "op": "eq", "value": "test"}},
            {"field": "ra", "op": "exists", "value": True},
            {"field": "instrument", "op": "in", "value": ["BAT", "XRT"]},
        ]
    }
    assert compile_filter(compiled) is compiled
    assert "cone" in repr(compiled)


def test_the_filter_keeps_a_private_copy_of_its_values() -> None:
    wanted = ["BAT"]
    compiled = compile_filter(field("instruments", "contains", "XRT"))
    listed = compile_filter(field("instrument", "in", wanted))
    wanted.append("GBM")
    assert listed.matches(GRB)
    assert not listed.matches({"instrument": "GBM"})
    assert compiled.matches(GRB)


def test_odd_alerts_never_raise() -> None:
    compiled = compile_filter(
        {
            "any": [
                field("a.b", "gt", 1),
                {"cone": {"ra": 1, "dec": 1, "radius": 1}},
                field("a", "contains", "x"),
                field("t", "lt", "2024-01-01T00:00:00Z"),
            ]
        }
    )
    for alert in (
        {},
        {"a": None},
        {"a": [1, 2]},
        {"ra": "1", "dec": "1"},
        {"ra": math.nan, "dec": 0},
        {"ra": 1, "dec": 95},
        {"t": "not a time"},
        {"t": 5},
        {"ra": True, "dec": False},
    ):
        assert compiled.matches(alert) is False


# --- the cone -------------------------------------------------------------------------------


def cone(ra: object, dec: object, radius: object) -> dict[str, Any]:
    """A cone filter as sent, right or wrong."""
    return {"cone": {"ra": ra, "dec": dec, "radius": radius}}


@pytest.mark.parametrize(
    ("centre", "alert", "expected"),
    [
        ((150.0, 30.0, 1.0), {"ra": 150.5, "dec": 30.5}, True),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0}, False),  # 1.73 deg away at dec 30
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": 0.8}, True),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": 0.5}, False),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": -5}, False),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": "big"}, False),
        ((359.5, 0.0, 1.0), {"ra": 0.3, "dec": 0.0}, True),  # across ra = 0
        ((0.0, 0.0, 1.0), {"ra": 359.2, "dec": 0.5}, True),
        ((10.0, 89.5, 1.0), {"ra": 190.0, "dec": 89.8}, True),  # across the pole
        ((10.0, -89.9, 0.5), {"ra": 100.0, "dec": -89.9}, True),
        ((0.0, 0.0, 179.0), {"ra": 180.0, "dec": 0.0}, False),  # antipode
        ((0.0, 0.0, 180.0), {"ra": 180.0, "dec": 0.0}, True),
        ((0.0, 0.0, 1.0), {"ra": 180.0, "dec": 0.0, "ra_dec_error": 180}, True),  # a GW skymap
        ((150.0, 30.0, 1.0), {"dec": 30.0}, False),
        ((150.0, 30.0, 1.0), {"position": {"ra": 150.0, "dec": 30.0}}, False),  # top level only
        # GCN's unified schema: an ellipse [semi-major, semi-minor, angle] widens by its major axis
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": [0.8, 0.1, 45]}, True),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": [0.5, 0.5]}, False),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": []}, False),
        ((150.0, 30.0, 1.0), {"ra": 152.0, "dec": 30.0, "ra_dec_error": ["wide"]}, False),
    ],
)
def test_cone(centre: tuple[float, float, float], alert: dict[str, Any], expected: bool) -> None:
    assert matches(cone(*centre), alert) is expected


def test_cone_edge_is_inside_despite_rounding() -> None:
    # Points exactly `radius` away along a meridian.
    for dec in (-60.0, 0.0, 33.3, 80.0):
        assert matches(cone(123.4, dec, 2.5), {"ra": 123.4, "dec": dec + 2.5})
        assert not matches(cone(123.4, dec, 2.5), {"ra": 123.4, "dec": dec + 2.5001})


def test_cone_small_separation_is_accurate() -> None:
    # One arcsecond apart: the cosine formula loses this; ours does not.
    arcsec = 1 / 3600
    assert matches(cone(10.0, 20.0, 1.01 * arcsec), {"ra": 10.0, "dec": 20.0 + arcsec})
    assert not matches(cone(10.0, 20.0, 0.99 * arcsec), {"ra": 10.0, "dec": 20.0 + arcsec})


# --- malformed filters: each names the path to the mistake ----------------------------------


@pytest.mark.parametrize(
    ("bad", "path", "words"),
    [
        ([], "", "expected a filter object"),
        ("mission = Swift", "", "parse_filter"),
        ({}, "", "empty object"),
        ({"and": []}, "/and", "unknown filter 'and'"),
        ({"alls": []}, "/alls", "did you mean 'all'"),
        ({"all": [], "any": []}, "", "exactly one of"),
        ({"all": {}}, "/all", "takes a list"),
        ({"all": [field("a", "eq", 1), 5]}, "/all/1", "got a number"),
        ({"not": [field("a", "eq", 1)]}, "/not", "got a list"),
        (
            {"any": [{"not": {"field": "a", "op": "equals", "value": 1}}]},
            "/any/0/not/op",
            "unknown operator 'equals'",
        ),
        ({"field": "a", "op": "EQ", "value": 1}, "/op", "did you mean 'eq'"),
        ({"field": "a", "op": "gte", "value": 1}, "/op", "did you mean 'ge'"),
        ({"field": "a", "op": "!=", "value": 1}, "/op", "did you mean 'ne'"),
        ({"field": "a", "op": 3, "value": 1}, "/op", "unknown operator 3"),
        ({"field": "a", "value": 1}, "", "needs 'op'"),
        ({"op": "eq", "value": 1}, "", "needs 'field'"),
        ({"field": "a", "op": "eq"}, "", "needs a 'value'"),
        ({"field": "a", "op": "eq", "value": 1, "unit": "deg"}, "/unit", "unknown key 'unit'"),
        ({"field": 5, "op": "eq", "value": 1}, "/field", "must be a string"),
        ({"field": "", "op": "eq", "value": 1}, "/field", "1 to"),
        ({"field": "a..b", "op": "eq", "value": 1}, "/field", "empty step"),
        ({"field": "x" * 1001, "op": "eq", "value": 1}, "/field", "1 to 1000"),
        ({"field": ".".join("a" * 40), "op": "eq", "value": 1}, "/field", "steps"),
        ({"field": "a", "op": "lt", "value": [1]}, "/value", "compares numbers"),
        ({"field": "a", "op": "lt", "value": True}, "/value", "got a boolean"),
        ({"field": "a", "op": "ge", "value": "2024-02-30T00:00:00Z"}, "/value", "ISO 8601"),
        ({"field": "a", "op": "in", "value": "BAT"}, "/value", "takes a list"),
        ({"field": "a", "op": "in", "value": ["a", ["b"]]}, "/value/1", "got a list"),
        ({"field": "a", "op": "exists", "value": "yes"}, "/value", "true or false"),
        ({"field": "a", "op": "eq", "value": math.nan}, "/value", "not a JSON number"),
        ({"field": "a", "op": "eq", "value": {"x": [1, math.inf]}}, "/value/x/1", "JSON number"),
        ({"field": "a", "op": "eq", "value": {1: "x"}}, "/value", "keys must be strings"),
        ({"field": "a", "op": "eq", "value": {1, 2}}, "/value", "Python set"),
        ({"field": "a", "op": "eq", "value": "x" * 1001}, "/value", "at most 1000"),
        ({1: "x"}, "", "keys must be strings"),
        (cone(150, 30, 1) | {"x": 1}, "/x", "unknown filter 'x'"),
        ({"cone": [150, 30, 1]}, "/cone", "got a list"),
        ({"cone": {"ra": 150, "dec": 30}}, "/cone", "needs 'radius'"),
        ({"cone": {"ra": 150, "dec": 30, "radius": 1, "r": 2}}, "/cone/r", "unknown key 'r'"),
        (cone(-10, 30, 1), "/cone/ra", "between 0 and 360"),
        (cone(361, 30, 1), "/cone/ra", "between 0 and 360"),
        (cone(10, 91, 1), "/cone/dec", "between -90 and 90"),
        (cone(10, 30, 0), "/cone/radius", "more than 0"),
        (cone(10, 30, 181), "/cone/radius", "at most 180"),
        (cone(10, "30", 1), "/cone/dec", "must be a number"),
        (cone(10, 30, math.inf), "/cone/radius", "must be a number"),
        ({"all": [{"all": [{"field": "a~b/c", "op": "nope"}]}]}, "/all/0/all/0/op", "nope"),
        ({"all": [{"field": "a", "op": "eq", "value": 1, "a/b": 1}]}, "/all/0/a~1b", "unknown key"),
    ],
)
def test_malformed_filters_name_the_path(bad: Any, path: str, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(bad)
    assert caught.value.path == path
    assert words in caught.value.reason
    assert str(caught.value).startswith(
        f"invalid filter at {path}:" if path else "invalid filter at the top:"
    )


def test_filter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        compile_filter({"field": "a", "op": "like", "value": "x"})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ('{"field": "a", "op": "eq", "value": NaN}', "not valid JSON"),
        ('{"field": "a", "op": "eq", "value": Infinity}', "not valid JSON"),
        ("[" * 150_000 + "]" * 150_000, "longer than"),
        ("[" * 50_000 + "]" * 50_000, "not valid JSON"),  # deeper than json can parse
        ('"cone"', "got a string"),
    ],
)
def test_parse_filter_refuses_bad_text(text: str, words: str) -> None:
    with pytest.raises(FilterError, match=words):
        parse_filter(text)


def test_parse_filter_accepts_text_and_bytes() -> None:
    text = '{"field": "instrument", "op": "in", "value": ["BAT"]}'
    assert parse_filter(text).matches(GRB)
    assert parse_filter(text.encode()).matches(GRB)


# --- adversarial sizes: refused quickly, and what is accepted stays cheap -------------------


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = field("a", "eq", 1)
    for _ in range(depth):
        node = {"not": node}
    return node


def test_depth_limit() -> None:
    assert compile_filter(nested(MAX_DEPTH)).matches({"a": 1}) is (MAX_DEPTH % 2 == 0)
    with pytest.raises(FilterError, match="nest at most") as caught:
        compile_filter(nested(MAX_DEPTH + 1))
    assert caught.value.path == "/not" * (MAX_DEPTH + 1)
    # Far deeper than Python's recursion limit: refused at the limit, not by a crash.
    with pytest.raises(FilterError, match="nest at most"):
        compile_filter(nested(100_000))


def test_node_limit() -> None:
    ok = {"any": [field("a", "eq", i) for i in range(MAX_NODES - 1)]}
    assert compile_filter(ok).matches({"a": MAX_NODES - 2})
    with pytest.raises(FilterError, match=f"more than {MAX_NODES} parts") as caught:
        compile_filter({"any": [field("a", "eq", i) for i in range(100_000)]})
    assert caught.value.path == f"/any/{MAX_NODES - 1}"


def test_in_list_limit() -> None:
    values = list(range(MAX_IN_VALUES))
    assert matches(field("n", "in", values), {"n": MAX_IN_VALUES - 1})
    with pytest.raises(FilterError, match=f"at most {MAX_IN_VALUES} values"):
        compile_filter(field("n", "in", list(range(MAX_IN_VALUES + 1))))


def test_value_size_and_depth_limits() -> None:
    with pytest.raises(FilterError, match=f"more than {MAX_VALUES} values"):
        compile_filter(field("a", "eq", list(range(MAX_VALUES + 1))))
    many = {"any": [field("a", "eq", list(range(100))) for _ in range(MAX_VALUES // 100)]}
    with pytest.raises(FilterError, match=f"more than {MAX_VALUES} values"):
        compile_filter(many)
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(FilterError, match="values nest at most"):
        compile_filter(field("a", "eq", deep))


def test_largest_accepted_filter_still_matches() -> None:
    # The most a filter within the limits can ask: every part an `in` list, and a cone last.
    nodes = [field(f"k{i}", "in", list(range(i, i + 30))) for i in range(MAX_NODES - 3)]
    nodes.append(cone(10, 10, 1))
    worst = compile_filter({"all": [{"any": nodes}]})
    alert = {f"k{i}": -1 for i in range(MAX_NODES)} | {"ra": 10.0, "dec": 10.0}
    assert worst.matches(alert)
    assert not worst.matches(alert | {"ra": 50.0})


def test_filters_are_values() -> None:
    first = compile_filter(field("a", "eq", 1))
    assert isinstance(first, Filter)
    assert first == compile_filter({"field": "a", "op": "eq", "value": 1})
    assert first != compile_filter(field("a", "eq", 2))
    assert first != "not a filter"
