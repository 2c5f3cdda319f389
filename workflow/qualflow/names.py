"""The one name matcher: pseudonymisation and the leak gate both find names with it.

Leftmost-longest matching of every listed form (Aho-Corasick, pyahocorasick) over a *matching view*
of the text: NFC, invisible characters removed (soft hyphen, direction marks, zero-width), any run of
white space folded to one space (so a name broken across lines still matches) and, for
case-insensitive forms, lower-cased (``str.lower`` rather than ``casefold``: it keeps lengths, so the
offset map is a plain index array; ß therefore matches ß, not ss). An offset map takes every match back to the original text, so
replacements never shift. Boundaries are Unicode-aware (a combining vowel sign is part of a word:
Devanagari ``राम`` does not match inside ``रामा``). A name may carry affixes of the study's languages
(qualflow.affixes: Marathi postpositions ``अमितला``, Hebrew proclitics ``ולמיכל``, the German genitive
``Annas``), which are kept in the text around the placeholder; elision (``n'Okello``) needs no rule,
the apostrophe is a boundary. The gate asks for more (``fail_safe``): a name at the start of a longer
word whose ending is no listed affix is a ``partial`` hit in scripts without letter case, and in any
script for languages without affix rules.
"""
from __future__ import annotations

import bisect
import functools
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick
import numpy as np
import regex

from .affixes import DEFAULT_AFFIXES, MAX_STACK, LanguageAffixes, has_case, script_of
# Characters that render as nothing (format controls, soft hyphen, fillers): the one definition,
# also used by study.normalise_label for speaker labels.
_INVISIBLE = r"[\p{Cf}\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u3164\uffa0]"
INVISIBLE = regex.compile(_INVISIBLE)
_WORD = regex.compile(r"[\w\p{M}]")
_CLUSTER = regex.compile(r"\P{M}\p{M}+")
_ASCII_WS_TO_SPACE = bytes(32 if chr(i).isspace() and i < 128 else i for i in range(256))
_ASCII_WORD = np.array([i < 128 and _WORD.match(chr(i)) is not None for i in range(256)], dtype=bool)


def _all_chars(limit: int = 0x110000) -> str:
    return "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, limit)))


@functools.cache
def _tables() -> dict:
    """Character tables of the Basic Multilingual Plane, built once per process on first use (regex
    scans in C, not per-char Python). Astral characters (rare: emoji, historic scripts) are looked up
    one distinct code point at a time (``_astral_invisible``, ``_is_word``): building the tables over
    all 1.1 million code points cost 0.3 s in every job that reads non-ASCII text."""
    bmp = _all_chars(0x10000)
    word = np.zeros(0x10000, dtype=bool)
    word[[ord(m.group()) for m in _WORD.finditer(bmp)]] = True
    invisible = [ord(m.group()) for m in INVISIBLE.finditer(bmp)]
    space = [ord(m.group()) for m in regex.finditer(r"\s", bmp)]
    # One flag byte per BMP code point (1 invisible, 2 white space): a table lookup per character
    # instead of a set-membership test. No astral character is white space.
    flags = np.zeros(0x10000, dtype=np.uint8)
    flags[invisible] |= 1
    flags[space] |= 2
    return {"word": word, "flags": flags}


def _astral_invisible(codes: np.ndarray) -> np.ndarray:
    """Invisible-character flags (1 or 0) of astral code points (tags, musical format controls)."""
    distinct, where = np.unique(codes, return_inverse=True)
    flags = np.array([INVISIBLE.match(chr(int(c))) is not None for c in distinct], dtype=np.uint8)
    return flags[where]


@functools.cache
def _edit_patterns() -> tuple[regex.Pattern, regex.Pattern]:
    """The general path's edit patterns; the fold one includes characters whose lower-casing changes
    the string's length (İ -> i̇): rare, so built only when a text needs the general path."""
    grow = "".join(c for c in map(chr, range(0x80, 0x30000))
                   if not 0xD800 <= ord(c) <= 0xDFFF and len(c.lower()) != 1)
    fold = regex.compile(rf"{_INVISIBLE}+|\s{{2,}}|[^\S ]|[{regex.escape(grow)}]")
    case = regex.compile(rf"{_INVISIBLE}+|\s{{2,}}|[^\S ]")
    return fold, case


