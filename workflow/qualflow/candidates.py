"""Unlisted names a person should review (part of stage 3; ``restricted/review_candidates.tsv``).

A name that is in no list passes pseudonymisation untouched, so the pipeline offers likely names for
review. Signals, each recorded in the ``signal`` column:

- ``capitalised``: a capitalised word in the middle of a sentence (in a transcript whose local file is
  in Latin script, only if it occurs in both languages: German capitalises every noun);
- ``sentence_start``: a capitalised word that starts a sentence ("Shanti, the nurse, said") and is no
  ordinary word of the language (wordfreq's list; languages without a list are not judged here);
- ``not_in_wordlist``: in a script without capitals (Hebrew, ...), a word the language's list does not
  know, once the language's prefixes and suffixes are taken off;
- ``aligned``: the local-language form of an English candidate, found in the same turn of the local
  file by transliteration (Devanagari and Hebrew are romanised and compared by consonant skeleton),
  which is how a name in a script without capitals (Marathi) is found at all.

Each candidate is reported in both scripts where it can (``counterpart``: the form in the other file's
turn). ``benchmarks/bench_review_recall.py`` measures recall on planted unlisted names per language.
"""
from __future__ import annotations

import functools

import pandas as pd
import regex
from rapidfuzz.distance import Indel

from .affixes import DEFAULT_AFFIXES, LanguageAffixes
from .wordlists import has_list, zipf

COLUMNS = ["site", "transcript", "lang", "turn", "line", "token", "occurrences", "signal", "counterpart", "decision"]
# Capitalised words that are not names in any transcript of this kind of study.
COMMON_CAPITALS = {
    "i", "god", "psw", "psws", "western", "mr", "mrs", "ms", "dr", "okay", "ok", "yes", "no",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "english", "german", "hebrew", "kiswahili", "swahili", "luganda",
    "africa", "european", "europe", "christian", "muslim", "islam", "bible", "quran", "marathi", "india",
    "covid", "covid-19", "upsides", "whatsapp", "zoom",
}
ORDINARY = 3.0          # zipf: at least once per million words = an ordinary word
ALIGN_SIMILARITY = 0.7  # consonant-skeleton similarity for a transliterated counterpart

_CAP = regex.compile(r"\p{Lu}[\p{Ll}\p{M}]+(?:[-'’]\p{L}+)*")
_WORD = regex.compile(r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)*")
_SENTENCE_END = set(".!?:;\"“”„‘’«»()[]—–-…\n")
_POSSESSIVE = regex.compile(r"['’]s$")
_PLACEHOLDER = regex.compile(r"^(?:[PF]\d{2,3}|TP|PLACE|HOSPITAL|ORG|OTHER|EMAIL|PHONE)")


def _starts_sentence(text: str, pos: int) -> bool:
    """No character but spaces or tabs before ``pos``, or a sentence end (looked back, not copied)."""
    i = pos - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


@functools.lru_cache(maxsize=4096)
def _capitalised(text: str) -> tuple[tuple[int, str, bool], ...]:
    """capitalised_tokens, remembered: each turn is read three times (bases, mid-sentence, signals)."""
    return tuple(capitalised_tokens(text))


def capitalised_tokens(text: str) -> list[tuple[int, str, bool]]:
    """Capitalised words as (offset, word, starts a sentence)."""
    out = []
    for m in _CAP.finditer(text):
        if m.start() > 0 and text[m.start() - 1] not in " \t\n\"“„‘'’(«—–-":
            continue
        out.append((m.start(), _POSSESSIVE.sub("", m.group()), _starts_sentence(text, m.start())))
    return out


def capitalised_midsentence(text: str) -> list[tuple[int, str]]:
    """Capitalised tokens that do not start a sentence: where unlisted names hide."""
    return [(p, w) for p, w, start in capitalised_tokens(text) if not start and text[p - 1] in " \t"]


# ---------------------------------------------------------------------------------------------
# Transliteration to a consonant skeleton

