"""Markup typed into any free-text field is shown as text, and exported as data.

Every value below is typed through the portal's own forms (study and site names,
and a model's name, are stored as the admin and an analysis run store them), then
every page that shows it is read as the role that reads it, the Django admin
included: the escaped text must be there and the raw tags never. Spreadsheet
exports start no cell with a formula character, and HTML exports escape too.
A questionnaire's wording may keep harmless formatting, so there the check is
that nothing in it is live (``live_markup``).
"""

from __future__ import annotations

import csv
import html
import io
from html.parser import HTMLParser

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests.participants.journeys import consent_post
from tests.studyportal import test_access_matrix as matrix
from tests.studyportal.test_access_matrix import body_of, client_as, url_for
from tests.studyportal.test_fuzz_forms import DICTIONARY

world = matrix.world

TAG = '<script>alert("x")</script>'
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
RAW = (TAG, "<img src=x onerror")
# Escaped by Django's templates; matplotlib's SVG text leaves quotes as they are.
ESCAPED = ("&lt;script&gt;alert(", "&lt;img src=x onerror=alert(1)&gt;")
FORMULA_STARTS = ("=", "+", "-", "@")


def typed(label: str, start: str = "") -> str:
    return f"{start}{label} {TAG} {ATTRIBUTE}"


def post_ok(world, role: str, name: str, data: dict) -> None:
    response = client_as(world, role).post(url_for(world, name, role), data)
    errors = response.context and [
        form.errors
        for key in ("form", "contact_form")
        if (form := response.context.get(key))
    ]
    assert response.status_code == 302, f"{name} refused {data}: {errors}"


@pytest.fixture(scope="module")
def entered(world, django_db_blocker):
    """Markup typed into every free-text field the world's people can type into."""
    from analysis.interview_models import Code, CodedSegment, Theme
    from analysis.models import AnalysisRun
    from instruments.models import Response
    from participants.models import Participant, Site, Study

    today = timezone.localdate().isoformat()
    with django_db_blocker.unblock():
        participant = Participant.objects.get(
            pk=world.kwargs["participants:detail"]["pk"]
        )
        visit = participant.visits.get(status="open")

        # Interviews and coding, before the name changes: transcripts mask it.
        post_ok(
            world,
            "qualitative",
            "interviews:detail",
            {
                "status": "done",
                "mode": "phone",
                "duration_minutes": "30",
                "notes": typed("Interview notes"),
            },
        )
        CodedSegment.objects.all().delete()
        post_ok(
            world,
            "qualitative",
            "interviews:transcript",
            {"text": typed("Transcript: the clinic listened"), "other_names": ""},
        )
        codebook = "coding:codebook"
        post_ok(
            world,
            "qualitative",
            codebook,
            {
                "action": "theme",
                "theme-name": typed("Theme", start="-"),
                "theme-description": typed("Theme description"),
            },
        )
        theme = Theme.objects.get(name__startswith="-Theme")
        post_ok(
            world,
            "qualitative",
            codebook,
            {
                "action": "code",
                "code-theme": str(theme.pk),
                "code-name": typed("SUM(1) code", start="="),
                "code-definition": typed("Definition"),
            },
        )
        code = Code.objects.get(theme=theme)
        transcript_page = "coding:transcript"
        post_ok(
            world,
            "qualitative",
            transcript_page,
            {"action": "memo", "text": typed("Memo")},
        )
        post_ok(
            world,
            "qualitative",
            transcript_page,
            {
                "action": "code",
                "start": "0",
                "end": "20",
                "codes": [str(code.pk)],
                "memo": typed("Passage memo"),
            },
        )

        # Follow-up: a call, a withdrawal, its undoing, and a loss.
        post_ok(
            world,
            "coordinator",
            "worklist:attempt",
            {
                f"attempt-{visit.pk}-channel": "phone",
                f"attempt-{visit.pk}-outcome": "no_answer",
                f"attempt-{visit.pk}-note": typed("Call note"),
            },
        )
        post_ok(
            world,
            "staff_a",
            "participants:withdraw",
            {
                "withdrawn_on": today,
                "reason": "other",
                "detail": typed("Withdrawal detail"),
                "keep_data": "yes",
            },
        )
        post_ok(
            world,
            "coordinator",
            "participants:reactivate",
            {"reason": typed("Reactivation reason")},
        )
        post_ok(
            world,
            "coordinator",
            "worklist:lost",
            {"reason": "other", "detail": typed("SUM(1) lost", start="@")},
        )

        # Screening, consent and the staff-entered characteristics.
        site = participant.site
        criteria = {
            f"criterion_{code}": "yes"
            for code in site.study.criteria.values_list("code", flat=True)
        }
        post_ok(
            world,
            "staff_a",
            "participants:screening_new",
            {
                "site": str(site.pk),
                "screened_on": today,
                **criteria,
                "outcome": "declined",
                "decline_reason": "other",
                "decline_detail": typed("Decline detail"),
            },
        )
        post_ok(
            world,
            "staff_a",
            "participants:consent",
            consent_post(typed_name=typed("Signed")),
        )
        characteristics = Response.objects.get(
            visit__participant=participant, instrument__slug="baseline_characteristics"
        ).answers
        post_ok(
            world,
            "staff_a",
            "participants:characteristics_edit",
            {
                **{k: str(v) for k, v in characteristics.items() if k != "age"},
                "treatments": ["6"],
                "treatments_other": typed("Other treatment"),
            },
        )

        # The name last, so that the transcript above keeps its text.
        post_ok(
            world,
            "staff_a",
            "participants:contact_edit",
            {
                "full_name": typed("Morwenna"),
                "email": "morwenna.quill@example.com",
                "mobile": "",
                "preferred_channel": "email",
                "time_zone": "Europe/London",
            },
        )

        # Set-up done in the admin, and an investigator's named model.
        Study.objects.update(name=typed("Study"))
        Site.objects.filter(pk=site.pk).update(name=typed("Site", start="+"))
        for run in AnalysisRun.objects.all():
            run.results = [
                {**result, "name": typed("Model", start="=")} for result in run.results
            ]
            run.save(update_fields=["results"])
    return {"study": site.study_id, "site": site.pk}


