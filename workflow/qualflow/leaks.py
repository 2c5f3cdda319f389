"""The leak gate: no roster or identifier name may appear anywhere under results/.

Scans every file — text, TSV, Markdown, HTML, SVG, notebooks, the XML inside .qdpx/.qdc/.docx zips
and the text chunks of PNGs — with the same matcher pseudonymisation uses (case-folded unless an
entry is case-sensitive, NFC, invisible characters removed, white space collapsed), for every
participant, facilitator and identifier of every site, with every study language's affix rules
(``अमितला`` is Amit). It fails safe: a name at the start of a longer word whose ending is no listed
affix is a hit too, in scripts without letter case and, in any script, in the text of a language
without affix rules. A hit fails the workflow and is reported by file, line and key id
(``roster:kampala:9``), never by the name, with where it is (the name's own site, another site's
text, a study-wide output) and how to resolve it. Near misses (Jaro-Winkler) are warnings written to
restricted/, because a misspelt name is itself identifying.
"""
from __future__ import annotations

import base64
import binascii
import html
import io
import logging
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import regex
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from .affixes import LanguageAffixes, language_rules
from .errors import Problem, raise_if
from .names import AffixRules, Entry, Match, Matcher
from .leak_context import MARKUP_SUFFIXES, Decision, FixedText, blank_markup, context, read_decisions, same_place
from .names import INVISIBLE
from .study import Identifier, Person, read_identifiers, read_roster, read_sites
from .tables import read_results_tsv, write_tsv
from .wordlists import is_ordinary

log = logging.getLogger("qualflow.leaks")
ZIP_SUFFIXES = {".qdpx", ".qdc", ".docx", ".xlsx", ".zip"}
HIT_COLUMNS = ["file", "line", "key", "category"]
NEAR_COLUMNS = ["file", "line", "key", "token", "form", "similarity"]


def gate_entries(people: list[Person], identifiers: list[Identifier]) -> list[Entry]:
    """Every name form of every site, each tagged with its key id (placeholders are irrelevant here)."""
    out = []
    for p in people:
        for form in p.forms:
            out.append(Entry(form, f"roster:{p.site}:{p.participant}",
                             "facilitator" if p.is_facilitator else "participant", "", p.case_sensitive))
    for i in identifiers:
        for form in i.forms:
            out.append(Entry(form, f"identifiers:{i.site}:{i.line}", i.category, "", i.case_sensitive))
    return out


