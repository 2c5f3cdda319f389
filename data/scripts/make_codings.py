"""Generate the demo study's codings: two simulated coders on the pseudonymised English transcripts.

The paper's two coders read everything, built a preliminary framework, double-coded four
transcripts in NVivo 12, reconciled, and coded the rest. This script reproduces that shape:

* ``coder_a`` codes all 15 English transcripts and delivers one TSV per transcript,
  ``data/codings/coder_a/<site>.<T>.tsv`` (columns transcript, turn, start, end, code, memo; start
  and end are offsets within the turn's text, end exclusive, blank for the whole turn);
* ``coder_b`` codes the four double-coded transcripts (kampala.FG2, dar_es_salaam.FG1,
  beer_sheva.FG1, ulm.FG2: two low- and two high-income sites, holding 21 of the 30 published
  quotes) and delivers an NVivo-style REFI-QDA export ``data/codings/coder_b/coder_b.qdpx``
  (offsets into the whole pseudonymised .txt, ``Coding/@creatingUser``, nested nodes), written
  with ``qualflow.refiqda.write_qdpx``.

What is coded: a "true" set of codes per participant turn, from keyword rules per code applied
sentence by sentence (facilitator turns are never coded), plus every published quote
(``tests/data/published_quotes.tsv``) under a code of its paper theme, located in its turn by
normalised text matching (``…`` = elided words; ``[name]``/``(Name)`` = a placeholder). Each coder
then behaves like a person: their own label spellings (all listed as synonyms in
``config/codebook.yaml``), sentence-level or paragraph spans, about 12% of codes missed (more for
the abstract framework principles), a few codes confused with a sibling or added, and one
inductive code each that only they use (``role_drift``: coder_a; ``hierarchy``: coder_b). Every
published quote is coded to its theme by at least one coder with a span covering it.

Run from the project root, after the pseudonymise stage, with the project's interpreter::

    .venv/bin/python data/scripts/make_codings.py

It is seeded (``random.Random(20181017)``) and deterministic: running it twice gives byte-identical
files. The codings are offsets into ``results/pseudonymised/*/*.en.{tsv,txt}``: whenever the
pseudonymised English text changes (new placeholder rules, a corrected transcript), re-run this
script and commit its outputs, or the codes stage will (rightly) reject coder_b's export because
its source texts no longer match.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow"))

from qualflow.codebook import load_codebook  # noqa: E402
from qualflow.coder_files import Transcript, load_transcripts  # noqa: E402
from qualflow.refiqda import Code, Coding, Project, Source, User, stable_guid, write_qdpx  # noqa: E402

SEED = 20181017
DOUBLE_CODED = ["kampala.FG2", "dar_es_salaam.FG1", "beer_sheva.FG1", "ulm.FG2"]
SITE_IDS = {"kampala": "kampala", "dar es salaam": "dar_es_salaam", "be’er sheva": "beer_sheva",
            "be'er sheva": "beer_sheva", "ulm": "ulm", "hamburg": "hamburg"}

# The code each published quote illustrates (every one belongs to the quote's paper theme).
QUOTE_CODES = {
    1: "community_stigma", 2: "community_stigma", 3: "religious_traditional_beliefs",
    4: "family_rejection", 5: "community_awareness", 6: "staff_stigma", 7: "staff_stigma",
    8: "staff_acceptance", 9: "psw_as_bridge", 10: "psw_pay", 11: "airtime_transport",
    12: "budget_funding", 13: "budget_funding", 14: "facilities", 15: "facilities",
    16: "indebtedness", 17: "workplace_accommodations", 18: "formal_informal_role",
    19: "medical_model", 20: "role_clarity", 21: "person_dependent_tasks", 22: "staff_training",
    23: "initial_training", 24: "initial_training", 25: "ongoing_training",
    26: "wellbeing_support", 27: "supervision", 28: "supervision", 29: "peer_group_strength",
    30: "buddies",
}

# Keyword rules: a sentence matching a pattern is evidence for the code (case-insensitive).
RULES: dict[str, list[str]] = {
    "mutual": [r"same road", r"similar experiences?", r"shared experience", r"been there",
               r"lived (in )?it", r"own experience", r"went through", r"I was (also |like you|here)",
               r"same (illness|problems?|story)"],
    "strengths_based": [r"strengths?\b", r"\bhope\b", r"positive", r"good at"],
    "inclusive": [r"inclu(de|sive|sion)", r"exclud", r"regardless", r"for everyone",
                  r"without excluding"],
    "community_stigma": [r"\bstigma", r"marginali[sz]", r"second-hand", r"not a priority",
                         r"nobody wants to sit", r"call(ed)? (them|us|him|her) mad",
                         r"in the taxi", r"prejudice"],
    "religious_traditional_beliefs": [r"relig", r"\bchurch", r"mosque", r"pastor", r"\bGod\b",
                                      r"traditional healer", r"herbs", r"witch", r"prayer",
                                      r"shrine", r"spirits?\b", r"curse"],
    "family_rejection": [r"rejected", r"families (are|don't|do not|who don't|hide)",
                         r"don't want (anyone|people) to know", r"given food outside",
                         r"relatives", r"threatening to them", r"family members"],
    "community_awareness": [r"role.?models?", r"\bradio\b", r"\bdrama\b", r"\bmedia\b",
                            r"awareness", r"brokers", r"speaks at a church", r"come to them for help"],
    "staff_stigma": [r"(doctors|staff|colleagues|professionals|nurses|health workers).{0,80}"
                     r"(stigma|label|mad|avoid|patients too|also patients|prejudic|suspicio)",
                     r"hiring the patients", r"was our patient", r"mad ones", r"contagious",
                     r"among the health workers", r"in the teams"],
    "staff_acceptance": [r"accept", r"share lunch", r"changed the atmosphere", r"respect"],
    "psw_as_bridge": [r"\bbridge", r"both worlds", r"open up more", r"translat\w+ between",
                      r"treated like staff", r"mutual understanding"],
    "airtime_transport": [r"airtime", r"transport", r"\bfares?\b", r"boda", r"\bmove \[travel\]",
                          r"home visits", r"far away", r"phone credit"],
    "psw_pay": [r"\bpa(y|id)\b", r"salary", r"salaries", r"allowance", r"incentiv", r"\bearn",
                r"volunteers?", r"mini-job", r"financial support", r"money we are paid"],
    "budget_funding": [r"budget", r"\bfund", r"financ", r"fixed-term", r"donor", r"project money",
                       r"sustainab"],
    "facilities": [r"facilit(y|ies)", r"\broom\b", r"\bdesk\b", r"free chair", r"blankets?",
                   r"under a tree", r"accommodate four", r"infrastructure", r"office space",
                   r"sleeping down"],
    "recovery_focused": [r"recovery-focused", r"recovery focus", r"path (to|towards) recovery",
                         r"recovery orientation", r"purpose, which is recovery",
                         r"part of my recovery"],
    "choice_of_relationship": [r"\bchoose", r"\bchooses\b", r"assign", r"decide themselves",
                               r"whether they want", r"forced to go", r"voluntary"],
    "psw_focus": [r"change (the|how we talk in the) (team|clinic|staff|culture)", r"the team and the clinic",
                  r"for the staff", r"change the institution", r"look after the users",
                  r"changes the team"],
    "indebtedness": [r"favou?r", r"grateful", r"indebted", r"dare to criticis", r"owe them",
                     r"thankful"],
    "workplace_accommodations": [r"accommodation", r"adjustments?", r"flexib", r"working hours",
                                 r"start work", r"afternoon shifts", r"part-time", r"half-time"],
    "formal_informal_role": [r"\bformal", r"informal", r"appointment letter", r"cadre",
                             r"scheme of service", r"recogni[sz]ed as"],
    "hierarchy": [r"hierarch", r"speak last", r"at the (very )?bottom", r"senior physician decides",
                  r"send them around", r"lower than"],
    "medical_model": [r"medical model", r"illness model", r"pharmacolog", r"give the drug",
                      r"psychological and social support", r"few psychologists"],
    "non_directive": [r"\bdecide\b", r"plan together", r"solutions? together", r"dictat",
                      r"did anyone ask", r"non-directive", r"give (him|her|them) advice",
                      r"let the peer"],
    "rules_govern_relationship": [r"\brules?\b", r"guidelines", r"code of conduct",
                                  r"laid down", r"framework", r"procedure", r"boundar"],
    "role_clarity": [r"job description", r"terms of reference", r"role description",
                     r"not clear", r"confus", r"what (they|he|she) (can|is allowed to|are allowed to) do",
                     r"lost", r"uncertain", r"her role herself", r"role definition"],
    "person_dependent_tasks": [r"depends? on the person", r"person-dependent", r"personality",
                               r"does something different", r"not uniform", r"totally different",
                               r"depends on the setting"],
    "role_drift": [r"extra pair of hands", r"auxiliary", r"cover for", r"\bcheap", r"first one to be moved",
                   r"send them around", r"ward rules"],
    "safe": [r"\bsafe", r"\btrust\b", r"danger", r"confidential"],
    "recovery_journey_stage": [r"same place in (their )?recovery", r"not (be )?ready", r"last crisis",
                               r"becomes? a provider", r"stable enough", r"far yet",
                               r"become peer support workers", r"how long .{0,20}stable",
                               r"relapse"],
    "staff_training": [r"staff (need|members|don't know|do not know)", r"introduced to other staff",
                       r"nurses (also )?need", r"other staff know", r"(nurses|staff|doctors) "
                       r"(don't|do not|did not|didn't) (know|understand)",
                       r"lack of knowledge", r"train(ing)? (the )?(staff|teams|nurses|health workers)",
                       r"don't know what a peer", r"the teams need"],
    "initial_training": [r"\bcourse\b", r"basic training", r"first .{0,40}training",
                         r"initial training", r"received training", r"\btrained\b",
                         r"training before"],
    "ongoing_training": [r"continu\w+ training", r"further training", r"refresher",
                         r"more training", r"ongoing training", r"regular .{0,20}training",
                         r"training .{0,20}every"],
    "supervision": [r"supervis", r"\bguid(e|ance)\b", r"mentor", r"in isolation",
                    r"talk to openly", r"nobody she could talk"],
    "wellbeing_support": [r"well-?being", r"manage workloads", r"need(s)? help", r"burn.?out",
                          r"stress", r"ability to receive help", r"ask for it", r"becomes? unwell",
                          r"symptoms coming back", r"own (mental )?health", r"sick leave",
                          r"look after (him|her|them)sel", r"self-care"],
    "reciprocal": [r"both ways", r"give and (take|receive)", r"giving and receiving",
                   r"I also become", r"get something", r"reciproc", r"learn from them"],
    "progressive": [r"befriend", r"advance", r"move forward", r"progress", r"just friends",
                    r"a purpose"],
    "group_vs_individual": [r"one-to-one", r"individual support", r"in a group", r"group sessions?",
                            r"personal relationship", r"rather a group", r"groups or"],
    "peer_group_strength": [r"group is stronger", r"stronger together", r"nobody feels so alone",
                            r"catch each other", r"together all the time", r"not alone",
                            r"we are many"],
    "buddies": [r"budd(y|ies)", r"look after each other", r"pairs? of peers"],
    "peer_network": [r"network", r"monthly meeting", r"meeting of peer", r"exchange"],
}

# The topic guide follows the framework: a facilitator prompt about a principle or influence
# makes a coder code the answers to it with that code (deductive coding).
PROMPTS: dict[str, str] = {
    "mutual": r"\bmutual\b|similar (things|experiences)|gone through similar",
    "reciprocal": r"reciproc|give and both receive|giving and receiving|learn from each other"
                  r"|also gets? something",
    "non_directive": r"non-directive|solutions? together|who decides what|tell people what they",
    "recovery_focused": r"recovery-focused|recovery focused|talk about recovery",
    "strengths_based": r"strengths",
    "inclusive": r"inclusive|without excluding|nobody pushed away|for everyone",
    "progressive": r"progressive|advance together|befriend|move forward",
    "safe": r"\bsafety\b|\bsafe\b|\btrust\b",
    "group_vs_individual": r"groups? or one|one-to-one|one by one|group sessions",
    "choice_of_relationship": r"\bchoos|who works with whom|decide themselves whether",
    "rules_govern_relationship": r"\brules\b|laid down",
    "recovery_journey_stage": r"(same|similar) (stages?|place|point) (in|of) (their )?recovery"
                              r"|become peer support workers themselves",
    "psw_focus": r"focus only on the peers|also change the team|changing the staff"
                 r"|mainly look after the users",
}
# Words in an answer that show which of several prompted principles it addresses.
CUES: dict[str, str] = {
    "mutual": r"same|similar|I was|we (were|have been)|lived", "reciprocal": r"both|also (get|learn|become)|learn",
    "non_directive": r"decide|together|tell|force|advice", "recovery_focused": r"recover",
    "strengths_based": r"strength|good (at|things)|hope|positive|talent",
    "inclusive": r"everyone|includ|exclud|anyone|hard to", "progressive": r"forward|progress|advanc|friend",
    "safe": r"safe|trust|danger|secret", "group_vs_individual": r"group|one-to-one|one to one|individual",
    "choice_of_relationship": r"choos|decide|want|assign|voluntar", "rules_govern_relationship": r"rule|written|boundar",
    "recovery_journey_stage": r"stage|stable|ready|further|crisis|relapse",
    "psw_focus": r"staff|team|hospital|society|clinic",
}
RESPONSES = 4           # answers to a prompt a coder codes with the prompted code
MIN_ANSWER = 40         # shorter answers ("Yes, exactly.") are not coded

# How often each code is missed by a coder who should have seen it (default MISS).
MISS = 0.07
HARD = {"progressive": 0.35, "psw_focus": 0.3, "strengths_based": 0.25, "inclusive": 0.2,
        "choice_of_relationship": 0.2, "recovery_focused": 0.25, "safe": 0.25, "mutual": 0.15,
        "rules_govern_relationship": 0.15, "staff_acceptance": 0.2, "peer_network": 0.15}
# Codes easily confused with a sibling: a coder sometimes uses the sibling instead.
CONFUSED = {
    "community_stigma": "staff_stigma", "staff_stigma": "community_stigma",
    "initial_training": "ongoing_training", "ongoing_training": "initial_training",
    "supervision": "wellbeing_support", "wellbeing_support": "supervision",
    "budget_funding": "psw_pay", "psw_pay": "budget_funding", "airtime_transport": "psw_pay",
    "role_clarity": "rules_govern_relationship", "rules_govern_relationship": "role_clarity",
    "peer_group_strength": "peer_network", "peer_network": "peer_group_strength",
    "mutual": "reciprocal", "reciprocal": "mutual", "formal_informal_role": "hierarchy",
    "community_awareness": "strengths_based", "staff_acceptance": "staff_stigma",
}
CONFUSE = 0.05
EXTRA = 0.04
# The inductive code each coder introduced and the other did not use (see codebook introduced_by).
ONLY = {"role_drift": "coder_a", "hierarchy": "coder_b"}
INSTEAD = {"role_drift": "role_clarity", "hierarchy": "formal_informal_role"}

# coder_a types labels into a spreadsheet: a main spelling, and now and then another one.
LABELS_A: dict[str, list[str]] = {
    "mutual": ["P1 Mutual"], "reciprocal": ["P2 Reciprocal"], "non_directive": ["P3 Non-directive"],
    "recovery_focused": ["P4 Recovery focused"], "strengths_based": ["P5 Strengths based"],
    "inclusive": ["P6 Inclusive"], "progressive": ["P7 Progressive"], "safe": ["P8 Safe"],
    "group_vs_individual": ["I1 Group vs individual"], "choice_of_relationship": ["I2 Choice"],
    "rules_govern_relationship": ["I3 Rules"], "recovery_journey_stage": ["I4 Recovery stage"],
    "psw_focus": ["I5 PSW focus"],
    "community_stigma": ["Community stigma", "community stigma", "Comunity stigma"],
    "religious_traditional_beliefs": ["Religious & traditional beliefs", "Religious beliefs"],
    "family_rejection": ["Family rejection", "Family rejection / secrecy"],
    "community_awareness": ["Community awareness", "Role models"],
    "staff_stigma": ["Staff stigma", "staff stigma", "Stigma from health workers"],
    "staff_acceptance": ["Staff acceptance"], "psw_as_bridge": ["PSW as bridge", "Bridging role"],
    "airtime_transport": ["Airtime & transport", "Transport costs"],
    "psw_pay": ["Payment of PSWs", "Incentives"], "budget_funding": ["Budget & funding", "Funding"],
    "facilities": ["Facilities", "Infrastructure"], "indebtedness": ["Indebtedness"],
    "workplace_accommodations": ["Workplace accommodations", "Accommodations"],
    "formal_informal_role": ["Formal vs informal role"], "medical_model": ["Medical model"],
    "role_clarity": ["Role clarity", "Job description"],
    "person_dependent_tasks": ["Person-dependent tasks", "Person dependent tasks"],
    "role_drift": ["Role drift"], "staff_training": ["Training for staff"],
    "initial_training": ["Initial training"], "ongoing_training": ["Ongoing training",
                                                                   "Continuous training"],
    "supervision": ["Supervision"], "wellbeing_support": ["Wellbeing support"],
    "peer_group_strength": ["Peer group strength"], "buddies": ["Buddies", "Buddy"],
    "peer_network": ["Peer network"],
}
# coder_b's NVivo nodes: folder -> [(node name, code)]; "Stigma" has child nodes named only
# "community" and "staff", which make sense only with their parent ("Stigma > community").
NODES_B: list[tuple[str, list[tuple[str, str]]]] = [
    ("Principles", [("Mutuality", "mutual"), ("Reciprocity", "reciprocal"),
                    ("Non directiveness", "non_directive"), ("Recovery focus", "recovery_focused"),
                    ("Strengths", "strengths_based"), ("Inclusion", "inclusive"),
                    ("Progression", "progressive"), ("Safety", "safe")]),
    ("Influences", [("Group or one-to-one", "group_vs_individual"),
                    ("Choosing the relationship", "choice_of_relationship"),
                    ("Rules", "rules_govern_relationship"),
                    ("Stage of recovery", "recovery_journey_stage"),
                    ("Focus on users vs system", "psw_focus")]),
    ("Attitudes", [("Beliefs (religious/traditional)", "religious_traditional_beliefs"),
                   ("Rejection by family", "family_rejection"),
                   ("Awareness in community", "community_awareness"),
                   ("Acceptance by staff", "staff_acceptance"), ("PSW bridge", "psw_as_bridge")]),
    ("Resources", [("Airtime/transport", "airtime_transport"), ("Pay & incentives", "psw_pay"),
                   ("Budget/funding", "budget_funding"),
                   ("Facilities & infrastructure", "facilities")]),
    ("Organisation", [("Feeling indebted", "indebtedness"),
                      ("Workplace accommodation", "workplace_accommodations"),
                      ("Formal vs informal", "formal_informal_role"),
                      ("Hierarchy in the team", "hierarchy"),
                      ("Medical model / limited support", "medical_model")]),
    ("Role", [("Role clarity / ToR", "role_clarity"),
              ("Tasks depend on person", "person_dependent_tasks")]),
    ("Training & support", [("Training - staff", "staff_training"),
                            ("Training - initial", "initial_training"),
                            ("Training - ongoing", "ongoing_training"),
                            ("Supervision & guidance", "supervision"),
                            ("Well-being of PSWs", "wellbeing_support")]),
    ("Peers", [("Group strength", "peer_group_strength"), ("Buddy system", "buddies"),
               ("PSW network / exchange", "peer_network")]),
]
STIGMA_CHILDREN_B = [("community", "community_stigma"), ("staff", "staff_stigma")]
MEMOS_A = ["strong quote", "check with coder_b", "also resources?", "maybe organisational culture",
           "good example", "borderline"]
MEMOS_B = ["quote for paper?", "discuss at consensus meeting", "double-check theme"]


# --------------------------------------------------------------------------- text helpers


def _norm_map(text: str) -> tuple[str, list[int]]:
    """Lower-case letters/digits with single spaces, and the original index of each kept char."""
    out, idx = [], []
    for i, ch in enumerate(unicodedata.normalize("NFC", text)):
        if ch.isalnum():
            out.append(ch.lower())
            idx.append(i)
        elif out and out[-1] != " ":
            out.append(" ")
            idx.append(i)
    return "".join(out), idx


_CUT = re.compile(r"…|\.\.\.|\[[^\]]*\]|\((?:[Nn]ame)\)")


def quote_span(quote: str, turn_text: str) -> tuple[int, int] | None:
    """Where a published quote sits in a turn: its segments (split at ``…`` and bracketed
    insertions or placeholders) found in order; a segment may lose up to two words at either edge
    (``[name] hospital`` vs ``[HOSPITAL_01]``)."""
    norm, idx = _norm_map(turn_text)
    segments = [s for s in (_norm_map(p)[0].strip() for p in _CUT.split(quote)) if s]
    pos, first, last = 0, None, None
    for seg in segments:
        words = seg.split()
        found = None
        for drop_l in range(0, 3):
            for drop_r in range(0, 3):
                cand = " ".join(words[drop_l: len(words) - drop_r])
                if len(cand) < 8 and len(words) > 2:
                    continue
                if not cand:
                    continue
                at = norm.find(cand, pos)
                if at >= 0:
                    found = (at, at + len(cand))
                    break
            if found:
                break
        if found is None:
            if len(seg) < 12:      # a one- or two-word scrap between insertions
                continue
            return None
        first = found[0] if first is None else first
        last = found[1]
        pos = found[1]
    if first is None:
        return None
    start, end = idx[first], idx[last - 1] + 1
    # Extend to the sentence's closing punctuation/quote mark, as a person selecting it would.
    while end < len(turn_text) and turn_text[end] in ".?!’'\"…":
        end += 1
    return start, end


_SENT = re.compile(r"[^.!?…]+(?:[.!?…]+[’'\"]?|$)")


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a turn (start, end exclusive), whitespace trimmed."""
    out = []
    for m in _SENT.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------- truth


