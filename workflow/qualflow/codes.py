"""Stage 5, codes: the stage itself, per site and then one small study-wide merge.

(changed: issue 14) At 1,000 transcripts one study-wide job read ~2,000 coder files and every
transcript serially; now ``codes_<site>`` jobs (:func:`codes_site`) read one site's transcripts and
the coder files about them, check every span and anchor, and write the site's part
(``restricted/codes/<site>/``: codings mapped to turn units, coverage, re-anchoring, turns). The
``codes`` job (:func:`codes_merge`) joins the parts in the order one job would have read them, then
maps labels to codes and writes every output, byte-identical to :func:`codes_stage` (one call, the
reference, kept for tests and library use). See ``qualflow.codebook`` (the codebook, labels to
codes), ``qualflow.coder_files`` (coders' files to turn units), ``qualflow.codes_tables`` (outputs).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from qualflow.codebook import Codebook, load_codebook, map_labels
from qualflow.coder_files import (ORDER_COLUMNS, RAW_COLUMNS, TRANSCRIPT_ID, CodingSet, SiteScope,
                                  Transcript,
                                  _empty_raw, _known, _read_source_text, _transcript_order,
                                  discover_codings, load_transcripts, read_codings)
from qualflow.codes_tables import (CODINGS_COLUMNS, TURNS_COLUMNS, _finish_codings, codebook_table,
                                   coding_packet, coverage_table, export_codes, summary_markdown,
                                   themes_table, turns_read, turns_table, units_read)
from qualflow.coding_checks import (Decisions, apply_assignments, duplicate_coders, reanchor_table,
                                    row_transcript_problem)
from qualflow.errors import Problem, raise_if
from qualflow.project_export import candidate_codes, study_project
from qualflow.refiqda import write_qdc, write_qdpx
from qualflow.tables import read_results_tsv, read_tsv, write_text, write_tsv
from qualflow.valence import apply_valence, valence_rules, without_codebook_labels

__all__ = ["codes_stage", "codes_site", "codes_merge", "coding_file_site"]

log = logging.getLogger("qualflow.codebook")

# =========================================================================== the stage


def _site_order(sites: str | Path | None) -> list[str]:
    if not sites:
        return []
    df = read_tsv(sites)
    return list(df["site"]) if "site" in df.columns else []


def codes_stage(codebook: str, codings: Sequence[str], transcripts_tsv: Sequence[str],
                transcripts_txt: Sequence[str], codings_dir: str, unmapped: str,
                outputs: Mapping[str, str], sites: str | None = None, roster: str | None = None,
                assignments: str | None = None, site_waves: str | None = None,
                waves: Mapping[str, str] | None = None, decisions: str | None = None,
                valence: Mapping | None = None) -> None:
    """Rule ``codes``: read and check everything, then write every output (nothing on failure).

    ``outputs`` keys: codings, codebook, unmapped, coverage, themes, summary, qdc, packet, and
    optionally reanchor (the review table) and project (the whole coded study as .qdpx; its
    participant cases need ``roster``; ``site_waves`` gives transcripts their per-wave groups).
    ``assignments``: the declared coder × transcript table. ``waves``: each transcript's wave
    (``<site>.<T>`` -> wave), for the coverage table. ``decisions``: a person's accept/reject of
    the codings held for review on a corrected transcript (``reanchor_decisions.tsv``).
    ``valence``: the config's ``valence`` section (valence codes and paired-code markers, see
    ``qualflow.valence``), applied to the raw codings before labels are mapped to codes.
    """
    book = load_codebook(codebook)
    order_sites = _site_order(sites)
    transcripts = load_transcripts(transcripts_tsv, transcripts_txt)
    order = _transcript_order(transcripts, order_sites)
    files = discover_codings(codings_dir, codings)
    if not files:
        log.warning("no codings under %s: writing the codebook and the coding packet only",
                    codings_dir)
    ledger = Decisions.read(decisions) if decisions else None
    read = read_codings(files, transcripts, ledger)
    if ledger is not None:
        ledger.warn_unused()
    turns = turns_table(transcripts, order) if "turns" in outputs else None
    _write_outputs(book, read, transcripts, order, turns, unmapped, outputs, sites, roster,
                   assignments, site_waves, waves, valence)


def _write_outputs(book: Codebook, read: CodingSet, transcripts: Mapping[str, Transcript],
                   order: Mapping[str, int], turns: pd.DataFrame | None, unmapped: str,
                   outputs: Mapping[str, str], sites: str | None, roster: str | None,
                   assignments: str | None, site_waves: str | None, waves: Mapping[str, str] | None,
                   valence: Mapping | None) -> pd.DataFrame:
    """What the study-wide job does once every coding is read: coverage, labels to codes, every
    output table and export (shared by :func:`codes_stage` and :func:`codes_merge`). Returns the
    codings as written to codings.tsv."""
    table = read_tsv(assignments, "coding_assignments.schema.yaml", allow_empty=True) \
        if assignments else None
    covered, counted, problems = apply_assignments(read.coverage, read.delivered, table,
                                                   str(assignments), transcripts)
    raise_if(problems)
    raw = apply_valence(read.raw, without_codebook_labels(valence_rules(valence), book.resolve))
    mapped, um, candidates = map_labels(raw, book, unmapped)
    with_memo = _finish_codings(mapped, transcripts, order, extra=["memo"])
    codings_df = with_memo[CODINGS_COLUMNS]
    book_df = codebook_table(book, codings_df, candidates, order)
    themes_df = themes_table(book, book_df, codings_df)
    coverage_df = coverage_table(covered, codings_df, transcripts, order, waves)
    anchors_df = reanchor_table(read.anchors, order)
    note = summary_markdown(book, themes_df, book_df, coverage_df, codings_df, um, counted, anchors_df)
    coders = sorted(set(coverage_df["coder"]))
    packet = coding_packet(book, transcripts, coders, order)
    project = None
    if "project" in outputs:
        from qualflow.study import read_roster, read_sites
        people = read_roster(roster, read_sites(sites)) if roster and sites else []
        site_df = read_tsv(sites) if sites else pd.DataFrame()
        project = study_project(export_codes(book) + candidate_codes(candidates), transcripts, order,
                                with_memo, site_df.drop(columns="_line", errors="ignore"), people,
                                {s.name: s.guid for s in packet.sources},
                                read_tsv(site_waves) if site_waves else None)

    write_tsv(codings_df, outputs["codings"])
    write_tsv(book_df, outputs["codebook"])
    write_tsv(um, outputs["unmapped"])
    write_tsv(coverage_df, outputs["coverage"])
    write_tsv(themes_df, outputs["themes"])
    write_text(note, outputs["summary"])
    write_qdc(outputs["qdc"], export_codes(book))
    write_qdpx(outputs["packet"], packet)
    if "reanchor" in outputs:
        write_tsv(anchors_df, outputs["reanchor"])
    if project is not None:
        write_qdpx(outputs["project"], project)
    if "turns" in outputs and turns is not None:
        write_tsv(turns, outputs["turns"])
    for r in coverage_df.itertuples():
        log.info("%s: %s coded %d units (%d codings)", r.transcript, r.coder, r.n_units, r.n_codings)
    log.info("%d codings, %d codes used, %d unmapped labels", len(codings_df),
             int((book_df["n_codings"] > 0).sum()), len(um))
    return codings_df


# =========================================================================== per site, then merged


def coding_file_site(path: str | Path, sites: Sequence[str]) -> str | None:
    """The site whose ``codes_<site>`` job reads a coder file: a ``<site>.<T>.tsv`` its site's (named for
    a site not in the study: the first site's, which reports it); a TSV named for no transcript or a
    .qdpx: ``None``, every site's job reads it and keeps its own rows and sources."""
    name = Path(path).name
    if name.endswith(".tsv"):
        m = TRANSCRIPT_ID.match(name[: -len(".tsv")])
        if m:
            return m["site"] if m["site"] in sites else (sites[0] if sites else None)
    return None


