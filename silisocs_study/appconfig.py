"""What the app's composed config tells the planner, and composition errors at their YAML line.

The study sweeper runs inside the app, so it reads the app's composed config directly; the
CLI learns the same facts from the plan-time composition check (a check-only multirun of the
app, see :mod:`silisocs_study.launch.multirun`). Both end here, so the decision is made once.
"""
from __future__ import annotations

import re
from typing import Any

from . import overrides as ov
from .errors import StudyError
from .model import AUTO_OUTPUT, AppFacts, Group, Study

OUTPUT_DIR = "++output_dir"       # `++`: added when the app's config does not declare it
OUTPUT_ROOTNAME = "output_rootname"   # silisocs' runner reads this key, not output_dir


def app_facts(config: Any) -> AppFacts:
    """Facts of an app from its composed config (a DictConfig or a plain mapping)."""
    keys = {k for k in config.keys() if k != "hydra"} if config is not None else set()
    if "output_dir" in keys or "output_rootname" not in keys:
        output_key = OUTPUT_DIR
    else:
        output_key = OUTPUT_ROOTNAME
    sim = config.get("sim") if config is not None and "sim" in keys else None
    checkpoint = False
    if sim is not None and hasattr(sim, "get"):
        block = sim.get("checkpoint") if "checkpoint" in sim else None
        checkpoint = block is not None and hasattr(block, "keys")
    return AppFacts(output_key=output_key, checkpoint=checkpoint)


_QUOTED = re.compile(r"'([^'\n]+)'")
_MISSING = re.compile(r"Could not override '([^'\n]+)'")
# what each inject role passes, and a value to declare its key with in the app's config
_ROLE_VALUE = {"seed": ("<seed>", "0"), "run_name": ("<run name>", "null"),
               "experiment_name": ("<study name>", "null"), "scenario": ("<scenario>", "null"),
               "output_dir": ("<run folder>", "null")}


def locate(study: Study, group: Group, message: str, *, prefix: str = "") -> StudyError:
    """A composition error (Hydra's message) as a StudyError at the line that caused it: the
    override it names (where the winning level wrote it), the inject role it comes from (with
    the fix: declare the key in the app's config, or change run_defaults.inject), or else the
    condition itself."""
    first = " ".join(message.split())[:400]
    text = f"{prefix}{first}"
    names = _QUOTED.findall(message)
    for key, path in group.override_paths.items():
        bare = ov.split_key(key)[1]
        group_name = bare.split(".")[0]
        for name in names:
            if name == bare or name == key or name.startswith(group_name + "/") and \
                    "." not in bare:
                return study.error(path, text)
    for role, injected in group.inject.items():
        if not injected:
            continue
        bares = ({"output_dir", "output_rootname"} if injected == AUTO_OUTPUT
                 else {ov.split_key(injected)[1]})
        if any(name in bares for name in names):
            where = ("study", "run_defaults", "inject", role) if study.kind == "study" else \
                group.path
            if study.doc is not None and where not in study.doc.value_marks:
                where = ("study", "run_defaults") if study.kind == "study" else group.path
            missing = _MISSING.search(message)
            if missing and missing.group(1) in bares:
                return study.error(where, prefix + _missing_key(study, group, role,
                                                                missing.group(1)))
            hint = (f" (the planner injects '{injected}' for {role}; set run_defaults.inject."
                    f"{role} to the app's key, or null)") if study.kind == "study" else ""
            return study.error(where, text + hint)
    return study.error(group.path, text)


def _missing_key(study: Study, group: Group, role: str, bare: str) -> str:
    """The fix for an injected key the app's config does not declare (Hydra refuses to
    override a key that is not there): declare it, or change or turn off the injection."""
    shown, example = _ROLE_VALUE.get(role, ("<value>", "null"))
    declare = f"`{bare}: {example}`" if "." not in bare else f"the key {bare}"
    setting = f"run_defaults.inject.{role}" if study.kind == "study" else \
        f"inject.{role} in the scenario"
    text = (f"the app's config has no key '{bare}' (the study passes {bare}={shown} to every "
            f"run): add {declare} to the app's config, or set {setting} to '++{bare}' (adds "
            f"the key) or null (passes nothing)")
    others = [(r, ov.split_key(k)[1]) for r, k in group.inject.items()
              if r != role and k and k != AUTO_OUTPUT and not k.startswith("+")]
    if others:
        names = [b for _, b in others]
        listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        r, b = others[0]
        text += (f"; it also passes {listed}: declare each the config lacks "
                 f"(e.g. `{b}: {_ROLE_VALUE.get(r, ('', 'null'))[1]}`)")
    return text