@dataclass
class Truth:
    """What a careful coder would code in one unit: code -> span (within the turn), quote flag."""

    transcript: str
    turn: int
    code: str
    start: int
    end: int
    quote: int | None = None


def read_quotes(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def locate_quotes(quotes: list[dict], transcripts: dict[str, Transcript]) -> list[Truth]:
    """Each published quote's transcript, turn and span; an unlocatable quote is an error."""
    out = []
    for q in quotes:
        n = int(q["quote"])
        site = SITE_IDS[q["site"].strip().lower()]
        speaker = f"P{int(q['participant']):02d}"
        hits = []
        for tid in sorted(transcripts):
            t = transcripts[tid]
            if t.site != site:
                continue
            for r in t.turns[t.turns["unit"]].itertuples():
                span = quote_span(q["text"], r.text)
                if span:
                    hits.append((r.speaker != speaker, tid, int(r.turn), span))
        if not hits:
            raise SystemExit(f"quote {n} ({q['site']} #{q['participant']}) not found in the "
                             "pseudonymised English transcripts")
        hits.sort()
        wrong, tid, turn, (s, e) = hits[0]
        if wrong:
            print(f"warning: quote {n} found in {tid} turn {turn}, not spoken by {speaker}",
                  file=sys.stderr)
        out.append(Truth(tid, turn, QUOTE_CODES[n], s, e, n))
    return out


def keyword_truth(transcripts: dict[str, Transcript], order: list[str]) -> list[Truth]:
    """Sentence-level evidence for each code in each participant turn (first sentence per code),
    plus the prompted framework code on the answers to a facilitator's question (whole turn)."""
    compiled = {c: [re.compile(p, re.I) for p in pats] for c, pats in RULES.items()}
    prompts = {c: re.compile(p, re.I) for c, p in PROMPTS.items()}
    cues = {c: re.compile(p, re.I) for c, p in CUES.items()}
    out = []
    for tid in order:
        t = transcripts[tid]
        have: set[tuple[int, str]] = set()
        prompted: list[str] = []
        answers = 0
        questions = 0
        for r in t.turns.itertuples():
            if r.role == "facilitator":
                questions += 1
                found = sorted((m.start(), c) for c, p in prompts.items() if (m := p.search(r.text)))
                if found or len(r.text) > 60:        # a new question ends the previous topic
                    prompted = [c for _pos, c in found]
                    answers = 0
                continue
            if not r.unit or questions < 2:     # the round of introductions is not coded
                continue
            sents = sentences(r.text)
            for code, pats in compiled.items():
                hit = [(s, e) for s, e in sents if any(p.search(r.text[s:e]) for p in pats)]
                if hit:
                    out.append(Truth(tid, int(r.turn), code, hit[0][0], hit[0][1]))
                    have.add((int(r.turn), code))
            if prompted and answers < RESPONSES and len(r.text) >= MIN_ANSWER:
                answers += 1
                chosen = prompted if len(prompted) == 1 else \
                    ([c for c in prompted if cues[c].search(r.text)] or prompted[:1])
                for code in chosen:
                    if (int(r.turn), code) not in have:
                        out.append(Truth(tid, int(r.turn), code, 0, len(r.text)))
                        have.add((int(r.turn), code))
    return out


# --------------------------------------------------------------------------- coders


@dataclass
class Applied:
    coder: str
    transcript: str
    turn: int
    code: str
    start: int | None          # within the turn; None = the whole turn (TSV) / paragraph (qdpx)
    end: int | None
    memo: str = ""
    into_next: bool = False    # qdpx only: the selection runs on into the next turn


def _extend(text: str, s: int, e: int, rng: random.Random, p_next: float) -> tuple[int, int]:
    """A person's selection: the sentence, sometimes with the next one."""
    if rng.random() < p_next:
        after = [(a, b) for a, b in sentences(text) if a >= e]
        if after:
            e = after[0][1]
    return s, e


def simulate(coder: str, truths: list[Truth], quotes_for: dict, transcripts: dict[str, Transcript],
             rng: random.Random) -> list[Applied]:
    """One coder's codings of the given truths (one transcript at a time, in order)."""
    out: list[Applied] = []
    tsv = coder == "coder_a"
    for tr in truths:
        t = transcripts[tr.transcript]
        text = t.turn_row(tr.turn)["text"]
        if tr.quote is not None:
            if not quotes_for.get((tr.quote, coder), False):
                continue
            code = tr.code
            s, e = tr.start, tr.end
            if not tsv and rng.random() < 0.4:
                s = e = None
            out.append(Applied(coder, tr.transcript, tr.turn, code, s, e,
                               memo=("strong quote" if tsv and rng.random() < 0.3 else "")))
            continue
        code = tr.code
        if code in ONLY and ONLY[code] != coder:
            if rng.random() < 0.5:
                code = INSTEAD[code]
            else:
                continue
        if rng.random() < HARD.get(code, MISS):
            continue
        if code in CONFUSED and rng.random() < CONFUSE:
            alt = CONFUSED[code]
            if not (alt in ONLY and ONLY[alt] != coder):
                code = alt
        s, e = _extend(text, tr.start, tr.end, rng, 0.2)
        r = rng.random()
        if tsv and r < 0.25:
            s = e = None
        elif not tsv and r < 0.35:
            s = e = None
        memo = ""
        if rng.random() < 0.04:
            memo = rng.choice(MEMOS_A if tsv else MEMOS_B)
        out.append(Applied(coder, tr.transcript, tr.turn, code, s, e, memo,
                           into_next=(not tsv and s is not None and rng.random() < 0.03)))
    # A few extra codes: a sibling code of the same theme on a turn the coder already coded.
    by_theme: dict[str, list[str]] = {}
    for c in CODE_THEME:
        by_theme.setdefault(CODE_THEME[c], []).append(c)
    coded = sorted({(a.transcript, a.turn) for a in out}, key=lambda x: (ORDER[x[0]], x[1]))
    have = {(a.transcript, a.turn, a.code) for a in out}
    for tid, turn in coded:
        if rng.random() >= EXTRA * 2:
            continue
        codes_here = sorted(c for (t2, u2, c) in have if t2 == tid and u2 == turn)
        theme = CODE_THEME[rng.choice(codes_here)]
        options = [c for c in by_theme[theme] if (tid, turn, c) not in have
                   and not (c in ONLY and ONLY[c] != coder)]
        if not options:
            continue
        code = rng.choice(options)
        have.add((tid, turn, code))
        text = transcripts[tid].turn_row(turn)["text"]
        s, e = rng.choice(sentences(text))
        out.append(Applied(coder, tid, turn, code, s, e))
    return out


def label_a(code: str, rng: random.Random) -> str:
    labels = LABELS_A[code]
    return labels[0] if len(labels) == 1 or rng.random() < 0.85 else rng.choice(labels[1:])


# --------------------------------------------------------------------------- writers


def write_tsv_files(applied: list[Applied], transcripts: dict[str, Transcript], out_dir: Path,
                    rng: random.Random) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for tid in ORDER_LIST:
        rows = sorted((a for a in applied if a.transcript == tid),
                      key=lambda a: (a.turn, -1 if a.start is None else a.start, a.code))
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t", lineterminator="\n")
        w.writerow(["transcript", "turn", "start", "end", "code", "memo"])
        for a in rows:
            w.writerow([tid, a.turn, "" if a.start is None else a.start,
                        "" if a.end is None else a.end, label_a(a.code, rng), a.memo])
        (out_dir / f"{tid}.tsv").write_text(buf.getvalue(), encoding="utf-8")


def _paragraph_start(t: Transcript, i: int) -> int:
    """Start of the paragraph holding turn row i (its speaker label), as NVivo selects it."""
    s = int(t.turns.at[i, "offset_start"])
    return t.text.rfind("\n", 0, s) + 1


def write_qdpx_file(applied: list[Applied], transcripts: dict[str, Transcript], path: Path) -> None:
    user = User(stable_guid("demo-user", "coder_b"), "coder_b")
    codes: list[Code] = []
    guid_of: dict[str, str] = {}
    for folder, nodes in NODES_B:
        fg = stable_guid("demo-node", folder)
        codes.append(Code(fg, folder, None))
        if folder == "Attitudes":
            sg = stable_guid("demo-node", "Attitudes", "Stigma")
            codes.append(Code(sg, "Stigma", fg))
            for name, code in STIGMA_CHILDREN_B:
                g = stable_guid("demo-node", "Stigma", name)
                codes.append(Code(g, name, sg))
                guid_of[code] = g
        for name, code in nodes:
            g = stable_guid("demo-node", folder, name)
            codes.append(Code(g, name, fg))
            guid_of[code] = g
    sources, codings = [], []
    for tid in DOUBLE_CODED:
        t = transcripts[tid]
        sg = stable_guid("demo-source", tid)
        sources.append(Source(sg, tid, t.text))
        rows = sorted((a for a in applied if a.transcript == tid),
                      key=lambda a: (a.turn, -1 if a.start is None else a.start, a.code))
        for a in rows:
            i = int(t.turns.index[t.turns["turn"] == a.turn][0])
            base = int(t.turns.at[i, "offset_start"])
            if a.start is None:
                s, e = _paragraph_start(t, i), int(t.turns.at[i, "offset_end"])
            else:
                s, e = base + a.start, base + a.end
            if a.into_next and i + 1 < len(t.turns):
                nxt = t.turns.loc[i + 1]
                first = sentences(nxt["text"])
                if first:
                    e = int(nxt["offset_start"]) + first[0][1]
            codings.append(Coding(sg, s, e, guid_of[a.code], "coder_b", memo=a.memo))
        # One question by the facilitator coded by mistake (the codes stage drops it, with a warning).
        if tid == "kampala.FG2":
            fac = t.turns[(t.turns["role"] == "facilitator") & t.turns["text"].str.contains("famil")]
            if len(fac):
                r = fac.iloc[0]
                codings.append(Coding(sg, int(r["offset_start"]), int(r["offset_end"]),
                                      guid_of["family_rejection"], "coder_b"))
    project = Project(name="UPSIDES FGD coding (coder_b)", origin="NVivo 12 (simulated demo export)",
                      users=[user], codes=codes, sources=sources, codings=codings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_qdpx(path, project)


# --------------------------------------------------------------------------- main

CODE_THEME: dict[str, str] = {}
ORDER: dict[str, int] = {}
ORDER_LIST: list[str] = []


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(ROOT), help="project root (default: this checkout)")
    args = ap.parse_args(argv)
    root = Path(args.root)
    book = load_codebook(root / "config/codebook.yaml")
    CODE_THEME.update({c.id: c.theme for c in book.codes})
    missing = sorted(set(CODE_THEME) - set(RULES))
    assert not missing, f"no keyword rule for {missing}"
    # Every label the coders will write must map to the intended code (codes.unmapped: fail).
    for code, labels in LABELS_A.items():
        for lab in labels:
            assert book.resolve(lab) == code, (lab, code, book.resolve(lab))
    for _folder, nodes in NODES_B:
        for name, code in nodes:
            assert book.resolve(name) == code, (name, code, book.resolve(name))
    for name, code in STIGMA_CHILDREN_B:
        assert book.resolve(name) is None and book.resolve(f"Stigma > {name}") == code

    sites = [ln.split("\t")[0] for ln in (root / "config/sites.tsv").read_text(encoding="utf-8").splitlines()[1:] if ln.strip()]
    pdir = root / "results/pseudonymised"
    tsvs = sorted(str(p) for p in pdir.glob("*/*.en.tsv"))
    txts = sorted(str(p) for p in pdir.glob("*/*.en.txt"))
    transcripts = load_transcripts(tsvs, txts)
    ORDER_LIST[:] = sorted(transcripts, key=lambda t: (sites.index(transcripts[t].site),
                                                       transcripts[t].name[:2] != "FG",
                                                       int(re.sub(r"\D", "", transcripts[t].name))))
    ORDER.update({t: i for i, t in enumerate(ORDER_LIST)})
    missing_dc = [t for t in DOUBLE_CODED if t not in transcripts]
    assert not missing_dc, f"double-coded transcripts missing: {missing_dc}"

    rng = random.Random(SEED)
    quotes = locate_quotes(read_quotes(root / "tests/data/published_quotes.tsv"), transcripts)
    truths = keyword_truth(transcripts, ORDER_LIST)
    # A quote's code replaces the keyword evidence for that code in that turn.
    qkeys = {(q.transcript, q.turn, q.code) for q in quotes}
    truths = [t for t in truths if (t.transcript, t.turn, t.code) not in qkeys] + quotes
    truths.sort(key=lambda t: (ORDER[t.transcript], t.turn, t.code, t.quote or 0))

    # Who codes each quote: coder_a alone outside the double-coded set; on it, each coder with
    # probability .9, and coder_a whenever coder_b would otherwise be alone in missing it.
    quotes_for: dict[tuple[int, str], bool] = {}
    for q in sorted(quotes, key=lambda q: q.quote):
        if q.transcript in DOUBLE_CODED:
            a, b = rng.random() < 0.9, rng.random() < 0.9
            if not (a or b):
                a = True
            quotes_for[(q.quote, "coder_a")], quotes_for[(q.quote, "coder_b")] = a, b
        else:
            quotes_for[(q.quote, "coder_a")] = True

    applied_a = simulate("coder_a", truths, quotes_for, transcripts, rng)
    applied_b = simulate("coder_b", [t for t in truths if t.transcript in DOUBLE_CODED],
                         quotes_for, transcripts, rng)

    out = root / "data/codings"
    for sub in ("coder_a", "coder_b"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    write_tsv_files(applied_a, transcripts, out / "coder_a", rng)
    write_qdpx_file(applied_b, transcripts, out / "coder_b" / "coder_b.qdpx")
    print(f"coder_a: {len(applied_a)} codings in {len(ORDER_LIST)} transcripts; "
          f"coder_b: {len(applied_b)} codings in {len(DOUBLE_CODED)} transcripts; "
          f"{len(quotes)} quotes located")


if __name__ == "__main__":
    main()
