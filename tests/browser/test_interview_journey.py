"""From sample to joint display: a coordinator samples and logs an interview, a
qualitative researcher pastes the transcript, codes a passage selected with the
mouse and sees the participant's theme ticked in the joint display."""

import re

import pytest
from playwright.sync_api import expect

from analysis.interview_models import CodedSegment, Interview, Transcript
from analysis.runs import pseudonym
from studyportal import demo
from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser

PASSAGE = "We sat down and agreed a plan together that fitted my shifts."
TRANSCRIPT = (
    "Interviewer: How did you get on with the staff at the clinic?\n"
    f"Participant: They were kind. {PASSAGE} The pain is still there some days.\n"
    "Interviewer: Thank you."
)
THEME = "Being supported through partnerships"
CODE = "Deciding together"


def select_with_the_mouse(page, text: str) -> None:
    """Drag the mouse from the first to the last character of ``text``."""
    box = page.evaluate(
        """(wanted) => {
            const container = document.querySelector("[data-transcript-text]");
            const node = [...container.childNodes].find(
                (n) => n.nodeType === Node.TEXT_NODE && n.data.includes(wanted));
            const at = node.data.indexOf(wanted);
            const rect = (from) => {
                const range = document.createRange();
                range.setStart(node, from);
                range.setEnd(node, from + 1);
                return range.getBoundingClientRect();
            };
            const first = rect(at), last = rect(at + wanted.length - 1);
            return {
                x0: first.left + 1, y0: (first.top + first.bottom) / 2,
                x1: last.right - 1, y1: (last.top + last.bottom) / 2,
            };
        }""",
        text,
    )
    page.mouse.move(box["x0"], box["y0"])
    page.mouse.down()
    page.mouse.move((box["x0"] + box["x1"]) / 2, box["y1"], steps=5)
    page.mouse.move(box["x1"], box["y1"], steps=5)
    page.mouse.up()


def test_sample_interview_transcribe_code_and_see_the_joint_display(page, demo_data):
    # A coordinator proposes a sample, accepts it and logs an interview as done.
    log_in(page, "coordinator", demo.DEMO_PASSWORD)
    page.goto("/interviews/samples/")
    page.get_by_role("heading", name="Choose who to interview").wait_for()
    assert_accessible(page)
    page.get_by_label("How many to interview").fill("6")
    page.get_by_label("Random seed").fill("2018")
    page.get_by_role("button", name="Propose a sample").click()
    page.get_by_role("heading", name=re.compile(r"Interview sample \d+")).wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Accept the sample").click()
    expect(page.get_by_text("Sample accepted")).to_be_visible()
    assert_accessible(page)

    page.locator("table a[href^='/interviews/']").first.click()
    page.get_by_role("heading", name=re.compile("Interview with")).wait_for()
    interview = Interview.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    page.get_by_label("Done").check()
    page.get_by_label("Phone").check()
    page.get_by_label("Duration (minutes)").fill("40")
    page.get_by_role("button", name="Save the log").click()
    expect(page.get_by_text("Interview log updated.")).to_be_visible()
    assert_accessible(page)
    page.context.clear_cookies()

    # A qualitative researcher pastes the transcript.
    log_in(page, "qualitative", demo.DEMO_PASSWORD)
    page.goto(interview.get_absolute_url())
    page.get_by_label("Or paste the text").fill(TRANSCRIPT)
    page.get_by_role("button", name="Save the transcript").click()
    expect(page.locator(".alert-success")).to_contain_text("Transcript saved")
    transcript = Transcript.objects.get(interview=interview)

    # ...adds a theme and a code to the codebook...
    page.get_by_role("link", name="Coding").click()
    page.get_by_role("heading", name="Transcripts").wait_for()
    page.get_by_role("link", name="Codebook", exact=True).click()
    page.get_by_label("Theme name").fill(THEME)
    page.get_by_role("button", name="Add theme").click()
    expect(page.get_by_text(f"Theme “{THEME}” added.")).to_be_visible()
    page.get_by_label("Code name").fill(CODE)
    page.get_by_label("Definition").fill("Plans were agreed with a professional.")
    page.get_by_role("button", name="Add code").click()
    expect(page.get_by_text(f"Code “{CODE}” added")).to_be_visible()
    assert_accessible(page)

    # ...selects a passage with the mouse and codes it.
    page.get_by_role("link", name="Transcripts").click()
    label = pseudonym(interview.participant.code)
    page.get_by_role("link", name=f"Transcript of {label}").click()
    page.locator("[data-transcript-text][data-ready]").wait_for()
    assert_accessible(page)
    select_with_the_mouse(page, PASSAGE)
    expect(page.locator("#selected-passage")).to_have_text(PASSAGE)
    start = transcript.text.index(PASSAGE)
    expect(page.get_by_label("From character")).to_have_value(str(start))
    expect(page.get_by_label("To character")).to_have_value(str(start + len(PASSAGE)))
    page.get_by_label(CODE).check()
    page.get_by_role("button", name="Code this passage").click()
    expect(page.get_by_text("Passage coded.")).to_be_visible()
    expect(page.locator("[data-transcript-text] mark")).to_have_text(PASSAGE)
    segment = CodedSegment.objects.get(transcript=transcript)
    assert segment.passage == PASSAGE
    assert [code.name for code in segment.codes.all()] == [CODE]
    assert_accessible(page)

    # The joint display ticks the theme for this participant.
    section = page.get_by_role("navigation", name="Qualitative analysis")
    section.get_by_role("link", name="Joint display").click()
    page.get_by_role("heading", name="Joint display").wait_for()
    row = page.locator("tr", has=page.get_by_role("rowheader", name=label))
    expect(row.locator(".theme-tick")).to_have_count(1)
    assert interview.participant.code not in page.content()
    assert_accessible(page)
