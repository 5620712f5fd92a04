"""The scanned paper consent form: opened only through an access-checked,
logged download, never at a URL of its own."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from participants import consent
from participants.models import ConsentMethod, ContactView
from studyportal import settings as project_settings
from tests.factories import coordinator, investigator, qualitative
from tests.participants import journeys

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def participant(site_a, staff_a):
    return journeys.enrol(site_a, staff_a)


def scan(participant, user, name="signed.pdf", content=PDF):
    """A paper re-consent of ``participant`` with its scan."""
    return consent.record_consent(
        screening=participant.screening,
        participant=participant,
        form=consent.current_form(participant.study),
        method=ConsentMethod.PAPER,
        agreed=journeys.agreement(),
        consented_on=participant.enrolled_on,
        taken_by=user,
        today=participant.enrolled_on,
        scanned_form=SimpleUploadedFile(name, content),
    )


def scan_url(record):
    return reverse("participants:consent_scan", args=[record.participant_id, record.pk])


def opened_by(user, url):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("who", ["staff of the site", "coordinator", "admin"])
def test_i4_staff_of_the_site_and_coordinators_download_the_scan(
    participant, staff_a, protocol, who
):
    record = scan(participant, staff_a)
    user = {
        "staff of the site": staff_a,
        "coordinator": coordinator(protocol),
        "admin": get_user_model().objects.create_superuser("root", "", "pw"),
    }[who]
    response = opened_by(user, scan_url(record))
    assert response.status_code == 200
    assert body(response) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{participant.code}-consent-{record.pk}.pdf"'
    )
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_i4_each_opening_is_logged_and_shown_in_the_history(
    participant, staff_a, protocol
):
    record = scan(participant, staff_a)
    opened_by(staff_a, scan_url(record))
    opened_by(staff_a, scan_url(record))
    views = ContactView.objects.filter(consent=record)
    assert [(v.viewed_by, v.participant) for v in views] == [(staff_a, participant)] * 2
    history = opened_by(
        coordinator(protocol), reverse("participants:history", args=[participant.pk])
    ).content.decode()
    assert f"{staff_a} opened the signed form of {record}" in history


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("staff of another site", 404),
        ("investigator", 403),
        ("qualitative researcher", 403),
        ("anonymous", 302),
    ],
)
def test_i4_nobody_else_opens_the_scan_and_nothing_is_logged(
    participant, staff_a, staff_b, protocol, who, status
):
    record = scan(participant, staff_a)
    user = {
        "staff of another site": staff_b,
        "investigator": investigator(protocol),
        "qualitative researcher": qualitative(protocol),
        "anonymous": None,
    }[who]
    response = opened_by(user, scan_url(record))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    assert not getattr(response, "streaming", False)
    assert not ContactView.objects.exists()


def test_i4_the_content_type_comes_from_the_content_not_the_name(participant, staff_a):
    record = scan(participant, staff_a, name="signed.pdf", content=PNG)
    response = opened_by(staff_a, scan_url(record))
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].endswith('.png"')


def test_i4_a_scan_that_is_no_accepted_kind_is_not_served(participant, staff_a):
    record = scan(participant, staff_a, name="signed.pdf", content=b"<html>")
    assert opened_by(staff_a, scan_url(record)).status_code == 404
    assert not ContactView.objects.exists()


def test_i4_a_consent_without_a_scan_has_nothing_to_open(participant, staff_a):
    record = participant.latest_consent()
    assert not record.scanned_form
    assert opened_by(staff_a, scan_url(record)).status_code == 404


def test_i4_another_participants_consent_is_not_found_through_this_one(
    participant, site_a, staff_a
):
    other = journeys.enrol(
        site_a, staff_a, details=journeys.contact("Bo Other", email="bo@example.com")
    )
    record = scan(other, staff_a)
    url = reverse("participants:consent_scan", args=[participant.pk, record.pk])
    assert opened_by(staff_a, url).status_code == 404


def test_i4_the_participant_page_links_to_the_signed_form(participant, staff_a):
    record = scan(participant, staff_a)
    page = opened_by(staff_a, participant.get_absolute_url()).content.decode()
    assert "Open the signed form (PDF)" in page
    assert f'href="{scan_url(record)}"' in page


def test_i4_media_files_are_never_served_directly(participant, staff_a, media_root):
    record = scan(participant, staff_a)
    stored = record.scanned_form.name
    assert (media_root / stored).exists()
    for url in (
        f"/{stored}",
        f"/media/{stored}",
        f"/{settings.STATIC_URL.strip('/')}/{stored}",
        f"/{settings.STATIC_URL.strip('/')}/../media/{stored}",
    ):
        response = opened_by(staff_a, url)
        assert response.status_code == 404, url
    # No URL pattern hands out files from a folder, and whitenoise serves only
    # the static folders, none of which holds the media or lies within it.
    assert "django.views.static.serve" not in set(views_of(get_resolver()))
    assert not getattr(project_settings, "WHITENOISE_ROOT", None)
    media = Path(project_settings.MEDIA_ROOT).resolve()
    for folder in (project_settings.STATIC_ROOT, *project_settings.STATICFILES_DIRS):
        folder = Path(folder).resolve()
        assert not media.is_relative_to(folder)
        assert not folder.is_relative_to(media)


def views_of(resolver: URLResolver):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from views_of(entry)
        else:
            yield f"{entry.callback.__module__}.{entry.callback.__name__}"