# (role, URL name) of every page that shows something typed above.
PAGES = [
    ("staff_a", "home"),
    ("staff_a", "participants:list"),
    ("staff_a", "participants:detail"),
    ("staff_a", "participants:handover"),
    ("staff_a", "participants:contact_edit"),
    ("staff_a", "participants:characteristics_edit"),
    ("staff_a", "participants:screening_list"),
    ("coordinator", "participants:detail"),
    ("coordinator", "participants:history"),
    ("coordinator", "retention:dashboard"),
    ("coordinator", "interviews:list"),
    ("qualitative", "interviews:detail"),
    ("qualitative", "coding:list"),
    ("qualitative", "coding:transcript"),
    ("qualitative", "coding:codebook"),
    ("qualitative", "coding:joint_display"),
    ("investigator", "analysis:run_list"),
    ("investigator", "analysis:run_detail"),
    ("investigator", "analysis:downloads"),
]


class LiveMarkup(HTMLParser):
    """What a browser would run or style on a page, found as it parses it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src", "").startswith("/static/"):
            self.found.append(f"<script {attrs}>")
        if tag in ("img", "iframe", "object", "embed"):
            self.found.append(f"<{tag} {attrs}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and (
                (value or "").strip().lower().startswith("javascript:")
            ):
                self.found.append(f"<{tag} {name}={value!r}>")


def live_markup(body: str) -> list[str]:
    parser = LiveMarkup()
    parser.feed(body)
    parser.close()
    return parser.found


def assert_escaped(body: str, where: str) -> None:
    raw = [text for text in RAW if text in body]
    assert not raw, f"{where} shows {raw} as markup"
    assert all(text in body for text in ESCAPED), f"{where} lacks the typed text"


@pytest.mark.parametrize(("role", "name"), PAGES)
def test_pages_show_typed_markup_as_text(entered, world, db, role, name):
    response = client_as(world, role).get(url_for(world, name, role))
    assert response.status_code == 200
    assert_escaped(body_of(response), f"{name} as {role}")


def test_the_participants_page_shows_the_study_name_as_text(entered, world, db):
    from participants.models import Study

    # The short name is 40 characters at most: room for one of the two payloads.
    Study.objects.filter(pk=entered["study"]).update(short_name=TAG)
    url = url_for(world, "questionnaire:opt_out", "participant")
    response = client_as(world, "participant").get(url)
    body = body_of(response)
    assert TAG not in body
    assert ESCAPED[0] in body


@pytest.mark.parametrize("model", ["study", "site"])
def test_the_admin_shows_typed_markup_as_text(entered, world, db, model):
    client = client_as(world, "admin")
    pk = entered[model]
    for url in (
        reverse(f"admin:participants_{model}_changelist"),
        reverse(f"admin:participants_{model}_change", args=[pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert_escaped(body_of(response), url)


# ---------------------------------------------------------------------------
# Exports


def csv_cells(response) -> list[str]:
    text = body_of(response).lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def xlsx_cells(response) -> list:
    book = openpyxl.load_workbook(
        io.BytesIO(
            b"".join(response.streaming_content)
            if response.streaming
            else response.content
        )
    )
    return [
        cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
    ]


# The cell each export holds the typed text in, as the export should write it.
THEME_HEADER = "theme: " + typed("Theme", start="-")
MODEL_NAME = "'" + typed("Model", start="=")


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("qualitative", "coding:joint_display_csv", THEME_HEADER),
        ("investigator", "analysis:tables_csv", MODEL_NAME),
    ],
)
def test_csv_exports_keep_typed_text_as_data(entered, world, db, role, name, expected):
    response = client_as(world, role).get(url_for(world, name, role))
    assert response.status_code == 200
    cells = csv_cells(response)
    assert expected in cells
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("qualitative", "coding:joint_display_xlsx", THEME_HEADER),
        ("investigator", "analysis:tables_xlsx", MODEL_NAME),
    ],
)
def test_excel_exports_keep_typed_text_as_data(
    entered, world, db, role, name, expected
):
    response = client_as(world, role).get(url_for(world, name, role))
    assert response.status_code == 200
    cells = xlsx_cells(response)
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert expected in [cell.value for cell in cells]


def test_the_html_codebook_escapes_typed_names(entered, db):
    from analysis import codebook, exports
    from participants.models import Study

    study = Study.objects.get(pk=entered["study"])
    export = exports.prepare(study, exports.ExportRequest(fmt="zip"))
    page = codebook.codebook_html(export)
    assert_escaped(page, "the HTML codebook")
    assert not [
        cell
        for cell in csv.reader(io.StringIO(codebook.codebook_csv(export)))
        for cell in cell
        if cell.startswith(FORMULA_STARTS)
    ]


def test_imported_question_labels_are_never_live(world, db):
    from instruments.models import Instrument

    rows = list(csv.reader(io.StringIO(DICTIONARY.read_text(encoding="utf-8-sig"))))
    for row in rows[1:]:
        row[4] = typed(row[4])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    upload = SimpleUploadedFile("dictionary.csv", buffer.getvalue().encode())
    post_ok(world, "admin", "instruments:import", {"file": upload, "slug": ""})
    client = client_as(world, "admin")
    for instrument in Instrument.objects.filter(versions__source__startswith="import:"):
        version = instrument.latest_version()
        first = next(version.parsed.items()).label.removesuffix(typed(""))
        for url in (
            reverse("instruments:detail", args=[instrument.slug]),
            reverse("instruments:preview", args=[instrument.slug, version.number]),
        ):
            body = body_of(client.get(url))
            assert not live_markup(body), f"{url} runs {live_markup(body)}"
            assert first in html.unescape(body), f"{url} lacks the label {first!r}"
