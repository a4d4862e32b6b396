"""``fastxai audit CONFIG``: the audit of a bench config's dataset, through the bench's loader."""
import pytest

pytest.importorskip("pydantic")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    from fastxai.demo.run import demo_config, write_toml
    from fastxai.demo.synthetic import write_synthetic

    d = tmp_path_factory.mktemp("audit")
    write_synthetic(d / "data", n_images=240, size=32, seed=3)
    cfg = demo_config("synthetic", d / "data", d / "run", d / "cache")
    cfg["dataset"]["preprocess"]["size"] = 32
    return write_toml(cfg, d / "bench.toml")


def test_audit_config_flags_the_planted_imbalance(config, tmp_path):
    from fastxai.cli import main
    from fastxai.report.audit_source import load_audit

    audit = load_audit(config, min_group_size=10)
    assert audit.n_images == 240 and audit.n_patients < 240  # several images per patient
    assert ("age_group", "80+") in {(f.feature, f.group) for f in audit.flagged("under_represented")}
    assert "F × 80+" in {f.group for f in audit.flagged("intersection") if f.feature == "sex × age_group"}
    site = audit.groups["site"].set_index("group")
    assert site["images"].sum() == 240 and 0.0 < site.loc["A", "intensity mean"] < 1.0
    assert site.loc["A", "input height (px)"] == 32 and site.loc["A", "stored height (px)"] == 32
    assert not audit.flagged("leakage")
    out = tmp_path / "audit.html"
    assert main(["audit", str(config), "--out", str(out), "--min-group-size", "10"]) == 0
    page = out.read_text()
    assert "age_group = 80+ is under-represented" in page and "<script" not in page


def test_audit_of_a_missing_or_bad_config_names_it(tmp_path, capsys):
    from fastxai.cli import main
    from fastxai.report.audit_source import load_audit

    with pytest.raises(FileNotFoundError, match="config"):
        load_audit(tmp_path / "nope.toml")
    assert main(["audit", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[dataset]\nroot = "."\nlabels = ["x"]\ngroup_colums = ["sex"]\n[[models]]\nname = "m"\narch = "small_cnn"\n')
    assert main(["audit", str(bad)]) == 2
    assert "group_colums" in capsys.readouterr().out
