"""Tests for silisocs_study.overrides, checked against Hydra's and OmegaConf's own parsers.

The encoder mirrors Hydra's grammar without importing it, so the only honest check is a
round trip through the real parser (``Override.value()``) and then through OmegaConf,
which is where "${" escapes are finally resolved.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
from hydra import compose, initialize
from hydra._internal.grammar.utils import escape_special_characters
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from silisocs_study.overrides import (
    encode_value,
    format_override,
    format_overrides,
    merge_levels,
    split_key,
)

PARSER = OverridesParser.create()


def parse(s: str) -> Override:
    return PARSER.parse_overrides([s])[0]


def via_omegaconf(parsed: Any) -> Any:
    """What a job finally sees: OmegaConf holds the parsed value and resolves it."""
    cfg = OmegaConf.create({"a": {"b": parsed}})
    return OmegaConf.to_container(cfg, resolve=True)["a"]["b"]


def via_compose(override: str) -> Any:
    """The full Hydra route: compose an (empty) config with the override applied."""
    with initialize(version_base=None, config_path=None):
        cfg = compose(overrides=[override])
    return OmegaConf.to_container(cfg, resolve=True)["a"]["b"]


def assert_same(got: Any, want: Any) -> None:
    """Equal value AND type, recursively; nan by isnan, the sign of zero, dict key order."""
    if isinstance(want, tuple):
        want = list(want)
    assert type(got) is type(want), (got, want)
    if isinstance(want, float):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
    elif isinstance(want, list):
        assert len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            assert_same(g, w)
    elif isinstance(want, dict):
        assert len(got) == len(want), (got, want)
        for (gk, gv), (wk, wv) in zip(got.items(), want.items()):
            assert_same(gk, wk)
            assert_same(gv, wv)
    else:
        assert got == want


def has_interpolation(value: Any) -> bool:
    """True if a string value anywhere (not a dict key) contains '${'."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, (list, tuple)):
        return any(has_interpolation(v) for v in value)
    if isinstance(value, dict):
        return any(has_interpolation(v) for v in value.values())
    return False


# --- strategies -----------------------------------------------------------

LOOKALIKES = [
    "123", "-5", "+7", "0", "007", "1_000", "1e-3", "1E5", "1.", ".5", "-.5e+3", "0x10",
    "true", "True", "FALSE", "null", "NULL", "Null", "nan", "NaN", "-nan", "inf", "-inf",
    "+Inf", "infinity", "???", "", " ", "  a  ", "a,b", "x=y", "[1]", "{a:1}", "${foo}",
    "\\${foo}", "$", "${", "a\\", "\\", "\\\\", "'", "''", '"', "\\'", "it's", "é",
    "日本語", "a b", "a:b", "f(x)", "choice(1,2)", "range(3)", "/", "/inf", "a/b",
    "-", "@", "%", "line1\nline2", "tab\there", "\r\n", "\x00", "a\\'b", "a\\\\'b",
]
HOSTILE_ALPHABET = list("'\"\\${}[](),=: \t\nab1.-+eE_/@%é")

texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(HOSTILE_ALPHABET)),
    st.sampled_from(LOOKALIKES),
)
scalars = st.one_of(
    texts,
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(),
    st.sampled_from([math.inf, -math.inf, math.nan, -0.0, 0.0, 1e300, 5e-324, 1e16, 1e-7]),
    st.booleans(),
    st.none(),
)
KEY_ALPHABET = list("abcXYZ019_-+./$%*@?|\\()[]{}:=, \t")
dict_keys = st.one_of(
    st.text(alphabet=st.sampled_from(KEY_ALPHABET), min_size=1, max_size=8).filter(
        lambda k: _encodable_key(k)
    ),
    st.integers(),
    st.floats(allow_nan=False),
)


def _encodable_key(key: str) -> bool:
    try:
        encode_value({key: 0})
    except ValueError:
        return False
    return True


values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(dict_keys, children, max_size=4),
    ),
    max_leaves=12,
)


# --- 1. property-based round trip -------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(values)
def test_round_trip_through_hydra_and_omegaconf(value: Any) -> None:
    s = format_override("a.b", value)
    override = parse(s)
    assert override.type is OverrideType.CHANGE
    assert not override.is_sweep_override()
    parsed = override.value()
    if not has_interpolation(value):
        # Hydra's parser alone gives back the exact value and type.
        assert_same(parsed, value)
    # "${" is passed through by Hydra as "\${"; OmegaConf turns it back into a literal.
    assert_same(via_omegaconf(parsed), value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(alphabet=st.sampled_from(list("\\'${}a")))))
