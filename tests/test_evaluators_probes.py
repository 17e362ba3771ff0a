"""Probe evaluators: typing, per-type statistics, typed filters, carry-forward, summaries."""
from __future__ import annotations

import pytest
from evaluator_fixtures import action, make_run, probe, probe_config_yaml
from hypothesis import given
from hypothesis import strategies as st

from silisocs_study.evaluators import run_builtin
from silisocs_study.evaluators.answers import (
    binary_answer,
    count_tokens,
    parse_number,
    tokens,
)
from silisocs_study.evaluators.compat import answer_type, first_number, yes_no
from silisocs_study.evaluators.probe_config import canonical_probe_type

DIARY = [
    "Today I walked along the river and thought about the election results.",  # 12 words
    "Nothing much happened, I read some posts about the river.",  # 10 words
    "The river was calm and I felt hopeful.",  # 8 words
]
ROWS = [
    # episode 0
    probe("trust", "a1", 0, 0, "Yes"), probe("trust", "a2", 0, 1, "No, never"), probe("trust", "a3", 0, 2, ""),
    probe("mood", "a1", 0, 3, "4"), probe("mood", "a2", 0, 4, 5), probe("mood", "a3", 0, 5, "about 3/5"),
    probe("topic", "a1", 0, 6, "Politics"), probe("topic", "a2", 0, 7, "politics."),
    probe("topic", "a3", 0, 8, "Sports", mode="on_demand"),
    probe("diary", "a1", 0, 9, DIARY[0]), probe("diary", "a2", 0, 10, DIARY[1]),
    probe("agree_q", "a1", 0, 11, "Yes"), probe("agree_q", "a2", 0, 12, "No"), probe("agree_q", "a3", 0, 13, "yes"),
    probe("score", "a1", 0, 14, "3"), probe("score", "a2", 0, 15, "4.5"), probe("score", "a3", 0, 16, "2"),
    probe("color", "a1", 0, 17, "red"), probe("color", "a2", 0, 18, "blue"), probe("color", "a3", 0, 19, "dark red"),
    # episode 1
    probe("trust", "a1", 1, 20, "yes."), probe("trust", "a2", 1, 21, None),
    probe("mood", "a1", 1, 22, "seven"), probe("topic", "a1", 1, 23, " Sports "), probe("diary", "a1", 1, 24, DIARY[2]),
]
DECLARED = [("trust", "BinaryProbe"), ("mood", "NumericRatingProbe"), ("topic", "ChoiceProbe")]
CHOICES = {"topic": ["Politics", "Sports", "Music"]}


def evaluate(tmp_path, name="probe_metrics_detailed", config=None, rows=ROWS, args=("--no-plots",)):
    run = make_run(tmp_path / "run", probes=rows, config=config)
    return run_builtin(name, run, tmp_path / "eval" / f"{name}.json", list(args))


def test_answer_helpers() -> None:
    assert [binary_answer(v) for v in ["Yes.", " no, not really", "YEP", "maybe", True, 0, "nothing"]] == [
        "Yes", "No", "Yes", "Other", "Yes", "No", "Other"]
    assert [parse_number(v) for v in ["4", " 7/10", "I'd say 3.5", "seven", 2, True, "nan"]] == [
        4.0, 7.0, 3.5, None, 2.0, None, None]
    assert parse_number("about 3", strict=True) is None and parse_number("3/5", strict=True) == 3.0
    assert canonical_probe_type("silisocs.probes:NumericRatingProbe") == "NumericRatingProbe"
    assert canonical_probe_type("likert_scale") == "NumericRatingProbe"
    assert canonical_probe_type("open_text") == "FreeTextProbe" and canonical_probe_type("Mystery") is None
    # silisocs' rules for undeclared answers: yes/no (by word, then substring), number, <= 4 words, text
    assert [yes_no(v) for v in ["Yes", "n", "1", "I know", "Yesterday", "maybe", None]] == [
        "Yes", "No", "Yes", "No", "Yes", None, None]
    assert [first_number(v) for v in ["7/10", "-2.5x", ".5", "1e3", 4, True, "seven"]] == [
        7.0, -2.5, 5.0, 1.0, 4.0, 1.0, None]
    assert [answer_type(v) for v in ["No, never", "4", 5, "Party A", DIARY[0], None, " "]] == [
        "BinaryProbe", "NumericRatingProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe", "Unknown",
        "Unknown"]
    assert tokens("Don't panic: the RIVER's 2 rivers!") == ["don't", "panic", "river's", "rivers"]
    assert count_tokens(DIARY)["river"] == 3 and "the" not in count_tokens(DIARY)


