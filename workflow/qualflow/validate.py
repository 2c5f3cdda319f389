"""Stage 1: check every input before any work, so a bad input stops the run with all its problems.

Runs when the Snakefile is loaded (and from tests): sites, roster and identifiers against their
schemas and each other, transcript discovery (naming, sites, English counterparts), every transcript
parsed, and every speaker resolved to the roster. Problems are collected across files, so the user
sees every line to fix at once.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem
from .study import Identifier, Person, SpeakerIndex, check_speakers, read_identifiers, read_roster, read_sites
from .transcripts import SourceFile, Transcript, discover, read_transcript


@dataclass
class Study:
    """Everything the Snakefile needs to know to build the DAG, all of it already checked."""

    config: dict
    sites: pd.DataFrame
    people: list[Person]
    identifiers: list[Identifier]
    sources: list[SourceFile]
    transcripts: dict[str, Transcript] = field(default_factory=dict)   # by path

    @property
    def site_ids(self) -> list[str]:
        return list(self.sites["site"])

    def files(self, site: str) -> list[SourceFile]:
        return [s for s in self.sources if s.site == site]


def load_study(config: dict, base: str | Path = ".") -> Study:
    """Read and cross-check every input named by the config; raise InputError with all problems.

    Paths stay relative to ``base`` (the working directory Snakemake runs in) so messages, the
    manifest and Snakemake's record of inputs do not depend on where the project folder lives.
    """
    base = Path(base)
    p = lambda key: Path(config[key]) if base == Path(".") else base / config[key]  # noqa: E731
    sites = read_sites(p("sites"))
    problems: list[Problem] = []
    people: list[Person] = []
    identifiers: list[Identifier] = []
    for reader, key, target in ((read_roster, "roster", people), (read_identifiers, "identifiers", identifiers)):
        try:
            target.extend(reader(p(key), sites))
        except InputError as e:
            problems.extend(e.problems)
    if config.get("codebook"):
        from .codebook import load_codebook   # stage 1 checks the codebook too, before any job runs
        try:
            load_codebook(p("codebook"))
        except InputError as e:
            problems.extend(e.problems)
    languages = {r.site: r.languages.split(",") for r in sites.itertuples()}
    try:
        sources = discover(p("raw_dir"), list(sites["site"]), languages, config.get("english", "en"))
    except InputError as e:
        raise InputError.collect(problems + e.problems) from None
    index = SpeakerIndex(people)
    transcripts: dict[str, Transcript] = {}
    for src in sources:
        try:
            t = read_transcript(src.path, src.site)
        except InputError as e:
            problems.extend(e.problems)
            continue
        transcripts[src.path] = t
        if people:
            problems.extend(check_speakers(src.site, src.transcript, t.turns, src.path, index))
    if problems:
        raise InputError.collect(problems)
    return Study(config, sites, people, identifiers, sources, transcripts)


def write_site_inputs(config: dict, sites: list[str], out_dir: str | Path) -> dict[str, dict[str, str]]:
    """Split sites.tsv, the roster and the identifiers into one folder per site (restricted).

    A per-site job then depends only on its own site's rows, so adding or editing a site re-runs
    that site's jobs and the aggregates, not every site. A slice is rewritten only when its content
    changes (an unchanged file keeps its modification time). Identifiers for every site (``*``)
    are part of each slice. Returns the slice paths per site.
    """
    from .tables import read_text_file, write_text

    out: dict[str, dict[str, str]] = {}
    tables = {"site": (config["sites"], "site"), "roster": (config["roster"], "site"),
              "identifiers": (config["identifiers"], "site")}
    contents = {k: read_text_file(path).split("\n") for k, (path, _) in tables.items()}
    for site in sites:
        out[site] = {}
        for kind, lines in contents.items():
            header = lines[0]
            col = header.split("\t").index("site")
            rows = [l for l in lines[1:] if l.strip() and l.split("\t")[col] in ({site, "*"} if kind == "identifiers" else {site})]
            text = "\n".join([header, *rows]) + "\n"
            path = Path(out_dir) / site / f"{kind}.tsv"
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                write_text(text, path)
            out[site][kind] = str(path)
    return out


def load_study_or_exit(config: dict, base: str | Path = ".") -> Study:
    """For the Snakefile: print one line per problem and exit 1 instead of a traceback."""
    try:
        return load_study(config, base)
    except InputError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"qualflow: {len(e.problems)} input problem(s); nothing was run or changed.", file=sys.stderr)
        sys.exit(1)