_DEVANAGARI = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j", "झ": "jh", "ञ": "n",
    "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t", "थ": "th", "द": "d", "ध": "dh", "न": "n",
    "प": "p", "फ": "f", "ब": "b", "भ": "bh", "म": "m", "य": "y", "र": "r", "ल": "l", "ळ": "l", "व": "v",
    "श": "sh", "ष": "sh", "स": "s", "ह": "h", "क़": "k", "ख़": "kh", "ग़": "g", "ज़": "z", "ड़": "d", "ढ़": "dh",
    "फ़": "f", "अ": "a", "आ": "a", "इ": "i", "ई": "i", "उ": "u", "ऊ": "u", "ऋ": "ru", "ए": "e", "ऐ": "ai",
    "ओ": "o", "औ": "au", "ा": "a", "ि": "i", "ी": "i", "ु": "u", "ू": "u", "ृ": "ru", "े": "e", "ै": "ai",
    "ो": "o", "ौ": "au", "ं": "n", "ँ": "n", "ः": "h", "्": "", "़": "",
}
_HEBREW = {
    "א": "", "ב": "b", "ג": "g", "ד": "d", "ה": "h", "ו": "v", "ז": "z", "ח": "h", "ט": "t", "י": "y", "כ": "k",
    "ך": "k", "ל": "l", "מ": "m", "ם": "m", "נ": "n", "ן": "n", "ס": "s", "ע": "", "פ": "p", "ף": "f", "צ": "ts",
    "ץ": "ts", "ק": "k", "ר": "r", "ש": "sh", "ת": "t",
}
_FOLD = [("chh", "c"), ("ch", "c"), ("sh", "s"), ("kh", "k"), ("gh", "g"), ("th", "t"), ("dh", "d"), ("bh", "b"),
         ("ph", "f"), ("ts", "s"), ("tz", "s"), ("ck", "k"), ("q", "k"), ("w", "v"), ("x", "ks"), ("z", "j"),
         ("c", "k")]


def romanise(word: str) -> str:
    """A rough Latin reading of a Devanagari or Hebrew word (other scripts: the word, lower-cased)."""
    out = []
    for ch in word.lower():
        if ch in _DEVANAGARI:
            out.append(_DEVANAGARI[ch])
        elif ch in _HEBREW:
            out.append(_HEBREW[ch])
        elif "\u0591" <= ch <= "\u05c7":   # Hebrew points
            continue
        else:
            out.append(ch)
    return "".join(out)


@functools.lru_cache(maxsize=65536)
def skeleton(word: str) -> str:
    """Consonants only, similar sounds folded (sh=s, w=v, ph=f, ...), doubled letters once."""
    s = romanise(word)
    for a, b in _FOLD:
        s = s.replace(a, b)
    s = regex.sub(r"[aeiouyh'’\W\d_]", "", s)
    return regex.sub(r"(.)\1+", r"\1", s)


def _stems(word: str, rules: LanguageAffixes | None) -> list[str]:
    """The word and what is left of it after listed prefixes or suffix chains are taken off."""
    return list(_stems_cached(word, rules))


@functools.lru_cache(maxsize=65536)
def _stems_cached(word: str, rules: LanguageAffixes | None) -> tuple[str, ...]:
    out = [word]
    if rules is None:
        return out
    for p in rules.prefixes:
        for w in list(out):
            if w.startswith(p) and len(w) > len(p) + 1:
                out.append(w[len(p):])
    for w in list(out):
        for s in sorted(rules.suffixes, key=len, reverse=True):
            if w.endswith(s) and len(w) > len(s) + 1:
                stem = w[: -len(s)]
                out.append(stem)
                for link in rules.links:
                    if stem.endswith(link) and len(stem) > len(link) + 1:
                        out.append(stem[: -len(link)])
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=65536)
def _known(word: str, lang: str) -> bool:
    rules = DEFAULT_AFFIXES.get(lang)
    return any(zipf(s.lower(), lang) > 0 for s in _stems(word, rules))


def _ordinary(word: str, lang: str) -> bool:
    return zipf(word.lower(), lang) >= ORDINARY


def _best_counterpart(token: str, text: str, rules: LanguageAffixes | None) -> str:
    """The word of ``text`` that reads most like ``token`` (by consonant skeleton), or ""."""
    target = skeleton(token)
    if len(target) < 2:
        return ""
    best, score = "", 0.0
    for m in _WORD.finditer(text):
        word = m.group()
        if _PLACEHOLDER.match(word):
            continue
        for stem in _stems(word, rules):
            s = Indel.normalized_similarity(target, skeleton(stem))
            if s > score:
                best, score = word, s
    return best if score >= ALIGN_SIMILARITY else ""


def _counterpart(token: str, text: str, rules: LanguageAffixes | None) -> str:
    """The form of ``token`` in the other language's turn: the same word, or in a script with capitals a
    capitalised word that reads like it, or in a script without them any word that reads like it."""
    if regex.search(r"\p{Latin}|\p{Cyrillic}|\p{Greek}", text):
        caps = [w for _, w, _ in _capitalised(text)]
        if token in caps:
            return token
        return _best_counterpart(token, " ".join(caps), rules)
    return _best_counterpart(token, text, rules)


