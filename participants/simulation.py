"""Test data for a study being set up: made-up participants, through the real services.

``simulate`` screens, consents and enrols synthetic patients at every site of a
study over the past weeks, then has them answer each timepoint's questionnaires
as the calendar reaches it: every step goes through the service a clinic or a
patient uses (screening, consent, enrolment, the questionnaire's pages and
submission, staff entry), told the day or moment it happened, with the visit
status sweep run for each simulated day. Nothing here knows any study's
instruments, scores, timepoints or sites: answers are drawn from each
instrument's definition and pass through the form the patient pages use, so
branching, ranges, choices and required items are respected and calculated
fields are left to the engine.

Everything made is marked as test data (``ScreeningRecord.is_test_data``,
``Participant.is_test_data``), which a study in production leaves out of its
analyses and downloads. Contact details are made up and ask for no messages, so
no reminder ever leaves for them. The same study, seed and day give the same data.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from instruments import questionnaire
from instruments import responses as response_service
from instruments.definitions import Definition, Item
from instruments.forms import InstrumentForm
from instruments.models import Instrument, ResponseMode
from participants import consent, enrolment, schedule
from participants.contacts import ContactDetails
from participants.models import (
    Channel,
    ConsentMethod,
    DeclineReason,
    Participant,
    Role,
    ScreeningOutcome,
    ScreeningRecord,
    Site,
    StaffMembership,
    Study,
    StudyPhase,
    Timepoint,
    Visit,
    VisitStatus,
)
from participants.screening import record_screening
from studyportal.errors import DomainError

DEFAULT_FOLLOWUP_RATE = 0.7
# Enrolment is spread over this many times the days from enrolment to the close
# of the last timepoint's window: about half the cohort has been through every
# timepoint, the rest are in a window or waiting for one.
RECRUITMENT_SPAN_FACTOR = 2
MIN_RECRUITMENT_DAYS = 28
# Those screened but not enrolled, as shares of the participants asked for:
# enough for every box of the CONSORT diagram to have people in it.
INELIGIBLE_SHARE = 0.25
DECLINED_SHARE = 0.2
NOT_APPROACHED_SHARE = 0.05
# Days from screening to consent and enrolment.
SCREENING_LAGS = [0, 0, 0, 0, 1, 2, 3, 7]
# Days from enrolment to completing the first timepoint.
FIRST_VISIT_LAGS = [0, 0, 0, 0, 0, 0, 1, 2, 3, 5, 8]
# Mean days from a follow-up window opening to its completion.
FOLLOWUP_MEAN_DELAY = 6
ELECTRONIC_CONSENT_SHARE = 0.75
OPTIONAL_STATEMENT_SHARE = 0.6
# Each optional question is left blank this often.
OPTIONAL_SKIP_RATE = 0.05
DEVICES = ["phone", "phone", "desktop", "tablet"]
DECLINE_DETAIL = "Made up for testing"
TEXT_ANSWERS = ["Test answer", "Made-up answer for testing", "Nothing to add"]
NOTES_ANSWER = "A longer made-up answer, written to test how free text is handled."
TEST_EMAIL_DOMAIN = "example.invalid"
# Ofcom's drama range: never anyone's number (participants.contacts.DRAMA_MOBILES).
TEST_PHONE_PREFIX = "+44 7700 900"
# Without limits of their own, numbers and dates are drawn from these spans.
NUMBER_SPAN = 100
DATE_SPAN_DAYS = 365 * 80


class SimulationError(DomainError):
    """A simulation the study cannot take, with the reason."""


@dataclass
class Simulated:
    """What one run made, for the command to print."""

    study: Study
    seed: int
    screened: Counter = field(default_factory=Counter)
    unmet: Counter = field(default_factory=Counter)
    enrolled: Counter = field(default_factory=Counter)
    visits: dict[str, Counter] = field(default_factory=dict)

    def lines(self) -> list[str]:
        outcomes = "; ".join(
            f"{ScreeningOutcome(outcome).label.lower()} {self.screened[outcome]}"
            for outcome in ScreeningOutcome.values
            if self.screened[outcome]
        )
        lines = [
            f"{self.study.slug}: made {sum(self.enrolled.values())} participants "
            f"(seed {self.seed}), all marked as test data",
            f"  screened {sum(self.screened.values())}: {outcomes}",
            "  enrolled by site: "
            + ", ".join(f"{code} {n}" for code, n in sorted(self.enrolled.items())),
        ]
        if self.unmet:
            lines.append(
                "  not eligible for want of: "
                + ", ".join(f"{code} {n}" for code, n in sorted(self.unmet.items()))
            )
        for code, statuses in self.visits.items():
            counts = ", ".join(
                f"{VisitStatus(status).label.lower()} {statuses[status]}"
                for status in VisitStatus.values
                if statuses[status]
            )
            lines.append(f"  {code} visits: {counts}")
        return lines


def recruitment_days(study: Study) -> int:
    """How far back enrolment starts (see RECRUITMENT_SPAN_FACTOR)."""
    last = study.timepoints.order_by("-order").first()
    closes = last.offset_days + last.window_after_days if last else 0
    return max(RECRUITMENT_SPAN_FACTOR * closes, MIN_RECRUITMENT_DAYS)


def allocate(total: int, weights: list[int]) -> list[int]:
    """``total`` shared in proportion to ``weights`` (equally when all are 0),
    by largest remainder; every share gets one first when the total allows."""
    if not weights:
        return []
    if not any(weights):
        weights = [1] * len(weights)
    shares = [0] * len(weights)
    if total >= len(weights):
        shares = [1] * len(weights)
    rest = total - sum(shares)
    exact = [rest * w / sum(weights) for w in weights]
    shares = [s + math.floor(e) for s, e in zip(shares, exact, strict=True)]
    order = sorted(
        range(len(weights)), key=lambda i: (-(exact[i] - math.floor(exact[i])), i)
    )
    for index in order[: total - sum(shares)]:
        shares[index] += 1
    return shares


# ---------------------------------------------------------------------------
# Answers drawn from a definition


def _number_bounds(item: Item) -> tuple[float, float]:
    low = None if item.min is None else float(item.min)
    high = None if item.max is None else float(item.max)
    if low is None and high is None:
        return 0.0, float(NUMBER_SPAN)
    if low is None:
        return high - NUMBER_SPAN, high
    if high is None:
        return low, low + NUMBER_SPAN
    return low, high


def _date_bounds(item: Item, today: dt.date) -> tuple[dt.date, dt.date]:
    def bound(value):
        if value is None:
            return None
        if value == "today":
            return today
        return dt.date.fromisoformat(str(value))

    low, high = bound(item.min), bound(item.max)
    span = dt.timedelta(days=DATE_SPAN_DAYS)
    if low is None and high is None:
        return today - span, today
    if low is None:
        return high - span, high
    if high is None:
        return low, max(low, today)
    return low, high


def draw_value(item: Item, rng: random.Random, *, today: dt.date):
    """A valid answer to ``item`` as a form would post it; None to leave it blank."""
    if not item.is_answerable:
        return None
    if not item.required and rng.random() < OPTIONAL_SKIP_RATE:
        return None
    codes = [code for code, _ in item.choice_list]
    if item.type in ("radio", "dropdown", "yesno", "rating"):
        return rng.choice(codes)
    if item.type == "checkbox":
        ticked = set(rng.sample(codes, rng.randint(1, min(3, len(codes)))))
        return [code for code in codes if code in ticked]
    if item.type == "integer":
        low, high = _number_bounds(item)
        return str(rng.randint(math.ceil(low), math.floor(high)))
    if item.type == "decimal":
        low, high = _number_bounds(item)
        places = 1 if item.decimals is None else item.decimals
        scale = 10**places
        steps = rng.randint(math.ceil(low * scale), math.floor(high * scale))
        return str(Decimal(steps).scaleb(-places))
    if item.type == "date":
        low, high = _date_bounds(item, today)
        return (low + dt.timedelta(days=rng.randint(0, (high - low).days))).isoformat()
    if item.validation == "email":
        return f"test.{rng.randint(1000, 9999)}@{TEST_EMAIL_DOMAIN}"
    if item.validation == "phone":
        return f"{TEST_PHONE_PREFIX}{rng.randint(0, 999):03d}"
    if item.type == "notes":
        return NOTES_ANSWER
    return rng.choice(TEXT_ANSWERS)


def filled_form(
    definition: Definition,
    rng: random.Random,
    *,
    today: dt.date,
    sections: list[int] | None = None,
    saved: dict | None = None,
) -> InstrumentForm:
    """The instrument's form (or a page of it) filled in and validated as the
    patient pages and staff entry validate it; hidden items are dropped there."""
    indexes = range(len(definition.sections)) if sections is None else sections
    data: dict = {}
    for index in indexes:
        for item in definition.sections[index].items:
            value = draw_value(item, rng, today=today)
            if value is not None:
                data[item.name] = value
    form = InstrumentForm(
        data, definition=definition, sections=sections, answers=saved, today=today
    )
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
        )
        raise SimulationError(
            f"{definition.slug}: drawn answers were refused ({problems})"
        )
    return form


# ---------------------------------------------------------------------------
# The plan: who is screened, enrolled and answers when


@dataclass
class _Screening:
    site: Site
    day: dt.date
    outcome: str
    unmet: str = ""
    decline_reason: str = ""
    record: ScreeningRecord | None = None


@dataclass
class _Person:
    number: int
    screening: _Screening
    enrol_on: dt.date
    # Timepoint pk to the day its visit is completed.
    completes: dict[int, dt.date] = field(default_factory=dict)
    participant: Participant | None = None


@dataclass(order=True)
class _Event:
    moment: dt.datetime
    sequence: int
    kind: str = field(compare=False)
    subject: object = field(compare=False)
    timepoint: Timepoint | None = field(compare=False, default=None)


def _moment(day: dt.date, rng: random.Random, *, first: int, last: int) -> dt.datetime:
    """A time between ``first`` and ``last`` o'clock on ``day``, in the time
    zone whose date the services read."""
    at = dt.time(rng.randint(first, last), rng.randint(0, 59))
    return timezone.make_aware(dt.datetime.combine(day, at))


def _days_ago(today: dt.date, rng: random.Random, span: int) -> dt.date:
    return today - dt.timedelta(days=rng.randint(1, span))


def _plan_screenings(
    study: Study, sites: list[Site], n: int, rng: random.Random, today: dt.date
) -> tuple[list[_Person], list[_Screening]]:
    span = recruitment_days(study)
    weights = [site.recruitment_target for site in sites]
    people = []
    enrolling = [
        site
        for site, count in zip(sites, allocate(n, weights), strict=True)
        for _ in range(count)
    ]
    for number, site in enumerate(enrolling, start=1):
        enrol_on = _days_ago(today, rng, span)
        screened_on = enrol_on - dt.timedelta(days=rng.choice(SCREENING_LAGS))
        screening = _Screening(site, screened_on, ScreeningOutcome.CONSENTING)
        people.append(_Person(number, screening, enrol_on))
    criteria = list(study.criteria.order_by("order").values_list("code", flat=True))
    others: list[tuple[str, str, str]] = []
    if criteria:
        ineligible = max(len(criteria), round(INELIGIBLE_SHARE * n))
        others += [
            (ScreeningOutcome.INELIGIBLE, criteria[i % len(criteria)], "")
            for i in range(ineligible)
        ]
    reasons = list(DeclineReason.values)
    declined = max(len(reasons), round(DECLINED_SHARE * n))
    others += [
        (ScreeningOutcome.DECLINED, "", reasons[i % len(reasons)])
        for i in range(declined)
    ]
    others += [(ScreeningOutcome.NOT_APPROACHED, "", "")] * round(
        NOT_APPROACHED_SHARE * n
    )
    rng.shuffle(others)
    places = [
        site
        for site, count in zip(sites, allocate(len(others), weights), strict=True)
        for _ in range(count)
    ]
    screenings = [
        _Screening(site, _days_ago(today, rng, span), outcome, unmet, reason)
        for site, (outcome, unmet, reason) in zip(places, others, strict=True)
    ]
    return people, screenings


def _plan_visits(
    people: list[_Person],
    timepoints: list[Timepoint],
    rate: float,
    rng: random.Random,
    today: dt.date,
) -> None:
    """The day each visit is completed, if it is completed before today.

    The first timepoint is completed by everyone, at enrolment or soon after.
    At each later one exactly ``rate`` of those whose window has closed
    completed it (rounded), and ``rate`` of those whose window is open will,
    some of them not yet; the rest miss it.
    """
    first, *later = timepoints
    for person in people:
        window = schedule.window(first, person.enrol_on)
        day = min(
            person.enrol_on + dt.timedelta(days=rng.choice(FIRST_VISIT_LAGS)),
            window.closes_on,
        )
        if day < today:
            person.completes[first.pk] = day
    for timepoint in later:
        windows = {p.number: schedule.window(timepoint, p.enrol_on) for p in people}
        closed = [p for p in people if windows[p.number].closes_on < today]
        opened = [
            p
            for p in people
            if windows[p.number].opens_on < today <= windows[p.number].closes_on
        ]
        for group in (closed, opened):
            for person in rng.sample(group, round(rate * len(group))):
                window = windows[person.number]
                length = (window.closes_on - window.opens_on).days
                delay = min(int(rng.expovariate(1 / FOLLOWUP_MEAN_DELAY)), length)
                day = window.opens_on + dt.timedelta(days=delay)
                if day < today:
                    person.completes[timepoint.pk] = day


def _events(
    people: list[_Person],
    screenings: list[_Screening],
    timepoints: list[Timepoint],
    rng: random.Random,
) -> list[_Event]:
    events = []

    def add(moment, kind, subject, timepoint=None):
        events.append(_Event(moment, len(events), kind, subject, timepoint))

    for screening in screenings:
        add(_moment(screening.day, rng, first=9, last=16), "screen", screening)
    first = timepoints[0]
    for person in people:
        screened = _moment(person.screening.day, rng, first=9, last=15)
        add(screened, "screen", person.screening)
        enrolled = _moment(person.enrol_on, rng, first=9, last=15)
        enrolled = max(enrolled, screened + dt.timedelta(minutes=20))
        add(enrolled, "enrol", person)
        for timepoint in timepoints:
            day = person.completes.get(timepoint.pk)
            if day is None:
                continue
            if timepoint == first and day == person.enrol_on:
                # On the clinic's tablet, once enrolment is done.
                moment = enrolled + dt.timedelta(minutes=rng.randint(5, 30))
            else:
                moment = _moment(day, rng, first=8, last=20)
            add(moment, "answer", person, timepoint)
    return sorted(events)


# ---------------------------------------------------------------------------
# Carrying the plan out through the services


def simulation_staff(site: Site):
    """The clinic staff account that simulated screenings and enrolments are
    recorded by: one per site, made once, never able to log in."""
    username = f"simulation-{site.study.slug}-{site.code.lower()}"
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": "Simulation", "last_name": site.code},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    StaffMembership.objects.get_or_create(
        user=user, study=site.study, site=site, role=Role.CLINIC_STAFF
    )
    return user


@dataclass
class _Run:
    rng: random.Random
    staff: dict[int, object]
    numbering: int
    characteristics: Definition | None
    form: object
    statements: list
    first_timepoint: Timepoint
    criteria: list[str]

    def screen(self, plan: _Screening, moment: dt.datetime) -> None:
        plan.record = record_screening(
            site=plan.site,
            screened_on=plan.day,
            criteria_met={code: code != plan.unmet for code in self.criteria},
            outcome=None
            if plan.outcome == ScreeningOutcome.INELIGIBLE
            else plan.outcome,
            decline_reason=plan.decline_reason,
            decline_detail=DECLINE_DETAIL
            if plan.decline_reason == DeclineReason.OTHER
            else "",
            user=self.staff[plan.site.pk],
            today=timezone.localdate(moment),
            is_test_data=True,
        )

    def enrol(self, person: _Person, moment: dt.datetime) -> None:
        day = timezone.localdate(moment)
        user = self.staff[person.screening.site.pk]
        name = f"Test Participant {self.numbering + person.number:04d}"
        electronic = self.rng.random() < ELECTRONIC_CONSENT_SHARE
        consent.record_consent(
            screening=person.screening.record,
            form=self.form,
            method=ConsentMethod.ELECTRONIC if electronic else ConsentMethod.PAPER,
            agreed={
                s.code: s.required or self.rng.random() < OPTIONAL_STATEMENT_SHARE
                for s in self.statements
            },
            consented_on=day,
            taken_by=user,
            today=day,
            typed_name=name if electronic else "",
        )
        characteristics = None
        if self.characteristics is not None:
            characteristics = filled_form(
                self.characteristics, self.rng, today=day
            ).all_answers()
        person.participant = enrolment.enrol(
            screening=person.screening.record,
            contact=ContactDetails(
                full_name=name,
                preferred_channel=Channel.NONE,
                time_zone=person.screening.site.time_zone,
            ),
            characteristics=characteristics,
            user=user,
            today=day,
            now=moment,
        )

    def answer(self, person: _Person, timepoint: Timepoint, start: dt.datetime):
        """The visit's questionnaires: staff ones entered by staff, the
        patient's answered page by page and submitted."""
        day = timezone.localdate(start)
        visit = Visit.objects.select_related("participant", "timepoint").get(
            participant=person.participant, timepoint=timepoint
        )
        entered = set(visit.responses.values_list("instrument__slug", flat=True))
        links = timepoint.instruments.select_related("instrument").order_by("order")
        moment = start
        for link in links:
            instrument = link.instrument
            if instrument.respondent != "staff" or instrument.slug in entered:
                continue
            moment += dt.timedelta(minutes=self.rng.randint(2, 6))
            definition = instrument.latest_version().parsed
            response_service.record_staff_entry(
                visit=visit,
                slug=instrument.slug,
                answers=filled_form(definition, self.rng, today=day).all_answers(),
                user=self.staff[person.participant.site_id],
                mode=ResponseMode.STAFF,
                today=day,
                now=moment,
            )
        pages = questionnaire.pages_for(visit)
        if not pages:
            questionnaire.complete_if_all_submitted(visit, now=moment)
            return
        at_clinic = day == person.enrol_on and timepoint == self.first_timepoint
        device = "tablet" if at_clinic else self.rng.choice(DEVICES)
        mode = ResponseMode.TABLET if at_clinic else ResponseMode.WEB
        for page in pages:
            moment += dt.timedelta(minutes=self.rng.randint(1, 4))
            saved = questionnaire.answers_for(visit).get(page.instrument.pk, {})
            form = filled_form(
                page.definition,
                self.rng,
                today=day,
                sections=list(page.sections),
                saved=saved,
            )
            questionnaire.save_page(
                visit, page, form.page_answers(), mode=mode, device=device, now=moment
            )
        moment += dt.timedelta(minutes=1)
        questionnaire.submit(visit, mode=mode, device=device, now=moment)


