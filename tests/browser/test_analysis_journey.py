"""An investigator runs the reference analysis on a real worker and downloads it."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from analysis.models import AnalysisRun, RunStatus
from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_start_watch_and_download_the_reference_analysis(
    page, demo_data, analysis_worker
):
    log_in(page, "investigator", demo.DEMO_PASSWORD)
    page.get_by_role("link", name="Analysis").click()
    page.get_by_role("heading", name="Analysis", level=1).wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Start analysis").click()

    expect(page.get_by_role("heading", name="Progress")).to_be_visible()
    try:
        # The page refreshes itself until the run is done.
        expect(page.get_by_role("heading", name="Tables")).to_be_visible(timeout=90_000)
    except AssertionError:
        pytest.fail(f"no tables; the worker said:\n{analysis_worker.output()}")
    run = AnalysisRun.objects.get()
    assert run.status == RunStatus.DONE
    assert run.provenance["rows"] == demo_data.participants.count()
    expect(page.get_by_text("Block 3: Partnership").first).to_be_visible()
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    assert_accessible(page)
    if os.environ.get("ANALYSIS_SCREENSHOT"):
        page.screenshot(path=os.environ["ANALYSIS_SCREENSHOT"], full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download tables (CSV)").click()
    assert download.value.suggested_filename.endswith("-tables.csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0][:3] == ["model", "block", "term"]
    assert {row[0] for row in rows[1:]} <= {model["name"] for model in run.results}
    assert len(rows) > 10


def test_build_a_custom_analysis_and_read_its_labelled_table(
    page, demo_data, analysis_worker
):
    log_in(page, "investigator", demo.DEMO_PASSWORD)
    page.get_by_role("link", name="Analysis").click()
    page.get_by_role("link", name="build an analysis").click()
    page.get_by_role("heading", name="Build an analysis").wait_for()
    assert_accessible(page)

    # Nothing chosen: the page says what is missing and starts nothing.
    page.get_by_label("Name of this analysis").fill("Partnership and total")
    page.get_by_role("button", name="Start analysis").click()
    expect(
        page.get_by_text("Choose at least one variable as the outcome.")
    ).to_be_visible()
    expect(page.get_by_label("Name of this analysis")).to_have_value(
        "Partnership and total"
    )
    assert not AnalysisRun.objects.exists()

    def part(name: str, value: str) -> None:
        page.locator(f"select[name=role_{name}]").select_option(value)

    part("baseline_selfmgmt_total", "outcome")
    part("age", "block_1")
    part("sex", "block_1")
    page.locator("select[name=reference_sex]").select_option("Male")
    part("baseline_pain_severity", "block_2")
    part("baseline_partnership_clinician", "block_3")
    part("baseline_partnership_confidence", "block_3")
    page.get_by_role("button", name="Start analysis").click()

    try:
        expect(page.get_by_role("heading", name="Tables")).to_be_visible(timeout=90_000)
    except AssertionError:
        pytest.fail(f"no tables; the worker said:\n{analysis_worker.output()}")
    expect(
        page.get_by_role("heading", name="Partnership and total", level=1)
    ).to_be_visible()
    table = page.get_by_role("region", name="Table 1: baseline_selfmgmt_total")
    expect(table.get_by_text("Sex: Female").first).to_be_visible()
    expect(
        table.get_by_text("Working with your clinician: Working together").first
    ).to_be_visible()
    run = AnalysisRun.objects.get()
    assert (run.preset, run.status) == ("custom", RunStatus.DONE)
    assert_accessible(page)

    # Change it: the form comes back with the run's choices.
    page.get_by_role("link", name="Change the specification").click()
    expect(
        page.locator("select[name=role_baseline_partnership_clinician]")
    ).to_have_value("block_3")
    expect(page.locator("select[name=reference_sex]")).to_have_value("Male")
