"""The study's design tables: sites, roster and identifiers, read once and cross-checked.

Shared by every stage (the leak gate, pseudonymisation, Table 2, attributions), so the rules that
make a roster valid live in one place: unique participant numbers per site, known sites, and how a
speaker label in a transcript resolves to a roster person.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem, raise_if
from .names import INVISIBLE
from .tables import read_tsv

ROLE_LABELS = {
    "psw": "PSW",
    "mh_worker": "Mental health clinician",
    "mh_manager": "Mental health manager",
    "policy_maker": "Policy-maker",
    "facilitator": "Facilitator",
}



def normalise_label(text: str) -> str:
    """Compare names as people read them: NFC, invisible characters removed, case and spaces folded."""
    text = unicodedata.normalize("NFC", text)
    text = INVISIBLE.sub("", text)
    return " ".join(text.casefold().split())


def split_aliases(value: str) -> list[str]:
    """Split a ``|``-separated alias cell into its non-empty forms."""
    return [a.strip() for a in (value or "").split("|") if a.strip()]


@dataclass(frozen=True)
class Person:
    """One roster row: a participant or facilitator of one site."""

    site: str
    participant: str          # "9" or "F1"
    name: str
    aliases: tuple[str, ...]
    role: str
    gender: str
    label: str
    transcripts: tuple[str, ...]
    case_sensitive: bool
    line: int

    @property
    def is_facilitator(self) -> bool:
        return self.role == "facilitator"

    @property
    def code(self) -> str:
        """The pseudonym used in shareable outputs: P09 for participant 9, F01 for facilitator F1."""
        if self.is_facilitator:
            return f"F{int(self.participant[1:]):02d}"
        return f"P{int(self.participant):02d}"

    @property
    def description(self) -> str:
        """How quotes describe the person: the roster label, else the Table 2 role's name."""
        return self.label or ROLE_LABELS[self.role]

    @property
    def forms(self) -> tuple[str, ...]:
        """Every written form of the person's name: full name first, then aliases."""
        return (self.name, *self.aliases)


def read_sites(path: str | Path) -> pd.DataFrame:
    """Read config/sites.tsv; site ids must be unique."""
    df = read_tsv(path, "sites.schema.yaml")
    problems = [Problem(str(path), int(r["_line"]), f"site {r['site']!r} is listed twice: keep one row per site")
                for r in df[df.duplicated("site")].to_dict("records")]
    raise_if(problems)
    return df.reset_index(drop=True)


def read_roster(path: str | Path, sites: pd.DataFrame) -> list[Person]:
    """Read the roster and check it: known sites, unique numbers per site, unambiguous names."""
    df = read_tsv(path, "roster.schema.yaml")
    known = set(sites["site"])
    problems: list[Problem] = []
    people: list[Person] = []
    seen: dict[tuple[str, str], int] = {}
    for r in df.to_dict("records"):
        line = int(r["_line"])
        if r["site"] not in known:
            problems.append(Problem(str(path), line, f"site {r['site']!r} is not in the sites table: "
                                                     "add it to config/sites.tsv or fix the id"))
            continue
        key = (r["site"], r["participant"])
        if key in seen:
            problems.append(Problem(str(path), line, f"participant {r['participant']} appears twice for "
                                                     f"{r['site']} (also line {seen[key]}): give each person "
                                                     "one row and a unique number"))
            continue
        seen[key] = line
        people.append(Person(
            site=r["site"], participant=r["participant"], name=r["name"],
            aliases=tuple(split_aliases(r.get("aliases", ""))), role=r["role"], gender=r["gender"],
            label=r.get("label", ""), transcripts=tuple(r["transcript"].split("|")),
            case_sensitive=r.get("case_sensitive", "") == "yes", line=line))
    # A speaker label must point at one person: the same form for two people of a site is ambiguous.
    owner: dict[tuple[str, str], Person] = {}
    for p in people:
        for form in p.forms:
            k = (p.site, normalise_label(form))
            other = owner.get(k)
            if other is not None and other.participant != p.participant:
                problems.append(Problem(str(path), p.line, f"name or alias {form!r} is also used by participant "
                                                           f"{other.participant} of {p.site} (line {other.line}): "
                                                           "make the aliases distinct"))
            owner[k] = p
    raise_if(problems)
    return people


