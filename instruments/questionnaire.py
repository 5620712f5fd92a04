"""A visit's questionnaire as the patient meets it: pages, saving, resuming, submitting.

Pages are the visit's patient instruments in order, a long instrument split at its
sections. Every page change saves what the patient entered, so closing the
browser loses nothing; submission happens once, under a lock on the visit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from instruments import answers as answer_rules
from instruments.definitions import Definition
from instruments.models import (
    Instrument,
    InstrumentVersion,
    Response,
    ResponseMode,
    ResponseStatus,
)
from instruments.responses import scores_for
from instruments.wording import as_text
from participants import followup
from participants.models import (
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Visit,
    VisitStatus,
)
from studyportal.errors import DomainError

# An instrument with more items than this is split into one page per section.
ITEMS_PER_PAGE = 16


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    instrument: Instrument
    version: InstrumentVersion
    sections: tuple[int, ...]

    @property
    def definition(self) -> Definition:
        return self.version.parsed

    @property
    def title(self) -> str:
        if len(self.sections) == len(self.definition.sections):
            return self.definition.title
        titles = [as_text(self.definition.sections[i].title) for i in self.sections]
        return f"{self.definition.title}: {' / '.join(t for t in titles if t)}"

    def item_names(self) -> list[str]:
        return [
            item.name
            for index in self.sections
            for item in self.definition.sections[index].items
            if item.is_answerable
        ]


def versions_for(visit: Visit) -> list[tuple[Instrument, InstrumentVersion]]:
    """The patient instruments of the visit, each at the version it is answered with.

    A started response keeps its version; otherwise the latest is used.
    """
    started = {r.instrument_id: r.instrument_version for r in _responses(visit)}
    instruments = [
        link.instrument
        for link in visit.timepoint.instruments.select_related("instrument").order_by(
            "order"
        )
        if link.instrument.respondent == "patient"
    ]
    latest: dict[int, InstrumentVersion] = {}
    missing = [i.pk for i in instruments if i.pk not in started]
    if missing:
        newest_first = (
            InstrumentVersion.objects.filter(instrument_id__in=missing)
            .defer("definition")
            .order_by("instrument_id", "-number")
        )
        for version in newest_first:
            latest.setdefault(version.instrument_id, version)
    chosen = []
    for instrument in instruments:
        version = started.get(instrument.pk) or latest.get(instrument.pk)
        if version is not None:
            chosen.append((instrument, version))
    return chosen


def pages_for(visit: Visit) -> list[Page]:
    pages: list[Page] = []
    for instrument, version in versions_for(visit):
        definition = version.parsed
        count = sum(1 for _ in definition.items())
        if count > ITEMS_PER_PAGE and len(definition.sections) > 1:
            groups = [(index,) for index in range(len(definition.sections))]
        else:
            groups = [tuple(range(len(definition.sections)))]
        for sections in groups:
            pages.append(Page(len(pages) + 1, instrument, version, sections))
    return pages


def _responses(visit: Visit) -> list[Response]:
    """The visit's responses, read once per request (pages and answers share them)."""
    cached = getattr(visit, "_questionnaire_responses", None)
    if cached is None:
        cached = list(
            visit.responses.select_related("instrument_version").defer(
                "instrument_version__definition"
            )
        )
        visit._questionnaire_responses = cached
    return cached


def forget_responses(visit: Visit) -> None:
    visit.__dict__.pop("_questionnaire_responses", None)


def answers_for(visit: Visit) -> dict[int, dict]:
    return {r.instrument_id: r.answers for r in _responses(visit)}


def check_open(visit: Visit, *, today: dt.date | None = None) -> None:
    """DomainError("closed" or "completed") unless the visit may be answered
    ``today`` (the real date unless given)."""
    # A participant who completed the study still sees their visit completed.
    if visit.participant.status not in (
        ParticipantStatus.ACTIVE,
        ParticipantStatus.COMPLETED,
    ):
        raise DomainError("closed")
    if visit.status == VisitStatus.COMPLETED:
        raise DomainError("completed")
    today = today or timezone.localdate()
    if (
        visit.status != VisitStatus.OPEN
        or not visit.opens_on <= today <= visit.closes_on
    ):
        raise DomainError("closed")


