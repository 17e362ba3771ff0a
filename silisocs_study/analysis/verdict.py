"""The verdict rule: one word per contrast and per hypothesis, and the text that states it.

Per contrast (condition vs reference on a primary metric, pooled over scenarios), with m the
number of such contrasts in the hypothesis (Bonferroni: each interval at 1 − α/m):

1. no interval (fewer than two paired seeds, or one per scenario) → inconclusive;
2. δ set and the (1 − 2α/m) interval inside (−δ, +δ) (TOST) → equivalent — even when the
   (1 − α/m) interval excludes 0: a real effect smaller than anything that matters;
3. the (1 − α/m) interval excludes 0 in the predicted direction → supported; in the other
   direction → refuted (a two-sided claim is supported by either side);
4. otherwise → inconclusive.

Per hypothesis: all contrasts supported → supported; any refuted → refuted; all equivalent →
equivalent; anything else (a mix, or any inconclusive) → inconclusive.
"""
from __future__ import annotations

from typing import Sequence

VERDICTS = ("supported", "refuted", "equivalent", "inconclusive")

VERDICT_RULE = (
    "Each primary contrast (condition − reference, pooled over scenarios with seeds paired "
    "within scenario) gets a two-sided interval at 1 − α/m, m = the hypothesis' number of "
    "primary contrasts (Bonferroni). A contrast is equivalent when δ is set and its "
    "(1 − 2α/m) interval lies inside ±δ (TOST), supported when its interval excludes 0 in the "
    "predicted direction (either side for a two-sided claim), refuted when it excludes 0 in "
    "the other direction, and inconclusive otherwise. A hypothesis is supported when every "
    "contrast is, refuted when any is, equivalent when every contrast is, and inconclusive "
    "otherwise.")


def contrast_verdict(direction: str, delta: float | None,
                     interval: tuple[float | None, float | None],
                     equivalence: tuple[float | None, float | None]) -> tuple[str, str]:
    """(verdict, reason) for one contrast; ``interval`` at 1 − α/m, ``equivalence`` at
    1 − 2α/m (both from the interval that drives the verdict)."""
    low, high = interval
    if low is None or high is None:
        return "inconclusive", "no interval yet (needs at least two paired seeds)"
    e_low, e_high = equivalence
    if delta is not None and e_low is not None and e_high is not None \
            and -delta < e_low and e_high < delta:
        real = " (the effect is real but smaller than δ)" if low > 0 or high < 0 else ""
        return "equivalent", f"the equivalence interval lies inside ±{delta:.4g}{real}"
    above, below = low > 0, high < 0
    if direction == "two-sided":
        if above or below:
            return "supported", "the interval excludes 0"
    elif above or below:
        predicted = above if direction == "higher" else below
        side = "above" if above else "below"
        return ("supported" if predicted else "refuted"), f"the interval lies {side} 0"
    span = "includes 0" + (f" and reaches beyond ±{delta:.4g}" if delta is not None else "")
    return "inconclusive", f"the interval {span}"


def hypothesis_verdict(verdicts: Sequence[str]) -> tuple[str, str]:
    """(verdict, reason) of a hypothesis from its contrasts' verdicts."""
    if not verdicts:
        return "inconclusive", "no primary contrast yet"
    counts = {v: verdicts.count(v) for v in VERDICTS if v in verdicts}
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    total = len(verdicts)
    if counts.get("supported") == total:
        return "supported", f"every primary contrast is supported ({tally})"
    if "refuted" in counts:
        return "refuted", f"at least one primary contrast is refuted ({tally})"
    if counts.get("equivalent") == total:
        return "equivalent", f"every primary contrast is equivalent ({tally})"
    return "inconclusive", f"not every primary contrast is decided the same way ({tally})"