@transaction.atomic
def simulate(
    study: Study,
    *,
    participants: int,
    followup_rate: float = DEFAULT_FOLLOWUP_RATE,
    seed: int,
    today: dt.date | None = None,
    force: bool = False,
) -> Simulated:
    """Enrol ``participants`` synthetic patients, marked as test data, over the
    past weeks up to ``today``, and run their visits until ``today``.

    Refuses a study in production unless ``force``: its data are real.
    """
    if study.phase == StudyPhase.PRODUCTION and not force:
        raise SimulationError(
            f"{study.slug} is in production: its data are real, and test data "
            "would sit beside them. Move the study back to set-up first, or "
            "force the simulation (--force)."
        )
    if participants < 1:
        raise SimulationError("Ask for at least one participant.")
    if not 0 <= followup_rate <= 1:
        raise SimulationError("The follow-up rate is a share between 0 and 1.")
    sites = list(study.sites.filter(is_active=True).order_by("code"))
    if not sites:
        raise SimulationError(f"{study.slug} has no active site to enrol at.")
    timepoints = list(study.timepoints.order_by("order"))
    if not timepoints:
        raise SimulationError(f"{study.slug} has no timepoints.")
    today = today or timezone.localdate()
    rng = random.Random(seed)
    people, screenings = _plan_screenings(study, sites, participants, rng, today)
    _plan_visits(people, timepoints, followup_rate, rng, today)
    events = _events(people, screenings, timepoints, rng)

    slug = enrolment.characteristics_instrument_slug(study)
    form = consent.current_form(study)
    run = _Run(
        rng=rng,
        staff={site.pk: simulation_staff(site) for site in sites},
        numbering=Participant.objects.filter(study=study, is_test_data=True).count(),
        characteristics=(
            Instrument.objects.get(slug=slug).latest_version().parsed if slug else None
        ),
        form=form,
        statements=list(form.statements.order_by("order")),
        first_timepoint=timepoints[0],
        criteria=list(study.criteria.values_list("code", flat=True)),
    )
    swept = None
    for event in events:
        day = timezone.localdate(event.moment)
        if day != swept:
            schedule.update_statuses(day, study=study)
            swept = day
        if event.kind == "screen":
            run.screen(event.subject, event.moment)
        elif event.kind == "enrol":
            run.enrol(event.subject, event.moment)
        else:
            run.answer(event.subject, event.timepoint, event.moment)
    schedule.update_statuses(today, study=study)
    return _summary(study, seed, people, screenings, timepoints)


def _summary(study, seed, people, screenings, timepoints) -> Simulated:
    result = Simulated(study=study, seed=seed)
    plans = [person.screening for person in people] + screenings
    result.screened.update(
        ScreeningRecord.objects.filter(
            pk__in=[plan.record.pk for plan in plans]
        ).values_list("outcome", flat=True)
    )
    result.unmet.update(plan.unmet for plan in plans if plan.unmet)
    made = [person.participant.pk for person in people]
    result.enrolled.update(
        Participant.objects.filter(pk__in=made).values_list("site__code", flat=True)
    )
    for timepoint in timepoints:
        result.visits[timepoint.code] = Counter(
            Visit.objects.filter(participant__in=made, timepoint=timepoint).values_list(
                "status", flat=True
            )
        )
    return result