@transaction.atomic
def save_page(
    visit: Visit,
    page: Page,
    page_answers: dict,
    *,
    mode: str,
    device: str,
    user=None,
    now: dt.datetime | None = None,
) -> Response:
    """Merge one page's answers into the instrument's response.

    Only this page's items are replaced, so two tabs on different pages do not
    overwrite each other; hidden items on the page lose their answers. ``now``
    (the real time unless given) is when the page is saved.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    locked = Visit.objects.select_for_update().get(pk=visit.pk)
    check_open(locked, today=today)
    response, _ = Response.objects.select_for_update().get_or_create(
        visit=locked,
        instrument=page.instrument,
        defaults={
            "instrument_version": page.version,
            "mode": mode,
            "entered_by": user,
            "paradata": {"device": device, "pages": []},
        },
    )
    if response.is_submitted:
        raise DomainError("completed")
    merged = {k: v for k, v in response.answers.items() if k not in page.item_names()}
    merged.update(page_answers)
    response.answers = answer_rules.resolve(
        page.definition, merged, today=today
    ).answers
    paradata = dict(response.paradata or {})
    paradata.setdefault("pages", []).append(
        {"page": page.number, "saved_at": now.isoformat(), "device": device}
    )
    paradata["device"] = device
    response.paradata = paradata
    response.save()
    forget_responses(visit)
    return response


def first_unanswered(visit: Visit, pages: list[Page]) -> int:
    """The page to resume on: the first with an unanswered, visible question."""
    saved = answers_for(visit)
    for page in pages:
        answers = saved.get(page.instrument.pk, {})
        resolved = answer_rules.resolve(page.definition, answers)
        for name in page.item_names():
            if name not in resolved.hidden and name not in resolved.answers:
                return page.number
    return len(pages) + 1 if pages else 1


def missing_required(visit: Visit, pages: list[Page]) -> list[Page]:
    """Pages with a required, visible question still unanswered."""
    saved = answers_for(visit)
    lacking = []
    for page in pages:
        answers = saved.get(page.instrument.pk, {})
        resolved = answer_rules.resolve(page.definition, answers)
        for index in page.sections:
            for item in page.definition.sections[index].items:
                if (
                    item.required
                    and item.name not in resolved.hidden
                    and item.name not in resolved.answers
                ):
                    lacking.append(page)
                    break
            else:
                continue
            break
    return lacking


@transaction.atomic
def submit(
    visit: Visit,
    *,
    mode: str,
    device: str,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Submit every response of the visit once; False if it was already submitted.

    The visit row lock serialises double clicks and second tabs: the first
    submits, the others find the visit completed. ``now`` (the real time unless
    given) is the moment of submission; ``today``, its date unless given, is
    the day calculated items are worked out for.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    locked = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("participant", "timepoint")
        .get(pk=visit.pk)
    )
    if locked.status == VisitStatus.COMPLETED:
        return False
    check_open(locked, today=timezone.localdate(now))
    pages = pages_for(locked)
    if missing_required(locked, pages):
        raise DomainError("Some required questions are not answered yet.")
    # Read under the visit's lock, which every writer of its responses takes.
    started = {response.instrument_id: response for response in _responses(locked)}
    instruments = {page.instrument: page.version for page in pages}
    for instrument, version in instruments.items():
        response = started.get(instrument.pk) or Response(
            visit=locked, instrument=instrument, instrument_version=version, mode=mode
        )
        definition = response.instrument_version.parsed
        answers = answer_rules.resolve(
            definition, response.answers, today=today
        ).answers
        response.answers = answers
        response.scores = scores_for(definition, answers)
        response.status = ResponseStatus.SUBMITTED
        response.submitted_at = now
        paradata = dict(response.paradata or {})
        paradata.update({"submitted_at": now.isoformat(), "device": device})
        response.paradata = paradata
        response.save()
    _complete(locked, now)
    forget_responses(visit)
    return True


def _complete(visit: Visit, now) -> None:
    """Mark the visit done; its unsent reminders will never go. After the last
    visit the participant has completed the study."""
    visit.status = VisitStatus.COMPLETED
    visit.completed_at = now
    visit.next_message_at = None
    visit.save(update_fields=["status", "completed_at", "next_message_at"])
    OutboundMessage.objects.filter(visit=visit, status=MessageStatus.PENDING).update(
        status=MessageStatus.CANCELLED, error="visit completed"
    )
    followup.complete_finished_participants(
        Participant.objects.filter(pk=visit.participant_id)
    )


def device_class(user_agent: str) -> str:
    agent = user_agent.lower()
    if (
        "ipad" in agent
        or "tablet" in agent
        or ("android" in agent and "mobile" not in agent)
    ):
        return "tablet"
    if "mobi" in agent or "iphone" in agent:
        return "phone"
    return "desktop"


def response_mode(is_tablet: bool) -> str:
    return ResponseMode.TABLET if is_tablet else ResponseMode.WEB


@transaction.atomic
def complete_if_all_submitted(visit: Visit, *, now: dt.datetime | None = None) -> bool:
    """Mark the visit completed once every instrument it collects is submitted;
    ``now`` (the real time unless given) is when."""
    locked = Visit.objects.select_for_update().get(pk=visit.pk)
    if locked.status == VisitStatus.COMPLETED:
        return False
    expected = set(locked.timepoint.instruments.values_list("instrument_id", flat=True))
    submitted = set(
        locked.responses.filter(status=ResponseStatus.SUBMITTED).values_list(
            "instrument_id", flat=True
        )
    )
    if not expected or not expected <= submitted:
        return False
    _complete(locked, now or timezone.now())
    return True
