"""Tests for the CFIR stages: valence read from TSV and from .qdpx (co-coding, paired codes), the
rating rule, the consensus file (overrides, path:line errors before any job), ordinal alpha between
raters (Krippendorff 2011 .815), and the change categories between waves.

Hand-made data throughout: a tiny pseudonymised two-wave study with a CFIR-shaped codebook.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_rows

from qualflow.cfir_change import change_table, classify
from qualflow.cfir_ratings import (
    RatingRule,
    apply_consensus,
    check_cfir_inputs,
    check_or_exit,
    evidence,
    hierarchy,
    propose,
    propose_table,
    rater_agreement,
    ratings_stage,
    read_consensus,
    unit_valences,
)
from qualflow.codebook import codes_stage
from qualflow.errors import InputError
from qualflow.refiqda import Code, Coding, Project, Source, User, stable_guid, write_qdpx
from qualflow.valence import apply_valence, split_paired, valence_rules

CODEBOOK = """\
themes:
  - {id: intervention_characteristics, label: Intervention characteristics}
  - {id: inner_setting, label: Inner setting}
framework:
  constructs:
    - {id: relative_advantage, label: Relative advantage, definition: Advantage over current practice.}
    - {id: implementation_climate, label: Implementation climate, definition: Receptivity.}
codes:
  - {id: relative_advantage, label: Relative advantage, origin: deductive, theme: intervention_characteristics,
     definition: Advantage over current practice.}
  - {id: reduced_workload, label: Reduced workload, origin: inductive, theme: intervention_characteristics,
     definition: Less work for staff., parent: relative_advantage}
  - {id: implementation_climate, label: Implementation climate, origin: deductive, theme: inner_setting,
     definition: Receptivity.}
  - {id: mhw_engagement, label: Mental health workers' engagement, origin: inductive, theme: inner_setting,
     definition: How staff take part., parent: implementation_climate}
