"""``experiment.<name>`` specs (alienbio style) → Study with one Group per experiment.

Axes expand as a cross product (``mode: iterate``) or a seeded sample of distinct points
(``mode: sample``); ``zip`` groups axes that vary together; ``exclude``/``include`` remove or
add partial assignments. Axis values become Hydra overrides under the singular axis name.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import os
import re
from pathlib import Path
from typing import Any

from .. import numeric
from .. import overrides as ov
from .. import templates
from ..errors import StudyError, did_you_mean
from ..model import AUTO_OUTPUT, Group, Study
from .adaptive import parse_experiment_adaptive
from .analysis import parse_experiment_analysis
from .evaluations import parse_evaluations
from .fields import ID_RE, Section, check_id, check_value, describe
from .study_v1 import DEFAULT_RUNNER, INJECT_ROLES, reserved_keys
from .yamlload import Document, Ref, refs

EXPERIMENT_KEYS = ("scenario", "path", "name", "axes", "mode", "samples", "seed", "zip",
                   "exclude", "include", "post_actions", "description", "notes", "question",
                   "analysis", "adaptive")
SCENARIO_KEYS = ("runner_module", "config_path", "overrides", "command", "working_directory",
                 "evaluations", "inject", "timeout_seconds", "description", "notes")
AXIS_KEYS = ("values", "override")
DEFAULT_INJECT = {"seed": None, "run_name": "run_name", "experiment_name": None,
                  "output_dir": AUTO_OUTPUT, "scenario": None}
_SEQ_WIDTH = 3
_RESERVED_AXES = tuple(p for p in templates.RUN_PLACEHOLDERS if p != "seed") + ("experiment",)


def singular(name: str) -> str:
    """``agents`` → ``agent``, ``strategies`` → ``strategy``; other names stay as they are."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def experiment_names(data: Any) -> list[str]:
    """Experiment names defined in a spec file (``experiment.X`` keys or an ``experiment`` map)."""
    if not isinstance(data, dict):
        return []
    names = [k.split(".", 1)[1] for k in data if isinstance(k, str)
             and k.startswith("experiment.")]
    nested = data.get("experiment")
    if isinstance(nested, dict):
        names += list(nested)
    return names


def is_experiment_file(data: Any) -> bool:
    return bool(experiment_names(data)) and "hypotheses" not in data


def _blocks(data: dict, prefix: str) -> dict[str, tuple[tuple, Any]]:
    out: dict[str, tuple[tuple, Any]] = {}
    for key, value in data.items():
        if key.startswith(prefix + "."):
            out[key.split(".", 1)[1]] = ((key,), value)
    nested = data.get(prefix)
    if isinstance(nested, dict):
        for key, value in nested.items():
            out[key] = ((prefix, key), value)
    return out


