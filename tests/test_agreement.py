"""Tests for qualflow.agreement: published alpha values, package parity, degenerate cases,
bootstrap, NVivo-style kappa, the tables on a hand-computed example and the disagreement ledger."""
from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from qualflow import agreement as ag
from qualflow import alpha as al
from qualflow.errors import InputError

NAN = np.nan

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders x 12 units example
# (also in the krippendorff package's own tests). Rows: coders A-D; NaN = coder did not code the unit.
K2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])

# Hayes & Krippendorff (2007), Table 1: 5 observers x 40 news articles, tone 0-3 ("." = missing);
# transcribed from the paper in github.com/jucor/krippendorff data-raw/news_tone_hayes2007.csv.
_H2007 = """1,1,2,.,2 1,1,0,1,. 2,3,3,3,. .,0,0,.,0 0,0,0,.,0 0,0,0,.,0 1,0,2,.,1 1,.,2,0,. 2,2,2,.,2
2,1,1,1,. .,1,0,0,. 0,0,0,0,. 1,2,2,2,. 3,3,2,2,3 1,1,1,.,1 1,1,1,.,1 2,1,2,.,2 1,2,3,3,. 1,1,0,1,.
0,0,0,.,0 0,0,1,1,. 0,0,.,0,0 2,3,3,3,. 0,0,0,0,. 1,2,.,2,2 0,1,1,1,. 0,0,0,1,0 1,2,1,2,. 1,1,2,2,.
1,1,2,.,2 1,1,0,.,0 2,1,2,1,. 2,2,.,2,2 3,2,2,2,. 2,2,2,.,2 2,2,3,.,2 2,2,2,.,2 2,2,.,1,2 2,2,2,2,.
1,1,1,.,1"""
H2007 = np.array([[NAN if v == "." else float(v) for v in unit.split(",")]
                  for unit in _H2007.split()]).T


# ------------------------------------------------------------------------------------------------
# alpha against published values and the krippendorff package
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level, expected", [("nominal", 0.743), ("ordinal", 0.815),
                                             ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_2011_example(level: str, expected: float) -> None:
    assert round(al.alpha_coincidence(K2011, level), 3) == expected
    assert al.alpha_coincidence(K2011, level) == pytest.approx(
        krippendorff.alpha(K2011, level_of_measurement=level), abs=1e-12)


def test_krippendorff_2011_nominal_by_package() -> None:
    assert round(al.alpha_nominal(K2011), 3) == 0.743
    assert round(krippendorff.alpha(K2011, level_of_measurement="nominal"), 3) == 0.743


def test_hayes_krippendorff_2007_ordinal() -> None:
    assert H2007.shape == (5, 40)
    assert round(al.alpha_coincidence(H2007, "ordinal"), 4) == 0.7598
    assert round(krippendorff.alpha(H2007, level_of_measurement="ordinal"), 4) == 0.7598


@pytest.mark.parametrize("n_coders", [2, 3, 4, 5])
@pytest.mark.parametrize("n_values", [2, 4])
def test_own_nominal_equals_package_on_random_data(n_coders: int, n_values: int) -> None:
    rng = np.random.default_rng(100 * n_coders + n_values)
    for _ in range(5):
        n_units = int(rng.integers(5, 200))
        truth = rng.integers(0, n_values, size=n_units)
        mat = np.where(rng.random((n_coders, n_units)) < 0.7, truth,
                       rng.integers(0, n_values, size=(n_coders, n_units))).astype(float)
        mat[rng.random(mat.shape) < 0.2] = NAN
        expected = krippendorff.alpha(mat, level_of_measurement="nominal")
        assert abs(al.alpha_coincidence(mat, "nominal") - expected) < 1e-12
        if n_values == 2:          # presence data: the package-backed function agrees too
            assert abs(al.alpha_nominal(mat) - expected) < 1e-12
            boot = al.bootstrap_alpha(mat, n_boot=0)
            assert abs(boot.alpha - expected) < 1e-12


# ------------------------------------------------------------------------------------------------
# undefined alpha
# ------------------------------------------------------------------------------------------------

