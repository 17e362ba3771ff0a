"""The data that flows through the pipeline: Study → Group → Run.

A ``Group`` holds everything its runs share (one study condition, or one experiment), so a
50,000-run plan keeps one copy of each override map and command template. A ``Run`` holds
only what varies per run. Both formats (study.yaml and experiment specs) produce these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EvaluatorSpec:
    """One evaluator as configured (templates still unrendered)."""

    id: str
    preset: str | None
    builtin: str | None          # preset to run in-process (command not overridden)
    command: tuple[str, ...]     # argv template; './x' already made absolute
    static_args: tuple[str, ...] = ()
    input_mode: str = "run_dir"  # run_dir | explicit_paths
    run_dir_arg: str = "--run-dir"
    output_arg: str = "--output"
    explicit_args: tuple[tuple[str, str], ...] = ()
    include_run_dir_in_explicit: bool = True
    output_subpath: str = "eval.json"
    manage_io_args: bool = True
    enabled: bool = True
    timeout_seconds: float | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id, "preset": self.preset, "builtin": self.builtin,
            "command": list(self.command), "static_args": list(self.static_args),
            "input_mode": self.input_mode, "run_dir_arg": self.run_dir_arg,
            "output_arg": self.output_arg, "explicit_args": dict(self.explicit_args),
            "include_run_dir_in_explicit": self.include_run_dir_in_explicit,
            "output_subpath": self.output_subpath, "manage_io_args": self.manage_io_args,
            "enabled": self.enabled, "timeout_seconds": self.timeout_seconds,
        }

    @classmethod
    def from_json(cls, data: dict) -> "EvaluatorSpec":
        data = dict(data)
        data["command"] = tuple(data["command"])
        data["static_args"] = tuple(data["static_args"])
        data["explicit_args"] = tuple(data["explicit_args"].items())
        return cls(**data)


AUTO_OUTPUT = "auto"   # inject role value: decide the output key from the app's config


@dataclass(frozen=True)
class AppFacts:
    """What the planner must know about the app that runs a run, read from its composed config
    (by the sweeper inside the app, or by the plan-time composition check).

    ``output_key``: the override that places a run in its folder — ``output_rootname`` for
    apps that read it (silisocs' runner), else ``++output_dir``. ``checkpoint``: the app has a
    ``sim.checkpoint`` block, so the silisocs default cadence (every step) is injected.
    """

    output_key: str = "++output_dir"
    checkpoint: bool = False

    def to_json(self) -> dict:
        return {"output_key": self.output_key, "checkpoint": self.checkpoint}

    @classmethod
    def from_json(cls, data: dict | None) -> "AppFacts | None":
        if not data:
            return None
        return cls(output_key=str(data["output_key"]), checkpoint=bool(data["checkpoint"]))


@dataclass(frozen=True)
class ReuseRef:
    """An earlier run adopted by a ``reuse_existing`` condition."""

    source: str                 # absolute run directory
    eval: str | None = None     # absolute path of an earlier evaluator output


@dataclass
class Group:
    """What the runs of one condition (or one experiment) share."""

    key: str                          # "<hypothesis>/<condition>"
    study_name: str
    hypothesis: str
    condition: str
    sub_experiment: str
    mode: str = "run"                 # run | reuse_existing
    runner_module: str | None = None
    command: tuple[str, ...] | None = None      # exact-command template
    config_path: str | None = None              # template, relative to repo root or absolute
    working_directory: str | None = None        # template
    run_name_template: str = ""
    output_template: str = ""                   # template; absolute or relative to repo root
    overrides: dict[str, Any] = field(default_factory=dict)   # merged, full keys
    override_args: tuple[str, ...] = ()         # Hydra-encoded overrides
    inject: dict[str, str | None] = field(default_factory=dict)  # role → override key
    evaluators: tuple[EvaluatorSpec, ...] = ()
    re_evaluate: bool = False
    timeout_seconds: float | None = None
    reuse: tuple[tuple[ReuseRef, str, int], ...] = ()   # (ref, scenario, seed)
    scenarios: tuple[str, ...] = ()
    seeds: tuple[int, ...] | range = ()   # a range stays a range (counted, not listed)
    points: tuple[dict, ...] = ()               # experiment specs: axis assignments
    axis_keys: tuple[tuple[str, str | None], ...] = ()  # (axis name, override key)
    checkpoint_default: int | None = None       # cadence injected when the app has sim.checkpoint
    path: tuple = ()                            # YAML path of the condition (for error lines)
    override_paths: dict[str, tuple] = field(default_factory=dict)  # key → where it is set
    extra_overrides: tuple[str, ...] = ()       # given after `--` (in override_args too)

    def to_json(self) -> dict:
        return {
            "hypothesis": self.hypothesis, "condition": self.condition,
            "sub_experiment": self.sub_experiment, "mode": self.mode,
            "runner_module": self.runner_module,
            "command": list(self.command) if self.command else None,
            "config_path": self.config_path, "working_directory": self.working_directory,
            "overrides": self.overrides, "override_args": list(self.override_args),
            "inject": self.inject, "evaluators": [e.to_json() for e in self.evaluators],
            "re_evaluate": self.re_evaluate, "timeout_seconds": self.timeout_seconds,
            "axis_keys": [list(a) for a in self.axis_keys],
            "checkpoint_default": self.checkpoint_default,
        }


@dataclass(slots=True)
class Run:
    """One concrete execution (or one adopted earlier run)."""

    run_id: str
    group: Group
    index: int
    scenario: str
    seed: int | None
    run_name: str
    output_dir: str                 # absolute
    config_path: str | None         # absolute
    working_directory: str          # absolute
    command: tuple[str, ...] | None
    fingerprint: str
    axes: dict | None = None
    reuse: ReuseRef | None = None
    app: AppFacts | None = None     # set once the app that runs it is known (not planned)

    @property
    def hypothesis(self) -> str:
        return self.group.hypothesis

    @property
    def condition(self) -> str:
        return self.group.condition

    @property
    def sub_experiment(self) -> str:
        return self.group.sub_experiment

    @property
    def mode(self) -> str:
        return self.group.mode


@dataclass
class Study:
    """A validated study, in either format, ready to expand."""

    kind: str                     # "study" | "experiment"
    name: str
    study_id: str
    file: Path                    # absolute path of the spec file
    display_file: str             # as the user named it (for messages)
    repo_root: Path
    workspace: Path               # where generated/ lives
    groups: list[Group]
    meta: dict[str, Any] = field(default_factory=dict)        # question, version, parents...
    hypotheses: dict[str, dict] = field(default_factory=dict)  # id → metadata
    raw: dict[str, Any] = field(default_factory=dict)          # the authored document
    summary_path: Path | None = None
    summary_log_path: Path | None = None
    post_actions: tuple = ()
    defaults: dict[str, Any] = field(default_factory=dict)    # max_concurrent, timeout...
    doc: Any = None               # the parsed Document: turns YAML paths into file:line errors
    warnings: list[str] = field(default_factory=list)         # plan-time notes (e.g. reuse)
    extra_overrides: tuple[str, ...] = ()   # given after `--`, folded into the groups
    # the analysis: block (silisocs_study.analysis.settings.AnalysisSettings; None: defaults)
    analysis: Any = None
    # the adaptive: block: hypothesis id → AdaptiveSettings (only adaptive hypotheses)
    adaptive: dict[str, Any] = field(default_factory=dict)

    def error(self, path: tuple, message: str):
        """A StudyError at ``path`` of the study file (file:line:col when known)."""
        from .errors import StudyError

        if self.doc is not None and path:
            return self.doc.error(path, message)
        return StudyError(message, file=self.display_file)

    @property
    def generated(self) -> Path:
        return self.workspace / "generated"