def parse_experiment(doc: Document, file: Path, repo_root: Path, name: str | None,
                     today: _dt.date | None = None, workspace: Path | None = None) -> Study:
    data = doc.data
    for key in data:
        if not (key.startswith(("experiment.", "scenario.")) or key in ("experiment", "scenario")):
            raise doc.error((key,), f"unknown top-level key '{key}' in an experiment file "
                                    f"(expected experiment.<name> or scenario.<name>)",
                            at_key=True)
    experiments = _blocks(data, "experiment")
    if doc.has_refs:   # a reference means something only as an experiment's scenario
        allowed = {path + ("scenario",) for path, _ in experiments.values()}
        for path, ref in refs(data):
            if path not in allowed:
                raise doc.error(path, f"!ref {ref.name}: a reference is only read as an "
                                      f"experiment's scenario (scenario: !ref NAME)")
    if name is None:
        if len(experiments) != 1:
            raise StudyError(f"defines {len(experiments)} experiments "
                             f"({', '.join(experiments)}); name one with FILE#NAME",
                             file=doc.file)
        name = next(iter(experiments))
    if name not in experiments:
        raise StudyError(f"no experiment '{name}'{did_you_mean(name, experiments)}; "
                         f"defined: {', '.join(experiments)}", file=doc.file)
    path, value = experiments[name]
    check_id(doc, path, name, "experiment name", at_key=True)
    exp = Section.of(doc, path, value, "an experiment mapping")
    exp.check_keys(EXPERIMENT_KEYS)
    scenarios = _blocks(data, "scenario")
    scen_name, scen = _scenario(exp, scenarios)

    axes, axis_keys = _axes(exp)
    singulars = [s for s, _ in axis_keys]
    points = _points(exp, axes, singulars)
    name_template = exp.str("name", "_".join("{" + s + "}" for s in singulars))
    _check(exp, "name", name_template, singulars + ["experiment"])
    mode = exp.choice("mode", ("iterate", "sample"), "iterate")
    if mode == "sample":
        points = _sample(exp, points)
    elif exp.has("samples"):
        raise exp.error("samples", "samples is only read with mode: sample")

    _check_names(exp, name_template, name, points)

    path_template = exp.str("path", "data/experiments/{name}_{date}_{seq}")
    _check(exp, "path", path_template, ["date", "seq", "name"])
    if workspace is None:  # not pinned: the folder the next run would allocate
        try:
            workspace = allocate_path(repo_root, path_template, name, today=today, create=False)
        except templates.TemplateError as exc:
            raise exp.error("path", str(exc)) from None
        except OSError as exc:   # e.g. a folder name longer than the file system allows
            raise exp.error("path", f"cannot use this path: {exc.strerror or exc}") from None
        if not path_template.startswith(("/", "~")):
            norm, root = os.path.normpath(workspace), os.path.normpath(repo_root)
            if norm != root and not norm.startswith(root.rstrip("/") + "/"):
                raise exp.error("path", f"path '{path_template}' climbs out of the repo root "
                                        f"(use an absolute path to write outside it)")

    run_ph = templates.RUN_PLACEHOLDERS + tuple(singulars)
    group = Group(
        key=f"{name}/{name}", study_name=name, hypothesis=name, condition=name, sub_experiment=name,
        runner_module=None, run_name_template=name_template,
        output_template=str(workspace).replace("{", "{{").replace("}", "}}")
        + "/runs/{run_id}",
        points=tuple(points), axis_keys=tuple(axis_keys), scenarios=(scen_name,),
        path=exp.path,
    )
    if scen is not None:
        scen.check_keys(SCENARIO_KEYS)
        group.runner_module = scen.module("runner_module", None)
        group.command = scen.command("command")
        for key in ("config_path", "working_directory"):
            value = scen.str(key)
            if value is not None:
                _check(scen, key, value, run_ph)
            setattr(group, key, value)
        for j, token in enumerate(group.command or ()):
            _check(scen, "command", token, run_ph)
        group.overrides = _merged(scen)
        group.override_paths = {k: scen.path + ("overrides", k) for k in group.overrides}
        group.inject = _inject(scen)
        group.evaluators = tuple(parse_evaluations(
            doc, scen.path + ("evaluations",), scen.data.get("evaluations"),
            default_prefix="eval", study_dir=file.parent, extra_placeholders=tuple(singulars)))
        group.timeout_seconds = scen.seconds("timeout_seconds")
    else:
        group.inject = dict(DEFAULT_INJECT)
    if group.runner_module is None and group.command is None:
        group.runner_module = DEFAULT_RUNNER
    group.override_args = tuple(ov.format_override(k, v) for k, v in group.overrides.items())
    reserved = set(reserved_keys(group.inject))
    for key in group.overrides:
        if ov.split_key(key)[1] in reserved | set(k for _, k in axis_keys if k):
            assert scen is not None   # overrides are only ever set from the scenario section
            raise scen.error("overrides", f"override '{key}' is set per run (axis or inject)")

    analysis = parse_experiment_analysis(exp, name, axes, singular)
    return Study(
        kind="experiment", name=name, study_id=name, file=file, display_file=doc.file,
        repo_root=repo_root, workspace=workspace, groups=[group],
        meta={"question": exp.data.get("question"), "description": exp.data.get("description"),
              "path_template": path_template, "mode": mode, "axes": axes,
              "scenario": scen_name},
        hypotheses={name: {"statement": exp.data.get("description")}},
        raw=doc.data, post_actions=_post_actions(exp), doc=doc, warnings=doc.warnings,
        analysis=analysis,
        adaptive=parse_experiment_adaptive(exp, name, group, mode, analysis, axes),
    )


def _check_names(exp: Section, template: str, name: str, points: list[dict]) -> None:
    """Every point's rendered name is a run id: render it, check its charset and uniqueness."""
    seen: dict[str, dict] = {}
    for point in points:
        try:
            run_id = templates.render(template, {**point, "experiment": name})
        except templates.TemplateError as exc:
            raise exp.error("name", str(exc)) from None
        if not ID_RE.match(run_id) or "__" in run_id:
            raise exp.error("name", f"renders the invalid run name {run_id!r} for {point}: "
                                    f"use letters, digits, '.', '_', '-', '=' (no '__') and start "
                                    f"with a letter or digit")
        if run_id in seen:
            raise exp.error("name", f"renders the same run name {run_id!r} for {seen[run_id]} "
                                    f"and {point}: add the axes that tell them apart")
        seen[run_id] = point


