"""Per-label totals of probe answers — overall and per episode — built from distinct combinations.

``accumulate`` counts distinct ``(label, episode, answer)`` codes with numpy and interprets each
distinct answer once, which is what keeps the probe evaluators fast on hundreds of thousands of
answers. Two readings of the same answers are kept side by side:

- silisocs' (``compat``), by each row's own type: yes/no counts of binary rows, numbers of numeric
  rows, stripped texts of choice rows, lengths and tokens of free-text rows;
- ours, by the label's resolved type: yes/no by first word and choices grouped case-insensitively
  under their declared spelling, per-episode cells, content words without stop words.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from . import compat
from .answers import BINARY, CHOICE, FREETEXT, KIND, NUMERIC, OTHER, binary_answer, choice_text, count_all_tokens
from .codes import group_bounds, weighted_unique
from .probe_config import ProbeConfig
from .probe_data import ProbeRows, RowTypes, majority_type
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
    probe_type: str  # resolved: declared, else the type of most answers
    kind: str | None  # choice / numeric / freetext of the resolved type
    total: int = 0
    present: int = 0
    type_counts: dict = field(default_factory=dict)  # row type → [rows, rows with an answer]
    # silisocs' reading, by row type
    yes_no: Counter = field(default_factory=Counter)  # binary rows: Yes / No / Other
    numbers: Counter = field(default_factory=Counter)  # numeric rows: value → n
    unparsed: int = 0
    choice_values: Counter = field(default_factory=Counter)  # choice rows: stripped text → n
    words: Counter = field(default_factory=Counter)  # free-text rows: words per answer → n
    chars: Counter = field(default_factory=Counter)
    token_counts: Counter = field(default_factory=Counter)  # first-seen order
    # ours, by the resolved type
    answers: Counter = field(default_factory=Counter)  # choice kinds: shown answer → n
    content_tokens: Counter = field(default_factory=Counter)
    episodes: dict = field(default_factory=dict)  # episode code → [events, present, Counter | [words, chars]]


class ChoiceNames:
    """Case-insensitive grouping of choice answers; declared options fix the spelling shown."""

    def __init__(self, declared: list[str]) -> None:
        self.by_fold = {choice_text(o).casefold(): choice_text(o) for o in declared}

    def __call__(self, value: object) -> str:
        text = choice_text(value)
        return self.by_fold.setdefault(text.casefold(), text)


def accumulate(rows: ProbeRows, types: RowTypes, config: ProbeConfig,
               pool: Helpers | None = None) -> dict[str, LabelStats]:
    """One ``LabelStats`` per label present in ``rows``; ``pool`` helpers share the token counting."""
    n_ep, n_resp = max(len(rows.episodes), 1), max(len(rows.responses), 1)
    keys, counts = weighted_unique((rows.label * n_ep + rows.episode) * n_resp + rows.response)
    t_resp = keys % n_resp
    t_cell = keys // n_resp  # label * n_ep + episode
    t_label = t_cell // n_ep
    t_present = rows.present_of[t_resp] if len(t_resp) else np.zeros(0, dtype=bool)
    t_type = types.of(t_label, t_resp)
    texts, lengths = _free_text_order(rows, types)

    stats: dict[str, LabelStats] = {}
    pending: list[tuple[LabelStats, Deferred]] = []
    for code, lo, hi in zip(*(a.tolist() for a in group_bounds(t_label))):
        name = rows.labels[code]
        sl = slice(lo, hi)
        cells, cnt, pres, resp, ttype = t_cell[sl] % n_ep, counts[sl], t_present[sl], t_resp[sl], t_type[sl]
        if name not in types.resolved:  # undeclared: the type most of the answers counted here have
            types.resolved[name] = majority_type(types.names, ttype[pres], cnt[pres])
        resolved = types.resolved[name]
        st = stats[name] = LabelStats(name, resolved, KIND.get(resolved))
        st.total, st.present = int(cnt.sum()), int(cnt[pres].sum())
        ep_tot = np.bincount(cells, cnt, n_ep)
        ep_pre = np.bincount(cells[pres], cnt[pres], n_ep)
        for e in np.flatnonzero(ep_tot).tolist():
            extra: object = [0, 0] if st.kind == "freetext" else Counter()
            st.episodes[e] = [int(ep_tot[e]), int(ep_pre[e]), extra]
        for t in np.unique(ttype).tolist():
            of_t = ttype == t
            st.type_counts[types.names[t]] = [int(cnt[of_t].sum()), int(cnt[of_t & pres].sum())]
        mine = types.code(resolved)
        for t in np.unique(ttype[pres]).tolist():
            sel = pres & (ttype == t)
            part = (cells[sel].tolist(), cnt[sel].tolist(), resp[sel].tolist())
            kind_name = types.names[t]
            if kind_name == BINARY:
                _yes_no(st, *part, rows.responses)
            elif kind_name == NUMERIC:
                _numbers(st, *part, rows.responses, own=t == mine)
            elif kind_name == CHOICE:
                _choice_values(st, *part, rows.responses)
            elif kind_name == FREETEXT:
                _word_sums(st, *part, lengths, own=t == mine)
            if t == mine and st.kind == "choice":
                _choices(st, *part, rows.responses, config.choices.get(name, []))
        if code in texts:
            pending += _texts(st, *texts[code], lengths, pool)
    for st, future in pending:  # helpers counted these while this process went on
        content, silisocs = future.result()
        st.content_tokens.update(content)
        st.token_counts.update(silisocs)
    return stats


def _yes_no(st: LabelStats, cells: list, cnt: list, resp: list, responses: list) -> None:
    seen: dict[int, str] = {}
    for r, n in zip(resp, cnt):
        if r not in seen:
            seen[r] = compat.yes_no(responses[r]) or OTHER
        st.yes_no[seen[r]] += n


def _choice_values(st: LabelStats, cells: list, cnt: list, resp: list, responses: list) -> None:
    for r, n in zip(resp, cnt):
        st.choice_values[compat.choice_value(responses[r])] += n


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


def _numbers(st: LabelStats, cells: list, cnt: list, resp: list, responses: list, own: bool) -> None:
    parsed: dict[int, float | None] = {}
    for e, n, r in zip(cells, cnt, resp):
        if r not in parsed:
            parsed[r] = compat.first_number(responses[r])
        value = parsed[r]
        if value is None:
            st.unparsed += n
        else:
            st.numbers[value] += n
            if own and st.kind == "numeric":
                st.episodes[e][2][value] += n


def _as_texts(resp: list, responses: list) -> list[str]:
    try:  # free-text answers are text already
        return list(map(str.__str__, map(responses.__getitem__, resp)))
    except TypeError:  # a number or flag among them
        return [str(responses[r]) for r in resp]


def _lengths(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words (``str.split``) of each text, at C speed."""
    chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = "\x00".join(texts)
    edges = joined[:1] == " " or joined[-1:] == " " or "\x00 " in joined or " \x00" in joined
    if edges or not _single_spaced(joined):
        words = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=len(texts))
    else:  # only single spaces between words: counting spaces is the same as splitting, and cheaper
        words = np.fromiter(map(str.count, texts, repeat(" ")), dtype=np.int64, count=len(texts)) + 1
        words[chars == 0] = 0
    return chars, words