def test_string_round_trip_and_quoting_rule(text: str) -> None:
    encoded = encode_value(text)
    parsed = parse(f"a.b={encoded}").value()
    assert isinstance(parsed, str)
    if "${" in text:
        assert parsed != text  # honest: Hydra keeps the "\${" escape ...
    else:
        assert parsed == text
    assert via_omegaconf(parsed) == text  # ... and OmegaConf resolves it to the literal
    if not encoded.startswith("'"):
        assert encoded == text  # unquoted only when it is the string itself


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(KEY_ALPHABET + ["é", "'", '"', "\n"]), max_size=8))
def test_dict_keys_round_trip_or_are_rightly_rejected(key: str) -> None:
    try:
        encoded = encode_value({key: 1})
    except ValueError:
        # Only rejected when Hydra's dictKey rule really cannot give back this str.
        if key and all(c in KEY_ALPHABET for c in key):
            parsed_key = next(iter(parse(f"a={{{escape_special_characters(key)}:1}}").value()))
            assert not isinstance(parsed_key, str) or parsed_key != key
        return
    parsed = parse(f"a={encoded}").value()
    assert_same(parsed, {key: 1})


# --- 2. table tests -----------------------------------------------------------

TABLE = [
    ("123", "'123'"),
    (123, "123"),
    ("true", "'true'"),
    (True, "true"),
    ("null", "'null'"),
    (None, "null"),
    ("1e-3", "'1e-3'"),
    (1e-3, "0.001"),
    ("a,b", "'a,b'"),
    ("é", "'é'"),
    ("x=y", "'x=y'"),
    ("[1]", "'[1]'"),
    ("${foo}", "'\\${foo}'"),
    ("plain_name", "plain_name"),
    ("pure_recsys", "pure_recsys"),
    ("a/b.c-d", "a/b.c-d"),
    ("NaN", "'NaN'"),
    ("", "''"),
    ("it's", "'it\\'s'"),
    ("a\\", "'a\\\\'"),
    ("a\\b", "'a\\b'"),
    ("line1\nline2", "'line1\nline2'"),
    (False, "false"),
    (-0.0, "-0.0"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (math.nan, "nan"),
    (1e300, "1e+300"),
    (5e-324, "5e-324"),
    (10**30, "1000000000000000000000000000000"),
    ([1, "two", None], "[1,two,null]"),
    ((1, 2), "[1,2]"),
    ({"a": 1, "b c": [True]}, "{a:1,b\\ c:[true]}"),
    ({1: "x", 2.5: "y"}, "{1:x,2.5:y}"),
    ([], "[]"),
    ({}, "{}"),
]


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=[repr(v) for v, _ in TABLE])
def test_encode_table(value: Any, expected: str) -> None:
    assert encode_value(value) == expected
    override = parse(f"a.b={expected}")
    assert not override.is_sweep_override()
    if not has_interpolation(value):
        assert_same(override.value(), value)


@pytest.mark.parametrize(
    "value",
    ["123", 123, "true", True, "null", None, "1e-3", 1e-3, "a,b", "é", "x=y", "[1]", "${foo}",
     "a\\${foo}", "???", {"k": ["${x}", "v,w"]}, -0.0, math.inf],
    ids=repr,
)
def test_full_hydra_compose(value: Any) -> None:
    """Through hydra.compose, as a job would see it (also checks '+' adds)."""
    assert_same(via_compose(format_override("+a.b", value)), value)


def test_interpolation_stays_literal() -> None:
    parsed = parse(format_override("a.b", "${foo}")).value()
    assert parsed == "\\${foo}"  # Hydra's value() keeps the OmegaConf escape
    assert via_omegaconf(parsed) == "${foo}"
    # a backslash right before "${" must survive too
    assert via_omegaconf(parse(format_override("a.b", "x\\${y}")).value()) == "x\\${y}"


@pytest.mark.parametrize("key", ["", "1", "-5", "1.5", "true", "Null", "nan", "é", "a'b", "1_000"])
def test_unencodable_dict_keys(key: str) -> None:
    with pytest.raises(ValueError, match="cannot encode dict key"):
        encode_value({key: 1})


def test_unencodable_values() -> None:
    with pytest.raises(ValueError, match="None"):
        encode_value({None: 1})
    with pytest.raises(TypeError, match="set"):
        encode_value({1, 2})
    with pytest.raises(TypeError, match="object"):
        encode_value([object()])
    with pytest.raises(TypeError, match="dict key"):
        encode_value({(1, 2): 3})


def test_format_override_and_overrides() -> None:
    assert format_override("x", 1) == "x=1"
    assert format_override("+sim.extra", [1, "two"]) == "+sim.extra=[1,two]"
    assert format_override("++x.y", {"a": 1}) == "++x.y={a:1}"
    assert format_override("~x", None) == "~x"
    assert format_override("~x", 5) == "~x=5"
    assert format_override("x", None) == "x=null"
    assert format_override("hydra/launcher", "joblib") == "hydra/launcher=joblib"
    assert format_overrides({"num_agents": 50, "~old": None, "+s": "a b"}) == [
        "num_agents=50",
        "~old",
        "+s='a b'",
    ]
    with pytest.raises(ValueError):
        format_override("a b", 1)
    kinds = [parse(s).type for s in format_overrides({"a": 1, "+b": 2, "++c": 3, "~d": None})]
    assert kinds == [OverrideType.CHANGE, OverrideType.ADD, OverrideType.FORCE_ADD,
                     OverrideType.DEL]


