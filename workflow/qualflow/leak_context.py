"""What the leak gate looks at around a hit: the pipeline's own words, and reviewed decisions.

Two ways a hit may be no leak, both decided from the text *around* the name, never from the name:

- **The pipeline's own fixed text.** Markup (``<meta charset>``), fixed headings, citations (the
  Krippendorff 2004 reference's publisher, Sage) and code are not text a participant wrote. Tag and
  attribute names are blanked before the scan, and a hit whose surroundings repeat an occurrence of
  the name in the pipeline's own text — the string constants of its code, its rules, templates and
  report captions, and Snakemake's report assets — is not counted. The same name inside data-derived
  text has other surroundings and is still a hit.
- **A reviewed decision** (``data/restricted/gate_decisions.tsv``): a term that is an ordinary word in
  another site's language (a facilitator alias "Ana" and Kiswahili *ana* "has"). A decision names the
  term's key id and the scope where it holds (site and language); the gate honours it for hits in that
  site's text of that language, and for study-wide outputs only where they repeat such a waived
  occurrence. A hit in the name's own site is never waived.
"""
from __future__ import annotations

import ast
import functools
import html
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import regex

from .errors import Problem, raise_if
from .names import INVISIBLE
from .tables import read_tsv

MARKUP_SUFFIXES = {".html", ".htm", ".svg", ".xml", ".qde"}
# Characters of context either side of a hit, and how many must agree for "the same place".
WIDTH = 32
SAME_PLACE = 16

_TAG = regex.compile(r"<[!?/]?[A-Za-z][^<>]*>")
_TAG_NAME = regex.compile(r"^<[!?/]?[\w:.-]+")
_ATTR_NAME = regex.compile(r"(?<=[\s\"'])[\w:.-]+(?=\s*=)|(?<=\s)[\w:.-]+(?=\s|/?>$)")


def _spaces(m: regex.Match) -> str:
    return " " * len(m.group())


def _blank_tag(m: regex.Match) -> str:
    tag = _TAG_NAME.sub(_spaces, m.group())
    return _ATTR_NAME.sub(_spaces, tag)


def blank_markup(text: str) -> str:
    """Tag and attribute names replaced by spaces (same length and lines); values and text kept."""
    return _TAG.sub(_blank_tag, text)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(INVISIBLE.sub("", text).split()).lower()


def context(text: str, start: int, end: int, width: int = WIDTH) -> tuple[str, str]:
    """Normalised text just before and just after [start, end) (entities decoded, spaces folded)."""
    left = _norm(text[max(0, start - 4 * width):start] + "\u0001")[:-1]   # keep a trailing space
    right = _norm("\u0001" + text[end:end + 4 * width])[1:]
    return left[-width:], right[:width]


def _agree(a: tuple[str, str], b: tuple[str, str]) -> int:
    """How many context characters two occurrences share, outward from the name."""
    n = 0
    for x, y in zip(reversed(a[0]), reversed(b[0])):
        if x != y:
            break
        n += 1
    for x, y in zip(a[1], b[1]):
        if x != y:
            break
        n += 1
    return n


def same_place(ctx: tuple[str, str], known: list[tuple[str, str]], needed: int = SAME_PLACE) -> bool:
    """Whether a hit's context repeats one of ``known`` (``needed`` characters, or all a short one has)."""
    for k in known:
        n = _agree(ctx, k)
        if n >= needed or (n == len(k[0]) + len(k[1]) and n >= 6):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The pipeline's own text

_TEXT_SUFFIXES = {".smk", ".rst", ".html", ".css", ".js", ".jinja2", ".svg", ".yaml", ".yml", ".md"}


