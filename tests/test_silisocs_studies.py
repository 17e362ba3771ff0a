"""Studies shaped like the real silisocs ones plan here exactly as silisocs' own study runner
plans them: same runs in the same order, same ids, scenarios, seeds, run names, modes,
overrides, evaluators, reuse sources and exact commands. The peer is the real thing
(``python -m silisocs.studies.run_study ... plan --output``), not a re-implementation.

Deliberate differences, each asserted: silisocs' default checkpoint cadence is injected at
launch (only when the app has ``sim.checkpoint``) rather than written into every run's
overrides; a study's default run folders live beside its study.yaml; seeds set on a
hypothesis are inherited by its conditions (the peer ignores them).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from silisocs_runs import silisocs_available
from silisocs_study.plan import build_plan
from silisocs_study.spec import load_study

CORPUS = Path(__file__).parent / "silisocs_studies"
STUDIES = sorted(p.name for p in CORPUS.iterdir() if (p / "study.yaml").is_file())
CHECKPOINT = "sim.checkpoint.every_n_steps"

# find_spec, not an import: importing silisocs' runner runs its @hydra.main(version_base=None),
# which sets Hydra's process-wide version base at collection time for every later test
pytestmark = pytest.mark.skipif(not silisocs_available(),
                                reason="silisocs needs Python >= 3.11")


def _peer_plan(study: Path, root: Path, out: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "silisocs.studies.run_study", "--study",
                           str(study), "--repo-root", str(root), "plan", "--output", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())["plan"]


@pytest.mark.parametrize("name", STUDIES)
def test_plans_like_silisocs(name, tmp_path):
    study_dir = CORPUS / name
    rows = _peer_plan(study_dir, tmp_path, tmp_path / "peer.json")
    ours = build_plan(load_study(study_dir, tmp_path))
    raw = yaml.safe_load((study_dir / "study.yaml").read_text())
    explicit_checkpoint = "checkpoint_every_n_steps" in raw["study"].get("run_defaults", {})
    assert [r["run_id"] for r in rows] == [r.run_id for r in ours.runs]
    for row, run in zip(rows, ours.runs):
        where = run.run_id
        assert (row["hypothesis"], row["condition"], row["sub_experiment"], row["scenario"],
                row["seed"], row["mode"]) == (run.hypothesis, run.condition, run.sub_experiment,
                                              run.scenario, run.seed, run.mode), where
        assert row["evaluators"] == [e.id for e in run.group.evaluators], where
        if run.reuse is not None:
            assert row["overrides"] == {}, where
            assert str(tmp_path / row["reused_source"]) == run.reuse.source, where
            continue
        assert row["run_name"] == run.run_name, where
        peer = dict(row["overrides"])
        if not explicit_checkpoint:   # the peer writes its default cadence into every run
            assert peer.pop(CHECKPOINT) == 1, where
            assert run.group.checkpoint_default == 1, where
        assert peer == run.group.overrides, where
        if row["command"] and row["command"][0] == "{python}":   # an exact command
            assert row["command"] == list(run.command), where
        if "output_root_override" in raw["study"].get("run_defaults", {}):
            assert str(tmp_path / row["planned_output_rootname"]) == run.output_dir, where


def test_every_corpus_study_uses_what_real_studies_use():
    """The corpus covers the features of the real files (a guard against shrinking it)."""
    text = "\n".join((CORPUS / n / "study.yaml").read_text() for n in STUDIES)
    for feature in ("cta=", "model=", "persona=", "reuse_existing", "builtin.study_eval",
                    "config_path: scenarios/{scenario}/conf", "\"++", "\"+agents",
                    "checkpoint_every_n_steps", "re_evaluate: true", "command:",
                    "evaluation_mode: append", "finding:", "sub_experiment:", "env: cta_"):
        assert feature in text, feature


def test_hypothesis_seeds_are_inherited_here_and_ignored_by_the_peer(tmp_path):
    doc = yaml.safe_load((CORPUS / "followups" / "study.yaml").read_text())
    doc["hypotheses"]["h1_baseline"].update(seed_start=41, seed_repeats=1)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "count_rows.py").write_text("")   # the peer wants it at plan time
    rows = _peer_plan(study, tmp_path, tmp_path / "peer.json")
    ours = build_plan(load_study(study, tmp_path))
    peer_seeds = {r["seed"] for r in rows if r["hypothesis"] == "h1_baseline"}
    our_seeds = {r.seed for r in ours.runs if r.hypothesis == "h1_baseline"}
    assert peer_seeds == {21, 22} and our_seeds == {41}
