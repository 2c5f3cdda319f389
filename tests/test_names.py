"""Affixes per language (issue 11): every shipped affix on a planted name is replaced, the gate
finds nothing after, and the gate fails safe on a name with an ending it does not know."""
from __future__ import annotations

import unicodedata

import pytest

from conftest import write
from qualflow.affixes import DEFAULT_AFFIXES, MAX_STACK, language_rules
from qualflow.errors import InputError
from qualflow.leaks import Scope, gate_entries, run_gate, scan
from qualflow.names import AffixRules, Entry, Matcher
from qualflow.pseudonymise import replace_text
from qualflow.study import Person

# Synthetic names per language: (full name, first name) in the language's script.
NAMES = {
    "mr": ("अमित झरकोळे", "अमित", "प्रिया"),       # consonant-final and ā-final first names
    "de": ("Ottilie Wendelmoor", "Ottilie", "Ottilie"),
    "en": ("Quentin Marrowby", "Quentin", "Quentin"),
    "he": ("מיכל דקלוני", "מיכל", "מיכל"),
    "sw": ("Zuberi Kilindoma", "Zuberi", "Zuberi"),
    "lg": ("Okello Ssekibuule", "Okello", "Okello"),
}
FILLER = {"mr": "आम्ही बोललो", "de": "und dann", "en": "and then", "he": "ואז אמרנו", "sw": "na kisha",
          "lg": "era oluvannyuma"}


def entries(lang: str) -> list[Entry]:
    full, first, other = NAMES[lang]
    out = [Entry(full, "roster:s:1", "participant", "P01"), Entry(first, "roster:s:1", "participant", "P01")]
    if other != first:
        out.append(Entry(other, "roster:s:2", "participant", "P02"))
    return out


def planted(lang: str) -> tuple[str, int]:
    """A text with every shipped affix of the language on the names, plus stacks, a name split across
    lines, NFD and invisible marks; returns (text, number of planted names)."""
    full, first, other = NAMES[lang]
    rules = DEFAULT_AFFIXES[lang]
    words: list[str] = [full, first, full.replace(" ", "\n"), full.replace(" ", " \n  ")]
    for s in rules.suffixes:
        words += [first + s, other + s, full + s]
        for link in rules.links:
            words.append(first + link + s)
    if rules.suffixes:
        chain = rules.suffixes[:MAX_STACK]
        words.append(first + "".join(chain))                       # a stack of suffixes
        words.append(full.replace(" ", "\n") + rules.suffixes[0])  # split across lines, with a suffix
    for p in rules.prefixes:
        words += [p + first, p + full]
    if rules.prefixes:
        words.append("".join(rules.prefixes[:MAX_STACK]) + first)
    words.append(unicodedata.normalize("NFD", first))
    words.append(first[:2] + "\u200b" + first[2:])                 # zero-width space inside the name
    words.append(first[:2] + "\u00ad" + first[2:] + (rules.suffixes[0] if rules.suffixes else ""))
    if lang in {"sw", "lg"}:
        words += [f"n'{first}", f"ew'{first}", f"y’{first}"]       # elision: the apostrophe is a boundary
    text = "\n".join(f"{FILLER[lang]} {w}, {FILLER[lang]}." for w in words)
    return text, len(words)


@pytest.mark.parametrize("lang", sorted(NAMES))
def test_every_shipped_affix_is_replaced_and_the_gate_finds_nothing_after(lang, tmp_path):
    rules = language_rules(None)
    matcher = Matcher(entries(lang), AffixRules({lang: rules[lang], "en": rules["en"]}))
    text, n = planted(lang)
    out, log = replace_text(text, matcher)
    assert len(log) == n                                          # 100 % replaced
    for form in {e.form for e in entries(lang)}:
        assert form.split()[0] not in out and form.split()[-1] not in out
    # Every affix survives next to its placeholder.
    for s in DEFAULT_AFFIXES[lang].suffixes:
        assert f"P01{s}" in out or f"P01{s[:1]}" in out, s
    for p in DEFAULT_AFFIXES[lang].prefixes:
        assert f"{p}P01" in out
    # The gate, fail-safe, with the same rules: nothing left.
    f = write(tmp_path / "results/pseudonymised/s/FG1.txt", out)
    scope = Scope({"s": (lang, "en")}, rules)
    people = [Person("s", "1", NAMES[lang][0], (NAMES[lang][1],), "psw", "female", "", ("FG1",), False, 2),
              Person("s", "2", NAMES[lang][2], (), "psw", "female", "", ("FG1",), False, 3)]
    assert scan([f], gate_entries(people, []), scope=scope).hits.empty


