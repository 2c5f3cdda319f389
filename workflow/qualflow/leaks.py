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

import html
import logging
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import regex
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from .affixes import LanguageAffixes, language_rules
from .errors import Problem, raise_if
from .names import AffixRules, Entry, Matcher
from .leak_context import MARKUP_SUFFIXES, Decision, FixedText, blank_markup, context, read_decisions, same_place
from .names import INVISIBLE
from .study import Identifier, Person, read_identifiers, read_roster, read_sites
from .tables import write_tsv
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


def file_texts(path: Path) -> list[tuple[str, str]]:
    """(label, text) pairs to scan for one file: a zip yields one per member."""
    data = path.read_bytes()
    if path.suffix.lower() in ZIP_SUFFIXES and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return [(f"{path}!{name}", z.read(name).decode("utf-8", "replace"))
                    for name in sorted(z.namelist()) if not name.endswith("/")]
    if data.startswith(b"\x89PNG"):
        return [(str(path), _png_text(data))]
    text = data.decode("utf-8", "replace")
    if path.suffix.lower() in MARKUP_SUFFIXES:
        text = blank_markup(text)   # tag and attribute names are the format's words, not data (<meta>)
    if path.suffix.lower() in MARKUP_SUFFIXES | {".ipynb"}:
        # Entities (&#1502;) would hide Hebrew names from a plain scan.
        text = text + "\n" + html.unescape(text)
    return [(str(path), text)]


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


def scan(paths: list[Path], entries: list[Entry], near_threshold: float = 0.92,
         scope: Scope | None = None, decisions: list[Decision] | None = None) -> GateResult:
    """Find name hits (fail-safe: affixed and partial forms too) and near misses in the given files.

    Not counted: occurrences inside the pipeline's own fixed text (leak_context.FixedText, built only
    when there is a hit to judge). Waived: hits in another site's text that a reviewed decision covers
    (key, site, language), and hits in outputs of no known language that repeat such a waived
    occurrence (the review page quotes the site's turns). Own-site hits are never waived.
    """
    scope = scope or Scope({}, language_rules(None))
    matcher = Matcher(entries, AffixRules(scope.rules))
    strict_all = bool(scope.unruled())
    decided = {(d.key, d.site, d.language): d for d in decisions or []}
    fixed: FixedText | None = None
    n_fixed = 0
    hits = []
    single = sorted({e.form for e in entries if " " not in e.form and len(e.form) >= 5})
    form_key = {e.form: e.key for e in entries}
    tokens: dict[str, str] = {}        # token -> the file (label) it first appears in, in path order
    sources: dict[str, Path] = {}      # label -> its path, to find a near miss's line afterwards
    for path in paths:
        for label, text in file_texts(path):
            site, lang = scope.where(label)
            strict = bool(scope.unruled({lang})) if lang else strict_all
            for m in matcher.find(text, fail_safe=True, strict=strict):
                if m.rule == "partial" and _ordinary(text, m, {lang} if lang else scope.languages):
                    continue   # a frequent word of the language that starts like the name (משהו, not משה)
                if fixed is None:
                    fixed = FixedText(matcher)
                if fixed.covers(m.entry.key, text, m.name_start, m.name_end):
                    n_fixed += 1   # the pipeline's own words (a citation, a heading, code), not data
                    continue
                line = text.count("\n", 0, m.start) + 1
                key_site = _key_site(m.entry.key)
                where = ("study" if not site else
                         "own_site" if key_site in {site, "*"} else "other_site")
                hits.append({"file": label, "line": line, "key": m.entry.key, "category": m.entry.category,
                             "rule": m.rule, "where": where, "site": site, "lang": lang,
                             "ctx": context(text, m.name_start, m.name_end)})
            new = _tokens(text) - tokens.keys()
            if new:
                tokens.update(dict.fromkeys(new, label))
                sources[label] = path
    kept, waived = _apply_decisions(hits, decided)
    near_rows = _near_misses(tokens, single, form_key, near_threshold)
    _add_lines(near_rows, sources)
    cols = HIT_COLUMNS + ["rule", "where", "site", "lang"]
    hit_df = pd.DataFrame(kept, columns=cols).drop_duplicates()
    waived_df = pd.DataFrame(waived, columns=cols + ["decision_line"]).drop_duplicates()
    near_df = pd.DataFrame(near_rows, columns=NEAR_COLUMNS).sort_values(["file", "token", "form"])
    return GateResult(hit_df.sort_values(["file", "line", "key"], kind="stable"), near_df, len(paths),
                      waived_df.sort_values(["file", "line", "key"], kind="stable"), n_fixed)


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
_CHUNK = 1 << 22   # characters per findall: a token never spans a line end, so lines are cut there