def review_candidates(site: str, files: dict[tuple[str, str], pd.DataFrame], english: str,
                      allow: set[str], affixes: dict[str, LanguageAffixes] | None = None) -> pd.DataFrame:
    """Words that look like names but are in no list, for a person to confirm into identifiers.tsv."""
    affixes = affixes if affixes is not None else DEFAULT_AFFIXES
    rows: list[dict] = []
    by_transcript: dict[str, dict[str, pd.DataFrame]] = {}
    for (t, lang), df in files.items():
        by_transcript.setdefault(t, {})[lang] = df
    for t, langs in sorted(by_transcript.items()):
        speech = {lang: df[df["kind"] == "speech"] for lang, df in langs.items()}
        turns = {lang: {int(r.turn): r for r in df.itertuples()} for lang, df in speech.items()}
        latin_locals = [l for l, df in langs.items() if l != english and
                        regex.search(r"\p{Latin}", " ".join(df["text"].head(20)))]
        found: dict[tuple[str, int, str], tuple[int, str, str]] = {}   # (lang, turn, token) -> line, signal, counterpart

        def add(lang: str, turn: int, line: int, token: str, signal: str, counterpart: str = "") -> None:
            k = (lang, turn, token)
            if k not in found or (counterpart and not found[k][2]):
                found[k] = (line, found[k][1] if k in found else signal, counterpart or (found[k][2] if k in found else ""))

        # Mid-sentence capitalised words by base form (the German genitive taken off), with the
        # languages they occur in: in a Latin-script pair a name occurs in both.
        base_langs: dict[str, set[str]] = {}
        for lang, df in speech.items():
            for r in df.itertuples():
                for _, tok, starts in _capitalised(r.text):
                    if not starts:
                        for b in _stems(tok, affixes.get(lang)):
                            base_langs.setdefault(b, set()).add(lang)
        mid: dict[str, set[str]] = {}
        for lang, df in speech.items():
            for r in df.itertuples():
                for _, tok, starts in _capitalised(r.text):
                    low = tok.casefold()
                    if low in allow or low in COMMON_CAPITALS or _PLACEHOLDER.match(tok):
                        continue
                    if not starts:
                        mid.setdefault(tok, set()).update(*(base_langs[b] for b in _stems(tok, affixes.get(lang))))
        for lang, df in speech.items():
            cased_list = has_list(lang)
            for r in df.itertuples():
                for _, tok, starts in _capitalised(r.text):
                    low = tok.casefold()
                    if low in allow or low in COMMON_CAPITALS or _PLACEHOLDER.match(tok):
                        continue
                    if not starts and tok in mid and (not latin_locals or len(mid[tok]) >= 2 or lang == english
                                                     and not latin_locals):
                        add(lang, int(r.turn), int(r.line), tok, "capitalised")
                    elif starts and cased_list and not _ordinary(tok, lang) and not _known_lower(tok, lang):
                        add(lang, int(r.turn), int(r.line), tok, "sentence_start")
                if not regex.search(r"\p{Latin}|\p{Cyrillic}|\p{Greek}", r.text) and has_list(lang):
                    for m in _WORD.finditer(r.text):
                        w = m.group()
                        if len(w) >= 3 and not _PLACEHOLDER.match(w) and not _known(w, lang):
                            add(lang, int(r.turn), int(r.line), w, "not_in_wordlist")
        # Both scripts: an English candidate's form in the local turn, and a local one's in English.
        for (lang, turn, tok), (line, signal, _) in list(found.items()):
            for other in turns:
                if other == lang or (english not in (lang, other)):
                    continue
                r2 = turns[other].get(turn)
                if r2 is None:
                    continue
                cp = _counterpart(tok, r2.text, affixes.get(other))
                if cp:
                    found[(lang, turn, tok)] = (line, signal, cp)
                    if (other, turn, cp) not in found:
                        add(other, turn, int(r2.line), cp, "aligned", tok)
        # What stays: a name survives translation, so in a pair with a Latin-script local file a word
        # needs its counterpart (or, mid-sentence, to occur in both files); a counterpart that is an
        # ordinary word of its language (Recovery / recovery) means the word is not a name.
        keep: dict[tuple[str, int, str], tuple[int, str, str]] = {}
        for (lang, turn, tok), (line, signal, cp) in found.items():
            other = english if lang != english else next((l for l in turns if l != english), "")
            if cp and other and _ordinary(cp, other):
                continue
            if signal == "aligned" and _ordinary(tok, lang):
                continue
            if latin_locals and not cp and not (signal == "capitalised" and len(mid.get(tok, ())) >= 2):
                continue
            keep[(lang, turn, tok)] = (line, signal, cp)
        counts: dict[str, int] = {}
        for (lang, turn, tok) in keep:
            counts[tok] = counts.get(tok, 0) + 1
        for (lang, turn, tok), (line, signal, cp) in sorted(keep.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            rows.append({"site": site, "transcript": t, "lang": lang, "turn": turn, "line": line, "token": tok,
                         "occurrences": counts[tok] + (counts.get(cp, 0) if cp and cp != tok else 0),
                         "signal": signal, "counterpart": cp, "decision": ""})
    return pd.DataFrame(rows, columns=COLUMNS)


def _known_lower(tok: str, lang: str) -> bool:
    """A sentence-initial word the list knows in lower case (an ordinary word, capitalised by position)."""
    return zipf(tok.lower(), lang) >= ORDINARY