def _scenario(exp: Section, scenarios: dict) -> tuple[str, Section | None]:
    value = exp.data.get("scenario")
    if value is None:
        raise exp.error(None, "missing required key 'scenario' (e.g. scenario: !ref baseline)")
    if isinstance(value, Ref):
        ref = value.name.removeprefix("scenario.")
        if ref not in scenarios:
            raise exp.error("scenario", f"!ref {value.name}: no scenario.{ref} block in this "
                                        f"file{did_you_mean(ref, scenarios)}")
        spath, sval = scenarios[ref]
        check_id(exp.doc, spath, ref, "scenario name", at_key=True)
        return ref, Section.of(exp.doc, spath, sval, "a scenario mapping")
    if isinstance(value, dict):
        return "inline", Section.of(exp.doc, exp.path + ("scenario",), value)
    if isinstance(value, str):
        raise exp.error("scenario", f"expected '!ref {value}' or a mapping, got a plain string")
    raise exp.error("scenario", f"expected !ref NAME or a mapping, got {describe(value)}")


def _axes(exp: Section) -> tuple[dict[str, list], list[tuple[str, str | None]]]:
    axes_sec = exp.section("axes", required=True)
    if not axes_sec.data:
        raise axes_sec.error(None, "must define at least one axis")
    axes: dict[str, list] = {}
    keys: list[tuple[str, str | None]] = []
    for axis, value in axes_sec.data.items():
        path = axes_sec.path + (axis,)
        if not re.match(r"[A-Za-z_][A-Za-z0-9_]*\Z", axis):
            raise exp.doc.error(path, f"invalid axis name '{axis}' (use a Python identifier)",
                                at_key=True)
        override: str | None = singular(axis)
        if isinstance(value, dict):
            sec = Section(exp.doc, path, value)
            sec.check_keys(AXIS_KEYS)
            if "override" in value:
                override = value["override"]
                if override is not None:
                    if not isinstance(override, str):
                        raise sec.error("override", f"expected a key or null, "
                                                    f"got {describe(override)}")
                    try:
                        ov.split_key(override)
                    except ValueError as exc:
                        raise sec.error("override", str(exc)) from None
            value = value.get("values")
            path = path + ("values",)
        if isinstance(value, int) and not isinstance(value, bool) and axis == "seeds":
            if value < 1:
                raise exp.doc.error(path, f"seeds: N needs N >= 1, got {value}")
            limit = numeric.run_limit()
            if value > limit:
                raise exp.doc.error(path, f"seeds: {value:,} is more than the run limit of "
                                          f"{limit:,} ({numeric.run_limit_hint()})")
            values = list(range(value))
        elif isinstance(value, list):
            if not value:
                raise exp.doc.error(path, "must not be empty")
            seen: set = set()
            for i, v in enumerate(value):
                if isinstance(v, (list, dict)) or isinstance(v, Ref):
                    raise exp.doc.error(path + (i,), f"axis values must be scalars, "
                                                     f"got {describe(v)}")
                if axis == "seeds" and (isinstance(v, bool) or not isinstance(v, int)):
                    raise exp.doc.error(path + (i,), f"seeds must be integers, got {describe(v)}")
                check_value(exp.doc, path + (i,), v)
                if v in seen:   # == semantics, as before: 1, 1.0 and true are one value
                    raise exp.doc.error(path + (i,), f"duplicate value {describe(v)}")
                seen.add(v)
            values = list(value)
        else:
            what = "a list or a count" if axis == "seeds" else "a list"
            raise exp.doc.error(path, f"expected {what}, got {describe(value)}")
        single = singular(axis)
        if single in _RESERVED_AXES:
            raise exp.doc.error(axes_sec.path + (axis,), f"axis '{axis}' clashes with the "
                                                         f"{{{single}}} placeholder", at_key=True)
        if single in [k for k, _ in keys]:
            raise exp.doc.error(axes_sec.path + (axis,), f"axis '{axis}' clashes with another "
                                                         f"axis named '{single}'", at_key=True)
        axes[single] = values
        keys.append((single, override))
    return axes, keys