"""
CODES = [
    {"id": "relative_advantage", "label": "Relative advantage", "theme": "intervention_characteristics", "parent": ""},
    {"id": "reduced_workload", "label": "Reduced workload", "theme": "intervention_characteristics",
     "parent": "relative_advantage"},
    {"id": "implementation_climate", "label": "Implementation climate", "theme": "inner_setting", "parent": ""},
    {"id": "mhw_engagement", "label": "Mental health workers' engagement", "theme": "inner_setting",
     "parent": "implementation_climate"},
]
THEMES = [{"id": "intervention_characteristics", "label": "Intervention characteristics"},
          {"id": "inner_setting", "label": "Inner setting"}]
WAVES = {"alpha.FG1": "pre", "alpha.FG2": "post"}
TURNS = [
    ("F01", "facilitator", "What changed for you?"),
    ("P01", "mh_worker", "The peer worker takes the follow-up calls, so I have more time."),
    ("P02", "mh_manager", "Some nurses still say it is not their job. Others welcome the peers."),
    ("P03", "psw", "The team invited me to the handover meeting every morning."),
]


def make_transcript(root: Path, site: str, name: str, wave: str) -> None:
    """results/pseudonymised/<site>/<name>.en.{txt,tsv} with consistent offsets."""
    d = root / "results" / "pseudonymised" / site
    d.mkdir(parents=True, exist_ok=True)
    text = f"---\nkind: focus_group\ndate: 2019-10-01\nwave: {wave}\nlanguage: en\n---\n"
    rows = []
    for i, (speaker, role, body) in enumerate(TURNS, start=1):
        if i > 1:
            text += "\n\n"
        start = len(text) + len(speaker) + 2
        text += f"{speaker}: {body}"
        rows.append({"turn": i, "speaker": speaker, "text": body, "line": i * 2, "kind": "speech",
                     "timestamp": "", "role": role, "offset_start": start, "offset_end": start + len(body)})
    (d / f"{name}.en.txt").write_bytes((text + "\n").encode("utf-8"))
    pd.DataFrame(rows).to_csv(d / f"{name}.en.tsv", sep="\t", index=False, lineterminator="\n")




def run_codes(root: Path, valence: dict | None = None) -> pd.DataFrame:
    out = root / "results" / "codes"
    names = {"codings": "codings.tsv", "codebook": "codebook.tsv", "unmapped": "unmapped_labels.tsv",
             "coverage": "coverage.tsv", "themes": "themes.tsv", "summary": "summary.md",
             "qdc": "codebook.qdc", "packet": "coding_packet.qdpx"}
    o = {k: str(out / v) for k, v in names.items()}
    p = root / "results" / "pseudonymised"
    files = sorted(str(x) for x in (root / "data/codings").glob("*/*") if x.suffix in (".tsv", ".qdpx"))
    codes_stage(str(root / "config/codebook.yaml"), files, sorted(str(x) for x in p.glob("*/*.en.tsv")),
                sorted(str(x) for x in p.glob("*/*.en.txt")), str(root / "data/codings"), "fail", o,
                sites=str(root / "config/sites.tsv"), valence=valence)
    return pd.read_csv(o["codings"], sep="\t", dtype=str, keep_default_na=False)


# (transcript, turn, code label, valence, needle: the coded text inside the turn)
CODED = [
    ("alpha.FG1", 2, "Reduced workload", "facilitator", "so I have more time"),
    ("alpha.FG1", 3, "Mental health workers' engagement", "barrier", "not their job"),
    ("alpha.FG1", 3, "Mental health workers' engagement", "facilitator", "Others welcome the peers"),
    ("alpha.FG2", 4, "Mental health workers' engagement", "facilitator", "invited me to the handover"),
    ("alpha.FG2", 2, "Relative advantage", "mixed", "The peer worker takes"),
]


def span(turn: int, needle: str) -> tuple[int, int]:
    i = TURNS[turn - 1][2].index(needle)
    return i, i + len(needle)


def tsv_codings(root: Path) -> None:
    write_rows(root / "data/codings/coder_a/alpha.FG1.tsv", ["transcript", "turn", "start", "end", "code", "valence"],
               [[t, n, *span(n, s), c, v] for t, n, c, v, s in CODED if t == "alpha.FG1"])
    write_rows(root / "data/codings/coder_a/alpha.FG2.tsv", ["transcript", "turn", "start", "end", "code", "valence"],
               [[t, n, *span(n, s), c, v] for t, n, c, v, s in CODED if t == "alpha.FG2"])


def qdpx_codings(root: Path, how: str) -> None:
    """The same codings as an NVivo-like export: co-coded valence codes, or paired codes."""
    user = User(stable_guid("u", "coder_a"), "coder_a")
    labels = sorted({c for _t, _n, c, _v, _s in CODED})
    codes: list[Code] = []
    if how == "cocoding":
        codes += [Code(stable_guid("c", lab), lab) for lab in labels]
        parent = Code(stable_guid("c", "Valence"), "Influence", is_codable=False)
        codes += [parent] + [Code(stable_guid("c", v), v, parent.guid) for v in ("Facilitator", "Barrier", "Mixed")]
    else:
        mark = {"facilitator": "(+)", "barrier": "(−)", "mixed": "(±)"}
        codes += [Code(stable_guid("c", lab, v), f"{lab} {m}") for lab in labels for v, m in mark.items()]
    guid = {c.name: c.guid for c in codes}
    sources, codings = [], []
    for tid in ("alpha.FG1", "alpha.FG2"):
        site, name = tid.split(".")
        txt = (root / f"results/pseudonymised/{site}/{name}.en.txt").read_text(encoding="utf-8")
        tsv = pd.read_csv(root / f"results/pseudonymised/{site}/{name}.en.tsv", sep="\t")
        s = Source(stable_guid("s", tid), tid, txt)
        sources.append(s)
        for t, n, c, v, needle in CODED:
            if t != tid:
                continue
            off = int(tsv.loc[tsv["turn"] == n, "offset_start"].iloc[0])
            a, b = span(n, needle)
            if how == "cocoding":
                codings.append(Coding(s.guid, off + a, off + b, guid[c], "coder_a"))
                # the valence code's selection a little wider, as coders select by hand
                codings.append(Coding(s.guid, max(off, off + a - 2), off + b, guid[v.capitalize()], "coder_a"))
            else:
                m = {"facilitator": "(+)", "barrier": "(−)", "mixed": "(±)"}[v]
                codings.append(Coding(s.guid, off + a, off + b, guid[f"{c} {m}"], "coder_a"))
    path = root / "data/codings/coder_a/coder_a.qdpx"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_qdpx(path, Project("coder_a", users=[user], codes=codes, sources=sources, codings=codings))


KEY = ["transcript", "turn", "code", "start", "end", "valence"]


def _rows(df: pd.DataFrame) -> list[list[str]]:
    return df[KEY].sort_values(KEY).values.tolist()


# ============================================================================ valence


@pytest.mark.parametrize("how", ["cocoding", "paired"])
def test_valence_from_qdpx_equals_valence_from_tsv(tmp_path: Path, how: str) -> None:
    a, b = tmp_path / "tsv", tmp_path / "qdpx"
    for root in (a, b):
        root.mkdir()
        _study(root)
    tsv_codings(a)
    qdpx_codings(b, how)
    from_tsv, from_qdpx = run_codes(a), run_codes(b)
    assert _rows(from_tsv) == _rows(from_qdpx)
    assert sorted(from_qdpx["valence"]) == ["barrier", "facilitator", "facilitator", "facilitator", "mixed"]
    assert set(from_qdpx["code"]) == {"reduced_workload", "mhw_engagement", "relative_advantage"}
    # and the ratings computed from either are the same table
    ra = _ratings(a)
    rb = _ratings(b)
    pd.testing.assert_frame_equal(ra, rb)


def _study(root: Path) -> Path:
    make_transcript(root, "alpha", "FG1", "pre")
    make_transcript(root, "alpha", "FG2", "post")
    (root / "config").mkdir(exist_ok=True)
    (root / "config/codebook.yaml").write_text(CODEBOOK, encoding="utf-8")
    (root / "config/sites.tsv").write_text("site\tname\tcountry\tlanguages\tresources\n"
                                           "alpha\tAlphaville\tGermany\tde\thigh-resource\n", encoding="utf-8")
    (root / "data/codings").mkdir(parents=True, exist_ok=True)
    return root


def _ratings(root: Path) -> pd.DataFrame:
    out = root / "results/cfir"
    turns = sorted(str(x) for x in (root / "results/pseudonymised").glob("*/*.en.tsv"))
    ratings_stage(str(root / "results/codes/codings.tsv"), turns, str(root / "config/sites.tsv"), None, [],
                  CODES, THEMES, ["pre", "post"], WAVES, {}, [], str(out / "ratings.tsv"),
                  str(out / "rater_agreement.tsv"))
    return pd.read_csv(out / "ratings.tsv", sep="\t", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("label, base, valence", [
    ("Relative advantage (+)", "Relative advantage", "facilitator"),
    ("Relative advantage (−)", "Relative advantage", "barrier"),
    ("Relative advantage (-)", "Relative advantage", "barrier"),
    ("Relative advantage ( ± )", "Relative advantage", "mixed"),
    ("Relative advantage (+/-)", "Relative advantage", "mixed"),
    ("Relative advantage", "Relative advantage", ""),
    ("COVID-19", "COVID-19", ""),
    ("Cost (of training)", "Cost (of training)", ""),
])
def test_paired_labels_split(label: str, base: str, valence: str) -> None:
    assert split_paired(label, valence_rules()) == (base, valence)


def test_paired_label_against_valence_column_is_a_line_error() -> None:
    raw = pd.DataFrame([{"coder": "a", "transcript": "x.FG1", "turn": 2, "start": 0, "end": 5,
                         "label": "Cost (+)", "label_path": "", "source": "tsv", "file": "c/a/x.FG1.tsv",
                         "line": 7, "valence": "barrier"}])
    with pytest.raises(InputError) as exc:
        apply_valence(raw, valence_rules())
    assert str(exc.value) == ("c/a/x.FG1.tsv:7: code 'Cost (+)' says facilitator but the valence column "
                              "says barrier: keep one of them")


def test_two_valence_codes_on_one_coding_make_it_mixed_and_config_names_them() -> None:
    rows = [("Cost", 0, 10), ("Pro", 0, 4), ("Contra", 5, 10), ("Pro", 20, 30)]
    raw = pd.DataFrame([{"coder": "a", "transcript": "x.FG1", "turn": 2, "start": s, "end": e, "label": lab,
                         "label_path": lab, "source": "qdpx", "file": "a.qdpx", "line": None, "valence": ""}
                        for lab, s, e in rows])
    rules = valence_rules({"codes": {"facilitator": ["Pro"], "barrier": ["Contra"]}})
    out = apply_valence(raw, rules)
    assert out[["label", "valence"]].values.tolist() == [["Cost", "mixed"]]
    # with the defaults, "Pro" and "Contra" are ordinary labels
    assert len(apply_valence(raw, valence_rules())) == 4


# ============================================================================ the rating rule

RULE = RatingRule(strong_units=3, strong_informants=2, mixed_margin=0.34)


@pytest.mark.parametrize("f, b, m, inf_f, inf_b, expected", [
    (0, 0, 0, 0, 0, "M"),      # nothing coded: missing
    (0, 0, 2, 0, 0, "0"),      # mixed/neutral units only
    (1, 0, 0, 1, 0, "+1"),     # one facilitator unit: weak
    (3, 0, 0, 1, 0, "+1"),     # three units but one informant: not strong
    (3, 0, 0, 2, 0, "+2"),     # three units from two informants: strong
    (0, 4, 1, 0, 3, "-2"),
    (0, 2, 0, 0, 2, "-1"),
    (2, 2, 0, 2, 2, "X"),      # balanced
    (3, 2, 0, 2, 2, "X"),      # lead 1/5 = .2 < .34
    (4, 1, 0, 3, 1, "+2"),     # lead 3/5 = .6: a direction; net 3 from 3 informants: strong
])
def test_proposal_rule(f, b, m, inf_f, inf_b, expected) -> None:
    assert propose(f, b, m, inf_f, inf_b, RULE) == expected


def test_rule_thresholds_come_from_config() -> None:
    assert propose(3, 0, 0, 2, 0, RatingRule.from_config({"strong_units": 4})) == "+1"
    assert propose(3, 2, 0, 2, 2, RatingRule.from_config({"mixed_margin": 0.1})) == "+1"


def _hand_codings() -> pd.DataFrame:
    rows = [  # site, transcript, turn, coder, code, valence
        ("alpha", "alpha.FG1", 2, "a", "reduced_workload", "facilitator"),
        ("alpha", "alpha.FG1", 2, "b", "reduced_workload", "barrier"),      # coders disagree: mixed unit
        ("alpha", "alpha.FG1", 3, "a", "mhw_engagement", "barrier"),
        ("alpha", "alpha.FG1", 4, "a", "mhw_engagement", "barrier"),
        ("alpha", "alpha.FG1", 4, "a", "implementation_climate", "barrier"),  # same unit once
        ("alpha", "alpha.FG2", 2, "a", "mhw_engagement", "facilitator"),
        ("alpha", "alpha.FG2", 3, "a", "mhw_engagement", "facilitator"),
        ("alpha", "alpha.FG2", 4, "a", "mhw_engagement", "facilitator"),
    ]
    return pd.DataFrame(rows, columns=["site", "transcript", "turn", "coder", "code", "valence"])


SPEAKERS = {(t, n): TURNS[n - 1][0] for t in WAVES for n in range(1, 5)}


def _table(codings: pd.DataFrame, coders=()) -> pd.DataFrame:
    h = hierarchy(CODES, THEMES)
    u = unit_valences(codings, h.construct_of(), WAVES, SPEAKERS, coders)
    return propose_table(evidence(u), h, ["alpha"], ["pre", "post"], RULE)


def test_ratings_table_on_hand_made_codings() -> None:
    t = _table(_hand_codings())
    assert len(t) == 1 * 2 * 4          # every site x wave x (construct and subcode) cell
    cell = t.set_index(["wave", "construct", "subcode"])
    assert cell.loc[("pre", "relative_advantage", "reduced_workload"), "rating"] == "0"   # one mixed unit
    assert cell.loc[("pre", "implementation_climate", "mhw_engagement"), "rating"] == "-1"  # 2 units, net 2
    r = cell.loc[("pre", "implementation_climate", "")]
    assert (r["n_units"], r["n_barrier"], r["n_informants"], r["evidence"]) == (2, 2, 2, "alpha.FG1:3-;alpha.FG1:4-")
    assert cell.loc[("post", "implementation_climate", "mhw_engagement"), "rating"] == "+2"   # 3 units, 3 people
    assert cell.loc[("post", "relative_advantage", ""), "rating"] == "M"
    assert list(t["domain"].unique()) == ["intervention_characteristics", "inner_setting"]
    # only coder a's codings: the reduced-workload unit is a facilitator
    ta = _table(_hand_codings(), coders=["a"]).set_index(["wave", "construct", "subcode"])
    assert ta.loc[("pre", "relative_advantage", "reduced_workload"), "rating"] == "+1"


# ============================================================================ consensus


def test_consensus_wins_and_keeps_its_rationale(tmp_path: Path) -> None:
    p = write_rows(tmp_path / "cfir_consensus.tsv", ["site", "wave", "construct", "rating", "rationale"],
                   [["alpha", "pre", "mhw_engagement", "−2", "Strong   scepticism in\tthe memo"],
                    ["alpha", "post", "relative_advantage", "x", "benefit and burden both named"]])
    ids = hierarchy(CODES, THEMES).ids()
    cons = read_consensus(p, ["alpha"], ["pre", "post"], ids)
    t = apply_consensus(_table(_hand_codings()), cons).set_index(["wave", "construct", "subcode"])
    r = t.loc[("pre", "implementation_climate", "mhw_engagement")]
    assert (r["rating"], r["proposed"], r["source"]) == ("-2", "-1", "consensus")
    assert r["rationale"] == "Strong scepticism in the memo"
    assert t.loc[("post", "relative_advantage", ""), ["rating", "proposed"]].tolist() == ["X", "M"]
    assert (t["source"] == "consensus").sum() == 2


def test_consensus_errors_name_the_line(tmp_path: Path) -> None:
    p = write_rows(tmp_path / "cfir_consensus.tsv", ["site", "wave", "construct", "rating", "rationale"],
                   [["alpha", "pre", "mhw_engagement", "-2", "ok"],
                    ["gamma", "pre", "mhw_engagement", "-2", "unknown site"],
                    ["alpha", "during", "mhw_engagement", "-2", "unknown wave"],
                    ["alpha", "pre", "leadership", "+1", "unknown construct"],
                    ["alpha", "post", "mhw_engagement", "+3", "out of range"],
                    ["alpha", "pre", "mhw_engagement", "-1", "twice"],
                    ["alpha", "post", "relative_advantage", "+1", ""]])
    with pytest.raises(InputError) as exc:
        read_consensus(p, ["alpha"], ["pre", "post"], hierarchy(CODES, THEMES).ids())
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{p}:3: site 'gamma' is not in the study's sites (alpha): fix the site id",
        f"{p}:4: wave 'during' is not a declared wave (pre, post): fix the wave",
        f"{p}:5: construct 'leadership' is not a construct or subcode of the codebook: use its id "
        "(snake_case, e.g. relative_advantage)",
        f"{p}:6: rating '+3' is not one of -2, -1, 0, +1, +2, X (mixed) or M (missing)",
        f"{p}:7: a consensus rating for alpha/pre/mhw_engagement is given twice (also line 2): keep one row",
        f"{p}:8: no rationale: say why the team decided this rating (no names or quotes)",
    ]


def test_bad_consensus_stops_before_any_job_with_exit_1(tmp_path: Path, capsys) -> None:
    p = write_rows(tmp_path / "c.tsv", ["site", "wave", "construct", "rating", "rationale"],
                   [["alpha", "pre", "mhw_engagement", "++", "why"]])
    r = write_rows(tmp_path / "raters/r1.tsv", ["site", "wave", "construct", "rating"],
                   [["alpha", "pre", "nope", "1"]])
    with pytest.raises(SystemExit) as exc:
        check_or_exit(lambda: check_cfir_inputs(str(p), [str(r)], ["alpha"], ["pre", "post"],
                                                hierarchy(CODES, THEMES).ids()))
    assert exc.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{p}:2: rating '++' is not one of -2, -1, 0, +1, +2, X (mixed) or M (missing)",
                   f"{r}:2: construct 'nope' is not a construct or subcode of the codebook: use its id "
                   "(snake_case, e.g. relative_advantage)",
                   "qualflow: 2 input problem(s); nothing was run or changed."]


# ============================================================================ raters: ordinal alpha

# Krippendorff (2011), 4 coders x 12 units; values 1..5 become the ratings -2..+2 (ordinal: order only).
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_rater_ordinal_alpha_is_krippendorff_2011(tmp_path: Path) -> None:
    cells = [("alpha", w, c) for w in ("pre", "post") for c in
             ("relative_advantage", "reduced_workload", "implementation_climate", "mhw_engagement")]
    cells += [("beta", w, c) for w in ("pre", "post") for c in ("relative_advantage", "mhw_engagement")]
    rows = []
    for i, values in enumerate(K2011):
        for (site, wave, construct), v in zip(cells, values):
            if v is not None:
                rows.append({"rater": f"r{i}", "site": site, "wave": wave, "construct": construct,
                             "rating": f"{v - 3:+d}" if v != 3 else "0"})
    out = rater_agreement(pd.DataFrame(rows), {c["id"]: c["theme"] for c in CODES})
    allrow = out[out["scope"] == "all"].iloc[0]
    assert allrow["alpha_ordinal"] == 0.815
    assert allrow["alpha_nominal"] == 0.743
    assert allrow["n_cells"] == 11 and allrow["raters"] == "r0;r1;r2;r3"


def test_x_and_m_are_missing_for_ordinal_alpha_but_count_nominally() -> None:
    rows = [("r1", "+2"), ("r2", "+2"), ("r1", "X"), ("r2", "X"), ("r1", "-1"), ("r2", "-2"),
            ("r1", "M"), ("r2", "+1")]
    df = pd.DataFrame([{"rater": r, "site": "alpha", "wave": "pre", "construct": f"c{i // 2}", "rating": v}
                       for i, (r, v) in enumerate(rows)])
    out = rater_agreement(df, {f"c{i}": "d" for i in range(4)}).iloc[0]
    assert out["n_cells"] == 4 and out["n_pairable"] == 2
    assert out["n_disagreements"] == 2 and out["disagreements"] == "alpha/pre/c2;alpha/pre/c3"
    assert out["pct_agreement"] == 50.0


# ============================================================================ change between waves


@pytest.mark.parametrize("a, b, expected", [
    ("M", "M", "absent"), ("M", "+1", "emerged"), ("-2", "M", "ceased"), ("+1", "-1", "reversed"),
    ("-2", "+2", "reversed"), ("+1", "+2", "strengthened"), ("0", "-1", "strengthened"),
    ("X", "+2", "strengthened"), ("-2", "-1", "weakened"), ("+1", "X", "weakened"),
    ("+2", "+2", "constant"), ("X", "0", "constant"), ("X", "X", "constant"),
])
def test_change_categories(a: str, b: str, expected: str) -> None:
    assert classify(a, b) == expected


def test_change_table_on_a_two_wave_matrix() -> None:
    key = ["site", "domain", "construct", "subcode", "level"]
    cells = [("alpha", "d", "c1", "", "construct"), ("alpha", "d", "c2", "", "construct"),
             ("beta", "d", "c1", "", "construct")]
    pre, post = ["+1", "M", "-2"], ["-1", "+2", "-2"]
    rows = [dict(zip(key, c), wave=w, rating=r) for w, rs in (("pre", pre), ("post", post)) for c, r in zip(cells, rs)]
    out = change_table(pd.DataFrame(rows), ["pre", "post"])
    assert out[["site", "construct", "rating_from", "rating_to", "change", "delta"]].values.tolist() == [
        ["alpha", "c1", "+1", "-1", "reversed", "-2"],
        ["alpha", "c2", "M", "+2", "emerged", ""],
        ["beta", "c1", "-2", "-2", "constant", "0"],
    ]
    assert change_table(pd.DataFrame(rows), ["pre"]).empty


# ============================================================================ figures


def _two_site_ratings() -> tuple[pd.DataFrame, pd.DataFrame]:
    sites = pd.DataFrame({"site": ["alpha", "beta", "gamma"], "name": ["Alphaville", "Betatown", "Gammaburg"],
                          "resources": ["high-resource", "lower-resource", "high-resource"]})
    h = hierarchy(CODES, THEMES)
    t = propose_table(evidence(unit_valences(_hand_codings(), h.construct_of(), WAVES, SPEAKERS)), h,
                      ["alpha", "beta", "gamma"], ["pre", "post"], RULE)
    t.loc[(t["site"] == "beta") & (t["wave"] == "post") & (t["construct"] == "relative_advantage"), "rating"] = "X"
    t.loc[(t["site"] == "gamma") & (t["wave"] == "pre") & (t["subcode"] == ""), "rating"] = "-2"
    return t, sites


def test_heatmap_data_equals_the_rating_table_and_groups_sites() -> None:
    from qualflow.cfir_figures import plot_heatmap
    t, sites = _two_site_ratings()
    labels = {c["id"]: c["label"] for c in CODES}
    fig, data = plot_heatmap(t, sites, ["pre", "post"], labels, {d["id"]: d["label"] for d in THEMES},
                             {"pre": "Before", "post": "After"}, "resources", ["lower-resource", "high-resource"],
                             {"lower-resource": "Lower-resource sites", "high-resource": "High-resource sites"})
    want = t[t["level"] == "construct"][["wave", "site", "domain", "construct", "rating"]]
    key = ["wave", "site", "construct"]
    pd.testing.assert_frame_equal(data.sort_values(key).reset_index(drop=True),
                                  want.sort_values(key).reset_index(drop=True))
    # the lower-resource site comes first, then the high-resource sites in sites.tsv order
    assert list(dict.fromkeys(data["site"])) == ["beta", "alpha", "gamma"]
    from qualflow.figures import figure_bytes
    svg = figure_bytes(fig, "svg").decode()
    for text in ("Lower-resource sites", "High-resource sites", "Betatown", "Before", "After", "X mixed",
                 "M missing", "−2", "INNER SETTING"):
        assert text in svg
    assert figure_bytes(fig, "png") == figure_bytes(fig, "png")


def test_before_after_data_equals_the_rating_table() -> None:
    from qualflow.cfir_figures import plot_before_after
    t, sites = _two_site_ratings()
    fig, data = plot_before_after(t, "inner_setting", "Inner setting", ["pre", "post"], {}, sites,
                                  {c["id"]: c["label"] for c in CODES})
    c = t[(t["level"] == "construct") & (t["domain"] == "inner_setting")]
    for r in data.itertuples():
        pre = c[(c["site"] == r.site) & (c["wave"] == "pre") & (c["construct"] == r.construct)]["rating"].item()
        post = c[(c["site"] == r.site) & (c["wave"] == "post") & (c["construct"] == r.construct)]["rating"].item()
        assert (r.before, r.after) == (pre, post)
    assert data[data["site"] == "gamma"][["before", "after"]].values.tolist() == [["-2", "M"]]
    assert len(data) == 3   # one construct in the domain x three sites


# ============================================================================ findings


def _ratings_frame(cells: dict[tuple[str, str, str], str]) -> pd.DataFrame:
    rows = []
    for (site, wave, code), rating in cells.items():
        sub = code if code in ("reduced_workload", "mhw_engagement") else ""
        cons = {"reduced_workload": "relative_advantage", "mhw_engagement": "implementation_climate"}.get(code, code)
        rows.append({"site": site, "wave": wave, "domain": "d", "construct": cons, "subcode": sub,
                     "level": "subcode" if sub else "construct", "rating": rating, "n_units": 1,
                     "n_facilitator": 1, "n_barrier": 0, "n_mixed": 0, "evidence": f"{site}.FG1:2+"})
    return pd.DataFrame(rows)


SITE_GROUPS = [{"site": s, "wave": w, "resources": r} for s, r in
               (("a", "lower-resource"), ("b", "lower-resource"), ("c", "high-resource")) for w in ("pre", "post")]


def test_findings_facilitator_barrier_and_scope() -> None:
    from qualflow.cfir_findings import evaluate
    r = _ratings_frame({("a", "pre", "reduced_workload"): "M", ("a", "post", "reduced_workload"): "+2",
                        ("b", "pre", "reduced_workload"): "+1", ("b", "post", "reduced_workload"): "+1",
                        ("c", "pre", "reduced_workload"): "-1", ("c", "post", "reduced_workload"): "M"})
    findings = [
        {"id": "low_post", "statement": "s", "clauses": [{"codes": ["reduced_workload"], "expect": "facilitator",
                                                          "sites": {"group": "resources", "value": "lower-resource"},
                                                          "waves": ["post"]}]},
        {"id": "low_all", "statement": "s", "clauses": [{"codes": ["reduced_workload"], "expect": "facilitator",
                                                         "sites": {"group": "resources", "value": "lower-resource"}}]},
        {"id": "low_any", "statement": "s", "clauses": [{"codes": ["reduced_workload"], "expect": "facilitator",
                                                         "sites": {"group": "resources", "value": "lower-resource"},
                                                         "waves": "any"}]},
        {"id": "everywhere", "statement": "s", "clauses": [{"codes": ["reduced_workload"], "expect": "facilitator",
                                                            "waves": "any"}]},
    ]
    verdicts, cells = evaluate(r, findings, ["a", "b", "c"], ["pre", "post"], SITE_GROUPS)
    assert [v["holds"] for v in verdicts] == [True, False, True, False]
    low_all = cells[cells["finding"] == "low_all"]
    assert low_all[["site", "wave", "rating", "supports"]].values.tolist() == [
        ["a", "pre", "M", "no"], ["a", "post", "+2", "yes"], ["b", "pre", "+1", "yes"], ["b", "post", "+1", "yes"]]


def test_findings_split_reports_the_sites_in_each_direction() -> None:
    from qualflow.cfir_findings import evaluate, findings_markdown
    cells = {("a", "pre", "mhw_engagement"): "-2", ("a", "post", "mhw_engagement"): "-1",
             ("b", "pre", "mhw_engagement"): "+1", ("b", "post", "mhw_engagement"): "M",
             ("c", "pre", "mhw_engagement"): "+2", ("c", "post", "mhw_engagement"): "+2"}
    f = [{"id": "mhw", "statement": "Engagement splits", "clauses": [{"codes": ["mhw_engagement"], "expect": "split"}]}]
    verdicts, table = evaluate(_ratings_frame(cells), f, ["a", "b", "c"], ["pre", "post"], SITE_GROUPS)
    assert verdicts[0]["holds"]
    assert verdicts[0]["clauses"][0]["split"] == {"mhw_engagement": {"barrier": ["a"], "facilitator": ["b", "c"]}}
    md = findings_markdown(verdicts, table, {"mhw_engagement": "MHW engagement"}, {"a": "Alpha"}, {}, "T")
    assert "MHW engagement: barrier at Alpha; facilitator at b, c." in md and "1 of 1 findings hold" in md
    # a site that goes both ways breaks the split
    cells[("c", "post", "mhw_engagement")] = "-1"
    verdicts, _ = evaluate(_ratings_frame(cells), f, ["a", "b", "c"], ["pre", "post"], SITE_GROUPS)
    assert not verdicts[0]["holds"]
    assert verdicts[0]["clauses"][0]["split"]["mhw_engagement"]["none"] == ["c"]


def test_findings_config_errors_name_the_config_line(tmp_path: Path) -> None:
    from qualflow.cfir_ratings import check_findings
    import yaml
    cfg = tmp_path / "config.yaml"
    cfg.write_text("study: x\ncfir:\n  findings:\n    - id: f1\n      statement: s\n      clauses:\n"
                   "        - codes: [mhw_engagement, nope]\n          expect: barrier\n"
                   "          waves: [during]\n          sites: {group: resources, value: rich}\n", encoding="utf-8")
    findings = yaml.safe_load(cfg.read_text())["cfir"]["findings"]
    probs = check_findings(findings, hierarchy(CODES, THEMES).ids(), ["pre", "post"],
                           {"resources": ["lower-resource", "high-resource"]}, str(cfg))
    assert [str(p) for p in probs] == [
        f"{cfg}:7: finding 'f1': code 'nope' is not a construct or subcode of the codebook: use its id",
        f"{cfg}:9: finding 'f1': wave 'during' is not declared (waves: pre, post)",
        f"{cfg}:10: finding 'f1': 'rich' is not a value of group 'resources' (lower-resource, high-resource)",
    ]


# ============================================================================ the second demo, end to end

KI_TARGETS = ["results/cfir/findings.md", "results/cfir/change.tsv", "results/cfir/figures/heatmap.png",
              "results/framework/framework_matrix.xlsx"]


@pytest.fixture(scope="module")
def ki(tmp_path_factory) -> Path:
    """The key-informant study's CFIR and framework-matrix outputs, run in a copy of the project."""
    import shutil
    from conftest import ROOT, copy_project, snakemake
    project = copy_project(tmp_path_factory.mktemp("ki") / "project")
    src = ROOT / "studies" / "key-informants"
    import yaml
    roster = yaml.safe_load((src / "config/config.yaml").read_text(encoding="utf-8"))["roster"]
    if not (src / roster).exists():
        pytest.skip(f"the key-informant roster {roster} is not assembled")
    top = {"results", "restricted", "logs", ".snakemake"}       # the study's outputs, not its data/restricted

    def ignore(folder: str, names: list[str]) -> set[str]:
        return (top & set(names)) if Path(folder) == src else {n for n in names if n == "__pycache__"}

    shutil.copytree(src, project / "studies" / "key-informants", ignore=ignore)
    (project / "studies/key-informants/results").mkdir(exist_ok=True)
    study = "studies/key-informants"
    snakemake(project, *KI_TARGETS, "--profile", "profiles/default", "--directory", study,
              "--configfile", f"{study}/config/config.yaml", "--quiet")
    return project / study


