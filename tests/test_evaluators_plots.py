"""Probe plots are real, readable PNGs; postprocessor hooks are recorded and never fatal."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from evaluator_fixtures import assert_real_png, make_run, probe, probe_config_yaml

from silisocs_study.evaluators import run_builtin
from silisocs_study.evaluators.postprocess import split_spec

WORDS = "river election council parks transport housing market trust media friends weekend".split()


def rich_rows(episodes: int = 8, agents: int = 6) -> list[dict]:
    rng = random.Random(3)
    rows, i = [], 0
    for ep in range(episodes):
        for a in range(agents):
            user = f"agent_{a}"
            answers = {
                "trust": rng.choice(["Yes", "No", "Yes, mostly"]) if rng.random() > ep / 20 else "No",
                "mood": str(rng.randint(1, 3) + ep // 3),
                "topic": rng.choice(["Politics", "Sports", "Music", "Local news"]),
                "diary": " ".join(rng.choices(WORDS, k=rng.randint(4, 10 + ep))),
            }
            for label, answer in answers.items():
                rows.append(probe(label, user, ep, i, answer))
                i += 1
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    config = probe_config_yaml([("trust", "BinaryProbe"), ("mood", "NumericRatingProbe"),
                                ("topic", "ChoiceProbe"), ("diary", "FreeTextProbe")])
    return make_run(tmp_path_factory.mktemp("plots") / "run", probes=rich_rows(), config=config)


def test_probe_metrics_plots_are_real_pngs(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval" / "probe_metrics_detailed.json"
    p = run_builtin("probe_metrics_detailed", run_dir, out)
    plot_dir = tmp_path / "eval" / "probe_metrics_detailed_plots"
    names = sorted(Path(f).name for f in p["plots"]["generated_files"])
    assert names == ["choice_topic.png", "choice_trust.png", "freetext_top_tokens.png",
                     "freetext_wordcount_over_time.png", "numeric_mood.png"]
    assert p["plots"]["plot_dir"] == str(plot_dir) and p["plots"]["errors"] == []
    assert p["plots"]["record_counts"] == {"choice": 96, "numeric": 48, "freetext": 48}
    for name in names:
        assert_real_png(plot_dir / name)


def test_typed_preset_draws_only_its_family_and_clears_stale_plots(run_dir: Path, tmp_path: Path) -> None:
    plot_dir = tmp_path / "probe_numeric_detailed_plots"
    plot_dir.mkdir()
    (plot_dir / "choice_old.png").write_bytes(b"stale")
    p = run_builtin("probe_numeric_detailed", run_dir, tmp_path / "probe_numeric_detailed.json")
    assert [Path(f).name for f in p["plots"]["generated_files"]] == ["numeric_mood.png"]
    assert sorted(f.name for f in plot_dir.iterdir()) == ["numeric_mood.png"]
    assert_real_png(plot_dir / "numeric_mood.png")


def test_no_plots_option(run_dir: Path, tmp_path: Path) -> None:
    p = run_builtin("probe_metrics_detailed", run_dir, tmp_path / "x.json", ["--no-plots"])
    assert p["plots"]["enabled"] is False and p["plots"]["generated_files"] == []
    assert not (tmp_path / "x_plots").exists()


def test_single_episode_and_text_episodes_still_plot(tmp_path: Path) -> None:
    rows = [probe("mood", f"a{i}", "warmup", i, str(i % 4 + 1)) for i in range(5)]
    rows += [probe("mood", f"a{i}", "main", 10 + i, str(i % 3 + 2)) for i in range(5)]
    rows += [probe("vote", f"a{i}", 0, 20 + i, "Party A" if i % 2 else "Party B") for i in range(5)]
    run = make_run(tmp_path / "run", probes=rows, config=probe_config_yaml([("mood", "NumericRatingProbe")]))
    p = run_builtin("probe_metrics_detailed", run, tmp_path / "o.json")
    assert p["plots"]["errors"] == []
    for f in p["plots"]["generated_files"]:
        assert_real_png(Path(f))


# ---------------------------------------------------------------- postprocessors
HOOKS = '''
import json
from pathlib import Path

def postprocess(records_by_type, out_dir, context):
    (Path(out_dir) / "seen.json").write_text(json.dumps({
        "kinds": {k: len(v) for k, v in records_by_type.items()},
        "first_choice": records_by_type["choice"][0],
        "first_text": records_by_type["freetext"][0],
        "context": {k: context[k] for k in ("mode", "run_dir", "output_json", "plot_dir", "study")},
    }, default=str))
    return [str(Path(out_dir) / "seen.json")]

def explode(records_by_type, out_dir, context):
    raise ValueError("custom plot broke")

def weird(records_by_type, out_dir, context):
    return {"generated_files": [], "path": Path(out_dir), "obj": object()}

def bye(records_by_type, out_dir, context):
    raise SystemExit(3)
'''


def test_postprocessors_success_failure_and_defaults(run_dir: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks" / "my_hooks.py"
    hooks.parent.mkdir()
    hooks.write_text(HOOKS)
    specs = ["silisocs_study.evaluators.postprocess:episode_probe_volume", "hooks/my_hooks.py",
             "hooks/my_hooks.py:explode", "hooks/my_hooks.py:weird", "hooks/my_hooks.py:bye",
             "no_such_module_xyz:fn", "hooks/missing.py:fn"]
    args = ["--no-plots"] + [a for s in specs for a in ("--postprocessor", s)]
    out = tmp_path / "eval" / "probe_metrics_detailed.json"
    p = run_builtin("probe_metrics_detailed", run_dir, out, args, context={"cwd": str(tmp_path), "study": "s1"})
    ext = p["plots"]["extensions"]
    assert [e["postprocessor"] for e in ext] == specs
    assert [e["status"] for e in ext] == ["success", "success", "failed", "success", "failed", "failed", "failed"]
    plot_dir = out.parent / "probe_metrics_detailed_plots"

    volume = ext[0]
    assert volume["generated_files"] == [str(plot_dir / "probe_volume_over_time.png")]
    assert volume["result"]["records"] == {"choice": 96, "numeric": 48, "freetext": 48}
    assert_real_png(plot_dir / "probe_volume_over_time.png")

    seen = json.loads((plot_dir / "seen.json").read_text())
    assert ext[1]["generated_files"] == [str(plot_dir / "seen.json")]
    assert seen["kinds"] == {"choice": 96, "numeric": 48, "freetext": 48}
    assert set(seen["first_choice"]) >= {"label", "episode", "choice"}
    assert set(seen["first_text"]) >= {"label", "episode", "text", "word_count"}
    assert seen["context"] == {"mode": "probe_metrics", "run_dir": str(run_dir), "output_json": str(out),
                               "plot_dir": str(plot_dir), "study": "s1"}

    assert ext[2]["error"] == "ValueError: custom plot broke" and "result" not in ext[2]
    assert ext[3]["result"]["path"] == str(plot_dir)  # made JSON-safe
    assert ext[4]["error"].startswith("SystemExit")
    assert ext[5]["error"].startswith("ModuleNotFoundError")
    assert ext[6]["error"].startswith("FileNotFoundError")
    assert json.loads(out.read_text())["plots"]["extensions"][2]["status"] == "failed"  # evaluator still wrote


def test_split_spec() -> None:
    assert split_spec("pkg.mod:fn") == ("pkg.mod", "fn")
    assert split_spec("pkg.mod") == ("pkg.mod", "postprocess")
    assert split_spec("dir/file.py") == ("dir/file.py", "postprocess")
    assert split_spec("C:\\x\\file.py") == ("C:\\x\\file.py", "postprocess")
    assert split_spec("C:\\x\\file.py:go") == ("C:\\x\\file.py", "go")


def test_cli_postprocessor_through_subprocess(run_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "probe_choice_detailed.json"
    res = subprocess.run([sys.executable, "-m", "silisocs_study.evaluators", "probe_choice_detailed",
                          "--run-dir", str(run_dir), "--output", str(out), "--postprocessor",
                          "silisocs_study.evaluators.postprocess:episode_probe_volume",
                          "--postprocessor", "nope.nope:x"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert res.returncode == 0, res.stderr
    p = json.loads(out.read_text())
    assert [e["status"] for e in p["plots"]["extensions"]] == ["success", "failed"]
    assert [Path(f).name for f in p["plots"]["generated_files"]] == ["choice_topic.png"]  # binary is its own type