@functools.lru_cache(maxsize=8192)
def _is_word(ch: str) -> bool:
    """Letters, digits, underscore and combining marks are word characters (boundaries)."""
    return _WORD.match(ch) is not None


@dataclass(frozen=True)
class Entry:
    """One listed form and what it stands for."""

    form: str
    key: str              # stable id for logs and the leak report, never the name: roster:kampala:9
    category: str         # participant | facilitator | person | place | hospital | organisation | other
    placeholder: str      # what replaces it in shareable text: P09, [TP03], ...
    case_sensitive: bool = False


class Match(NamedTuple):
    """A found name: the whole word [start, end) in original-text offsets, the entry, how it was
    matched, and where the name itself lies inside the word (affixes outside it are kept)."""

    start: int
    end: int
    entry: Entry
    rule: str             # exact | prefix | suffix | prefix+suffix | partial (gate only)
    name_start: int
    name_end: int

    def replaced(self, text: str, placeholder: str) -> str:
        """The word with the name replaced and its affixes kept: ``P02ला``, ``ולP01``."""
        return text[self.start:self.name_start] + placeholder + text[self.name_end:self.end]


class AffixRules:
    """The study languages' affixes, compiled per script (an affix applies in its own script only)."""

    def __init__(self, languages: dict[str, LanguageAffixes] | None = None) -> None:
        self.languages = frozenset(languages or {})
        suffixes: dict[str, tuple[set[str], set[str]]] = {}
        prefixes: dict[str, set[str]] = {}
        for rules in (languages or {}).values():
            for s in rules.suffixes:
                suffixes.setdefault(script_of(s[0]), (set(), set()))[0].add(s.lower())
            for s in rules.links:
                suffixes.setdefault(script_of(s[0]), (set(), set()))[1].add(s.lower())
            for s in rules.prefixes:
                prefixes.setdefault(script_of(s[-1]), set()).add(s.lower())

        def alt(items: set[str]) -> str:
            return "|".join(regex.escape(x) for x in sorted(items, key=lambda x: (-len(x), x)))
        self._suffix: dict[str, regex.Pattern] = {}
        self._prefix: dict[str, regex.Pattern] = {}
        longest = 0
        for script, (sufs, links) in suffixes.items():
            if not sufs:
                continue
            link = f"(?:{alt(links)})?" if links else ""
            self._suffix[script] = regex.compile(rf"(?:{link}(?:{alt(sufs)})){{1,{MAX_STACK}}}", regex.I)
            longest = max(longest, MAX_STACK * (max(map(len, sufs)) + max(map(len, links), default=0)))
        self._max_suffix = longest
        self._max_prefix = 0
        for script, prefs in prefixes.items():
            self._prefix[script] = regex.compile(rf"(?:{alt(prefs)}){{1,{MAX_STACK}}}", regex.I)
            self._max_prefix = max(self._max_prefix, MAX_STACK * max(map(len, prefs)))

    def suffix_end(self, vt: str, ve: int) -> int | None:
        """End of the listed suffix chain that completes the word at ``ve``, else None."""
        pattern = self._suffix.get(script_of(vt[ve]))
        if pattern is None:
            return None
        j, limit = ve, min(len(vt), ve + self._max_suffix + 1)
        while j < limit and _is_word(vt[j]):
            j += 1
        if j == limit and j < len(vt) and _is_word(vt[j]):
            return None
        return j if pattern.fullmatch(vt, ve, j) else None

    def prefix_start(self, vt: str, vs: int) -> int | None:
        """Start of the listed prefix chain that begins the word ending in the name at ``vs``."""
        pattern = self._prefix.get(script_of(vt[vs - 1]))
        if pattern is None:
            return None
        k, limit = vs, max(0, vs - self._max_prefix - 1)
        while k > limit and _is_word(vt[k - 1]):
            k -= 1
        if k == limit and k > 0 and _is_word(vt[k - 1]):
            return None
        return k if pattern.fullmatch(vt, k, vs) else None


