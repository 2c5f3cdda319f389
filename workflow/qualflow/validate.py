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

from .design import (Design, check_roles, check_site_groups, check_transcript_wave, load_design,
                     read_site_waves)
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
    design: Design = field(default_factory=Design)
    site_waves: pd.DataFrame | None = None

    @property
    def site_ids(self) -> list[str]:
        return list(self.sites["site"])

    def files(self, site: str) -> list[SourceFile]:
        return [s for s in self.sources if s.site == site]


def load_study(config: dict, base: str | Path = ".", config_path: str | Path | None = None) -> Study:
    """Read and cross-check every input named by the config; raise InputError with all problems.

    Paths stay relative to ``base`` (the working directory Snakemake runs in: the study folder) so
    messages, the manifest and Snakemake's record of inputs do not depend on where the folder lives.
    ``config_path`` (the config file, for ``path:line`` messages about waves, roles and groups) is
    relative to ``base`` too.
    """
    base = Path(base)
    p = lambda key: Path(config[key]) if base == Path(".") else base / config[key]  # noqa: E731
    cpath = None if config_path is None else (Path(config_path) if base == Path(".") else base / config_path)
    design = load_design(config, cpath)
    sites = read_sites(p("sites"))
    problems: list[Problem] = check_site_groups(sites, design, p("sites"))
    site_waves = None
    if config.get("site_waves"):
        if not design.waves:
            problems.append(Problem(str(cpath or "config.yaml"), None, "site_waves is set but no waves are "
                                    "declared: declare waves or remove site_waves"))
        else:
            try:
                site_waves = read_site_waves(p("site_waves"), sites, design)
            except InputError as e:
                problems.extend(e.problems)
    people: list[Person] = []
    identifiers: list[Identifier] = []
    for reader, key, target in ((read_roster, "roster", people), (read_identifiers, "identifiers", identifiers)):
        try:
            target.extend(reader(p(key), sites))
        except InputError as e:
            problems.extend(e.problems)
    if people:
        problems.extend(check_roles(people, design, p("roster")))
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
        problems.extend(check_transcript_wave(t, design))
        if people:
            problems.extend(check_speakers(src.site, src.transcript, t.turns, src.path, index))
    problems.extend(_wave_mismatches(transcripts.values(), design))
    if problems:
        raise InputError.collect(problems)
    return Study(config, sites, people, identifiers, sources, transcripts, design, site_waves)


def _wave_mismatches(transcripts, design: Design) -> list[Problem]:
    """A transcript's language files must name the same wave (the translation is of one session)."""
    if not design.waves:
        return []
    first: dict[tuple[str, str], Transcript] = {}
    problems = []
    for t in sorted(transcripts, key=lambda t: t.path):
        key = (t.site, t.transcript)
        other = first.setdefault(key, t)
        a, b = str(other.meta.get("wave") or ""), str(t.meta.get("wave") or "")
        if other is not t and a != b and {a, b} <= set(design.wave_ids):
            problems.append(Problem(t.path, t.meta_lines.get("wave", 1), f"wave {t.meta.get('wave')!r} differs "
                                    f"from {other.path} (wave {other.meta.get('wave')!r}): a translation "
                                    "has the wave of its source"))
    return problems


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


def load_study_or_exit(config: dict, base: str | Path = ".", config_path: str | Path | None = None) -> Study:
    """For the Snakefile: print one line per problem and exit 1 instead of a traceback."""
    try:
        return load_study(config, base, config_path)
    except InputError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"qualflow: {len(e.problems)} input problem(s); nothing was run or changed.", file=sys.stderr)
        sys.exit(1)
