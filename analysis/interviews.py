"""The interview log and transcripts: who may see them, and the rules for changes.

Transcript text is for the research team only: qualitative researchers of the
study and administrators. Coordinators keep the log and may see that a
transcript exists, never what it says.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

import docx
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from docx.table import Table

from analysis import masking
from analysis.interview_models import Interview, Transcript
from participants.models import Study
from studyportal import access
from studyportal.errors import DomainError
from studyportal.text_files import NotText, decode_text

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_TYPES = (".txt", ".docx")
# A transcript's text, however it arrives; 2 MB of plain text, as the upload.
MAX_TRANSCRIPT_CHARACTERS = 2_000_000
# What a .docx may unpack to: its text, XML mark-up and a few pictures.
MAX_DOCX_UNPACKED_BYTES = 20 * 1024 * 1024


def interviews_for(user) -> QuerySet[Interview]:
    """Interviews the user may see in the log: at the sites where they manage
    interviews (a site, or all sites of their study)."""
    sites = access.sites_for(user, "manage_interviews")
    return Interview.objects.filter(participant__site__in=sites).select_related(
        "participant", "participant__site", "interviewer"
    )


def transcript_studies(user) -> QuerySet[Study]:
    """Studies whose transcripts the user may read, code and upload."""
    return access.studies_for(user, "code_transcripts")


def can_read_transcripts(user, study: Study) -> bool:
    return access.can(user, "code_transcripts", study=study)


def interviewers_for(study: Study) -> QuerySet:
    """Who may be recorded as the interviewer: the study's staff."""
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__study=study)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@transaction.atomic
def update(
    interview: Interview,
    *,
    status: str,
    scheduled_for=None,
    interviewer=None,
    mode: str = "",
    duration_minutes: int | None = None,
    notes: str = "",
    user=None,
) -> Interview:
    """Record where an interview stands, in its history as done by ``user``.

    Scheduled needs a date and time; done needs the mode and the duration.
    The interviewer, if given, must be on the study's staff.
    """
    if status not in Interview.Status.values:
        raise DomainError("Choose the interview's status.", field="status")
    if mode and mode not in Interview.Mode.values:
        raise DomainError("Choose in person, phone or video call.", field="mode")
    if duration_minutes is not None and duration_minutes < 1:
        raise DomainError(
            "Give the duration in whole minutes, 1 or more.", field="duration_minutes"
        )
    if status == Interview.Status.SCHEDULED and scheduled_for is None:
        raise DomainError(
            "Give the date and time the interview is scheduled for.",
            field="scheduled_for",
        )
    if status == Interview.Status.DONE:
        if not mode:
            raise DomainError("Say how the interview was held.", field="mode")
        if duration_minutes is None:
            raise DomainError(
                "Give how long the interview lasted, in minutes.",
                field="duration_minutes",
            )
    study = interview.participant.study
    if (
        interviewer is not None
        and not interviewers_for(study).filter(pk=interviewer.pk).exists()
    ):
        raise DomainError(
            "Choose an interviewer from the study's staff.", field="interviewer"
        )
    interview.status = status
    interview.scheduled_for = scheduled_for
    interview.interviewer = interviewer
    interview.mode = mode
    interview.duration_minutes = duration_minutes
    interview.notes = notes.strip()
    if user is not None:
        interview._history_user = user
    interview.save()
    return interview


