"""Pseudonymisation: each name-matching pitfall its own case, and the site-level placeholders."""
from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

from qualflow.names import Entry, Matcher
from qualflow.pseudonymise import render_txt, replace_text, site_entries
from qualflow.study import Identifier, Person


def person(num, name, aliases=(), site="s", role="psw", cs=False, transcripts=("FG1",)):
    return Person(site, str(num), name, tuple(aliases), role, "female", "", transcripts, cs, 2)


def pseudo(text: str, entries: list[Entry]) -> str:
    return replace_text(text, Matcher(entries))[0]


E = [Entry("Anna", "roster:s:1", "participant", "P01"), Entry("Anna Schmidt", "roster:s:1", "participant", "P01"),
     Entry("Annabel Schmidt", "roster:s:2", "participant", "P02")]


def test_longest_first():
    assert pseudo("Anna Schmidt und Anna, nicht Annabel Schmidt.", E) == "P01 und P01, nicht P02."


def test_name_split_across_lines():
    assert pseudo("Ich habe mit Anna\nSchmidt gesprochen.", E) == "Ich habe mit P01 gesprochen."


def test_german_genitive():
    assert pseudo("Das war Annas Idee.", E) == "Das war P01s Idee."


def test_no_match_inside_a_longer_word():
    assert pseudo("Hannah and Annabelle", E) == "Hannah and Annabelle"


def test_hebrew_proclitic_prefix_is_kept():
    e = [Entry("מיכל", "roster:b:1", "participant", "P01")]
    assert pseudo("ולמיכל יש רעיון, ושמיכל אמרה", e) == "ולP01 יש רעיון, ושP01 אמרה"
    # A longer word that merely contains the name after non-prefix letters is left alone.
    assert pseudo("תמיכלה", e) == "תמיכלה"


def test_devanagari_vowel_sign_is_part_of_the_word():
    e = [Entry("राम", "identifiers:p:2", "person", "[TP01]")]
    assert pseudo("राम ने कहा, रामा नहीं", e) == "[TP01] ने कहा, रामा नहीं"


def test_nfd_input_matches_nfc_list():
    e = [Entry("Stéphane", "roster:s:3", "participant", "P03")]
    nfd = unicodedata.normalize("NFD", "Mit Stéphane reden.")
    assert nfd != "Mit Stéphane reden."
    assert pseudo(nfd, e) == "Mit P03 reden."


@pytest.mark.parametrize("invisible", ["\u200f", "\u00ad", "\u200b", "\u200e"])
def test_invisible_character_inside_a_name(invisible):
    assert pseudo(f"Frag An{invisible}na Schmidt.", E) == "Frag P01."


def test_name_in_an_alias_only():
    p = person(9, "Denis Okello Acanit", ["Denis O.", "Okello"], site="k")
    entries, _ = site_entries("k", [p], [])
    assert pseudo("Nalwoga n'Okello walidde.", entries) == "Nalwoga n'P09 walidde."


def test_email_and_phone_number():
    text, rows = replace_text("Write to anna.schmidt@example.org or call +49 731 500-61234, not 2018.",
                              Matcher(E))
    assert text == "Write to [EMAIL] or call [PHONE], not 2018."
    assert [r["rule"] for r in rows] == ["email", "phone"]


def test_case_sensitive_entry_leaves_the_ordinary_word():
    e = [Entry("Neema", "roster:d:2", "participant", "P02", case_sensitive=True),
         Entry("Tumaini", "roster:d:14", "participant", "P14", case_sensitive=True),
         Entry("Shirika la Tumaini Jipya", "identifiers:d:20", "organisation", "[ORG_01]")]
    assert pseudo("Neema alisema tunahitaji neema na tumaini; Shirika la Tumaini Jipya ni zuri. Tumaini?", e) == \
        "P02 alisema tunahitaji neema na tumaini; [ORG_01] ni zuri. P14?"


def test_placeholders_numbered_per_site_in_list_order():
    ids = [Identifier("s", "Klinik Buchenhain", ("Buchenhain",), "hospital", False, 2),
           Identifier("s", "Gerlinde Sauerampfer", (), "person", False, 3),
           Identifier("t", "Other Town", (), "place", False, 4),
           Identifier("s", "Dr. Holzapfelmann", ("Holzapfelmann",), "person", False, 5),
           Identifier("*", "Kizimkazi-Ndogo", (), "place", False, 6)]
    entries, key = site_entries("s", [person(1, "Anna Schmidt", ["Anna"])], ids)
    assert [(k.placeholder, k.key) for k in key] == [
        ("P01", "roster:s:1"), ("[HOSPITAL_01]", "identifiers:s:[HOSPITAL_01]"), ("[TP01]", "identifiers:s:[TP01]"),
        ("[TP02]", "identifiers:s:[TP02]"), ("[PLACE_01]", "identifiers:s:[PLACE_01]")]
    de = pseudo("Anna war bei Dr. Holzapfelmanns Station in der Klinik Buchenhain (Kizimkazi-Ndogo).", entries)
    en = pseudo("Anna was on Dr. Holzapfelmann's ward at Klinik Buchenhain (Kizimkazi-Ndogo).", entries)
    assert de == "P01 war bei [TP02]s Station in der [HOSPITAL_01] ([PLACE_01])."
    assert en == "P01 was on [TP02]'s ward at [HOSPITAL_01] ([PLACE_01])."


