"""Real silisocs run directories for tests: ``python -m silisocs.runtime.runner`` with its offline
scripted model, as a subprocess (~5 s a run, mostly imports).

    from silisocs_runs import RunOptions, PLAIN, PROBES_TUTORIAL, PROBES_ANSWERS, silisocs_run, silisocs_runs

    run_dir = silisocs_run(tmp_root, PROBES_TUTORIAL)   # made once per session, then reused
    plain, probes = silisocs_runs(tmp_root, [PLAIN, PROBES_TUTORIAL])  # missing ones made in parallel

Runs are cached per ``RunOptions`` for the whole process (``_CACHE``), so any test file can ask for
the same run and get the same directory. ``silisocs`` needs Python >= 3.11: check
``silisocs_available()`` (or ``pytest.importorskip("silisocs")``) before asking for a run.

Probes: ``PROBE_OVERRIDES`` declares one probe of each silisocs type through Hydra overrides
(``+eval.probes.probes.<name>={probe_type: ..., probe_data: {...}}``). With silisocs' own
``TutorialBehavior`` every agent answers every probe with the same timeline sentence (binary
probes stay unanswered: ``probe_return`` null). ``ProbeAnswers`` (below, selected with
``behavior="answers"``) answers like a respondent instead — yes/no/unsure, ratings in and out of
range, choices, varied sentences, and now and then a blank line that sends silisocs to its
single-question fallback — while actions stay the tutorial's.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = "silisocs.runtime.tutorial.TutorialBehavior"
ANSWERS = "tests.silisocs_runs.ProbeAnswers"
RUN_TIMEOUT = 300

# one probe per silisocs probe type; {agentname} puts the agent in every question the model sees
PROBE_OVERRIDES: dict[str, str] = {
    "trust": "{probe_type:BinaryProbe,probe_data:{name:trust,context:'{agentname} is asked.',"
             "question:'Do you trust your feed?'}}",
    "mood": "{probe_type:NumericRatingProbe,probe_data:{name:mood,context:'{agentname} is asked.',"
            "question:'Rate your mood from {lo} to {hi}.',lo:1,hi:5}}",
    "topic": "{probe_type:ChoiceProbe,probe_data:{name:topic,context:'{agentname} is asked.',"
             "question:'Pick the topic that matters most.',choices:[economy,health,climate]}}",
    "diary": "{probe_type:FreeTextProbe,probe_data:{name:diary,context:'{agentname} is asked.',"
             "question:'Describe your day in a sentence.'}}",
}
# per-probe schedules (so carry-forward has episodes to fill): diary every other step, mood from step 2
PROBE_SCHEDULES: dict[str, str] = {"diary": "{every_n_steps:2}", "mood": "{start_step:2}"}


@dataclass(frozen=True)
class RunOptions:
    """What a run is made of; equal options → the same cached run directory."""

    num_agents: int = 4
    num_steps: int = 3
    seed: int = 1
    timeline_mode: str | None = None  # follower_chronological | pure_recsys (None: silisocs' default)
    probes: tuple[str, ...] = ()  # names from PROBE_OVERRIDES
    schedules: bool = False  # apply PROBE_SCHEDULES to those probes
    hold_last_response: bool | None = None  # eval.probes.deployment.hold_last_response
    behavior: str = "tutorial"  # tutorial | answers
    extra: tuple[str, ...] = field(default=())  # more Hydra overrides, verbatim

    @property
    def slug(self) -> str:
        digest = hashlib.sha1(repr(self).encode()).hexdigest()[:8]
        parts = [f"a{self.num_agents}s{self.num_steps}", self.behavior, *(self.probes or ("noprobes",))]
        return "_".join(parts) + f"_{digest}"

    def overrides(self, run_dir: Path, hydra_dir: Path) -> list[str]:
        """The runner's command-line overrides for this run."""
        behavior = {"tutorial": TUTORIAL, "answers": ANSWERS}[self.behavior]
        out = ["sim.llm.provider=scripted", "sim.llm.name=scripted",
               f"+sim.llm.extra_kwargs.behavior_class_path={behavior}",
               f"num_agents={self.num_agents}", f"num_steps={self.num_steps}", f"seed={self.seed}",
               f"output_rootname={run_dir}", f"hydra.run.dir={hydra_dir}"]
        if self.timeline_mode:
            out.append(f"env.gm.components.observe.params.timeline_mode={self.timeline_mode}")
        for name in self.probes:
            spec = PROBE_OVERRIDES[name]
            if self.schedules and name in PROBE_SCHEDULES:
                spec = spec[:-1] + f",deployment:{PROBE_SCHEDULES[name]}}}"
            out.append(f"+eval.probes.probes.{name}={spec}")
        if self.hold_last_response is not None:
            out.append(f"+eval.probes.deployment.hold_last_response={str(self.hold_last_response).lower()}")
        return out + list(self.extra)


