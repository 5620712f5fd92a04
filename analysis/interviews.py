"""The interview log and transcripts: who may see them, and the rules for changes.

Transcript text is for the research team only: qualitative researchers of the
study and administrators. Coordinators keep the log and may see that a
transcript exists, never what it says.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import PurePath

import docx
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table

from analysis.interview_models import Interview, Transcript
from participants.models import ParticipantContact, Role, Study
from studyportal import access
from studyportal.errors import DomainError
from studyportal.text_files import NotText, decode_text

LOG_ROLES = (Role.COORDINATOR, Role.QUALITATIVE, access.ADMIN)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_TYPES = (".txt", ".docx")
PLACEHOLDER = "[name]"
# Stored in ``Transcript.masked_names`` instead of the participant's real name.
OWN_NAME = "the participant's own name"


def interviews_for(user) -> QuerySet[Interview]:
    """Interviews the user may see in the log: coordinators', qualitative
    researchers' (at their sites, or all sites of their study) and admins'."""
    sites = access.sites_for(user, roles=(Role.COORDINATOR, Role.QUALITATIVE))
    return Interview.objects.filter(participant__site__in=sites).select_related(
        "participant", "participant__site", "interviewer"
    )


def transcript_studies(user) -> QuerySet[Study]:
    """Studies whose transcripts the user may read: as a qualitative
    researcher of the study, or as an administrator."""
    return access.studies_for(user, roles=(Role.QUALITATIVE,))


def can_read_transcripts(user, study: Study) -> bool:
    return transcript_studies(user).filter(pk=study.pk).exists()


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
) -> Interview:
    """Record where an interview stands.

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
            return decode_text(uploaded_file.read())
        except NotText as problem:
            advice = {
                "encoding": "is not UTF-8 text. Save it again choosing the UTF-8 "
                "encoding, or upload it as a .docx file.",
                "binary": "holds binary data, not plain text. Open it in a text "
                "editor or Word and save it again as .txt (UTF-8) or .docx.",
            }[problem.reason]
            raise DomainError(f"“{name}” {advice}", field="file") from None
    try:
        document = docx.Document(uploaded_file)
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError):
        raise DomainError(
            f"“{name}” could not be read as a Word document. Open it in Word and "
            "save it again as .docx, or paste the text instead.",
            field="file",
        ) from None
    return "\n".join(_docx_lines(document))


def _docx_lines(document) -> Iterable[str]:
    # Transcripts are often laid out as a table of speaker and words.
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                yield "\t".join(cell.text for cell in row.cells)
        else:
            yield block.text


def mask_names(text: str, names: Iterable[str]) -> tuple[str, list[str]]:
    """Replace each of ``names`` as a whole word, in any case, by ``[name]``.

    Longer names win over shorter ones they contain ("Mary Ann" before
    "Mary"); spaces inside a name match any run of white space. Returns the
    masked text and the names that were found, in the order given.
    """
    wanted = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    if not wanted:
        return text, []
    patterns = {
        name: r"\s+".join(re.escape(part) for part in name.split()) for name in wanted
    }
    ordered = sorted(wanted, key=len, reverse=True)
    combined = re.compile(
        r"(?<!\w)(?:" + "|".join(patterns[name] for name in ordered) + r")(?!\w)",
        re.IGNORECASE,
    )
    found: set[str] = set()

    def replace(match: re.Match) -> str:
        for name in ordered:
            if re.fullmatch(patterns[name], match.group(0), re.IGNORECASE):
                found.add(name)
                break
        return PLACEHOLDER

    masked = combined.sub(replace, text)
    return masked, [name for name in wanted if name in found]


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

    The participant's own names (whole name, and each part of it) are masked
    without being shown to anyone; ``masked_names`` records the other names
    found, and ``OWN_NAME`` in place of the participant's. A transcript
    already coded cannot be replaced. The caller checks who may do this
    (``can_read_transcripts``).
    """
    interview = Interview.objects.select_for_update().get(pk=interview.pk)
    if interview.status != Interview.Status.DONE:
        raise DomainError(
            "Record the interview as done (with its mode and duration) before "
            "adding its transcript.",
            field="status",
        )
    existing = Transcript.objects.filter(interview=interview).first()
    if existing is not None and existing.segments.exists():
        raise DomainError(
            "This transcript has coded passages, so it cannot be replaced: the "
            "codes point into its text.",
            field="text",
        )
    # Browsers send pasted text with CRLF; coded passages count characters.
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise DomainError("The transcript is empty.", field="text")
    own = _own_names(interview)
    others = [name for name in names_to_mask if name and name.strip()]
    text, found = mask_names(text, [*own, *others])
    own_lower = {name.lower() for name in own}
    masked = [name for name in found if name.lower() not in own_lower]
    if len(masked) < len(found):
        masked.insert(0, OWN_NAME)
    transcript, _ = Transcript.objects.update_or_create(
        interview=interview,
        defaults={
            "text": text,
            "source": source[:200],
            "masked_names": masked,
            "uploaded_by": user,
        },
    )
    return transcript


def _own_names(interview: Interview) -> list[str]:
    contact = ParticipantContact.objects.filter(
        participant=interview.participant
    ).first()
    if contact is None:
        return []
    parts = [part for part in contact.full_name.split() if len(part) > 1]
    return [contact.full_name.strip(), *parts]
