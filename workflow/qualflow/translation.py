"""Stage 4: check each local transcript against its English translation, turn by turn.

In the study, site researchers translated their transcripts and translation leads flagged points for
the site to check. This module does the flagging so the leads only review: it aligns the local and
English turns (a speaker-aware Gale–Church alignment, so one missing turn is reported once instead of
shifting every later turn), then compares each aligned pair.

Flags (severity; thresholds in ``config.yaml`` ``translation:``):

- ``turn_count_mismatch`` (error): a local turn with no English turn, an English-only turn, or two
  turns merged into one / one turn split in two, located by the alignment. (A marker-only turn such
  as ``[crosstalk]`` on one side only loses no speech: it is a ``marker_mismatch``.)
- ``speaker_sequence_mismatch`` (error): aligned turns attributed to different speakers.
- ``empty_translation`` (error): a local turn with text whose English turn is empty.
- ``placeholder_mismatch`` (error): the multiset of pseudonyms (``P09``, ``F01``, ``[TP03]``,
  ``[PLACE_01]``, ...) differs, i.e. a name was dropped, added or pseudonymised on one side only.
- ``marker_mismatch`` (warning): ``[inaudible]``/``[crosstalk]``/``[laughter]`` counts differ after
  mapping each language's forms (``config["markers"]``) to their canonical names.
- ``numbers_mismatch`` (warning): the Unicode-normalised digit sequences differ.
- ``length_ratio_outlier`` (warning): for turns with at least ``min_chars`` characters on the longer
  side, the English/local length ratio is outside [``ratio_low``, ``ratio_high``], or its log is more
  than ``robust_z`` robust z-scores from that language pair's median across the study
  (``pair_stats.tsv``; German and Luganda translate to very different lengths).
- ``untranslated`` (warning): the English turn (at least ``min_chars`` characters) is detected as the
  source language by lingua, restricted to the study's languages, with confidence at least
  ``detect_confidence``, or is at least ``similarity`` similar to the source turn.
- ``question_mismatch`` (info): the number of question marks differs.

Flag details never quote turn text (it could identify someone): only numbers, marker names,
placeholder codes, speaker codes and ratios. The leads record decisions in
``data/translation_resolutions.tsv``; decided flags stay in every output, marked ``resolved``.

This module checks (alignment, flags, statistics, decisions); the tables and pages a person reads
are written by qualflow.translation_review.
"""
from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import regex
from rapidfuzz import fuzz

from .errors import InputError, Problem, raise_if
from .tables import read_results_tsv, read_tsv, write_tsv

log = logging.getLogger("qualflow.translation")

# Flag kind -> severity, in the order they are reported.
FLAG_KINDS: dict[str, str] = {
    "turn_count_mismatch": "error",
    "speaker_sequence_mismatch": "error",
    "empty_translation": "error",
    "placeholder_mismatch": "error",
    "marker_mismatch": "warning",
    "numbers_mismatch": "warning",
    "length_ratio_outlier": "warning",
    "untranslated": "warning",
    "question_mismatch": "info",
}
SEVERITIES = ("error", "warning", "info")
DECISIONS = ("accepted", "fixed", "false_positive")
FLAG_COLUMNS = ["transcript", "lang_pair", "turn", "turn_en", "speaker", "flag", "severity", "detail",
                "status", "decision", "note"]
STATS_COLUMNS = ["lang_pair", "transcripts", "turns", "median_ratio", "median_log_ratio", "mad_log_ratio",
                 "scaled_median", "scaled_mad"]
SUMMARY_COLUMNS = ["site", "lang_pair", "flag", "severity", "flags", "open", "resolved", "transcripts",
                   "pair_turns", "pair_median_ratio", "pair_log_ratio_median", "pair_log_ratio_mad"]
RTL_LANGUAGES = {"he", "ar", "fa", "ur", "yi"}
# A pair needs this many ratios before its robust z-score is trusted; below it only the fixed
# [ratio_low, ratio_high] band applies.
MIN_PAIR_TURNS = 10


@dataclass(frozen=True)
class Thresholds:
    """The ``translation:`` section of config.yaml, with the documented defaults."""

    min_chars: int = 20
    ratio_low: float = 1 / 3
    ratio_high: float = 3.0
    robust_z: float = 3.0
    detect_confidence: float = 0.5
    similarity: float = 0.9

    @classmethod
    def from_config(cls, cfg: dict | None) -> "Thresholds":
        cfg = dict(cfg or {})
        known = {k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg}
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# What a turn contains: placeholders, markers, digits, questions, length.

