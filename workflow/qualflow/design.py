"""The study's design as its config declares it: waves, participant roles and comparison groups.

Nothing here knows a study by name: the first demo and the key-informant study differ only in what
their ``config.yaml`` declares. Waves order the transcripts in time (front matter ``wave:``), roles are
the roster's ``role`` values and the participant table's columns, and groups are the sites' attributes
the analysis compares (agreement scopes, the theme matrix, the figures). A group may be ``per_wave``:
its value is read per site and wave from ``site_waves`` (income group at each wave's date).

Checked once when the workflow loads (stage 1); every problem is one ``path:line: ...`` line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .errors import Problem, raise_if
from .tables import read_tsv

#: Roles of a study whose config declares none: the 2023 focus-group study's Table 2 columns, in its
#: order, with the short names quote attributions use.
DEFAULT_ROLES = (
    {"id": "psw", "label": "Potential or actual PSW", "short": "PSW"},
    {"id": "mh_worker", "label": "Mental health worker", "short": "Mental health clinician"},
    {"id": "mh_manager", "label": "Mental health manager", "short": "Mental health manager"},
    {"id": "policy_maker", "label": "Policy-maker", "short": "Policy-maker"},
)
FACILITATOR = {"id": "facilitator", "label": "Facilitator", "short": "Facilitator"}
#: Column and level names of the outputs that a group id would collide with.
RESERVED_GROUP_IDS = frozenset({"site", "wave", "all", "origin", "level", "name", "transcript", "theme",
                                "turn", "unit", "speaker", "text", "coder", "code", "languages", "country"})


@dataclass(frozen=True)
class Wave:
    """A data-collection wave: id (front matter ``wave:``), label and date range (inclusive)."""

    id: str
    label: str
    start: str
    end: str


@dataclass(frozen=True)
class Role:
    """A participant role: the roster's ``role`` value, the table header and the quote name."""

    id: str
    label: str
    short: str


@dataclass(frozen=True)
class Group:
    """A comparison group: a site attribute (column ``id``) with its allowed values, in order."""

    id: str
    label: str
    values: tuple[str, ...]
    value_labels: tuple[str, ...]
    per_wave: bool = False
    value_shorts: tuple[str, ...] = ()

    def value_label(self, value: str) -> str:
        """The legend label of a value (config ``label``; the id when none or undeclared)."""
        return self.value_labels[self.values.index(value)] if value in self.values else value

    def value_short(self, value: str) -> str:
        """A value's short label, for a column-group header (config ``short``; default its label)."""
        if value in self.values and self.value_shorts:
            return self.value_shorts[self.values.index(value)]
        return self.value_label(value)


@dataclass(frozen=True)
class Design:
    """Waves, roles and groups of one study (all optional in the config)."""

    waves: tuple[Wave, ...] = ()
    roles: tuple[Role, ...] = ()
    groups: tuple[Group, ...] = ()

    @property
    def wave_ids(self) -> list[str]:
        return [w.id for w in self.waves]

    def wave(self, wave_id: str) -> Wave | None:
        return next((w for w in self.waves if w.id == wave_id), None)

    @property
    def role_ids(self) -> list[str]:
        return [r.id for r in self.roles]

    @property
    def participant_roles(self) -> list[Role]:
        """Roles counted in the participant table (all but the facilitator)."""
        return [r for r in self.roles if r.id != FACILITATOR["id"]]

    def role_short(self) -> dict[str, str]:
        return {r.id: r.short for r in self.roles}


