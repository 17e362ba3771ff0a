"""Mutants of the example study files never crash, hang or blow up the planner.

Each mutant of ``examples/studies/*/study.yaml`` and ``examples/experiments/*.yaml`` (textual
mutations: tags, anchors and aliases, merge keys, deep nesting, huge numbers, random YAML in
place of a value, deleted/duplicated/swapped lines, stray characters; structural mutations:
random values at random paths, deleted keys, known keys with random values, copied subtrees)
is planned in-process as ``plan --skip-config-check`` plans it (load, expand, describe;
building the CLI's parser per mutant would cost more than the planning). The only acceptable
outcomes are a plan or a StudyError that prints as one line: never a traceback. Every
mutant must finish within :data:`PER_MUTANT_SECONDS`, write nothing, and the whole run must
stay within :data:`RSS_GROWTH_MB` of extra peak memory. The worst known inputs also run as a
real process under an address-space limit.

A few thousand mutants in all; ``SILISOCS_MUTANTS`` scales the count (e.g. 10 for a long
local run). The run limit is lowered to :data:`TEST_RUN_LIMIT` so that a mutant asking for a
million seeds is refused instead of planned (planning is linear; the limit is what bounds it).
"""
from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silisocs_study.errors import StudyError
from silisocs_study.numeric import RUN_LIMIT_ENV
from silisocs_study.plan import build_plan
from silisocs_study.planview import describe_plan
from silisocs_study.spec import load_study
from silisocs_study.spec.yamlload import Ref, parse_document

pytestmark = pytest.mark.slow   # ~60 s: run by `pytest -m slow` and .ci/run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in
            sorted(ROOT.glob("examples/studies/*/study.yaml"))
            + sorted(ROOT.glob("examples/experiments/*.yaml"))}
SCALE = float(os.environ.get("SILISOCS_MUTANTS", "1"))
PER_MUTANT_SECONDS = 5.0
RSS_GROWTH_MB = 400
TEST_RUN_LIMIT = 20_000
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))

# -- building blocks ------------------------------------------------------------------------

HOSTILE_VALUES = [
    "!!int abc", "!!int '12'", "!!float x", "!!float 1", "!!bool maybe", "!!null x",
    "!!timestamp nope", "!!binary aGk=", "!!set {a}", "!!omap [a: 1]",
    "!!python/object/apply:os.system [ls]", "!!python/name:os.system", "!include x.yaml",
    "!ref nowhere", "!ref mutualism_baseline", "!ref", "!!str", "!!map {a: 1}", "!!seq [1]",
    "!!str [a]", "!!merge x", "!foo bar", "{<<: 5}", "{<<: [1, {a: 1}]}", "{<<: {seed: 3}}",
    "&a [*a]", "*undefined", "&dup 1", "[" * 70 + "]" * 70, "[" * 500 + "]" * 500,
    "123456789012345678901234567890", "-9223372036854775809", "9223372036854775807",
    "18446744073709551616", "9" * 5000, ".nan", ".inf", "-.inf", "1.0e+400", "-0.0",
    "0x" + "f" * 40, "0b" + "1" * 70, "0o777", "1:2:3:4:5:6:7:8:9:10:11:12:13", "1_000",
    '"\\0"', '"a\\u0000b"', '"\\ud800"', '"{seed:c}"', '"{seed:99999999}"', '"{seed!r}"',
    '"{nope}"', '"{seed:{x}}"', '"{"', '"}"', '"../../../x"', '"/abs/path"', '"a/b"',
    '"x y"', '"examples/socialsim.py"', '"a\\nb"', "~", "''", "null", "[]", "{}", "=", "<<",
    "1000000000", "1000000", "100000", "0", "-1", "99999", "true", "yes", "3.5", "'20'",
    "2024-01-01", "[a, a]", "[1, 1.0, true]", "{a: 1, a: 2}", "[[a, b]]", "[{}]", "- x",
    "? [a]\n  : b", "|\n  text", ">-\n  folded", "'it''s'", "\"\\t\"", "@x", "`x`", "%x",
    "a" * 300, "./" + "b" * 300, "[./" + "c" * 300 + "]", "runs/" + "d" * 300 + "/{run_id}",
    "x/" * 3000, "~nobody_here/x", "/dev/null", ".", "..", "./",
]
KEYS = ["seed_repeats", "seeds", "seed", "seed_start", "timeout_seconds", "max_concurrent",
        "overrides", "runner_module", "scenarios", "scenario", "conditions", "hypotheses",
        "execution", "command", "mode", "reuse", "runs", "source", "evaluations", "preset",
        "id", "axes", "zip", "exclude", "include", "samples", "inject", "config_path",
        "output_root_override", "run_name_template", "working_directory", "name", "path",
        "post_actions", "study_summary_path", "summary_log_path", "checkpoint_every_n_steps",
        "output_subpath", "static_args", "explicit_args", "schema_version", "study", "<<",
        "+x", "++a.b", "~c", "a.b", "x=y", "", " ", "__", "_a", "a__b", "cta=reactive"]