PLAIN = RunOptions(timeline_mode="follower_chronological")
PROBES_TUTORIAL = RunOptions(timeline_mode="follower_chronological", probes=tuple(PROBE_OVERRIDES))
PROBES_ANSWERS = RunOptions(num_steps=4, timeline_mode="pure_recsys", probes=tuple(PROBE_OVERRIDES),
                            schedules=True, hold_last_response=True, behavior="answers")

_CACHE: dict[RunOptions, Path] = {}


def silisocs_available() -> bool:
    """True when the real silisocs package can be imported (it needs Python >= 3.11)."""
    return importlib.util.find_spec("silisocs") is not None


def _command(options: RunOptions, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "silisocs.runtime.runner",
            *options.overrides(run_dir, run_dir.parent / f"{run_dir.name}.hydra")]


def _start(options: RunOptions, run_dir: Path) -> subprocess.Popen:
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log = open(run_dir.parent / f"{run_dir.name}.log", "wb")  # noqa: SIM115 - closed in _finish
    proc = subprocess.Popen(_command(options, run_dir), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen, options: RunOptions, run_dir: Path) -> Path:
    try:
        proc.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()  # type: ignore[attr-defined]
    log = (run_dir.parent / f"{run_dir.name}.log").read_text(errors="replace")
    if proc.returncode != 0 or not (run_dir / "run_manifest.json").is_file():
        raise RuntimeError(f"silisocs run {options} failed (exit {proc.returncode}):\n{log[-3000:]}")
    _CACHE[options] = run_dir
    return run_dir


def silisocs_runs(root: Path, wanted: list[RunOptions]) -> list[Path]:
    """Run directories for ``wanted`` under ``root`` (cached ones reused; missing ones run in parallel)."""
    started = {}
    for options in dict.fromkeys(wanted):
        cached = _CACHE.get(options)
        if cached is None or not (cached / "run_manifest.json").is_file():
            run_dir = Path(root) / options.slug / "run"
            started[options] = (_start(options, run_dir), run_dir)
    for options, (proc, run_dir) in started.items():
        _finish(proc, options, run_dir)
    return [_CACHE[o] for o in wanted]


def silisocs_run(root: Path, options: RunOptions = PLAIN) -> Path:
    """One run directory (see ``silisocs_runs``)."""
    return silisocs_runs(root, [options])[0]


# ---------------------------------------------------------------- a scripted respondent
_QUESTION = re.compile(r"^Q(\d+):\s*(.*)$", re.MULTILINE)
_AGENT = re.compile(r"(\w+) is asked\.")
WORDS = ("calm busy long short sunny rainy quiet loud good odd fine slow fast walk read cook call write "
         "river market garden office station friends family neighbours news posts feed timeline music "
         "coffee bread rain wind tired happy hopeful worried bored curious").split()


def _pick(options: list[str], *key: object) -> str:
    digest = hashlib.sha1(repr(key).encode()).digest()
    return options[digest[0] % len(options)]


class ProbeAnswers:
    """A ``ScriptedLanguageModel`` behaviour: the tutorial's actions, a respondent's probe answers.

    Answers depend only on (agent, episode, question), so a run is the same every time except
    for the order in which concurrent agents' rows land in the file.
    """

    def __init__(self, **params: object) -> None:
        from silisocs.runtime.tutorial import TutorialBehavior

        self.tutorial = TutorialBehavior()

    def sample_text(self, prompt: str, *, model: object) -> str:
        episode = getattr(model, "meta_data", {}).get("episode_idx", -1)
        if "Questions:" in prompt:  # the questionnaire: one "Qi: answer" line per question
            lines = []
            for idx, question in _QUESTION.findall(prompt.split("Questions:", 1)[1]):
                answer = self.answer(question, episode)
                if _pick(["skip", "keep", "keep", "keep", "keep"], question, episode, "blank") == "skip":
                    answer = ""  # a blank line: silisocs asks this question again on its own
                lines.append(f"Q{idx}: {answer}")
            return "\n".join(lines)
        if "Answer the question above directly" in prompt:
            return self.answer(prompt.split("\n\n", 1)[0], episode)
        return self.tutorial.sample_text(prompt, model=model)

    def sample_tool_calls(self, prompt: str, tools: list, *, model: object) -> list:
        return self.tutorial.sample_tool_calls(prompt, tools, model=model)

    @staticmethod
    def answer(question: str, episode: object) -> str:
        match = _AGENT.search(question)
        agent = match.group(1) if match else "someone"
        key = (agent, episode, question)
        if "trust" in question:
            return _pick(["Yes, mostly.", "No.", "Not sure", "Maybe later", "yes"], *key)
        if "Rate" in question:
            return _pick(["I'd say 4", "2", "7 out of 10", "3", "5", "3"], *key)
        if "topic" in question:
            return _pick(["Economy", "health care", "the climate", "none of these", "HEALTH"], *key)
        n = 6 + int(hashlib.sha1(repr(key).encode()).hexdigest(), 16) % 14
        words = [_pick(list(WORDS), *key, i) for i in range(n)]
        return " ".join(words).capitalize() + _pick([".", "!", " - really."], *key)
