"""Too much, or the wrong thing, sent at once: a clear answer and nothing saved."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from analysis.interview_models import CodedSegment, Transcript
from instruments.models import Instrument
from participants.models import ConsentRecord
from tests.analysis.test_interviews import word_file
from tests.fuzzing import changed_since, fingerprint
from tests.participants.journeys import consent_post
from tests.studyportal import test_access_matrix as matrix
from tests.studyportal.test_access_matrix import client_as, url_for

world = matrix.world

MB = 1024 * 1024
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def post(world, db, settings, tmp_path):
    """Post as ``role`` to the URL ``name``; the page, and whether anything changed."""
    # A scan wrongly accepted is written here, not among the demo's files.
    settings.MEDIA_ROOT = tmp_path

    def send(role: str, name: str, data, **extra):
        client = client_as(world, role)
        before = fingerprint()
        response = client.post(url_for(world, name, role), data, **extra)
        return response, changed_since(before)

    return send


def page_of(response) -> str:
    return response.content.decode()


# ---------------------------------------------------------------------------
# The request as a whole


def test_the_projects_urls_name_the_400_handler():
    from studyportal import urls, views

    assert urls.handler400 is views.bad_request


def test_a_form_larger_than_the_limit_gets_the_413_page(post):
    text = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response, changed = post("coordinator", "worklist:lost", {"reason": text})
    assert response.status_code == 413
    page = page_of(response)
    assert "larger than 5 MB" in page
    assert "Nothing was saved" in page
    assert "Go back" in page
    assert not changed


def test_an_urlencoded_body_larger_than_the_limit_gets_the_413_page(post):
    body = urlencode({"reason": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response, changed = post(
        "coordinator",
        "worklist:lost",
        body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "Nothing was saved" in page_of(response)
    assert not changed


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2 * MB)
def test_the_413_page_states_the_limit_in_force(post):
    response, _ = post("coordinator", "worklist:lost", {"reason": "x" * (3 * MB)})
    assert response.status_code == 413
    assert "larger than 2 MB" in page_of(response)


def test_an_upload_larger_than_any_request_may_be_is_refused_unread(post, settings):
    settings.MAX_REQUEST_BYTES = 4096
    scan = SimpleUploadedFile("scan.pdf", PDF + b"0" * 8192, "application/pdf")
    response, changed = post(
        "coordinator", "worklist:lost", {"reason": "moved", "scan": scan}
    )
    assert response.status_code == 413
    assert "Nothing was saved" in page_of(response)
    assert not changed


def test_the_request_limit_is_stated_in_megabytes(rf, settings, db):
    from studyportal.views import too_large

    settings.MAX_REQUEST_BYTES = 12 * MB
    page = too_large(rf.post("/"), limit=settings.MAX_REQUEST_BYTES)
    assert "larger than 12 MB" in page.content.decode()


def test_a_request_within_the_limit_is_let_through(post, settings):
    settings.MAX_REQUEST_BYTES = 64 * 1024
    response, _ = post("coordinator", "worklist:lost", {"reason": ""})
    assert response.status_code != 413


def test_too_many_fields_get_a_400_that_says_so(post):
    count = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    fields = {f"field_{n}": "1" for n in range(count)}
    response, changed = post("coordinator", "worklist:lost", fields)
    assert response.status_code == 400
    page = page_of(response)
    assert "Too many fields" in page
    assert f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields" in page
    assert "Nothing was saved" in page
    assert not changed


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=1)
def test_too_many_files_get_a_400_that_says_so(post):
    files = [SimpleUploadedFile(f"t{n}.txt", b"text") for n in range(2)]
    response, changed = post("qualitative", "interviews:transcript", {"file": files})
    assert response.status_code == 400
    page = page_of(response)
    assert "Too many files" in page
    assert "Nothing was saved" in page
    assert not changed


def test_a_request_django_cannot_read_gets_a_plain_400(client, db):
    response = client.get("/", headers={"host": "not a host name"})
    assert response.status_code == 400
    assert "could not be read" in page_of(response)


def test_error_pages_have_no_inline_script_or_style(post):
    response, _ = post(
        "coordinator",
        "worklist:lost",
        {"reason": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)},
    )
    page = page_of(response)
    assert "style=" not in page
    assert "<script>" not in page


# ---------------------------------------------------------------------------
# A REDCap data dictionary


def dictionary(name: str, content: bytes) -> dict:
    return {"file": SimpleUploadedFile(name, content, "text/csv"), "slug": ""}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.csv", b"a," * MB + b"\n", "larger than 2 MB"),
        ("dictionary.xlsx", b"PK\x03\x04", "Choose the CSV file REDCap exports"),
        ("latin1.csv", "Café".encode("latin-1"), "not UTF-8 text"),
        # Regression: NUL reached the database, which refuses it (a 500 on PostgreSQL).
        ("binary.csv", b"record_id,form\x00\n", "holds binary data"),
    ],
)
def test_a_wrong_data_dictionary_is_refused_with_a_reason(post, name, content, message):
    before = Instrument.objects.count()
    response, changed = post("admin", "instruments:import", dictionary(name, content))
    assert response.status_code == 200
    assert message in page_of(response)
    assert Instrument.objects.count() == before
    assert not changed


# ---------------------------------------------------------------------------
# An interview transcript


@pytest.fixture
def uncoded(world, db):
    """The world's transcript, with its coding removed so that it may be replaced."""
    CodedSegment.objects.all().delete()
    return Transcript.objects.get()