def test_the_abstracts_five_findings_hold_on_the_second_demo(ki: Path) -> None:
    md = (ki / "results/cfir/findings.md").read_text(encoding="utf-8")
    assert "**5 of 5 findings hold.**" in md
    cells = pd.read_csv(ki / "results/cfir/findings.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert set(cells["finding"]) == {"benefits", "workload_and_access", "mhw_engagement", "psw_training",
                                     "covid_and_resources"}
    mhw = cells[cells["finding"] == "mhw_engagement"].drop_duplicates("site").set_index("site")["direction"]
    assert sorted(mhw[mhw == "barrier"].index) == ["dar_es_salaam", "ulm"]
    assert sorted(mhw[mhw == "facilitator"].index) == ["beer_sheva", "butabika", "hamburg", "pune"]
    low = cells[cells["finding"] == "workload_and_access"]
    assert sorted(set(low["site"])) == ["butabika", "dar_es_salaam", "pune"] and set(low["wave"]) == {"post"}
    assert (cells["supports"] == "yes").all()          # every cell examined supports its finding
    # the cells listed are the ratings table's
    ratings = pd.read_csv(ki / "results/cfir/ratings.tsv", sep="\t", dtype=str, keep_default_na=False)
    r = ratings.assign(code=ratings["subcode"].where(ratings["subcode"] != "", ratings["construct"]))
    merged = cells.merge(r, on=["site", "wave", "code"], suffixes=("", "_r"))
    assert len(merged) == len(cells) and (merged["rating"] == merged["rating_r"]).all()


