"""Stage 3: replace every listed name in a site's transcripts, consistently across languages.

Participants become their site-local code (``P09``) as speaker labels and inside speech; third
parties, places, hospitals and organisations become ``[TP03]``, ``[PLACE_01]``, ``[HOSPITAL_01]``,
``[ORG_01]``, numbered per site in the order of identifiers.tsv (site rows, then ``*`` rows), so a
placeholder never changes when a transcript is added and is identical in the local and English files.
E-mail addresses and phone numbers become ``[EMAIL]`` and ``[PHONE]``. The key, the replacement log and
the list of words a person should review (qualflow.candidates) go to restricted/, never results/.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import regex

from .affixes import language_rules
from .candidates import review_candidates  # noqa: F401  (re-exported: the stage's review list)
from .names import AffixRules, Entry, Matcher
from .study import Identifier, Person, SpeakerIndex, read_identifiers, read_roster, read_sites
from .tables import read_results_tsv, roundtrip_tsv, write_text, write_tsv

log = logging.getLogger("qualflow.pseudonymise")

PREFIX = {"person": "TP", "place": "PLACE_", "hospital": "HOSPITAL_", "organisation": "ORG_", "other": "OTHER_"}
EMAIL = regex.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = regex.compile(r"(?<![\w+])\+?\d(?:[\d \-/().]{6,}\d)(?!\w)")
TURN_COLUMNS = ["turn", "speaker", "text", "line", "kind", "timestamp", "role", "offset_start", "offset_end"]
@dataclass(frozen=True)
class KeyRow:
    """One line of the pseudonym key (restricted)."""

    site: str
    key: str
    placeholder: str
    category: str
    name: str
    forms: str
    source_line: int


def site_entries(site: str, people: list[Person], identifiers: list[Identifier]) -> tuple[list[Entry], list[KeyRow]]:
    """Every form to replace in a site's transcripts, and the key that explains each placeholder."""
    entries: list[Entry] = []
    key: list[KeyRow] = []
    for p in people:
        if p.site != site:
            continue
        k = f"roster:{site}:{p.participant}"
        cat = "facilitator" if p.is_facilitator else "participant"
        for form in p.forms:
            entries.append(Entry(form, k, cat, p.code, p.case_sensitive))
        key.append(KeyRow(site, k, p.code, cat, p.name, "|".join(p.aliases), p.line))
    counters: Counter[str] = Counter()
    ordered = [i for i in identifiers if i.site == site] + [i for i in identifiers if i.site == "*"]
    for ident in ordered:
        counters[ident.category] += 1
        placeholder = f"[{PREFIX[ident.category]}{counters[ident.category]:02d}]"
        k = f"identifiers:{site}:{placeholder}"   # stable across edits elsewhere in the list
        for form in ident.forms:
            entries.append(Entry(form, k, ident.category, placeholder, ident.case_sensitive))
        key.append(KeyRow(site, k, placeholder, ident.category, ident.term, "|".join(ident.aliases), ident.line))
    return entries, key


def replace_text(text: str, matcher: Matcher) -> tuple[str, list[dict]]:
    """Replace e-mails, phone numbers and listed names; return the new text and one log row each."""
    spans: list[tuple[int, int, str, str, str]] = []   # start, end, placeholder, rule, key
    for pattern, placeholder, rule in ((EMAIL, "[EMAIL]", "email"), (PHONE, "[PHONE]", "phone")):
        for m in pattern.finditer(text):
            if rule == "phone" and sum(c.isdigit() for c in m.group()) < 8:
                continue
            spans.append((m.start(), m.end(), placeholder, rule, rule))
    taken = [(a, b) for a, b, *_ in spans]
    for m in matcher.find(text):
        if any(m.start < b and a < m.end for a, b in taken):
            continue
        # The affixes stay around the placeholder: P01s, ולP01, P02ला.
        spans.append((m.start, m.end, m.replaced(text, m.entry.placeholder), m.rule, m.entry.key))
    spans.sort()
    out, pos, rows = [], 0, []
    for a, b, placeholder, rule, key in spans:
        out.append(text[pos:a])
        out.append(placeholder)
        rows.append({"offset": a, "original": text[a:b], "placeholder": placeholder, "rule": rule, "key": key})
        pos = b
    out.append(text[pos:])
    return "".join(out), rows


