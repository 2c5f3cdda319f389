"""Stage 1: check every input before any work, so a bad input stops the run with all its problems.

Runs when the Snakefile is loaded (and from tests): sites, roster and identifiers against their
schemas and each other, transcript discovery (naming, sites, English counterparts), every transcript
parsed, every speaker resolved to the roster, and the coders' codings (coder folders, transcripts,
turns, labels against the codebook). Problems are collected across files, so the user
sees every line to fix at once.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
    codebook: object | None = None   # the checked codebook.Codebook (a full load with a codebook), for rule params

    @property
    def site_ids(self) -> list[str]:
        return list(self.sites["site"])

    def files(self, site: str) -> list[SourceFile]:
        return [s for s in self.sources if s.site == site]


def load_study(config: dict, base: str | Path = ".", config_path: str | Path | None = None,
               full: bool = True, read: Callable[[SourceFile], Transcript] | None = None,
               read_book: Callable[[Path], object] | None = None) -> Study:
    """Read and cross-check every input named by the config; raise InputError with all problems.

    Paths stay relative to ``base`` (the working directory Snakemake runs in: the study folder) so
    messages, the manifest and Snakemake's record of inputs do not depend on where the folder lives.
    ``config_path`` (the config file, for ``path:line`` messages about waves, roles and groups) is
    relative to ``base`` too. ``full=False`` is for a cluster job re-reading the Snakefile: the main
    process has already checked everything before it submitted the job, so the codebook, the
    codings, the speakers and the waves are not checked again; the tables, the file lists and the
    transcripts (each transcript's wave is a param of the jobs) are still read. ``read(src)`` reads
    one transcript and ``read_book(path)`` the codebook (default: parse them; ``study_cache`` passes
    readers that re-use unchanged ones).
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
    book = None
    if full and config.get("codebook"):
        from .codebook import load_codebook   # stage 1 checks the codebook too, before any job runs
        try:
            book = (read_book or load_codebook)(p("codebook"))
        except InputError as e:
            problems.extend(e.problems)
    languages = {r.site: r.languages.split(",") for r in sites.itertuples()}
    if "markers" in config:
        problems.extend(check_markers(config, sites, str(p("sites")), str(config_path or "config/config.yaml")))
    try:
        sources = discover(p("raw_dir"), list(sites["site"]), languages, config.get("english", "en"))
    except InputError as e:
        raise InputError.collect(problems + e.problems) from None
    index = SpeakerIndex(people)
    transcripts: dict[str, Transcript] = {}
    for src in sources:
        try:
            t = read(src) if read else read_transcript(src.path, src.site)   # a job too: params carry waves
        except InputError as e:
            problems.extend(e.problems)
            continue
        transcripts[src.path] = t
        if not full:
            continue
        problems.extend(check_transcript_wave(t, design))
        if people:
            problems.extend(check_speakers(src.site, src.transcript, t.turns, src.path, index))
    if full:
        problems.extend(_wave_mismatches(transcripts.values(), design))
    if book is not None and config.get("codings_dir"):
        problems.extend(_codings_problems(config, p("codings_dir"), book, transcripts))
    if full:
        problems.extend(_primary_problems(config, base, transcripts))
    if problems:
        raise InputError.collect(problems)
    return Study(config, sites, people, identifiers, sources, transcripts, design, site_waves, book)


def _codings_problems(config: dict, codings_dir: Path, book, transcripts: dict[str, Transcript]) -> list[Problem]:
    """The coders' files checked at load like every other input (labels, transcripts, turns), so
    ``snakemake -n`` reports them before any job; the ``codes`` job checks what needs the
    pseudonymised text. Turn numbers are the raw transcript's, which pseudonymisation keeps."""
    from .coding_checks import check_codings_at_load   # the codes stage's own checks and messages

    en = config.get("english", "en")
    english = {f"{t.site}.{t.transcript}": (f"results/pseudonymised/{t.site}/{t.transcript}.{en}.tsv",
                                            [x.turn for x in t.turns])
               for t in transcripts.values() if t.lang == en}
    if not codings_dir.is_dir():
        return []
    return check_codings_at_load(codings_dir, book, english,
                                 (config.get("codes") or {}).get("unmapped", "fail"), config.get("valence"))


def _primary_problems(config: dict, base: Path, transcripts: dict[str, Transcript]) -> list[Problem]:
    """The coding assignments' ``primary`` column (which coder each theme count uses, issue 12):
    yes/no values and two primaries for one transcript, before any job (qualflow.counting)."""
    from .counting import primary_problems, read_assignments

    rel = config.get("coding_assignments", "data/coding_assignments.tsv")
    if not rel:
        return []
    path = Path(rel) if base == Path(".") else base / rel
    if not path.exists():
        return []
    try:
        table = read_assignments(path)
    except InputError as e:
        return list(e.problems)
    return primary_problems(table, str(path), {f"{t.site}.{t.transcript}" for t in transcripts.values()})


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


def check_markers(config: dict, sites: pd.DataFrame, sites_path: str, config_path: str) -> list[Problem]:
    """Every study language needs its transcription markers, under the same canonical names as English.

    (A language without markers would have every ``[inaudible]`` of its transcripts uncounted, and the
    translation check would report a false ``marker_mismatch`` wherever the English file has one; a
    fallback to the English forms would be just as wrong for a language that writes them differently.)
    """
    markers = config.get("markers") or {}
    english = config.get("english", "en")
    problems: list[Problem] = []
    if english not in markers:
        problems.append(Problem(config_path, None, f"markers has no entry for the English translations "
                                                   f"({english}): add markers: {english}: {{inaudible: "
                                                   "[\"[inaudible]\"], ...}"))
    names = set(markers.get(english) or {})
    first_line: dict[str, int] = {}
    for r in sites.to_dict("records"):
        for lang in str(r["languages"]).split(","):
            if lang and lang != english:
                first_line.setdefault(lang, int(r["_line"]))
    for lang, line in first_line.items():
        if lang not in markers:
            problems.append(Problem(sites_path, line, f"language {lang} has no markers in {config_path}: add "
                                                      f"markers: {lang}: with the bracketed forms its "
                                                      f"transcribers write for {', '.join(sorted(names)) or 'each marker'}"))
            continue
        missing = sorted(names - set(markers[lang] or {}))
        extra = sorted(set(markers[lang] or {}) - names)
        if missing or extra:
            parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
                [f"has {', '.join(extra)}, which {english} has not"] if extra else [])
            problems.append(Problem(config_path, None, f"markers for {lang} {' and '.join(parts)}: give every "
                                                       f"language the same marker names as {english} "
                                                       f"({', '.join(sorted(names))}), or the translation check "
                                                       "reports false marker_mismatch flags"))
    return problems


