"""An investigator downloads the SPSS file and its codebook, built by a worker."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pyreadstat
import pytest
from playwright.sync_api import expect

from analysis.models import Download, DownloadStatus
from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def export_root(settings, tmp_path, monkeypatch):
    # The worker process builds the file where this process serves it from.
    monkeypatch.setenv("STUDYPORTAL_VAR_DIR", str(tmp_path))
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


def test_download_the_spss_file_and_its_codebook(
    page, export_root, demo_data, analysis_worker
):
    log_in(page, "investigator", demo.DEMO_PASSWORD)
    page.get_by_role("link", name="Downloads").click()
    page.get_by_role("heading", name="Data downloads").wait_for()
    assert_accessible(page)

    page.get_by_label("SPSS (.sav)").check()
    page.get_by_label("Give age in ten-year bands instead of years").check()
    understood = page.get_by_label("I have read the warning about small groups")
    if understood.count():
        understood.check()
    page.get_by_role("button", name="Download").click()

    try:
        # The page refreshes itself until the file is there to take.
        ready = page.get_by_role("link", name=re.compile(r"^Download .+\.sav$"))
        expect(ready).to_be_visible(timeout=90_000)
    except AssertionError:
        pytest.fail(f"no file; the worker said:\n{analysis_worker.output()}")
    assert_accessible(page)
    download = Download.objects.get()
    assert download.status == DownloadStatus.READY
    expect(page.get_by_text(download.sha256)).to_be_visible()

    with page.expect_download() as saved:
        page.get_by_role("link", name=f"Download {download.file_name}").click()
    assert saved.value.suggested_filename == download.file_name
    body = Path(saved.value.path()).read_bytes()
    assert hashlib.sha256(body).hexdigest() == download.sha256
    frame, meta = pyreadstat.read_sav(saved.value.path())
    assert len(frame) == demo_data.participants.count()
    assert meta.variable_value_labels

    page.get_by_role("link", name="Codebook").click()
    expect(page.get_by_text("baseline_selfmgmt_total").first).to_be_visible()
    assert_accessible(page)