def render_txt(meta: dict, lang: str, turns: pd.DataFrame) -> tuple[str, list[tuple[int, int]]]:
    """The shareable transcript as text (front matter + ``P09: text`` paragraphs) and each turn's
    text offsets in it, so coders' offsets in a QDA tool map back to turns exactly."""
    head = ["---", f"kind: {meta.get('kind', '')}", f"date: {meta.get('date', '')}"]
    if meta.get("wave"):
        head.append(f"wave: {meta['wave']}")
    head += [f"language: {lang}", "---", ""]
    text = "\n".join(head)
    offsets = []
    parts = []
    pos = len(text)
    for r in turns.itertuples():
        prefix = "" if r.kind == "marker" else (f"{r.speaker}: " if r.text else f"{r.speaker}:")
        start = pos + len(prefix)
        offsets.append((start, start + len(r.text)))
        para = prefix + r.text
        parts.append(para)
        pos += len(para) + 2
    return text + "\n\n".join(parts) + "\n", offsets


def pseudonymise_transcript(turns: pd.DataFrame, site: str, index: SpeakerIndex, matcher: Matcher,
                            file_id: str) -> tuple[pd.DataFrame, list[dict]]:
    """Pseudonymise one parsed turn table: speaker labels to codes, names in text to placeholders."""
    rows, log_rows = [], []
    for r in turns.itertuples():
        speaker, role = "", ""
        if r.kind == "speech":
            person = index.resolve(site, r.speaker)
            if person is None:   # validated before; a parsed table edited by hand would land here
                raise ValueError(f"{file_id}: speaker not in roster at turn {r.turn}")
            speaker, role = person.code, person.role
            log_rows.append({"file": file_id, "turn": r.turn, "offset": -1, "original": r.speaker,
                             "placeholder": speaker, "rule": "speaker", "key": f"roster:{site}:{person.participant}"})
        text, reps = replace_text(r.text, matcher)
        for rep in reps:
            log_rows.append({"file": file_id, "turn": r.turn, **rep})
        rows.append({"turn": r.turn, "speaker": speaker, "text": text, "line": r.line, "kind": r.kind,
                     "timestamp": r.timestamp, "role": role})
    return pd.DataFrame(rows, columns=TURN_COLUMNS[:-2]), log_rows


def parse_sources(site: str, sources: list[str]) -> tuple[list[tuple[str, str, pd.DataFrame]], pd.DataFrame]:
    """Every transcript file of a site parsed (stage 2, qualflow.transcripts): its turn tables as
    (transcript, lang, turns) in (transcript, lang) order, and the site's index (transcripts.tsv).

    All or nothing: every file is parsed before anything is written. The tables are given exactly as
    a TSV written and read back would give them (strings, turn numbers as int), which is what this
    stage read when parsing was a job of its own (changed: issue 14, one job per site fewer)."""
    from .transcripts import INDEX_COLUMNS, index_row, read_transcript

    parsed = sorted((read_transcript(src, site) for src in sources), key=lambda t: (t.transcript, t.lang))
    turns = []
    for t in parsed:
        df = roundtrip_tsv(t.frame())
        df["turn"] = df["turn"].astype(int)
        turns.append((t.transcript, t.lang, df))
    index = pd.DataFrame([index_row(t) for t in parsed], columns=INDEX_COLUMNS)
    for r in index.itertuples():
        log.info("%s: %d turns (%d speech)", r.source, r.turns, r.speech_turns)
    return turns, index