# Participant/facilitator pseudonyms inside text (P09, F01) and bracketed ones ([TP03], [PLACE_01],
# [EMAIL]); bracketed forms are upper case, which keeps transcription markers ([Lachen]) out. A code
# may carry a German genitive (P01s) or a Hebrew proclitic (לP01), so only ASCII letters and digits
# around it disqualify it.
_PERSON_CODE = re.compile(r"(?<![A-Za-z0-9_])[PF]\d{2,3}(?![0-9])")
_BRACKET_CODE = re.compile(r"\[[A-Z][A-Z0-9]*(?:_\d+)?\]")
_QUESTION = re.compile(r"[?？؟⸮]")
_DIGITS = re.compile(r"\d+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text or "")


def placeholders(text: str) -> Counter:
    """The pseudonyms a turn contains, as a multiset: names must survive translation one to one."""
    text = nfc(text)
    return Counter(_PERSON_CODE.findall(text)) + Counter(_BRACKET_CODE.findall(text))


def strip_codes(text: str) -> str:
    """Text without pseudonyms, so their digits and letters do not count as content."""
    text = _BRACKET_CODE.sub(" ", nfc(text))
    return _PERSON_CODE.sub(" ", text)


def digit_sequences(text: str) -> Counter:
    """Digit runs after NFKC and mapping every Unicode decimal digit to ASCII (٣ = 3, ３ = 3)."""
    text = unicodedata.normalize("NFKC", strip_codes(text))
    runs = ["".join(str(unicodedata.digit(ch)) for ch in m) for m in _DIGITS.findall(text)]
    return Counter(runs)


def question_count(text: str) -> int:
    return len(_QUESTION.findall(nfc(text)))


class MarkerMap:
    """One language's transcription markers: bracketed form -> canonical name (inaudible, ...)."""

    def __init__(self, markers: dict | None) -> None:
        self.forms: dict[str, str] = {}
        for canonical, forms in sorted((markers or {}).items()):
            for form in forms:
                self.forms[nfc(form).casefold()] = canonical
        alternatives = sorted(self.forms, key=lambda f: (-len(f), f))
        self._re = (re.compile("|".join(re.escape(f) for f in alternatives), re.IGNORECASE)
                    if alternatives else None)

    def count(self, text: str) -> Counter:
        if self._re is None:
            return Counter()
        return Counter(self.forms[m.group(0).casefold()] for m in self._re.finditer(nfc(text)))

    def strip(self, text: str) -> str:
        return self._re.sub(" ", nfc(text)) if self._re is not None else nfc(text)

    def name(self, text: str) -> str:
        """A marker turn's canonical name(s) for messages; never its text (it could name someone)."""
        found = self.count(text)
        return "+".join(sorted(found.elements())) if found else "a marker not in config markers"

    def canonical(self, text: str) -> str:
        """The key of a marker-only turn: its canonical name(s), or its own casefolded text if unknown."""
        found = self.count(text)
        return "+".join(sorted(found.elements())) if found else nfc(text).strip().casefold()


def text_length(text: str) -> int:
    """Characters of content, whitespace runs counted once (what a translator's length means)."""
    return len(" ".join(nfc(text).split()))


def clean_text(text: str, markers: MarkerMap) -> str:
    """Content only: no pseudonyms, no markers, single spaces (for detection and similarity)."""
    return " ".join(markers.strip(strip_codes(text)).split())


# ---------------------------------------------------------------------------------------------
# Alignment.

# Prior probabilities of block types (turns are merged or dropped far less often than sentences,
# hence smaller non-1-1 priors than Gale & Church's), Gale–Church's variance per character, and
# the speaker model: a speaker mismatch in a 1-1 pair costs less than dropping and inserting a turn
# (so a mislabelled turn is reported as such), but more than a few length surprises.
_PRIORS = {(1, 1): 0.94, (1, 0): 0.01, (0, 1): 0.01, (2, 1): 0.02, (1, 2): 0.02}
_COST = {k: -math.log(v) for k, v in _PRIORS.items()}
_VARIANCE = 6.8
_LENGTH_CAP = 6.0
_SPEAKER_PENALTY = 5.0


@dataclass(frozen=True)
class Unit:
    """What the aligner sees of a turn: its speaker key (or marker key) and length."""

    key: str
    length: int
    marker: bool


@dataclass(frozen=True)
class Block:
    """An alignment step: row positions in the local and English frames (0, 1 or 2 each)."""

    local: tuple[int, ...]
    en: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.local), len(self.en))


def _length_cost(l1: int, l2: int, ratio: float) -> float:
    """Gale–Church: -log P(|delta|) for English length l2 given local length l1, capped."""
    if l1 == 0 and l2 == 0:
        return 0.0
    mean = (l1 + l2 / ratio) / 2
    delta = abs(l2 - l1 * ratio) / math.sqrt(_VARIANCE * max(mean, 1e-9))
    p = math.erfc(delta / math.sqrt(2))
    return _LENGTH_CAP if p <= 0 else min(-math.log(p), _LENGTH_CAP)


def _units(df: pd.DataFrame, markers: MarkerMap) -> list[Unit]:
    out = []
    for r in df.itertuples(index=False):
        if r.kind == "marker":
            out.append(Unit("#" + markers.canonical(r.text), 0, True))
        else:
            out.append(Unit("@" + nfc(str(r.speaker)).strip(), text_length(r.text), False))
    return out


def _block_cost(loc: Sequence[Unit], en: Sequence[Unit], ratio: float) -> float:
    shape = (len(loc), len(en))
    cost = _COST[shape]
    if shape in ((1, 0), (0, 1)):
        return cost
    if all(u.marker for u in (*loc, *en)):
        length = 0.0
    else:
        length = _length_cost(sum(u.length for u in loc), sum(u.length for u in en), ratio)
    one, many = (en[0], loc) if shape == (2, 1) else (loc[0], en)
    if shape == (1, 1):
        speaker = 0.0 if loc[0].key == en[0].key else _SPEAKER_PENALTY
    else:
        matches = sum(u.key == one.key for u in many)
        speaker = {2: 0.0, 1: _SPEAKER_PENALTY / 2}.get(matches, _SPEAKER_PENALTY)
    return cost + length + speaker