def _points(exp: Section, axes: dict[str, list], singulars: list[str]) -> list[dict]:
    """Cross product of axis blocks (a zip group is one block), then exclude, then include."""
    groups: list[list[str]] = []
    zipped: set[str] = set()
    zip_value = exp.data.get("zip")
    if zip_value is not None:
        if not isinstance(zip_value, list):
            raise exp.error("zip", f"expected a list of axis-name lists, got {describe(zip_value)}")
        for i, names in enumerate(zip_value):
            zpath = exp.path + ("zip", i)
            if not isinstance(names, list) or len(names) < 2 or not all(
                    isinstance(n, str) for n in names):
                raise exp.doc.error(zpath, "each zip entry is a list of at least two axis names")
            resolved = [_axis_name(exp, zpath + (j,), n, axes) for j, n in enumerate(names)]
            for j, n in enumerate(resolved):
                if n in zipped:
                    raise exp.doc.error(zpath + (j,), f"axis '{n}' is already zipped")
                zipped.add(n)
            lengths = {len(axes[n]) for n in resolved}
            if len(lengths) != 1:
                shown = ", ".join(f"{n}={len(axes[n])}" for n in resolved)
                raise exp.doc.error(zpath, f"zipped axes must have equal lengths ({shown})")
            groups.append(resolved)
    sizes: list[tuple[str, int]] = []
    for axis in singulars:
        if axis in zipped:
            if any(g[0] == axis for g in groups):
                sizes.append(("+".join(next(g for g in groups if g[0] == axis)),
                              len(axes[axis])))
            continue
        sizes.append((axis, len(axes[axis])))
    _check_grid(exp, axes, singulars, sizes)
    blocks: list[list[dict]] = []
    for axis in singulars:
        if axis in zipped:
            group = next(g for g in groups if g[0] == axis) if any(
                g[0] == axis for g in groups) else None
            if group is not None:
                blocks.append([dict(zip(group, vals)) for vals in zip(*(axes[n] for n in group))])
            continue
        blocks.append([{axis: v} for v in axes[axis]])
    points = [_combine(combo) for combo in itertools.product(*blocks)]
    excludes = _assignments(exp, "exclude", axes)
    if excludes:
        points = [p for p in points if not any(all(p.get(k) == v for k, v in e.items())
                                               for e in excludes)]
    includes = _assignments(exp, "include", axes)
    if includes:
        known = {tuple(p[a] for a in singulars) for p in points}
        for extra in includes:
            free = [a for a in singulars if a not in extra]
            for combo in itertools.product(*(axes[a] for a in free)):
                point = {a: extra.get(a) for a in singulars}
                point.update(zip(free, combo))
                key = tuple(point[a] for a in singulars)
                if key not in known:
                    known.add(key)
                    points.append(point)
    if not points:
        raise exp.error("exclude", "every point is excluded: nothing to run")
    return points


def _check_grid(exp: Section, axes: dict, singulars: list[str], sizes) -> None:
    """Count the points (cross product plus what includes may add) before building any."""
    total = 1
    for _, size in sizes:
        total *= size
    extra = 0
    value = exp.data.get("include")
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                named = {k if k in axes else singular(str(k)) for k in item}
                free = 1
                for axis in singulars:
                    if axis not in named:
                        free *= len(axes[axis])
                extra += free
    limit = numeric.run_limit()
    if total + extra > limit:
        shape = " × ".join(f"{name} {size:,}" for name, size in sizes)
        raise exp.error("axes", f"the axes define {total + extra:,} points ({shape}"
                                f"{f' + {extra:,} included' if extra else ''}), more than the "
                                f"run limit of {limit:,} ({numeric.run_limit_hint()})")


def _combine(parts: tuple[dict, ...]) -> dict:
    point: dict = {}
    for part in parts:
        point.update(part)
    return point


def _axis_name(exp: Section, path, name: str, axes: dict) -> str:
    single = name if name in axes else singular(name)
    if single not in axes:
        raise exp.doc.error(path, f"unknown axis '{name}'{did_you_mean(single, axes)}")
    return single


def _assignments(exp: Section, key: str, axes: dict) -> list[dict]:
    value = exp.data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise exp.error(key, f"expected a list of axis assignments, got {describe(value)}")
    out = []
    for i, item in enumerate(value):
        ipath = exp.path + (key, i)
        if not isinstance(item, dict) or not item:
            raise exp.doc.error(ipath, f"expected a mapping of axis: value, got {describe(item)}")
        assignment = {}
        for name, v in item.items():
            axis = _axis_name(exp, ipath + (name,), name, axes)
            if isinstance(v, (list, dict)):
                raise exp.doc.error(ipath + (name,), f"expected a single value, got {describe(v)}")
            if key == "exclude" and v not in axes[axis]:
                raise exp.doc.error(ipath + (name,), f"{describe(v)} is not a value of axis "
                                                     f"'{axis}'")
            assignment[axis] = v
        out.append(assignment)
    return out


