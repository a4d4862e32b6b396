"""fastxai.report.builder: the HTML is self-contained, escaped, and the public version has no images."""
import re

import pytest

from fastxai.report.builder import build_report
from tests.report.conftest import SMALL
from tests.report.fake_run import MARKUP_GROUP, MARKUP_METHOD, FakeRun


@pytest.fixture(scope="module")
def pages(markup_report, public_report):
    return markup_report.read_text(), public_report.read_text()


def test_sections_in_order(pages):
    full, _ = pages
    pos = [full.index(f'id="{s}"') for s in ("findings", "audit", "model-cnn", "cards", "use", "provenance")]
    assert pos == sorted(pos)
    for tid in ("tab-methods-cnn", "tab-groups-cnn-pointing-game", "tab-model-groups-cnn", "fig-curves-cnn",
                "fig-border-cnn", "fig-cases-cnn"):
        assert f'id="{tid}"' in full


def test_group_table_reliability_and_timing_sections(pages):
    full, public = pages
    for page in pages:
        # method × group: per-group values with gap, ratio and worst group, the baselines as rows
        tab = page[page.index('id="tab-groups-cnn-pointing-game"'):]
        tab = tab[:tab.index("</table>")]
        for col in ("site: gap", "site: ratio", "site: worst", "site = A", "site = B", "baseline:centre"):
            assert col in tab, col
        # a reliability diagram per group feature
        assert 'id="fig-reliability-cnn-1-site"' in page and 'id="fig-reliability-cnn-1-' in page
    # timing: per method and stage, with the floor and the engine overhead (fake: 0.5 s vs floor 0.4 s)
    timing = full[full.index('id="timing-model-cnn"'):]
    timing = timing[:timing.index("</table>")]
    assert "engine overhead" in timing and "explain" in timing and "Blind" in timing
    assert "20 %" in timing and "50 %" in timing  # (0.5 - 0.4) / 0.5 and (0.2 - 0.1) / 0.2


def test_self_contained(pages):
    for page in pages:
        srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert srcs
        assert all(s.startswith("data:image/png;base64,") or s.startswith("#") for s in srcs), \
            [s[:40] for s in srcs if not (s.startswith("data:") or s.startswith("#"))]
        assert "<script" not in page.lower()
        assert "http://" not in page and "https://" not in page


def test_markup_in_data_is_escaped(pages):
    full, _ = pages
    assert MARKUP_GROUP not in full and MARKUP_METHOD not in full
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in full
    assert "Good&lt;img src=x onerror=alert(1)&gt;" in full
    assert "fake &lt;run&gt;" in full  # the config's name


def test_public_version_has_no_patient_images(pages):
    full, public = pages
    assert 'id="fig-cases-cnn"' in full and "fig-cases" not in public
    assert "no patient images" in public
    assert public.count("data:image/png") < full.count("data:image/png")
    assert 'id="fig-border-cnn"' in public  # aggregate figures stay


def test_findings_and_cards_rendered(pages):
    full, _ = pages
    assert full.count('class="finding ') >= 5
    assert "Sensitivity is" in full
    assert "Integrated" not in full or "Gradients integrated along a straight path" in full
    assert "n_steps = 8" in full
    assert "abc123" in full and "def456" in full  # provenance: dataset and weights hashes
    n = full.count('class="finding ')
    flags = full.count('class="finding flag"')
    assert f"<strong>In short:</strong> {n} findings:" in full
    assert f'<span class="badge flag">attention</span> {flags} ·' in full


def test_title_and_code_revision():
    from fastxai.report.builder import _code_revision, _title
    from fastxai.report.data import load_run

    data = load_run(FakeRun())
    assert _title(data) == "fake <run>"
    data.config = {"dataset": {"name": "nih-subset"}}
    assert _title(data) == "Benchmark report: nih-subset"
    rev = _code_revision()  # a git checkout in the repo, None in an installed copy
    assert rev is None or len(rev.split()[0]) == 12


def test_out_required_without_run_dir():
    with pytest.raises(ValueError, match="out="):
        build_report(FakeRun(), settings=SMALL)
