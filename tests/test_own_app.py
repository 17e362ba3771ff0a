"""A first own app, built from README.md's "Your own app" section verbatim: its files are the
section's labelled blocks and its commands the section's bash block, so the test breaks when
the README drifts from the code.

Real Hydra apps, real subprocesses (``silisocs-sweep`` and ``python -m ...`` from .venv/bin),
real files in tmp_path; nothing mocked.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import commands, section_blocks, section_text, write_files

SECTION = "Your own app"
BIN = Path(sys.executable).parent          # .venv/bin: silisocs-sweep, python
STUDY = "studies/first"


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def sh(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def sweep(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "silisocs-sweep"), *args], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def project(folder: Path) -> Path:
    """The section's files, written as the README shows them."""
    folder.mkdir(parents=True)
    written = write_files(folder, section_blocks(SECTION))
    names = {p.relative_to(folder).as_posix() for p in written}
    assert {"myapp.py", "conf/config.yaml", f"{STUDY}/study.yaml", f"{STUDY}/eval.py"} <= names
    return folder


def readme_commands() -> list[str]:
    bash = [b for b in section_blocks(SECTION) if b.lang == "bash"]
    assert len(bash) == 1, "the section has one bash block: the walkthrough's commands"
    return commands(bash[0].text)


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def records(folder: Path) -> dict[str, dict]:
    gen = folder / STUDY / "generated" / "records"
    return {p.stem: json.loads(p.read_text()) for p in sorted(gen.glob("*.json"))}


def one_error(proc: subprocess.CompletedProcess) -> str:
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# -- the walkthrough itself ---------------------------------------------------------------------

@pytest.mark.slow
def test_readme_walkthrough_runs_and_reaches_the_statistics(tmp_path):
    folder = project(tmp_path / "project")
    before = {p.name for p in folder.iterdir()}
    cmds = readme_commands()
    assert [c.split()[:4] for c in cmds[:2]] == [
        ["silisocs-sweep", "--study", STUDY, "plan"], ["silisocs-sweep", "--study", STUDY, "run"]]

    plan = sh(cmds[0], folder)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Config check: every condition composes" in plan.stdout
    assert not (folder / STUDY / "generated").exists()     # plan writes nothing

    run = sh(cmds[1], folder)
    assert run.returncode == 0, run.stdout + run.stderr
    recs = records(folder)
    assert len(recs) == 6 and {r["status"] for r in recs.values()} == {"success"}
    assert all(not r.get("warnings") for r in recs.values()), [r["warnings"] for r in recs.values()]
    for run_id, rec in recs.items():   # every run wrote into its own folder, nowhere else
        result = json.loads((Path(rec["output_dir"]) / "result.json").read_text())
        [ev] = rec["evaluations"]
        assert ev["status"] == "success" and ev["aggregated"] == {"score": result["score"]}
    # the exact command rendered {seed} and the doubled braces
    assert json.loads(Path(recs["h2__shell__base__seed2"]["output_dir"], "result.json")
                      .read_text()) == {"score": 2}
    # the app's run: seed 2 with rate 2.0 scores 2.0 * (1 + 2 % 3)
    assert json.loads(Path(recs["h1__high__base__seed2"]["output_dir"], "result.json")
                      .read_text()) == {"score": 6.0}
    # nothing written into the project folder (the repo root and every run's cwd)
    assert {p.name for p in folder.iterdir()} == before
    summary = (folder / STUDY / "generated" / "reports" / "summary.md").read_text()
    table = re.findall(r"^\| (low|high|shell) \| base \| 2 \| (\S+) \|", summary, re.M)
    assert table == [("low", "2.50"), ("high", "5.00"), ("shell", "1.50")], summary
    assert "`score.score`" in summary

    by_hand = sh(cmds[2], folder)
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert json.loads((folder / "score.json").read_text()) == {"aggregated": {"score": 4.0}}


# -- plan-time composition: a missing injected key ------------------------------------------

def quoted_error() -> str:
    """The error the README quotes for a config without ``seed: 0``."""
    found = re.findall(r"^\s*> ``(error: .*)``$", section_text(SECTION), re.M)
    assert len(found) == 1, "the section quotes one error line (> ``error: ...``)"
    return found[0]


def test_plan_names_the_missing_injected_key_and_the_fix_as_the_readme_quotes(tmp_path):
    folder = project(tmp_path / "project")
    config = folder / "conf" / "config.yaml"
    text = config.read_text()
    assert text.count("\nseed: 0 ") == 1
    config.write_text(text.replace("\nseed: 0 ", "\n# no seed ", 1))
    before = tree(folder)
    proc = sweep(folder, "--study", STUDY, "plan")
    assert proc.returncode == 2
    assert one_error(proc) == quoted_error()
    assert tree(folder) == before      # nothing written


