"""Coding transcripts: the codebook, coded passages, memos and coder agreement.

Who may read a transcript is decided by ``analysis.interviews.can_read_transcripts``;
every function here that hands out or writes transcript-bound data asks it.
Agreement is Cohen's kappa per code over sentence units: a unit carries a code
for a coder when any of that coder's passages with the code overlaps it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, QuerySet

from analysis.interview_models import Code, CodedSegment, Memo, Theme, Transcript
from analysis.interviews import can_read_transcripts, transcript_studies
from participants.models import Study
from studyportal.errors import DomainError

# ---------------------------------------------------------------------------
# Who may code


def transcripts_for(user) -> QuerySet[Transcript]:
    """Transcripts the user may read: of studies ``transcript_studies`` gives."""
    return Transcript.objects.filter(
        interview__participant__study__in=transcript_studies(user)
    ).select_related("interview__participant__study")


def study_of(transcript: Transcript) -> Study:
    return transcript.interview.participant.study


def _require_reader(user, study: Study) -> None:
    if not can_read_transcripts(user, study):
        raise DomainError(
            f"You are not on the qualitative team of {study}, so you cannot code "
            "its transcripts."
        )


# ---------------------------------------------------------------------------
# The codebook


def codebook(study: Study) -> list[Theme]:
    """The study's themes in order, each with its codes prefetched."""
    return list(Theme.objects.filter(study=study).prefetch_related("codes"))


@transaction.atomic
def add_theme(*, study: Study, name: str, description: str = "", user) -> Theme:
    _require_reader(user, study)
    name = " ".join(name.split())
    if not name:
        raise DomainError("Give the theme a name.", field="name")
    if Theme.objects.filter(study=study, name__iexact=name).exists():
        raise DomainError(
            f"The codebook already has a theme called “{name}”.", field="name"
        )
    last = Theme.objects.filter(study=study).aggregate(last=Max("order"))["last"]
    return Theme.objects.create(
        study=study,
        name=name,
        description=description.strip(),
        order=(last or 0) + 1,
    )


@transaction.atomic
def add_code(*, theme: Theme, name: str, definition: str, user) -> Code:
    """A code under ``theme``; its name is unique within the study's codebook."""
    _require_reader(user, theme.study)
    name = " ".join(name.split())
    definition = definition.strip()
    if not name:
        raise DomainError("Give the code a name.", field="name")
    if not definition:
        raise DomainError(
            "Write a definition: coders apply the code by it.", field="definition"
        )
    clash = (
        Code.objects.filter(theme__study=theme.study, name__iexact=name)
        .select_related("theme")
        .first()
    )
    if clash is not None:
        raise DomainError(
            f"The codebook already has a code called “{clash.name}” "
            f"(under “{clash.theme.name}”).",
            field="name",
        )
    last = theme.codes.aggregate(last=Max("order"))["last"]
    return Code.objects.create(
        theme=theme, name=name, definition=definition, order=(last or 0) + 1
    )


# ---------------------------------------------------------------------------
# Coding passages and memos


@transaction.atomic
def code_passage(
    *,
    transcript: Transcript,
    coder,
    start: int,
    end: int,
    codes: Iterable[Code],
    memo: str = "",
) -> CodedSegment:
    """Apply ``codes`` to characters ``start`` to ``end`` of the transcript."""
    study = study_of(transcript)
    _require_reader(coder, study)
    length = len(transcript.text)
    if start is None or end is None:
        raise DomainError("Select the passage to code.", field="start")
    if start < 0 or start >= length:
        raise DomainError(
            f"The passage must start within the transcript (0 to {length - 1}).",
            field="start",
        )
    if end <= start:
        raise DomainError(
            "The passage must end after it starts: select at least one character.",
            field="end",
        )
    if end > length:
        raise DomainError(
            f"The passage must end within the transcript (at most {length}).",
            field="end",
        )
    if not transcript.text[start:end].strip():
        raise DomainError("The selected passage is only blank space.", field="start")
    codes = list(codes)
    if not codes:
        raise DomainError("Choose at least one code for the passage.", field="codes")
    foreign = [code for code in codes if code.theme.study_id != study.pk]
    if foreign:
        raise DomainError(
            f"“{foreign[0].name}” is not in the codebook of {study}.", field="codes"
        )
    segment = CodedSegment.objects.create(
        transcript=transcript, coder=coder, start=start, end=end, memo=memo.strip()
    )
    segment.codes.set(codes)
    return segment