TAGS = ["!!int", "!!float", "!!str", "!!bool", "!!null", "!!map", "!!seq", "!!binary",
        "!!timestamp", "!!merge", "!!python/object:os.system", "!ref", "!foo", "!", "!!set"]


def _bomb(levels: int = 9) -> str:
    lines = ["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines)


def _deep(depth: int, kind: str) -> str:
    if kind == "flow":
        return "[" * depth + "]" * depth
    if kind == "map":
        return "{a: " * depth + "1" + "}" * depth
    return "- " * depth + "x"


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Ref, lambda d, ref: d.represent_scalar("!ref", ref.name))


def _paths(data) -> list[tuple]:
    out: list[tuple] = []
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        out.append(path)
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in enumerate(value))
    return out


def _get(data, path):
    for part in path:
        data = data[part]
    return data


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["{seed:c}", "{seed:99999999}", "../../x", "/tmp/x", "a/b", "x y", "a\x00b",
                     "{run_id}", "{nope}", "examples.socialsim", "1e400", "nan", "", "__",
                     "e" * 300, "./" + "f" * 300]))
yaml_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=10)

# -- textual mutations ----------------------------------------------------------------------


def _value_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]


def _m_replace_value(draw, lines):
    candidates = _value_lines(lines)
    if not candidates:
        return lines
    i = draw(st.sampled_from(candidates))
    head = lines[i].split(":", 1)[0]
    value = draw(st.sampled_from(HOSTILE_VALUES) | st.text(max_size=20)
                 | st.integers().map(str) | st.floats().map(repr))
    lines[i] = f"{head}: {value}"
    return lines


def _m_tag(draw, lines):
    candidates = _value_lines(lines)
    if not candidates:
        return lines
    i = draw(st.sampled_from(candidates))
    head, value = lines[i].split(":", 1)
    lines[i] = f"{head}: {draw(st.sampled_from(TAGS))} {value.strip()}"
    return lines


def _m_delete(draw, lines):
    if lines:
        del lines[draw(st.integers(0, len(lines) - 1))]
    return lines


def _m_duplicate(draw, lines):
    if lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
    return lines


def _m_swap(draw, lines):
    if len(lines) > 1:
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return lines


def _m_indent(draw, lines):
    if lines:
        i = draw(st.integers(0, len(lines) - 1))
        delta = draw(st.integers(-4, 4))
        lines[i] = " " * max(0, delta) + lines[i][max(0, -delta):]
    return lines


def _m_characters(draw, lines):
    if lines:
        i = draw(st.integers(0, len(lines) - 1))
        at = draw(st.integers(0, len(lines[i])))
        stray = draw(st.text(min_size=1, max_size=4)
                     | st.sampled_from(["\x00", "\x07", "\t", "\r", "\ufeff", "\u2028", "{", "}",
                                        "&", "*", "!", "|", ">", "%", "@", "`", "'", '"', "#"]))
        lines[i] = lines[i][:at] + stray + lines[i][at:]
    return lines


def _m_deep(draw, lines):
    candidates = _value_lines(lines)
    if not candidates:
        return lines
    i = draw(st.sampled_from(candidates))
    depth = draw(st.sampled_from([10, 63, 64, 65, 200, 5000, 50_000]))
    kind = draw(st.sampled_from(["flow", "map", "dash"]))
    head = lines[i].split(":", 1)[0]
    lines[i] = f"{head}: {_deep(depth, kind)}" if kind != "dash" else \
        f"{head}:\n{' ' * (len(head) - len(head.lstrip()) + 2)}{_deep(depth, kind)}"
    return lines


