"""The downloads page, the built files and the download log, role by role."""

import base64
import hashlib
import io
import re

import pandas as pd
import pyreadstat
import pytest
from django.urls import reverse
from django.utils import timezone

from analysis import downloads
from analysis.models import Download, DownloadStatus
from participants.models import ParticipantContact
from tests.factories import (
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
)

CSV_CHOICES = {
    "layout": "wide",
    "fmt": "csv",
    "items": "on",
    "scores": "on",
    "dates": "days",
    "identifier": "pseudonym",
    "small_cells_understood": "on",
}


@pytest.fixture
def study(reference_study):
    return reference_study


@pytest.fixture
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


def page_url(study) -> str:
    return reverse("analysis:downloads", args=[study.pk])


def built(study, user, **choices) -> Download:
    """A download requested through the page and built as the worker does."""
    from analysis.exports import ExportRequest

    download = downloads.request_download(
        study=study, request=ExportRequest(**choices), user=user
    )
    assert downloads.build(download.pk) is True
    download.refresh_from_db()
    return download


def test_anonymous_visitors_are_sent_to_log_in(client, study):
    for url in (
        reverse("analysis:download_index"),
        page_url(study),
        reverse("analysis:download_log"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_clinic_staff_may_not_download_or_read_the_log(client, study):
    client.force_login(clinic_staff(study.sites.first()))
    assert client.get(page_url(study)).status_code == 403
    assert client.post(page_url(study), CSV_CHOICES).status_code == 403
    assert client.get(reverse("analysis:download_log")).status_code == 403
    assert not Download.objects.exists()


def test_coordinators_read_the_log_but_do_not_download(client, study, export_root):
    other = built(study, investigator(study), fmt="dta")
    user = coordinator(study)
    client.force_login(user)
    assert client.get(page_url(study)).status_code == 403
    file_url = reverse("analysis:download_file", args=[other.pk])
    assert client.get(file_url).status_code == 403
    log = client.get(reverse("analysis:download_log")).content.decode()
    assert other.sha256 in log
    assert other.file_name in log
    dashboard = client.get(reverse("retention:dashboard")).content.decode()
    assert reverse("analysis:download_log") in dashboard


def test_a_coordinator_of_another_study_sees_none_of_its_log(
    client, study, export_root
):
    built(study, investigator(study), fmt="dta")
    client.force_login(coordinator(StudyFactory()))
    log = client.get(reverse("analysis:download_log")).content.decode()
    assert "No data have been downloaded yet." in log


def test_an_investigator_gets_their_studys_page_and_no_other(client, study):
    client.force_login(investigator(study))
    response = client.get(reverse("analysis:download_index"))
    assert response["Location"] == page_url(study)
    page = client.get(page_url(study)).content.decode()
    assert "Data downloads" in page
    assert client.get(page_url(StudyFactory())).status_code == 404
    assert client.get(reverse("analysis:download_log")).status_code == 403


def test_only_the_requester_fetches_a_built_file(client, study, export_root):
    download = built(study, investigator(study), fmt="sav")
    file_url = reverse("analysis:download_file", args=[download.pk])
    client.force_login(investigator(study))  # a colleague on the same study
    assert client.get(file_url).status_code == 404
    client.force_login(download.requested_by)
    assert client.get(file_url).status_code == 200


def test_a_streamed_csv_is_logged_with_the_hash_of_its_bytes(client, demo_study):
    user = investigator(demo_study)
    client.force_login(user)
    response = client.post(page_url(demo_study), CSV_CHOICES)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    download = Download.objects.get()
    assert download.status == DownloadStatus.READY
    assert download.requested_by == user
    assert download.sha256 == hashlib.sha256(body).hexdigest()
    assert download.size == len(body)
    frame = pd.read_csv(io.BytesIO(body))
    assert download.rows == len(frame) == demo_study.participants.count()
    assert download.file_name in response["Content-Disposition"]
    page = client.get(download.get_absolute_url()).content.decode()
    assert "went straight to your browser and is not kept" in page
    assert reverse("analysis:download_codebook", args=[download.pk]) in page


def test_an_abandoned_csv_is_logged_as_failed(demo_study):
    from analysis.exports import ExportRequest

    download = downloads.request_download(
        study=demo_study,
        request=ExportRequest(layout="items"),
        user=investigator(demo_study),
    )
    chunks = downloads.stream(download)
    next(chunks)
    chunks.close()  # the browser went away: the server closes the response

    download.refresh_from_db()
    assert download.status == DownloadStatus.FAILED
    assert "stopped the download" in download.error
    assert not download.sha256


def test_an_spss_file_is_built_then_fetched_with_its_logged_hash(
    client, demo_study, export_root, django_capture_on_commit_callbacks, monkeypatch
):
    from analysis import tasks

    queued = []
    monkeypatch.setattr(tasks.build_download, "delay", queued.append)
    user = investigator(demo_study)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(demo_study), CSV_CHOICES | {"fmt": "sav"})
    download = Download.objects.get()
    assert response["Location"] == download.get_absolute_url()
    assert queued == [download.pk]
    waiting = client.get(download.get_absolute_url()).content.decode()
    assert 'http-equiv="refresh"' in waiting

    assert downloads.build(download.pk) is True
    assert downloads.build(download.pk) is False  # claimed once only
    page = client.get(download.get_absolute_url()).content.decode()
    assert "http-equiv" not in page
    fetched = client.get(reverse("analysis:download_file", args=[download.pk]))
    body = b"".join(fetched.streaming_content)
    download.refresh_from_db()
    assert download.sha256 == hashlib.sha256(body).hexdigest() in page
    path = export_root / "read.sav"
    path.write_bytes(body)
    frame, meta = pyreadstat.read_sav(str(path))
    assert len(frame) == download.rows == demo_study.participants.count()
    assert meta.column_names_to_labels
    codebook = client.get(reverse("analysis:download_codebook", args=[download.pk]))
    assert codebook.status_code == 200
    text = codebook.content.decode()
    assert "baseline_selfmgmt_total" in text
    # The standalone page keeps its inline style; the policy allows exactly that.
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in codebook["Content-Security-Policy"]


def test_no_contact_detail_leaves_through_the_page(client, demo_study):
    demo_study.study_ids_in_downloads = True
    demo_study.save()
    client.force_login(investigator(demo_study))
    body = b"".join(
        client.post(
            page_url(demo_study), CSV_CHOICES | {"identifier": "study_id"}
        ).streaming_content
    )
    for contact in ParticipantContact.objects.all():
        for value in (contact.full_name, contact.email, contact.mobile):
            if value:
                assert value.encode() not in body


def test_small_groups_must_be_acknowledged(client, demo_study):
    client.force_login(investigator(demo_study))
    page = client.get(page_url(demo_study)).content.decode()
    from analysis.exports import small_cells

    if not small_cells(demo_study):
        pytest.skip("the demo cohort has no small site-by-sex group")
    assert "Small groups: take care before sharing" in page
    choices = dict(CSV_CHOICES)
    del choices["small_cells_understood"]
    response = client.post(page_url(demo_study), choices)
    assert response.status_code == 200
    assert "Tick this box to confirm" in response.content.decode()
    assert not Download.objects.exists()


def test_asking_for_neither_items_nor_scores_says_so(client, study):
    client.force_login(investigator(study))
    choices = {k: v for k, v in CSV_CHOICES.items() if k not in ("items", "scores")}
    response = client.post(page_url(study), choices)
    assert "Choose item responses, scores or both." in response.content.decode()
    assert not Download.objects.exists()


def test_a_file_that_cannot_be_built_says_why(study, export_root, monkeypatch):
    from analysis import exports

    def refuse(*args, **kwargs):
        raise exports.ExportError("Excel holds at most 1,048,576 rows.")

    monkeypatch.setattr(exports, "write", refuse)
    download = built(study, investigator(study), fmt="xlsx")
    assert download.status == DownloadStatus.FAILED
    assert download.error == "Excel holds at most 1,048,576 rows."
    assert not list(export_root.glob("*"))


def test_admins_download_and_read_the_log(client, study, export_root):
    admin = UserFactory(is_superuser=True, is_staff=True)
    download = built(study, admin, fmt="dta")
    client.force_login(admin)
    assert client.get(page_url(study)).status_code == 200
    assert client.get(download.get_absolute_url()).status_code == 200
    assert (
        download.sha256 in client.get(reverse("analysis:download_log")).content.decode()
    )


def test_old_files_are_removed_and_their_log_rows_kept(
    client, study, export_root, settings
):
    import datetime as dt

    settings.EXPORT_KEEP_DAYS = 7
    old = built(study, investigator(study), fmt="dta")
    recent = built(study, investigator(study), fmt="dta")
    Download.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=8)
    )

    assert downloads.remove_old() == 1

    old.refresh_from_db()
    assert old.path == "" and old.sha256
    assert downloads.stored_file(old) is None
    assert downloads.stored_file(recent) is not None
    assert len(list(export_root.iterdir())) == 1
    client.force_login(old.requested_by)
    page = client.get(old.get_absolute_url()).content.decode()
    assert "no longer kept" in page


def test_i1_investigators_get_study_ids_only_where_the_study_allows(client, demo_study):
    client.force_login(investigator(demo_study))
    page = client.get(page_url(demo_study)).content.decode()
    assert 'value="study_id"' not in page
    assert "export pseudonyms only" in page
    before = Download.objects.count()
    refused = client.post(
        page_url(demo_study), CSV_CHOICES | {"identifier": "study_id"}
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert Download.objects.count() == before

    demo_study.study_ids_in_downloads = True
    demo_study.save()
    page = client.get(page_url(demo_study)).content.decode()
    assert 'value="study_id"' in page
    allowed = client.post(
        page_url(demo_study), CSV_CHOICES | {"identifier": "study_id"}
    )
    header = b"".join(allowed.streaming_content).splitlines()[0].decode()
    assert header.startswith("study_id,")
