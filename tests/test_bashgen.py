"""generate-bash: bash must read every command back as exactly the planned argv.

The script is run for real with a fake interpreter that dumps its argv (NUL-separated) and
its working directory, so quoting mistakes show up as a different argv, a missing run, or a
command substitution that actually ran.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from silisocs_study.bashgen import render_script
from silisocs_study.cli import main
from silisocs_study.plan import argv, build_plan
from silisocs_study.spec import load_study

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

HOSTILE = ["it's", 'say "hi"', "$(touch PWNED_1)", "`touch PWNED_2`", "line1\nline2",
           "ünïcødé ✓", "a; touch PWNED_3", "a && touch PWNED_4", "*", "?[ab]*", "${HOME}",
           "$HOME", "", "back\\slash\\", "tab\there", "~", "!", "a | b", "> out", "#x",
           "'", '"', "\\", "$", " lead", "trail ", "\x1b[31m", "-n", "-e"]

FAKE = """#!/usr/bin/env bash
printf '%s\\0' "$#" "$PWD" "$0" "$@" >> "$ARGV_LOG"
"""


def _study(fake: str) -> str:
    overrides = "".join(f"          sim.v{i}: {json.dumps(v)}\n" for i, v in enumerate(HOSTILE))
    literal = [v.replace("{", "{{").replace("}", "}}") for v in HOSTILE]  # templates
    command = json.dumps([fake, *literal, "{run_id}", "{seed}"])
    head = textwrap.dedent("""\
        schema_version: 1
        study:
          name: "bash $(touch PWNED_5) 'study'"
          study_id: bash_study
          scenarios: [s1, s.2]
          run_defaults:
            runner_module: "my.app"
            config_path: "conf with space/$(touch PWNED_6)"
            seeds: [1, 22]
        hypotheses:
          h1:
            conditions:
              hostile:
                overrides:
        """)
    tail = textwrap.dedent(f"""\
        in_dir:
          working_directory: "work dir/it's $(x)"
        per_scenario_dir:
          working_directory: "wd/{{scenario}}"
        exact:
          working_directory: "cmd dir"
          execution:
            command: {command}
        exact_string:
          execution:
            command: "'{fake}' \\"a b\\" 'c'\\"'\\"'d' {{run_id}}"
        adopted:
          execution: {{mode: reuse_existing}}
          reuse:
            runs: [{{source: "old $(touch PWNED_7)"}}]
        """)
    return head + overrides + textwrap.indent(tail, "      ")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    root = tmp_path / "repo 'root' $(touch PWNED_0)"
    bindir = tmp_path / "bin dir $x"
    for d in (root / "work dir/it's $(x)", root / "wd/s1", root / "wd/s.2", root / "cmd dir",
              root / "old $(touch PWNED_7)", bindir):
        d.mkdir(parents=True)
    fake = bindir / "fake python"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    (root / "study.yaml").write_text(_study(str(fake)), encoding="utf-8")
    monkeypatch.setenv("RUN_STUDY_PYTHON", str(fake))
    return root, fake


def _read_log(path: Path) -> list[tuple[str, list[str]]]:
    parts = path.read_bytes().split(b"\0")
    assert parts[-1] == b""
    parts = [p.decode() for p in parts[:-1]]
    calls, i = [], 0
    while i < len(parts):
        n = int(parts[i])
        calls.append((parts[i + 1], parts[i + 2:i + 3 + n]))
        i += 3 + n
    return calls


def test_bash_reads_back_every_planned_argv(setup, tmp_path, capsys):
    root, fake = setup
    script = tmp_path / "out" / "run_study.sh"
    assert main(["--study", str(root), "--repo-root", str(root), "generate-bash",
                 "--output", str(script)]) == 0
    assert "Wrote" in capsys.readouterr().out
    assert os.stat(script).st_mode & stat.S_IXUSR
    plan = build_plan(load_study(root, root))
    runs = [r for r in plan.runs if r.reuse is None]
    assert len(runs) == 5 * 2 * 2 and len(plan.runs) == len(runs) + 1

    log = tmp_path / "argv.log"
    env = {"PATH": os.environ["PATH"], "ARGV_LOG": str(log), "HOME": "/nonexistent"}
    proc = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = _read_log(log)
    assert len(calls) == len(runs)
    for run, (cwd, got) in zip(runs, calls):
        assert got == argv(run, str(fake)), run.run_id
        assert cwd == run.working_directory, run.run_id
    # the hostile values arrived as data, and nothing they contain was executed
    assert [p for p in tmp_path.rglob("*") if p.name.startswith("PWNED")] == []


def test_script_shape(setup):
    root, fake = setup
    plan = build_plan(load_study(root, root))
    text = render_script(plan, str(fake))
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert lines[lines.index("set -euo pipefail") + 1].startswith("cd '")
    assert "# reuse_existing: h1__adopted__reuse_0 source=" in text
    wrapped = 0
    for run in (r for r in plan.runs if r.reuse is None):
        command = shlex.join(argv(run, str(fake)))
        if run.working_directory != str(root):
            command = f"(cd {shlex.quote(run.working_directory)} && {command})"
            wrapped += 1
        assert f"\n# {run.run_id}\n{command}\n" in text
    # in_dir, per_scenario_dir and exact (2 scenarios x 2 seeds each) run elsewhere
    assert wrapped == 12
    assert subprocess.run(["bash", "-n"], input=text.encode()).returncode == 0


def test_comment_lines_cannot_break_out():
    from silisocs_study.bashgen import _comment

    assert "\n" not in _comment("a\nrm -rf /") and _comment("plain id") == "plain id"


def test_generate_bash_on_a_bad_study_writes_nothing(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text("schema_version: 1\nstudy: {name: s}\n")
    script = tmp_path / "run.sh"
    assert main(["--study", str(tmp_path), "generate-bash", "--output", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not script.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]