def transcript(upload: SimpleUploadedFile) -> dict:
    return {"file": upload, "other_names": ""}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("long.txt", b"words " * (MB // 2), "a transcript file may be at most 2 MB"),
        ("interview.pdf", PDF, "is not a .txt or .docx file"),
        ("fake.docx", b"just text", "could not be read as a Word document"),
        ("latin1.txt", "Café".encode("latin-1"), "is not UTF-8 text"),
        # Regression: NUL reached the database, which refuses it (a 500 on PostgreSQL).
        ("binary.txt", b"Interviewer\x00: hello", "holds binary data"),
    ],
)
def test_a_wrong_transcript_file_is_refused_with_a_reason(
    post, uncoded, name, content, message
):
    response, changed = post(
        "qualitative",
        "interviews:transcript",
        transcript(SimpleUploadedFile(name, content)),
    )
    assert response.status_code == 200
    assert message in page_of(response)
    assert Transcript.objects.get().text == uncoded.text
    assert not changed


def test_a_word_transcript_is_read_and_stored(post, uncoded):
    response, _ = post(
        "qualitative",
        "interviews:transcript",
        transcript(word_file("Interviewer: how was the clinic?")),
    )
    assert response.status_code == 302
    assert Transcript.objects.get().text == "Interviewer: how was the clinic?"


# ---------------------------------------------------------------------------
# A scanned consent form


def consent_with(name: str, content: bytes) -> dict:
    return {**consent_post(), "scanned_form": SimpleUploadedFile(name, content)}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scan.pdf", PDF + b"0" * (10 * MB), "larger than 10 MB"),
        ("scan.docx", b"PK\x03\x04", "Upload a PDF, PNG or JPEG file"),
        ("scan.pdf", b"<html><script>alert(1)</script>", "is not the PDF file"),
        ("scan.png", PDF, "is not the PNG file its name says"),
    ],
)
def test_a_wrong_consent_scan_is_refused_and_consent_not_recorded(
    post, name, content, message
):
    response, changed = post(
        "staff_a", "participants:consent", consent_with(name, content)
    )
    assert response.status_code == 200
    assert message in page_of(response)
    assert not ConsentRecord.objects.filter(scanned_form__contains="scan").exists()
    assert not changed


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("scan.pdf", PDF),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32),
        ("scan.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 32),
    ],
)
def test_a_real_scan_is_accepted(post, name, content):
    response, _ = post("staff_a", "participants:consent", consent_with(name, content))
    assert response.status_code == 302
    assert ConsentRecord.objects.filter(scanned_form__startswith="consent/").exists()
