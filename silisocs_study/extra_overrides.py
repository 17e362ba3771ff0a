"""Overrides given after ``--``: folded into every run's overrides before planning.

``silisocs-sweep --study S run -- num_agents=20`` (and the same overrides on a design-line
multirun's command line) become part of each runner-mode run's overrides with precedence over
the study's own value for that key, so they reach the job's argv, the record's ``overrides``
and ``resolved_overrides``, the fingerprint (a run made with other overrides is not the same
run) and ``plan``. Folding is idempotent: a multirun started with the folded plan's
overrides folds them again to the same plan.

Left out: ``hydra.*`` / ``hydra/...`` overrides (they configure the multirun, not the run;
they stay on its command line), keys the planner sets per run (seed, scenario, run name,
experiment name, output folder, experiment axes: a bad input, exit 2), and exact commands
(their argv is the study's; a warning counts them).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import overrides as ov
from .errors import StudyError
from .model import Study


def fold_extra_overrides(study: Study, extra: Sequence[str]) -> list[str]:
    """Apply ``extra`` to ``study``'s groups in place; returns warnings for the plan."""
    parsed = [item for item in _parse(extra) if not item.is_hydra_override()]
    if not parsed:
        return []
    from .spec.study_v1 import reserved_keys

    exact = 0
    for group in study.groups:
        if group.mode != "run":
            continue
        if group.command is not None:
            exact += 1
            continue
        reserved = reserved_keys(group.inject)
        reserved.update((ov.split_key(key)[1], f"the '{axis}' axis")
                        for axis, key in group.axis_keys if key)
        args = list(group.override_args)
        values = dict(group.overrides)
        for item in parsed:
            key = item.get_key_element()
            bare = ov.split_key(key)[1]
            role = reserved.get(bare)
            if role is not None:
                raise StudyError(f"override '{item.input_line}' after --: the study sets "
                                 f"'{bare}' per run ({_role(role)}); change the study file "
                                 f"instead", file=study.display_file)
            args = [a for a in args if ov.split_key(a.split("=", 1)[0])[1] != bare]
            for old in [k for k in values if ov.split_key(k)[1] == bare]:
                del values[old]
            args.append(item.input_line)
            if item.is_delete():
                continue
            values[key] = _plain(item.value())
        group.override_args = tuple(args)
        group.overrides = values
        group.extra_overrides = tuple(item.input_line for item in parsed)
    study.extra_overrides = tuple(item.input_line for item in parsed)
    if exact:
        return [f"overrides after -- ({', '.join(study.extra_overrides)}) do not reach the "
                f"{exact} condition(s) with an exact command (their argv is the study's)"]
    return []


def _role(role: str) -> str:
    return {"seed": "its seed: use seeds / --only-seed", "scenario": "its scenario",
            "run_name": "its run name", "experiment_name": "the experiment name",
            "output_dir": "its output folder"}.get(role, role)


def _parse(extra: Sequence[str]) -> list:
    """Hydra's own parser: the same grammar the job will read them with."""
    if not extra:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    out = []
    for text in extra:
        try:
            (item,) = parser.parse_overrides([text])
        except OverrideParseException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot parse"
            raise StudyError(f"override '{text}' after --: {first}") from None
        if item.is_sweep_override():
            raise StudyError(f"override '{text}' after -- is a sweep; with a study, put the "
                             f"values in the study file (overrides after -- apply to every "
                             f"run)")
        out.append(item)
    return out


def _plain(value: Any) -> Any:
    """A parsed override value as plain data (records are JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