@functools.cache
def default_affixes() -> AffixRules:
    """Every shipped language's rules (qualflow.affixes.DEFAULT_AFFIXES)."""
    return AffixRules(DEFAULT_AFFIXES)


class View:
    """A normalised copy of a text with a map from its offsets back to the original's."""

    def __init__(self, text: str, fold: bool) -> None:
        self.text = text
        self._shift: list[int] | None = None   # fast path: view positions after dropped characters
        self._shift_np: np.ndarray | None = None
        self.codes: np.ndarray | None = None   # the view's code points (fast path only)
        if (text.isascii() or unicodedata.is_normalized("NFC", text)) and self._fast(text, fold):
            return
        self._slow(text, fold)

    def _fast(self, text: str, fold: bool) -> bool:
        """Vectorised view for NFC text: drop invisibles, fold white-space runs, lower-case.

        ``str.lower`` keeps the length of almost every string (``casefold`` turns ß into ss), so the
        map from view to original offsets only needs the positions of the dropped characters
        (searched per match, not built per character). Returns False (use the general path) when
        lower-casing changes the length.
        """
        ascii_only = text.isascii()
        if ascii_only:
            # One byte per character; bytes.translate turns every white-space byte into a space.
            encoding = "latin-1"
            out = np.frombuffer(text.encode(encoding).translate(_ASCII_WS_TO_SPACE), dtype=np.uint8)
            ws = out == 32
            drop = np.zeros(len(out), dtype=bool)
            drop[1:] = ws[1:] & ws[:-1]
        else:
            encoding = "utf-32-le"
            cp = np.frombuffer(text.encode(encoding), dtype=np.uint32)
            tables = _tables()
            f = tables["flags"][np.minimum(cp, 0xFFFF)]
            astral = np.flatnonzero(cp > 0xFFFF)
            if len(astral):
                f[astral] = _astral_invisible(cp[astral])
            drop = (f & 1).view(bool)
            ws = (f & 2).view(bool)
            # A white-space character is dropped when the previous kept character is white space too.
            if drop.any():
                keep_idx = np.flatnonzero(~drop)
                kws = ws[keep_idx]
                tail = np.zeros(len(kws), dtype=bool)
                tail[1:] = kws[1:] & kws[:-1]
                drop[keep_idx[tail]] = True
            else:
                drop = np.zeros(len(cp), dtype=bool)
                drop[1:] = ws[1:] & ws[:-1]
            out = np.where(ws, np.uint32(32), cp)
        if drop.any():
            out = out[~drop]
            dropped = np.flatnonzero(drop)
            # View position of the k-th dropped character's successor: dropped[k] - k.
            self._shift_np = dropped - np.arange(len(dropped))
            self._shift = self._shift_np.tolist()
        view = out.tobytes().decode(encoding)
        if fold:
            lowered = view.lower()
            if len(lowered) != len(view):
                return False
            view = lowered
        self.view = view
        self.codes = out
        return True

    def _slow(self, text: str, fold: bool) -> None:
        """General view (any normalisation form, any case folding), built edit by edit."""
        pieces: list[str] = []
        # Segments: (view_start, orig_start, orig_end, identity?) — identity segments map 1:1.
        self._vstart: list[int] = []
        self._seg: list[tuple[int, int, bool]] = []
        v = 0
        pos = 0
        src = text
        edit = _edit_patterns()[0 if fold else 1]
        spans: list[tuple[int, int, str]] = []
        for m in edit.finditer(src):
            s = m.group()
            if s[0].isspace():
                rep = " "
            elif INVISIBLE.match(s):
                rep = ""
            else:
                rep = s.lower()
            spans.append((m.start(), m.end(), rep))
        if not unicodedata.is_normalized("NFC", src):
            extra = [(m.start(), m.end(), unicodedata.normalize("NFC", m.group()))
                     for m in _CLUSTER.finditer(src)
                     if not unicodedata.is_normalized("NFC", m.group())]
            spans = _merge_spans(spans, extra, fold)
        for a, b, rep in spans:
            if a > pos:
                seg = src[pos:a]
                pieces.append(seg.lower() if fold else seg)
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
            pieces.append(seg.lower() if fold else seg)
            self._vstart.append(v)
            self._seg.append((pos, len(src), True))
        self.view = "".join(pieces)

    def is_word_at(self, pos: np.ndarray) -> np.ndarray:
        """Word-character flags of the view at ``pos`` (positions outside the view are not words)."""
        c = self.codes
        inside = (pos >= 0) & (pos < len(c))
        codes = c[np.clip(pos, 0, max(len(c) - 1, 0))]
        if c.dtype == np.uint8:
            w = _ASCII_WORD[codes]
        else:
            w = _tables()["word"][np.minimum(codes, 0xFFFF)]
            astral = np.flatnonzero(codes > 0xFFFF)
            if len(astral):
                w[astral] = [_is_word(chr(int(x))) for x in codes[astral]]
        return w & inside

    def orig_starts(self, v: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`orig_start` (fast path)."""
        return v if self._shift_np is None else v + np.searchsorted(self._shift_np, v, side="right")

    def orig_start(self, v: int) -> int:
        if self.codes is not None:
            return v if self._shift is None else v + bisect.bisect_right(self._shift, v)
        i = bisect.bisect_right(self._vstart, v) - 1
        a, b, identity = self._seg[i]
        return a + (v - self._vstart[i]) if identity else a

    def orig_end(self, v_end: int) -> int:
        """Original offset just after view character ``v_end - 1``."""
        if self.codes is not None:
            return self.orig_start(v_end - 1) + 1
        i = bisect.bisect_right(self._vstart, v_end - 1) - 1
        a, b, identity = self._seg[i]
        return a + (v_end - self._vstart[i]) if identity else b


def _merge_spans(spans, extra, fold):
    """Combine edit spans with NFC-cluster spans; a cluster wins where they overlap."""
    out = []
    for a, b, rep in sorted(spans + [(a, b, r.lower() if fold else r) for a, b, r in extra]):
        if out and a < out[-1][1]:
            pa, pb, prep = out[-1]
            if b - a > pb - pa:
                out[-1] = (a, b, rep)
            continue
        out.append((a, b, rep))
    return out


def _norm_form(form: str, fold: bool) -> str:
    f = unicodedata.normalize("NFC", form)
    f = INVISIBLE.sub("", f)
    f = " ".join(f.split())
    return f.lower() if fold else f


class Matcher:
    """Find every listed form in a text, leftmost-longest, with Unicode-aware boundaries."""

    def __init__(self, entries: list[Entry], affixes: AffixRules | None = None) -> None:
        self.entries = entries
        self.affixes = affixes if affixes is not None else default_affixes()
        self._auto: dict[bool, ahocorasick.Automaton | None] = {}
        self._longest = max((len(e.form) for e in entries), default=0) + 8
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

    def find(self, text: str, fail_safe: bool = False, strict: bool = False) -> list[Match]:
        """All non-overlapping matches in ``text`` (original offsets), leftmost-longest.

        ``iter_long`` gives the automaton's leftmost-longest matches in C and their edges are checked
        in one vectorised step; only a match that fails the plain boundary test (an affix, a form
        inside a longer word) goes through the per-match rules, which also look at the shorter and
        later forms inside it. ``fail_safe`` (the leak gate) also reports a name at the start of a
        longer word whose ending is no listed affix (rule ``partial``) where the script has no
        letter case, or everywhere when ``strict`` (a text language without affix rules).
        """
        candidates: list[Match] = []
        seen: set[tuple[int, int, str]] = set()
        bounded = self._bounded
        # One automaton's iter_long output is already ordered and non-overlapping.
        sorted_already = sum(a is not None for a in self._auto.values()) <= 1
        for fold, auto in self._auto.items():
            if auto is None:
                continue
            view = View(text, fold)
            vt = view.view
            o_start, o_end = view.orig_start, view.orig_end
            raw = list(auto.iter_long(vt))
            if not raw:
                continue
            slow = range(len(raw))
            if view.codes is not None:
                # Vectorised edges: a match is plainly bounded when it does not start inside a word
                # and does not end inside one; only the others take the per-match rules below.
                ends = np.fromiter((r[0] for r in raw), dtype=np.int64, count=len(raw))
                starts = ends - np.fromiter((r[1][0] for r in raw), dtype=np.int64, count=len(raw)) + 1
                w = view.is_word_at
                bad = (w(starts) & w(starts - 1)) | (w(ends) & w(ends + 1))
                good = np.flatnonzero(~bad)
                a_all = view.orig_starts(starts[good]).tolist()
                b_all = (view.orig_starts(ends[good]) + 1).tolist()
                candidates.extend(Match(a, b, raw[i][1][1], "exact", a, b)
                                  for i, a, b in zip(good.tolist(), a_all, b_all))
                slow = np.flatnonzero(bad).tolist()
            for i in slow:
                end, (n, entry) = raw[i]
                m = bounded(vt, end - n + 1, end + 1, entry, fail_safe, strict)
                if m is not None:
                    found = [m]
                else:
                    # The longest form failed a boundary: look at shorter and later forms inside it.
                    # (Iterate over a slice: pyahocorasick copies the whole string for iter(s, start, end).)
                    lo = end - n + 1
                    window = vt[lo:min(len(vt), end + 1 + self._longest)]
                    found = [x for e2, (n2, en2) in auto.iter(window)
                             if (x := bounded(vt, lo + e2 - n2 + 1, lo + e2 + 1, en2, fail_safe, strict))
                             is not None]
                for ws, vs, ve, we, rule, ent in found:
                    a, b = o_start(ws), o_end(we)
                    if (a, b, ent.key) not in seen:
                        seen.add((a, b, ent.key))
                        na = a if vs == ws else o_start(vs)
                        nb = b if ve == we else o_end(ve)
                        candidates.append(Match(a, b, ent, rule, na, nb))
                        sorted_already = False
        if sorted_already:
            return candidates
        candidates.sort(key=lambda m: (m.start, m.start - m.end, m.entry.key))
        out: list[Match] = []
        last_end = -1
        for m in candidates:
            if m.start >= last_end:
                out.append(m)
                last_end = m.end
        return out

    def _bounded(self, vt: str, vs: int, ve: int, entry: Entry, fail_safe: bool,
                 strict: bool) -> tuple[int, int, int, int, str, Entry] | None:
        """Check the match's edges against boundaries and affixes.

        Returns (word start, name start, name end, word end, rule, entry) in view offsets, or None.
        """
        rule = "exact"
        ws, we = vs, ve
        if vs > 0 and _is_word(vt[vs]) and _is_word(vt[vs - 1]):
            k = self.affixes.prefix_start(vt, vs)
            if k is None:
                return None            # the name ends a longer word: not this name
            ws, rule = k, "prefix"
        if ve < len(vt) and _is_word(vt[ve - 1]) and _is_word(vt[ve]):
            j = self.affixes.suffix_end(vt, ve)
            if j is None:
                # A longer word that starts with the name: an unknown inflection or another word.
                if fail_safe and (strict or not has_case(vt[ve]) or not has_case(vt[ve - 1])):
                    return ws, vs, ve, ve, "partial", entry
                return None
            we, rule = j, ("suffix" if rule == "exact" else "prefix+suffix")
        return ws, vs, ve, we, rule, entry
