"""The interview log, transcript uploads, masking and who reads transcripts."""

import datetime as dt
import io

import docx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis import interviews, sampling
from analysis.models import Code, CodedSegment, Interview, Theme
from participants.models import ParticipantContact
from studyportal.errors import DomainError
from tests.factories import (
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)

WHEN = timezone.make_aware(dt.datetime(2025, 4, 2, 14, 30))


@pytest.fixture
def interview(demo_study) -> Interview:
    participant = sampling.eligible(demo_study)[0]
    return Interview.objects.create(participant=participant, invited_on=WHEN.date())


def done(interview: Interview) -> Interview:
    return interviews.update(
        interview,
        status=Interview.Status.DONE,
        mode=Interview.Mode.PHONE,
        duration_minutes=40,
    )


def word_file(*paragraphs: str, name: str = "interview.docx") -> SimpleUploadedFile:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


# --- who sees what -----------------------------------------------------------


def test_the_log_is_for_coordinators_qualitative_researchers_and_admins(interview):
    study = interview.participant.study
    assert interview in interviews.interviews_for(coordinator(study))
    assert interview in interviews.interviews_for(qualitative(study))
    assert interview in interviews.interviews_for(UserFactory(is_superuser=True))
    assert not interviews.interviews_for(investigator(study)).exists()
    assert not interviews.interviews_for(clinic_staff(study.sites.first())).exists()
    assert not interviews.interviews_for(coordinator(StudyFactory())).exists()


def test_only_qualitative_researchers_and_admins_read_transcripts(demo_study):
    assert interviews.can_read_transcripts(qualitative(demo_study), demo_study)
    assert interviews.can_read_transcripts(UserFactory(is_superuser=True), demo_study)
    assert not interviews.can_read_transcripts(investigator(demo_study), demo_study)
    assert not interviews.can_read_transcripts(coordinator(demo_study), demo_study)
    assert not interviews.can_read_transcripts(qualitative(StudyFactory()), demo_study)
    inactive = qualitative(demo_study)
    inactive.is_active = False
    assert not interviews.can_read_transcripts(inactive, demo_study)


# --- the log ---------------------------------------------------------------


def test_scheduling_needs_a_date_and_time(interview):
    with pytest.raises(DomainError) as error:
        interviews.update(interview, status=Interview.Status.SCHEDULED)
    assert error.value.field == "scheduled_for"
    interviewer = qualitative(interview.participant.study)
    interviews.update(
        interview,
        status=Interview.Status.SCHEDULED,
        scheduled_for=WHEN,
        interviewer=interviewer,
        notes="  Prefers afternoons ",
    )
    interview.refresh_from_db()
    assert interview.status == Interview.Status.SCHEDULED
    assert interview.scheduled_for == WHEN
    assert interview.interviewer == interviewer
    assert interview.notes == "Prefers afternoons"


def test_done_needs_the_mode_and_the_duration(interview):
    with pytest.raises(DomainError) as error:
        interviews.update(interview, status=Interview.Status.DONE, duration_minutes=30)
    assert error.value.field == "mode"
    with pytest.raises(DomainError) as error:
        interviews.update(interview, status=Interview.Status.DONE, mode="video")
    assert error.value.field == "duration_minutes"
    interview.refresh_from_db()
    assert interview.status == Interview.Status.INVITED
    assert done(interview).duration_minutes == 40


def test_declined_and_no_show_need_nothing_more(interview):
    for status in (Interview.Status.DECLINED, Interview.Status.NO_SHOW):
        assert interviews.update(interview, status=status).status == status


def test_the_interviewer_must_be_on_the_studys_staff(interview):
    with pytest.raises(DomainError) as error:
        interviews.update(
            interview,
            status=Interview.Status.INVITED,
            interviewer=coordinator(StudyFactory()),
        )
    assert error.value.field == "interviewer"


def test_an_unknown_status_or_mode_is_refused(interview):
    with pytest.raises(DomainError) as error:
        interviews.update(interview, status="lost")
    assert error.value.field == "status"
    with pytest.raises(DomainError) as error:
        interviews.update(interview, status="invited", mode="letter")
    assert error.value.field == "mode"


# --- uploads -----------------------------------------------------------------


def test_plain_text_is_read_as_utf8_with_or_without_a_byte_order_mark():
    words = "Interviewer: How was the clinic?\nP: Brilliant — très bien."
    for data in (words.encode(), b"\xef\xbb\xbf" + words.encode()):
        upload = SimpleUploadedFile("notes.TXT", data)
        assert interviews.read_upload(upload) == words


