"""Stage 5, codes: the stage itself, reading everything, then writing every output (nothing on failure).

See ``qualflow.codebook`` (the codebook, labels to codes), ``qualflow.coder_files`` (coders' files to
turn units) and ``qualflow.codes_tables`` (the outputs).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from qualflow.codebook import load_codebook, map_labels
from qualflow.coder_files import _transcript_order, discover_codings, load_transcripts, read_codings
from qualflow.codes_tables import (CODINGS_COLUMNS, _finish_codings, codebook_table, coding_packet,
                                   coverage_table, export_codes, summary_markdown, themes_table,
                                   turns_table)
from qualflow.coding_checks import Decisions, apply_assignments, reanchor_table
from qualflow.errors import raise_if
from qualflow.project_export import candidate_codes, study_project
from qualflow.refiqda import write_qdc, write_qdpx
from qualflow.tables import read_tsv, write_text, write_tsv
from qualflow.valence import apply_valence, valence_rules, without_codebook_labels

__all__ = ["codes_stage"]

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
    if "turns" in outputs:
        write_tsv(turns_table(transcripts, order), outputs["turns"])
    for r in coverage_df.itertuples():
        log.info("%s: %s coded %d units (%d codings)", r.transcript, r.coder, r.n_units, r.n_codings)
    log.info("%d codings, %d codes used, %d unmapped labels", len(codings_df),
             int((book_df["n_codings"] > 0).sum()), len(um))