def _m_bomb(draw, lines):
    levels = draw(st.integers(2, 9))
    at = draw(st.sampled_from(["top", "notes"]))
    block = (_bomb(levels) if at == "notes" else
             "\n".join(line[2:] for line in _bomb(levels).splitlines()))
    if at == "notes":
        block = "notes:\n" + block
    i = draw(st.integers(0, len(lines)))
    lines[i:i] = block.splitlines()
    return lines


def _m_alias(draw, lines):
    candidates = _value_lines(lines)
    if len(candidates) < 2:
        return lines
    i, j = draw(st.sampled_from(candidates)), draw(st.sampled_from(candidates))
    head_i, value_i = lines[i].split(":", 1)
    lines[i] = f"{head_i}: &x {value_i.strip()}"
    head_j = lines[j].split(":", 1)[0]
    lines[j] = f"{head_j}: " + draw(st.sampled_from(["*x", "{<<: *x}", "[*x, *x]", "*y"]))
    return lines


def _m_number(draw, lines):
    candidates = [i for i in _value_lines(lines) if any(c.isdigit() for c in lines[i])]
    if not candidates:
        return lines
    i = draw(st.sampled_from(candidates))
    head = lines[i].split(":", 1)[0]
    number = draw(st.integers(-10 ** 30, 10 ** 30) | st.integers(0, 10 ** 7)
                  | st.sampled_from([10 ** 9, 10 ** 6, 2 ** 63, 2 ** 63 - 1, -2 ** 63, 0, -1]))
    lines[i] = f"{head}: {number}"
    return lines


TEXT_MUTATIONS = [_m_replace_value, _m_tag, _m_delete, _m_duplicate, _m_swap, _m_indent,
                  _m_characters, _m_deep, _m_bomb, _m_alias, _m_number]


@st.composite
def text_mutants(draw):
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    lines = EXAMPLES[name].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        lines = draw(st.sampled_from(TEXT_MUTATIONS))(draw, lines)
    return name, "\n".join(lines) + "\n"


# -- structural mutations -------------------------------------------------------------------

@st.composite
def structural_mutants(draw):
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = parse_document(EXAMPLES[name], name).data
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add", "copy"]))
        parent = _get(data, path[:-1]) if path else None
        if op == "replace":
            value = draw(yaml_values)
            if path:
                parent[path[-1]] = value
            else:
                data = value
        elif op == "delete" and path:
            del parent[path[-1]]
        elif op == "add":
            target = _get(data, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(KEYS))] = draw(yaml_values)
            elif isinstance(target, list):
                target.append(draw(yaml_values))
        elif op == "copy" and path:
            other = draw(st.sampled_from(paths))
            target = _get(data, other)
            if isinstance(target, dict) and not _is_inside(path, other):
                target[str(path[-1])] = yaml.safe_load(yaml.dump(_get(data, path),
                                                                 Dumper=_Dumper)) \
                    if not _has_ref(_get(data, path)) else _get(data, path)
    try:
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError):
        text = EXAMPLES[name]
    return name, text


def _is_inside(path, other) -> bool:
    return tuple(other[:len(path)]) == tuple(path)


def _has_ref(value) -> bool:
    return any(isinstance(_get(value, p), Ref) for p in _paths(value))


# -- the check ------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def small_run_limit():
    old = os.environ.get(RUN_LIMIT_ENV)
    os.environ[RUN_LIMIT_ENV] = str(TEST_RUN_LIMIT)
    yield
    if old is None:
        os.environ.pop(RUN_LIMIT_ENV, None)
    else:
        os.environ[RUN_LIMIT_ENV] = old


STATS = {"mutants": 0, "planned": 0, "refused": 0, "slowest": 0.0}