def test_nobody_used_the_code() -> None:
    mat = np.array([[0, 0, 0, NAN], [0, 0, 0, 0]], dtype=float)
    assert al.undefined_reason(mat) == "no coder used this code in the double-coded units"
    assert np.isnan(al.alpha_nominal(mat))
    assert np.isnan(al.alpha_coincidence(mat))
    assert np.isnan(al.alpha_coincidence(mat, value_domain=[0, 1]))


def test_everyone_always_used_the_code() -> None:
    mat = np.array([[1, 1, 1], [1, 1, 1], [1, NAN, 1]], dtype=float)
    assert al.undefined_reason(mat) == "every pairable value is 'present': no variation"
    assert np.isnan(al.alpha_nominal(mat))
    assert np.isnan(al.alpha_coincidence(mat, value_domain=[0, 1]))   # D_e = 0, never 1.0
    boot = al.bootstrap_alpha(mat, n_boot=50, seed=1, value_domain=[0, 1])
    assert np.isnan(boot.alpha) and np.isnan(boot.ci_low) and np.isnan(boot.q_below_800)


def test_one_pairable_unit() -> None:
    # unit 1 coded by both (and they disagree), units 2-3 by one coder only: not pairable
    mat = np.array([[1, 0, NAN], [0, NAN, 1]], dtype=float)
    assert al.undefined_reason(mat) == "fewer than two units coded by two coders"
    assert np.isnan(al.alpha_nominal(mat))


def test_value_only_outside_pairable_units_counts_as_unused() -> None:
    mat = np.array([[0, 0, 1], [0, 0, NAN]], dtype=float)   # the 1 is in an unpairable unit
    assert al.undefined_reason(mat) == "no coder used this code in the double-coded units"


def test_defined_case_has_no_reason() -> None:
    assert al.undefined_reason(np.array([[1, 0, 0], [1, 0, 1]], dtype=float)) == ""


# ------------------------------------------------------------------------------------------------
# bootstrap
# ------------------------------------------------------------------------------------------------

def _coders_with_error(rng: np.random.Generator, n_units: int, n_coders: int = 3,
                       prevalence: float = 0.3, error: float = 0.08) -> np.ndarray:
    truth = rng.random(n_units) < prevalence
    flips = rng.random((n_coders, n_units)) < error
    return np.where(flips, ~truth, truth).astype(float)


def test_bootstrap_reproducible_with_seed_and_different_with_another() -> None:
    mat = _coders_with_error(np.random.default_rng(7), 300)
    a = al.bootstrap_alpha(mat, n_boot=500, seed=20181017)
    b = al.bootstrap_alpha(mat, n_boot=500, seed=20181017)
    c = al.bootstrap_alpha(mat, n_boot=500, seed=20181018)
    assert np.array_equal(a.replicates, b.replicates)
    assert (a.ci_low, a.ci_high, a.q_below_800) == (b.ci_low, b.ci_high, b.q_below_800)
    assert not np.array_equal(a.replicates, c.replicates)
    assert a.method == "unit bootstrap, 500 replicates, percentile CI, seed 20181017"


def test_bootstrap_ci_contains_point_estimate() -> None:
    mat = _coders_with_error(np.random.default_rng(11), 400)
    mat[0, :50] = NAN                                       # some missing values
    boot = al.bootstrap_alpha(mat, n_boot=2000, seed=5)
    assert boot.alpha == pytest.approx(krippendorff.alpha(mat, level_of_measurement="nominal"), abs=1e-12)
    assert boot.ci_low < boot.alpha < boot.ci_high
    assert boot.ci_high - boot.ci_low < 0.2
    assert boot.replicates.shape == (2000,)
    assert np.isfinite(boot.replicates).all()
    assert boot.q_below_800 == pytest.approx(np.mean(boot.replicates < 0.8))
    assert boot.q_below_667 == pytest.approx(np.mean(boot.replicates < 0.667))
    assert 0 <= boot.q_below_667 <= boot.q_below_800 <= 1