def test_name_in_docx_table_split_across_runs(tmp_path):
    import docx

    from qualflow.transcripts import read_transcript
    d = docx.Document()
    for line in ["---", "kind: focus_group", "date: 2018-10-02", "---"]:
        d.add_paragraph(line)
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Anna S."
    para = table.cell(0, 1).paragraphs[0]
    for piece in ["Ich habe mit An", "na Sch", "midt gesprochen."]:
        para.add_run(piece)
    path = tmp_path / "FG1.de.docx"
    d.save(path)
    turn = read_transcript(path, "s").turns[0]
    assert (turn.speaker, turn.text) == ("Anna S.", "Ich habe mit Anna Schmidt gesprochen.")
    assert pseudo(turn.text, E) == "Ich habe mit P01 gesprochen."


def test_replacement_log_offsets_point_at_the_original():
    text = "Anna Schmidt sagte: Annas Idee."
    _, rows = replace_text(text, Matcher(E))
    for r in rows:
        assert text[r["offset"]:r["offset"] + len(r["original"])] == r["original"]
    assert [(r["original"], r["rule"]) for r in rows] == [("Anna Schmidt", "exact"), ("Annas", "suffix")]   # the German genitive is a suffix rule (changed: issue 11)


def test_render_offsets_locate_each_turn():
    turns = pd.DataFrame({"turn": [1, 2, 3], "speaker": ["F01", "", "P01"], "text": ["Hallo?", "[Lachen]", ""],
                          "kind": ["speech", "marker", "speech"]})
    text, offsets = render_txt({"kind": "focus_group", "date": "2018-10-02", "wave": ""}, "de", turns)
    assert text.endswith("F01: Hallo?\n\n[Lachen]\n\nP01:\n")
    assert [text[a:b] for a, b in offsets] == ["Hallo?", "[Lachen]", ""]


def test_review_candidates_are_unlisted_capitalised_words_in_both_languages():
    from qualflow.pseudonymise import review_candidates

    def turns(*texts):
        return pd.DataFrame({"turn": range(1, len(texts) + 1), "line": range(5, 5 + len(texts)),
                             "kind": "speech", "text": list(texts)})
    files = {("FG1", "de"): turns("Ich habe mit Quillberg über den Vorschlag gesprochen.", "Gut."),
             ("FG1", "en"): turns("I talked to Quillberg about the Proposal.", "Good, says Monday.")}
    df = review_candidates("s", files, "en", allow={"ulm"})
    assert sorted(set(df["token"])) == ["Quillberg"]          # Vorschlag/Proposal: one language only
    assert sorted(df["lang"]) == ["de", "en"] and set(df["occurrences"]) == {2}
    only_en = review_candidates("s", {("INT2", "en"): turns("We met Quillberg and Ulm people.")}, "en",
                                allow={"ulm"})
    assert list(only_en["token"]) == ["Quillberg"]            # English-only transcript: English alone


def test_vectorised_and_general_paths_find_the_same_names(monkeypatch):
    """The fast (numpy) matching view and the general edit-by-edit one must agree exactly."""
    import random

    from qualflow import names
    rng = random.Random(7)
    entries = E + [Entry("מיכל", "roster:b:1", "participant", "P05"), Entry("Okello", "roster:k:9", "participant", "P09"),
                   Entry("Neema", "roster:d:2", "participant", "P02", case_sensitive=True),
                   Entry("Dr. Holzapfelmann", "identifiers:u:5", "person", "[TP02]")]
    pieces = ["Anna", "Anna Schmidt", "Annas", "Annabel Schmidt", "ולמיכל", "מיכל", "n'Okello", "Okellos",
              "neema", "Neema", "Dr. Holzapfelmanns", "xAnna", "the", "ward", ",", ".", "\n", "  ", "\u00ad",
              "\u200f", "Hannah", "Straße"]
    matcher = names.Matcher(entries)
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(5, 60))) for _ in range(300)]
    fast = [matcher.find(t) for t in texts]
    monkeypatch.setattr(names.View, "_fast", lambda self, text, fold: False)
    slow = [matcher.find(t) for t in texts]
    assert fast == slow
    assert sum(map(len, fast)) > 1000