def _json_default(value):
    """numpy scalars in a part (ints from pandas) as plain numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def codes_site(site: str, codings: Sequence[str], transcripts_tsv: Sequence[str],
               transcripts_txt: Sequence[str], outputs: Mapping[str, str],
               decisions: str | None = None) -> None:
    """Rule ``codes_<site>``: one site's codings read, checked and mapped to turn units.

    ``codings``: the coder files that may hold the site's codings (its ``<site>.<T>.tsv`` files, TSVs
    named for no transcript, every .qdpx; the coder is the file's folder). ``outputs``: ``part`` (JSON:
    raw codings with their place in their file, TSV coverage, re-anchored codings, the .qdpx sources
    this site placed and who coded them, the review decisions used, the site's transcripts) and
    ``turns`` (the site's turns.tsv rows with each turn's offset). Both are under restricted/: the raw
    codings hold coder memos (free text that may name people). Labels are not mapped here: the merge
    maps them once, so an unknown label is one message, not one per site. The job knows nothing
    of the other sites (adding a site re-runs none of their jobs): what needs the study is left to
    the merge (``SiteScope``).
    """
    transcripts = load_transcripts(transcripts_tsv, transcripts_txt)
    order = _transcript_order(transcripts, [site])
    files = sorted((Path(p).parent.name, str(Path(p))) for p in codings)
    ledger = Decisions.read(decisions) if decisions else None
    scope = SiteScope(site)
    read = read_codings(files, transcripts, ledger, scope)
    raw = read.raw[RAW_COLUMNS + ORDER_COLUMNS]
    part = {
        "site": site,
        "raw": {"columns": list(raw.columns), "data": raw.astype(object).where(raw.notna(), None).values.tolist()},
        "coverage": [[*c, read.keys[c]] for c in read.coverage],
        "anchors": read.anchors,
        "qdpx": read.qdpx,
        "deferred": read.deferred,
        "decisions_used": sorted(list(k) for k in ledger.used) if ledger is not None else [],
        "transcripts": [[t.id, t.name, t.sha256, t.tsv_path, t.txt_path]
                        for t in sorted(transcripts.values(), key=lambda t: order[t.id])],
    }
    write_text(json.dumps(part, ensure_ascii=False, sort_keys=True, default=_json_default) + "\n",
               outputs["part"])
    write_tsv(turns_table(transcripts, order, offsets=True), outputs["turns"])
    log.info("%s: %d transcripts, %d codings on units, %d coder file(s) read", site, len(transcripts),
             len(raw), len(files))


def _merge_reads(parts: Sequence[dict], files: Sequence[tuple[str, str]],
                 transcripts: Mapping[str, Transcript]) -> tuple[CodingSet, list[Problem], set]:
    """The sites' parts as one study-wide read would have returned them: raw codings, coverage and
    re-anchored codings in file order (file, then source, then row), .qdpx coverage from every
    site's sources, and the problems only the whole study shows (a .qdpx source no site places, a
    coder coding one transcript in two files)."""
    rank = {p: i for i, (_c, p) in enumerate(files)}
    coder_of = dict((p, c) for c, p in files)
    frames = []
    for part in parts:
        cols, data = part["raw"]["columns"], part["raw"]["data"]
        if data:
            frame = pd.DataFrame(data, columns=cols, dtype=object)
            for col in ("turn", "start", "end", "_src", "_row"):
                frame[col] = frame[col].astype("int64")
            frames.append(frame)
    raw = pd.concat(frames, ignore_index=True) if frames else _empty_raw()
    if len(raw):
        raw["_f"] = raw["file"].map(rank)
        raw = raw.sort_values(["_f", "_src", "_row"], kind="stable").drop(columns="_f")
        raw = raw.reset_index(drop=True)

    by_file: dict[str, list] = {}
    for part in parts:
        for tid, coder, kind, path, key in part["coverage"]:
            by_file.setdefault(path, []).append((key, (tid, coder, kind, path)))
    qdpx: dict[str, dict] = {}
    for part in parts:
        for q in part["qdpx"]:
            f = qdpx.setdefault(q["file"], {"coder": q["coder"], "sources": {}, "claims": {},
                                            "coded": set()})
            for src, name, has, tid, how in q["sources"]:
                f["sources"][src] = (name, has)
                if tid:
                    f["claims"].setdefault(src, []).append((how, tid))
            f["coded"] |= {tuple(x) for x in q["coded"]}
    problems: list[Problem] = []
    coverage: list[tuple[str, str, str, str]] = []
    delivered: list[tuple[str, str, str, str]] = []
    placed: dict[tuple[str, int], str] = {}          # (.qdpx, source index) -> its transcript
    for _coder, path in files:
        if path in qdpx:
            f = qdpx[path]
            tids = []
            for src in sorted(f["sources"]):
                name, has = f["sources"][src]
                claims = f["claims"].get(src, [])
                by_name = [t for how, t in claims if how == "name"]
                by_text = [t for how, t in claims if how == "text"]
                # as one study-wide job decides: a transcript of that name, else the one transcript
                # with that text (two sites' transcripts with the same text place it nowhere)
                tid = by_name[0] if by_name else (by_text[0] if len(by_text) == 1 else None)
                if tid is not None:
                    placed[(path, src)] = tid
                    tids.append(tid)
                elif has:
                    problems.append(Problem(path, None, (
                        f"coder {f['coder']}: source {name!r} is not a transcript of this study (known: "
                        f"{_known(transcripts)}) and its text matches none: name sources "
                        "<site>.<transcript> as in the coding packet, or import the coding packet "
                        "results/codes/coding_packet.qdpx and code there")))
                else:
                    log.warning("%s: source %r is not a study transcript and has no codings: ignored",
                                path, name)
            tids = list(dict.fromkeys(tids))
            coded = {(t, w) for src, t, w in f["coded"] if placed.get((path, src)) == t}
            coders = sorted({who for _t, who in coded}) or [f["coder"]]
            others = [c for c in coders if c != f["coder"]]
            coder = f["coder"]
            if coder not in coders and others:
                log.warning("%s: LOOK: this file is in %s's folder but its codings are by %s (their "
                            "creatingUser), so they are counted as %s's. If %s made them, the QDA tool "
                            "named them after another user (QualCoder takes the coder name from the "
                            "first user of a project it imports): set the coder name to %s in the tool "
                            "and export again; if %s made them, move the file to data/codings/%s/",
                            path, coder, ", ".join(others), ", ".join(others), coder, coder, others[0],
                            others[0])
            coverage += [(t, w, "qdpx", path) for t in tids for w in coders if (t, w) in coded]
            delivered += [(t, w, "qdpx", path) for t in tids for w in coders if (t, w) not in coded]
        else:
            coverage += [c for _k, c in sorted(by_file.get(path, []), key=lambda x: x[0])]
    problems = _deferred_problems(parts, rank, transcripts) + problems
    if len(raw) and qdpx:
        # a source one site placed by its text while another has a transcript of its name
        keep = [f not in qdpx or placed.get((f, int(i))) == t
                for f, i, t in zip(raw["file"], raw["_src"], raw["transcript"])]
        raw = raw[keep].reset_index(drop=True)
    unknown = sorted(set(by_file) - set(coder_of))
    if unknown:
        raise ValueError(f"site parts name coder files the merge was not given: {unknown[:3]}")
    problems.extend(duplicate_coders(coverage))

    anchors = [a for part in parts for a in part["anchors"]
               if a["file"] not in qdpx or placed.get((a["file"], a["_src"])) == a["transcript"]]
    anchors.sort(key=lambda a: (rank[a["file"]], a["_src"], a["_seq"]))
    used = {tuple(k) for part in parts for k in part["decisions_used"]}
    return CodingSet(raw, coverage, delivered, anchors), problems, used


def _deferred_problems(parts: Sequence[dict], rank: Mapping[str, int],
                       transcripts: Mapping[str, Transcript]) -> list[Problem]:
    """What the sites' jobs left to the merge, in the words one study-wide job uses: a TSV named for a
    transcript that does not exist, a row naming a transcript that does not exist (or, in a file
    named for a transcript, another one). A row of another site's transcript in a TSV named for
    none is that site's and no problem; every site's job saw it, so each is decided once."""
    known = _known(transcripts)
    seen: dict[tuple, Problem] = {}
    for part in parts:
        for d in part.get("deferred", []):
            key = (d["file"], d["line"], d["kind"])
            if key in seen:
                continue
            if d["kind"] == "named":
                seen[key] = Problem(d["file"], None, (
                    f"the file is named for transcript {d['tid']!r}, which does not exist (known: "
                    f"{known}): rename the file <site>.<transcript>.tsv"))
            elif d["file_tid"] or d["tid"] not in transcripts:
                seen[key] = row_transcript_problem(d["file"], d["line"], d["tid"], d["file_tid"],
                                                   d["tid"] in transcripts, known)
    return [seen[k] for k in sorted(seen, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1] or 0))]


def _merged_transcripts(parts: Sequence[dict], turns: pd.DataFrame) -> dict[str, Transcript]:
    """Every site's transcripts with the text the coding packet and project.qdpx hold, and the
    turns project.qdpx needs (number, speaker, offset), read from the sites' parts."""
    by_tid = {tid: g for tid, g in turns.groupby("transcript", sort=False)}
    out: dict[str, Transcript] = {}
    for part in parts:
        for tid, name, sha, tsv_path, txt_path in part["transcripts"]:
            g = by_tid.get(tid, pd.DataFrame(columns=turns.columns))
            frame = pd.DataFrame({"turn": g["turn"].astype("int64").to_numpy(),
                                  "speaker": g["speaker"].astype(str).to_numpy(),
                                  "offset_start": g["offset_start"].astype("int64").to_numpy()})
            out[tid] = Transcript(tid, part["site"], name, tsv_path, txt_path,
                                  _read_source_text(txt_path), sha, frame)
    return out