def plan_mutant(name: str, text: str) -> None:
    """Plan ``text`` (a mutant of example ``name``) in-process; fail on anything but a plan
    or a one-line user error, on slowness, and on any file written."""
    file_name = "study.yaml" if name.endswith("study.yaml") else Path(name).name
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "spec"
        folder.mkdir()
        (folder / file_name).write_bytes(text.encode("utf-8", "surrogatepass"))
        start = time.perf_counter()
        error = None
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                plan = build_plan(load_study(folder / file_name, folder))
                describe_plan(plan, first=10)
        except StudyError as exc:
            error = exc
        except BaseException as exc:   # a traceback: the bug this test exists to find
            raise AssertionError(f"{type(exc).__name__}: {exc} for a mutant of {name}:\n"
                                 f"{text[:3000]}") from exc
        elapsed = time.perf_counter() - start
        STATS["mutants"] += 1
        STATS["slowest"] = max(STATS["slowest"], elapsed)
        assert elapsed < PER_MUTANT_SECONDS, f"{elapsed:.1f} s for a mutant of {name}:\n{text}"
        if error is None:
            STATS["planned"] += 1
        else:
            STATS["refused"] += 1
            message = error.format()
            assert message.startswith(str(folder / file_name)) and error.exit_code == 2, \
                (message, text[:3000])
        written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        assert written == [file_name], (written, text[:3000])


_RSS_START = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@settings(max_examples=int(2500 * SCALE), **SETTINGS)
@given(text_mutants())
def test_text_mutants(mutant):
    plan_mutant(*mutant)


@settings(max_examples=int(1500 * SCALE), **SETTINGS)
@given(structural_mutants())
def test_structural_mutants(mutant):
    plan_mutant(*mutant)


def test_memory_stayed_bounded():
    """Peak RSS of this process grew by less than RSS_GROWTH_MB over all the mutants (runs
    after them: tests run in file order)."""
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - _RSS_START) / 1024
    print(f"mutants: {STATS}, peak RSS growth {grown_mb:.0f} MB")
    assert STATS["mutants"] >= 100 * SCALE
    assert grown_mb < RSS_GROWTH_MB


# -- the worst known inputs, as real processes with an address-space limit -------------------

def _recsys() -> str:
    return EXAMPLES["examples/studies/recsys_behavior_sweep/study.yaml"]


WORST = {
    "alias_bomb": _recsys().replace("  question:", "  notes:\n" + "\n".join(
        "  " + line for line in _bomb(9).splitlines()) + "\n  question:", 1),
    "nesting_50000": _recsys().replace("num_steps: 10", "num_steps: " + _deep(50_000, "flow")),
    "nesting_50000_block": _recsys() + "notes:\n  " + _deep(50_000, "dash") + "\n",
    "seed_repeats_1e9": _recsys().replace("seed_repeats: 3", "seed_repeats: 1000000000"),
    "int_20_digits": _recsys().replace("num_agents: 50", "num_agents: 10000000000000000000000"),
    "int_tag": _recsys().replace("num_agents: 50", "num_agents: !!int abc"),
    "merge_5": _recsys().replace("overrides:\n      num_agents", "overrides:\n      <<: 5\n"
                                                                 "      num_agents", 1),
    "recursive_alias": _recsys().replace("num_agents: 50", "num_agents: &r [*r]"),
    "seed_format_c": _recsys().replace("seed{seed}", "seed{seed:c}"),
    "runner_slash": _recsys().replace("runner_module: examples.socialsim",
                                      "runner_module: examples/socialsim"),
}


@pytest.mark.parametrize("case", sorted(WORST))
def test_worst_inputs_in_a_limited_process(case, tmp_path):
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "study.yaml").write_text(WORST[case], encoding="utf-8")

    def limit():   # 1 GiB of address space: a blow-up dies with MemoryError, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {k: v for k, v in os.environ.items() if k != RUN_LIMIT_ENV}   # the default limit
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", str(folder),
                           "--repo-root", str(folder), "plan", "--skip-config-check"],
                          capture_output=True, text=True, timeout=60, preexec_fn=limit,
                          env=env)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.startswith("error: study.yaml:") or \
        proc.stderr.startswith(f"error: {folder}"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert elapsed < PER_MUTANT_SECONDS + 3   # interpreter start included
    assert sorted(p.name for p in folder.iterdir()) == ["study.yaml"]