def _chunks(text: str, size: int = _CHUNK):
    """``text`` in pieces of about ``size`` characters, each ending at a line end (or the text's)."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", min(start + size, n)) + 1 or n
        yield text[start:end] if (start, end) != (0, n) else text
        start = end


def _tokens(text: str) -> set[str]:
    """The distinct near-miss candidate words of ``text``: the matches one ``_TOKEN.finditer`` over
    the whole text gives (the pattern looks at nothing before a match, and no match holds a line
    end), collected a chunk at a time in C (``findall``) instead of one Python step per word."""
    found: set[str] = set()
    for piece in _chunks(text):
        found.update(_TOKEN.findall(piece))
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


def _add_lines(rows: list[dict], sources: dict[str, Path]) -> None:
    """Set each near miss's line: where its token first appears in its file (the file read again,
    once, only when it holds a near miss; the scan keeps no text alive for this)."""
    wanted: dict[str, set[str]] = {}
    for r in rows:
        wanted.setdefault(r["file"], set()).add(r["token"])
    lines: dict[tuple[str, str], int] = {}
    for label, toks in wanted.items():
        text = next(t for lab, t in file_texts(sources[label]) if lab == label)
        line, pos, left = 1, 0, set(toks)
        for tm in _TOKEN.finditer(text):
            if tm.group() in left:
                line += text.count("\n", pos, tm.start())
                pos = tm.start()
                lines[(label, tm.group())] = line
                left.discard(tm.group())
                if not left:
                    break
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


def gate(sites_path, roster_path, identifiers_path, files: list[Path], affixes: dict | None = None,
         english: str = "en", decisions_path: str | Path | None = None) -> tuple[GateResult, Scope, list[Decision]]:
    """Load the study's names, scope and reviewed decisions, and scan ``files``."""
    sites = read_sites(sites_path)
    scope = study_scope(sites, affixes, english)
    if scope.unruled():
        log.warning("no affix rules for %s: names at the start of a longer word in that text count as hits "
                    "(add `affixes:` for the language in config/config.yaml)", ", ".join(scope.unruled()))
    entries = load_entries(sites_path, roster_path, identifiers_path)
    decisions = read_decisions(decisions_path, scope.site_languages, {e.key for e in entries})
    result = scan(files, entries, scope=scope, decisions=decisions)
    log.info("leak gate: %d files scanned, %d hits, %d waived by %d reviewed decision(s), %d in the pipeline's "
             "own text, %d near misses (restricted/)", result.files, len(result.hits), len(result.waived),
             len(decisions), result.fixed, len(result.near))
    return result, scope, decisions


def run_gate(sites_path: str, roster_path: str, identifiers_path: str, files: list[str],
             out_hits: str, out_near: str, affixes: dict | None = None, english: str = "en",
             decisions_path: str | None = None, out_decisions: str | None = None) -> None:
    """The workflow's last step: fail with one line per leak, else write the (empty) leak table and
    the reviewed decisions with the number of hits each waived (the manifest records them)."""
    result, scope, decisions = gate(sites_path, roster_path, identifiers_path, [Path(f) for f in files],
                                    affixes, english, decisions_path)
    write_tsv(result.near, out_near)
    raise_if(leak_problems(result.hits, scope))
    if out_decisions:
        write_tsv(decision_summary(decisions, result.waived), out_decisions)
    write_tsv(result.hits[HIT_COLUMNS], out_hits)


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