def write_site_inputs(config: dict, sites: list[str], out_dir: str | Path) -> dict[str, dict[str, str]]:
    """Split sites.tsv, the roster and the identifiers into one folder per site (restricted).

    A per-site job then depends only on its own site's rows, so adding or editing a site re-runs
    that site's jobs and the aggregates, not every site. A slice is rewritten only when its content
    changes (an unchanged file keeps its modification time). Identifiers for every site (``*``)
    are part of each slice. Rows are chosen by their ``site`` cell read the way every reader reads
    it (tab-separated with quoting, surrounding spaces ignored), so ``ulm `` is ``ulm`` here too, and
    each row keeps its source lines exactly. Returns the slice paths per site.
    """
    from .tables import read_text_file, write_text

    out: dict[str, dict[str, str]] = {site: {} for site in sites}
    tables = {"site": config["sites"], "roster": config["roster"], "identifiers": config["identifiers"]}
    for kind, path in tables.items():
        header, records = _records_with_lines(read_text_file(path))
        col = [h.strip() for h in header[0]].index("site") if header else -1
        for site in sites:
            wanted = {site, "*"} if kind == "identifiers" else {site}
            rows = [lines for cells, lines in records
                    if len(cells) > col and cells[col].strip() in wanted]
            text = "".join([header[1], *rows])
            target = Path(out_dir) / site / f"{kind}.tsv"
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                write_text(text, target)
            out[site][kind] = str(target)
    return out