def codes_merge(codebook: str, parts: Sequence[str], turns: Sequence[str], codings: Sequence[str],
                codings_dir: str, unmapped: str, outputs: Mapping[str, str], sites: str | None = None,
                roster: str | None = None, assignments: str | None = None,
                site_waves: str | None = None, waves: Mapping[str, str] | None = None,
                decisions: str | None = None, valence: Mapping | None = None) -> None:
    """Rule ``codes``: the sites' parts (:func:`codes_site`) joined, then every output written as
    :func:`codes_stage` writes it (the same arguments, with the parts instead of the transcripts).

    Reads every part and every English transcript's text once (the coding packet and project.qdpx
    hold the texts): linear in the study."""
    book = load_codebook(codebook)
    order_sites = _site_order(sites)
    rank = {s: i for i, s in enumerate(order_sites)}
    loaded = [json.loads(Path(p).read_text(encoding="utf-8")) for p in parts]
    loaded.sort(key=lambda d: (rank.get(d["site"], len(rank)), d["site"]))
    turn_frames = [read_results_tsv(t) for t in turns]
    turn_frames = [f for f in turn_frames if len(f)]
    all_turns = pd.concat(turn_frames, ignore_index=True) if turn_frames else \
        pd.DataFrame(columns=TURNS_COLUMNS + ["offset_start"])
    transcripts = _merged_transcripts(loaded, all_turns)
    order = _transcript_order(transcripts, order_sites)
    files = [(c, str(Path(p))) for c, p in discover_codings(codings_dir, codings)]
    if not files:
        log.warning("no codings under %s: writing the codebook and the coding packet only",
                    codings_dir)
    read, problems, used = _merge_reads(loaded, files, transcripts)
    raise_if(problems)
    if decisions:
        ledger = Decisions.read(decisions)
        ledger.used = used & set(ledger.rows)
        ledger.warn_unused()
    all_turns["_t"] = all_turns["transcript"].map(order)
    ordered = all_turns.sort_values("_t", kind="stable")
    turns_df = ordered[TURNS_COLUMNS].reset_index(drop=True) if "turns" in outputs else None
    codings_df = _write_outputs(book, read, transcripts, order, turns_df, unmapped, outputs, sites, roster,
                                assignments, site_waves, waves, valence)
    if "turns_read" in outputs:   # the turns codings.tsv points at
        write_tsv(turns_read(ordered, codings_df), outputs["turns_read"])
    if "units_read" in outputs:
        write_tsv(units_read(ordered), outputs["units_read"])
