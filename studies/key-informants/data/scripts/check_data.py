"""Self-check of the key-informant demo data (synthetic) against its contract.

Run from the repository root after `make setup`:

    .venv/bin/python studies/key-informants/data/scripts/check_data.py

What it verifies (data/README.md "Self-check" explains why each matters):
1. roster counts per site and wave: informants at FG1 (pre), FG2 (post), at both and distinct, as the
   study's table says (54 distinct, 24 returning); each site's role mix; one facilitator F1;
2. transcripts: front matter (kind, date inside the wave's window, wave), 30-40 turns, every speaker
   label resolves to a roster person of that site listed for that transcript, and every informant
   listed for a transcript speaks at least twice;
3. local and English files of a pair have the same number of turns and the same speakers in the same
   order, except where `planted_problems.tsv` documents a turn_count_mismatch or
   speaker_sequence_mismatch;
4. every planted problem in `planted_problems.tsv` is raised by qualflow's translation check at that
   turn (unplanned flags are listed as notes, not failures);
5. codings: header, transcript id matching the file name, the turn exists in the English file and is
   an informant's speech turn (never a facilitator's or a marker line), valence is one of the three,
   the label is a code of `config/codebook.yaml` (id, label or synonym), no memo contains a roster or
   identifier name, and coder_a/coder_b cover the transcripts the study assigns them.

Only the sites present (a raw folder or roster rows) are checked; the study-wide totals only when all
six are. Problems print as `path:line: what is wrong`, then a summary; exit status 1 if any. Reads only;
deterministic (sorted walks, no randomness, no clock).
"""
from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

STUDY = Path(__file__).resolve().parents[2]           # studies/key-informants
REPO = STUDY.parents[1]
sys.path.insert(0, str(REPO / "workflow"))

import yaml  # noqa: E402  (a qualflow dependency)

from qualflow.codebook import normalise_label as normalise_code_label  # noqa: E402
from qualflow.errors import InputError  # noqa: E402
from qualflow.study import Person, SpeakerIndex, check_speakers, normalise_label, split_aliases  # noqa: E402
from qualflow.transcripts import read_transcript  # noqa: E402

DATA = STUDY / "data"
# The contract's table: site -> (pre, post, both, distinct) informants (facilitators excluded).
EXPECTED = {
    "ulm": (6, 5, 3, 8), "hamburg": (7, 6, 4, 9), "butabika": (8, 7, 5, 10),
    "dar_es_salaam": (7, 6, 4, 9), "beer_sheva": (6, 5, 3, 8), "pune": (8, 7, 5, 10),
}
TOTALS = (42, 36, 24, 54)
LOCAL_LANG = {"ulm": "de", "hamburg": "de", "butabika": None, "dar_es_salaam": "sw",
              "beer_sheva": "he", "pune": "mr"}
WAVES = {"FG1": ("pre", date(2019, 9, 1), date(2019, 12, 20)),
         "FG2": ("post", date(2021, 3, 1), date(2021, 7, 31))}
ROLES = {"mh_manager", "mh_worker", "psw", "service_user_rep", "policy_maker", "facilitator"}
GENDERS = {"female", "male", "not_recorded"}
VALENCES = {"facilitator", "barrier", "mixed"}
ROSTER_HEADER = ["site", "transcript", "participant", "name", "aliases", "role", "gender", "label",
                 "case_sensitive"]
IDENT_HEADER = ["site", "term", "aliases", "category", "case_sensitive"]
CODING_HEADER = ["transcript", "turn", "code", "valence", "memo"]
PLANTED_HEADER = ["site", "transcript", "turn", "flag", "what"]
CODER_B = {"ulm.FG1", "butabika.FG2", "pune.FG1", "beer_sheva.FG2"}
MIN_TURNS, MAX_TURNS = 30, 40
# Markers of the contract, used when the study's config.yaml is not there yet.
MARKERS = {
    "en": {"inaudible": ["[inaudible]"], "crosstalk": ["[crosstalk]"], "laughter": ["[laughter]"]},
    "de": {"inaudible": ["[unverständlich]"], "crosstalk": ["[durcheinander]"], "laughter": ["[Lachen]"]},
    "he": {"inaudible": ["[לא ברור]"], "crosstalk": ["[מדברים יחד]"], "laughter": ["[צחוק]"]},
    "sw": {"inaudible": ["[haisikiki]"], "crosstalk": ["[wanaongea pamoja]"], "laughter": ["[kicheko]"]},
    "mr": {"inaudible": ["[अस्पष्ट]"], "crosstalk": ["[एकाच वेळी बोलणे]"], "laughter": ["[हशा]"]},
}

