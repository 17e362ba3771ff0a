"""One colour per condition in every study figure: comparison.png and report.html agree.

Built on :func:`silisocs_study.evaluators.plots.label_color` (a pure function of the label),
so a condition keeps its colour whichever other conditions share the figure; two conditions
whose colours collide keep that colour and differ by marker (:func:`label_styles`).
"""
from __future__ import annotations

from collections.abc import Iterable

from ..evaluators.plots import label_styles

# markers that tell scenarios apart when the colour already names the condition
SCENARIO_MARKERS = ("o", "s", "^", "v", "P", "X", "h", "*")


def condition_styles(conditions: Iterable[object]) -> dict[str, tuple[str, str, str]]:
    """``{condition: (colour, linestyle, marker)}``; the marker differs only on a collision."""
    return label_styles([str(c) for c in conditions])


def condition_colors(conditions: Iterable[object]) -> dict[str, str]:
    """``{condition: "#rrggbb"}``: the colour of each condition in every figure."""
    return {c: style[0] for c, style in condition_styles(conditions).items()}


def scenario_markers(scenarios: Iterable[object]) -> dict[str, str]:
    """``{scenario: marker}`` in the order given (the authored order)."""
    out: dict[str, str] = {}
    for s in scenarios:
        out.setdefault(str(s), SCENARIO_MARKERS[len(out) % len(SCENARIO_MARKERS)])
    return out