def test_text_in_another_encoding_is_refused_with_advice():
    upload = SimpleUploadedFile("notes.txt", "café crème".encode("cp1252"))
    with pytest.raises(DomainError, match="not UTF-8") as error:
        interviews.read_upload(upload)
    assert error.value.field == "file"


def test_a_word_document_is_read_paragraph_by_paragraph_with_its_tables():
    document = docx.Document()
    document.add_paragraph("Interviewer: Tell me about the physio.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "P"
    table.cell(0, 1).text = "She listened."
    buffer = io.BytesIO()
    document.save(buffer)
    upload = SimpleUploadedFile("interview.docx", buffer.getvalue())
    assert interviews.read_upload(upload) == (
        "Interviewer: Tell me about the physio.\nP\tShe listened."
    )


def test_a_broken_word_document_is_refused():
    upload = SimpleUploadedFile("interview.docx", b"not a zip file at all")
    with pytest.raises(DomainError, match="could not be read as a Word document"):
        interviews.read_upload(upload)


def test_other_kinds_of_file_and_big_files_are_refused():
    with pytest.raises(DomainError, match=r"not a \.txt or \.docx"):
        interviews.read_upload(SimpleUploadedFile("interview.pdf", b"%PDF-1.4"))
    with pytest.raises(DomainError, match="at most 2 MB"):
        interviews.read_upload(
            SimpleUploadedFile("long.txt", b"a" * (2 * 1024 * 1024 + 1))
        )


# --- masking -----------------------------------------------------------------


def test_names_are_masked_as_whole_words_in_any_case():
    text = "Anna said anna's physio, Dr ANNAN, met Anna  Lee and Annabel."
    masked, found = interviews.mask_names(text, ["Anna", "Anna Lee", "Bob", ""])
    assert masked == ("[name] said [name]'s physio, Dr ANNAN, met [name] and Annabel.")
    assert found == ["Anna", "Anna Lee"]


def test_masking_nothing_changes_nothing():
    assert interviews.mask_names("Hello Sam", []) == ("Hello Sam", [])


# --- saving transcripts ------------------------------------------------------


def test_a_transcript_masks_the_participants_own_name_without_recording_it(
    interview,
):
    ParticipantContact.objects.filter(participant=interview.participant).update(
        full_name="Margaret Okafor"
    )
    done(interview)
    user = qualitative(interview.participant.study)
    transcript = interviews.save_transcript(
        interview,
        text="I: Hello Margaret.\r\nP: Dr Patel said Okafor is a rare name.\r\n",
        source="call.txt",
        names_to_mask=["Patel", "Smith"],
        user=user,
    )
    assert (
        transcript.text == "I: Hello [name].\nP: Dr [name] said [name] is a rare name."
    )
    assert transcript.masked_names == [interviews.OWN_NAME, "Patel"]
    assert "Margaret" not in str(transcript.masked_names)
    assert transcript.source == "call.txt" and transcript.uploaded_by == user


def test_a_transcript_waits_until_the_interview_is_done(interview):
    with pytest.raises(DomainError, match="as done") as error:
        interviews.save_transcript(interview, text="Words", user=None)
    assert error.value.field == "status"


def test_an_empty_transcript_is_refused(interview):
    done(interview)
    with pytest.raises(DomainError, match="empty"):
        interviews.save_transcript(interview, text=" \r\n ", user=None)


def test_a_transcript_may_be_replaced_until_it_is_coded(interview):
    done(interview)
    first = interviews.save_transcript(interview, text="First version", user=None)
    second = interviews.save_transcript(interview, text="Second version", user=None)
    assert second.pk == first.pk and second.text == "Second version"
    theme = Theme.objects.create(study=interview.participant.study, name="Support")
    code = Code.objects.create(theme=theme, name="Listened to", definition="...")
    segment = CodedSegment.objects.create(
        transcript=second, coder=UserFactory(), start=0, end=6
    )
    segment.codes.add(code)
    with pytest.raises(DomainError, match="coded passages"):
        interviews.save_transcript(interview, text="Third version", user=None)
    second.refresh_from_db()
    assert second.text == "Second version"


def test_an_uploaded_word_transcript_is_saved_masked(interview):
    ParticipantContact.objects.filter(participant=interview.participant).update(
        full_name="Jo Bloggs"
    )
    done(interview)
    text = interviews.read_upload(word_file("I: Hi Jo.", "P: Hi. Bloggs here."))
    transcript = interviews.save_transcript(interview, text=text, user=None)
    assert transcript.text == "I: Hi [name].\nP: Hi. [name] here."
