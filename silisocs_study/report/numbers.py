"""Numbers as the reports show them, and numbers as the reports accept them: one place.

``fmt`` is for people (1,156 / 28.7 / 2.35 / 0.0543), ``fmt_fixed`` for table columns that
line up (0.700 / 12.345), ``fmt_signed`` for differences, ``fmt_p`` for p-values; missing
values are '—' everywhere. ``finite_number`` is what a metric or score may be: a finite real
(a bool only where the caller counts it as 0/1).
"""
from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def fmt(x: Any) -> str:
    """A number for people: 1,156 / 28.7 / 2.35 / 0.0543; '—' for missing."""
    if x is None:
        return MISSING
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_fixed(x: Any, digits: int = 3) -> str:
    """``digits`` decimals (columns line up); very large or small values in ``g`` form."""
    if x is None:
        return MISSING
    if x != 0 and (abs(x) >= 10 ** 4 or abs(x) < 10 ** -digits):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def fmt_signed(x: Any) -> str:
    if x is None:
        return MISSING
    return ("+" if x > 0 else "") + fmt(x)


def fmt_p(p: Any) -> str:
    """A p-value for a table cell under a "p" header: '< 0.001' or '0.034'."""
    if p is None:
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def finite_number(value: Any, *, bools: bool = False) -> float | None:
    """``value`` as a float if it is a finite real number (a bool only with ``bools``)."""
    if isinstance(value, bool):
        return float(value) if bools else None
    if isinstance(value, (int, float)):
        x = float(value)
        return x if math.isfinite(x) else None
    return None