#: restricted/inputs/<site>/speakers.tsv: one row per transcript file and speaker label.
SPEAKER_COLUMNS = ["transcript", "lang", "kind", "wave", "speaker"]


def write_site_speakers(study: Study, out_dir: str | Path) -> dict[str, str]:
    """Each site's transcript files (kind, wave) and who speaks in them (raw labels: restricted).

    All that Table 2 needs from the transcripts, from the load's own parse: the ``participants`` rule
    reads these instead of the parsed turn tables, so an edit of a transcript's words does not re-run
    it (a new speaker label, kind or wave does). A file with no speech has one row with no speaker. A
    table is rewritten only when its content changes. Returns the paths per site.
    """
    from .tables import write_text

    out: dict[str, str] = {}
    for site in study.site_ids:
        rows = []
        for src in sorted(study.files(site), key=lambda s: (s.transcript, s.lang)):
            t = study.transcripts[src.path]
            speakers = list(dict.fromkeys(x.speaker for x in t.turns if x.kind == "speech")) or [""]
            rows += [[t.transcript, t.lang, t.kind, str(t.meta.get("wave", "")), sp] for sp in speakers]
        text = pd.DataFrame(rows, columns=SPEAKER_COLUMNS).to_csv(sep="\t", index=False, lineterminator="\n")
        target = Path(out_dir) / site / "speakers.tsv"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            write_text(text, target)
        out[site] = str(target)
    return out


def _records_with_lines(text: str) -> tuple[tuple[list[str], str] | None, list[tuple[list[str], str]]]:
    """Parse a TSV as read_tsv does, keeping each record's own source lines (a quoted cell may span
    lines). Returns (header cells, header text) and [(cells, text)] for the non-blank rows."""
    import csv
    import io

    lines = text.splitlines(keepends=True)
    lines = [l if l.endswith("\n") else l + "\n" for l in lines]
    reader = csv.reader(iter(lines), delimiter="\t")
    header = None
    records: list[tuple[list[str], str]] = []
    start = 0
    for cells in reader:
        chunk = "".join(lines[start:reader.line_num])
        start = reader.line_num
        if header is None:
            header = (cells, chunk)
        elif any(c.strip() for c in cells):
            records.append((cells, chunk))
    return header, records


def config_file_in_study(files: list, cwd: str | Path | None = None) -> str:
    """The last of the config files Snakemake loaded, relative to the study folder (the working
    directory) when it lies inside it, for messages and the manifest; ``config/config.yaml`` if none."""
    import os

    if not files:
        return "config/config.yaml"
    path = Path(files[-1])
    rel = os.path.relpath(path.absolute(), Path(cwd or Path.cwd()).absolute())
    return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()


def load_study_or_exit(config: dict, base: str | Path = ".", config_path: str | Path | None = None,
                       full: bool = True, cache_file: str | Path | None = None) -> Study:
    """For the Snakefile: print one line per problem and exit 1 instead of a traceback.

    ``cache_file`` (relative to ``base``): load through ``qualflow.study_cache``, so an unchanged
    study is not checked again and a changed transcript is the only one parsed again."""
    from functools import partial

    try:
        if cache_file is None:
            return load_study(config, base, config_path, full)
        from .study_cache import cached_load

        return cached_load(partial(load_study, config, base, config_path, full), config, base, config_path,
                           full, cache_file)
    except InputError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"qualflow: {len(e.problems)} input problem(s); nothing was run or changed.", file=sys.stderr)
        sys.exit(1)