@pytest.mark.slow
def test_run_stops_before_any_run_on_a_missing_injected_key(tmp_path):
    folder = project(tmp_path / "project")
    config = folder / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("\nrun_name: null", "\n# no run_name", 1))
    proc = sweep(folder, "--study", STUDY, "run")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the app's config has no key 'run_name' (the study passes run_name=<run name> to " \
           "every run): add `run_name: null` to the app's config" in proc.stderr
    assert f"{STUDY}/study.yaml:6:5: study.run_defaults:" in proc.stderr
    assert not (folder / STUDY / "runs").exists() and not records(folder)


def test_inject_settings_the_error_names_make_a_bare_config_plan(tmp_path):
    """The fixes the error offers are real: ``++key`` adds the key, null passes nothing; an
    inject naming a key the config lacks is reported at its own line."""
    folder = project(tmp_path / "project")
    (folder / "conf" / "config.yaml").write_text(
        "rate: 1.0\noutput_dir: ${hydra:runtime.output_dir}\n")
    study = folder / STUDY / "study.yaml"
    text = study.read_text()
    anchor = "    seeds: [1, 2]\n"
    assert text.count(anchor) == 1
    fixed = anchor + "    inject: {seed: ++seed, run_name: null, experiment_name: null}\n"
    study.write_text(text.replace(anchor, fixed))
    proc = sweep(folder, "--study", STUDY, "plan")
    assert proc.returncode == 0, proc.stderr

    study.write_text(text.replace(anchor, anchor + "    inject:\n      seed: sim.seed\n"
                                  "      run_name: ++run_name\n      experiment_name: null\n"))
    proc = sweep(folder, "--study", STUDY, "plan")
    assert proc.returncode == 2
    line = one_error(proc)
    assert line.startswith(f"error: {STUDY}/study.yaml:9:13: study.run_defaults.inject.seed: "
                           f"does not compose with myapp: the app's config has no key "
                           f"'sim.seed' (the study passes sim.seed=<seed> to every run): add "
                           f"the key sim.seed to the app's config, or set "
                           f"run_defaults.inject.seed to '++sim.seed'"), line
    assert not (folder / STUDY / "generated").exists()


# -- an app that writes into its cwd ---------------------------------------------------------

CWD_APP = '''import json
import hydra


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg) -> None:
    with open("result.json", "w") as fh:      # the cwd: the project root, shared by every run
        json.dump({"score": cfg.rate * cfg.seed}, fh)


if __name__ == "__main__":
    main()
'''


def cwd_project(tmp_path: Path) -> Path:
    folder = project(tmp_path / "project")
    (folder / "myapp.py").write_text(CWD_APP)
    study = folder / STUDY / "study.yaml"
    text = study.read_text()
    start = text.index("  h2:\n")
    study.write_text(text[:start])        # only the app's runs
    return folder


CWD_WARNING = ("the run wrote nothing into its folder {folder} (only Hydra's own files): does "
               "the app read the injected output key? see run_defaults.inject.output_dir; "
               "meanwhile 1 file(s) in its working directory {cwd} were written: result.json")


@pytest.mark.slow
def test_an_app_writing_into_the_cwd_is_warned_in_every_record(tmp_path):
    folder = cwd_project(tmp_path)
    proc = sweep(folder, "--study", STUDY, "run")
    # the runs succeed, but the evaluator finds no result.json in any run folder: exit 1
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("[evaluator failed]") == 4
    recs = records(folder)
    assert len(recs) == 4 and {r["status"] for r in recs.values()} == {"success"}
    for rec in recs.values():
        [warning] = rec["warnings"]
        assert warning.startswith(CWD_WARNING.format(folder=rec["output_dir"], cwd=folder)), \
            warning
    # every run overwrote the same file in the project root: the last one is left
    assert json.loads((folder / "result.json").read_text()) == {"score": 4.0}


@pytest.mark.slow
def test_the_sweeper_prints_the_warning_on_the_console(tmp_path):
    folder = cwd_project(tmp_path)
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "myapp", "--multirun", "hydra/sweeper=study",
         f"hydra.sweeper.study={STUDY}", "hydra.sweeper.only_condition=[low]",
         "hydra.sweeper.only_seed=[1]"],
        cwd=folder, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rec = records(folder)["h1__low__base__seed1"]
    assert f"[silisocs-sweep] warning: h1__low__base__seed1: {rec['warnings'][0]}" \
        in proc.stderr