def test_bootstrap_replicate_equals_package_on_the_resample() -> None:
    """Each fast replicate is alpha of a real resample: rebuild the resample from the same stream."""
    mat = _coders_with_error(np.random.default_rng(3), 60)
    mat[1, ::7] = NAN                                        # every unit keeps >= 2 coders
    boot = al.bootstrap_alpha(mat, n_boot=20, seed=42)
    idx = np.random.Generator(np.random.PCG64(42)).integers(0, 60, size=(20, 60))
    for r in range(20):
        expected = krippendorff.alpha(mat[:, idx[r]], level_of_measurement="nominal")
        assert abs(boot.replicates[r] - expected) < 1e-12


def test_cluster_bootstrap_runs() -> None:
    rng = np.random.default_rng(9)
    mat = _coders_with_error(rng, 240, n_coders=2)
    clusters = np.repeat([f"site.FG{i}" for i in range(1, 7)], 40)
    boot = al.bootstrap_alpha(mat, n_boot=300, seed=1, clusters=clusters)
    assert boot.method == ("transcript-cluster bootstrap (6 transcripts), 300 replicates, "
                           "percentile CI, seed 1")
    assert np.isfinite(boot.replicates).all()
    assert boot.ci_low <= boot.alpha <= boot.ci_high
    assert not np.array_equal(boot.replicates, al.bootstrap_alpha(mat, n_boot=300, seed=1).replicates)
    # one cluster: every resample is the whole data set, so every replicate is the point estimate
    one = al.bootstrap_alpha(mat, n_boot=10, seed=1, clusters=["only"] * 240)
    assert np.allclose(one.replicates, one.alpha, atol=1e-12)


def test_bootstrap_stacked_keys_share_resamples() -> None:
    rng = np.random.default_rng(2)
    stack = np.stack([_coders_with_error(rng, 100) for _ in range(4)])
    boot = al.bootstrap_alpha(stack, n_boot=100, seed=8)
    assert boot.replicates.shape == (4, 100)
    single = al.bootstrap_alpha(stack[2], n_boot=100, seed=8)
    assert np.allclose(boot.replicates[2], single.replicates, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# NVivo-style kappa
# ------------------------------------------------------------------------------------------------

def test_nvivo_kappa_hand_example() -> None:
    # T1 has 10 turns: both coded turns 1-3, A only turn 4, B only turn 5, neither turns 6-10.
    #   TA = 3 + 5 = 8; m_A = m_B = 4; EF = (4*4 + 6*6)/10 = 5.2; kappa = (8 - 5.2)/(10 - 5.2) = 0.583333
    # T2 has 5 turns and neither coder used the code: NVivo reports kappa 1 (complete agreement).
    # Average weighted by turns: (10 * 0.583333 + 5 * 1) / 15 = 0.722222
    a = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0] + [0] * 5
    b = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0] + [0] * 5
    res = ag.nvivo_kappa(np.array([a, b], dtype=float), ["T1"] * 10 + ["T2"] * 5)
    assert res.per_transcript["transcript"].tolist() == ["T1", "T2"]
    assert res.per_transcript["n_units"].tolist() == [10, 5]
    assert res.per_transcript["kappa"].round(6).tolist() == [0.583333, 1.0]
    assert res.kappa == pytest.approx((10 * 2.8 / 4.8 + 5) / 15)
    assert res.reason == ""
    # one coder codes everything, the other nothing: EF = 0, kappa = 0 / 10 = 0
    res0 = ag.nvivo_kappa(np.array([[1] * 10, [0] * 10], dtype=float), ["T"] * 10)
    assert res0.kappa == 0.0


def test_nvivo_kappa_equals_cohen_for_two_coders() -> None:
    rng = np.random.default_rng(4)
    mat = _coders_with_error(rng, 50, n_coders=2)
    p_o = np.mean(mat[0] == mat[1])
    p1, p2 = mat[0].mean(), mat[1].mean()
    p_e = p1 * p2 + (1 - p1) * (1 - p2)
    assert ag.nvivo_kappa(mat, ["T"] * 50).kappa == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-12)


def test_nvivo_kappa_more_than_two_coders() -> None:
    mat = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]], dtype=float)
    res = ag.nvivo_kappa(mat, ["T"] * 3)
    assert np.isnan(res.kappa)
    assert res.reason == "NVivo's kappa compares two users"


# ------------------------------------------------------------------------------------------------
# tables on a small hand-made study
# ------------------------------------------------------------------------------------------------