@pytest.mark.parametrize("style,root", [("list", "eval"), ("dict", "evaluations"), ("list", "evals")])
def test_probe_metrics_detailed_with_declared_types(tmp_path, style, root) -> None:
    p = evaluate(tmp_path, config=probe_config_yaml(DECLARED, style=style, root=root, choices=CHOICES))
    assert p["summary_type"] == "probe_metrics" and p["mode"] == "probe_metrics" and p["filter_probe_type"] is None
    # silisocs' probe_type: what it reads as declared (probe_name / probe_data.name), else "inferred"
    silisocs_declared = dict(DECLARED) if style == "list" else {}
    assert p["probe_type_by_label"] == {label: silisocs_declared.get(label, "inferred") for label in
                                        ("agree_q", "color", "diary", "mood", "score", "topic", "trust")}
    assert p["resolved_probe_type_by_label"] == {
        "agree_q": "BinaryProbe", "color": "ChoiceProbe", "diary": "FreeTextProbe", "mood": "NumericRatingProbe",
        "score": "NumericRatingProbe", "topic": "ChoiceProbe", "trust": "BinaryProbe"}
    assert p["per_label"]["trust"]["probe_type_source"] == "declared"
    assert p["per_label"]["diary"]["probe_type_source"] == "inferred"
    assert p["total_probe_events"] == p["filtered_probe_events"] == 25 and p["bad_lines"] == 0

    trust = p["per_label"]["trust"]
    assert (trust["total_events"], trust["responses_present"], trust["responses_missing"]) == (5, 3, 2)
    assert trust["choice_counts"] == {"Yes": 2, "No": 1, "Other": 0} and "choice_value_counts" not in trust
    assert (trust["answer_yes"], trust["answer_no"], trust["num_respondents"]) == (2, 1, 2)

    mood = p["per_label"]["mood"]  # "seven" has no number: unparsed; silisocs' stats are floats
    assert mood["numeric_response_stats"] == {"count": 3, "min": 3.0, "max": 5.0, "mean": 4.0, "median": 4.0,
                                              "stdev": 1.0}
    assert (mood["numeric_values_parsed"], mood["numeric_values_unparsed"]) == (3, 1)

    topic = p["per_label"]["topic"]
    assert topic["choice_counts"] == {"Politics": 2, "Sports": 2, "Music": 0}  # ours: declared spelling
    assert topic["choice_value_counts"] == {"Politics": 1, "politics.": 1, "Sports": 2}  # silisocs: stripped text
    assert topic["probe_mode_counts"] == {"scheduled": 3, "on_demand": 1}

    # diary is undeclared: silisocs types each answer, and "Nothing much happened, ..." reads as a "no"
    diary = p["per_label"]["diary"]
    assert diary["free_text_word_count_stats"] == {"count": 2, "min": 8.0, "max": 12.0, "mean": 10.0,
                                                   "median": 10.0, "stdev": 2.8284271247461903}
    assert diary["free_text_char_len_stats"]["max"] == len(DIARY[0])
    assert list(diary["free_text_top_tokens"].items())[:3] == [("the", 3), ("river", 2), ("and", 2)]
    assert diary["free_text_top_content_tokens"][0] == ["river", 2]

    assert p["per_type"]["BinaryProbe"] == {"labels": ["agree_q", "diary", "trust"], "total_events": 9,
                                            "responses_present": 7, "responses_missing": 2,
                                            "answer_Yes": 4, "answer_No": 3}
    assert p["per_type"]["NumericRatingProbe"]["numeric_values_parsed"] == 6

    assert p["per_episode"] == {"0": 20, "1": 5} and p["per_agent"] == {"a1": 11, "a2": 8, "a3": 6}
    assert p["per_agent_per_episode"]["a1"] == {"0": 7, "1": 4}
    ep0, ep1 = p["per_episode_detail"]["0"], p["per_episode_detail"]["1"]
    assert (ep0["total_events"], ep0["responses_present"], ep0["num_respondents"]) == (20, 19, 3)
    assert (ep1["total_events"], ep1["responses_present"], ep1["num_respondents"]) == (5, 4, 1)
    assert ep0["labels"]["mood"] == {"total_events": 3, "responses_present": 3, "n": 3, "mean": 4.0, "stdev": 1.0,
                                     "min": 3, "max": 5}
    assert ep0["labels"]["diary"]["mean_words"] == 6.0 and ep1["labels"]["diary"]["mean_words"] == 8.0
    assert ep0["labels"]["trust"]["choice_shares"] == {"Yes": 0.5, "No": 0.5}
    assert p["per_agent_detail"]["a2"] == {"total_events": 8, "responses_present": 7, "first_episode": 0,
                                           "last_episode": 1, "label_counts": {"trust": 2, "agree_q": 1, "color": 1,
                                                                               "diary": 1, "mood": 1, "score": 1,
                                                                               "topic": 1}}
    assert p["per_agent_per_episode_detail"]["a1"]["1"] == {"total_events": 4, "responses_present": 4}

    agg = p["aggregated"]
    assert agg["total_probe_events"] == 25 and agg["response_rate"] == 23 / 25 and agg["num_respondents"] == 3
    assert agg["share_yes_trust"] == pytest.approx(2 / 3) and agg["share_yes_agree_q"] == pytest.approx(2 / 3)
    assert agg["mean_mood"] == 4.0 and agg["mean_score"] == pytest.approx(9.5 / 3)
    assert agg["share_topic_politics"] == 0.5 and agg["share_topic_sports"] == 0.5
    assert agg["share_topic_music"] == 0.0  # declared option, never chosen: key still there
    assert agg["share_color_dark_red"] == pytest.approx(1 / 3)
    assert agg["mean_words_diary"] == 10.0 and agg["response_rate_trust"] == 0.6