@pytest.mark.slow
def test_run_prints_the_warning_on_the_console(tmp_path):
    folder = cwd_project(tmp_path)
    proc = sweep(folder, "--study", STUDY, "run", "--only-condition", "low", "--only-seed", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr      # its evaluator failed
    rec = records(folder)["h1__low__base__seed1"]
    assert "the run wrote nothing into its folder" in rec["warnings"][0]
    assert "the run wrote nothing into its folder" in proc.stdout + proc.stderr


# -- builtin.study_eval through python -m silisocs_study.evaluators ---------------------------

def evaluators(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "python"), "-m", "silisocs_study.evaluators", *args],
                          cwd=cwd, env=env(), capture_output=True, text=True, timeout=120)


SCALED_EVAL = '''import argparse, json, sys
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--run-dir", type=Path, required=True)
p.add_argument("--output", type=Path, required=True)
p.add_argument("--scale", type=float, default=1.0)
a = p.parse_args()
if a.scale < 0:
    sys.exit(3)
if a.scale == 0:
    sys.exit(0)          # "succeeds" without an output
score = json.loads((a.run_dir / "result.json").read_text())["score"]
a.output.write_text(json.dumps({"aggregated": {"score": score * a.scale}, "cwd": str(Path.cwd())}))
'''


def test_study_eval_runs_through_the_evaluators_command(tmp_path):
    folder = project(tmp_path / "project")
    (folder / STUDY / "eval.py").write_text(SCALED_EVAL)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "result.json").write_text('{"score": 2.5}')
    out = tmp_path / "out" / "deep" / "eval.json"
    for name, study in (("study_eval", STUDY), ("builtin.study_eval", f"{STUDY}/study.yaml")):
        proc = evaluators(folder, name, "--study", study, "--run-dir", str(run_dir),
                          "--output", str(out), "--", "--scale", "2")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(out.read_text()) == {"aggregated": {"score": 5.0}, "cwd": str(folder)}
        out.unlink()
    # without --study: ./eval.py in the current directory, as the preset's command reads
    proc = evaluators(folder / STUDY, "study_eval", "--run-dir", str(run_dir), "--output",
                      str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["aggregated"] == {"score": 2.5}


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--run-dir", "{run}", "--output", "{out}"], 2,
     "error: builtin.study_eval runs the study's eval.py: {folder}/eval.py not found in the "
     "current directory (or pass --study: the study file or its folder)"),
    (["--study", "{missing}", "--run-dir", "{run}", "--output", "{out}"], 2,
     "error: study not found: {missing}"),
    (["--study", STUDY, "--run-dir", "{missing}", "--output", "{out}"], 2,
     "error: run directory not found: {missing}"),
    (["--study", STUDY, "--run-dir", "{run}", "--output", "{out}", "--no-plots"], 2,
     "error: builtin.study_eval runs eval.py: give its own arguments after --"),
    (["--study", STUDY, "--run-dir", "{run}", "--output", "{out}", "--", "--scale", "-1"], 1,
     f"error: evaluation failed: RuntimeError: {STUDY}/eval.py exited with code 3"),
    (["--study", STUDY, "--run-dir", "{run}", "--output", "{out}", "--", "--scale", "0"], 1,
     f"error: evaluation failed: RuntimeError: {STUDY}/eval.py exited 0 but wrote no {{out}}"),
])
def test_study_eval_command_errors_are_one_line(tmp_path, args, code, message):
    folder = project(tmp_path / "project")
    (folder / STUDY / "eval.py").write_text(SCALED_EVAL)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "result.json").write_text('{"score": 1}')
    fill = {"run": str(run_dir), "out": str(tmp_path / "o.json"),
            "missing": str(tmp_path / "nope"), "folder": str(folder)}
    proc = evaluators(folder, "study_eval", *(a.format(**fill) for a in args))
    assert proc.returncode == code
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert lines == [message.format(**fill)], proc.stderr
    assert not (tmp_path / "o.json").exists()


def test_other_presets_refuse_study_eval_flags(tmp_path):
    proc = evaluators(tmp_path, "activity_summary", "--study", "x", "--run-dir", str(tmp_path),
                      "--output", str(tmp_path / "o.json"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --study and arguments after -- are for "
                                   "builtin.study_eval only, not builtin.activity_summary")
    assert not (tmp_path / "o.json").exists()


def test_the_walkthrough_is_exactly_its_labelled_files(tmp_path):
    folder = project(tmp_path / "project")
    assert sorted(tree(folder)) == ["conf", "conf/config.yaml", "myapp.py", "studies",
                                    "studies/first", "studies/first/eval.py",
                                    "studies/first/study.yaml"]