def _study() -> dict[str, pd.DataFrame]:
    """Two transcripts: s1.FG1 (5 participant turns) coded by A and B; s2.FG1 coded by A only.

    c1  A: 1 1 0 0 0   B: 1 0 0 0 0
    c2  A: 0 0 1 1 1   B: 0 0 1 1 1   (B also coded c2 on turn 6, a facilitator turn: not a unit)
    c3  nobody.        Theme T1 = {c1, c2}, T2 = {c3}.
    """
    units = pd.DataFrame({
        "unit": [f"s1.FG1:{t}" for t in range(1, 6)] + ["s2.FG1:1", "s2.FG1:2"],
        "site": ["s1"] * 5 + ["s2"] * 2,
        "transcript": ["s1.FG1"] * 5 + ["s2.FG1"] * 2,
        "turn": [1, 2, 3, 4, 5, 1, 2],
        "speaker": ["P01", "P02", "P01", "P03", "P02", "P01", "P02"],
        "text": ["We met.", "It helped.", "Peer work.", "Training.", "Money.", "Hello.", "Bye."],
        "setting": ["low-income"] * 5 + ["high-income"] * 2,
    })
    coverage = pd.DataFrame({"transcript": ["s1.FG1", "s1.FG1", "s2.FG1"], "coder": ["A", "B", "A"]})
    codebook = pd.DataFrame({"code": ["c1", "c2", "c3"], "label": ["Code one", "Code two", "Code three"],
                             "theme": ["T1", "T1", "T2"],
                             "origin": ["deductive", "inductive", "deductive"]})
    themes = pd.DataFrame({"theme": ["T1", "T2"], "label": ["Theme one", "Theme two"]})
    rows = [("A", 1, "c1"), ("A", 1, "c1"),          # two spans, one presence
            ("A", 2, "c1"), ("B", 1, "c1"),
            ("A", 3, "c2"), ("A", 4, "c2"), ("A", 5, "c2"),
            ("B", 3, "c2"), ("B", 4, "c2"), ("B", 5, "c2"), ("B", 6, "c2")]
    codings = pd.DataFrame([{"site": "s1", "transcript": "s1.FG1", "turn": t, "coder": c, "code": k,
                             "theme": "T1", "origin": ""} for c, t, k in rows]
                           + [{"site": "s2", "transcript": "s2.FG1", "turn": 1, "coder": "A",
                               "code": "c1", "theme": "T1", "origin": "deductive"}])
    return {"codings": codings, "units": units, "coverage": coverage, "codebook": codebook,
            "themes": themes}


def test_presence_matrix_hand_example() -> None:
    s = _study()
    p = ag.presence_matrix(s["codings"], s["units"], s["coverage"], s["codebook"])
    assert p.keys == ["c1", "c2", "c3"] and p.coders == ["A", "B"]
    assert p.units["unit"].tolist() == [f"s1.FG1:{t}" for t in range(1, 6)]  # s2 single-coded
    assert p.matrix("c1").tolist() == [[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]
    assert p.matrix("c2").tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]
    assert p.matrix("c3").tolist() == [[0] * 5, [0] * 5]
    t = ag.presence_matrix(s["codings"], s["units"], s["coverage"], s["codebook"], s["themes"], "theme")
    assert t.matrix("T1").tolist() == [[1, 1, 1, 1, 1], [1, 0, 1, 1, 1]]


def test_presence_matrix_missing_values() -> None:
    s = _study()
    cov = pd.concat([s["coverage"], pd.DataFrame({"transcript": ["s2.FG1"], "coder": ["C"]})])
    p = ag.presence_matrix(s["codings"], s["units"], cov, s["codebook"])
    assert p.coders == ["A", "B", "C"]
    c1 = p.matrix("c1")
    assert np.isnan(c1[2, :5]).all()                                       # C did not code s1.FG1
    assert np.isnan(c1[1, 5:]).all()                                       # B did not code s2.FG1
    assert c1[0, 5:].tolist() == [1, 0] and c1[2, 5:].tolist() == [0, 0]


