"""How silisocs 0.4 defines the metrics our payloads share with its own evaluators.

Our builtin presets emit every key that ``silisocs.evaluations.activity_summary`` and
``silisocs.evaluations.default_evaluators`` emit, with the same meaning, so a study can switch
evaluators without its numbers moving. The rules they share live here, written once and applied
to *distinct* values (label, agent, episode, answer), never per row:

- episodes are whole numbers (``int(value)``, else a default); activity counts only episodes > 0;
- labels and agents are text stripped of surrounding blanks (missing → ``unknown``);
- ``system`` (any case, stripped) is the engine, not an agent: never counted as one;
- an answer is present when it is not null and not blank text;
- undeclared probes are typed per answer (yes/no → binary, a number → numeric, ≤ 4 words →
  choice, else free text); numbers are the first ``[-+]?digits[.digits]`` in the text;
- free-text tokens are lowercase ``[a-z][a-z'-]{2,}`` runs, stop words included;
- "most common" lists break count ties by first appearance, as ``Counter.most_common`` does.
"""
from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from itertools import repeat

from .payload import weighted_median

SYSTEM_USER = "system"
UNKNOWN = "unknown"
INFERRED = "inferred"
BINARY_TYPE, NUMERIC_TYPE, CHOICE_TYPE, FREETEXT_TYPE = (
    "BinaryProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe",
)
UNKNOWN_ANSWER_TYPE = "Unknown"  # an undeclared probe's missing answer has no type
CHOICE_WORDS = 4
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_DIGIT = re.compile(r"\d")  # a cheap first look: most free text has no digit at all
_TOKEN_CHUNK = re.compile(r"[a-z][a-z'-]{2,}")
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
_YES_NO = _YES | _NO


def safe_int(value: object, default: int = 0) -> int:
    """``int(value)``, or ``default`` when that fails (``"3"`` → 3, ``2.7`` → 2, ``"x"``/None → default)."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return default


def clean_name(value: object) -> str:
    """A label or agent as silisocs' detailed evaluators name it: stripped text, ``unknown`` if empty."""
    if value is None:
        return UNKNOWN
    return str(value).strip() or UNKNOWN


def is_agent(value: object) -> bool:
    """A ``source_user`` that is an agent: not missing, not blank, not the ``system`` pseudo-user."""
    if value is None:
        return False
    text = str(value).strip()
    return bool(text) and text.lower() != SYSTEM_USER


def is_system(name: str) -> bool:
    return name.strip().lower() == SYSTEM_USER


def yes_no(value: object) -> str | None:
    """``Yes``/``No`` by exact word, else by substring (yes first), else None."""
    text = str(value or "").strip().lower()
    if not text:
        return None
    if text in _YES:
        return "Yes"
    if text in _NO:
        return "No"
    if "yes" in text:
        return "Yes"
    if "no" in text:
        return "No"
    return None


