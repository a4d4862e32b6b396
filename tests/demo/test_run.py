"""The demo as a person runs it (reduced: the synthetic part, 3 methods + the baselines, 300
bootstrap replicates): the report must state the planted shortcut and the planted sex gap with
their CIs, and the audit must flag the planted imbalance (fastxai.demo.synthetic's docstring)."""
import html
import re

import pytest

pytest.importorskip("jinja2")
pytest.importorskip("pyarrow")
pytest.importorskip("pydantic")

from fastxai.demo.run import demo_config, main, write_toml  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    (result,) = main(out, quick=True, quiet=True, parts=["synthetic"])
    from fastxai.report.data import load_run
    from fastxai.report.findings import FindingSettings, compute_findings
    from fastxai.report.builder import audit_section, make_context

    data = load_run(result["run_dir"])
    settings = FindingSettings(n_boot=300, min_group_size=10)
    ctx = make_context(data, settings)
    audit = audit_section(data, ctx, settings.min_group_size)["audit"]
    return result, compute_findings(data, audit, settings, ctx), result["report"].read_text()


def in_page(text, page):
    return html.escape(text, quote=True).replace("&#x27;", "&#39;") in page or html.escape(text) in page


def test_planted_shortcut_is_stated_with_its_ci(demo):
    _, found, page = demo
    border = [f for f in found if f.kind == "border" and f.subject["feature"] == "site"]
    assert [f.subject["group"] for f in border] == ["A"], [f.text for f in found if f.kind == "border"]
    f = border[0]
    assert "concentrate on the image border" in f.text and re.search(r"95 % CI \S+ to \S+", f.text)
    assert any(c.ci_low > 0 and c.q < 0.05 for c in f.comparisons)
    assert in_page(f.text, page)


def test_planted_sex_gap_is_stated_with_its_ci(demo):
    _, found, page = demo
    gap = [f for f in found if f.kind == "model_gap" and f.subject.get("feature") == "sex"
           and f.subject.get("metric") == "sensitivity" and f.level == "flag"]
    assert len(gap) == 1, [f.text for f in found if f.kind == "model_gap"]
    f = gap[0]
    c = f.comparisons[0]
    lower_for_f = (f.subject["group"] == "F") == (c.estimate < 0)
    assert lower_for_f and c.excludes_zero and c.q < 0.05
    assert re.search(r"Sensitivity is [0-9.]+ lower for sex = F than for sex = M .*95 % CI", f.text)
    assert in_page(f.text, page)


def test_audit_flags_the_planted_imbalance(demo):
    _, found, page = demo
    audit = [f for f in found if f.kind == "audit"]
    assert any(f.subject.get("feature") == "age_group" and f.subject.get("group") == "80+"
               and f.subject["audit"] in ("under_represented", "too_small") for f in audit)
    texts = " ".join([f.text for f in audit] + [d for f in audit for d in f.details])
    assert "age_group = 80+" in texts and "sex = F × age_group = 80+" in texts


def test_reports_written(demo):
    result, _, page = demo
    assert result["public"].exists() and "fig-cases" not in result["public"].read_text()
    assert 'id="fig-cases-cnn"' in page and 'id="tab-methods-cnn"' in page
    for name in ("baseline:centre", "baseline:random", "baseline:edges", "Saliency", "GuidedBackprop", "LayerGradCam"):
        assert name in page


def test_demo_configs_roundtrip(tmp_path):
    from fastxai.demo.run import tomllib

    for name in ("synthetic", "nih"):
        cfg = demo_config(name, tmp_path / "root", tmp_path / "out", tmp_path / "cache")
        assert len(cfg["methods"]) >= 6
        assert tomllib.loads(write_toml(cfg, tmp_path / f"{name}.toml").read_text()) == cfg


def test_report_command_on_the_demo_run(demo, tmp_path):
    from fastxai.cli import main as cli

    result, _, _ = demo
    out = tmp_path / "shared.html"
    assert cli(["report", str(result["run_dir"]), "--no-images", "--n-boot", "100", "--out", str(out)]) == 0
    page = out.read_text()
    assert "shareable version: no patient images" in page and "fig-cases" not in page
    assert cli(["report"]) == 2


@pytest.mark.realdata
def test_data_points_the_nih_config_at_a_full_dataset(tmp_path):
    from pathlib import Path

    from fastxai.bench import load_config
    from fastxai.demo.run import SUBSET

    repo = Path(__file__).resolve().parents[2]
    full = next((p for p in (repo.parent / "shared" / "data" / "nih_cxr14_bbox",
                             repo.parent.parent / "shared" / "data" / "nih_cxr14_bbox") if p.is_dir()), None)
    if full is None:
        pytest.skip("../shared/data/nih_cxr14_bbox is absent")
    bundled = demo_config("nih", SUBSET, tmp_path / "a", tmp_path / "c")
    assert bundled["dataset"]["split_column"] == "split"
    cfg = demo_config("nih", full, tmp_path / "b", tmp_path / "c")
    assert "split_column" not in cfg["dataset"]  # the full set has no bundled split: by patient
    checked = load_config(str(write_toml(cfg, tmp_path / "nih.toml")))  # schema + data checks
    assert checked.dataset.root == str(full.resolve())
