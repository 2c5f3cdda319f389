"""The one name matcher: pseudonymisation and the leak gate both find names with it.

Leftmost-longest matching of every listed form (Aho-Corasick, pyahocorasick) over a *matching view*
of the text: NFC, invisible characters removed (soft hyphen, direction marks, zero-width), any run of
white space folded to one space (so a name broken across lines still matches) and, for
case-insensitive forms, case-folded. An offset map takes every match back to the original text, so
replacements never shift. Boundaries are Unicode-aware (a combining vowel sign is part of a word:
Devanagari ``राम`` does not match inside ``रामा``), with three language rules: a German genitive
``-s`` after a name, Hebrew proclitic prefixes (ו ה ב ל מ ש כ) before it, which are kept, and
elision (``n'Okello``), which the apostrophe boundary already allows.
"""
from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass

import ahocorasick
import regex

HEBREW_PREFIXES = set("והבלמשכ")
_INVISIBLE = r"[\p{Cf}\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u3164\uffa0]"
# Characters whose case folding changes the string's length (ß -> ss, İ -> i̇, ligatures, ...).
_FOLD_GROW = "".join(sorted({c for c in map(chr, range(0x80, 0x30000))
                             if len(c.casefold()) != 1 and unicodedata.category(c) != "Cs"}))
_EDIT_FOLD = regex.compile(rf"{_INVISIBLE}+|\s{{2,}}|[^\S ]|[{regex.escape(_FOLD_GROW)}]")
_EDIT_CASE = regex.compile(rf"{_INVISIBLE}+|\s{{2,}}|[^\S ]")
_CLUSTER = regex.compile(r"\P{M}\p{M}+")
_WORD = regex.compile(r"[\w\p{M}]")


def _is_word(ch: str) -> bool:
    return bool(ch) and _WORD.match(ch) is not None


@dataclass(frozen=True)
class Entry:
    """One listed form and what it stands for."""

    form: str
    key: str              # stable id for logs and the leak report, never the name: roster:kampala:9
    category: str         # participant | facilitator | person | place | hospital | organisation | other
    placeholder: str      # what replaces it in shareable text: P09, [TP03], ...
    case_sensitive: bool = False


@dataclass(frozen=True)
class Match:
    """A found name: original-text offsets [start, end), the entry, and how it was matched."""

    start: int
    end: int
    entry: Entry
    rule: str             # exact | genitive | hebrew_prefix


class View:
    """A normalised copy of a text with a map from its offsets back to the original's."""

    def __init__(self, text: str, fold: bool) -> None:
        self.text = text
        pieces: list[str] = []
        # Segments: (view_start, orig_start, orig_end, identity?) — identity segments map 1:1.
        self._vstart: list[int] = []
        self._seg: list[tuple[int, int, bool]] = []
        v = 0
        pos = 0
        src = text
        edit = _EDIT_FOLD if fold else _EDIT_CASE
        spans: list[tuple[int, int, str]] = []
        for m in edit.finditer(src):
            s = m.group()
            if s[0].isspace():
                rep = " "
            elif regex.match(_INVISIBLE, s):
                rep = ""
            else:
                rep = s.casefold()
            spans.append((m.start(), m.end(), rep))
        if not unicodedata.is_normalized("NFC", src):
            extra = [(m.start(), m.end(), unicodedata.normalize("NFC", m.group()))
                     for m in _CLUSTER.finditer(src)
                     if not unicodedata.is_normalized("NFC", m.group())]
            spans = _merge_spans(spans, extra, fold)
        for a, b, rep in spans:
            if a > pos:
                seg = src[pos:a]
                pieces.append(seg.casefold() if fold else seg)
                self._vstart.append(v)
                self._seg.append((pos, a, True))
                v += a - pos
            if rep or a == b:
                pieces.append(rep)
                self._vstart.append(v)
                self._seg.append((a, b, False))
                v += len(rep)
            pos = b
        if pos < len(src):
            seg = src[pos:]
            pieces.append(seg.casefold() if fold else seg)
            self._vstart.append(v)
            self._seg.append((pos, len(src), True))
        self.view = "".join(pieces)

    def orig_start(self, v: int) -> int:
        i = bisect.bisect_right(self._vstart, v) - 1
        a, b, identity = self._seg[i]
        return a + (v - self._vstart[i]) if identity else a

    def orig_end(self, v_end: int) -> int:
        """Original offset just after view character ``v_end - 1``."""
        i = bisect.bisect_right(self._vstart, v_end - 1) - 1
        a, b, identity = self._seg[i]
        return a + (v_end - self._vstart[i]) if identity else b