@dataclass(frozen=True)
class Identifier:
    """A third party, place, hospital or organisation to pseudonymise."""

    site: str                 # a site id or "*"
    term: str
    aliases: tuple[str, ...]
    category: str
    case_sensitive: bool
    line: int

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)


def read_identifiers(path: str | Path, sites: pd.DataFrame) -> list[Identifier]:
    """Read identifiers.tsv; a site must be known or ``*``."""
    df = read_tsv(path, "identifiers.schema.yaml")
    known = set(sites["site"]) | {"*"}
    problems: list[Problem] = []
    out: list[Identifier] = []
    for r in df.to_dict("records"):
        if r["site"] not in known:
            problems.append(Problem(str(path), int(r["_line"]), f"site {r['site']!r} is not in the sites "
                                                                "table: use a site id from config/sites.tsv or *"))
            continue
        out.append(Identifier(r["site"], r["term"], tuple(split_aliases(r.get("aliases", ""))),
                              r["category"], r.get("case_sensitive", "") == "yes", int(r["_line"])))
    raise_if(problems)
    return out


# rapidfuzz ratio (0-100) from which an unknown speaker label is offered a roster form as a typo fix.
SUGGEST_SCORE = 80


class SpeakerIndex:
    """Resolve a transcript's speaker label to the roster person it names."""

    def __init__(self, people: list[Person]) -> None:
        self._by_form: dict[tuple[str, str], Person] = {}
        for p in people:
            for form in p.forms:
                self._by_form[(p.site, normalise_label(form))] = p

    def resolve(self, site: str, label: str) -> Person | None:
        return self._by_form.get((site, normalise_label(label)))

    def suggest(self, site: str, label: str, transcript: str = "") -> str | None:
        """The roster form closest to a label that resolves to no one (a typo), if one is close.

        Forms of people listed for ``transcript`` win ties, so the hint names who is expected there.
        """
        from rapidfuzz import fuzz

        wanted = normalise_label(label)
        best: tuple[float, int, str] | None = None
        for (s, form), person in sorted(self._by_form.items(), key=lambda kv: kv[0]):
            if s != site:
                continue
            score = fuzz.ratio(wanted, form)
            key = (score, transcript in person.transcripts, -len(form))
            if score >= SUGGEST_SCORE and (best is None or key > best[:3]):
                shown = next(f for f in person.forms if normalise_label(f) == form)
                best = (*key, shown)
        return best[3] if best else None


def check_speakers(site: str, transcript: str, turns: list, path: str, index: SpeakerIndex) -> list[Problem]:
    """Every speaker label of a transcript must be a roster person of that site and transcript."""
    problems: list[Problem] = []
    reported: set[str] = set()
    for t in turns:
        if t.kind != "speech" or t.speaker in reported:
            continue
        person = index.resolve(site, t.speaker)
        if person is None or transcript not in person.transcripts:
            reported.add(t.speaker)
        if person is None:
            close = index.suggest(site, t.speaker, transcript)
            hint = (f"did you mean {close!r}? If it is someone else, add the person (or this spelling as an "
                    "alias) to roster.tsv" if close else
                    "add the person (or this spelling as an alias) to roster.tsv")
            problems.append(Problem(path, t.line, f"speaker {t.speaker!r} is not in the roster for {site}: {hint}"))
        elif transcript not in person.transcripts:
            problems.append(Problem(path, t.line, f"speaker {t.speaker!r} (participant {person.participant}) "
                                                  f"is listed in the roster for {'|'.join(person.transcripts)}, "
                                                  f"not {transcript}: fix the roster's transcript column"))
    return problems
