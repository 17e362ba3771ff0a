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


def locate(study: Study, group: Group, message: str, *, prefix: str = "") -> StudyError:
    """A composition error (Hydra's message) as a StudyError at the line that caused it: the
    override it names (where the winning level wrote it), the inject role it comes from, or
    else the condition itself."""
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
    for role, key in group.inject.items():
        if not key:
            continue
        bares = {"output_dir", "output_rootname"} if key == AUTO_OUTPUT else {ov.split_key(key)[1]}
        if any(name in bares for name in names):
            where = ("study", "run_defaults", "inject", role) if study.kind == "study" else \
                group.path
            if study.doc is not None and where not in study.doc.value_marks:
                where = ("study", "run_defaults") if study.kind == "study" else group.path
            hint = (f" (the planner injects '{key}' for {role}; set run_defaults.inject."
                    f"{role} to the app's key, or null)") if study.kind == "study" else ""
            return study.error(where, text + hint)
    return study.error(group.path, text)