@transaction.atomic
def remove_segment(segment: CodedSegment, *, user) -> None:
    if segment.coder_id != user.pk:
        raise DomainError("You can only remove passages you coded yourself.")
    segment.delete()


@transaction.atomic
def add_memo(*, transcript: Transcript, author, text: str) -> Memo:
    _require_reader(author, study_of(transcript))
    text = text.strip()
    if not text:
        raise DomainError("Write the memo before saving it.", field="text")
    return Memo.objects.create(transcript=transcript, author=author, text=text)


def segments_of(transcript: Transcript, coder) -> QuerySet[CodedSegment]:
    """One coder's own passages: a second coder never sees the first's."""
    # Through the related manager each segment holds ``transcript`` itself, so
    # ``segment.passage`` needs no query.
    return (
        transcript.segments.filter(coder=coder)
        .prefetch_related("codes__theme")
        .order_by("start", "end", "pk")
    )


# ---------------------------------------------------------------------------
# Agreement between two coders


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two raters' paired ratings (0/1 or any categories).

    None when it is undefined: no ratings, or both raters gave every unit the
    same single category, so agreement expected by chance is already perfect.
    """
    if len(a) != len(b):
        raise ValueError("Both raters must rate the same units.")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


# A sentence runs to its closing punctuation (and any closing quote or bracket)
# followed by space, or to the end of the line or text.
SENTENCE = re.compile(r"\S.*?(?:[.!?…]+[\"'”’)\]]*(?=\s|\Z)|(?=\n)|\Z)", re.DOTALL)


def units(text: str) -> list[tuple[int, int]]:
    """The sentence units of ``text`` as (start, end) character offsets."""
    return [
        (match.start(), match.start() + len(match.group().rstrip()))
        for match in SENTENCE.finditer(text)
    ]


@dataclass(frozen=True)
class CodeAgreement:
    code: Code
    both: int
    only_a: int
    only_b: int
    neither: int
    kappa: float | None

    @property
    def units(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @property
    def percent_agreement(self) -> float | None:
        if not self.units:
            return None
        return 100 * (self.both + self.neither) / self.units

    @property
    def undefined_because(self) -> str:
        """Why kappa is undefined, in words; empty when it is defined."""
        if self.kappa is not None:
            return ""
        if not self.units:
            return "No transcript was coded by both coders."
        if self.both == self.units:
            return "Undefined: both coders applied this code to every sentence."
        return "Undefined: neither coder applied this code to any sentence."


def coders_of(study: Study) -> QuerySet:
    """Users with at least one coded passage in the study's transcripts."""
    return (
        get_user_model()
        .objects.filter(
            segments__transcript__interview__participant__study=study,
        )
        .distinct()
        .order_by("username")
    )


def agreement(study: Study, coder_a, coder_b) -> list[CodeAgreement]:
    """Per code of the codebook: how two coders' units compare, and kappa.

    Only transcripts both coders coded (at least one passage each) count.
    """
    segments = list(
        CodedSegment.objects.filter(
            transcript__interview__participant__study=study,
            coder__in=[coder_a, coder_b],
        ).prefetch_related("codes")
    )
    coded_by: dict[int, set[int]] = {}
    for segment in segments:
        coded_by.setdefault(segment.transcript_id, set()).add(segment.coder_id)
    shared = sorted(
        pk for pk, coders in coded_by.items() if {coder_a.pk, coder_b.pk} <= coders
    )
    texts = dict(Transcript.objects.filter(pk__in=shared).values_list("pk", "text"))
    codes = [code for theme in codebook(study) for code in theme.codes.all()]
    ratings = {(code.pk, who): [] for code in codes for who in (coder_a.pk, coder_b.pk)}
    for pk in shared:
        spans = units(texts[pk])
        for who in (coder_a.pk, coder_b.pk):
            own = [s for s in segments if s.transcript_id == pk and s.coder_id == who]
            for code in codes:
                with_code = [s for s in own if code in s.codes.all()]
                ratings[code.pk, who].extend(
                    int(any(s.start < end and s.end > start for s in with_code))
                    for start, end in spans
                )
    result = []
    for code in codes:
        a, b = ratings[code.pk, coder_a.pk], ratings[code.pk, coder_b.pk]
        pairs = Counter(zip(a, b, strict=True))
        result.append(
            CodeAgreement(
                code=code,
                both=pairs[1, 1],
                only_a=pairs[1, 0],
                only_b=pairs[0, 1],
                neither=pairs[0, 0],
                kappa=cohen_kappa(a, b),
            )
        )
    return result