def test_agreement_tables_hand_example() -> None:
    s = _study()
    by_code, by_theme = ag.agreement_tables(**s, n_boot=200, seed=3, min_present=0, groups=["setting"])   # 5 units: the formulas, not the rare-code rule
    assert list(by_code.columns) == [
        "code", "label", "theme", "origin", "scope", "n_units", "n_present", "n_coders", "alpha", "ci_low",
        "ci_high", "q_below_800", "q_below_667", "pct_agreement", "prevalence_A", "prevalence_B",
        "kappa_nvivo", "undefined", "method"]
    assert by_code.set_index(["scope", "code"]).loc["all", "n_present"][["c1", "c2", "c3"]].tolist() == [2, 3, 0]
    # rows: scope all, site:s1, setting:low-income (pooled first, then codebook order), then origins
    assert list(zip(by_code["scope"], by_code["code"])) == [
        (sc, c) for sc in ("all", "site:s1", "setting:low-income") for c in ("(pooled)", "c1", "c2", "c3")
    ] + [("origin:deductive", "(pooled)"), ("origin:inductive", "(pooled)")]

    row = by_code.set_index(["scope", "code"])
    # c1: pairable values n = 10. Unit 1 (1,1) adds o_11 = 2; unit 2 (1,0) adds o_10 = o_01 = 1;
    # units 3-5 (0,0) add o_00 = 6. n_1 = 3, n_0 = 7.
    # alpha = 1 - (n - 1) * (o_01 + o_10) / (n_0 n_1 + n_1 n_0) = 1 - 9 * 2 / 42 = 4/7
    c1 = row.loc[("all", "c1")]
    assert c1["alpha"] == round(4 / 7, 6) == 0.571429
    assert c1["n_units"] == 5 and c1["n_coders"] == 2
    assert c1["pct_agreement"] == 0.8                       # 4 of 5 turns agree
    assert (c1["prevalence_A"], c1["prevalence_B"]) == (0.4, 0.2)
    # NVivo kappa: TA = 4, EF = (2*1 + 3*4)/5 = 2.8, kappa = (4 - 2.8)/(5 - 2.8) = 0.545455
    assert c1["kappa_nvivo"] == round(1.2 / 2.2, 6)
    assert c1["undefined"] == ""
    assert c1["ci_low"] <= c1["alpha"] <= c1["ci_high"]
    assert c1["method"] == "unit bootstrap, 200 replicates, percentile CI, seed 3"
    # c2: perfect agreement with variation (n_1 = 6, n_0 = 4, no off-diagonal): alpha = 1
    c2 = row.loc[("all", "c2")]
    assert (c2["alpha"], c2["ci_low"], c2["ci_high"], c2["q_below_800"]) == (1.0, 1.0, 1.0, 0.0)
    # c3: nobody used it -> NaN with the reason (NVivo would say kappa 1)
    c3 = row.loc[("all", "c3")]
    assert np.isnan(c3["alpha"]) and np.isnan(c3["ci_low"])
    assert c3["undefined"] == "no coder used this code in the double-coded units"
    assert c3["kappa_nvivo"] == 1.0
    # pooled over c1 and c2 (c3 unused, left out): 10 stacked decision units, n = 20,
    # o_01 + o_10 = 2, n_1 = 3 + 6 = 9, n_0 = 7 + 4 = 11: alpha = 1 - 19 * 2 / (2 * 9 * 11) = 80/99
    pooled = row.loc[("all", "(pooled)")]
    assert pooled["alpha"] == round(80 / 99, 6) == 0.808081
    assert pooled["n_units"] == 5                           # turns, not decisions
    assert pooled["pct_agreement"] == 0.9                   # 9 of 10 decisions
    assert pooled["kappa_nvivo"] == round((1.2 / 2.2 + 1) / 2, 6)
    assert (pooled["label"], pooled["theme"], pooled["origin"]) == ("all codes, pooled", "", "")
    # origin pools: deductive = {c1} (c3 unused) -> 4/7; inductive = {c2} -> 1
    assert row.loc[("origin:deductive", "(pooled)"), "alpha"] == 0.571429
    assert row.loc[("origin:deductive", "(pooled)"), "origin"] == "deductive"
    assert row.loc[("origin:inductive", "(pooled)"), "alpha"] == 1.0
    # breakdowns equal the whole here: only s1 (low-income) is double-coded
    assert row.loc[("site:s1", "c1"), "alpha"] == row.loc[("setting:low-income", "c1"), "alpha"] == 0.571429

    # by_theme: T1 = c1 or c2. A: 1 1 1 1 1, B: 1 0 1 1 1 -> n_1 = 9, n_0 = 1, o_01 + o_10 = 2:
    # alpha = 1 - 9 * 2 / (2 * 9 * 1) = 0 although 4 of 5 turns agree (the prevalence paradox)
    assert list(by_theme.columns[:4]) == ["theme", "label", "origin", "scope"]
    th = by_theme.set_index(["scope", "theme"])
    t1 = th.loc[("all", "T1")]
    assert t1["alpha"] == 0.0 and t1["pct_agreement"] == 0.8 and t1["origin"] == "deductive+inductive"
    assert t1["kappa_nvivo"] == 0.0         # EF = (5*4 + 0)/5 = 4, TA = 4
    t2 = th.loc[("all", "T2")]
    assert np.isnan(t2["alpha"])
    assert t2["undefined"] == "no coder used any of this theme's codes in the double-coded units"

    # deterministic and rounded
    again, _ = ag.agreement_tables(**s, n_boot=200, seed=3, min_present=0, groups=["setting"])
    pd.testing.assert_frame_equal(by_code, again)
    floats = by_code.select_dtypes("float")
    assert (floats.round(6).fillna(-9) == floats.fillna(-9)).all().all()


