"""The interview pages, role by role: sampling, the log and transcripts."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from analysis import interviews, sampling
from analysis.models import Interview, InterviewSample, SampleMember, Transcript
from participants.models import ParticipantContact
from tests.analysis.test_interviews import rewritten, word_file
from tests.factories import (
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)

SECRET = "The physiotherapist really listened to me about my back."
TODAY = dt.date(2025, 3, 3)
ROLES = ("clinic_staff", "coordinator", "investigator", "qualitative", "admin")


@pytest.fixture
def people(demo_study) -> dict:
    return {
        "clinic_staff": clinic_staff(demo_study.sites.first()),
        "coordinator": coordinator(demo_study),
        "investigator": investigator(demo_study),
        "qualitative": qualitative(demo_study),
        "admin": UserFactory(is_superuser=True),
    }


@pytest.fixture
def sample(demo_study) -> InterviewSample:
    return sampling.propose(
        study=demo_study, size=6, criteria=["site"], seed=4, user=None
    )


@pytest.fixture
def interview(sample) -> Interview:
    (interview, *_) = sampling.accept(sample, user=None, today=TODAY)
    return interview


@pytest.fixture
def transcribed(interview) -> Interview:
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    interviews.save_transcript(interview, text=SECRET, user=None)
    return interview


def urls(sample, interview) -> dict[str, str]:
    member = sample.members.first()
    return {
        "list": reverse("interviews:list"),
        "samples": reverse("interviews:samples"),
        "sample": reverse("interviews:sample", args=[sample.pk]),
        "swap": reverse("interviews:swap", args=[sample.pk, member.pk]),
        "add": reverse("interviews:add", args=[sample.pk]),
        "accept": reverse("interviews:accept", args=[sample.pk]),
        "detail": reverse("interviews:detail", args=[interview.pk]),
        "transcript": reverse("interviews:transcript", args=[interview.pk]),
    }


# Who gets which page: 200 (or a redirect after a harmless GET), or 403.
ACCESS = {
    "clinic_staff": {"list": 403, "samples": 403, "sample": 403, "detail": 403},
    "coordinator": {"list": 200, "samples": 200, "sample": 200, "detail": 200},
    "investigator": {"list": 403, "samples": 403, "sample": 403, "detail": 403},
    "qualitative": {"list": 200, "samples": 403, "sample": 403, "detail": 200},
    "admin": {"list": 200, "samples": 200, "sample": 200, "detail": 200},
}


def test_anonymous_visitors_are_sent_to_log_in(client, sample, interview):
    for url in urls(sample, interview).values():
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_pages_it_should(client, people, role, sample, interview):
    client.force_login(people[role])
    pages = urls(sample, interview)
    for name, status in ACCESS[role].items():
        assert client.get(pages[name]).status_code == status, name
    if ACCESS[role]["sample"] == 403:
        for name in ("swap", "add", "accept"):
            assert client.post(pages[name], {}).status_code == 403, name
        assert client.post(pages["samples"], {"size": 3}).status_code == 403
    if ACCESS[role]["detail"] == 403:
        assert client.post(pages["detail"], {"status": "declined"}).status_code == 403
    interview.refresh_from_db()
    assert interview.status == Interview.Status.INVITED
    assert InterviewSample.objects.count() == 1


def test_a_coordinator_of_another_study_sees_none_of_it(client, sample, interview):
    client.force_login(coordinator(StudyFactory()))
    pages = urls(sample, interview)
    assert client.get(pages["sample"]).status_code == 404
    assert client.get(pages["detail"]).status_code == 404
    assert interview.participant.code not in client.get(pages["list"]).content.decode()


# --- the log -----------------------------------------------------------------


def test_the_log_lists_interviews_and_links_sampling_for_coordinators(
    client, people, transcribed
):
    client.force_login(people["coordinator"])
    page = client.get(reverse("interviews:list")).content.decode()
    assert transcribed.participant.code in page
    assert "Done" in page and "Phone" in page and "35" in page
    assert reverse("interviews:samples") in page
    client.force_login(people["qualitative"])
    page = client.get(reverse("interviews:list")).content.decode()
    assert transcribed.participant.code in page
    assert reverse("interviews:samples") not in page


def test_a_coordinator_records_a_scheduled_interview(client, people, interview):
    client.force_login(people["coordinator"])
    url = reverse("interviews:detail", args=[interview.pk])
    response = client.post(
        url,
        {
            "status": "scheduled",
            "scheduled_for": "2025-04-02T14:30",
            "interviewer": people["qualitative"].pk,
            "mode": "video",
            "notes": "Link sent by email",
        },
    )
    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.status == "scheduled"
    assert interview.scheduled_for.date() == dt.date(2025, 4, 2)
    assert interview.interviewer == people["qualitative"]
    assert interview.mode == "video" and interview.notes == "Link sent by email"


def test_bad_log_input_is_shown_next_to_the_field_and_kept(client, people, interview):
    client.force_login(people["coordinator"])
    url = reverse("interviews:detail", args=[interview.pk])
    response = client.post(
        url, {"status": "done", "mode": "phone", "notes": "Went well"}
    )
    assert response.status_code == 200
    form = response.context["log_form"]
    assert "duration_minutes" in form.errors
    page = response.content.decode()
    assert "Give how long the interview lasted" in page
    assert "Went well" in page
    interview.refresh_from_db()
    assert interview.status == "invited" and interview.notes == ""
    response = client.post(url, {"status": "scheduled"})
    assert "scheduled_for" in response.context["log_form"].errors


def test_the_interviewer_is_chosen_from_the_studys_staff(client, people, interview):
    client.force_login(people["coordinator"])
    url = reverse("interviews:detail", args=[interview.pk])
    outsider = coordinator(StudyFactory())
    response = client.post(url, {"status": "invited", "interviewer": outsider.pk})
    assert "interviewer" in response.context["log_form"].errors
    assert outsider.username not in response.content.decode()


# --- transcripts -------------------------------------------------------------


def test_a_qualitative_researcher_uploads_a_word_transcript(client, people, interview):
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    client.force_login(people["qualitative"])
    url = reverse("interviews:transcript", args=[interview.pk])
    response = client.post(
        url,
        {
            "file": word_file("I: Who helped?", "P: Dr Patel did."),
            "other_names": "Patel, Smith",
        },
    )
    assert response.status_code == 302
    transcript = Transcript.objects.get(interview=interview)
    assert transcript.text == "I: Who helped?\nP: Dr [name] did."
    assert transcript.source == "interview.docx"
    assert transcript.masked_names == ["Patel"]
    assert transcript.uploaded_by == people["qualitative"]
    page = client.get(reverse("interviews:detail", args=[interview.pk]))
    assert "P: Dr [name] did." in page.content.decode()


def test_a_pasted_transcript_is_saved(client, people, interview):
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    client.force_login(people["admin"])
    url = reverse("interviews:transcript", args=[interview.pk])
    response = client.post(url, {"text": "I: Hello.\r\nP: Hi."})
    assert response.status_code == 302
    assert Transcript.objects.get(interview=interview).text == "I: Hello.\nP: Hi."


def test_a_bad_upload_is_explained_and_the_other_input_kept(client, people, interview):
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    client.force_login(people["qualitative"])
    url = reverse("interviews:transcript", args=[interview.pk])
    response = client.post(
        url,
        {
            "file": SimpleUploadedFile("interview.pdf", b"%PDF-1.4"),
            "other_names": "Patel",
        },
    )
    assert response.status_code == 200
    assert "file" in response.context["transcript_form"].errors
    page = response.content.decode()
    assert "is not a .txt or .docx file" in page
    assert 'value="Patel"' in page
    response = client.post(url, {})
    assert "Upload a file or paste" in response.content.decode()
    assert not Transcript.objects.exists()


def test_after_a_bad_upload_the_log_form_still_shows_its_fields(
    client, people, interview
):
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    client.force_login(people["qualitative"])
    url = reverse("interviews:transcript", args=[interview.pk])
    response = client.post(
        url, {"file": SimpleUploadedFile("interview.pdf", b"%PDF-1.4")}
    )
    assert response.status_code == 200
    log_form = response.context["log_form"]
    assert log_form is not None and not log_form.is_bound
    assert log_form["duration_minutes"].value() == 35
    page = response.content.decode()
    for field in ("status", "scheduled_for", "interviewer", "mode", "notes"):
        assert f'name="{field}"' in page, field


def test_no_transcript_before_the_interview_is_done(client, people, interview):
    client.force_login(people["qualitative"])
    url = reverse("interviews:transcript", args=[interview.pk])
    response = client.post(url, {"text": "Too early"})
    assert response.status_code == 200
    assert "Record the interview as done" in response.content.decode()
    assert not Transcript.objects.exists()


@pytest.mark.parametrize("role", ["coordinator", "investigator", "clinic_staff"])
def test_no_one_outside_the_research_team_reads_a_transcript(
    client, people, role, transcribed
):
    client.force_login(people[role])
    for url in (
        reverse("interviews:list"),
        reverse("interviews:detail", args=[transcribed.pk]),
    ):
        response = client.get(url)
        assert SECRET.encode() not in response.content
        assert b"physiotherapist" not in response.content
    response = client.post(
        reverse("interviews:transcript", args=[transcribed.pk]),
        {"text": "Overwritten"},
    )
    assert response.status_code == 403
    assert Transcript.objects.get(interview=transcribed).text == SECRET


def test_a_coordinator_sees_that_a_transcript_exists(client, people, transcribed):
    client.force_login(people["coordinator"])
    page = client.get(reverse("interviews:detail", args=[transcribed.pk]))
    assert b"A transcript has been saved" in page.content
    assert b'name="text"' not in page.content


@pytest.mark.parametrize("role", ["qualitative", "admin"])
def test_the_research_team_reads_the_transcript(client, people, role, transcribed):
    client.force_login(people[role])
    page = client.get(reverse("interviews:detail", args=[transcribed.pk]))
    assert SECRET.encode() in page.content


# --- sampling ----------------------------------------------------------------


def test_a_coordinator_proposes_a_sample_and_sees_its_strata(client, people):
    client.force_login(people["coordinator"])
    page = client.get(reverse("interviews:samples"))
    assert page.status_code == 200
    assert b'class="form-check-input"' in page.content
    response = client.post(
        reverse("interviews:samples"),
        {
            "study": people["coordinator"].memberships.get().study_id,
            "size": 10,
            "criteria": ["partnership_tertile", "site"],
            "seed": 99,
        },
    )
    sample = InterviewSample.objects.get()
    assert response["Location"] == sample.get_absolute_url()
    assert sample.members.count() == 10 and sample.seed == 99
    page = client.get(sample.get_absolute_url()).content.decode()
    for stratum, eligible, chosen in sampling.strata_counts(sample):
        assert (
            f'<td>{stratum}</td><td class="text-end">{eligible}</td>'
            f'<td class="text-end">{chosen}</td>'
        ) in page
    assert "Accept the sample" in page


def test_a_sample_too_big_is_refused_next_to_the_size(client, people, demo_study):
    client.force_login(people["coordinator"])
    response = client.post(
        reverse("interviews:samples"),
        {"study": demo_study.pk, "size": 1000, "criteria": ["site"], "seed": 5},
    )
    assert response.status_code == 200
    assert "size" in response.context["form"].errors
    assert "at most" in response.content.decode()
    assert 'value="1000"' in response.content.decode()
    assert not InterviewSample.objects.exists()


def test_swapping_needs_a_reason_shown_by_the_member(client, people, sample):
    client.force_login(people["coordinator"])
    member = sample.members.first()
    url = reverse("interviews:swap", args=[sample.pk, member.pk])
    prefix = f"swap-{member.pk}"
    response = client.post(url, {f"{prefix}-reason": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    member.refresh_from_db()
    assert member.status == SampleMember.Status.PROPOSED
    response = client.post(url, {f"{prefix}-reason": "Too unwell this month"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == SampleMember.Status.SWAPPED_OUT
    assert member.reason == "Too unwell this month"
    assert sample.members.filter(status="proposed").count() == 6


def test_adding_someone_by_study_id(client, people, sample):
    client.force_login(people["coordinator"])
    taken = set(sample.members.values_list("participant", flat=True))
    chosen = next(p for p in sampling.eligible(sample.study) if p.pk not in taken)
    url = reverse("interviews:add", args=[sample.pk])
    response = client.post(url, {"participant": "XXX-9999", "reason": "Keen"})
    assert "No participant of this study has the ID XXX-9999" in (
        response.content.decode()
    )
    response = client.post(url, {"participant": chosen.code.lower(), "reason": ""})
    assert "reason" in response.context["add_form"].errors
    response = client.post(url, {"participant": chosen.code, "reason": "Keen"})
    assert response.status_code == 302
    assert sample.members.get(participant=chosen).status == SampleMember.Status.ADDED


def test_accepting_fills_the_interview_log(client, people, sample):
    client.force_login(people["admin"])
    response = client.post(reverse("interviews:accept", args=[sample.pk]))
    assert response["Location"] == reverse("interviews:list")
    assert Interview.objects.count() == 6
    page = client.get(reverse("interviews:list")).content.decode()
    assert "6 interviews added to the log" in page
    for member in sample.members.select_related("participant"):
        assert member.participant.code in page


def test_l3_an_unreadable_word_file_is_explained_and_the_other_input_kept(
    client, people, interview
):
    interviews.update(interview, status="done", mode="phone", duration_minutes=35)
    client.force_login(people["qualitative"])
    broken = rewritten(
        word_file("I: Hello."), **{"word/document.xml": b"<w:document><w:p>"}
    )
    response = client.post(
        reverse("interviews:transcript", args=[interview.pk]),
        {"file": broken, "other_names": "Patel, Smith"},
    )
    assert response.status_code == 200
    assert "file" in response.context["transcript_form"].errors
    page = response.content.decode()
    assert "could not be read as a Word document" in page
    assert 'value="Patel, Smith"' in page
    assert not Transcript.objects.exists()


def test_m1_the_page_shows_the_same_masking_whoever_the_participant_is(
    client, people, sample
):
    client.force_login(people["qualitative"])
    pages = []
    accepted = sampling.accept(sample, user=None, today=TODAY)[:2]
    for interview, real_name in zip(
        accepted, ["Margaret Okafor", "Sam Lee"], strict=True
    ):
        ParticipantContact.objects.filter(participant=interview.participant).update(
            full_name=real_name
        )
        interviews.update(interview, status="done", mode="phone", duration_minutes=35)
        response = client.post(
            reverse("interviews:transcript", args=[interview.pk]),
            {"text": "Who? Margaret. Okafor. Sam Lee, dr patel", "other_names": "x"},
        )
        assert response.status_code == 302
        page = client.get(reverse("interviews:detail", args=[interview.pk]))
        text = page.content.decode()
        pages.append(text[text.index('<h2 class="h5">Transcript') :])
        pages[-1] = pages[-1][: pages[-1].index("<form")]
    # Only the time of saving and the interview's own links may differ.
    same = [re.sub(r"Saved [^.]*\.|/\d+/", "", page) for page in pages]
    assert "[name]" in same[0] and same[0] == same[1]


@pytest.mark.parametrize("role", ["coordinator", "qualitative", "admin"])
def test_m1_the_log_shows_who_changed_the_status_and_the_transcript(
    client, people, role, interview
):
    client.force_login(people["coordinator"])
    client.post(
        reverse("interviews:detail", args=[interview.pk]),
        {"status": "done", "mode": "phone", "duration_minutes": 35},
    )
    client.force_login(people["qualitative"])
    for text in (SECRET, SECRET + " Again."):
        client.post(
            reverse("interviews:transcript", args=[interview.pk]), {"text": text}
        )
    client.force_login(people[role])
    page = client.get(reverse("interviews:detail", args=[interview.pk]))
    history = page.content.decode().split("History", 1)[1]
    assert "Status: Invited → Done" in history
    assert interviews.person_label(people["coordinator"]) in history
    assert "Transcript replaced (pasted)" in history
    assert "Transcript saved (pasted)" in history
    assert interviews.person_label(people["qualitative"]) in history
    assert "physiotherapist" not in history