problems: list[str] = []
notes: list[str] = []


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def problem(path: Path, line: int | None, msg: str) -> None:
    problems.append(f"{rel(path)}:{line if line else 1}: {msg}")


def read_rows(path: Path, header: list[str]) -> list[tuple[int, dict]]:
    """(line, row) of a TSV whose header must be exactly ``header``."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0] != header:
        problem(path, 1, f"header must be exactly {'<TAB>'.join(header)}")
        return []
    out = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problem(path, i, f"has {len(row)} cells, the header {len(header)}")
            continue
        out.append((i, dict(zip(header, row))))
    return out


def table_files(kind: str) -> list[Path]:
    """The study's synthetic/restricted/<kind>.tsv (roster or identifiers)."""
    return [DATA / "synthetic" / "restricted" / f"{kind}.tsv"]


# ------------------------------------------------------------------------------------ roster
def load_roster() -> list[Person]:
    people: list[Person] = []
    seen: dict[tuple[str, str], str] = {}
    for path in table_files("roster"):
        for line, r in read_rows(path, ROSTER_HEADER):
            where = f"{rel(path)}:{line}"
            if r["role"] not in ROLES:
                problem(path, line, f"role {r['role']!r} is not one of {sorted(ROLES)}")
            if r["gender"] not in GENDERS:
                problem(path, line, f"gender {r['gender']!r} is not one of {sorted(GENDERS)}")
            if not re.fullmatch(r"FG[12](\|FG[12])?", r["transcript"]):
                problem(path, line, f"transcript {r['transcript']!r} must be FG1, FG2 or FG1|FG2")
            key = (r["site"], r["participant"])
            if key in seen:
                problem(path, line, f"participant {r['participant']} of {r['site']} also at {seen[key]}")
                continue
            seen[key] = where
            people.append(Person(site=r["site"], participant=r["participant"], name=r["name"],
                                 aliases=tuple(split_aliases(r["aliases"])), role=r["role"],
                                 gender=r["gender"], label=r["label"],
                                 transcripts=tuple(r["transcript"].split("|")),
                                 case_sensitive=r["case_sensitive"] == "yes", line=line))
            for form in (r["name"], *split_aliases(r["aliases"])):
                if len(normalise_label(form)) < 3:
                    problem(path, line, f"name form {form!r} is too short to pseudonymise safely")
    return people


def check_roster(people: list[Person], sites: list[str]) -> dict[str, tuple[int, int, int, int]]:
    counts = {}
    path = DATA / "synthetic" / "restricted" / "roster.tsv"
    for site in sites:
        inf = [p for p in people if p.site == site and not p.is_facilitator]
        pre = sum("FG1" in p.transcripts for p in inf)
        post = sum("FG2" in p.transcripts for p in inf)
        both = sum("FG1" in p.transcripts and "FG2" in p.transcripts for p in inf)
        counts[site] = (pre, post, both, len(inf))
        if site in EXPECTED and counts[site] != EXPECTED[site]:
            problem(path, None, f"{site}: roster has pre/post/both/distinct {counts[site]}, "
                                f"the study table says {EXPECTED[site]}")
        roles = Counter(p.role for p in inf)
        for role, n in (("mh_manager", 1), ("mh_worker", 2), ("psw", 1)):
            if roles[role] < n:
                problem(path, None, f"{site}: {roles[role]} {role} (at least {n} needed)")
        fac = [p for p in people if p.site == site and p.is_facilitator]
        if not any(p.participant == "F1" and set(p.transcripts) == {"FG1", "FG2"} for p in fac):
            problem(path, None, f"{site}: no facilitator F1 listed for FG1|FG2")
    if set(EXPECTED) <= set(sites):
        total = tuple(sum(c[i] for c in counts.values()) for i in range(4))
        if total != TOTALS:
            problem(path, None, f"study totals pre/post/both/distinct {total}, expected {TOTALS}")
        roles = Counter(p.role for p in people)
        for role in ("service_user_rep", "policy_maker"):
            if roles[role] < 4:
                problem(path, None, f"study has {roles[role]} {role} (at least 4 needed)")
    return counts