def test_without_config_rows_are_typed_by_their_answers(tmp_path) -> None:
    """As silisocs: an undeclared probe's rows are typed one answer at a time; ours resolves the label."""
    p = evaluate(tmp_path)
    assert set(p["probe_type_by_label"].values()) == {"inferred"}
    assert p["resolved_probe_type_by_label"]["trust"] == "BinaryProbe"
    # "4", 5, "about 3/5" are numbers, "seven" is a one-word choice: the label resolves to numeric
    assert p["resolved_probe_type_by_label"]["mood"] == "NumericRatingProbe"
    assert "mood" in p["per_type"]["NumericRatingProbe"]["labels"] and "mood" in p["per_type"]["ChoiceProbe"]["labels"]
    assert p["per_label"]["mood"]["choice_value_counts"] == {"seven": 1}
    assert p["per_label"]["mood"]["numeric_response_stats"]["count"] == 3
    assert all(b["probe_type_source"] == "inferred" for b in p["per_label"].values())
    assert p["aggregated"]["mean_mood"] == 4.0 and "share_mood_4" not in p["aggregated"]


def test_broken_config_is_a_warning(tmp_path) -> None:
    p = evaluate(tmp_path, config="eval: [unclosed\n  probes: {")
    assert any("effective_config.yaml" in w for w in p["warnings"])
    assert p["probe_type_by_label"]["trust"] == "inferred"
    assert p["resolved_probe_type_by_label"]["trust"] == "BinaryProbe"