def _word_sums(st: LabelStats, cells: list, cnt: list, resp: list, lengths: tuple[np.ndarray, np.ndarray],
               own: bool) -> None:
    """Per-episode word and character sums (our extras) of the label's free-text answers."""
    if not (own and st.kind == "freetext") or not resp:
        return
    r = np.asarray(resp, dtype=np.int64)
    chars, words = lengths[0][r], lengths[1][r]
    n = np.asarray(cnt, dtype=np.int64)
    e = np.asarray(cells, dtype=np.int64)
    size = max(st.episodes) + 1
    word_sums = np.bincount(e, words * n, size).tolist()
    char_sums = np.bincount(e, chars * n, size).tolist()
    for ep in st.episodes:
        st.episodes[ep][2] = [int(word_sums[ep]), int(char_sums[ep])]


def _free_text_order(rows: ProbeRows, types: RowTypes) -> tuple[dict[int, tuple[list, list, list]],
                                                                 tuple[np.ndarray, np.ndarray]]:
    """Per label, its distinct free-text answers in order of first appearance (codes, counts, texts);
    and the characters and words of every such answer (by response code), measured once."""
    free = types.code(FREETEXT)
    none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if free < 0 or not len(rows):
        return {}, none
    mask = (types.of(rows.label, rows.response) == free) & rows.present()
    if not mask.any():
        return {}, none
    n_resp = max(len(rows.responses), 1)
    pairs, first, cnt = np.unique(rows.label[mask] * n_resp + rows.response[mask],
                                  return_index=True, return_counts=True)
    order = np.lexsort((first, pairs // n_resp))  # by label, then first appearance
    pairs, cnt = pairs[order], cnt[order]
    resp = pairs % n_resp
    texts = _as_texts(resp.tolist(), rows.responses)
    chars_of, words_of = np.zeros(n_resp, dtype=np.int64), np.zeros(n_resp, dtype=np.int64)
    chars_of[resp], words_of[resp] = _lengths(texts)
    out = {}
    for lab, lo, hi in zip(*(a.tolist() for a in group_bounds(pairs // n_resp))):
        out[lab] = (resp[lo:hi].tolist(), cnt[lo:hi].tolist(), texts[lo:hi])
    return out, (chars_of, words_of)


def _texts(st: LabelStats, resp: list, cnt: list, texts: list[str], lengths: tuple[np.ndarray, np.ndarray],
           pool: Helpers | None) -> list[tuple[LabelStats, Deferred]]:
    """Lengths and tokens of the label's free-text answers (``resp``/``texts``: distinct, first-seen
    order); token counting is shared with ``pool`` (its futures are returned, in order)."""
    r = np.asarray(resp, dtype=np.int64)
    n = np.asarray(cnt, dtype=np.int64)
    for values, target in ((lengths[1][r], st.words), (lengths[0][r], st.chars)):
        uniq, inverse = np.unique(values, return_inverse=True)
        sums = np.bincount(inverse.ravel(), n, len(uniq))
        target.update(dict(zip(uniq.tolist(), np.rint(sums).astype(np.int64).tolist())))
    if (n != 1).any():
        texts = [t for t, k in zip(texts, cnt) for _ in range(k)]
    pending = []
    if pool is not None and len(texts) >= SHARE_TOKENS_FROM:
        step = -(-len(texts) // (pool.size + 1))
        pending = [(st, pool.defer(count_all_tokens, texts[lo:lo + step])) for lo in range(step, len(texts), step)]
        texts = texts[:step]
    st.content_tokens, st.token_counts = count_all_tokens(texts)
    return pending
