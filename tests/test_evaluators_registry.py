"""Preset registry, ``run_builtin`` and the ``python -m silisocs_study.evaluators`` command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from evaluator_fixtures import action, make_run, probe

from silisocs_study.evaluators import PRESETS, EvaluatorUsageError, Preset, preset_names, run_builtin
from silisocs_study.evaluators.options import parse_options

REPO = Path(__file__).resolve().parents[1]
DETAILED = ["action_metrics_detailed", "probe_metrics_detailed", "probe_binary_detailed",
            "probe_numeric_detailed", "probe_choice_detailed", "probe_freetext_detailed"]


def small_run(tmp_path: Path) -> Path:
    return make_run(
        tmp_path / "run",
        actions=[action("post", "a1", 0, 0), action("like", "a2", 0, 1), action("reply", "a1", 1, 2)],
        probes=[probe("trust", "a1", 0, 0, "Yes"), probe("trust", "a2", 0, 1, "No"),
                probe("mood", "a1", 0, 2, "4"), probe("mood", "a2", 0, 3, "5")],
    )


def test_preset_names_and_outputs() -> None:
    expected = {f"builtin.{n}" for n in ["activity_summary", "probe_summary", *DETAILED, "study_eval"]}
    assert set(preset_names()) == expected == set(PRESETS)
    assert PRESETS["builtin.activity_summary"].output_subpath == "activity_summary.json"
    assert PRESETS["builtin.probe_summary"].output_subpath == "probe_summary.json"
    for short in DETAILED:
        preset = PRESETS[f"builtin.{short}"]
        assert isinstance(preset, Preset) and preset.output_subpath == f"{short}.json"
        assert preset.module and preset.module.startswith("silisocs_study.evaluators.")
    study = PRESETS["builtin.study_eval"]
    assert (study.module, study.command, study.output_subpath) == (None, ("{python}", "./eval.py"), "eval.json")
    with pytest.raises(AttributeError):
        study.name = "x"  # type: ignore[misc]  # frozen


def test_registry_import_is_light() -> None:
    code = ("import sys, silisocs_study.evaluators.registry as r; r.preset_names(); "
            "bad = [m for m in ('numpy', 'matplotlib', 'yaml') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["builtin.action_metrics_detailed", "action_metrics_detailed"])
def test_run_builtin_writes_atomically_and_returns_payload(tmp_path: Path, name: str) -> None:
    run = small_run(tmp_path)
    out = tmp_path / "eval" / "deep" / "x" / "am.json"
    payload = run_builtin(name, run, out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert sorted(p.name for p in out.parent.iterdir()) == ["am.json"]  # no temp file left behind
    assert payload["summary_type"] == "action_metrics"


def test_every_module_preset_runs_and_has_common_fields(tmp_path: Path) -> None:
    run = small_run(tmp_path)
    for name, preset in PRESETS.items():
        if preset.module is None:
            continue
        payload = run_builtin(name, run, tmp_path / "eval" / preset.output_subpath, ["--no-plots"])
        for key in ("summary_type", "run_dir", "source_files", "bad_lines", "aggregated"):
            assert key in payload, (name, key)
        assert payload["aggregated"], name
        for key, value in payload["aggregated"].items():
            assert key == key.lower() and all(c.isalnum() or c == "_" for c in key), (name, key)
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (name, key)


def test_run_builtin_usage_errors(tmp_path: Path) -> None:
    run = small_run(tmp_path)
    with pytest.raises(EvaluatorUsageError, match="unknown evaluator preset"):
        run_builtin("builtin.nope", run, tmp_path / "o.json")
    with pytest.raises(EvaluatorUsageError, match="command preset"):
        run_builtin("builtin.study_eval", run, tmp_path / "o.json")
    with pytest.raises(EvaluatorUsageError, match="run directory not found"):
        run_builtin("activity_summary", tmp_path / "missing", tmp_path / "o.json")
    with pytest.raises(EvaluatorUsageError, match="unknown evaluator argument"):
        run_builtin("activity_summary", run, tmp_path / "o.json", ["--bogus"])
    assert not (tmp_path / "o.json").exists()


def test_parse_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opts = parse_options(["--postprocessor", "a:b", "--postprocessor=c.py", "--carry-forward", "--no-plots"],
                         {"cwd": str(tmp_path), "study": "s1"})
    assert opts.postprocessors == ("a:b", "c.py") and opts.carry_forward is True and opts.plots is False
    assert opts.cwd == tmp_path and opts.context["study"] == "s1"
    assert parse_options().carry_forward is None
    monkeypatch.setenv("SILISOCS_EVAL_NO_PLOTS", "1")
    assert parse_options().plots is False
    with pytest.raises(EvaluatorUsageError):
        parse_options(["--postprocessor"])


# ---------------------------------------------------------------- CLI through a real subprocess
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "silisocs_study.evaluators", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_cli_success(tmp_path: Path) -> None:
    run = small_run(tmp_path)
    out = tmp_path / "eval" / "probe_metrics_detailed.json"
    res = cli("builtin.probe_metrics_detailed", "--run-dir", str(run), "--output", str(out), "--no-plots")
    assert res.returncode == 0, res.stderr
    payload = json.loads(out.read_text())
    assert payload["aggregated"]["share_yes_trust"] == 0.5
    assert payload["aggregated"]["mean_mood"] == 4.5
    res = cli("activity_summary", "--run-dir", str(run), "--output", str(tmp_path / "a.json"))
    assert res.returncode == 0 and json.loads((tmp_path / "a.json").read_text())["total_events"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["builtin.nope", "--run-dir", "{run}", "--output", "{out}"], "unknown evaluator preset"),
        (["activity_summary", "--run-dir", "{missing}", "--output", "{out}"], "run directory not found"),
        (["activity_summary", "--run-dir", "{run}"], "--run-dir and --output are required"),
        (["activity_summary", "--run-dir", "{run}", "--output", "{out}", "--frobnicate"], "unrecognized"),
        ([], "missing preset name"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    run = small_run(tmp_path)
    fill = {"run": str(run), "out": str(tmp_path / "o.json"), "missing": str(tmp_path / "nope")}
    res = cli(*(a.format(**fill) for a in args))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "o.json").exists()


def test_cli_evaluation_failure_exits_1(tmp_path: Path) -> None:
    run = small_run(tmp_path)
    blocker = tmp_path / "is_a_dir.json"
    blocker.mkdir()  # the payload cannot replace a directory
    res = cli("action_metrics_detailed", "--run-dir", str(run), "--output", str(blocker))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: evaluation failed") and "Traceback" not in res.stderr


def test_cli_list() -> None:
    res = cli("--list")
    assert res.returncode == 0
    assert all(name in res.stdout for name in preset_names())