@pytest.mark.parametrize(("preset", "ptype", "labels"), [
    ("probe_binary_detailed", "BinaryProbe", ["agree_q", "diary", "trust"]),  # diary: one "no" answer
    ("probe_numeric_detailed", "NumericRatingProbe", ["mood", "score"]),
    ("probe_choice_detailed", "ChoiceProbe", ["color", "topic"]),
    ("probe_freetext_detailed", "FreeTextProbe", ["diary"]),
])
def test_typed_filters(tmp_path, preset, ptype, labels) -> None:
    p = evaluate(tmp_path, name=preset, config=probe_config_yaml(DECLARED, choices=CHOICES))
    assert p["filter_probe_type"] == ptype and p["mode"] == preset.replace("_detailed", "")
    assert sorted(p["per_label"]) == labels and list(p["per_type"]) == [ptype]
    kept = sum(p["per_label"][label]["total_events"] for label in labels)
    assert p["filtered_probe_events"] == kept and p["filtered_out_probe_events"] == 25 - kept
    assert p["aggregated"]["total_probe_events"] == kept
    assert all(k.split("_")[0] in {"total", "responses", "response", "num", "imputed", "share", "mean", "stdev"}
               for k in p["aggregated"])


CARRY_ROWS = [
    probe("trust", "a1", 0, 0, "Yes"), probe("trust", "a2", 0, 1, "No"), probe("trust", "a3", 0, 2, ""),
    probe("trust", "a4", 0, 3, "Yes"),
    probe("trust", "a2", 1, 4, "Yes"), probe("trust", "a3", 1, 5, "No"), probe("trust", "a4", 1, 6, ""),
    probe("trust", "a1", 2, 7, "No"),
]


@pytest.mark.parametrize("how", ["config", "flag"])
def test_carry_forward(tmp_path, how) -> None:
    config = probe_config_yaml([("trust", "BinaryProbe")], hold_last_response=how == "config")
    args = ["--no-plots"] + (["--carry-forward"] if how == "flag" else [])
    p = evaluate(tmp_path, config=config, rows=CARRY_ROWS, args=args)
    assert p["carry_forward_enabled"] and p["carry_forward_source"] == ("option" if how == "flag" else "effective_config")
    # as silisocs: a1 e1 (Yes), a2 e2 (Yes), a3 e2 (No), a4 e2 (Yes) added; blank rows (a3 e0, a4 e1) stay blank
    assert p["imputed_responses"] == 4 and p["total_probe_events_raw"] == 8 and p["total_probe_events"] == 12
    trust = p["per_label"]["trust"]
    assert trust["probe_mode_counts"] == {"scheduled": 8, "carry_forward_imputed": 4}
    assert (trust["responses_present"], trust["answer_yes"], trust["answer_no"]) == (10, 6, 4)
    assert p["aggregated"]["share_yes_trust"] == pytest.approx(6 / 10)
    assert p["per_episode"]["2"] == 4 and p["per_episode_detail"]["2"]["total_events"] == 4


def test_carry_forward_fills_every_probe_episode(tmp_path) -> None:
    """Held answers fill every episode any probe was asked in, from the last row of an episode."""
    rows = [probe("trust", "a1", 1, 0, "Yes"), probe("trust", "a1", 1, 1, ""),  # last row of e1 is blank
            probe("trust", "a1", 2, 2, "No"), probe("mood", "a1", 4, 3, "3"), probe("mood", "a2", 5, 4, "4")]
    config = probe_config_yaml([("trust", "BinaryProbe"), ("mood", "NumericRatingProbe")], hold_last_response=True)
    p = evaluate(tmp_path, config=config, rows=rows)
    # trust a1: e4, e5 get "No"; mood a1: e5 gets "3"; mood a2 has nothing before e5
    assert p["imputed_responses"] == 3 and p["per_episode"] == {"1": 2, "2": 1, "4": 2, "5": 3}
    assert p["per_label"]["trust"]["answer_no"] == 3 and p["per_label"]["mood"]["numeric_values_parsed"] == 3


def test_carry_forward_can_be_switched_off(tmp_path) -> None:
    config = probe_config_yaml([("trust", "BinaryProbe")], hold_last_response=True)
    p = evaluate(tmp_path, config=config, rows=CARRY_ROWS, args=["--no-plots", "--no-carry-forward"])
    assert not p["carry_forward_enabled"] and p["imputed_responses"] == 0 and p["total_probe_events"] == 8