def _png_text(data: bytes) -> str:
    """The textual chunks (tEXt, zTXt, iTXt) of a PNG: where metadata could carry a name."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"tEXt":
            out.append(body.replace(b"\0", b" ").decode("latin-1"))
        elif kind == b"zTXt":
            k, _, rest = body.partition(b"\0")
            out.append(k.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1", "replace"))
        elif kind == b"iTXt":
            out.append(body.replace(b"\0", b" ").decode("utf-8", "replace"))
        pos += 12 + n
    return "\n".join(out)


_DATA_URL = regex.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[^;,\s\"']*)*);base64,([A-Za-z0-9+/=\s]+)")


def _embedded(label: str, text: str, depth: int = 0) -> tuple[str, list[tuple[str, bytes, str]]]:
    """The text with every base64 ``data:`` payload blanked (same length), and the payloads decoded.

    A self-contained page (Snakemake's report.html) carries its files as base64: read as text, that
    is random letters (a three-letter alias at the start of one is a false hit) and the file inside
    is never seen (a name in it would pass). The payloads are scanned decoded instead.
    """
    found: list[tuple[str, bytes, str]] = []
    if depth > 2 or "base64," not in text:
        return text, found
    pieces, pos = [], 0
    for k, m in enumerate(_DATA_URL.finditer(text)):
        a, b = m.span(3)
        try:
            data = base64.b64decode("".join(m.group(3).split()), validate=False)
        except (ValueError, binascii.Error):
            continue
        pieces += [text[pos:a], " " * (b - a)]
        pos = b
        found.append((f"{label}!data{k + 1}", data, (m.group(1) or "").lower()))
    pieces.append(text[pos:])
    return "".join(pieces), found


def _data_texts(label: str, data: bytes, mime: str, depth: int,
                inert: frozenset[str]) -> Iterator[tuple[str, list[str]]]:
    """(label, segments) of one decoded ``data:`` payload: a zip's members, a PNG's text chunks, text."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in sorted(z.namelist()):
                    if not name.endswith("/"):
                        yield f"{label}!{name}", [z.read(name).decode("utf-8", "replace")]
            return
        except zipfile.BadZipFile:
            pass
    if data[:4] == b"\x89PNG":
        yield label, [_png_text(data)]
        return
    text = data.decode("utf-8", "replace")
    if "html" in mime or "xml" in mime or "svg" in mime:
        text, inner = _embedded(label, blank_markup(text), depth + 1)
        yield label, _with_decoded(text, inert)
        for sub, payload, m in inner:
            yield from _data_texts(sub, payload, m, depth + 1, inert)
    else:
        yield label, [text]


#: A character reference as html.unescape finds one (CPython's html._charref): each is decoded on its
#: own, so what a page's references decode to is known from its distinct references alone.
_CHARREF = regex.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
#: What the escaping of the pipeline's own pages leaves as references (qualflow.tables.html_text): no
#: letter, mark, digit, space or word character, so decoding one can neither make nor break a name
#: (unless a listed form holds one of them: scan_files then decodes every page).
INERT = frozenset('&<>"')


def _with_decoded(text: str, inert: frozenset[str] = INERT) -> list[str]:
    """The segments of a markup text: the text, and the text with its character references decoded
    (``&#1502;`` would hide a Hebrew name) unless every reference in it decodes to ``inert``
    characters. Such references stand where the decoded text has one inert character: every name,
    word and boundary the decoded text shows, the text shows too, so it is scanned once (issue 14:
    the second copy was a quarter of the gate's work at 1,000 transcripts)."""
    for ref in set(_CHARREF.findall(text)):
        decoded = html.unescape("&" + ref)
        if decoded != "&" + ref and not set(decoded) <= inert:
            return [text, html.unescape(text)]
    return [text]


def file_texts(path: Path, inert: frozenset[str] = INERT) -> Iterator[tuple[str, list[str]]]:
    """(label, segments) to scan for one file, one at a time: a zip yields one per member.

    A markup file has two segments when its character references could hide a name (_with_decoded),
    its text and the same text with references decoded, scanned as if joined by a newline but never
    copied into one string: a large page is held twice, not four times. Its base64 ``data:`` payloads
    are scanned decoded, each as ``<path>!data<k>`` (a zip's members as ``<path>!data<k>!<member>``).
    """
    if path.suffix.lower() in ZIP_SUFFIXES and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in sorted(z.namelist()):
                if not name.endswith("/"):
                    yield f"{path}!{name}", [z.read(name).decode("utf-8", "replace")]
        return
    with path.open("rb") as fh:
        png = fh.read(4) == b"\x89PNG"
    if png:
        yield str(path), [_png_text(path.read_bytes())]
        return
    text = path.read_bytes().decode("utf-8", "replace")
    if path.suffix.lower() in MARKUP_SUFFIXES:
        text = blank_markup(text)   # tag and attribute names are the format's words, not data (<meta>)
        text, inner = _embedded(str(path), text)
        yield str(path), _with_decoded(text, inert)
        for label, data, mime in inner:
            yield from _data_texts(label, data, mime, 1, inert)
    elif path.suffix.lower() == ".ipynb":
        yield str(path), _with_decoded(text, inert)
    else:
        yield str(path), [text]


WINDOW = 1 << 22      # characters the matcher sees at once: its working memory is tens of bytes per character
OVERLAP = 4096        # longer than any name form, so a name across a window edge is still found whole
MARGIN = 512          # text either side of a window that a hit's context and word checks may look at


class _Joined:
    """Segments read as one text joined by newlines, without building that text."""

    def __init__(self, segments: list[str]) -> None:
        self.segments = segments
        self.starts, at = [], 0
        for seg in segments:
            self.starts.append(at)
            at += len(seg) + 1
        self.length = at - 1

    def slice(self, a: int, b: int) -> str:
        """The joined text's [a, b)."""
        if len(self.segments) == 1:
            seg = self.segments[0]
            return seg if (a, b) == (0, len(seg)) else seg[a:b]
        out = []
        for s, seg in zip(self.starts, self.segments):
            if s and a <= s - 1 < b:
                out.append("\n")   # the join before this segment
            lo, hi = max(a, s), min(b, s + len(seg))
            if lo < hi:
                out.append(seg[lo - s:hi - s])
        return "".join(out)

    def newlines(self, a: int, b: int) -> int:
        """Newlines in the joined text's [a, b), the joins included."""
        n = 0
        for s, seg in zip(self.starts, self.segments):
            if s and a <= s - 1 < b:
                n += 1
            lo, hi = max(a, s), min(b, s + len(seg))
            if lo < hi:
                n += seg.count("\n", lo - s, hi - s)
        return n

    def windows(self, size: int) -> list[tuple[int, int]]:
        """(start, end) cuts of each segment at line ends (else white space), each about ``size`` long.

        A cut after a newline or a space keeps every word boundary as it is in the whole text.
        """
        cuts = []
        for s, text in zip(self.starts, self.segments):
            start, n = 0, len(text)
            while start < n:
                end = n
                if n - start > size:
                    end = text.rfind("\n", start + size // 2, start + size) + 1
                    if end <= 0:
                        end = text.rfind(" ", start + size // 2, start + size) + 1
                    if end <= 0:
                        end = start + size
                cuts.append((s + start, s + end))
                start = end
        return cuts


def _find(matcher: Matcher, text: _Joined, **kw) -> Iterator[tuple[str, Match, int]]:
    """(around, match, offset of around) for every match of the whole text, found a window at a time (bounded memory).

    A window is matched with OVERLAP characters of what follows, and keeps the matches that start
    inside it and after the previous kept match: the leftmost-longest matches of one pass over the
    whole text. ``around`` is the window with MARGIN characters either side, and the match's offsets
    are into it, so a hit's context and word are read as from the whole text. Matches come in order.
    """
    covered, n = 0, text.length
    for start, end in text.windows(WINDOW):
        lo, hi = max(0, start - MARGIN), min(n, end + OVERLAP + MARGIN)
        around = text.slice(lo, hi)
        piece = around[start - lo:min(n, end + OVERLAP) - lo]
        shift = start - lo
        for m in matcher.find(piece, **kw):
            at = start + m.start
            if at >= end or at < covered:
                continue
            covered = start + m.end
            yield around, m._replace(start=m.start + shift, end=m.end + shift, name_start=m.name_start + shift,
                                     name_end=m.name_end + shift), lo


@dataclass
class GateResult:
    hits: pd.DataFrame          # HIT_COLUMNS plus rule, where, site, lang (the message uses them)
    near: pd.DataFrame
    files: int
    waived: pd.DataFrame | None = None   # hits a reviewed decision waived (same columns + decision line)
    fixed: int = 0                       # occurrences inside the pipeline's own fixed text, not counted


@dataclass(frozen=True)
class Scope:
    """What the gate knows about the study: its sites, their languages and the affix rules."""

    site_languages: dict[str, tuple[str, ...]]
    rules: dict[str, LanguageAffixes]

    @property
    def languages(self) -> set[str]:
        return {lang for langs in self.site_languages.values() for lang in langs}

    def unruled(self, langs: set[str] | None = None) -> list[str]:
        """Study languages (or ``langs``) without affix rules: their text is scanned fail-safe."""
        return sorted(l for l in (self.languages if langs is None else langs) if l not in self.rules)

    def where(self, label: str) -> tuple[str, str]:
        """(site, language) of an output file: ``pseudonymised/<site>/<T>.<lang>.txt`` has both, a
        per-site file (``translation/<site>/...``) its site, a study-wide output neither ("")."""
        path = Path(label.split("!", 1)[0])
        site = path.parent.name if path.parent.name in self.site_languages else ""
        parts = path.name.split(".")
        lang = parts[1] if site and len(parts) >= 3 and parts[1] in self.site_languages[site] else ""
        return site, lang


def study_scope(sites: pd.DataFrame, config_affixes: dict | None = None, english: str = "en") -> Scope:
    """The gate's scope from sites.tsv (each site's languages plus English) and the config's affixes."""
    langs = {r.site: tuple(dict.fromkeys([*str(r.languages).split(","), english]))
             for r in sites.itertuples()}
    return Scope(langs, language_rules(config_affixes))


_WORD_REST = regex.compile(r"[\w\p{M}\p{Cf}\u00ad]*")


def _word_at(text: str, start: int) -> str:
    """The whole word that starts at ``start`` (invisible characters inside it removed), lower-cased."""
    return INVISIBLE.sub("", unicodedata.normalize("NFC", _WORD_REST.match(text, start).group())).lower()


def _ordinary(text: str, m, langs: set[str]) -> bool:
    """Whether a partial hit's word is an ordinary word: the whole word, or the word after any
    of the proclitics before the name (ש+מעדיפות, not שמ+עדי+פות), is frequent in the language."""
    return any(is_ordinary(_word_at(text, a), langs) for a in range(m.start, m.name_start + 1))


def _key_site(key: str) -> str:
    return key.split(":")[1]


PART_COLUMNS = HIT_COLUMNS + ["rule", "where", "site", "lang", "before", "after"]
FILE_COLUMNS = ["file", "fixed"]


@dataclass
class ScanPart:
    """What one scan of some files found, before reviewed decisions: what ``combine`` merges.

    ``hits`` has PART_COLUMNS (``before``/``after``: the normalised context either side of the name,
    which decides whether a study-wide copy repeats a waived place), in scan order; ``near`` has one
    row per (token, form) at the token's first place in these files; ``files`` one row per file
    scanned with its occurrences in the pipeline's own text (not counted).
    """

    hits: pd.DataFrame
    near: pd.DataFrame
    files: pd.DataFrame


def scan_files(paths: list[Path], entries: list[Entry], near_threshold: float = 0.92,
               scope: Scope | None = None) -> ScanPart:
    """Find name hits (fail-safe: affixed and partial forms too) and near misses in the given files.

    Not counted: occurrences inside the pipeline's own fixed text (leak_context.FixedText, built only
    when there is a hit to judge). Memory stays bounded by the largest file's text: the matcher sees
    it a window at a time, and a near-miss token keeps its first line, not the text.
    """
    scope = scope or Scope({}, language_rules(None))
    matcher = Matcher(entries, AffixRules(scope.rules))
    strict_all = bool(scope.unruled())
    fixed: FixedText | None = None
    hits, files = [], []
    single = sorted({e.form for e in entries if " " not in e.form and len(e.form) >= 5})
    form_key = {e.form: e.key for e in entries}
    # a listed form holding a markup character (an identifier "A & B"): every page decoded too
    inert = INERT - {ch for e in entries for ch in e.form}
    tokens: dict[str, str] = {}        # token -> the file (label) it first appears in, in path order
    seen_words: set[str] = set()       # whitespace-separated words already tokenised (their tokens are in)
    sources: dict[str, Path] = {}      # label -> its path, to find a near miss's line afterwards
    for path in paths:
        n_fixed = 0
        for label, segments in file_texts(path, inert):
            site, lang = scope.where(label)
            strict = bool(scope.unruled({lang})) if lang else strict_all
            text = _Joined(segments)
            line, pos = 1, 0
            for around, m, lo in _find(matcher, text, fail_safe=True, strict=strict):
                if m.rule == "partial" and _ordinary(around, m, {lang} if lang else scope.languages):
                    continue   # a frequent word of the language that starts like the name (משהו, not משה)
                if fixed is None:
                    fixed = FixedText(matcher)
                if fixed.covers(m.entry.key, around, m.name_start, m.name_end):
                    n_fixed += 1   # the pipeline's own words (a citation, a heading, code), not data
                    continue
                line += text.newlines(pos, lo + m.start)
                pos = lo + m.start
                key_site = _key_site(m.entry.key)
                where = ("study" if not site else
                         "own_site" if key_site in {site, "*"} else "other_site")
                before, after = context(around, m.name_start, m.name_end)
                hits.append({"file": label, "line": line, "key": m.entry.key, "category": m.entry.category,
                             "rule": m.rule, "where": where, "site": site, "lang": lang,
                             "before": before, "after": after})
            new: set[str] = set()
            for seg in segments:
                new |= _tokens(seg, seen_words)
            new -= tokens.keys()
            if new:
                tokens.update(dict.fromkeys(new, label))
                sources[label] = path
            del segments, text
        files.append({"file": str(path), "fixed": n_fixed})
    near_rows = _near_misses(tokens, single, form_key, near_threshold)
    _add_lines(near_rows, sources, inert)
    return ScanPart(pd.DataFrame(hits, columns=PART_COLUMNS), pd.DataFrame(near_rows, columns=NEAR_COLUMNS),
                    pd.DataFrame(files, columns=FILE_COLUMNS))


def _place(df: pd.DataFrame) -> pd.DataFrame:
    """Sort keys for where a row is, in the order one scan of the files in path order visits it."""
    where = [str(f).partition("!") for f in df["file"]]
    return df.assign(_p=[w[0] for w in where], _m=[w[2] for w in where], _l=df["line"].astype(int))


def combine(parts: list[ScanPart], decisions: list[Decision] | None = None) -> GateResult:
    """The gate's result over the files of all ``parts`` (disjoint), as one scan of all of them gives it.

    Hits are pooled in (file, zip member, line) order, then reviewed decisions apply to the pool (a
    study-wide copy is waived where it repeats a waived place in *any* part). A near miss is reported
    at the token's first place over all parts. Parts read back from their TSVs (strings) and parts
    from memory give the same result.
    """
    hits = pd.concat([p.hits.astype({"line": int}) for p in parts], ignore_index=True)
    hits = hits.astype({c: str for c in PART_COLUMNS if c != "line"})
    hits = _place(hits).sort_values(["_p", "_m", "_l"], kind="stable").drop(columns=["_p", "_m", "_l"])
    raw = [{**h, "ctx": (h.pop("before"), h.pop("after"))} for h in hits.to_dict("records")]
    decided = {(d.key, d.site, d.language): d for d in decisions or []}
    kept, waived = _apply_decisions(raw, decided)
    cols = HIT_COLUMNS + ["rule", "where", "site", "lang"]
    hit_df = pd.DataFrame(kept, columns=cols).drop_duplicates()
    waived_df = pd.DataFrame(waived, columns=cols + ["decision_line"]).drop_duplicates()
    near = pd.concat([p.near.astype({"line": int, "similarity": float}) for p in parts], ignore_index=True)
    if len(near):
        near = _place(near).sort_values(["token", "_p", "_m", "_l"], kind="stable")
        first = near.drop_duplicates("token")[["token", "file", "line"]]
        near = near.merge(first, on=["token", "file", "line"]).drop(columns=["_p", "_m", "_l"])
    near = near.sort_values(["file", "token", "form"]).reset_index(drop=True)
    files = pd.concat([p.files.astype({"fixed": int}) for p in parts], ignore_index=True)
    return GateResult(hit_df.sort_values(["file", "line", "key"], kind="stable").reset_index(drop=True), near,
                      len(files), waived_df.sort_values(["file", "line", "key"], kind="stable").reset_index(drop=True),
                      int(files["fixed"].sum()))


def scan(paths: list[Path], entries: list[Entry], near_threshold: float = 0.92,
         scope: Scope | None = None, decisions: list[Decision] | None = None) -> GateResult:
    """Find name hits (fail-safe: affixed and partial forms too) and near misses in the given files.

    Not counted: occurrences inside the pipeline's own fixed text (leak_context.FixedText, built only
    when there is a hit to judge). Waived: hits in another site's text that a reviewed decision covers
    (key, site, language), and hits in outputs of no known language that repeat such a waived
    occurrence (the review page quotes the site's turns). Own-site hits are never waived.
    """
    return combine([scan_files(paths, entries, near_threshold, scope)], decisions)


def _apply_decisions(hits: list[dict], decided: dict[tuple[str, str, str], Decision]) -> tuple[list[dict], list[dict]]:
    """Split hits into kept and waived; a study-wide copy is waived only where it repeats a waived place."""
    kept, waived = [], []
    places: dict[str, list[tuple[tuple[str, str], int]]] = {}
    rest = []
    for h in hits:
        d = decided.get((h["key"], h["site"], h["lang"])) if h["where"] == "other_site" else None
        if d is not None:
            waived.append({**h, "decision_line": d.line})
            places.setdefault(h["key"], []).append((h["ctx"], d.line))
        else:
            rest.append(h)
    for h in rest:
        if h["where"] != "own_site" and not h["lang"]:
            match = [line for ctx, line in places.get(h["key"], []) if same_place(h["ctx"], [ctx])]
            if match:
                waived.append({**h, "decision_line": match[0]})
                continue
        kept.append(h)
    return kept, waived


_TOKEN = regex.compile(r"\p{L}[\p{L}\p{M}'’-]{4,29}(?![\p{L}\p{M}])")
_CHUNK = 1 << 22   # characters per piece of a text listed into words at once (cut at white space)


_SPACE = regex.compile(r"\s")


def _word_chunks(text: str, size: int = _CHUNK):
    """``text`` in pieces of about ``size`` characters, each cut after a white space character (a
    newline-free text, such as a spreadsheet's XML, is cut too: its words would otherwise be listed
    all at once)."""
    start, n = 0, len(text)
    while start < n:
        m = _SPACE.search(text, min(start + size, n))
        end = m.end() if m else n
        yield text[start:end] if (start, end) != (0, n) else text
        start = end


#: Whitespace-separated words remembered across files before the memory is given back (a study's
#: vocabulary is far smaller; a corpus of random strings must not grow the set without bound).
_SEEN_WORDS_MAX = 2_000_000


def _tokens(text: str, seen: set[str] | None = None) -> set[str]:
    """The distinct near-miss candidate words of ``text``: the matches one ``_TOKEN.finditer`` over
    the whole text gives, found word by word instead.

    No match holds white space (the pattern's letters, marks, apostrophes and hyphens are none of
    ``str.split``'s separators) and the pattern looks at nothing before a match, so the matches in the
    text are the matches in each of its whitespace-separated words. Each distinct word is searched
    once, and ``seen`` (kept across the files of a scan) skips the words an earlier text had: the
    derived pages and tables repeat the transcripts' words, so most of the text is never searched.
    """
    seen = set() if seen is None else seen
    found: set[str] = set()
    for piece in _word_chunks(text):
        words = set(piece.split())
        words.difference_update(seen)
        if len(seen) + len(words) > _SEEN_WORDS_MAX:
            seen.clear()
        seen.update(words)
        for word in words:
            found.update(_TOKEN.findall(word))
    return found


def _near_misses(tokens: dict[str, str], forms: list[str], form_key: dict[str, str],
                 threshold: float, block: int = 20000) -> list[dict]:
    """Tokens within Jaro-Winkler ``threshold`` of a one-word name form (not equal to it).

    Jaro-Winkler rewards a shared beginning, so only tokens whose first letter starts some form
    are compared; the comparison runs in blocks to keep memory bounded on large files (the report).
    Rows carry the file the token first appears in; ``_add_lines`` finds the line.
    """
    if not forms or not tokens:
        return []
    initials = {f[0].casefold() for f in forms}
    names = sorted(t for t in tokens if t[0].casefold() in initials)
    rows = []
    for k in range(0, len(names), block):
        chunk = names[k:k + block]
        scores = process.cdist(chunk, forms, scorer=JaroWinkler.normalized_similarity,
                               score_cutoff=threshold, processor=str.casefold, workers=1)
        for i, j in zip(*scores.nonzero()):
            tok, form = chunk[i], forms[j]
            if tok.casefold() == form.casefold():
                continue
            rows.append({"file": tokens[tok], "line": 0, "key": form_key[form],
                         "token": tok, "form": form, "similarity": round(float(scores[i, j]), 3)})
    return rows


def _add_lines(rows: list[dict], sources: dict[str, Path], inert: frozenset[str] = INERT) -> None:
    """Set each near miss's line: where its token first appears in its file (the file read again,
    once, only when it holds a near miss; the scan keeps no text alive for this)."""
    wanted: dict[str, set[str]] = {}
    for r in rows:
        wanted.setdefault(r["file"], set()).add(r["token"])
    lines: dict[tuple[str, str], int] = {}
    for label, toks in wanted.items():
        segments = next(segs for lab, segs in file_texts(sources[label], inert) if lab == label)
        line, left = 1, set(toks)
        for seg in segments:           # a markup file's unescaped copy follows its text after a newline
            pos = 0
            for tm in _TOKEN.finditer(seg):
                if tm.group() in left:
                    line += seg.count("\n", pos, tm.start())
                    pos = tm.start()
                    lines[(label, tm.group())] = line
                    left.discard(tm.group())
                    if not left:
                        break
            if not left:
                break
            line += seg.count("\n", pos) + 1
    for r in rows:
        r["line"] = lines[(r["file"], r["token"])]


def results_files(root: Path) -> list[Path]:
    """Every file under results/ (hidden temporary files too: nothing escapes the gate)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def load_entries(sites_path: str | Path, roster_path: str | Path, identifiers_path: str | Path) -> list[Entry]:
    """The gate's entries from the study's tables (every site's names)."""
    sites = read_sites(sites_path)
    return gate_entries(read_roster(roster_path, sites), read_identifiers(identifiers_path, sites))


DECISIONS_HINT = "data/restricted/gate_decisions.tsv"


def _resolution(r, scope: Scope | None) -> str:
    """How to resolve one kind of hit: the message's second half."""
    where = getattr(r, "where", "study")
    lang = getattr(r, "lang", "") or ""
    if getattr(r, "rule", "exact") == "partial":
        lang_txt = f"language {lang}" if lang else "the text's language"
        fix = (f"it starts a longer word: if that word is the name with an ending, add the ending under "
               f"`affixes: {lang or '<lang>'}: suffixes` in config/config.yaml ({lang_txt}) so "
               "pseudonymisation replaces the name and keeps the ending")
    else:
        fix = "add the written form as an alias so pseudonymisation replaces it"
    if where == "own_site":
        return f"in the name's own site ({r.site}): {fix}, then re-run (a hit in the name's own site cannot be waived)"
    if where == "other_site":
        return (f"in another site's text ({r.site}{', ' + lang if lang else ''}): {fix}; or, if there it is an "
                f"ordinary word and not the person, record a reviewed decision in {DECISIONS_HINT} "
                f"(key {r.key}, site {r.site}, language {lang or '<lang>'}, decision not_a_name, reason), then re-run")
    return (f"in a study-wide output: {fix}, then re-run (a study-wide hit is waived only where it repeats another "
            f"site's text covered by a reviewed decision in {DECISIONS_HINT})")


def leak_problems(hits: pd.DataFrame, scope: Scope | None = None) -> list[Problem]:
    """One line per file and key (its first line), so a systematic leak does not bury the rest."""
    if hits.empty:
        return []
    hits = hits.copy()
    for col, default in (("rule", "exact"), ("where", "study"), ("site", ""), ("lang", "")):
        if col not in hits:
            hits[col] = default
    hits["partial"] = hits["rule"] == "partial"
    first = hits.groupby(["file", "key", "category", "partial"], sort=True).agg(
        line=("line", "min"), n=("line", "size"), rule=("rule", "first"), where=("where", "first"),
        site=("site", "first"), lang=("lang", "first")).reset_index().sort_values(["file", "line", "key"])
    kind = {True: "a roster or identifiers name at the start of a longer word", False: "a name from the roster "
            "or identifiers list"}
    return [Problem(r.file, int(r.line), f"contains {kind[bool(r.partial)]} ({r.key}, {r.category}; {r.n} place(s) "
                                         f"in this file), {_resolution(r, scope)}")
            for r in first.itertuples()]


DECISION_SUMMARY = ["key", "site", "language", "decision", "waived", "files"]


def decision_summary(decisions: list[Decision], waived: pd.DataFrame | None) -> pd.DataFrame:
    """One row per reviewed decision and how many hits it waived (key ids only, no reason text)."""
    rows = []
    for d in decisions:
        w = waived[waived["decision_line"] == d.line] if waived is not None and len(waived) else waived
        n = 0 if w is None else len(w)
        files = 0 if w is None or not n else w["file"].nunique()
        rows.append({"key": d.key, "site": d.site, "language": d.language, "decision": d.decision,
                     "waived": n, "files": files})
    return pd.DataFrame(rows, columns=DECISION_SUMMARY)


def read_part(hits: str | Path, near: str | Path, files: str | Path) -> ScanPart:
    """A scan part as ``scan_part`` wrote it (restricted/leak/...)."""
    return ScanPart(read_results_tsv(hits), read_results_tsv(near), read_results_tsv(files))


def _check_coverage(result_files: list[str], expected: list[str]) -> None:
    """Every gated output scanned exactly once: a file no part scanned would escape the gate."""
    seen = pd.Series(result_files, dtype=str)
    twice = sorted(set(seen[seen.duplicated()]))
    missing = sorted(set(expected) - set(seen))
    if twice or missing:
        raise RuntimeError(f"leak gate: {len(missing)} shareable output(s) scanned by no leak_scan job "
                           f"({', '.join(missing[:3])}) and {len(twice)} scanned twice ({', '.join(twice[:3])}): "
                           "the parts in workflow/rules/gate.smk do not cover results/")


def gate(sites_path, roster_path, identifiers_path, files: list[Path], affixes: dict | None = None,
         english: str = "en", decisions_path: str | Path | None = None, parts: list[ScanPart] = (),
         expected: list[str] | None = None) -> tuple[GateResult, Scope, list[Decision]]:
    """Load the study's names, scope and reviewed decisions, scan ``files`` and merge ``parts`` (the
    workflow's ``leak_scan_*`` jobs' tables): one result, as one scan of every file gives it.
    ``expected``: the files the parts and ``files`` together must cover, each once."""
    sites = read_sites(sites_path)
    scope = study_scope(sites, affixes, english)
    if scope.unruled():
        log.warning("no affix rules for %s: names at the start of a longer word in that text count as hits "
                    "(add `affixes:` for the language in config/config.yaml)", ", ".join(scope.unruled()))
    entries = load_entries(sites_path, roster_path, identifiers_path)
    decisions = read_decisions(decisions_path, scope.site_languages, {e.key for e in entries})
    here = [scan_files(files, entries, scope=scope)] if files or not parts else []
    if expected is not None:
        _check_coverage([f for p in [*here, *parts] for f in p.files["file"]], expected)
    result = combine([*here, *parts], decisions)
    log.info("leak gate: %d files scanned (%d here, the rest by %d scan jobs), %d hits, %d waived by %d reviewed "
             "decision(s), %d in the pipeline's own text, %d near misses (restricted/)", result.files, len(files),
             len(parts), len(result.hits), len(result.waived), len(decisions), result.fixed, len(result.near))
    return result, scope, decisions


def run_gate(sites_path: str, roster_path: str, identifiers_path: str, files: list[str],
             out_hits: str, out_near: str, affixes: dict | None = None, english: str = "en",
             decisions_path: str | None = None, out_decisions: str | None = None,
             parts: list[tuple[str, str, str]] = (), expected: list[str] | None = None) -> None:
    """The workflow's last step: fail with one line per leak, else write the (empty) leak table and
    the reviewed decisions with the number of hits each waived (the manifest records them).

    ``parts``: (hits, near misses, files) tables of the ``leak_scan_*`` jobs (``scan_part``) for the
    outputs not in ``files``; ``expected``: every gated output, each of which some part scanned.
    """
    result, scope, decisions = gate(sites_path, roster_path, identifiers_path, [Path(f) for f in files],
                                    affixes, english, decisions_path, [read_part(*t) for t in parts], expected)
    write_tsv(result.near, out_near)
    raise_if(leak_problems(result.hits, scope))
    if out_decisions:
        write_tsv(decision_summary(decisions, result.waived), out_decisions)
    write_tsv(result.hits[HIT_COLUMNS], out_hits)


def scan_part(sites_path: str, roster_path: str, identifiers_path: str, files: list[str], out_hits: str,
              out_near: str, out_files: str, affixes: dict | None = None, english: str = "en") -> None:
    """One share of the gate (a site's own outputs, or one study-wide rule's), scanned for every
    site's names as soon as those files exist; the tables go to restricted/ (they name hits and
    their context). Never fails by itself: ``run_gate`` applies the decisions and reports every leak."""
    scope = study_scope(read_sites(sites_path), affixes, english)
    part = scan_files([Path(f) for f in files], load_entries(sites_path, roster_path, identifiers_path), scope=scope)
    write_tsv(part.hits, out_hits)
    write_tsv(part.near, out_near)
    write_tsv(part.files, out_files)
    log.info("leak scan: %d files, %d hits before reviewed decisions, %d in the pipeline's own text, %d near "
             "misses", len(part.files), len(part.hits), int(part.files["fixed"].sum()), len(part.near))


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m qualflow.leaks [results/ ...]`` — scan files or folders after the workflow
    (e.g. the HTML report), with the config's roster and identifiers."""
    import argparse

    import yaml

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("paths", nargs="*", default=["results"])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--near", default=None,
                    help="where to write the near misses (default: <restricted_out>/leak_near_misses_scan.tsv; "
                         "identifying, so never under results/)")
    args = ap.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    near_out = args.near or f"{config.get('restricted_out', 'restricted')}/leak_near_misses_scan.tsv"
    files: list[Path] = []
    for p in map(Path, args.paths):
        files.extend(results_files(p) if p.is_dir() else [p])

    def check() -> None:
        result, scope, _ = gate(config.get("sites", "config/sites.tsv"),
                                config.get("roster", "data/restricted/roster.tsv"),
                                config.get("identifiers", "data/restricted/identifiers.tsv"), files,
                                config.get("affixes"), config.get("english", "en"),
                                config.get("gate_decisions", DECISIONS_HINT))
        # A near miss (a spelling close to a name) is itself identifying: it goes to restricted/, and
        # the console names only the file (the workflow's own gate writes restricted/leak_near_misses.tsv).
        write_tsv(result.near, near_out)
        log.info("leak gate: %d near misses (spellings close to a name; check them) in %s",
                 len(result.near), near_out)
        raise_if(leak_problems(result.hits, scope))

    from .runner import run
    run(check)   # prints one line per problem and exits 1 on a leak or a bad roster
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
