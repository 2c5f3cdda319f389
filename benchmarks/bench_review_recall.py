"""Recall of the review list (qualflow.candidates) on planted unlisted names, per demo language.

Each language gets a synthetic transcript pair (local file + English translation, turn for turn) in
which names that are in no list are planted: mid-sentence, at the start of a sentence ("Shanti, the
nurse, said ..."), and with the language's affixes (Marathi शांतीला, Hebrew לשנטי). A planted name
counts as offered in a file when a review row of that file's language shows it (the inflected
word counts: the reviewer sees the name in it). Recall = offered / planted, in the local script and in
English; the target (issue 11) is every planted name offered in both.

    .venv/bin/python benchmarks/bench_review_recall.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from qualflow.candidates import review_candidates  # noqa: E402

# (local sentence with {n} for the planted local form, English sentence with {n}, local form, English form)
PLANTED: dict[str, list[tuple[str, str, str, str]]] = {
    "mr": [
        ("{n}, ती परिचारिका, म्हणाली की गट उपयोगी आहे.", "{n}, the nurse, said the group is useful.", "शांती", "Shanti"),
        ("आम्ही {n}ला फोन केला आणि ती आली.", "We called {n} and she came.", "रुबेनोव", "Rubenow"),
        ("मी {n}च्या घरी गेलो होतो.", "I went to {n}'s house.", "कोल्हाटकर", "Kolhatkar"),
        ("{n}ने सांगितले की निधी नाही.", "{n} said that there is no money.", "विरजा", "Viraja"),
        ("त्या दिवशी {n} आली नाही.", "That day {n} did not come.", "मेघना", "Meghna"),
    ],
    "he": [
        ("{n}, האחות, אמרה שהקבוצה עוזרת.", "{n}, the nurse, said the group helps.", "שנטי", "Shanti"),
        ("דיברתי עם {n} אתמול בערב.", "I spoke with {n} yesterday evening.", "רובינוב", "Rubinov"),
        ("הלכתי ל{n} עם המסמכים.", "I went to {n} with the papers.", "קולטקר", "Kolatkar"),
        ("גם {n} חושבת שזה חשוב.", "{n} also thinks it is important.", "וירג'ה", "Viraja"),
    ],
    "de": [
        ("{n}, die Pflegerin, sagte, die Gruppe hilft.", "{n}, the nurse, said the group helps.", "Shanti", "Shanti"),
        ("Ich habe mit {n} gestern gesprochen.", "I spoke with {n} yesterday.", "Quillberg", "Quillberg"),
        ("Das war {n}s Vorschlag.", "That was {n}'s proposal.", "Rubenow", "Rubenow"),
    ],
    "sw": [
        ("{n}, muuguzi, alisema kikundi kinasaidia.", "{n}, the nurse, said the group helps.", "Shanti", "Shanti"),
        ("Tulimpigia simu {n} jana.", "We called {n} yesterday.", "Kilomwe", "Kilomwe"),
        ("Nilikwenda kwa {n} na karatasi.", "I went to {n} with the papers.", "Rubenow", "Rubenow"),
    ],
    "lg": [
        ("{n}, omusawo, yagamba nti ekibiina kiyamba.", "{n}, the nurse, said the group helps.", "Shanti", "Shanti"),
        ("Twayogera ne {n} jjo.", "We spoke with {n} yesterday.", "Kizzaluba", "Kizzaluba"),
        ("Nagenda ew'{n} n'empapula.", "I went to {n}'s place with the papers.", "Rubenow", "Rubenow"),
    ],
    "en": [
        ("", "{n}, the nurse, said the group helps.", "", "Shanti"),
        ("", "We spoke with {n} yesterday.", "", "Quillberg"),
        ("", "Honestly, {n} never came back.", "", "Rubenow"),
    ],
}
FILLER = {"mr": "आम्हाला अधिक प्रशिक्षण हवे आहे.", "he": "אנחנו צריכים יותר הכשרה.",
          "de": "Wir brauchen mehr Schulung.", "sw": "Tunahitaji mafunzo zaidi.",
          "lg": "Twetaaga okutendekebwa okusingawo.", "en": "We need more training."}
EN_FILLER = "We need more training."


def _turns(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"turn": range(1, len(texts) + 1), "line": range(5, 5 + len(texts)), "kind": "speech",
                         "text": texts, "speaker": "P01"})


def _offered(df: pd.DataFrame, lang: str, form: str) -> bool:
    rows = df[df["lang"] == lang]
    return any(form and (tok == form or tok.startswith(form) or tok.endswith(form)) for tok in rows["token"])


def measure() -> pd.DataFrame:
    """Per language: planted names, offered in the local file, offered in English, recall."""
    out = []
    for lang, planted in PLANTED.items():
        local, english = [], []
        for loc, en, lform, eform in planted:
            local += [f"{FILLER[lang]} " + loc.format(n=lform), FILLER[lang]]
            english += [f"{EN_FILLER} " + en.format(n=eform), EN_FILLER]
        files = {("FG1", "en"): _turns(english)}
        if lang != "en":
            files[("FG1", lang)] = _turns(local)
        df = review_candidates("s", files, "en", allow=set())
        n = len(planted)
        got_local = sum(_offered(df, lang, l) for _, _, l, _ in planted) if lang != "en" else n
        got_en = sum(_offered(df, "en", e) for _, _, _, e in planted)
        both = sum((lang == "en" or _offered(df, lang, l)) and _offered(df, "en", e) for _, _, l, e in planted)
        out.append({"language": lang, "planted": n, "offered_local": got_local, "offered_en": got_en,
                    "offered_both": both, "recall_both": round(both / n, 3)})
    return pd.DataFrame(out)


if __name__ == "__main__":
    print(measure().to_string(index=False))
