"""Markup in an imported definition is never live on a page that shows it.

A REDCap data dictionary is imported by an admin, and its wording reaches
patients' pages, staff data entry and the staff pages about questionnaires.
Every text a dictionary carries is written with a script, an image that runs
code when it fails to load, a ``javascript:`` link and an inline style, beside
bold text that REDCap labels often use. Each page is parsed as a browser would:
no element or attribute from the dictionary may be live there, and the bold
text stays bold where the wording is shown with its formatting.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from instruments import redcap
from instruments.redcap import COLUMNS, FORM, LABEL, TYPE, VARIABLE
from tests.studyportal import test_access_matrix as matrix
from tests.studyportal.test_access_matrix import body_of, client_as, url_for
from tests.studyportal.test_escaping import live_markup, post_ok

world = matrix.world

SLUG = "markup_check"
SCRIPT = '<script>alert("x")</script>'
IMAGE = "<img src=x onerror=alert(1)>"
LINK = '<a href="javascript:alert(2)">here</a>'
STYLED = '<span style="color:red">red</span>'


def marked(words: str) -> str:
    """``words`` in bold, with every kind of live markup around them."""
    return f"<b>{words}</b> {SCRIPT} {IMAGE} {LINK} {STYLED}"


def dictionary_row(name: str, kind: str, label: str, **columns: str) -> list[str]:
    """One row of the dictionary; ``columns`` by their names in ``redcap``."""
    cells = dict.fromkeys(COLUMNS, "")
    cells.update({VARIABLE: name, FORM: SLUG, TYPE: kind, LABEL: label})
    cells.update({getattr(redcap, column): value for column, value in columns.items()})
    return [cells[column] for column in COLUMNS]


def choices(*words: str) -> str:
    # A choice label cannot hold "|" or a leading "code,": the markup above has none.
    return " | ".join(f"{code}, {marked(word)}" for code, word in enumerate(words, 1))


INSTRUMENT = {
    "title": f"Marked up {SCRIPT} {IMAGE}",
    "description": marked("Described"),
    "minutes": 2,
}
SCORE = {"method": "sum", "items": ["q_radio", "q_grid_a"]}
ROWS = [
    dictionary_row(
        "q_radio",
        "radio",
        marked("Radio question"),
        SECTION=marked("First section"),
        CHOICES=choices("Often", "Never"),
        NOTE=marked("Radio note"),
        REQUIRED="y",
        ANNOTATION="@SP-INSTRUMENT=" + json.dumps(INSTRUMENT),
    ),
    dictionary_row("q_text", "text", marked("Text question"), NOTE=marked("Text note")),
    dictionary_row(
        "q_drop",
        "dropdown",
        marked("Dropdown question"),
        CHOICES=choices("Left", "Right"),
        NOTE=marked("Dropdown note"),
    ),
    dictionary_row(
        "q_slider",
        "slider",
        marked("Slider question"),
        SECTION=marked("Second section"),
        CHOICES=" | ".join(marked(word) for word in ("Nothing", "Middling", "Worst")),
        NOTE=marked("Slider note"),
        MIN="0",
        MAX="10",
    ),
    dictionary_row("q_info", "descriptive", marked("Descriptive text")),
    dictionary_row(
        "q_ticks",
        "checkbox",
        marked("Checkbox question"),
        CHOICES=choices("Walking", "Resting"),
        NOTE=marked("Checkbox note"),
    ),
    dictionary_row(
        "q_grid_a",
        "radio",
        marked("Grid row"),
        CHOICES=choices("Agree", "Disagree"),
        MATRIX="grid",
    ),
    dictionary_row(
        "q_grid_b",
        "radio",
        marked("Grid row"),
        CHOICES=choices("Agree", "Disagree"),
        MATRIX="grid",
    ),
    dictionary_row(
        "q_total",
        "calc",
        marked("Total score"),
        CHOICES="sum([q_radio], [q_grid_a])",
        ANNOTATION="@SP-SCORE=" + json.dumps(SCORE),
    ),
]
ANSWERS = {"q_radio": "1", "q_text": "walked", "q_drop": "2", "q_slider": "4"}
ANSWERS |= {"q_ticks": ["1"], "q_grid_a": "1", "q_grid_b": "2"}


def assert_nothing_live(response, where: str, *, shown: tuple[str, ...] = ()) -> str:
    assert response.status_code == 200, f"{where}: {response.status_code}"
    body = body_of(response)
    assert not live_markup(body), f"{where} runs {live_markup(body)}"
    for words in shown:
        assert words in body, f"{where} does not show {words!r}"
    return body


@pytest.fixture(autouse=True)
def clear_rate_limits():
    # Other modules guess tokens from the same address; the limit has its own tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def imported(world, db):
    """The dictionary imported by the admin, and asked for at the open visit."""
    from instruments.models import Instrument
    from participants.models import Participant, TimepointInstrument

    buffer = io.StringIO()
    csv.writer(buffer).writerows([COLUMNS, *ROWS])
    upload = SimpleUploadedFile("marked.csv", buffer.getvalue().encode())
    post_ok(world, "admin", "instruments:import", {"file": upload, "slug": ""})
    instrument = Instrument.objects.get(slug=SLUG)
    participant = Participant.objects.get(pk=world.kwargs["participants:detail"]["pk"])
    visit = participant.visits.get(status="open")
    TimepointInstrument.objects.create(
        timepoint=visit.timepoint, instrument=instrument, order=99
    )
    return {"participant": participant, "visit": visit, "instrument": instrument}


def test_m3_a_dictionarys_markup_is_never_live_on_patients_pages(world, imported):
    from instruments import questionnaire

    patient = client_as(world, "participant")
    token = world.token
    welcome = patient.get(reverse("questionnaire:start", args=[token]))
    assert_nothing_live(welcome, "the welcome page")
    pages = questionnaire.pages_for(imported["visit"])
    for page in pages:
        url = reverse("questionnaire:page", args=[token, page.number])
        assert_nothing_live(patient.get(url), f"page {page.number}")
    ours = [page for page in pages if page.instrument.slug == SLUG]
    assert ours, "the imported questionnaire is not asked for"
    url = reverse("questionnaire:page", args=[token, ours[0].number])
    body = assert_nothing_live(
        patient.get(url),
        "the imported questionnaire's page",
        shown=("<b>Radio question</b>", "<b>Text note</b>", "<b>Often</b>"),
    )
    for words in ("First section", "Descriptive text", "Nothing", "Agree"):
        assert f"<b>{words}</b>" in body, f"{words!r} lost its formatting"
    # A required question left out: the error summary names it, as text.
    unanswered = {k: v for k, v in ANSWERS.items() if k != "q_radio"}
    errors = patient.post(url, {**unanswered, "go": "next"})
    assert_nothing_live(errors, "the page with an error", shown=("Radio question",))
    assert "problem with your answers" in body_of(errors)
    patient.post(url, {**ANSWERS, "go": "next"})
    review = patient.get(reverse("questionnaire:review", args=[token]))
    assert_nothing_live(
        review,
        "the review page",
        shown=("Radio question", "Often", "Walking", "Right", "Disagree"),
    )


def test_m3_a_dictionarys_markup_is_never_live_on_staff_pages(world, imported):
    from instruments.models import Response

    instrument = imported["instrument"]
    version = instrument.latest_version()
    staff = client_as(world, "staff_a")
    preview = reverse("instruments:preview", args=[SLUG, version.number])
    assert_nothing_live(
        staff.get(preview),
        "the preview",
        shown=("<b>Slider note</b>", "<b>Dropdown question</b>"),
    )
    checked = staff.post(preview, ANSWERS)
    assert checked.context["scores"] is not None, checked.context["form"].errors
    assert_nothing_live(checked, "the checked preview", shown=("Total score",))
    for url in (
        reverse("instruments:list"),
        reverse("instruments:detail", args=[SLUG]),
    ):
        assert_nothing_live(staff.get(url), url, shown=("Marked up",))

    visit = imported["visit"]
    entry = reverse(
        "participants:paper_entry",
        kwargs={"pk": imported["participant"].pk, "visit_pk": visit.pk, "slug": SLUG},
    )
    assert_nothing_live(
        staff.get(entry), "paper entry", shown=("<b>Checkbox question</b>",)
    )
    saved = staff.post(entry, ANSWERS)
    assert saved.status_code == 302, saved.context["form"].errors
    assert Response.objects.filter(visit=visit, instrument=instrument).exists()
    for role in ("staff_a", "coordinator"):
        page = client_as(world, role).get(url_for(world, "participants:detail", role))
        assert_nothing_live(page, f"the participant's page as {role}")
    assert_nothing_live(
        staff.get(entry), "paper entry with answers", shown=("<b>Walking</b>",)
    )
