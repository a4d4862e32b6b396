"""fastxai.report.wording: never stronger than the CI."""
from fastxai.report import wording as W
from fastxai.report.stats import Comparison


def comp(est, lo, hi, q, a=0.7, b=0.8):
    return Comparison("k", est, lo, hi, p=q, n=10, q=q, a=a, b=b)


def test_strengths():
    assert W.strength(comp(-0.1, -0.2, -0.05, 0.01)) == "clear"
    assert W.strength(comp(-0.1, -0.2, -0.05, 0.2)) == "uncorrected"
    assert W.strength(comp(-0.1, -0.2, 0.05, 0.01)) == "unclear"
    assert W.strength(comp(0.1, float("nan"), float("nan"), float("nan"))) == "unclear"


def test_gap_sentences():
    clear = W.gap_sentence("sensitivity", comp(-0.12, -0.19, -0.05, 0.01), "sex = F", "sex = M", 20)
    assert clear.startswith("Sensitivity is 0.12 lower for sex = F than for sex = M")
    assert "95 % CI \u22120.19 to \u22120.05" in clear and "FDR" in clear and "((" not in clear and ") (" not in clear
    weak = W.gap_sentence("sensitivity", comp(-0.12, -0.19, -0.05, 0.2), "sex = F", "sex = M", 20)
    assert "does not survive false discovery rate control" in weak
    none = W.gap_sentence("sensitivity", comp(-0.02, -0.1, 0.05, 0.9), "sex = F", "sex = M", 20)
    assert none.startswith("No clear difference") and "includes zero" in none and "lower" not in none


def test_versus_respects_direction():
    better = W.versus_sentence("IG", "baseline:centre", "deletion_auc", comp(-0.1, -0.2, -0.05, 0.01), 5)
    assert "better than" in better
    worse = W.versus_sentence("IG", "baseline:centre", "pointing_game", comp(-0.1, -0.2, -0.05, 0.01), 5)
    assert "worse than" in worse


def test_num():
    assert W.num(-0.004) == "0.00" and W.num(float("nan")) == "n/a" and W.num(-1.5) == "\u22121.50"


def test_unmeasurable_gap_says_so_with_the_count():
    nan = float("nan")
    c = Comparison("k", nan, nan, nan, p=nan, n=0, q=nan, a=nan, b=0.13)
    s = W.gap_sentence("share of attribution on the image border", c, "sex = F", "sex = M", 20)
    assert s.startswith("Share of attribution on the image border cannot be compared between sex = F and sex = M")
    assert "not measurable" in s and "n = 0" in s and "includes zero" not in s and "No clear difference" not in s
    v = W.versus_sentence("RISE", "baseline:centre", "pointing_game", c, 5)
    assert "not measurable" in v and "includes zero" not in v