def test_marathi_forms_from_the_contract():
    """The postpositions the key-informants study writes, on consonant- and vowel-final names."""
    e = [Entry("अमित", "roster:pune:1", "participant", "P01"), Entry("प्रिया", "roster:pune:2", "participant", "P02"),
         Entry("पुणे", "identifiers:pune:2", "place", "[PLACE_01]")]
    m = Matcher(e, AffixRules({"mr": DEFAULT_AFFIXES["mr"]}))
    text = ("अमितला सांगितले, प्रियाने केले, अमितचा प्रश्न, प्रियाची कल्पना, अमितचे मत, अमितच्याकडे गेलो, "
            "प्रियाशी बोललो, अमितकडे, प्रियासाठी, पुणेमध्ये, रामाला नाही, अमिताला, प्रियाताईंना, अमितलाही")
    out = replace_text(text, m)[0]
    assert out == ("P01ला सांगितले, P02ने केले, P01चा प्रश्न, P02ची कल्पना, P01चे मत, P01च्याकडे गेलो, "
                   "P02शी बोललो, P01कडे, P02साठी, [PLACE_01]मध्ये, रामाला नाही, P01ाला, P02ताईंना, P01लाही")


def test_a_link_alone_is_not_a_suffix():
    """रामा is another name than राम: the oblique ा counts only before a postposition."""
    m = Matcher([Entry("राम", "identifiers:p:2", "person", "[TP01]")], AffixRules({"mr": DEFAULT_AFFIXES["mr"]}))
    assert replace_text("रामा आला, रामाला सांगितले", m)[0] == "रामा आला, [TP01]ाला सांगितले"


def _mini_gate(tmp_path, text: str, languages: str = "mr", english_text: str = "", affixes=None):
    write(tmp_path / "config/sites.tsv",
          "site\tname\tcountry\tincome_group\tsetting\tcare_level\tlanguages\tpsw_experience\n"
          f"pune\tPune\tIndia\tlower-middle\tlow-income\tsecondary\t{languages}\tsome\n")
    write(tmp_path / "data/restricted/roster.tsv",
          "site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
          "pune\tFG1\t2\tअमित झरकोळे\tअमित|Amit Zharkole|Amit\tpsw\tmale\t\t\n")
    write(tmp_path / "data/restricted/identifiers.tsv", "site\tterm\taliases\tcategory\tcase_sensitive\n"
                                                         "pune\tझरवाडी केंद्र\tZharwadi Kendra\thospital\t\n")
    lang = languages.split(",")[0]
    f = write(tmp_path / f"results/pseudonymised/pune/FG1.{lang}.txt", text)
    files = [str(f)]
    if english_text:
        files.append(str(write(tmp_path / "results/pseudonymised/pune/FG1.en.txt", english_text)))
    return lambda: run_gate(tmp_path / "config/sites.tsv", tmp_path / "data/restricted/roster.tsv",
                            tmp_path / "data/restricted/identifiers.tsv", files, tmp_path / "leak.tsv",
                            tmp_path / "near.tsv", affixes)


def test_devanagari_name_with_an_unknown_suffix_fails_the_gate_by_file_and_key(tmp_path):
    gate = _mini_gate(tmp_path, "---\nlanguage: mr\n---\nP02: आम्ही अमितझक बोललो.\n")
    with pytest.raises(InputError) as exc:
        gate()
    (problem,) = exc.value.problems
    msg = str(problem)
    assert msg.startswith(f"{tmp_path}/results/pseudonymised/pune/FG1.mr.txt:4: contains a roster or identifiers "
                          "name at the start of a longer word (roster:pune:2, participant;")
    assert "affixes: mr: suffixes" in msg and "own site" in msg
    assert "अमित" not in msg and "Amit" not in msg
    # Configured as a suffix, the same form is known: pseudonymisation would replace it, so the
    # gate counts the (here unreplaced) name as an ordinary hit, still by key id.
    gate2 = _mini_gate(tmp_path, "---\nlanguage: mr\n---\nP02: आम्ही अमितझक बोललो.\n",
                       affixes={"mr": {"suffixes": ["झक"]}})
    with pytest.raises(InputError) as exc:
        gate2()
    assert "contains a name from the roster or identifiers list (roster:pune:2" in str(exc.value.problems[0])


