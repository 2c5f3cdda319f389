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
    """Read and cross-check every input named by the config; raise InputError with all problems."""
    base = Path(base)
    p = lambda key: base / config[key]  # noqa: E731
    sites = read_sites(p("sites"))
    problems: list[Problem] = []
    people: list[Person] = []
    identifiers: list[Identifier] = []
    for reader, key, target in ((read_roster, "roster", people), (read_identifiers, "identifiers", identifiers)):
        try:
            target.extend(reader(p(key), sites))
        except InputError as e:
            problems.extend(e.problems)
    languages = {r.site: r.languages.split(",") for r in sites.itertuples()}
    sources = discover(p("raw_dir"), list(sites["site"]), languages, config.get("english", "en"))
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


def load_study_or_exit(config: dict, base: str | Path = ".") -> Study:
    """For the Snakefile: print one line per problem and exit 1 instead of a traceback."""
    try:
        return load_study(config, base)
    except InputError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"qualflow: {len(e.problems)} input problem(s); nothing was run or changed.", file=sys.stderr)
        sys.exit(1)