def test_second_demo_ratings_consensus_and_change_agree(ki: Path) -> None:
    ratings = pd.read_csv(ki / "results/cfir/ratings.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(ratings) == 6 * 2 * 24                  # 6 sites x 2 waves x (17 constructs + 7 subcodes)
    row = ratings[(ratings["site"] == "dar_es_salaam") & (ratings["wave"] == "pre") &
                  (ratings["subcode"] == "reduced_workload")].iloc[0]
    assert (row["rating"], row["proposed"], row["source"]) == ("+1", "X", "consensus") and row["rationale"]
    change = pd.read_csv(ki / "results/cfir/change.tsv", sep="\t", dtype=str, keep_default_na=False)
    covid = change[(change["subcode"] == "covid_19")]
    assert set(covid["change"]) == {"emerged"}         # COVID-19 is talked about only after implementation
    for r in change.itertuples():
        assert r.change == classify(r.rating_from, r.rating_to)


def test_second_demo_framework_workbook_reads_back_equal_to_the_tsv(ki: Path) -> None:
    from qualflow.framework import matrix_cells, read_xlsx_cells
    m = pd.read_csv(ki / "results/framework/framework_matrix.tsv", sep="\t", dtype=str, keep_default_na=False)
    labels = dict(zip(m["category"], m["category_label"]))
    back = read_xlsx_cells(ki / "results/framework/framework_matrix.xlsx", list(labels.values()))
    assert list(back) == ["pre", "post"]
    for wave in ("pre", "post"):
        assert back[wave] == {(s, labels[c]): v for (s, c), v in matrix_cells(m, wave).items()}
    # every coding of the transcript's counted coder is in some segment of its turn (changed: issue 12
    # item 8: the framework matrix shows the counted coder's codings, as the theme counts do, not the
    # union of every coder's)
    codings = pd.read_csv(ki / "results/codes/codings.tsv", sep="\t", dtype=str,
                          keep_default_na=False)
    from qualflow.counting import counted_coders, read_assignments, read_coverage
    counted, problems = counted_coders(read_coverage(ki / "results/codes/coverage.tsv"),
                                       read_assignments(ki / "data/coding_assignments.tsv"))
    assert problems == [] and len(counted)
    who = dict(zip(counted["transcript"], counted["counted_coder"]))
    mine = codings[codings["coder"] == codings["transcript"].map(who)]
    seg = set(zip(m["transcript"], m["turn"], m["code"]))
    assert set(zip(mine["transcript"], mine["turn"], mine["code"])) == seg
    assert set(m["coders"].str.split(";").explode()) <= set(who.values())


@pytest.mark.parametrize("how", ["cocoding", "paired"])
def test_valence_codes_and_paired_labels_pass_the_load_time_label_check(tmp_path: Path, how: str) -> None:
    from qualflow.codebook import load_codebook
    from qualflow.coding_checks import check_codings_at_load
    root = _study(tmp_path)
    qdpx_codings(root, how)
    english = {t: (str(root / f"results/pseudonymised/alpha/{t.split('.')[1]}.en.tsv"), [1, 2, 3, 4]) for t in WAVES}
    book = load_codebook(root / "config/codebook.yaml")
    assert check_codings_at_load(root / "data/codings", book, english) == []
    # without valence codes, "Facilitator" is an unknown label (a paired label's marker is punctuation,
    # which label matching ignores, so it maps either way; only the valence would be lost)
    off = check_codings_at_load(root / "data/codings", book, english, valence_config={"codes": {}, "paired": {}})
    if how == "cocoding":
        text = "\n".join(map(str, off))
        assert all("coder_a.qdpx" in str(p) for p in off) and "'Facilitator'" in text and "'Barrier'" in text
    else:
        assert off == []


def test_a_codebook_code_named_like_a_valence_code_stays_a_code() -> None:
    from qualflow.valence import without_codebook_labels
    rules = without_codebook_labels(valence_rules(), lambda name: "barriers" if name == "barriers" else None)
    raw = pd.DataFrame([{"coder": "a", "transcript": "x.FG1", "turn": 2, "start": 0, "end": 9, "label": lab,
                         "label_path": lab, "source": "qdpx", "file": "a.qdpx", "line": None, "valence": ""}
                        for lab in ("Barriers", "Facilitator")])
    out = apply_valence(raw, rules)
    assert out[["label", "valence"]].values.tolist() == [["Barriers", "facilitator"]]