def test_latin_prefix_of_a_longer_word_is_no_hit_where_the_language_has_rules_but_is_in_one_without(tmp_path):
    ok = _mini_gate(tmp_path, "P02 met Amitabh.\n", languages="mr")
    ok()   # English has rules: Amitabh is another word (-abh is no English suffix)
    strict = _mini_gate(tmp_path, "P02 tapasi Amitille eilen.\n", languages="fi")
    with pytest.raises(InputError) as exc:
        strict()
    msg = str(exc.value.problems[0])
    assert "(roster:pune:2, participant;" in msg and "affixes: fi: suffixes" in msg


def test_config_affixes_extend_the_defaults_for_a_new_language():
    rules = language_rules({"fi": {"suffixes": ["lle", "n", "lta"]}, "mr": {"suffixes": ["वरती"]}})
    assert rules["fi"].suffixes == ("lle", "n", "lta")
    assert "वरती" in rules["mr"].suffixes and "ला" in rules["mr"].suffixes
    m = Matcher([Entry("Aino", "roster:h:1", "participant", "P01")], AffixRules({"fi": rules["fi"]}))
    assert replace_text("Annoin Ainolle kirjan, Ainon kirja, Ainolta, Ainossa.", m)[0] == \
        "Annoin P01lle kirjan, P01n kirja, P01lta, Ainossa."   # -ssa is not listed: left (the gate stops on it)


def test_fast_and_general_views_agree_with_affixes(monkeypatch):
    import random

    from qualflow import names
    rng = random.Random(11)
    es = [Entry("अमित", "roster:p:1", "participant", "P01"), Entry("מיכל", "roster:b:1", "participant", "P05"),
          Entry("Anna", "roster:s:1", "participant", "P02")]
    pieces = ["अमितला", "अमिताला", "अमितझक", "अमित", "ולמיכל", "מיכלה", "Annas", "Annabelle", "आणि", " ", "\n",
              "\u200c", "\u00ad", ",", "अ\u200cमितने"]
    matcher = names.Matcher(es)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(5, 40))) for _ in range(200)]
    fast = [matcher.find(t, fail_safe=True) for t in texts]
    monkeypatch.setattr(names.View, "_fast", lambda self, text, fold: False)
    assert fast == [matcher.find(t, fail_safe=True) for t in texts]
    assert {m.rule for ms in fast for m in ms} >= {"exact", "suffix", "prefix", "partial"}


def test_character_tables_cover_every_code_point_as_the_regex_classes_do():
    """The BMP tables plus the per-character astral lookup give, for every code point, the invisible,
    white-space and word flags of the regex classes they stand for (the tables were once built over
    all 1.1 million code points in every job)."""
    import numpy as np
    import regex

    from qualflow import names

    every = names._all_chars()
    invisible = {ord(m.group()) for m in regex.finditer(names._INVISIBLE, every)}
    space = {ord(m.group()) for m in regex.finditer(r"\s", every)}
    word = {ord(m.group()) for m in regex.finditer(r"[\w\p{M}]", names._all_chars(0x10000))}
    flags = names._tables()["flags"]
    assert set(np.flatnonzero(flags & 1).tolist()) == {c for c in invisible if c < 0x10000}
    assert set(np.flatnonzero(flags & 2).tolist()) == space and max(space) < 0x10000
    assert set(np.flatnonzero(names._tables()["word"]).tolist()) == word
    astral = np.arange(0x10000, 0x110000, dtype=np.uint32)
    found = astral[names._astral_invisible(astral) == 1]
    assert set(found.tolist()) == {c for c in invisible if c >= 0x10000} and len(found) > 50
    # a tag character (astral, invisible) inside a name is dropped like a zero-width space
    m = Matcher([Entry("Amani", "roster:x:1", "participant", "P01")])
    assert [(h.start, h.end) for h in m.find("Hi Am\U000E0041ani! Amanii")] == [(3, 9)]