def test_agreement_tables_cluster_and_three_coders() -> None:
    s = _study()
    # add coder C on s1.FG1, agreeing with A everywhere
    extra = s["codings"][(s["codings"]["coder"] == "A") & (s["codings"]["transcript"] == "s1.FG1")]
    s["codings"] = pd.concat([s["codings"], extra.assign(coder="C")], ignore_index=True)
    s["coverage"] = pd.concat([s["coverage"], pd.DataFrame({"transcript": ["s1.FG1"], "coder": ["C"]})])
    by_code, _ = ag.agreement_tables(**s, n_boot=50, seed=1, cluster_by_transcript=True, min_present=0)
    c1 = by_code.set_index(["scope", "code"]).loc[("all", "c1")]
    assert c1["n_coders"] == 3
    assert c1["alpha"] == round(krippendorff.alpha(
        [[1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]], level_of_measurement="nominal"), 6)
    assert np.isnan(c1["kappa_nvivo"])
    assert c1["undefined"] == "kappa_nvivo: NVivo's kappa compares two users"
    assert c1["method"].startswith("transcript-cluster bootstrap (1 transcripts), 50 replicates")
    assert "prevalence_C" in by_code.columns


def test_agreement_inputs_errors() -> None:
    s = _study()
    bad = s["codings"].copy()
    bad.loc[0, "code"] = "c9"
    with pytest.raises(InputError, match="c9.*not in the codebook"):
        ag.agreement_tables(bad, s["units"], s["coverage"], s["codebook"], s["themes"], n_boot=0)
    uncovered = pd.concat([s["codings"], s["codings"].head(1).assign(coder="Z")])
    with pytest.raises(InputError, match="coder 'Z' has codings"):
        ag.agreement_tables(uncovered, s["units"], s["coverage"], s["codebook"], s["themes"], n_boot=0)
    with pytest.raises(InputError, match="no transcript is coded by two or more coders"):
        ag.agreement_tables(s["codings"][s["codings"]["coder"] == "A"], s["units"],
                            s["coverage"][s["coverage"]["coder"] == "A"], s["codebook"], s["themes"])
    units = s["units"].drop(columns="setting")
    units.attrs["path"] = "results/agreement/units.tsv"
    with pytest.raises(InputError, match=r"results/agreement/units.tsv:1: missing column\(s\): setting"):
        ag.agreement_tables(s["codings"], units, s["coverage"], s["codebook"], s["themes"], groups=["setting"])
    turns = s["codings"].copy()
    turns["turn"] = turns["turn"].astype(object)
    turns.loc[2, "turn"] = "2a"
    turns.attrs["path"] = "results/codes/codings.tsv"
    with pytest.raises(InputError, match=r"codings.tsv:4: turn '2a' is not a whole number"):
        ag.agreement_tables(turns, s["units"], s["coverage"], s["codebook"], s["themes"])


