"""What a probe answer means: present or not, yes/no, a number, a choice, words and tokens.

Kept separate from reading and counting so the same rules serve the evaluators, postprocessor
records and benchmarks; all functions are pure and run once per distinct answer.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

from .reader import hashable

BINARY, NUMERIC, CHOICE, FREETEXT, UNKNOWN_TYPE = (
    "BinaryProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe", "UnknownProbe",
)
PROBE_TYPES = (BINARY, NUMERIC, CHOICE, FREETEXT)
KIND = {BINARY: "choice", NUMERIC: "numeric", CHOICE: "choice", FREETEXT: "freetext"}
IMPUTED_MODE = "carry_forward_imputed"
YES, NO, OTHER = "Yes", "No", "Other"
_YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "true", "agree", "affirmative"})
_NO_WORDS = frozenset({"no", "n", "nope", "false", "disagree", "negative"})
_FIRST_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_STRICT_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(?:/\s*\d+)?\s*\.?\s*")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_ANSWER_KEYS = ("answer", "response", "value", "choice", "rating", "text")
_CHOICE_STRIP = " \t\r\n.!?;:\"'`*()[]"
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i i'm i've if in into is it it's its
    itself just me more most my myself no nor not now of off on once only or other our ours ourselves
    out over own same she should so some such than that that's the their theirs them themselves then
    there these they they're this those through to too under until up very was we we're were what
    when where which while who whom why will with would you you're your yours yourself also really
    think much many""".split()
)


def normalize_response(value: object) -> object:
    """A hashable answer: structured answers give their answer-like field, else canonical JSON text."""
    if isinstance(value, Mapping):
        for key in _ANSWER_KEYS:
            if key in value and not isinstance(value[key], (Mapping, list)):
                return value[key]
    return hashable(value)


def is_present(value: object) -> bool:
    """An answer exists: not null and not blank text."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def binary_answer(value: object) -> str:
    """``Yes`` / ``No`` / ``Other`` from the first word ("Yes, because…" is a yes)."""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, (int, float)):
        return YES if value == 1 else NO if value == 0 else OTHER
    match = _FIRST_WORD.search(str(value).lower())
    if match and match.start() <= 2:
        word = match.group(0)
        if word in _YES_WORDS:
            return YES
        if word in _NO_WORDS:
            return NO
    return OTHER


def parse_number(value: object, strict: bool = False) -> float | None:
    """A rating as a float. Lenient mode takes the first number in text ("7/10", "I'd say 4")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    text = str(value)
    if strict and not _STRICT_NUMBER.fullmatch(text):
        return None
    match = _NUMBER.search(text)
    if not match:
        return None
    number = float(match.group(0))
    return number if math.isfinite(number) else None


def choice_text(value: object) -> str:
    """A choice as displayed: trimmed of whitespace, quotes and trailing punctuation."""
    text = str(value).strip().strip(_CHOICE_STRIP)
    return text or str(value).strip()


def word_count(text: str) -> int:
    return len(text.split())


def tokens(text: str) -> list[str]:
    """Content words for top-token lists: lowercase, stop words and 1-letter/number tokens dropped."""
    return [t for t in _TOKEN.findall(text.lower()) if len(t) > 1 and t not in STOP_WORDS and not t.isdigit()]


_SEPARATE = bytes(b if chr(b).isascii() and (chr(b).islower() or chr(b).isdigit() or b in (39, 45)) else 32
                  for b in range(256))
_FOLD_SEPARATE = bytes(_SEPARATE[ord(chr(b).lower())] if b < 128 else 32 for b in range(256))


def _chunks(texts: list[str]) -> Counter:
    """Lowercase runs of ``[a-z0-9'-]`` over all texts with their counts, in first-seen order.

    Bytes outside that set can be part of no token of either rule, so the text is cut at them with
    C-speed ``bytes.translate`` + ``split``; the token regexes then run once per distinct chunk.
    """
    text = " ".join(texts)
    if text.isascii():  # lowercasing folded into the byte table: one pass less over the text
        return Counter(text.encode("ascii").translate(_FOLD_SEPARATE).split())
    # str.lower first: a few non-ASCII letters lowercase to ASCII ones (e.g. the Kelvin sign)
    return Counter(text.lower().encode("utf-8", "replace").translate(_SEPARATE).split())


def count_tokens(texts: list[str]) -> Counter:
    """``tokens`` over many texts at once, with the same result."""
    return count_all_tokens(texts)[0]


def count_all_tokens(texts: list[str]) -> tuple[Counter, Counter]:
    """``(content tokens, silisocs tokens)`` over many texts: ours (``tokens``: stop words and
    numbers dropped) and silisocs' (``compat``: ``[a-z][a-z'-]{2,}``, everything kept), the latter
    in first-seen order so "most common" ties break as silisocs breaks them."""
    from .compat import free_text_tokens_of_chunks

    chunks = [(chunk.decode("ascii"), n) for chunk, n in _chunks(texts).items()]
    content: Counter = Counter()
    for chunk, n in chunks:
        for tok in _TOKEN.findall(chunk):
            if len(tok) > 1 and tok not in STOP_WORDS and not tok.isdigit():
                content[tok] += n
    return content, free_text_tokens_of_chunks(chunks)
