"""Per-label totals of probe answers — overall and per episode — built from distinct combinations.

``accumulate`` counts distinct ``(label, episode, answer)`` codes with numpy and interprets each
distinct answer once (yes/no, choice spelling, number, words), which is what keeps the probe
evaluators fast on hundreds of thousands of answers.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from .answers import BINARY, KIND, UNKNOWN_TYPE, binary_answer, choice_text, count_tokens, parse_number
from .codes import group_bounds, weighted_unique
from .probe_config import ProbeConfig
from .probe_data import ProbeRows
from .segments import Deferred, Helpers

SHARE_TOKENS_FROM = 4096  # fewer texts are counted faster here than shipped to a helper
_ASCII_SPACE = ("  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f")


def _single_spaced(text: str) -> bool:
    """True if the only whitespace is lone spaces, so a word count is a space count (C-speed checks)."""
    return text.isascii() and not any(ws in text for ws in _ASCII_SPACE)


@dataclass
class LabelStats:
    """Totals for one probe label, overall and per episode code."""

    label: str
    probe_type: str
    kind: str | None
    total: int = 0
    present: int = 0
    answers: Counter = field(default_factory=Counter)  # choice kinds: shown answer → n
    numbers: Counter = field(default_factory=Counter)  # numeric: value → n
    unparsed: int = 0
    words: Counter = field(default_factory=Counter)  # free text: words per answer → n
    chars: Counter = field(default_factory=Counter)
    token_counts: Counter = field(default_factory=Counter)
    episodes: dict = field(default_factory=dict)  # episode code → [events, present, Counter | [words, chars]]


class ChoiceNames:
    """Case-insensitive grouping of choice answers; declared options fix the spelling shown."""

    def __init__(self, declared: list[str]) -> None:
        self.by_fold = {choice_text(o).casefold(): choice_text(o) for o in declared}

    def __call__(self, value: object) -> str:
        text = choice_text(value)
        return self.by_fold.setdefault(text.casefold(), text)


def accumulate(rows: ProbeRows, types: dict[str, str], config: ProbeConfig,
               pool: Helpers | None = None) -> dict[str, LabelStats]:
    """One ``LabelStats`` per label present in ``rows``; ``pool`` helpers share the token counting."""
    n_ep, n_resp = max(len(rows.episodes), 1), max(len(rows.responses), 1)
    keys, counts = weighted_unique((rows.label * n_ep + rows.episode) * n_resp + rows.response)
    t_resp = keys % n_resp
    t_cell = keys // n_resp  # label * n_ep + episode
    t_label = t_cell // n_ep
    t_present = rows.present_of[t_resp] if len(t_resp) else np.zeros(0, dtype=bool)

    stats: dict[str, LabelStats] = {}
    pending: list[tuple[LabelStats, Deferred]] = []
    for code, lo, hi in zip(*(a.tolist() for a in group_bounds(t_label))):
        name = rows.labels[code]
        probe_type = types.get(name, UNKNOWN_TYPE)
        st = stats[name] = LabelStats(name, probe_type, KIND.get(probe_type))
        sl = slice(lo, hi)
        cells, cnt, pres, resp = t_cell[sl] % n_ep, counts[sl], t_present[sl], t_resp[sl]
        st.total, st.present = int(cnt.sum()), int(cnt[pres].sum())
        ep_tot = np.bincount(cells, cnt, n_ep)
        ep_pre = np.bincount(cells[pres], cnt[pres], n_ep)
        for e in np.flatnonzero(ep_tot).tolist():
            extra: object = [0, 0] if st.kind == "freetext" else Counter()
            st.episodes[e] = [int(ep_tot[e]), int(ep_pre[e]), extra]
        cells, cnt, resp = cells[pres].tolist(), cnt[pres].tolist(), resp[pres].tolist()
        if st.kind == "choice":
            _choices(st, cells, cnt, resp, rows.responses, config.choices.get(name, []))
        elif st.kind == "numeric":
            _numbers(st, cells, cnt, resp, rows.responses)
        elif st.kind == "freetext":
            pending += _texts(st, cells, cnt, resp, rows.responses, pool)
    for st, future in pending:  # helpers counted these while this process went on
        st.token_counts.update(future.result())
    return stats


def _choices(st: LabelStats, cells: list, cnt: list, resp: list, responses: list, declared: list[str]) -> None:
    namer = ChoiceNames(declared) if st.probe_type != BINARY else None
    if namer is not None:
        for option in declared:
            st.answers[namer(option)] += 0
    shown: dict[int, str] = {}
    for e, n, r in zip(cells, cnt, resp):
        answer = shown.get(r)
        if answer is None:
            answer = shown[r] = binary_answer(responses[r]) if namer is None else namer(responses[r])
        st.answers[answer] += n
        st.episodes[e][2][answer] += n


def _numbers(st: LabelStats, cells: list, cnt: list, resp: list, responses: list) -> None:
    parsed: dict[int, float | None] = {}
    for e, n, r in zip(cells, cnt, resp):
        if r not in parsed:
            parsed[r] = parse_number(responses[r])
        value = parsed[r]
        if value is None:
            st.unparsed += n
        else:
            st.numbers[value] += n
            st.episodes[e][2][value] += n


def _texts(st: LabelStats, cells: list, cnt: list, resp: list, responses: list,
           pool: Helpers | None) -> list[tuple[LabelStats, Deferred]]:
    """Word/char statistics here; token counting shared with ``pool`` (its futures are returned)."""
    try:  # free-text answers are text: strip them at C speed
        texts = list(map(str.strip, map(responses.__getitem__, resp)))
    except TypeError:  # a number or flag among them
        texts = [str(responses[r]).strip() for r in resp]
    chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if not _single_spaced("\x00".join(texts)):
        words = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=len(texts))
    else:  # only single spaces between words: counting spaces is the same as splitting, and cheaper
        words = np.fromiter(map(str.count, texts, repeat(" ")), dtype=np.int64, count=len(texts)) + 1
        words[chars == 0] = 0
    n = np.asarray(cnt, dtype=np.int64)
    e = np.asarray(cells, dtype=np.int64)
    size = max(st.episodes) + 1 if st.episodes else 0
    word_sums = np.bincount(e, words * n, size).tolist() if len(e) else []
    char_sums = np.bincount(e, chars * n, size).tolist() if len(e) else []
    for ep in st.episodes:
        if ep < len(word_sums):
            st.episodes[ep][2] = [int(word_sums[ep]), int(char_sums[ep])]
    for values, target in ((words, st.words), (chars, st.chars)):
        uniq, inverse = np.unique(values, return_inverse=True)
        sums = np.bincount(inverse.ravel(), n, len(uniq))
        target.update(dict(zip(uniq.tolist(), np.rint(sums).astype(np.int64).tolist())))
    if (n != 1).any():
        texts = [t for t, k in zip(texts, cnt) for _ in range(k)]
    pending = []
    if pool is not None and len(texts) >= SHARE_TOKENS_FROM:
        step = -(-len(texts) // (pool.size + 1))
        pending = [(st, pool.defer(count_tokens, texts[lo:lo + step])) for lo in range(step, len(texts), step)]
        texts = texts[:step]
    st.token_counts = count_tokens(texts)
    return pending