def first_number(value: object) -> float | None:
    """Numbers as they are; text → its first ``[-+]?digits[.digits]`` as a float; else None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    match = _NUMBER.search(text) if _DIGIT.search(text) else None
    return float(match.group(0)) if match else None


def answer_type(value: object) -> str:
    """The type of an undeclared probe's answer: binary (``yes_no``), numeric (``first_number``),
    choice (<= 4 words), free text, or ``Unknown`` when there is no answer. Runs once per distinct
    answer, on every answer of every undeclared probe: the text is made and lowered once."""
    text = str(value or "").strip()
    low = text.lower()
    if low and (low in _YES or low in _NO or "yes" in low or "no" in low):
        return BINARY_TYPE
    if isinstance(value, (int, float)) or (value is not None and _DIGIT.search(text) and _NUMBER.search(text)):
        return NUMERIC_TYPE
    if not text:
        return UNKNOWN_ANSWER_TYPE
    return CHOICE_TYPE if len(text.split()) <= CHOICE_WORDS else FREETEXT_TYPE


def answer_types(values: list) -> list[str]:
    """``answer_type`` of many answers (same result): text answers take C-level passes."""
    if set(map(type, values)) - {str}:
        out = list(values)
        text_at = [i for i, v in enumerate(values) if type(v) is str]
        for i, v in enumerate(values):
            if type(v) is not str:
                out[i] = answer_type(v)
        for i, kind in zip(text_at, answer_types([values[i] for i in text_at])):
            out[i] = kind
        return out
    texts = list(map(str.strip, values))
    lows = list(map(str.lower, texts))
    binary = map(any, zip(map(_YES_NO.__contains__, lows), map(operator.contains, lows, repeat("yes")),
                          map(operator.contains, lows, repeat("no"))))
    words = map(len, map(str.split, texts, repeat(None), repeat(CHOICE_WORDS)))  # stops after 5 words
    out = []
    for text, is_binary, digit, n_words in zip(texts, binary, _has_digit(texts), words):
        if is_binary:
            out.append(BINARY_TYPE)
        elif digit and _NUMBER.search(text):
            out.append(NUMERIC_TYPE)
        elif not text:
            out.append(UNKNOWN_ANSWER_TYPE)
        else:
            out.append(CHOICE_TYPE if n_words <= CHOICE_WORDS else FREETEXT_TYPE)
    return out


def _has_digit(texts: list[str]) -> list[bool]:
    """Whether each text holds a digit; ASCII texts in one numpy pass over their bytes."""
    joined = "\x00".join(texts)
    if not joined.isascii():  # Unicode digits count too: ask the regex, text by text
        return [_DIGIT.search(t) is not None for t in texts]
    import numpy as np

    data = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    hits = np.flatnonzero((data >= 48) & (data <= 57))
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    found = np.zeros(len(texts), dtype=bool)
    found[np.searchsorted(ends, hits, side="right")] = True
    return found.tolist()


def choice_value(value: object) -> str:
    """A choice answer as counted: its stripped text."""
    return str(value).strip() or "<empty>"


def most_common(counts: dict, n: int | None = None) -> list[tuple]:
    """``(key, count)`` by count, ties in the dict's (first-seen) order — ``Counter.most_common``."""
    items = sorted(counts.items(), key=lambda kv: -kv[1])  # sorted() is stable: ties keep insertion order
    return items if n is None else items[:n]


def free_text_tokens_of_chunks(chunks: Iterable[tuple[str, int]]) -> Counter:
    """Token counts from ``(lowercase chunk, times)`` in first-seen order; tokens keep that order."""
    counts: Counter = Counter()
    for chunk, n in chunks:
        for token in _TOKEN_CHUNK.findall(chunk):
            counts[token] += n
    return counts


def summary_stats(values: dict[float, int]) -> dict[str, object]:
    """count/min/max/mean/median/stdev of ``{value: multiplicity}``, as ``statistics`` computes them
    over the expanded list: floats, mean = exact sum / n, stdev exact and correctly rounded (0.0 for
    one value). Exact arithmetic runs once per distinct value (in integers when the values are
    whole numbers, as word counts, lengths and most ratings are), so millions of answers cost little."""
    items = sorted((float(v), c) for v, c in values.items() if c > 0)
    n = sum(c for _, c in items)
    if n == 0:
        return {"count": 0, "min": None, "max": None, "mean": None, "median": None, "stdev": None}
    if all(v.is_integer() for v, _ in items):
        ints = [(int(v), c) for v, c in items]
        total = sum(v * c for v, c in ints)
        mean = float(total) / n
        # sum of c * (v - total/n)^2, times n^2: an integer
        ss_n2 = sum(c * (n * v - total) ** 2 for v, c in ints)
        stdev = _sqrt(Fraction(ss_n2, n * n * (n - 1))) if n > 1 else 0.0
    else:
        exact_sum = sum((Fraction(v) * c for v, c in items), Fraction(0))
        mean = float(exact_sum) / n
        stdev = 0.0
        if n > 1:
            exact_mean = exact_sum / n
            stdev = _sqrt(sum((c * (Fraction(v) - exact_mean) ** 2 for v, c in items), Fraction(0))
                          / (n - 1))
    return {"count": n, "min": items[0][0], "max": items[-1][0], "mean": mean,
            "median": weighted_median(items, n), "stdev": stdev}


def _sqrt(x: Fraction) -> float:
    """Correctly rounded square root of a non-negative fraction.

    An integer square root with 60+ bits more than a double holds, plus a sticky bit when it is
    inexact, rounds exactly once on the final conversion to float.
    """
    num, den = x.numerator, x.denominator
    if num == 0:
        return 0.0
    shift = max(0, (120 - num.bit_length() + den.bit_length()) // 2 + 1)  # root gets >= 60 bits
    scaled_num = num << (2 * shift)
    root = math.isqrt(scaled_num // den)
    if root * root * den != scaled_num:
        root |= 1  # sticky: remembers the discarded remainder
    return root / (1 << shift)  # int / int: one correct rounding