def test_missing_probe_file(tmp_path) -> None:
    run = make_run(tmp_path / "run", actions=[action("post", "a1", 0, 0)])
    p = run_builtin("probe_metrics_detailed", run, tmp_path / "o.json")
    assert p["source_files"] == [] and any("probe_events.jsonl" in w for w in p["warnings"])
    assert p["aggregated"] == {"total_probe_events": 0, "responses_present": 0, "responses_missing": 0,
                               "num_probe_labels": 0, "num_respondents": 0, "imputed_responses": 0}
    assert p["plots"]["generated_files"] == [] and not (tmp_path / "o_plots").exists()
    s = run_builtin("probe_summary", run, tmp_path / "s.json")
    assert s["total_probe_events"] == 0 and "response_rate" not in s["aggregated"]


def test_probe_rows_in_game_master_folders_bad_lines_and_odd_answers(tmp_path) -> None:
    run = make_run(tmp_path / "run", probes=ROWS[:6], config=probe_config_yaml(DECLARED))
    gm_rows = [probe("trust", "a9", 3, 0, {"answer": "Yes", "reasoning": "because"}),
               probe("trust", "a8", 3, 1, ["structured", "list"]),
               {"event_type": "probe", "label": "trust", "source_user": "a7", "episode": 3},  # no data
               {"event_type": "action", "label": "like", "source_user": "a7", "episode": 3, "data": {}}]
    from evaluator_fixtures import write_jsonl

    write_jsonl(run / "gm_1" / "probe_events.jsonl", gm_rows, raw_lines={2: "{not json"})
    p = run_builtin("probe_metrics_detailed", run, tmp_path / "o.json", ["--no-plots"])
    assert p["source_files"] == ["probe_events.jsonl", "gm_1/probe_events.jsonl"] and p["bad_lines"] == 1
    assert p["non_probe_events"] == 1 and p["total_probe_events"] == 9
    assert p["per_game_master"]["gm_1"] == {"total_events": 3, "responses_present": 2}
    assert p["per_label"]["trust"]["choice_counts"] == {"Yes": 2, "No": 1, "Other": 1}
    s = run_builtin("probe_summary", run, tmp_path / "s.json")
    # responses_present as silisocs: rows whose data has the key probe_return (the row without data has not)
    assert s["summary_type"] == "probes" and s["total_probe_events"] == 9 and s["responses_present"] == 8
    assert s["responses_answered"] == 7 and s["responses_missing"] == 2
    assert s["probe_labels"] == {"trust": 6, "mood": 3} and s["probe_episodes"] == [3]  # episode 0 is init
    assert s["per_game_master"] == {"root": 6, "gm_1": 3} and s["aggregated"]["response_rate"] == 7 / 9


def test_socialsim_style_config_with_options_and_scale(tmp_path) -> None:
    from silisocs_study.evaluators.probe_config import load_probe_config

    (tmp_path / "effective_config.yaml").write_text(
        "eval:\n  probes:\n    probes:\n"
        "    - probe_name: fav\n      probe_type: NumericRatingProbe\n      min_value: 1\n      max_value: 10\n"
        "    - probe_name: issue\n      probe_type: ChoiceProbe\n      options: [economy, health]\n"
        "probes:\n  deployment:\n    hold_last_response: true\n")
    cfg = load_probe_config(tmp_path)
    assert cfg.declared == {"fav": "NumericRatingProbe", "issue": "ChoiceProbe"}
    assert cfg.scales == {"fav": (1.0, 10.0)} and cfg.choices == {"issue": ["economy", "health"]}
    assert cfg.hold_last_response is True and cfg.error is None