# ------------------------------------------------------------------------------------------------
# disagreements ledger and summary
# ------------------------------------------------------------------------------------------------

def test_disagreements_rows() -> None:
    s = _study()
    # add coder C on s1.FG1 only, who also used c3 on turn 3 and nothing on turns 1-2
    c_rows = pd.DataFrame({"site": "s1", "transcript": "s1.FG1", "turn": [3, 3, 4, 5], "coder": "C",
                           "code": ["c3", "c2", "c2", "c2"], "theme": "", "origin": ""})
    codings = pd.concat([s["codings"], c_rows], ignore_index=True)
    coverage = pd.concat([s["coverage"], pd.DataFrame({"transcript": ["s1.FG1"], "coder": ["C"]})])
    out = ag.disagreements(codings, s["units"], coverage)
    expected = pd.DataFrame({
        "unit": ["s1.FG1:1", "s1.FG1:2", "s1.FG1:3"],
        "site": ["s1"] * 3, "transcript": ["s1.FG1"] * 3, "turn": [1, 2, 3],
        "speaker": ["P01", "P02", "P01"], "text": ["We met.", "It helped.", "Peer work."],
        "codes_A": ["c1", "c1", "c2"], "codes_B": ["c1", "", "c2"], "codes_C": ["", "", "c2;c3"],
        "in_dispute": ["c1", "c1", "c3"],
        "resolution": "", "resolved_code": "", "note": "",
    })
    pd.testing.assert_frame_equal(out.reset_index(drop=True), expected, check_dtype=False)


def test_disagreements_not_coded_and_natural_order() -> None:
    units = pd.DataFrame({"unit": ["k.FG10:1", "k.FG2:1", "k.FG2:2"], "site": "k",
                          "transcript": ["k.FG10", "k.FG2", "k.FG2"], "turn": [1, 1, 2],
                          "speaker": "P01", "text": ["x", "y", "z"], "setting": "low-income"})
    coverage = pd.DataFrame({"transcript": ["k.FG10", "k.FG10", "k.FG2", "k.FG2", "k.FG2"],
                             "coder": ["A", "B", "A", "B", "C"]})
    codings = pd.DataFrame({"site": "k", "transcript": ["k.FG10", "k.FG2", "k.FG2"],
                            "turn": [1, 2, 2], "coder": ["A", "A", "C"], "code": ["x1", "x1", "x1"],
                            "theme": "T", "origin": "deductive"})
    out = ag.disagreements(codings, units, coverage)
    assert out["unit"].tolist() == ["k.FG2:2", "k.FG10:1"]          # FG2 before FG10
    assert out["codes_C"].tolist() == ["x1", "(not coded)"]
    assert out["codes_B"].tolist() == ["", ""]
    assert out["in_dispute"].tolist() == ["x1", "x1"]


def test_summary_markdown() -> None:
    s = _study()
    by_code, by_theme = ag.agreement_tables(**s, n_boot=100, seed=3, min_present=0)
    md = ag.summary_markdown(by_code, by_theme, s["units"], s["coverage"], corpus_transcripts=2,
                             versions={"Python": "3.11.9", "krippendorff": "0.9.0"})
    assert "1 of the 2 transcripts (50% of the corpus)" in md
    assert "5 participant turns" in md
    assert "by two coders each" in md
    assert "Krippendorff's alpha at the nominal level on the presence or absence" in md
    assert "unit bootstrap, 100 replicates, percentile CI, seed 3" in md
    assert "Python 3.11.9, krippendorff 0.9.0" in md
    assert "alpha >= .800" in md and ".667" in md and "Krippendorff (2004)" in md
    assert "Pooled over all codes, alpha was .808" in md
    assert "Theme one .000" in md and "Theme two undefined" in md
    assert "Codes below .667: Code one (c1, .571)." in md
    assert "Codes between .667 and .800 (tentative): none." in md
    assert "Krippendorff, K. (2011)" in md and "Hayes, A. F., & Krippendorff, K. (2007)" in md