def name_forms(people: list[Person]) -> dict[str, set[str]]:
    """Every roster and identifier form per site (for the memo check)."""
    forms: dict[str, set[str]] = {}
    for p in people:
        forms.setdefault(p.site, set()).update(f for f in p.forms if f)
    for path in table_files("identifiers"):
        for _, r in read_rows(path, IDENT_HEADER):
            forms.setdefault(r["site"], set()).update([r["term"], *split_aliases(r["aliases"])])
    return forms


# ------------------------------------------------------------------------------------ transcripts
def load_planted() -> dict[tuple[str, str], list[tuple[int, str, int]]]:
    path = DATA / "planted_problems.tsv"
    out: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    if not path.exists():
        problem(path, None, "missing: list the planted translation problems (site, transcript, turn, flag, what)")
        return out
    for line, r in read_rows(path, PLANTED_HEADER):
        if not r["turn"].isdigit():
            problem(path, line, f"turn {r['turn']!r} is not a number")
            continue
        out.setdefault((r["site"], r["transcript"]), []).append((int(r["turn"]), r["flag"], line))
    return out


def study_markers() -> dict:
    cfg = STUDY / "config" / "config.yaml"
    if cfg.exists():
        markers = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("markers")
        if markers:
            return markers
    return MARKERS


def check_transcripts(people: list[Person], sites: list[str], planted) -> dict:
    index = SpeakerIndex(people)
    english: dict[str, object] = {}
    pairs = []
    for site in sites:
        folder = DATA / "synthetic" / "raw" / site
        for fg, (wave, first, last) in WAVES.items():
            langs = ["en"] + ([LOCAL_LANG[site]] if LOCAL_LANG.get(site) else [])
            parsed = {}
            for lang in langs:
                path = folder / f"{fg}.{lang}.txt"
                if not path.exists():
                    problem(path, None, f"missing ({site} {fg} needs {', '.join(f'{fg}.{x}.txt' for x in langs)})")
                    continue
                try:
                    t = read_transcript(path, site)
                except InputError as exc:
                    problems.append(str(exc))
                    continue
                parsed[lang] = t
                check_one(t, path, fg, wave, first, last, people, index)
            if "en" in parsed:
                english[f"{site}.{fg}"] = parsed["en"]
            local = LOCAL_LANG.get(site)
            if local and local in parsed and "en" in parsed:
                pairs.append((site, fg, local, parsed[local], parsed["en"]))
    check_pairs(pairs, planted, people)
    return english


def check_one(t, path: Path, fg, wave, first, last, people, index) -> None:
    meta = t.meta
    if meta.get("kind") != "focus_group":
        problem(path, 2, f"kind {meta.get('kind')!r}: every transcript is a focus_group")
    if str(meta.get("wave")) != wave:
        problem(path, 2, f"wave {meta.get('wave')!r}: {fg} is wave {wave}")
    try:
        d = date.fromisoformat(str(meta.get("date")))
        if not first <= d <= last:
            problem(path, 2, f"date {d} is outside the {wave} window {first}..{last}")
    except ValueError:
        problem(path, 2, f"date {meta.get('date')!r} is not YYYY-MM-DD")
    if not MIN_TURNS <= len(t.turns) <= MAX_TURNS:
        problem(path, None, f"{len(t.turns)} turns (the contract asks for {MIN_TURNS}-{MAX_TURNS})")
    for p in check_speakers(t.site, fg, t.turns, str(path), index):
        problems.append(f"{rel(Path(p.path))}:{p.line}: {p.message}")
    spoken = Counter()
    for turn in t.turns:
        if turn.kind == "speech":
            person = index.resolve(t.site, turn.speaker)
            if person is not None:
                spoken[person.participant] += 1
    for p in people:
        if p.site == t.site and fg in p.transcripts and not p.is_facilitator and spoken[p.participant] < 2:
            problem(path, None, f"participant {p.participant} is listed for {fg} but speaks "
                                f"{spoken[p.participant]} time(s) (at least 2)")