def config_lines(path: str | Path | None) -> dict[tuple, int]:
    """Line of every key and list item of a YAML file (1-based), by its path of keys and indexes."""
    if not path or not Path(path).exists():
        return {}
    node = yaml.compose(Path(path).read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    out: dict[tuple, int] = {}

    def walk(n: yaml.Node, at: tuple) -> None:
        out.setdefault(at, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                out[at + (k.value,)] = k.start_mark.line + 1
                walk(v, at + (k.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, at + (i,))

    if node is not None:
        walk(node, ())
    return out


def _line(lines: dict[tuple, int], *at) -> int | None:
    while at and at not in lines:
        at = at[:-1]
    return lines.get(at)


def load_design(config: dict, config_path: str | Path | None = None) -> Design:
    """The design the config declares; problems (duplicate ids, waves out of order) as InputError.

    ``config_path`` only serves messages (``config/config.yaml:12: ...``); a config built in memory
    gets messages without a line.
    """
    where = str(config_path or "config.yaml")
    lines = config_lines(config_path)
    problems: list[Problem] = []

    def dupes(key: str, items: list[dict]) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item["id"] in seen:
                problems.append(Problem(where, _line(lines, key, i, "id"), f"{key}: id {item['id']!r} is "
                                        "declared twice: give each entry its own id"))
            seen.add(item["id"])

    raw_waves = list(config.get("waves") or [])
    dupes("waves", raw_waves)
    waves = tuple(Wave(w["id"], w["label"], str(w["start"]), str(w["end"])) for w in raw_waves)
    for i, w in enumerate(waves):
        if w.start > w.end:
            problems.append(Problem(where, _line(lines, "waves", i, "start"), f"wave {w.id!r} starts "
                                    f"({w.start}) after it ends ({w.end}): swap start and end"))
        if i and waves[i - 1].end >= w.start:
            problems.append(Problem(where, _line(lines, "waves", i, "start"), f"wave {w.id!r} starts "
                                    f"({w.start}) before wave {waves[i - 1].id!r} ends ({waves[i - 1].end}): "
                                    "list waves in time order, without overlap"))

    raw_roles = list(config.get("roles") or DEFAULT_ROLES)
    dupes("roles", raw_roles)
    roles = [Role(r["id"], r["label"], r.get("short") or r["label"]) for r in raw_roles]
    if FACILITATOR["id"] not in {r.id for r in roles}:
        roles.append(Role(**FACILITATOR))

    raw_groups = list(config.get("groups") or [])
    dupes("groups", raw_groups)
    groups = []
    for i, g in enumerate(raw_groups):
        if g["id"] in RESERVED_GROUP_IDS:
            problems.append(Problem(where, _line(lines, "groups", i, "id"), f"group id {g['id']!r} is "
                                    "reserved (it names a column or level of the outputs): rename the "
                                    "sites.tsv column and the group"))
        values = [v["id"] for v in g["values"]]
        if len(set(values)) != len(values):
            problems.append(Problem(where, _line(lines, "groups", i, "values"), f"group {g['id']!r} lists "
                                    "a value twice: list each value once"))
        if g.get("per_wave") and not waves:
            problems.append(Problem(where, _line(lines, "groups", i, "per_wave"), f"group {g['id']!r} is "
                                    "per_wave but the config declares no waves: declare waves or drop per_wave"))
        labels = tuple(v.get("label") or v["id"] for v in g["values"])
        groups.append(Group(g["id"], g.get("label") or g["id"], tuple(values), labels, bool(g.get("per_wave")),
                            tuple(v.get("short") or lab for v, lab in zip(g["values"], labels))))
    if any(g.per_wave for g in groups) and not config.get("site_waves"):
        problems.append(Problem(where, _line(lines, "groups"), "a group is per_wave but the config has no "
                                "site_waves table: add `site_waves: config/site_waves.tsv` (site, wave, "
                                "and a column per per_wave group)"))
    raise_if(problems)
    return Design(waves, tuple(roles), tuple(groups))


def check_site_groups(sites: pd.DataFrame, design: Design, path: str | Path) -> list[Problem]:
    """Every site has a declared value in each group that is not per wave (sites.tsv column)."""
    problems: list[Problem] = []
    for g in design.groups:
        if g.per_wave:
            continue
        if g.id not in sites.columns:
            problems.append(Problem(str(path), 1, f"no column {g.id!r}, which config declares as a group: "
                                    f"add it (one of {', '.join(g.values)} per site)"))
            continue
        for r in sites.to_dict("records"):
            value = r[g.id]
            if value not in g.values:
                problems.append(Problem(str(path), int(r["_line"]), f"{g.id} {value!r} of site {r['site']!r} is not "
                                        f"a value config declares for group {g.id!r} ({', '.join(g.values)}): "
                                        "fix the value or declare it under groups"))
    return problems


SITE_WAVES_COLUMNS = ("site", "wave")


def read_site_waves(path: str | Path, sites: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Read the per-wave site attributes: one row per site and wave, a column per per_wave group.

    Checks: known site, declared wave, one row per (site, wave), a declared value in each per_wave
    group column, and a row for every site at every wave when any group is per wave.
    """
    df = read_tsv(path, None)
    spath = str(path)
    problems: list[Problem] = []
    per_wave = [g for g in design.groups if g.per_wave]
    for col in (*SITE_WAVES_COLUMNS, *(g.id for g in per_wave)):
        if col not in df.columns:
            problems.append(Problem(spath, 1, f"no column {col!r}: the header is site, wave, then one column "
                                    "per per_wave group"))
    raise_if(problems)
    known = list(sites["site"])
    seen: dict[tuple[str, str], int] = {}
    for r in df.to_dict("records"):
        line = int(r["_line"])
        if r["site"] not in known:
            problems.append(Problem(spath, line, f"site {r['site']!r} is not in the sites table: add it to "
                                    "sites.tsv or fix the id"))
            continue
        if r["wave"] not in design.wave_ids:
            declared = ", ".join(design.wave_ids) or "none"
            problems.append(Problem(spath, line, f"wave {r['wave']!r} is not declared in config waves "
                                    f"(declared: {declared}): fix the wave or declare it"))
            continue
        key = (r["site"], r["wave"])
        if key in seen:
            problems.append(Problem(spath, line, f"{r['site']} at wave {r['wave']} is listed twice (also line "
                                    f"{seen[key]}): keep one row per site and wave"))
            continue
        seen[key] = line
        for g in per_wave:
            if r[g.id] not in g.values:
                problems.append(Problem(spath, line, f"{g.id} {r[g.id]!r} of {r['site']} at wave {r['wave']} is "
                                        f"not a value config declares for group {g.id!r} "
                                        f"({', '.join(g.values)}): fix the value or declare it under groups"))
    if per_wave and not problems:
        for site in known:
            for w in design.wave_ids:
                if (site, w) not in seen:
                    problems.append(Problem(spath, None, f"no row for site {site!r} at wave {w!r}: add one "
                                            f"(site, wave, {', '.join(g.id for g in per_wave)})"))
    raise_if(problems)
    return df.reset_index(drop=True)


def check_roles(people: list, design: Design, path: str | Path) -> list[Problem]:
    """Every roster role is one the config declares (or facilitator)."""
    known = design.role_ids
    return [Problem(str(path), p.line, f"role {p.role!r} is not declared in config roles "
                    f"({', '.join(known)}): fix the role or declare it under roles")
            for p in people if p.role not in known]


def check_transcript_wave(t, design: Design) -> list[Problem]:
    """A waved study: every transcript names a declared wave, dated within it. Unwaved: none names one."""
    wave = t.meta.get("wave")
    line = t.meta_lines.get("wave") or t.meta_lines.get("kind") or 1
    if not design.waves:
        if wave not in (None, ""):
            return [Problem(t.path, line, f"front matter names wave {wave!r} but config declares no waves: "
                            "declare the study's waves in config.yaml (see config/README.md) or remove the line")]
        return []
    declared = ", ".join(design.wave_ids)
    if wave in (None, ""):
        return [Problem(t.path, line, f"front matter has no 'wave': this study has waves ({declared}); "
                        "add a line 'wave: <id>'")]
    w = design.wave(str(wave))
    if w is None:
        return [Problem(t.path, line, f"wave {wave!r} is not declared in config waves ({declared}): fix the "
                        "front matter or declare the wave")]
    date = str(t.meta.get("date") or "")
    if date and not (w.start <= date <= w.end):
        return [Problem(t.path, t.meta_lines.get("date") or line, f"date {date} is outside wave {w.id!r} "
                        f"({w.start} to {w.end}): fix the date or the wave")]
    return []


def site_groups(sites: pd.DataFrame, design: Design, site_waves: pd.DataFrame | None) -> pd.DataFrame:
    """One row per site (and wave, when the study has waves) with every group's value.

    The table the group-aware stages read: columns site, wave ("" without waves), then one per group.
    """
    waves = design.wave_ids or [""]
    rows = []
    for s in sites.to_dict("records"):
        for w in waves:
            row = {"site": s["site"], "wave": w}
            for g in design.groups:
                if g.per_wave:
                    m = site_waves[(site_waves["site"] == s["site"]) & (site_waves["wave"] == w)]
                    row[g.id] = m[g.id].iloc[0] if len(m) else ""
                else:
                    row[g.id] = s.get(g.id, "")
            rows.append(row)
    return pd.DataFrame(rows, columns=["site", "wave", *(g.id for g in design.groups)])



# --------------------------------------------------------------------------------------------
# the design as rule params: what the stages after validation need, JSON-able
# --------------------------------------------------------------------------------------------

def design_params(design: Design, sites: pd.DataFrame, site_waves: pd.DataFrame | None,
                  transcript_waves: dict[str, str]) -> dict:
    """The design a stage needs, as plain data for a rule's ``params`` (a change re-runs the rule).

    ``transcript_waves`` maps ``<site>.<T>`` to its wave ("" without waves). ``site_groups`` has one
    record per site (and wave) with every group's value.
    """
    return {
        "waves": [dict(id=w.id, label=w.label, start=w.start, end=w.end) for w in design.waves],
        "roles": [dict(id=r.id, label=r.label, short=r.short) for r in design.roles],
        "groups": [dict(id=g.id, label=g.label, per_wave=g.per_wave, values=list(g.values),
                        value_labels=list(g.value_labels), value_shorts=list(g.value_shorts))
                   for g in design.groups],
        "site_groups": site_groups(sites, design, site_waves).to_dict("records"),
        "transcript_waves": dict(sorted(transcript_waves.items())),
    }


def design_from_params(params: dict | None) -> Design:
    """The :class:`Design` back from ``design_params`` (or the defaults for ``None``)."""
    if not params:
        return Design(roles=tuple(Role(**r) for r in (*DEFAULT_ROLES, FACILITATOR)))
    return Design(
        tuple(Wave(**w) for w in params.get("waves", [])),
        tuple(Role(**r) for r in params.get("roles", [])) or
        tuple(Role(**r) for r in (*DEFAULT_ROLES, FACILITATOR)),
        tuple(Group(g["id"], g["label"], tuple(g["values"]), tuple(g["value_labels"]), bool(g["per_wave"]),
                    tuple(g.get("value_shorts", ()))) for g in params.get("groups", [])))


def transcript_groups(params: dict | None, transcripts) -> pd.DataFrame:
    """One row per transcript id (``<site>.<T>``): its site, wave and each group's value there.

    A per-wave group takes the value of the transcript's site at the transcript's wave; any other
    group the site's value. Columns: transcript, site, wave, then one per group in declared order.
    """
    params = params or {}
    groups = [g["id"] for g in params.get("groups", [])]
    waves = params.get("transcript_waves", {})
    by_key = {(r["site"], r["wave"]): r for r in params.get("site_groups", [])}
    by_site: dict[str, dict] = {}
    for r in params.get("site_groups", []):
        by_site.setdefault(r["site"], r)
    rows = []
    for t in dict.fromkeys(transcripts):
        site = t.split(".", 1)[0]
        wave = waves.get(t, "")
        rec = by_key.get((site, wave)) or by_site.get(site) or {}
        rows.append({"transcript": t, "site": site, "wave": wave, **{g: rec.get(g, "") for g in groups}})
    return pd.DataFrame(rows, columns=["transcript", "site", "wave", *groups])