def test_module_does_not_import_hydra_or_omegaconf() -> None:
    code = (
        "import sys, silisocs_study.overrides; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf', 'antlr4')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- 3. merge_levels ------------------------------------------------------------


def test_merge_later_levels_win_in_first_appearance_order() -> None:
    merged = merge_levels(
        [
            {"num_agents": 50, "seed": 1, "env.mode": "a"},
            {"seed": 2, "new": True},
            {"num_agents": 10},
        ]
    )
    assert list(merged.items()) == [("num_agents", 10), ("seed", 2), ("env.mode", "a"),
                                    ("new", True)]


def test_merge_prefixes_name_the_same_key() -> None:
    assert merge_levels([{"++x": 1}, {"x": 2}]) == {"x": 2}
    assert merge_levels([{"x": 1}, {"+x": 2}]) == {"+x": 2}
    assert merge_levels([{"+x": 1}, {}, {"++x": 3}]) == {"++x": 3}
    merged = merge_levels([{"a": 0, "++x": 1, "b": 0}, {"x": 2}])
    assert list(merged) == ["a", "x", "b"]  # the winner takes the first position


def test_merge_deletion() -> None:
    assert merge_levels([{"x": 1, "y": 2}, {"~x": None}]) == {"~x": None, "y": 2}
    assert merge_levels([{"~x": None}, {"x": 3}]) == {"x": 3}
    assert format_overrides(merge_levels([{"x": 1}, {"~x": None}])) == ["~x"]


def test_merge_does_not_deep_merge_dicts() -> None:
    merged = merge_levels([{"p": {"a": 1, "b": 2}}, {"p": {"a": 3}}])
    assert merged == {"p": {"a": 3}}


def test_merge_empty_and_same_level_conflict() -> None:
    assert merge_levels([]) == {}
    assert merge_levels([{}, {}]) == {}
    with pytest.raises(ValueError, match="same level"):
        merge_levels([{"x": 1, "+x": 2}])
    with pytest.raises(ValueError, match="whitespace"):
        merge_levels([{"bad key": 1}])


# --- 4. split_key -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("x", ("", "x")),
        ("+x", ("+", "x")),
        ("++x.y", ("++", "x.y")),
        ("~x", ("~", "x")),
        ("env.gm.components.observe.params.timeline_mode",
         ("", "env.gm.components.observe.params.timeline_mode")),
        ("hydra/launcher", ("", "hydra/launcher")),
        ("+db@pkg.sub", ("+", "db@pkg.sub")),
        ("a.0.b", ("", "a.0.b")),
        ("a-b.$c", ("", "a-b.$c")),
    ],
)
def test_split_key_valid(key: str, expected: tuple[str, str]) -> None:
    assert split_key(key) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "empty"),
        ("a b", "whitespace"),
        (" a", "whitespace"),
        ("a\t", "whitespace"),
        ("a=1", "contains '='"),
        ("+++x", "more than two leading"),
        ("+", "no name after"),
        ("++", "no name after"),
        ("~", "no name after"),
        ("~+x", "mixes"),
        ("+~x", "mixes"),
        ("@pkg", "no name before '@'"),
        ("a..b", "not a valid Hydra key"),
        ("a.", "not a valid Hydra key"),
        ("0", "not a valid Hydra key"),
        ("é", "not a valid Hydra key"),
        ("a,b", "not a valid Hydra key"),
        ("a/b.c", "not a valid Hydra key"),
    ],
)
def test_split_key_errors(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_key(key)


def test_split_key_type_error() -> None:
    with pytest.raises(TypeError):
        split_key(1)  # type: ignore[arg-type]


def _hydra_accepts_key(key: str) -> bool:
    try:
        parse(f"{key}=1")
    except HydraException:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_0912-$.@/+~= é,")), max_size=10))
def test_split_key_agrees_with_hydra(key: str) -> None:
    """split_key accepts exactly what Hydra's key grammar accepts (minus empty names)."""
    try:
        prefix, bare = split_key(key)
    except ValueError:
        accepted = False
    else:
        accepted = True
        override = parse(f"{key}=1")
        want = {"": OverrideType.CHANGE, "+": OverrideType.ADD,
                "++": OverrideType.FORCE_ADD, "~": OverrideType.DEL}[prefix]
        assert override.type is want
        package = "" if override.package is None else "@" + override.package
        assert override.key_or_group + package == bare
    hydra_ok = _hydra_accepts_key(key)
    if hydra_ok and not accepted:
        # Deliberately stricter: Hydra allows an empty name ("=1", "+=1", "@pkg=1").
        assert key.lstrip("+~") == "" or key.lstrip("+~").startswith("@")
    else:
        assert accepted == hydra_ok
