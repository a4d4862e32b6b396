"""fastxai.report.findings / checks on a run with planted effects (tests/report/fake_run.py)."""
import numpy as np
import pytest

from fastxai.report.audit import audit_dataset
from fastxai.report.checks import border_share, levels
from fastxai.report.data import load_run
from fastxai.report.findings import FindingSettings, compute_findings, make_context
from tests.report.fake_run import FakeRun

SETTINGS = FindingSettings(n_boot=300, min_group_size=20)


@pytest.fixture(scope="module")
def found():
    data = load_run(FakeRun())
    audit = audit_dataset(data.samples, data.boxes, group_columns=data.group_columns, min_group_size=20)
    return compute_findings(data, audit, SETTINGS)


def of(found, kind):
    return [f for f in found if f.kind == kind]


def test_group_gap_in_sensitivity_is_stated_with_its_ci(found):
    gaps = [f for f in of(found, "model_gap") if f.subject.get("group") == "F" and f.subject["metric"] == "sensitivity"]
    assert len(gaps) == 1
    f = gaps[0]
    c = f.comparisons[0]
    assert c.estimate < -0.2 and c.ci_high < 0 and c.q < 0.05
    assert "Sensitivity is" in f.text and "lower for sex = F than for sex = M" in f.text and "95 % CI" in f.text
    assert f.level == "flag"


def test_no_gap_says_interval_includes_zero(found):
    ok = [f for f in of(found, "model_gap") if f.level == "ok"]
    assert len(ok) == 1, "unclear comparisons are merged into one finding per model"
    f = ok[0]
    assert "site" in f.subject["features"] and "includes zero" in f.text
    assert any("site = A" in d for d in f.details)
    assert all("includes zero" in d for d in f.details)


def test_shortcut_on_the_border_is_found_for_site_b_only(found):
    b = of(found, "border")
    assert [f.subject["group"] for f in b] == ["B"]
    assert b[0].subject["methods"] == ["Good"]
    assert "concentrate on the image border" in b[0].text and "95 % CI" in b[0].text


def test_baselines(found):
    f = {x.subject["metric"]: x for x in of(found, "baseline")}["pointing_game"]
    assert f.subject["beats_all"] == ["Good"]
    assert "Blind" in f.text and "1 of 2 methods" in f.text
    blind_centre = [d for d in f.details if d.startswith("Blind vs baseline:centre")]
    assert blind_centre and "includes zero" in blind_centre[0]


def test_one_fdr_family_over_all_comparisons(monkeypatch):
    import scipy.stats

    import fastxai.report.findings as F

    seen = []
    real = F.benjamini_hochberg
    monkeypatch.setattr(F, "benjamini_hochberg", lambda p: seen.append(list(p)) or real(p))
    data = load_run(FakeRun())
    out = compute_findings(data, None, SETTINGS)
    assert len(seen) == 1  # one BH pass for the whole report
    p_all = np.array(seen[0])
    assert len(p_all) > 20
    q_all = scipy.stats.false_discovery_control(p_all[np.isfinite(p_all)])
    comps = {id(c): c for f in out for c in f.comparisons}.values()
    lookup = dict(zip(p_all[np.isfinite(p_all)], q_all))
    for c in comps:
        if np.isfinite(c.p):
            assert c.q == pytest.approx(lookup[c.p])
    assert any(f"over {len(p_all)} comparisons" in f.text for f in out)


def test_audit_and_health_findings_come_first(found):
    kinds = [f.kind for f in found]
    assert "audit" in kinds and "health" in kinds
    small = [f for f in of(found, "audit") if f.subject.get("group") == "C"]
    assert {f.subject["audit"] for f in small} >= {"too_small", "under_represented"}
    assert found[0].level == "flag"


def test_levels_skip_small_groups_and_binary_features_test_once():
    data = load_run(FakeRun())
    ctx = make_context(data, SETTINGS)
    assert [lv for lv, _, _ in levels(ctx, "sex")] == ["F"]
    assert sorted(lv for lv, _, _ in levels(ctx, "site")) == ["A", "B"]


def test_border_share():
    m = np.zeros((3, 10, 10))
    m[0, 0, :] = 1.0        # all on the border
    m[1, 5, 5] = 2.0        # all inside
    m[2] = -1.0             # no positive attribution
    s = border_share(m, 0.1)
    assert s[0] == 1.0 and s[1] == 0.0 and np.isnan(s[2])


def test_without_maps_there_is_no_border_finding_and_a_note():
    data = load_run(FakeRun(with_maps=False))
    out = compute_findings(data, None, SETTINGS)
    assert not of(out, "border")
    assert any("maps" in n for n in data.notes)


class TwoClassRun(FakeRun):
    """The fake run with a ``target`` column: every score and prediction for classes a and b."""

    def scores(self):
        s = super().scores()
        import pandas as pd

        return pd.concat([s.assign(target="a"), s.assign(target="b")], ignore_index=True)

    def predictions(self):
        p = super().predictions()
        import pandas as pd

        return pd.concat([p.assign(target="a"), p.assign(target="b", y_score=1 - p["y_score"])], ignore_index=True)


def test_units_are_sample_class_pairs():
    data = load_run(TwoClassRun())
    ctx = make_context(data, SETTINGS)
    assert len(ctx.units) == 2 * 240 and ctx.units[0] == ("s000", "a") and ctx.units[1] == ("s000", "b")
    assert ctx.samples["sample_id"].tolist()[:2] == ["s000", "s000"]
    mat = data.score_matrix("cnn", "pointing_game", ctx.units)
    np.testing.assert_array_equal(mat["Good"][0::2], mat["Good"][1::2])
    out = compute_findings(data, None, SETTINGS, ctx)
    names = {f.text.split(":")[0] for f in of(out, "model_gap") if f.level != "ok"}
    assert "cnn (class a)" in names