def _sample(exp: Section, points: list[dict]) -> list[dict]:
    """N distinct points, chosen by a hash of (seed, index): identical on every machine."""
    if not exp.has("samples"):
        raise exp.error(None, "mode: sample needs 'samples: N'")
    n = exp.int("samples", minimum=1)
    if n > len(points):
        raise exp.error("samples", f"asks for {n} samples but the axes define only "
                                   f"{len(points)} points")
    seed = exp.int("seed", 0)
    ranked = sorted(range(len(points)),
                    key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return [points[i] for i in sorted(ranked[:n])]


def _check(sec: Section, key: str, template: str, allowed) -> None:
    try:
        templates.check(template, tuple(allowed))
    except templates.TemplateError as exc:
        raise sec.error(key, str(exc)) from None


def _merged(scen: Section) -> dict[str, Any]:
    merged = {}
    for key, value in scen.mapping("overrides").items():
        where = scen.path + ("overrides", key)
        try:
            ov.split_key(key)
            check_value(scen.doc, where, value)
            ov.format_override(key, value)
        except (ValueError, TypeError) as exc:
            raise scen.doc.error(where, str(exc)) from None
        merged[key] = value
    return ov.merge_levels([merged])


def _inject(scen: Section) -> dict[str, str | None]:
    inject = dict(DEFAULT_INJECT)
    for role, key in scen.mapping("inject").items():
        if role not in INJECT_ROLES:
            raise scen.doc.error(scen.path + ("inject", role), f"unknown inject role '{role}'"
                                 f"{did_you_mean(role, INJECT_ROLES)}", at_key=True)
        if key is not None and not isinstance(key, str):
            raise scen.doc.error(scen.path + ("inject", role), "expected an override key or null")
        if key is not None:
            try:
                ov.split_key(key)
            except ValueError as exc:
                raise scen.doc.error(scen.path + ("inject", role), str(exc)) from None
        inject[role] = key
    return inject


def _post_actions(exp: Section) -> tuple:
    value = exp.data.get("post_actions")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise exp.error("post_actions", f"expected a list, got {describe(value)}")
    actions: list[tuple[str, bool | str]] = []   # ("report", show) | ("shell", command)
    for i, item in enumerate(value):
        path = exp.path + ("post_actions", i)
        if isinstance(item, str):
            words = item.split()
            if not words or words[0] != "report" or any(w != "--show" for w in words[1:]):
                raise exp.doc.error(path, f"unknown post action {item!r}: expected 'report', "
                                          f"'report --show' or 'shell: CMD'")
            actions.append(("report", "--show" in words[1:]))
        elif isinstance(item, dict) and list(item) == ["shell"]:
            if not isinstance(item["shell"], str) or not item["shell"].strip():
                raise exp.doc.error(path + ("shell",), f"shell: needs a non-empty command "
                                                       f"string, got {describe(item['shell'])}")
            actions.append(("shell", item["shell"]))
        else:
            raise exp.doc.error(path, f"unknown post action {describe(item)}: expected "
                                      f"'report', 'report --show' or 'shell: CMD'")
    return tuple(actions)


def allocate_path(repo_root: Path, template: str, name: str, *, today=None,
                  create: bool) -> Path:
    """Render ``path``; ``{seq}`` is the next free number, claimed atomically by mkdir."""
    date = (today or _dt.date.today()).isoformat()
    if "{seq" not in template:
        path = _abs(repo_root, templates.render(template, {"date": date, "name": name, "seq": ""}))
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path
    probe = templates.render(template, {"date": date, "name": name, "seq": "\0"})
    before, _, after = probe.partition("\0")
    pattern = re.compile(re.escape(before.rstrip("/").split("/")[-1]) + r"(\d+)"
                         + re.escape(after.rstrip("/").split("/")[0]) + r"\Z")
    parent = _abs(repo_root, before).parent if "/" in before else repo_root
    taken = [int(m.group(1)) for p in (parent.iterdir() if parent.is_dir() else ())
             if (m := pattern.match(p.name))]
    seq = max(taken, default=0) + 1
    while True:
        path = _abs(repo_root, templates.render(
            template, {"date": date, "name": name, "seq": f"{seq:0{_SEQ_WIDTH}d}"}))
        if not create:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            seq += 1


def _abs(root: Path, value: str) -> Path:
    p = Path(value.rstrip("/") or ".")
    return p if p.is_absolute() else root / p


__all__ = ["parse_experiment", "is_experiment_file", "experiment_names", "singular",
           "allocate_path", "ID_RE"]
