"""One colour per condition in every study figure: comparison.png and report.html agree.

Built on :func:`silisocs_study.evaluators.plots.label_styles` with ``distinct`` (colours from
:func:`~silisocs_study.evaluators.plots.label_color`, a pure function of the label):
a condition keeps that colour unless an earlier condition of the same study (in sorted order)
already has it; then it takes the first palette colour no condition of the study uses. Every
figure of a study resolves colours over the study's whole set of conditions
(:func:`study_conditions`), so comparison.png and report.html agree and no two conditions
of a study share a colour until there are more conditions than palette colours; past that,
the later ones differ by line style and marker too.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..evaluators.plots import label_styles

# markers that tell scenarios apart when the colour already names the condition
SCENARIO_MARKERS = ("o", "s", "^", "v", "P", "X", "h", "*")


def condition_styles(conditions: Iterable[object]) -> dict[str, tuple[str, str, str]]:
    """``{condition: (colour, linestyle, marker)}`` for a study's conditions: distinct colours
    while the palette lasts; the line style and marker differ only past it."""
    return label_styles(list(conditions), distinct=True)


def study_conditions(analysis: dict, records: Iterable[dict] = ()) -> list[str]:
    """Every condition a study's figures may show: its hypotheses' and its records'."""
    out: dict[str, None] = {}
    for block in (analysis.get("hypotheses") or {}).values():
        out.update(dict.fromkeys(str(c) for c in block.get("conditions") or []))
    out.update(dict.fromkeys(str(r.get("condition")) for r in records
                             if isinstance(r, dict) and r.get("condition") is not None))
    return list(out)


def condition_colors(conditions: Iterable[object]) -> dict[str, str]:
    """``{condition: "#rrggbb"}``: the colour of each condition in every figure."""
    return {c: style[0] for c, style in condition_styles(conditions).items()}


def scenario_markers(scenarios: Iterable[object]) -> dict[str, str]:
    """``{scenario: marker}`` in the order given (the authored order)."""
    out: dict[str, str] = {}
    for s in scenarios:
        out.setdefault(str(s), SCENARIO_MARKERS[len(out) % len(SCENARIO_MARKERS)])
    return out
