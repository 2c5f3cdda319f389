"""Stage 5 (codes), the study's whole coded state as one REFI-QDA project: ``results/codes/project.qdpx``.

The coding packet is empty by design (coders start from it) and a TSV coder's work exists in no
.qdpx at all, so without this file nobody can open the study's coded state in NVivo, ATLAS.ti,
MAXQDA or QualCoder. It holds:

* every coder's codings (``codings.tsv``, one selection per coding and unit), each with its coder as
  ``creatingUser`` and the coder's memo as the selection's ``Description``;
* the codebook with the themes as non-codable parents (as ``codebook.qdc``), candidate codes under
  their own parent;
* the English pseudonymised transcripts (the packet's GUIDs, so the two files agree) with their
  attributes (site, kind, date, wave) as variables;
* cases for sites and participants (pseudonyms only: ``kampala.P09``) with their attributes as
  variables (every ``sites.tsv`` column, so the study's comparison groups are filterable; role,
  gender, label and waves for participants), each case referring to the transcripts it speaks in.

The first ``<User>`` is a neutral ``qualflow``: QualCoder makes a project's first user the coder name
for all later work, so a lead's or coder's later codings in an imported copy are never attributed to
coder_a (our reader gives a neutral user's codings to the folder's coder). Nothing here is a name from
the roster; the leak gate scans the file like every other output.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from qualflow.refiqda import Case, Code, Coding, Project, Source, User, Variable, stable_guid

if TYPE_CHECKING:
    from qualflow.codebook import CodeDef
    from qualflow.coder_files import Transcript
    from qualflow.study import Person

__all__ = ["NEUTRAL_USER", "VALENCE", "VALENCES", "candidate_codes", "front_matter", "study_project",
           "valence_codes"]

NEUTRAL_USER = "qualflow"
#: Roster columns that describe a participant without identifying them (name and aliases never).
PARTICIPANT_FIELDS = ("role", "gender", "label")
CANDIDATE_COLOUR = "#999999"
#: Valence of a coded passage (codings.tsv ``valence``), co-coded on the selection as a code under a
#: non-codable "Valence" parent, so it can be filtered and crossed with the codes in any tool.
VALENCE = "Valence"
VALENCES = ("facilitator", "barrier", "mixed")
VALENCE_COLOURS = {"facilitator": "#1B9E77", "barrier": "#D95F02", "mixed": "#7570B3"}


def valence_codes() -> list[Code]:
    """The valence parent and its three codes (GUIDs fixed, so every export agrees)."""
    parent = stable_guid("qualflow-theme", "__valence__")
    return [Code(parent, VALENCE, None, "Whether the coded passage describes its code as a "
                 "facilitator, a barrier, or mixed (codings.tsv valence)", "#666666", False)] + [
        Code(stable_guid("qualflow-valence", v), v, parent, f"valence: {v}", VALENCE_COLOURS[v], True)
        for v in VALENCES]


def candidate_codes(candidates: Sequence["CodeDef"]) -> list[Code]:
    """Candidate codes (unmapped labels kept in candidate mode) under a non-codable parent."""
    if not candidates:
        return []
    parent = stable_guid("qualflow-theme", "__candidates__")
    out = [Code(parent, "Candidate codes", None, "Coders' labels no code in config/codebook.yaml "
                "matches yet; review them in unmapped_labels.tsv", CANDIDATE_COLOUR, False)]
    out += [Code(stable_guid("qualflow-code", c.id), c.label, parent,
                 f"{c.definition} [candidate; id {c.id}]", CANDIDATE_COLOUR, True) for c in candidates]
    return out


def front_matter(text: str) -> dict[str, str]:
    """The pseudonymised transcript's front matter (kind, date, wave, language) as strings."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError:
        return {}
    return {str(k): "" if v is None else str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


class _Vars:
    """Variables declared on first use, in a fixed order, with derived GUIDs."""

    def __init__(self) -> None:
        self.declared: dict[str, Variable] = {}

    def value(self, name: str, value: str, description: str = "") -> tuple[str, str]:
        if name not in self.declared:
            self.declared[name] = Variable(stable_guid("qualflow-variable", name), name, description)
        return self.declared[name].guid, value


def study_project(codes: Sequence[Code], transcripts: Mapping[str, "Transcript"],
                  order: Mapping[str, int], codings: pd.DataFrame, sites: pd.DataFrame,
                  people: Sequence["Person"], source_guid: Mapping[str, str],
                  site_waves: pd.DataFrame | None = None) -> Project:
    """The whole coded study as a :class:`Project` (see the module docstring).

    ``site_waves`` (site, wave, one column per per-wave group) gives each transcript its site's
    groups at the transcript's wave, as ``transcript <group>`` variables.
    ``codings`` is codings.tsv with a ``memo`` column; ``source_guid`` maps transcript ids to the
    coding packet's source GUIDs; ``codes`` are the exported codes, whose GUIDs derive from the code
    ids (``stable_guid("qualflow-code", id)``, as :func:`qualflow.codes_tables.export_codes` makes them).
    """
    tids = sorted(transcripts, key=lambda t: order[t])
    v = _Vars()
    site_rows = {str(r["site"]): r for r in sites.to_dict("records")} if len(sites) else {}

    per_wave: dict[tuple[str, str], dict[str, str]] = {}
    if site_waves is not None and len(site_waves):
        for r in site_waves.to_dict("records"):
            per_wave[(str(r["site"]), str(r["wave"]))] = {
                k: "" if pd.isna(x) else str(x) for k, x in r.items() if k not in ("site", "wave", "_line")}
    speakers: dict[str, set[str]] = {}
    waves: dict[str, str] = {}
    sources = []
    for tid in tids:
        t = transcripts[tid]
        meta = front_matter(t.text)
        waves[tid] = meta.get("wave", "")
        speakers[tid] = set(t.turns["speaker"].astype(str))
        vals = [v.value("transcript site", t.site), v.value("transcript kind", meta.get("kind", "")),
                v.value("transcript date", meta.get("date", "")),
                v.value("transcript wave", meta.get("wave", ""))]
        at_wave = per_wave.get((t.site, meta.get("wave", "")), {})
        vals += [v.value(f"transcript {k}", x) for k, x in at_wave.items()]
        sources.append(Source(source_guid[tid], tid, t.text, values=tuple(vals)))

    cases: list[Case] = []
    for site in dict.fromkeys(transcripts[t].site for t in tids):
        row = site_rows.get(site, {})
        vals = [v.value("site", site)]
        vals += [v.value("site name" if k == "name" else k, "" if pd.isna(x) else str(x))
                 for k, x in row.items() if k not in ("site", "_line")]
        cases.append(Case(stable_guid("qualflow-case", "site", site), str(row.get("name", site)),
                          f"site {site}", tuple(vals),
                          tuple(source_guid[t] for t in tids if transcripts[t].site == site)))
    study_sites = {transcripts[t].site for t in tids}
    for p in people:
        if p.is_facilitator or p.site not in study_sites:
            continue
        spoken = [t for t in tids if transcripts[t].site == p.site and p.code in speakers[t]]
        vals = [v.value("site", p.site)]
        vals += [v.value(f, str(getattr(p, f) or "")) for f in PARTICIPANT_FIELDS]
        vals.append(v.value("wave", ";".join(dict.fromkeys(waves[t] for t in spoken if waves[t]))))
        cases.append(Case(stable_guid("qualflow-case", "participant", p.site, p.code),
                          f"{p.site}.{p.code}", "participant", tuple(vals),
                          tuple(source_guid[t] for t in spoken)))

    out: list[Coding] = []
    for r in codings.itertuples(index=False):
        t = transcripts[r.transcript]
        row = t.turn_row(int(r.turn))
        base = int(row["offset_start"])
        memo = "" if pd.isna(getattr(r, "memo", "")) else str(getattr(r, "memo", ""))
        val = getattr(r, "valence", "")
        val = "" if pd.isna(val) else str(val)
        also = (stable_guid("qualflow-valence", val),) if val in VALENCES else ()
        out.append(Coding(source_guid[r.transcript], base + int(r.start), base + int(r.end),
                          stable_guid("qualflow-code", r.code), str(r.coder), memo=memo, also=also))
    coders = sorted(set(codings["coder"].astype(str))) if len(codings) else []
    users = [User(stable_guid("qualflow-user", NEUTRAL_USER), NEUTRAL_USER)]
    users += [User(stable_guid("qualflow-user", c), c) for c in coders if c != NEUTRAL_USER]
    codes = list(codes)
    if any(c.also for c in out):
        codes += valence_codes()
    return Project(name="qualflow study project", origin="qualflow", users=users, codes=codes,
                   sources=sources, codings=out, variables=list(v.declared.values()), cases=cases)