def _constants(source: str) -> list[str]:
    """Every string constant of a Python module (f-string pieces too); comments are not text it writes."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [source]
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@functools.cache
def pipeline_texts() -> tuple[str, ...]:
    """The fixed text the pipeline itself writes: its code's string constants, its rules, templates,
    schemas and report captions, and Snakemake's report templates and assets."""
    workflow = Path(__file__).resolve().parents[1]
    roots = [workflow]
    try:
        import snakemake
        pkg = Path(snakemake.__file__).resolve().parent
        roots += [pkg / "report", pkg / "assets"]
    except ImportError:   # pragma: no cover
        pass
    texts: list[str] = []
    snakefile = workflow.parent / "Snakefile"
    if snakefile.is_file():
        texts.append(snakefile.read_text(encoding="utf-8", errors="replace"))
    for root in roots:
        for p in sorted(root.rglob("*")):
            if not p.is_file() or "__pycache__" in p.parts or any(x.endswith(".egg-info") for x in p.parts):
                continue
            if p.suffix == ".py":
                texts.extend(_constants(p.read_text(encoding="utf-8", errors="replace")))
            elif p.suffix in _TEXT_SUFFIXES:
                texts.append(p.read_text(encoding="utf-8", errors="replace"))
    return tuple(texts)


class FixedText:
    """Where each roster or identifier term occurs in the pipeline's own text, by its context."""

    def __init__(self, matcher, texts: tuple[str, ...] | None = None) -> None:
        self._ctx: dict[str, list[tuple[str, str]]] = {}
        self._words: dict[str, set[str]] = {}   # whole lower-case constants: package names, CSS classes
        for text in (pipeline_texts() if texts is None else texts):
            for m in matcher.find(text, fail_safe=True):
                if m.name_start == 0 and m.name_end == len(text) and text.islower():
                    self._words.setdefault(m.entry.key, set()).add(text)
                else:
                    self._ctx.setdefault(m.entry.key, []).append(context(text, m.name_start, m.name_end))

    def covers(self, key: str, text: str, start: int, end: int) -> bool:
        """Whether the name at [start, end) of an output sits in a copy of the pipeline's own text.

        Either its surroundings repeat an occurrence in that text, or it is, letter for letter, a
        lower-case word the pipeline writes on its own (the package ``krippendorff``; a participant
        Krippendorff is written with a capital)."""
        if text[start:end] in self._words.get(key, ()):
            return True
        known = self._ctx.get(key)
        return bool(known) and same_place(context(text, start, end), known)


# ---------------------------------------------------------------------------------------------
# Reviewed decisions

DECISION_COLUMNS = ["key", "site", "language", "decision", "reason"]


@dataclass(frozen=True)
class Decision:
    """A reviewed exception: the term ``key`` is not the person in ``site``'s text of ``language``."""

    key: str
    site: str
    language: str
    decision: str
    reason: str
    line: int


def read_decisions(path: str | Path | None, site_languages: dict[str, tuple[str, ...]],
                   keys: set[str]) -> list[Decision]:
    """Read and check the decisions file (absent = no decisions); one problem line per bad row."""
    if not path or not Path(path).is_file():
        return []
    df = read_tsv(path, "gate_decisions.schema.yaml", allow_empty=True)
    out: list[Decision] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], int] = {}
    for r in df.to_dict("records"):
        line = int(r["_line"])
        key, site, lang = r["key"], r["site"], r["language"]
        if key not in keys:
            problems.append(Problem(str(path), line, f"key {key!r} is no roster or identifiers term: copy the key id "
                                                     "from the leak gate's message (roster:<site>:<n>, "
                                                     "identifiers:<site>:<line>)"))
            continue
        if site not in site_languages:
            problems.append(Problem(str(path), line, f"site {site!r} is not in the sites table: give the site whose "
                                                     "text the hit is in"))
            continue
        if lang not in site_languages[site]:
            problems.append(Problem(str(path), line, f"language {lang!r} is not a language of {site} "
                                                     f"({', '.join(site_languages[site])}): give the language of "
                                                     "the text the hit is in"))
            continue
        if key.split(":")[1] in {site, "*"}:
            problems.append(Problem(str(path), line, f"{key} is a term of {site} itself: a hit in the name's own site "
                                                     "cannot be waived; add the written form as an alias (or the "
                                                     "ending under affixes:) so pseudonymisation replaces it"))
            continue
        if (key, site, lang) in seen:
            problems.append(Problem(str(path), line, f"{key} for {site}/{lang} is decided twice (also line "
                                                     f"{seen[(key, site, lang)]}): keep one row"))
            continue
        seen[(key, site, lang)] = line
        out.append(Decision(key, site, lang, r["decision"], r["reason"], line))
    raise_if(problems)
    return out