def affix_rules(langs: list[str]):
    """The affix rules the pseudonymise stage uses for these languages (shipped defaults, extended by
    the study config's ``affixes:``), so inflected names are replaced here exactly as in the run."""
    from qualflow.affixes import language_rules
    from qualflow.names import AffixRules
    cfg = STUDY / "config" / "config.yaml"
    extra = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("affixes") if cfg.exists() else None
    rules = language_rules(extra)
    return AffixRules({lang: rules[lang] for lang in langs if lang in rules})


def pseudonymised_frames(pairs, people: list[Person]) -> dict[tuple[str, str, str], object]:
    """Each transcript's turn table as the pipeline checks it: speakers as participant codes, names in
    the text as placeholders. Raw labels differ by script (Hebrew, Devanagari vs Latin), and a name
    dropped in translation only shows as a placeholder difference, so the pairs are compared like this."""
    from qualflow.names import Matcher
    from qualflow.pseudonymise import replace_text, site_entries
    from qualflow.study import Identifier
    idents = [Identifier(r["site"], r["term"], tuple(split_aliases(r["aliases"])), r["category"],
                         r["case_sensitive"] == "yes", line)
              for path in table_files("identifiers") for line, r in read_rows(path, IDENT_HEADER)]
    index = SpeakerIndex(people)
    out = {}
    for site, fg, lang, local, en in pairs:
        matcher = Matcher(site_entries(site, people, idents)[0], affix_rules([lang, "en"]))
        for code, t in ((lang, local), ("en", en)):
            df = t.frame()
            df["speaker"] = [(getattr(index.resolve(site, s), "code", s) if k == "speech" else s)
                             for s, k in zip(df["speaker"], df["kind"])]
            df["text"] = [replace_text(x, matcher)[0] for x in df["text"]]
            out[(site, fg, code)] = df
    return out


def check_pairs(pairs, planted, people: list[Person]) -> None:
    from qualflow import translation as tr
    thresholds = tr.Thresholds()
    markers = study_markers()
    frames = pseudonymised_frames(pairs, people)
    stats = tr.pair_statistics([(lang, frames[(s, fg, lang)], frames[(s, fg, "en")])
                                for s, fg, lang, _, _ in pairs], markers, thresholds)
    detector = tr.SourceDetector(sorted({"en", *(lang for _, _, lang, _, _ in pairs)}))
    for site, fg, lang, local, en in pairs:
        plan = planted.get((site, fg), [])
        planned_kinds = {k for _, k, _ in plan}
        lpath = Path(local.path)
        if len(local.turns) != len(en.turns) and "turn_count_mismatch" not in planned_kinds:
            problem(lpath, None, f"{len(local.turns)} turns, the English file {len(en.turns)}, and no "
                                 "turn_count_mismatch is documented in planted_problems.tsv")
        if (len(local.turns) == len(en.turns) and "speaker_sequence_mismatch" not in planned_kinds):
            lf, ef = frames[(site, fg, lang)], frames[(site, fg, "en")]
            for a, b, sa, sb in zip(local.turns, en.turns, lf["speaker"], ef["speaker"]):
                if sa != sb:
                    problem(lpath, a.line, f"turn {a.turn} is {a.speaker!r} here, {b.speaker!r} in English")
                    break
        flags = tr.check_pair(frames[(site, fg, lang)], frames[(site, fg, "en")], lang, markers, thresholds,
                              stats.get(f"{lang}-en"), detector)
        raised = {(int(r.turn), r.flag) for r in flags.itertuples()}
        for turn, kind, line in plan:
            if (turn, kind) not in raised:
                problem(DATA / "planted_problems.tsv", line,
                        f"{site} {fg} turn {turn}: planted {kind} is not raised by the translation check")
        for turn, kind in sorted(raised - {(t, k) for t, k, _ in plan}):
            notes.append(f"{rel(lpath)}: turn {turn}: {kind} raised but not planted")


