"""The interview log, transcript uploads, masking and who reads transcripts."""

import datetime as dt
import io
import zipfile

import docx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis import interviews, masking, sampling
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


def rewritten(upload: SimpleUploadedFile, **parts: bytes) -> SimpleUploadedFile:
    """A copy of a .docx with some of its parts replaced (None removes one)."""
    upload.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(upload) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = parts.get(item.filename, source.read(item.filename))
            if data is not None:
                target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    return SimpleUploadedFile(upload.name, out.getvalue())


@pytest.mark.parametrize(
    "damage",
    [
        {"word/document.xml": b"<w:document><w:body><w:p>unclosed"},
        {"word/document.xml": None},
        {"[Content_Types].xml": b"<Types"},
        {"word/_rels/document.xml.rels": b"\x00\xff"},
        {"word/document.xml": b'<?xml version="1.0"?><w:document/>'},
    ],
    ids=["malformed xml", "no document", "bad content types", "bad rels", "bad ns"],
)
def test_l3_an_unreadable_word_document_is_refused_with_a_message(damage):
    upload = rewritten(word_file("I: Hello."), **damage)
    with pytest.raises(DomainError, match="could not be read as a Word document") as (
        error
    ):
        interviews.read_upload(upload)
    assert error.value.field == "file"


def test_l4_a_small_word_file_whose_text_is_too_long_is_refused():
    upload = word_file("word " * 500_000)
    assert upload.size < 100_000
    with pytest.raises(DomainError, match="at most 2,000,000 characters") as error:
        interviews.read_upload(upload)
    assert error.value.field == "file"
    assert "2,500,000 characters" in str(error.value)


def test_l4_a_word_file_that_unpacks_too_big_is_refused_before_it_is_parsed(
    monkeypatch,
):
    out = io.BytesIO(word_file("I: Hello.").read())
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/zeros.bin", bytes(50 * 1024 * 1024))
    bomb = SimpleUploadedFile("interview.docx", out.getvalue())
    assert bomb.size < 200_000

    def parse(*args, **kwargs):
        raise AssertionError("parsed a file that unpacks to 50 MB")

    monkeypatch.setattr(interviews.docx, "Document", parse)
    with pytest.raises(DomainError, match=r"unpacks to 5\d MB") as error:
        interviews.read_upload(bomb)
    assert "at most 20 MB" in str(error.value)


def test_l4_a_pasted_transcript_over_the_limit_is_refused(interview):
    done(interview)
    with pytest.raises(DomainError, match="at most 2,000,000 characters") as error:
        interviews.save_transcript(interview, text="a" * 2_000_001, user=None)
    assert error.value.field == "text"
    interviews.save_transcript(interview, text="a" * 2_000_000, user=None)


def test_other_kinds_of_file_and_big_files_are_refused():
    with pytest.raises(DomainError, match=r"not a \.txt or \.docx"):
        interviews.read_upload(SimpleUploadedFile("interview.pdf", b"%PDF-1.4"))
    with pytest.raises(DomainError, match="at most 2 MB"):
        interviews.read_upload(
            SimpleUploadedFile("long.txt", b"a" * (2 * 1024 * 1024 + 1))
        )


# --- masking -----------------------------------------------------------------


def test_listed_names_are_masked_as_whole_words_in_any_case():
    text = "Anna said anna's physio, Dr ANNAN, met Anna  Lee and Annabel."
    masked, found = masking.mask_listed(text, ["Anna", "Anna Lee", "Bob", ""])
    assert masked == ("[name] said [name]'s physio, Dr ANNAN, met [name] and Annabel.")
    assert found == ["Anna", "Anna Lee"]


def test_capitalised_words_inside_a_sentence_are_masked_as_names():
    masked, found = masking.mask_names(
        "I: Hello Margaret, how was Dr Okafor at the Leeds Pain Clinic?\n"
        "P: Brilliant. My GP and the NHS agreed; Mum came on Monday in May."
    )
    assert masked == (
        "I: Hello [name], how was Dr [name] at the [name]?\n"
        "P: Brilliant. My GP and the NHS agreed; Mum came on Monday in May."
    )
    assert found == []


def test_a_sentence_starts_with_a_name_only_if_it_is_no_ordinary_word():
    masked, _ = masking.mask_names(
        "Okafor rang. Margaret's back hurt. Didn't Rose say so? Erm, yeah."
    )
    assert masked == "[name] rang. [name]'s back hurt. Didn't [name] say so? Erm, yeah."


def test_a_word_the_text_capitalises_as_a_name_is_masked_everywhere():
    masked, _ = masking.mask_names("Rose said no.\nI asked Rose why.\nROSE: Pain.")
    assert masked == "[name] said no.\nI asked [name] why.\n[name]: Pain."


def test_titles_and_initials_do_not_end_a_sentence():
    masked, _ = masking.mask_names("I saw Mr. Smith and J. Baker.")
    assert masked == "I saw Mr. [name] and J. [name]."


def test_masking_nothing_changes_nothing():
    assert masking.mask_names("hello sam", []) == ("hello sam", [])


# --- saving transcripts ------------------------------------------------------


def test_a_transcript_masks_the_participants_own_name_and_records_the_listed(
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
    assert transcript.masked_names == ["Patel"]
    assert transcript.source == "call.txt" and transcript.uploaded_by == user


CANDIDATES = (
    "Margaret. Okafor. Rose. Baker. margaret okafor rose baker\n"
    "MARGARET OKAFOR ROSE BAKER\nI met Margaret Okafor and Rose Baker.\n"
    "Margaret, Okafor, Rose, Baker"
)


def test_m1_masking_reveals_nothing_about_the_participants_name(demo_study):
    """Candidate names pasted as a transcript come back masked the same way
    whoever the participant is, so masking is no oracle for the real name."""
    saved = []
    for real_name in ("Margaret Okafor", "Rose Baker", "Sam Lee"):
        participant = sampling.eligible(demo_study)[len(saved)]
        ParticipantContact.objects.filter(participant=participant).update(
            full_name=real_name
        )
        interview = done(
            Interview.objects.create(participant=participant, invited_on=WHEN.date())
        )
        transcript = interviews.save_transcript(
            interview, text=CANDIDATES, names_to_mask=["Smith"], user=None
        )
        saved.append((transcript.text, transcript.masked_names))
    assert saved[0] == saved[1] == saved[2]
    assert saved[0][1] == []


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


def test_m1_every_save_and_status_change_is_in_the_interviews_history(interview):
    study = interview.participant.study
    coordinating, researcher = coordinator(study), qualitative(study)
    interviews.update(
        interview,
        status=Interview.Status.DONE,
        mode=Interview.Mode.PHONE,
        duration_minutes=40,
        user=coordinating,
    )
    interviews.save_transcript(
        interview, text="First", source="a.docx", user=researcher
    )
    interviews.save_transcript(interview, text="Second one", user=researcher)
    history = interviews.history_for(interview)
    assert [change.what for change in history] == [
        "Transcript replaced (pasted), 10 characters (was 5)",
        "Transcript saved from a.docx, 5 characters",
        "Status: Invited → Done; mode: — → Phone; duration minutes: — → 40",
        "Added to the log as invited",
    ]
    assert [change.who for change in history][:3] == [
        interviews.person_label(researcher),
        interviews.person_label(researcher),
        interviews.person_label(coordinating),
    ]
    texts = [record.text for record in interview.transcript.history.all()]
    assert sorted(texts) == ["First", "Second one"]