def test_rare_code_alpha_is_not_estimable_and_kappa_is_flagged_when_a_coder_never_used_it() -> None:
    """Issue 12 item 9: a code present in a handful of units gets n_present and "not estimable"
    (no alpha, no CI) below agreement.min_present; NVivo's kappa, which averages in kappa 1 for every
    transcript where neither coder used the code, is not shown where one coder never used it."""
    s = _study()
    extra = pd.DataFrame([{"site": "s1", "transcript": "s1.FG1", "turn": 4, "coder": "A", "code": "c3",
                           "theme": "T1", "origin": ""}])
    s["codings"] = pd.concat([s["codings"], extra], ignore_index=True)      # only A ever uses c3
    by_code, by_theme = ag.agreement_tables(**s, n_boot=50, seed=3)        # default minimum: 10
    row = by_code.set_index(["scope", "code"]).loc["all"]
    c1 = row.loc["c1"]
    assert c1["n_present"] == 2 and np.isnan(c1["alpha"]) and np.isnan(c1["ci_low"]) and np.isnan(c1["q_below_800"])
    assert c1["undefined"].startswith("not estimable: present in 2 unit(s), fewer than 10 (agreement.min_present)")
    c3 = row.loc["c3"]
    assert c3["n_present"] == 1 and c3["prevalence_B"] == 0 and np.isnan(c3["kappa_nvivo"])
    assert "kappa_nvivo not shown: B never used it here" in c3["undefined"]
    # with the minimum lowered, the same codes have alpha again; c2 (both coders used it) keeps kappa
    by_code, _ = ag.agreement_tables(**s, n_boot=50, seed=3, min_present=2)
    row = by_code.set_index(["scope", "code"]).loc["all"]
    assert row.loc["c1", "alpha"] == round(4 / 7, 6)
    assert not np.isnan(row.loc["c2", "kappa_nvivo"]) and np.isnan(row.loc["c3", "kappa_nvivo"])


def test_kappa_per_transcript_sums_equal_the_indicator_matrix_products() -> None:
    """_kappa_batch sums units per transcript by reduceat (issue 14: the units x transcripts
    indicator matrix grew with the square of the study); the same numbers as the matrix products,
    with transcripts in any order, a coder missing from some, and NaN where a coder saw no unit."""
    from qualflow.agreement import _kappa_batch

    rng = np.random.default_rng(3)
    n_keys, n_coders, n_units, n_t = 4, 3, 300, 17
    tcodes = rng.integers(0, n_t, n_units)
    vals = rng.integers(0, 2, (n_keys, n_coders, n_units)).astype(float)
    vals[:, 2, tcodes % 3 != 0] = np.nan          # the third coder only on some transcripts
    vals[:, 0, tcodes == 5] = np.nan              # and the first not on one

    onehot = np.zeros((n_units, n_t))
    onehot[np.arange(n_units), tcodes] = 1.0
    observed = ~np.isnan(vals[0])
    x = np.nan_to_num(vals)
    s = x.sum(axis=1)
    agree = ((s == 2) | ((s == 0) & (observed.sum(axis=0) == 2))).astype(float) @ onehot
    marg = x @ onehot
    n_units_t = onehot.sum(axis=0)
    sum_m, sum_m2 = marg.sum(axis=1), (marg ** 2).sum(axis=1)
    m_ab = (sum_m ** 2 - sum_m2) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ef = (m_ab + (n_units_t - sum_m) * n_units_t + m_ab) / n_units_t
        want = np.where(n_units_t * sum_m - 2.0 * m_ab == 0, 1.0, (agree - ef) / (n_units_t - ef))
    n_coders_t = ((observed.astype(float) @ onehot) > 0).sum(axis=0)
    want = np.where(n_coders_t == 2, want, np.nan)

    kappa, units, coders = _kappa_batch(vals, tcodes, n_t)
    np.testing.assert_array_equal(units, n_units_t)
    np.testing.assert_array_equal(coders, n_coders_t)
    np.testing.assert_array_equal(kappa, want)
    assert np.isfinite(kappa).any() and np.isnan(kappa).any()
