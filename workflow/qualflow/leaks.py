"""The leak gate: no roster or identifier name may appear anywhere under results/.

Scans every file — text, TSV, Markdown, HTML, SVG, notebooks, the XML inside .qdpx/.qdc/.docx zips
and the text chunks of PNGs — with the same matcher pseudonymisation uses (case-folded unless an
entry is case-sensitive, NFC, invisible characters removed, white space collapsed), for every
participant, facilitator and identifier of every site. An exact hit fails the workflow and is
reported by file, line and key id (``roster:kampala:9``), never by the name. Near misses
(Jaro-Winkler) are warnings written to restricted/, because a misspelt name is itself identifying.
"""
from __future__ import annotations

import html
import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import regex
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from .errors import Problem, raise_if
from .names import Entry, Matcher
from .study import Identifier, Person, read_identifiers, read_roster, read_sites
from .tables import write_tsv

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
    if path.suffix.lower() in {".html", ".htm", ".svg", ".xml", ".ipynb", ".qde"}:
        # Entities (&#1502;) would hide Hebrew names from a plain scan.
        text = text + "\n" + html.unescape(text)
    return [(str(path), text)]


@dataclass
class GateResult:
    hits: pd.DataFrame
    near: pd.DataFrame
    files: int


def scan(paths: list[Path], entries: list[Entry], near_threshold: float = 0.92) -> GateResult:
    """Find exact name hits and near misses in the given files."""
    matcher = Matcher(entries)
    hits = []
    single = sorted({e.form for e in entries if " " not in e.form and len(e.form) >= 5})
    form_key = {e.form: e.key for e in entries}
    tokens: dict[str, tuple[str, int, str]] = {}
    for path in paths:
        for label, text in file_texts(path):
            for m in matcher.find(text):
                line = text.count("\n", 0, m.start) + 1
                hits.append({"file": label, "line": line, "key": m.entry.key, "category": m.entry.category})
            for tm in _TOKEN.finditer(text):
                tokens.setdefault(tm.group(), (label, tm.start(), text))
    near_rows = _near_misses(tokens, single, form_key, near_threshold)
    hit_df = pd.DataFrame(hits, columns=HIT_COLUMNS).drop_duplicates()
    near_df = pd.DataFrame(near_rows, columns=NEAR_COLUMNS).sort_values(["file", "token", "form"])
    return GateResult(hit_df.sort_values(["file", "line", "key"]), near_df, len(paths))


_TOKEN = regex.compile(r"\p{L}[\p{L}\p{M}'’-]{4,29}(?![\p{L}\p{M}])")


def _near_misses(tokens: dict[str, tuple[str, int, str]], forms: list[str], form_key: dict[str, str],
                 threshold: float, block: int = 20000) -> list[dict]:
    """Tokens within Jaro-Winkler ``threshold`` of a one-word name form (not equal to it).

    Jaro-Winkler rewards a shared beginning, so only tokens whose first letter starts some form
    are compared; the comparison runs in blocks to keep memory bounded on large files (the report).
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
            label, offset, text = tokens[tok]
            rows.append({"file": label, "line": text.count("\n", 0, offset) + 1, "key": form_key[form],
                         "token": tok, "form": form, "similarity": round(float(scores[i, j]), 3)})
    return rows


def results_files(root: Path) -> list[Path]:
    """Every file under results/ (hidden temporary files too: nothing escapes the gate)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def load_entries(sites_path: str | Path, roster_path: str | Path, identifiers_path: str | Path) -> list[Entry]:
    """The gate's entries from the study's tables (every site's names)."""
    sites = read_sites(sites_path)
    return gate_entries(read_roster(roster_path, sites), read_identifiers(identifiers_path, sites))


def leak_problems(hits: pd.DataFrame) -> list[Problem]:
    """One line per file and key (its first line), so a systematic leak does not bury the rest."""
    if hits.empty:
        return []
    first = hits.groupby(["file", "key", "category"], sort=True).agg(
        line=("line", "min"), n=("line", "size")).reset_index().sort_values(["file", "line"])
    return [Problem(r.file, int(r.line), f"contains a name from the roster or identifiers list ({r.key}, "
                                         f"{r.category}; {r.n} place(s) in this file): add the written form as "
                                         "an alias so pseudonymisation replaces it, then re-run")
            for r in first.itertuples()]


def run_gate(sites_path: str, roster_path: str, identifiers_path: str, files: list[str],
             out_hits: str, out_near: str) -> None:
    """The workflow's last step: fail with one line per leak, else write the (empty) leak table."""
    result = scan([Path(f) for f in files], load_entries(sites_path, roster_path, identifiers_path))
    write_tsv(result.near, out_near)
    log.info("leak gate: %d files scanned, %d exact hits, %d near misses (restricted/)",
             result.files, len(result.hits), len(result.near))
    raise_if(leak_problems(result.hits))
    write_tsv(result.hits, out_hits)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m qualflow.leaks [results/ ...]`` — scan files or folders after the workflow
    (e.g. the HTML report), with the config's roster and identifiers."""
    import argparse

    import yaml

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("paths", nargs="*", default=["results"])
    ap.add_argument("--config", default="config/config.yaml")
    args = ap.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    files: list[Path] = []
    for p in map(Path, args.paths):
        files.extend(results_files(p) if p.is_dir() else [p])

    def gate() -> None:
        entries = load_entries(config.get("sites", "config/sites.tsv"),
                               config.get("roster", "data/restricted/roster.tsv"),
                               config.get("identifiers", "data/restricted/identifiers.tsv"))
        result = scan(files, entries)
        log.info("leak gate: %d files scanned, %d exact hits, %d near misses", result.files,
                 len(result.hits), len(result.near))
        raise_if(leak_problems(result.hits))

    from .runner import run
    run(gate)   # prints one line per problem and exits 1 on a leak or a bad roster
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