def _merge_spans(spans, extra, fold):
    """Combine edit spans with NFC-cluster spans; a cluster wins where they overlap."""
    out = []
    for a, b, rep in sorted(spans + [(a, b, r.casefold() if fold else r) for a, b, r in extra]):
        if out and a < out[-1][1]:
            pa, pb, prep = out[-1]
            if b - a > pb - pa:
                out[-1] = (a, b, rep)
            continue
        out.append((a, b, rep))
    return out


def _norm_form(form: str, fold: bool) -> str:
    f = unicodedata.normalize("NFC", form)
    f = regex.sub(_INVISIBLE, "", f)
    f = " ".join(f.split())
    return f.casefold() if fold else f


class Matcher:
    """Find every listed form in a text, leftmost-longest, with Unicode-aware boundaries."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._auto: dict[bool, ahocorasick.Automaton | None] = {}
        for fold in (True, False):
            forms: dict[str, Entry] = {}
            for e in entries:
                if e.case_sensitive == (not fold):
                    key = _norm_form(e.form, fold)
                    if key and (key not in forms or len(e.form) > len(forms[key].form)):
                        forms[key] = e
            if forms:
                a = ahocorasick.Automaton()
                for key, e in forms.items():
                    a.add_word(key, (len(key), e))
                a.make_automaton()
                self._auto[fold] = a
            else:
                self._auto[fold] = None

    def find(self, text: str) -> list[Match]:
        """All non-overlapping matches in ``text`` (original offsets), leftmost-longest."""
        candidates: list[Match] = []
        for fold, auto in self._auto.items():
            if auto is None:
                continue
            view = View(text, fold)
            vt = view.view
            for end, (n, entry) in auto.iter(vt):
                vs, ve = end - n + 1, end + 1
                m = self._bounded(vt, vs, ve, entry)
                if m is None:
                    continue
                (vs, ve, rule) = m
                candidates.append(Match(view.orig_start(vs), view.orig_end(ve), entry, rule))
        candidates.sort(key=lambda m: (m.start, -(m.end - m.start), m.entry.key))
        out: list[Match] = []
        last_end = -1
        for m in candidates:
            if m.start >= last_end:
                out.append(m)
                last_end = m.end
        return out

    @staticmethod
    def _bounded(vt: str, vs: int, ve: int, entry: Entry) -> tuple[int, int, str] | None:
        """Check the match's edges; return the (possibly extended) view span and the rule used."""
        rule = "exact"
        first, last = vt[vs], vt[ve - 1]
        if _is_word(first) and vs > 0 and _is_word(vt[vs - 1]):
            # Hebrew proclitics: up to three prefix letters glued to the name, kept in the text.
            k = vs
            while k > 0 and vs - k < 3 and vt[k - 1] in HEBREW_PREFIXES:
                k -= 1
            if not ("\u0590" <= first <= "\u05ff") or k == vs or (k > 0 and _is_word(vt[k - 1])):
                return None
            rule = "hebrew_prefix"
        if _is_word(last) and ve < len(vt) and _is_word(vt[ve]):
            # German genitive: "Sabines" -> the name plus -s (the s is replaced with the name).
            if vt[ve] in "sS" and (ve + 1 == len(vt) or not _is_word(vt[ve + 1])) \
                    and not ("\u0590" <= last <= "\u05ff"):
                return vs, ve + 1, "genitive"
            return None
        return vs, ve, rule