def pseudonymise_site(site: str, sites_path: str, roster_path: str, identifiers_path: str,
                      sources: list[str], index_path: str, out_tsv: list[str], out_txt: list[str],
                      counts_path: str, key_path: str, log_path: str, review_path: str,
                      english: str = "en", affixes: dict | None = None) -> None:
    """Parse and pseudonymise every transcript of one site; write shareable files to results/ and the
    parse index and key/log/review to restricted/.

    Names carry the affixes of the site's languages and English (qualflow.affixes, extended by the
    config's ``affixes:``); a language without rules is pseudonymised with plain word boundaries, and
    the leak gate then stops on any name that starts a longer word in its text.
    """
    parsed, parse_index = parse_sources(site, sources)
    sites = read_sites(sites_path)
    people = read_roster(roster_path, sites)
    identifiers = read_identifiers(identifiers_path, sites)
    entries, key = site_entries(site, people, identifiers)
    row = sites[sites["site"] == site]
    langs = list(dict.fromkeys([*(str(row["languages"].iloc[0]).split(",") if len(row) else []), english]))
    rules = language_rules(affixes)
    missing = [l for l in langs if l not in rules]
    if missing:
        log.warning("%s: no affix rules for language(s) %s: a name with an ending attached is not replaced "
                    "there, and the leak gate will stop on it; add them under `affixes:` in config/config.yaml",
                    site, ", ".join(missing))
    matcher = Matcher(entries, AffixRules({l: rules[l] for l in langs if l in rules}))
    index = SpeakerIndex(people)
    meta = roundtrip_tsv(parse_index).set_index(["transcript", "lang"])
    allow = {w.casefold() for s in sites.itertuples() for w in (s.name, s.country, *s.name.split())}
    results: dict[tuple[str, str], pd.DataFrame] = {}
    all_log: list[dict] = []
    texts: dict[tuple[str, str], str] = {}
    for t, lang, turns in parsed:
        df, rows = pseudonymise_transcript(turns, site, index, matcher, f"{site}/{t}.{lang}")
        m = meta.loc[(t, lang)]
        text, offsets = render_txt({"kind": m["kind"], "date": m["date"], "wave": m["wave"]}, lang, df)
        df["offset_start"] = [a for a, _ in offsets]
        df["offset_end"] = [b for _, b in offsets]
        results[(t, lang)] = df
        texts[(t, lang)] = text
        all_log.extend(rows)
        log.info("%s/%s.%s: %d turns, %d replacements", site, t, lang, len(df),
                 sum(1 for r in rows if r["rule"] != "speaker"))
    review = review_candidates(site, results, english, allow, {l: rules[l] for l in langs if l in rules})
    for out in out_tsv:
        t, lang = Path(out).name.split(".")[:2]
        write_tsv(results[(t, lang)], out)
    for out in out_txt:
        t, lang = Path(out).name.split(".")[:2]
        write_text(texts[(t, lang)], out)
    log_df = pd.DataFrame(all_log, columns=["file", "turn", "offset", "original", "placeholder", "rule", "key"])
    cat = {k.key: k.category for k in key}
    cat.update({"email": "email", "phone": "phone"})
    counts = (log_df.assign(category=log_df["key"].map(cat), transcript=log_df["file"].str.split("/").str[1])
              .groupby(["transcript", "category"]).size().rename("replacements").reset_index())
    counts.insert(0, "site", site)
    # the transcript's wave (front matter; "" in a study without waves), from the parse index
    counts.insert(2, "wave", [str(meta.loc[tuple(x.split(".", 1))]["wave"]) for x in counts["transcript"]])
    write_tsv(counts.sort_values(["transcript", "category"]), counts_path)
    write_tsv(pd.DataFrame([k.__dict__ for k in key]), key_path)
    write_tsv(log_df.sort_values(["file", "turn", "offset"], kind="stable"), log_path)
    write_tsv(review, review_path)
    write_tsv(parse_index, index_path)   # in (transcript, lang) order, as parse_sources gives it
    log.info("%s: %d candidate tokens for review", site, review["token"].nunique())


def combine(parts: list[str], output: str) -> None:
    """Concatenate per-site tables into one (same columns), in the given (sites.tsv) order."""
    frames = [read_results_tsv(p) for p in parts]
    write_tsv(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), output)