def read_upload(uploaded_file) -> str:
    """The text of an uploaded transcript: UTF-8 plain text or a Word .docx file."""
    name = uploaded_file.name or ""
    suffix = PurePath(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise DomainError(
            f"“{name}” is not a .txt or .docx file. Save the transcript as plain "
            "text (UTF-8) or as a Word document (.docx) and upload that.",
            field="file",
        )
    if uploaded_file.size > MAX_UPLOAD_BYTES:
        megabytes = uploaded_file.size / 1024 / 1024
        raise DomainError(
            f"“{name}” is {megabytes:.1f} MB; a transcript file may be at most 2 MB.",
            field="file",
        )
    uploaded_file.seek(0)
    if suffix == ".txt":
        try:
            text = decode_text(uploaded_file.read())
        except NotText as problem:
            advice = {
                "encoding": "is not UTF-8 text. Save it again choosing the UTF-8 "
                "encoding, or upload it as a .docx file.",
                "binary": "holds binary data, not plain text. Open it in a text "
                "editor or Word and save it again as .txt (UTF-8) or .docx.",
            }[problem.reason]
            raise DomainError(f"“{name}” {advice}", field="file") from None
    else:
        text = _read_docx(uploaded_file, name)
    check_length(text, field="file", source=f"“{name}”")
    return text


def _read_docx(uploaded_file, name: str) -> str:
    unreadable = DomainError(
        f"“{name}” could not be read as a Word document. Open it in Word and "
        "save it again as .docx, or paste the text instead.",
        field="file",
    )
    # The sizes in the zip's directory bound what unpacking can produce
    # (zipfile stops at them), so a small file cannot expand without limit.
    try:
        with zipfile.ZipFile(uploaded_file) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise unreadable from None
    if unpacked > MAX_DOCX_UNPACKED_BYTES:
        raise DomainError(
            f"“{name}” unpacks to {unpacked / 1024 / 1024:.0f} MB, more than a "
            f"transcript needs (at most {MAX_DOCX_UNPACKED_BYTES // 1024 // 1024} "
            f"MB unpacked, and at most {MAX_TRANSCRIPT_CHARACTERS:,} characters of "
            "text). Save it again without pictures or embedded files, or split it.",
            field="file",
        )
    uploaded_file.seek(0)
    try:
        document = docx.Document(uploaded_file)
        return "\n".join(_docx_lines(document))
    except Exception:
        # A damaged file fails anywhere in python-docx, lxml or zipfile (bad
        # XML, missing parts, bad compression); to the uploader all are one.
        raise unreadable from None


def _docx_lines(document) -> Iterable[str]:
    # Transcripts are often laid out as a table of speaker and words.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                yield "\t".join(cell.text for cell in row.cells)
        else:
            yield block.text


def check_length(text: str, *, field: str, source: str = "The transcript") -> None:
    """Refuse a transcript longer than ``MAX_TRANSCRIPT_CHARACTERS``."""
    if len(text) > MAX_TRANSCRIPT_CHARACTERS:
        raise DomainError(
            f"{source} holds {len(text):,} characters of text; a transcript may "
            f"be at most {MAX_TRANSCRIPT_CHARACTERS:,} characters. Split it into "
            "parts or shorten it.",
            field=field,
        )


@transaction.atomic
def save_transcript(
    interview: Interview,
    *,
    text: str,
    source: str = "",
    names_to_mask: Iterable[str] = (),
    user,
) -> Transcript:
    """Store the transcript of a done interview, with names masked.

    Names are masked by ``masking.mask_names``, whose rule never looks up the
    participant, so the result tells no one their name; ``masked_names``
    records which of ``names_to_mask`` were found. A transcript already coded
    cannot be replaced; each save is kept in the transcript's history. The
    caller checks who may do this (``can_read_transcripts``).
    """
    interview = Interview.objects.select_for_update().get(pk=interview.pk)
    if interview.status != Interview.Status.DONE:
        raise DomainError(
            "Record the interview as done (with its mode and duration) before "
            "adding its transcript.",
            field="status",
        )
    transcript = Transcript.objects.filter(interview=interview).first()
    if transcript is not None and transcript.segments.exists():
        raise DomainError(
            "This transcript has coded passages, so it cannot be replaced: the "
            "codes point into its text.",
            field="text",
        )
    # Browsers send pasted text with CRLF; coded passages count characters.
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise DomainError("The transcript is empty.", field="text")
    check_length(text, field="text")
    if transcript is None:
        transcript = Transcript(interview=interview)
    else:
        transcript.uploaded_at = timezone.now()
    transcript.text, transcript.masked_names = masking.mask_names(text, names_to_mask)
    transcript.source = source[:200]
    transcript.uploaded_by = user
    if user is not None:
        transcript._history_user = user
    transcript.save()
    return transcript


@dataclass(frozen=True)
class LogChange:
    when: dt.datetime
    who: str
    what: str


def history_for(interview: Interview) -> list[LogChange]:
    """Every recorded change to the interview and its transcript, newest first.

    Says what changed, never what a transcript says: the log's readers
    include coordinators.
    """
    changes = _changes(
        Interview.history.filter(id=interview.pk), _describe_interview
    ) + _changes(
        Transcript.history.filter(interview_id=interview.pk), _describe_transcript
    )
    return sorted(changes, key=lambda change: change.when, reverse=True)


def _changes(records, describe) -> list[LogChange]:
    changes, previous = [], None
    for record in records.order_by("history_date", "history_id").select_related(
        "history_user"
    ):
        what = describe(record, previous)
        previous = record
        if what:
            who = record.history_user
            who = person_label(who) if who else "system"
            changes.append(LogChange(record.history_date, who, what))
    return changes


def person_label(user) -> str:
    """A member of staff as the interview pages name them."""
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


def _describe_interview(record, previous) -> str:
    status = record.get_status_display().lower()
    if previous is None:
        # Interviews logged before their history began have no creation row.
        if record.history_type == "+":
            return f"Added to the log as {status}"
        return f"Log saved as {status}"
    changed = {change.field for change in record.diff_against(previous).changes}
    parts = [
        f"{field.verbose_name}: {_shown(getattr(previous, field.name), field)} → "
        f"{_shown(getattr(record, field.name), field)}"
        for field in Interview._meta.concrete_fields
        if field.name in changed
    ]
    description = "; ".join(parts)
    return description[:1].upper() + description[1:]


def _shown(value, field) -> str:
    if value is None or value == "":
        return "—"
    if field.choices:
        return str(dict(field.choices).get(value, value))
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%-d %b %Y %H:%M")
    if field.is_relation:
        return person_label(value)
    return str(value)


def _describe_transcript(record, previous) -> str:
    source = f" from {record.source}" if record.source else " (pasted)"
    size = f"{len(record.text):,} characters"
    if previous is None:
        return f"Transcript saved{source}, {size}"
    if record.text == previous.text:
        return f"Transcript saved again{source}, unchanged"
    return f"Transcript replaced{source}, {size} (was {len(previous.text):,})"