def align_units(local: Sequence[Unit], en: Sequence[Unit], ratio: float = 1.0) -> list[Block]:
    """Minimum-cost alignment (dynamic programming over 1-1, 1-0, 0-1, 2-1, 1-2 blocks)."""
    n, m = len(local), len(en)
    if n == m and all(a.key == b.key for a, b in zip(local, en)):
        return [Block((i,), (i,)) for i in range(n)]
    inf = float("inf")
    cost = np.full((n + 1, m + 1), inf)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    cost[0, 0] = 0.0
    moves = [(1, 1), (1, 0), (0, 1), (2, 1), (1, 2)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, step = inf, None
            for di, dj in moves:
                if di > i or dj > j or cost[i - di, j - dj] == inf:
                    continue
                c = cost[i - di, j - dj] + _block_cost(local[i - di:i], en[j - dj:j], ratio)
                if c < best - 1e-12:
                    best, step = c, (di, dj)
            cost[i, j] = best
            back[(i, j)] = step
    blocks: list[Block] = []
    i, j = n, m
    while i or j:
        di, dj = back[(i, j)]
        blocks.append(Block(tuple(range(i - di, i)), tuple(range(j - dj, j))))
        i, j = i - di, j - dj
    return blocks[::-1]


def align_turns(local: pd.DataFrame, en: pd.DataFrame, local_markers: MarkerMap, en_markers: MarkerMap,
                ratio: float = 1.0) -> list[Block]:
    """Align two turn tables; identical speaker/marker sequences align turn for turn without search."""
    return align_units(_units(local, local_markers), _units(en, en_markers), ratio)


# ---------------------------------------------------------------------------------------------
# Per-language-pair length statistics.

@dataclass(frozen=True)
class PairStats:
    """Length ratios of a language pair across the study.

    ``median_log_ratio``/``mad_log_ratio`` describe log(English/local length). The outlier test uses
    the same deviation scaled by the square root of the turn's length (Gale & Church: the variance of
    a translation's length grows with the source length), ``scaled_median``/``scaled_mad``: a few
    characters more or less in a 20-character turn is normal, a missing sentence in a 500-character
    turn is not, and a plain log-ratio z-score gets both wrong.
    """

    lang_pair: str
    transcripts: int
    turns: int
    median_log_ratio: float
    mad_log_ratio: float
    scaled_median: float = 0.0
    scaled_mad: float = 0.0

    @property
    def median_ratio(self) -> float:
        return math.exp(self.median_log_ratio)

    def scaled(self, l1: int, l2: int) -> float:
        """(log(l2/l1) - median) * sqrt(mean length in source characters)."""
        mean = (l1 + l2 / self.median_ratio) / 2
        return (math.log(l2 / l1) - self.median_log_ratio) * math.sqrt(mean)

    def robust_z(self, l1: int, l2: int) -> float | None:
        """0.6745 (x - median) / MAD of the scaled deviation; None with too few turns or no spread."""
        if self.turns < MIN_PAIR_TURNS or self.scaled_mad <= 0:
            return None
        return 0.6745 * (self.scaled(l1, l2) - self.scaled_median) / self.scaled_mad


def read_turns(path: str | Path) -> pd.DataFrame:
    """A pipeline turn table (pseudonymised or parsed): turn as int, text/speaker as strings."""
    df = read_results_tsv(path)
    missing = [c for c in ("turn", "speaker", "text", "kind") if c not in df.columns]
    if missing:
        raise InputError(path, 1, f"missing column(s) {', '.join(missing)}: re-run the pseudonymise stage")
    df = df.copy()
    df["turn"] = df["turn"].astype(int)
    return df.reset_index(drop=True)


def pair_of(local_path: str | Path) -> tuple[str, str, str]:
    """(site, transcript, local language) from ``.../<site>/<T>.<lang>.tsv``."""
    p = Path(local_path)
    transcript, lang = p.name.split(".")[:2]
    return p.parent.name, transcript, lang


def pair_lengths(local: pd.DataFrame, en: pd.DataFrame, blocks: list[Block],
                 min_chars: int) -> list[tuple[int, int]]:
    """(local, English) lengths of aligned 1-1 speech turns where both sides have min_chars."""
    out = []
    L, E = _rows(local), _rows(en)
    for b in blocks:
        if b.shape != (1, 1):
            continue
        lr, er = L[b.local[0]], E[b.en[0]]
        if lr.kind != "speech" or er.kind != "speech":
            continue
        l1, l2 = text_length(lr.text), text_length(er.text)
        if l1 >= min_chars and l2 >= min_chars:
            out.append((l1, l2))
    return out


def pair_statistics(pairs: Iterable[tuple[str, pd.DataFrame, pd.DataFrame]], markers: dict,
                    thresholds: Thresholds, english: str = "en") -> dict[str, PairStats]:
    """Median and MAD of log length ratios per language pair, over every transcript of the study."""
    ratios: dict[str, list[tuple[int, int]]] = {}
    counts: Counter = Counter()
    en_map = MarkerMap(markers.get(english))
    for lang, local, en in pairs:
        key = f"{lang}-{english}"
        blocks = align_turns(local, en, MarkerMap(markers.get(lang)), en_map)
        ratios.setdefault(key, []).extend(pair_lengths(local, en, blocks, thresholds.min_chars))
        counts[key] += 1
    return {key: stats_from_lengths(key, counts[key], ratios[key]) for key in sorted(ratios)}


def stats_from_lengths(key: str, transcripts: int, lengths: Sequence[tuple[int, int]]) -> PairStats:
    """Median and MAD of the log ratios (and of the length-scaled deviations) of one language pair."""
    if not lengths:
        return PairStats(key, transcripts, 0, 0.0, 0.0)
    x = np.array([math.log(l2 / l1) for l1, l2 in lengths])
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    base = PairStats(key, transcripts, len(x), med, mad)
    s = np.array([base.scaled(l1, l2) for l1, l2 in lengths])
    smed = float(np.median(s))
    return PairStats(key, transcripts, len(x), med, mad, smed, float(np.median(np.abs(s - smed))))


def stats_frame(stats: dict[str, PairStats]) -> pd.DataFrame:
    rows = [{"lang_pair": s.lang_pair, "transcripts": s.transcripts, "turns": s.turns,
             "median_log_ratio": round(s.median_log_ratio, 6), "mad_log_ratio": round(s.mad_log_ratio, 6),
             "median_ratio": round(s.median_ratio, 6), "scaled_median": round(s.scaled_median, 6),
             "scaled_mad": round(s.scaled_mad, 6)} for s in stats.values()]
    return pd.DataFrame(rows, columns=STATS_COLUMNS)


def read_pair_stats(path: str | Path) -> dict[str, PairStats]:
    df = read_results_tsv(path)
    return {r.lang_pair: PairStats(r.lang_pair, int(r.transcripts), int(r.turns), float(r.median_log_ratio),
                                   float(r.mad_log_ratio), float(r.scaled_median), float(r.scaled_mad))
            for r in df.itertuples()}


# ---------------------------------------------------------------------------------------------
# Language detection.

#: From this many characters on, lingua's low-accuracy mode (trigrams only) decides: its accuracy on
#: texts over 120 characters is "mostly unaffected" (lingua's documentation) and it is ~5x faster
#: (half of a site's check at 1,000 transcripts was lingua); shorter texts keep the full models.
LOW_ACCURACY_FROM = 120


class SourceDetector:
    """lingua restricted to the study's languages, built once per job (building it is the slow part).

    Two detectors over the same languages: the high-accuracy one for texts under
    ``LOW_ACCURACY_FROM`` characters, the low-accuracy one for longer texts. Each loads its models on
    first use, so a study of long turns never loads the large ones."""

    def __init__(self, languages: Iterable[str]) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
        self._lang: dict[str, object] = {}
        for code in sorted(set(languages)):
            try:
                self._lang[code] = Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
            except (ValueError, AttributeError):
                log.warning("lingua does not know language %r: untranslated turns in it are found "
                            "by similarity only", code)
        langs = list(self._lang.values())
        self._detector = self._long = None
        if len(langs) >= 2:
            self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
            self._long = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()

    def confidence(self, text: str, lang: str) -> float | None:
        """Confidence that ``text`` is written in ``lang`` (None when lingua cannot tell).

        A language written only in a non-Latin script (``SCRIPTS``) gets 0.0 without asking lingua
        when ``text`` has no letter of that script: lingua rules such a language out by its alphabet
        and answers 0.0 itself (tests/test_translation.py), and a checked English turn rarely has
        one, so most of the detection time of a Hebrew or Marathi site is saved."""
        if self._detector is None or lang not in self._lang:
            return None
        script = _SCRIPT_RE.get(lang)
        if script is not None and not script.search(text):
            return 0.0
        detector = self._long if len(text) >= LOW_ACCURACY_FROM else self._detector
        return float(detector.compute_language_confidence(text, self._lang[lang]))


#: Languages lingua knows that are written in one non-Latin script only (ISO 639-1 -> Unicode script).
SCRIPTS = {"am": "Ethiopic", "ar": "Arabic", "be": "Cyrillic", "bg": "Cyrillic", "bn": "Bengali",
           "el": "Greek", "fa": "Arabic", "gu": "Gujarati", "he": "Hebrew", "hi": "Devanagari",
           "hy": "Armenian", "ka": "Georgian", "kk": "Cyrillic", "mk": "Cyrillic",
           "mn": "Cyrillic", "mr": "Devanagari", "pa": "Gurmukhi", "ru": "Cyrillic", "ta": "Tamil",
           "te": "Telugu", "th": "Thai", "uk": "Cyrillic", "ur": "Arabic"}
_SCRIPT_RE = {code: regex.compile(rf"\p{{Script={script}}}") for code, script in SCRIPTS.items()}


# ---------------------------------------------------------------------------------------------
# Checking one transcript pair.

def _counter_text(c: Counter) -> str:
    return ", ".join(f"{k}×{v}" if v > 1 else k for k, v in sorted(c.items())) or "none"


def _rows(df: pd.DataFrame) -> list:
    """A turn table's rows as named tuples (``r.turn``, ``r.text``): ``df.iloc[i]`` builds a Series
    per access, which was a third of a site's check at 1,000 transcripts."""
    return list(df.itertuples(index=False))


def _turn_list(rows_of: Sequence, rows: Sequence[int]) -> str:
    return " and ".join(str(int(rows_of[i].turn)) for i in rows)


def _flag(rows: list[dict], kind: str, turn: int, turn_en: int | str, speaker: str, detail: str) -> None:
    rows.append({"turn": int(turn), "turn_en": "" if turn_en in ("", None) else int(turn_en),
                 "speaker": speaker or "", "flag": kind, "severity": FLAG_KINDS[kind], "detail": detail})


def check_pair(local: pd.DataFrame, en: pd.DataFrame, lang: str, markers: dict, thresholds: Thresholds,
               stats: PairStats | None = None, detector: SourceDetector | None = None,
               english: str = "en", *, ratio: float | None = None, lengths: list[dict] | None = None,
               length_flags: bool = True) -> pd.DataFrame:
    """Flags of one local transcript against its English translation (columns turn..detail).

    ``ratio`` is the expected English/local length ratio for the alignment (default: the pair's
    median from ``stats``). When ``lengths`` is a list, every aligned speech block that the length
    test applies to is appended to it (see :func:`length_row`), so the study-wide statistics and the
    robust-z test can be computed later from numbers alone; ``length_flags=False`` then leaves the
    ``length_ratio_outlier`` flags to that later step.
    """
    loc_map, en_map = MarkerMap(markers.get(lang)), MarkerMap(markers.get(english))
    if ratio is None:
        ratio = stats.median_ratio if stats is not None and stats.turns >= MIN_PAIR_TURNS else 1.0
    blocks = align_turns(local, en, loc_map, en_map, ratio)
    L, E = _rows(local), _rows(en)   # row access by position, without a pandas Series per row
    rows: list[dict] = []

    n_local, n_en = len(local), len(en)
    for k, b in enumerate(blocks):
        shape = b.shape
        if shape == (1, 0):
            r = L[b.local[0]]
            before = [blocks[x].en[-1] for x in range(k - 1, -1, -1) if blocks[x].en][:1]
            after = [blocks[x].en[0] for x in range(k + 1, len(blocks)) if blocks[x].en][:1]
            if r.kind == "marker":
                _flag(rows, "marker_mismatch", r.turn, "", "",
                      f"{lang} marker turn {int(r.turn)} ({loc_map.name(r.text)}) has no English turn; "
                      f"{lang} has {n_local} turns, English {n_en}")
                continue
            where = (f"between English turns {int(E[before[0]].turn)} and {int(E[after[0]].turn)}"
                     if before and after else
                     f"after English turn {int(E[before[0]].turn)}" if before else
                     f"before English turn {int(E[after[0]].turn)}" if after else "")
            _flag(rows, "turn_count_mismatch", r.turn, "", r.speaker,
                  f"missing in English: {lang} turn {int(r.turn)} ({r.kind}) has no English turn"
                  f"{' (it belongs ' + where + ')' if where else ''}; {lang} has {n_local} turns, "
                  f"English {n_en}")
            continue
        if shape == (0, 1):
            r = E[b.en[0]]
            if r.kind == "marker":
                _flag(rows, "marker_mismatch", r.turn, r.turn, "",
                      f"English marker turn {int(r.turn)} ({en_map.name(r.text)}) has no {lang} turn "
                      f"(turn = English turn number); {lang} has {n_local} turns, English {n_en}")
                continue
            _flag(rows, "turn_count_mismatch", r.turn, r.turn, r.speaker,
                  f"English only: English turn {int(r.turn)} ({r.kind}) has no {lang} turn (turn = English "
                  f"turn number); {lang} has {n_local} turns, English {n_en}")
            continue
        lrows = [L[i] for i in b.local]
        erows = [E[i] for i in b.en]
        first, first_en = lrows[0], erows[0]
        turn, turn_en, speaker = int(first.turn), int(first_en.turn), first.speaker
        if shape == (2, 1):
            _flag(rows, "turn_count_mismatch", turn, turn_en, speaker,
                  f"merged: {lang} turns {_turn_list(L, b.local)} are one English turn {turn_en}; "
                  f"{lang} has {n_local} turns, English {n_en}")
        elif shape == (1, 2):
            _flag(rows, "turn_count_mismatch", turn, turn_en, speaker,
                  f"split: {lang} turn {turn} is English turns {_turn_list(E, b.en)}; "
                  f"{lang} has {n_local} turns, English {n_en}")
        lkeys = [("#" + loc_map.canonical(r.text)) if r.kind == "marker" else str(r.speaker) for r in lrows]
        ekeys = [("#" + en_map.canonical(r.text)) if r.kind == "marker" else str(r.speaker) for r in erows]
        if shape == (1, 1) and lkeys != ekeys:
            describe = lambda r: "a marker" if r.kind == "marker" else f"speaker {r.speaker or '(none)'}"  # noqa: E731
            if first.kind == "marker" and first_en.kind == "marker":
                pass  # two markers of different kinds: reported as marker_mismatch below
            else:
                _flag(rows, "speaker_sequence_mismatch", turn, turn_en, speaker,
                      f"{lang} turn {turn} is {describe(first)}, English turn {turn_en} is {describe(first_en)}")
        ltext = "\n".join(str(r.text) for r in lrows)
        etext = "\n".join(str(r.text) for r in erows)
        speech = all(r.kind == "speech" for r in lrows) and all(r.kind == "speech" for r in erows)

        if speech and clean_text(ltext, loc_map) and not etext.strip():
            _flag(rows, "empty_translation", turn, turn_en, speaker,
                  f"English turn {turn_en} is empty; the {lang} turn has {text_length(ltext)} characters")
            continue

        lp, ep = placeholders(ltext), placeholders(etext)
        if lp != ep:
            _flag(rows, "placeholder_mismatch", turn, turn_en, speaker,
                  f"only in {lang}: {_counter_text(lp - ep)}; only in English: {_counter_text(ep - lp)}")

        lm, em = loc_map.count(ltext), en_map.count(etext)
        if lm != em:
            names = sorted(set(lm) | set(em))
            _flag(rows, "marker_mismatch", turn, turn_en, speaker,
                  "; ".join(f"{n}: {lang} {lm[n]}, English {em[n]}" for n in names if lm[n] != em[n]))

        ld, ed = digit_sequences(ltext), digit_sequences(etext)
        if ld != ed:
            _flag(rows, "numbers_mismatch", turn, turn_en, speaker,
                  f"digits only in {lang}: {_counter_text(ld - ed)}; only in English: {_counter_text(ed - ld)}")

        if speech:
            l1, l2 = text_length(ltext), text_length(etext)
            if max(l1, l2) >= thresholds.min_chars and l1 > 0 and l2 > 0:
                if lengths is not None:
                    lengths.append(length_row(turn, turn_en, speaker, l1, l2, shape, thresholds))
                detail = length_outlier_detail(l1, l2, lang, thresholds, stats, english)
                if length_flags and detail:
                    _flag(rows, "length_ratio_outlier", turn, turn_en, speaker, detail)

            lc, ec = clean_text(ltext, loc_map), clean_text(etext, en_map)
            if len(ec) >= thresholds.min_chars and lc:
                similar = fuzz.ratio(lc.casefold(), ec.casefold()) / 100
                conf = detector.confidence(ec, lang) if detector is not None else None
                reasons = []
                if conf is not None and conf >= thresholds.detect_confidence:
                    reasons.append(f"detected as {lang} (confidence {conf:.2f})")
                if similar >= thresholds.similarity:
                    reasons.append(f"{similar:.0%} similar to the {lang} turn")
                if reasons:
                    _flag(rows, "untranslated", turn, turn_en, speaker, "English turn " + " and ".join(reasons))

        lq, eq = question_count(ltext), question_count(etext)
        if lq != eq:
            _flag(rows, "question_mismatch", turn, turn_en, speaker,
                  f"question marks: {lang} {lq}, English {eq}")

    cols = ["turn", "turn_en", "speaker", "flag", "severity", "detail"]
    df = pd.DataFrame(rows, columns=cols)
    return sort_flags(df)


def length_row(turn: int, turn_en: int, speaker: str, l1: int, l2: int, shape: tuple[int, int],
               thresholds: Thresholds) -> dict:
    """One aligned speech block's lengths: the sufficient statistics of the length checks.

    ``in_stats`` marks the 1-1 blocks with ``min_chars`` on both sides, the sample the pair's median
    and MAD are taken over (merged or split turns and short turns would bias them)."""
    in_stats = shape == (1, 1) and l1 >= thresholds.min_chars and l2 >= thresholds.min_chars
    return {"turn": int(turn), "turn_en": int(turn_en), "speaker": speaker or "", "local_chars": int(l1),
            "en_chars": int(l2), "in_stats": "yes" if in_stats else "no"}


def length_outlier_detail(l1: int, l2: int, lang: str, thresholds: Thresholds, stats: PairStats | None,
                          english: str = "en") -> str | None:
    """The ``length_ratio_outlier`` detail for lengths l1 (local), l2 (English), or None if not one."""
    r_ = l2 / l1
    z = stats.robust_z(l1, l2) if stats is not None else None
    outside = r_ < thresholds.ratio_low or r_ > thresholds.ratio_high
    if not (outside or (z is not None and abs(z) > thresholds.robust_z)):
        return None
    why = (f"outside [{thresholds.ratio_low:.2f}, {thresholds.ratio_high:.2f}]" if outside
           else f"robust z {z:+.1f} against the {lang}-{english} median ratio {stats.median_ratio:.2f}")
    if outside and z is not None:
        why += f"; robust z {z:+.1f}"
    return f"English/{lang} length ratio {r_:.2f} ({l2}/{l1} characters), {why}"


def sort_flags(df: pd.DataFrame) -> pd.DataFrame:
    order = {k: i for i, k in enumerate(FLAG_KINDS)}
    if df.empty:
        return df.reset_index(drop=True)
    key = df.assign(_t=df["turn"].astype(int), _f=df["flag"].map(order))
    return key.sort_values(["_t", "_f"], kind="stable").drop(columns=["_t", "_f"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Resolutions: the leads' decisions.

def read_resolutions(path: str | Path) -> pd.DataFrame:
    """Read data/translation_resolutions.tsv: schema-checked, one decision per (transcript, turn, flag)."""
    df = read_tsv(path, "translation_resolutions.schema.yaml", allow_empty=True)
    if "note" not in df.columns:
        df["note"] = ""
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], int] = {}
    for r in df.to_dict("records"):
        key = (r["transcript"], str(int(r["turn"])), r["flag"])
        if key in seen:
            problems.append(Problem(str(path), int(r["_line"]),
                                    f"{key[0]} turn {key[1]} {key[2]} is already decided on line "
                                    f"{seen[key]}: keep one row per flag"))
        else:
            seen[key] = int(r["_line"])
    raise_if(problems)
    df = df.copy()
    df["site"] = df["transcript"].str.split(".").str[0]
    df["transcript_id"] = df["transcript"].str.split(".", n=1).str[1]
    df["turn"] = df["turn"].astype(int)
    return df


class _Row:
    """Attribute access to a resolutions record (its ``_line`` becomes ``line``)."""

    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def apply_resolutions(flags: dict[str, pd.DataFrame], site: str, resolutions: pd.DataFrame,
                      path: str | Path) -> dict[str, pd.DataFrame]:
    """Mark decided flags resolved (never drop them); a decision naming no flag is an input error.

    A ``fixed`` decision whose flag is no longer raised is expected (the site fixed the translation)
    and is only logged; for the other decisions it means the row points at the wrong turn or kind.
    """
    out = {}
    for t, df in flags.items():
        df = df.copy()
        df["status"], df["decision"], df["note"] = "open", "", ""
        out[t] = df
    problems: list[Problem] = []
    for rec in resolutions[resolutions["site"] == site].to_dict("records"):
        r = _Row(**{k.lstrip("_"): v for k, v in rec.items()})
        line = int(r.line)
        if r.transcript_id not in out:
            known = ", ".join(f"{site}.{t}" for t in sorted(out)) or "none"
            problems.append(Problem(str(path), line, f"transcript {r.transcript} has no translation pair to "
                                                     f"check (known: {known}): fix the transcript column"))
            continue
        df = out[r.transcript_id]
        hit = (df["turn"].astype(int) == int(r.turn)) & (df["flag"] == r.flag)
        if not hit.any():
            if r.decision == "fixed":
                log.info("%s:%d: %s turn %d %s is fixed and no longer raised", path, line, r.transcript,
                         r.turn, r.flag)
                continue
            raised = sorted({int(x) for x in df.loc[df["flag"] == r.flag, "turn"]})
            hint = f" ({r.flag} is raised at turn(s) {', '.join(map(str, raised))})" if raised else ""
            problems.append(Problem(str(path), line, f"{r.transcript} has no {r.flag} flag at turn {r.turn}"
                                                     f"{hint}: fix the turn or flag, or remove the row"))
            continue
        df.loc[hit, "status"] = "resolved"
        df.loc[hit, "decision"] = r.decision
        df.loc[hit, "note"] = r.note
    raise_if(problems)
    return out


def check_unknown_resolutions(resolutions: pd.DataFrame, pairs: Iterable[tuple[str, str]],
                              path: str | Path) -> None:
    """Rows for a site or transcript without a translation pair anywhere in the study are errors."""
    known = {f"{s}.{t}" for s, t in pairs}
    problems = [Problem(str(path), int(r["_line"]), f"transcript {r['transcript']} has no translation pair "
                                                    "to check: use <site>.<transcript> of a translated "
                                                    "transcript, e.g. ulm.FG2")
                for r in resolutions.to_dict("records") if r["transcript"] not in known]
    raise_if(problems)


# ---------------------------------------------------------------------------------------------
# Stage entry points.

SITE_FLAG_COLUMNS = FLAG_COLUMNS[:8]
LENGTH_COLUMNS = ["transcript", "lang_pair", "turn", "turn_en", "speaker", "local_chars", "en_chars", "in_stats"]
#: ``local_tsv``/``en_tsv``: the two turn tables the check compared (paths in the study folder), which
#: ``translation_summary`` reads the review's text from (changed: issue 14 — they were a list of every
#: pair's files in the rule's params, which Snakemake copies into the record of each of its outputs:
#: 183 MB of job records at 1,000 transcripts).
PAIR_COLUMNS = ["transcript", "lang_pair", "local_turns", "en_turns", "align_ratio", "local_tsv", "en_tsv"]


def study_languages(sites_path: str | Path, english: str = "en") -> list[str]:
    """Every language of the study (the candidates language detection chooses among)."""
    from .study import read_sites
    sites = read_sites(sites_path)
    langs = {l for v in sites["languages"] for l in str(v).split(",") if l}
    return sorted(langs | {english})


def site_ratios(pairs: Sequence[tuple[str, str, pd.DataFrame, pd.DataFrame]], markers: dict,
                thresholds: Thresholds, english: str = "en") -> dict[str, float]:
    """The site's own median English/local length ratio per language, for its alignments.

    (changed: the alignment used the study-wide median; a site's check now depends on its own data
    only, so a change at one site does not re-run every site. Alignments are driven by the speaker
    sequence; the length term only breaks ties, and a site's own median is the better local guess.)
    A language with fewer than ``MIN_PAIR_TURNS`` usable turns at the site aligns with ratio 1.
    """
    lengths: dict[str, list[tuple[int, int]]] = {}
    en_map = MarkerMap(markers.get(english))
    for _, lang, local, en in pairs:
        blocks = align_turns(local, en, MarkerMap(markers.get(lang)), en_map)
        lengths.setdefault(lang, []).extend(pair_lengths(local, en, blocks, thresholds.min_chars))
    return {lang: (stats_from_lengths(lang, 0, ls).median_ratio if len(ls) >= MIN_PAIR_TURNS else 1.0)
            for lang, ls in lengths.items()}


def check_site(local_paths: Sequence[str], en_paths: Sequence[str], languages: Sequence[str], markers: dict,
               translation: dict | None, english: str, flags_out: str, lengths_out: str,
               pairs_out: str) -> None:
    """Entry point of ``translation_check_<site>``: the site's flags, from the site's files alone.

    Writes every flag but the length-ratio outliers (they are measured against the study's
    per-pair statistics) and the lengths those need; ``translation_summary`` combines every site's
    lengths into the statistics and writes the final per-transcript flags. ``languages`` are the
    study's, the candidates language detection chooses among.
    """
    thresholds = Thresholds.from_config(translation)
    detector = SourceDetector(languages)
    pairs = []
    for lp, ep in zip(local_paths, en_paths):
        site, transcript, lang = pair_of(lp)
        pairs.append((transcript, lang, read_turns(lp), read_turns(ep)))
    ratios = site_ratios(pairs, markers, thresholds, english)
    flags, lengths, index = [], [], []
    for (transcript, lang, local, en), lp, ep in zip(pairs, local_paths, en_paths):
        pair = f"{lang}-{english}"
        rows: list[dict] = []
        df = check_pair(local, en, lang, markers, thresholds, None, detector, english,
                        ratio=ratios[lang], lengths=rows, length_flags=False)
        flags.append(df.assign(transcript=transcript, lang_pair=pair))
        lengths.append(pd.DataFrame(rows, columns=LENGTH_COLUMNS[2:]).assign(transcript=transcript, lang_pair=pair))
        index.append({"transcript": transcript, "lang_pair": pair, "local_turns": len(local), "en_turns": len(en),
                      "align_ratio": repr(ratios[lang]), "local_tsv": str(lp), "en_tsv": str(ep)})
        log.info("%s %s: %d flag(s) before length outliers %s", site, transcript, len(df), dict(Counter(df["flag"])))
    write_tsv(_concat(flags, SITE_FLAG_COLUMNS), flags_out)
    write_tsv(_concat(lengths, LENGTH_COLUMNS), lengths_out)
    write_tsv(pd.DataFrame(index, columns=PAIR_COLUMNS), pairs_out)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f[columns] for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def finalise_flags(site_flag_paths: Sequence[str], length_paths: Sequence[str], pair_paths: Sequence[str],
                   resolutions_path: str, translation: dict | None, english: str, stats_out: str,
                   flag_outs: Sequence[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """The study's per-pair statistics (``stats_out``) and the final flags, one file per pair.

    Returns the final flags by (site, transcript), so the summary step needs not read them back."""
    stats, final = final_flags(site_flag_paths, length_paths, pair_paths, resolutions_path, translation, english)
    write_tsv(stats_frame(stats), stats_out)
    for out in flag_outs:
        key = (Path(out).parent.name, Path(out).name.split(".")[0])
        if key not in final:
            raise ValueError(f"{out}: no translation pair {key[0]}.{key[1]}: the rule lists other pairs")
        write_tsv(final[key], out)
    return final


def final_flags(site_flag_paths: Sequence[str], length_paths: Sequence[str], pair_paths: Sequence[str],
                resolutions_path: str, translation: dict | None,
                english: str) -> tuple[dict[str, PairStats], dict[tuple[str, str], pd.DataFrame]]:
    """The study's per-pair length statistics and every pair's final flags (columns FLAG_COLUMNS).

    Reads numbers only (every site's lengths and flags, no transcript text): the per-pair median and
    MAD of the length ratios over the whole study, each block's robust-z test against them, the
    leads' decisions applied. Cheap and linear in the study's size, so the per-site checks never
    wait for each other.
    """
    thresholds = Thresholds.from_config(translation)
    sites = [Path(p).parent.name for p in pair_paths]

    def read_all(paths: Sequence[str], columns: list[str]) -> pd.DataFrame:
        frames = [read_results_tsv(p).assign(site=s) for p, s in zip(paths, sites)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*columns, "site"])

    pairs = read_all(pair_paths, PAIR_COLUMNS)
    lengths = read_all(length_paths, LENGTH_COLUMNS)
    flags = read_all(site_flag_paths, SITE_FLAG_COLUMNS)
    for col in ("local_chars", "en_chars"):
        lengths[col] = lengths[col].astype(int)
    used = lengths[lengths["in_stats"] == "yes"]
    counts = Counter(pairs["lang_pair"])
    by_pair = {key: list(zip(g["local_chars"], g["en_chars"])) for key, g in used.groupby("lang_pair")}
    stats = {key: stats_from_lengths(key, counts[key], by_pair.get(key, [])) for key in sorted(counts)}
    for st in stats.values():
        log.info("%s: %d transcripts, %d turns, median ratio %.3f, MAD(log) %.3f",
                 st.lang_pair, st.transcripts, st.turns, st.median_ratio, st.mad_log_ratio)
    outliers = []
    for r in lengths.to_dict("records"):
        lang = r["lang_pair"].rsplit("-", 1)[0]
        detail = length_outlier_detail(r["local_chars"], r["en_chars"], lang, thresholds,
                                       stats.get(r["lang_pair"]), english)
        if detail:
            outliers.append({"transcript": r["transcript"], "lang_pair": r["lang_pair"], "turn": r["turn"],
                             "turn_en": r["turn_en"], "speaker": r["speaker"], "flag": "length_ratio_outlier",
                             "severity": FLAG_KINDS["length_ratio_outlier"], "detail": detail, "site": r["site"]})
    flags = pd.concat([flags, pd.DataFrame(outliers, columns=[*SITE_FLAG_COLUMNS, "site"])], ignore_index=True)
    resolutions = read_resolutions(resolutions_path)
    check_unknown_resolutions(resolutions, zip(pairs["site"], pairs["transcript"]), resolutions_path)
    final: dict[tuple[str, str], pd.DataFrame] = {}
    problems: list[Problem] = []
    # one pass over the flags (grouped once), so the step stays linear in the study's size
    empty = flags.iloc[0:0].drop(columns=["site", "transcript", "lang_pair"])
    grouped = {k: g.drop(columns=["site", "transcript", "lang_pair"]).reset_index(drop=True)
               for k, g in flags.groupby(["site", "transcript"], sort=False)}
    for site, mine in pairs.groupby("site", sort=False):
        per = {t: sort_flags(grouped.get((site, t), empty)) for t in mine["transcript"]}
        try:
            per = apply_resolutions(per, site, resolutions, resolutions_path)
        except InputError as e:
            problems.extend(e.problems)
            continue
        meta = dict(zip(mine["transcript"], mine["lang_pair"]))
        for t, df in per.items():
            final[(site, t)] = df.assign(transcript=t, lang_pair=meta[t])[FLAG_COLUMNS]
    raise_if(problems)
    return stats, final
