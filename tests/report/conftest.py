"""Reports built once per session from the in-memory fake run (tests/report/fake_run.py)."""
import pytest

from fastxai.report.findings import FindingSettings
from tests.report.fake_run import FakeRun

SMALL = FindingSettings(n_boot=60, min_group_size=20)


@pytest.fixture(scope="session")
def markup_report(tmp_path_factory):
    """Path of the full report of a fake run whose group labels, method and file names hold markup."""
    from fastxai.report.builder import build_report

    return build_report(FakeRun(markup=True), tmp_path_factory.mktemp("report") / "full.html", settings=SMALL)


@pytest.fixture(scope="session")
def public_report(tmp_path_factory):
    """The same run's shareable report (no patient images)."""
    from fastxai.report.builder import build_report

    return build_report(FakeRun(markup=True), tmp_path_factory.mktemp("report") / "public.html",
                        include_images=False, settings=SMALL)