# ------------------------------------------------------------------------------------ codings
def load_labels() -> dict[str, str]:
    path = STUDY / "config" / "codebook.yaml"
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    labels: dict[str, str] = {}
    for c in book.get("codes", []):
        for form in (c["id"], c["label"], *c.get("synonyms", [])):
            key = normalise_code_label(form)
            if labels.get(key, c["id"]) != c["id"]:
                problem(path, None, f"label {form!r} matches two codes ({labels[key]}, {c['id']})")
            labels[key] = c["id"]
    return labels


def check_codings(english: dict, people: list[Person], sites: list[str]) -> Counter:
    labels = load_labels()
    index = SpeakerIndex(people)
    forms = name_forms(people)
    n = Counter()
    for coder_dir in sorted(p for p in (DATA / "codings").iterdir() if p.is_dir()):
        coder = coder_dir.name
        for path in sorted(coder_dir.glob("*.tsv")):
            tid = path.name[:-4]
            site = tid.split(".")[0]
            t = english.get(tid)
            if t is None:
                problem(path, None, f"no English transcript {tid} (file names are <site>.<FGn>.tsv)")
                continue
            turns = {x.turn: x for x in t.turns}
            site_forms = sorted({normalise_label(f) for f in forms.get(site, set())}, key=len, reverse=True)
            for line, r in read_rows(path, CODING_HEADER):
                n[coder] += 1
                if r["transcript"] != tid:
                    problem(path, line, f"transcript {r['transcript']!r} but the file is {tid}")
                turn = turns.get(int(r["turn"])) if r["turn"].isdigit() else None
                if turn is None:
                    problem(path, line, f"turn {r['turn']!r} is not a turn of {tid} (1..{len(turns)})")
                elif turn.kind != "speech":
                    problem(path, line, f"turn {turn.turn} is a marker line {turn.text!r}, not speech")
                else:
                    person = index.resolve(site, turn.speaker)
                    if person is not None and person.is_facilitator:
                        problem(path, line, f"turn {turn.turn} is the facilitator's: code informants only")
                if normalise_code_label(r["code"]) not in labels:
                    problem(path, line, f"label {r['code']!r} is not a code or synonym in config/codebook.yaml")
                if r["valence"] not in VALENCES:
                    problem(path, line, f"valence {r['valence']!r} is not one of {sorted(VALENCES)}")
                memo = f" {normalise_label(r['memo'])} "
                for form in site_forms:
                    if re.search(rf"(?<!\w){re.escape(form)}(?!\w)", memo):
                        problem(path, line, "the memo names a person, place or organisation: "
                                            "memos must not identify anyone")
                        break
    for site in sites:
        for fg in WAVES:
            tid = f"{site}.{fg}"
            if not (DATA / "codings" / "coder_a" / f"{tid}.tsv").exists():
                problem(DATA / "codings" / "coder_a" / f"{tid}.tsv", None, "missing: coder_a codes all 12 transcripts")
            b = DATA / "codings" / "coder_b" / f"{tid}.tsv"
            if (tid in CODER_B) != b.exists():
                problem(b, None, "coder_b codes exactly " + ", ".join(sorted(CODER_B)))
    return n


def present_sites(people: list[Person]) -> list[str]:
    raw = {p.name for p in (DATA / "synthetic" / "raw").iterdir() if p.is_dir()} if (DATA / "synthetic" / "raw").exists() else set()
    found = raw | {p.site for p in people}
    unknown = sorted(found - set(EXPECTED))
    for s in unknown:
        problem(DATA / "synthetic" / "raw" / s, None, f"site {s!r} is not a site of the study ({', '.join(EXPECTED)})")
    return [s for s in EXPECTED if s in found]


def main() -> int:
    people = load_roster()
    sites = present_sites(people)
    counts = check_roster(people, sites)
    planted = load_planted()
    english = check_transcripts(people, sites, planted)
    n = check_codings(english, people, sites)
    for line in problems:
        print(line)
    for line in notes:
        print(f"note: {line}")
    missing = [s for s in EXPECTED if s not in sites]
    print(f"sites checked: {', '.join(sites) or 'none'}" + (f"; not present yet: {', '.join(missing)}" if missing else ""))
    for s in sites:
        pre, post, both, distinct = counts[s]
        print(f"  {s}: pre {pre}, post {post}, both {both}, distinct {distinct}")
    print(f"codings: {', '.join(f'{c} {k}' for c, k in sorted(n.items()))}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