def _many_probe_rows(n_agents: int = 40, n_episodes: int = 30) -> list[dict]:
    words = "river election hopeful calm posts market friends news trust weekend".split()
    rows, i = [], 0
    for ep in range(n_episodes):
        for a in range(n_agents):
            for label, answer in (("trust", ["Yes", "No", "", None][(a + ep) % 4]), ("mood", str(1 + (a * ep) % 7)),
                                  ("topic", ["Politics", "sports.", "Music"][a % 3]),
                                  ("diary", " ".join(words[(a + k * ep) % len(words)] for k in range(3 + a % 9)))):
                rows.append(probe(label, f"a{a}", ep, i, answer))
                i += 1
    return rows


def test_helper_processes_give_the_same_payload(tmp_path, monkeypatch) -> None:
    """Byte-range segments coded by a spawned helper and token counting shared with it change nothing."""
    from silisocs_study.evaluators import label_stats, segments

    rows = _many_probe_rows()
    run = make_run(tmp_path / "run", probes=rows[:3000], config=probe_config_yaml(DECLARED))
    from evaluator_fixtures import write_jsonl

    write_jsonl(run / "gm_1" / "probe_events.jsonl", rows[3000:], raw_lines={700: "{torn"})
    monkeypatch.setattr(segments, "MIN_SEGMENT_BYTES", 1)
    monkeypatch.setattr(label_stats, "SHARE_TOKENS_FROM", 10)
    real_claim = segments._claim
    # this process claims no segment: the helper codes them all (else it may start after the work is done)
    monkeypatch.setattr(segments, "_claim", lambda claim, from_back: real_claim(claim, from_back) if from_back else None)
    started = []
    real_start = segments.Helpers.start.__func__

    def spy(cls, n):
        pool = real_start(cls, n)
        started.append(pool)
        return pool

    monkeypatch.setattr(segments.Helpers, "start", classmethod(spy))
    payloads = {}
    for workers in ("1", "2"):
        monkeypatch.setenv(segments.WORKERS_ENV, workers)
        p = run_builtin("probe_metrics_detailed", run, tmp_path / "o.json", ["--no-plots"])
        payloads[workers] = p
    # serial: the evaluator and the reader each decline to start helpers; parallel: one pool, reused
    assert [p is not None for p in started] == [False, False, True] and started[2].size == 1
    assert payloads["1"] == payloads["2"]
    assert payloads["2"]["bad_lines"] == 1 and payloads["2"]["total_probe_events"] == len(rows)
    # diary is undeclared: answers of up to 4 words are choices, longer ones free text (as silisocs)
    diary = [r["data"]["probe_return"] for r in rows if r["label"] == "diary" and len(r["data"]["probe_return"].split()) > 4]
    assert payloads["2"]["per_label"]["diary"]["free_text_top_content_tokens"][:5] == [
        list(t) for t in sorted(count_tokens(diary).items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    import re
    from collections import Counter

    silisocs_tokens = Counter(t for text in diary for t in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text.lower()))
    assert list(payloads["2"]["per_label"]["diary"]["free_text_top_tokens"].items()) == silisocs_tokens.most_common(30)


def test_work_deferred_to_a_closed_pool_is_done_here() -> None:
    from silisocs_study.evaluators.segments import Helpers

    pool = Helpers.start(1)
    assert pool is not None
    pool.close()
    assert pool.defer(count_tokens, ["Calm river, calm market"]).result() == {"calm": 2, "river": 1, "market": 1}


@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                          st.text(alphabet=st.sampled_from(" \t\n\u00a0\u2003ab.1"), max_size=6))))
def test_present_flags_agree_with_is_present(values) -> None:
    from silisocs_study.evaluators.answers import is_present
    from silisocs_study.evaluators.probe_data import present_flags

    assert present_flags(values).tolist() == [is_present(v) for v in values]


@given(st.lists(st.text(alphabet=st.sampled_from("aZb q'1 .,\n\u212aK\u00c9\u0130-THEé"), max_size=12), max_size=8))
def test_count_tokens_is_tokens_summed(texts) -> None:
    """The bulk counter (ASCII and non-ASCII paths) equals the per-text rule, Kelvin sign and all."""
    from collections import Counter

    expected: Counter = Counter()
    for text in texts:
        expected.update(tokens(text))
    assert count_tokens(texts) == expected
