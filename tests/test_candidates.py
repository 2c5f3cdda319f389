"""Review candidates (issue 11): unlisted names are offered in scripts without capitals and at
sentence starts too, in both scripts, with every planted name found in every demo language."""
from __future__ import annotations

import sys

import pandas as pd

from conftest import ROOT
from qualflow.candidates import review_candidates, skeleton

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_review_recall  # noqa: E402


def _turns(*texts):
    return pd.DataFrame({"turn": range(1, len(texts) + 1), "line": range(5, 5 + len(texts)), "kind": "speech",
                         "text": list(texts)})


def test_every_planted_unlisted_name_is_offered_in_both_scripts_in_every_demo_language():
    recall = bench_review_recall.measure().set_index("language")
    assert set(recall.index) == {"mr", "he", "de", "sw", "lg", "en"}
    assert (recall["offered_both"] == recall["planted"]).all(), recall


def test_marathi_name_found_through_the_english_turn_and_reported_in_both_scripts():
    files = {("FG1", "mr"): _turns("आम्ही शांतीला फोन केला आणि ती आली.", "ठीक आहे."),
             ("FG1", "en"): _turns("We called Shanti and she came.", "Fine.")}
    df = review_candidates("pune", files, "en", allow=set())
    rows = {(r.lang, r.token, r.counterpart, r.signal) for r in df.itertuples()}
    assert ("en", "Shanti", "शांतीला", "capitalised") in rows
    assert ("mr", "शांतीला", "Shanti", "aligned") in rows


def test_sentence_start_name_in_english_only_text_and_ordinary_words_left_out():
    df = review_candidates("k", {("INT1", "en"): _turns("Shanti, the nurse, said the group helps.",
                                                         "Supervision is weekly. Recovery takes time.")},
                           "en", allow=set())
    assert list(df["token"]) == ["Shanti"] and list(df["signal"]) == ["sentence_start"]


def test_transliteration_skeletons_agree_across_scripts():
    assert skeleton("शांती") == skeleton("Shanti") == skeleton("שנטי")
    assert skeleton("कोल्हाटकर") == skeleton("Kolhatkar")
