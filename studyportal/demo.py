"""The reference study and its demo users, for trying StudyPortal out."""

from __future__ import annotations

import datetime as dt
import functools
import random
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from instruments import answers as answer_rules
from instruments import questionnaire
from instruments.models import Response, ResponseMode, ResponseStatus
from instruments.responses import scores_for
from participants import (
    consent,
    enrolment,
    followup,
    measures,
    messaging,
    protocol,
    reminders,
    schedule,
    withdrawal,
    worklist,
)
from participants.contacts import ContactDetails
from participants.models import (
    Channel,
    ConsentMethod,
    DeclineReason,
    LostReason,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Role,
    ScreeningOutcome,
    StaffMembership,
    Study,
    StudyPhase,
    Visit,
    VisitStatus,
    WithdrawalReason,
)
from participants.screening import record_screening
from studyportal import synthetic

DEMO_PASSWORD = "studyportal-demo"

# The reference study is a protocol file like any other study's.
REFERENCE_PROTOCOL = protocol.STUDIES_DIR / "back_pain_partnership.yaml"


@functools.cache
def reference_protocol() -> protocol.Protocol:
    return protocol.read_file(REFERENCE_PROTOCOL)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    description: str


@transaction.atomic
def seed_reference_study() -> Study:
    """The reference study as its protocol file declares it, collecting data."""
    study = protocol.load(reference_protocol(), note="Demo").study
    Study.objects.filter(pk=study.pk).update(phase=StudyPhase.PRODUCTION)
    study.refresh_from_db()
    return study


@transaction.atomic
def seed_demo_users(study: Study) -> list[DemoLogin]:
    sites = list(study.sites.order_by("code"))
    clinic_staff = [
        (f"clinic{number}", Role.CLINIC_STAFF, site, f"clinic staff, {site}")
        for number, site in enumerate(sites, start=1)
    ]
    people = [
        *clinic_staff[:1],
        ("coordinator", Role.COORDINATOR, None, "coordinator, all sites"),
        ("investigator", Role.INVESTIGATOR, None, "investigator, all sites"),
        ("qualitative", Role.QUALITATIVE, None, "qualitative researcher, codes"),
        ("qualitative2", Role.QUALITATIVE, None, "qualitative researcher, 2nd coder"),
        *clinic_staff[1:],
    ]
    logins = []
    for username, role, site, description in people:
        user = _demo_user(username)
        StaffMembership.objects.get_or_create(
            user=user, study=study, site=site, role=role
        )
        logins.append(DemoLogin(username, description))
    _demo_user("admin", superuser=True)
    logins.append(DemoLogin("admin", "administrator (Django admin, study set-up)"))
    return logins


def _demo_user(username: str, *, superuser: bool = False):
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = superuser
    user.is_superuser = superuser
    user.is_active = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


# ---------------------------------------------------------------------------
# A study in progress: screened patients, participants and their questionnaires
#
# Screening, consent, enrolment, withdrawal and the questionnaires open today go
# through the services with ``today`` set to the day it happened; the answers
# come from ``studyportal.synthetic``. Three things the services cannot do for
# past days are done here, each in one helper: a visit whose window has already
# closed cannot be answered through the questionnaire (it checks the real
# clock), so ``_store_past_visits`` writes what the participants submitted back
# then; no service moves visits on as the calendar passes, so
# ``_bring_visits_up_to_date`` applies the schedule's own window rule; and
# ``_seed_message_history`` fills the outbox as the reminders would have.

DEMO_SEED = 2018
# Screening began this many days before today and enrolment ended
# DEMO_RECRUITMENT_ENDED days before: every follow-up window (days 76 to 104)
# has opened, and the last to enrol are in theirs today.
DEMO_SCREENING_DAYS = 300
DEMO_RECRUITMENT_ENDED = 78
DEMO_RAMP_UP = 1.2  # above 1: more enrolments lately
DEMO_ENROLLED = {"LDS": 55, "SHF": 50, "YRK": 42}
DEMO_NOT_ENROLLED = {"LDS": 36, "SHF": 32, "YRK": 28}
# Each clinic's own demo staff member screens and enrols its patients.
DEMO_SCREENED_BY = {"LDS": "clinic1", "SHF": "clinic2", "YRK": "clinic3"}
# Each reason below comes up this many times among those not enrolled, so that
# about three in five of those screened enrol.
DEMO_REASON_REPEATS = 4
# Why the ineligible patients were not eligible (one unmet criterion each).
DEMO_INELIGIBLE_BECAUSE = [
    "back_pain_3_months",
    "back_pain_3_months",
    "back_pain_3_months",
    "english",
    "english",
    "no_red_flags",
    "no_red_flags",
    "referred",
    "referred",
    "adult",
]
DEMO_DECLINED_BECAUSE = [
    (DeclineReason.NOT_INTERESTED, ""),
    (DeclineReason.NOT_INTERESTED, ""),
    (DeclineReason.NO_TIME, ""),
    (DeclineReason.NO_TIME, ""),
    (DeclineReason.TOO_UNWELL, ""),
    (DeclineReason.NO_INTERNET, ""),
    (DeclineReason.OTHER, "Already taking part in another study"),
    (DeclineReason.OTHER, "Wants to talk it over with family first"),
]
DEMO_NOT_APPROACHED = 6
DEMO_WITHDRAWALS = [
    (WithdrawalReason.TOO_BURDENSOME, "", True),
    (WithdrawalReason.OTHER, "Started a new job and has no time", True),
]
# Two who missed the follow-up were then marked lost to follow-up by the
# coordinator: the reason's category, and (sometimes) the coordinator's words.
DEMO_LOST = [
    (LostReason.MOVED, "Letters returned: no longer at the address we have"),
    (LostReason.NO_CONTACT, ""),
]
# As in the reference study: 103 of the 147 followed up (70%).
DEMO_FOLLOWED_UP = 103
# Of those whose follow-up window is open today, a few have submitted and a few
# have started; the rest have not begun, so the work list has people to chase.
DEMO_OPEN_SUBMITTED = 5
DEMO_OPEN_STARTED = 4
DEMO_DEVICES = ["phone", "phone", "desktop", "tablet"]
DEMO_EMAIL_DOMAIN = "example.invalid"
# Ofcom keeps 07700 900000-900999 for drama, so no demo text reaches a person;
# the contact form accepts the range (participants.contacts.DRAMA_MOBILES).
DEMO_MOBILE_PREFIX = "+447700900"


@dataclass(frozen=True)
class DemoCohort:
    screened: int
    enrolled: int
    withdrawn: int
    created: bool


@dataclass
class _Screening:
    site_code: str
    screened_on: dt.date
    outcome: str
    unmet: str = ""
    decline_reason: str = ""
    decline_detail: str = ""
    enrol_on: dt.date | None = None


@transaction.atomic
def seed_demo_participants(study: Study, *, today: dt.date) -> DemoCohort:
    """The reference study's cohort, at the point its follow-up is nearly done.

    Screened patients of whom DEMO_ENROLLED took part; each completed the
    baseline, DEMO_FOLLOWED_UP completed the follow-up, two withdrew keeping
    their data, some missed the follow-up (two of whom were then marked lost to
    follow-up) and the rest are in its window today.
    Answers come from ``studyportal.synthetic``, whose planted coefficients an
    analysis of these data recovers.

    Idempotent: a study that already has screening records is left alone.
    Deterministic: the same ``today`` always gives the same data. Needs the
    reference protocol and the demo users (``seed_demo_users``).
    """
    if study.screenings.exists():
        return _cohort(study, created=False)
    rng = random.Random(DEMO_SEED)
    sites = {site.code: site for site in study.sites.all()}
    staff = {
        code: get_user_model().objects.get(
            username=DEMO_SCREENED_BY.get(code, "coordinator")
        )
        for code in sites
    }
    codes = list(study.criteria.values_list("code", flat=True))
    plans = _plan_screenings(rng, today)
    records = []
    for plan in sorted(plans, key=lambda p: (p.screened_on, p.site_code)):
        records.append(
            (
                plan,
                record_screening(
                    site=sites[plan.site_code],
                    screened_on=plan.screened_on,
                    criteria_met={code: code != plan.unmet for code in codes},
                    outcome=plan.outcome,
                    decline_reason=plan.decline_reason,
                    decline_detail=plan.decline_detail,
                    user=staff[plan.site_code],
                    today=plan.screened_on,
                ),
            )
        )
    to_enrol = sorted(
        (pair for pair in records if pair[0].enrol_on),
        key=lambda pair: (pair[0].enrol_on, pair[1].pk),
    )
    people = list(
        synthetic.simulate(
            len(to_enrol),
            seed=DEMO_SEED,
            enrolled_on=[plan.enrol_on for plan, _ in to_enrol],
        )
    )
    form = consent.current_form(study)
    statements = list(form.statements.all())
    # Only the enrolment form the simulation fills in is given answers.
    with_characteristics = (
        enrolment.characteristics_instrument_slug(study) == synthetic.CHARACTERISTICS
    )
    participants = [
        _consent_and_enrol(
            screening,
            person,
            number,
            form=form,
            statements=statements,
            with_characteristics=with_characteristics,
            user=staff[plan.site_code],
            rng=rng,
        )
        for number, ((plan, screening), person) in enumerate(
            zip(to_enrol, people, strict=True), start=1
        )
    ]
    _run_visits(participants, people, rng, today)
    _seed_message_history(participants)
    _mark_some_lost(participants, rng, today)
    return _cohort(study, created=True)


def _cohort(study: Study, *, created: bool) -> DemoCohort:
    return DemoCohort(
        screened=study.screenings.count(),
        enrolled=study.participants.count(),
        withdrawn=study.participants.filter(status=ParticipantStatus.WITHDRAWN).count(),
        created=created,
    )


def _plan_screenings(rng: random.Random, today: dt.date) -> list[_Screening]:
    """Who was screened when, and what happened.

    Enrolments are spread over the whole period, a little more often lately as
    the clinics got into their stride.
    """
    plans = []
    enrolling = [code for code, n in DEMO_ENROLLED.items() for _ in range(n)]
    rng.shuffle(enrolling)
    span = DEMO_SCREENING_DAYS - DEMO_RECRUITMENT_ENDED
    for index, code in enumerate(enrolling):
        share = 1 - (index + rng.random()) / len(enrolling)
        days_ago = DEMO_RECRUITMENT_ENDED + int(span * share**DEMO_RAMP_UP)
        lag = rng.choice([0, 0, 0, 0, 1, 2, 3, 5, 7])
        enrol_on = today - dt.timedelta(days=days_ago)
        screened_on = max(
            enrol_on - dt.timedelta(days=lag),
            today - dt.timedelta(days=DEMO_SCREENING_DAYS),
        )
        plans.append(
            _Screening(
                code, screened_on, ScreeningOutcome.CONSENTING, enrol_on=enrol_on
            )
        )
    others = [code for code, n in DEMO_NOT_ENROLLED.items() for _ in range(n)]
    rng.shuffle(others)
    outcomes = (
        [
            (ScreeningOutcome.INELIGIBLE, unmet, "", "")
            for unmet in DEMO_INELIGIBLE_BECAUSE
        ]
        + [
            (ScreeningOutcome.DECLINED, "", reason, detail)
            for reason, detail in DEMO_DECLINED_BECAUSE
        ]
        + [(ScreeningOutcome.NOT_APPROACHED, "", "", "")] * DEMO_NOT_APPROACHED
    ) * DEMO_REASON_REPEATS
    rng.shuffle(outcomes)
    for code, (outcome, unmet, reason, detail) in zip(others, outcomes, strict=True):
        screened_on = today - dt.timedelta(
            days=rng.randint(DEMO_RECRUITMENT_ENDED, DEMO_SCREENING_DAYS)
        )
        plans.append(_Screening(code, screened_on, outcome, unmet, reason, detail))
    return plans


def _consent_and_enrol(
    screening,
    person: synthetic.SimulatedParticipant,
    number: int,
    *,
    form,
    statements,
    with_characteristics: bool,
    user,
    rng: random.Random,
) -> Participant:
    enrol_on = person.enrolled_on
    details = _demo_contact(number, person.date_of_birth, rng)
    electronic = rng.random() < 0.75
    consent.record_consent(
        screening=screening,
        form=form,
        method=ConsentMethod.ELECTRONIC if electronic else ConsentMethod.PAPER,
        agreed={
            statement.code: statement.required or rng.random() < 0.55
            for statement in statements
        },
        consented_on=enrol_on,
        taken_by=user,
        today=enrol_on,
        typed_name=details.full_name if electronic else "",
    )
    return enrolment.enrol(
        screening=screening,
        contact=details,
        characteristics=person.characteristics if with_characteristics else None,
        user=user,
        today=enrol_on,
    )


def _demo_contact(number: int, born: dt.date, rng: random.Random) -> ContactDetails:
    """Obviously made-up details: a numbered name and an email that cannot exist.

    The mobiles are in Ofcom's drama range, which reaches no one and which the
    contact form accepts, so staff can edit a demo participant's details.
    """
    channel = rng.choices(
        [Channel.EMAIL, Channel.SMS, Channel.BOTH, Channel.NONE], [45, 25, 20, 10]
    )[0]
    email = f"demo.participant{number:03d}@{DEMO_EMAIL_DOMAIN}"
    mobile = f"{DEMO_MOBILE_PREFIX}{100 + number:03d}"
    if channel == Channel.EMAIL and rng.random() < 0.3:
        mobile = ""
    if channel == Channel.SMS and rng.random() < 0.4:
        email = ""
    return ContactDetails(
        full_name=f"Demo Participant {number:03d}",
        email=email,
        mobile=mobile,
        preferred_channel=channel,
        time_zone="Europe/London",
        date_of_birth=born,
    )


def _run_visits(
    participants: list[Participant],
    people: list[synthetic.SimulatedParticipant],
    rng: random.Random,
    today: dt.date,
) -> None:
    """Baseline for everyone, and follow-up as far as the calendar has got."""
    first, second = participants[0].study.timepoints.order_by("order")[:2]
    visits = {
        (visit.participant_id, visit.timepoint_id): visit
        for visit in Visit.objects.filter(participant__in=participants)
    }
    # Every visit of a timepoint has the same pages until someone starts one.
    pages = {
        timepoint.pk: questionnaire.pages_for(visits[participants[0].pk, timepoint.pk])
        for timepoint in (first, second)
    }
    answers = {
        participant.pk: person.answers
        for participant, person in zip(participants, people, strict=True)
    }
    followup = {p.pk: visits[p.pk, second.pk] for p in participants}
    withdrawing = rng.sample(participants, len(DEMO_WITHDRAWALS))
    staying = [p for p in participants if p not in withdrawing]
    open_now = [
        p
        for p in staying
        if followup[p.pk].opens_on <= today <= followup[p.pk].closes_on
    ]
    open_state = _open_states(open_now, rng)
    submitting_now = sum(state == "submitted" for state in open_state.values())
    completed = {
        p.pk
        for p in rng.sample(
            [p for p in staying if followup[p.pk].closes_on < today],
            DEMO_FOLLOWED_UP - submitting_now,
        )
    }
    done = []
    for participant in participants:
        baseline = visits[participant.pk, first.pk]
        days = rng.choice([0, 0, 0, 0, 1, 2, 4, 9])
        on = min(participant.enrolled_on + dt.timedelta(days=days), baseline.closes_on)
        done.append(
            (baseline, pages[first.pk], answers[participant.pk][first.code], on)
        )
        if participant.pk in completed:
            visit = followup[participant.pk]
            days = min(int(rng.expovariate(1 / 6)), 27)
            on = visit.opens_on + dt.timedelta(days=days)
            done.append(
                (visit, pages[second.pk], answers[participant.pk][second.code], on)
            )
    _store_past_visits(done, rng)
    for participant, (reason, detail, keep_data) in zip(
        withdrawing, DEMO_WITHDRAWALS, strict=True
    ):
        before_followup = (
            followup[participant.pk].opens_on - participant.enrolled_on
        ).days
        withdrawal.withdraw(
            participant,
            withdrawn_on=participant.enrolled_on
            + dt.timedelta(days=rng.randint(20, before_followup - 1)),
            reason=reason,
            detail=detail,
            keep_data=keep_data,
            today=today,
        )
    _bring_visits_up_to_date(participants, today)
    for participant in open_now:
        _answer_open_visit(
            followup[participant.pk],
            open_state[participant.pk],
            pages[second.pk],
            answers[participant.pk][second.code],
            rng,
            today,
        )


def _mark_some_lost(
    participants: list[Participant], rng: random.Random, today: dt.date
) -> None:
    """A week after their follow-up window closed, a few who missed it are lost."""
    missed = list(
        Visit.objects.filter(
            participant__in=participants,
            participant__status=ParticipantStatus.ACTIVE,
            status=VisitStatus.MISSED,
            closes_on__lte=today - dt.timedelta(days=7),
        )
        .select_related("participant")
        .order_by("participant__pk", "timepoint__order")
    )
    chosen = rng.sample(
        list({visit.participant.pk: visit for visit in missed}.values()),
        len(DEMO_LOST),
    )
    coordinator = get_user_model().objects.get(username="coordinator")
    for visit, (reason, detail) in zip(chosen, DEMO_LOST, strict=True):
        worklist.mark_lost(
            visit.participant,
            reason=reason,
            detail=detail,
            today=visit.closes_on + dt.timedelta(days=7),
            user=coordinator,
        )


def _open_states(participants: list[Participant], rng: random.Random) -> dict:
    """Participant pk to what they have done with their open visit so far."""
    states = ["submitted"] * DEMO_OPEN_SUBMITTED + ["started"] * DEMO_OPEN_STARTED
    states += ["waiting"] * (len(participants) - len(states))
    rng.shuffle(states)
    return {p.pk: state for p, state in zip(participants, states, strict=True)}


def _page_answers(page: questionnaire.Page, answers: dict) -> dict:
    names = set(page.item_names())
    given = answers[page.instrument.slug]
    return {name: value for name, value in given.items() if name in names}


def _answer_open_visit(visit, state, pages, answers, rng, today) -> None:
    """An open visit, answered through the questionnaire as far as ``state`` says."""
    if state == "waiting":
        return
    device = rng.choice(DEMO_DEVICES)
    if state == "started":
        pages = pages[: rng.randint(1, max(len(pages) - 1, 1))]
    for page in pages:
        questionnaire.save_page(
            visit,
            page,
            _page_answers(page, answers),
            mode=ResponseMode.WEB,
            device=device,
        )
    if state == "submitted":
        questionnaire.submit(visit, mode=ResponseMode.WEB, device=device, today=today)


def _store_past_visits(done: list, rng: random.Random) -> None:
    """Store questionnaires participants submitted on days already past.

    ``questionnaire.save_page`` and ``submit`` check the window against the real
    clock, so they refuse a visit whose window closed. This writes what they
    would have written then: web responses with the scoring engine's scores,
    then the visit completed, with the times of that day. ``done`` holds
    (visit, its pages, answers by instrument slug, day submitted).
    """
    responses, times, visits = [], [], []
    for visit, pages, answers, on in done:
        device = rng.choice(DEMO_DEVICES)
        started = timezone.make_aware(
            dt.datetime.combine(on, dt.time(rng.randint(8, 20), rng.randint(0, 59)))
        )
        submitted = started + dt.timedelta(minutes=rng.randint(9, 25))
        step = (submitted - started) / max(len(pages), 1)
        by_instrument: dict[int, list[questionnaire.Page]] = {}
        for page in pages:
            by_instrument.setdefault(page.instrument.pk, []).append(page)
        for instrument_pages in by_instrument.values():
            first = instrument_pages[0]
            definition = first.definition
            given = {}
            for page in instrument_pages:
                given.update(_page_answers(page, answers))
            resolved = answer_rules.resolve(definition, given, today=on).answers
            responses.append(
                Response(
                    visit=visit,
                    instrument=first.instrument,
                    instrument_version=first.version,
                    answers=resolved,
                    scores=scores_for(definition, resolved),
                    status=ResponseStatus.SUBMITTED,
                    mode=ResponseMode.WEB,
                    submitted_at=submitted,
                    paradata={
                        "device": device,
                        "pages": [
                            {
                                "page": page.number,
                                "saved_at": (started + step * page.number).isoformat(),
                                "device": device,
                            }
                            for page in instrument_pages
                        ],
                        "submitted_at": submitted.isoformat(),
                    },
                )
            )
            times.append((started + step * (first.number - 1), submitted))
        visit.status = VisitStatus.COMPLETED
        visit.completed_at = submitted
        visit.next_message_at = None
        visits.append(visit)
    bulk_create_with_history(responses, Response)
    # Creating stamps both times with now; set them to that day's.
    for response, (started_at, updated_at) in zip(responses, times, strict=True):
        response.started_at, response.updated_at = started_at, updated_at
    Response.objects.bulk_update(responses, ["started_at", "updated_at"])
    bulk_update_with_history(
        visits, Visit, ["status", "completed_at", "next_message_at"]
    )
    # As a submission would: whoever has now done their last visit has completed.
    followup.complete_finished_participants(
        Participant.objects.filter(pk__in={visit.participant_id for visit in visits})
    )


def _bring_visits_up_to_date(participants: list[Participant], today: dt.date) -> None:
    """Open or miss visits as their windows say (enrolment set them as of then)."""
    moved = []
    for visit in Visit.objects.filter(
        participant__in=participants,
        status__in=(VisitStatus.SCHEDULED, VisitStatus.OPEN),
    ):
        dates = schedule.Window(visit.opens_on, visit.due_on, visit.closes_on)
        status = dates.status_on(today)
        if status != visit.status:
            visit.status = status
            if status == VisitStatus.MISSED:
                visit.next_message_at = None
            moved.append(visit)
    bulk_update_with_history(moved, Visit, ["status", "next_message_at"])


def _seed_message_history(participants: list[Participant]) -> None:
    """The outbox as it would stand had reminders run all along.

    Messages due before now are sent, unless the visit was completed (or the
    participant withdrew) first, in which case they were skipped; what is still
    to come is left to the planner, so the running demo sends it.
    """
    now = timezone.now()
    rows = []
    visits = Visit.objects.filter(participant__in=participants).select_related(
        "participant__contact", "participant__study", "participant__site"
    )
    for visit in visits:
        if visit.status == VisitStatus.SCHEDULED:
            reminders.refresh(visit)
            continue
        contact = visit.participant.contact
        zone = zoneinfo.ZoneInfo(contact.time_zone)
        policy = reminders.policy_for(visit.participant.study)
        channels = messaging.CHANNELS[contact.preferred_channel]
        ended = visit.completed_at
        if visit.status == VisitStatus.WITHDRAWN:
            ended = now
        planned = set()
        for item in reminders.schedule_for(visit, policy, zone):
            if item.due_at > now:
                continue
            skipped = (ended is not None and item.due_at >= ended) or (
                visit.status == VisitStatus.WITHDRAWN
            )
            planned.add(item.kind)
            for channel in channels:
                rows.append(
                    OutboundMessage(
                        visit=visit,
                        kind=item.kind,
                        channel=channel,
                        due_at=item.due_at,
                        status=MessageStatus.CANCELLED
                        if skipped
                        else MessageStatus.SENT,
                        sent_at=None if skipped else item.due_at,
                        attempts=0 if skipped else 1,
                        provider_id="" if skipped else "demo",
                        error="visit completed" if skipped else "",
                    )
                )
        if visit.status == VisitStatus.OPEN:
            reminders.refresh(visit, planned_kinds=planned)
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)


# ---------------------------------------------------------------------------
# The interview strand: a purposive sample of 26, interviewed, transcribed and
# coded into the reference study's four themes.
#
# Transcripts are short synthetic conversations written for the demo. What a
# participant says follows their scores: higher partnership at baseline brings
# passages about connecting with and being supported by professionals, an
# improved self-management total passages about progress, and no improvement
# passages about feeling no difference. The first demo coder codes every
# transcript; the second codes about a third, mostly agreeing.

DEMO_INTERVIEWS = 26
DEMO_INTERVIEW_CRITERIA = ["partnership_tertile", "selfmgmt_change"]

DEMO_CODERS = ("qualitative", "qualitative2")
# The second coder codes every n-th transcript, missing or relabelling a few
# passages the first coder coded.
DEMO_SECOND_CODER_EVERY = 3
DEMO_SECOND_CODER_MISSES = 0.12
DEMO_SECOND_CODER_RELABELS = 0.12

# Theme, its description, and its codes as (name, definition).
DEMO_CODEBOOK = [
    (
        "Connecting with health professionals",
        "How the participant relates to the clinicians they see.",
        [
            (
                "Feeling listened to",
                "The participant says a professional heard them out, took their "
                "account of the pain seriously or gave them time.",
            ),
            (
                "Trust in the clinician",
                "The participant expresses confidence in a professional's "
                "knowledge, honesty or judgement about their back.",
            ),
            (
                "Making sense of the pain",
                "The participant describes understanding their pain better "
                "because of what a professional explained.",
            ),
        ],
    ),
    (
        "Being supported through partnerships",
        "Working together with professionals, and support that continues.",
        [
            (
                "Deciding together",
                "Treatment or plans were agreed with a professional rather than "
                "handed down.",
            ),
            (
                "Support between appointments",
                "The participant knows whom to contact, or is followed up, "
                "between clinic visits.",
            ),
        ],
    ),
    (
        "Feeling positive and making progress towards self-management",
        "Signs that the participant manages the pain more on their own terms.",
        [
            (
                "Using strategies",
                "The participant describes pacing, exercise, relaxation or other "
                "techniques they now use.",
            ),
            (
                "Confidence to cope",
                "The participant feels more able to deal with flare-ups or bad days.",
            ),
            (
                "Getting back to activities",
                "The participant has set and met goals, or returned to work, "
                "hobbies or family activities.",
            ),
        ],
    ),
    (
        "Acknowledging the impact but feeling no difference",
        "The pain's toll is recognised, but the participant notices no change.",
        [
            (
                "Impact on daily life",
                "The participant describes how the pain limits work, sleep, "
                "mood or family life.",
            ),
            (
                "Nothing has changed",
                "The participant says the pain or their coping is the same as "
                "before taking part.",
            ),
            (
                "Doubts about the approach",
                "The participant questions whether self-management applies to "
                "them or will help.",
            ),
        ],
    ),
]

# Participant sentences by code, and by topic for what is said but not coded.
DEMO_UNCODED = frozenset({"opening", "clinic", "together", "closing"})
DEMO_SAYINGS: dict[str, list[str]] = {
    "opening": [
        "I have had trouble with my lower back for a good few years now.",
        "It started after I lifted something awkwardly at work.",
        "Some weeks are better than others, it comes and goes.",
        "I was referred by my GP after the tablets stopped helping.",
    ],
    "clinic": [
        "I only saw them a couple of times and the appointments felt short.",
        "They were pleasant enough, but it all went over my head.",
    ],
    "together": [
        "Not really, I was mostly told what to do.",
        "I just went along with whatever they suggested.",
    ],
    "closing": [
        "I am not sure I have much more to say really.",
        "That is about it, thank you for asking.",
    ],
    "Feeling listened to": [
        "The physio actually let me finish what I was saying, which made a change.",
        "For once I felt someone believed how bad the pain gets.",
        "They gave me time to explain rather than rushing me out of the door.",
    ],
    "Trust in the clinician": [
        "I trust the team there because they clearly know what they are doing.",
        "The consultant was straight with me, and I valued that honesty.",
    ],
    "Making sense of the pain": [
        "The nurse explained that hurting does not always mean harm, and that "
        "stuck with me.",
        "Once they drew me a picture of the nerves it finally made sense.",
    ],
    "Deciding together": [
        "We sat down and worked out a plan together that fitted my shifts.",
        "They asked what mattered to me before suggesting anything.",
    ],
    "Support between appointments": [
        "I know I can ring the clinic line if things flare up.",
        "They phoned me a few weeks later to see how I was getting on.",
    ],
    "Using strategies": [
        "I pace myself now and break the housework into short bits.",
        "I do my stretches every morning before I get dressed.",
        "When it builds up I use the breathing exercises from the group.",
    ],
    "Confidence to cope": [
        "I feel more in control when a bad day comes along.",
        "I do not panic about flare-ups the way I used to.",
    ],
    "Getting back to activities": [
        "I set myself a goal of walking to the shops and I managed it last week.",
        "I am back to gardening for an hour at a time.",
    ],
    "Impact on daily life": [
        "The pain stops me sleeping through the night most of the time.",
        "I have had to cut my hours at work because of my back.",
        "It gets me down and I snap at the family more than I should.",
    ],
    "Nothing has changed": [
        "If I am honest, nothing much has changed since I started.",
        "The pain is the same as it was before the clinic.",
    ],
    "Doubts about the approach": [
        "I am not convinced the exercises are meant for someone like me.",
        "I tried the pacing but I cannot see how it will fix anything.",
    ],
}

DEMO_QUESTIONS = [
    "Thank you for talking to me today. Could you start by telling me about your "
    "back pain?",
    "How did you get on with the staff at the pain clinic?",
    "Did you feel you and the clinic worked things out together?",
    "How have you been managing the pain day to day since then?",
    "Is there anything else you would like to add?",
]


@dataclass(frozen=True)
class DemoInterviews:
    interviews: int
    transcripts: int
    themes: int


def seed_demo_interviews(study: Study, *, today: dt.date) -> DemoInterviews:
    """The codebook, a sample of 26 interviewed, their transcripts and coding.

    Idempotent: the codebook is refreshed; a study that already has an
    interview sample keeps its interviews. Deterministic for the same data and
    ``today``. Needs the demo participants and users.
    """
    from analysis.interview_models import InterviewSample

    codes = _seed_codebook(study)
    if not InterviewSample.objects.filter(study=study).exists():
        _seed_interviews(study, codes, today=today)
    return _interviews_summary(study)


def _interviews_summary(study: Study) -> DemoInterviews:
    from analysis.interview_models import Interview, Theme, Transcript

    return DemoInterviews(
        interviews=Interview.objects.filter(
            participant__study=study, status=Interview.Status.DONE
        ).count(),
        transcripts=Transcript.objects.filter(
            interview__participant__study=study
        ).count(),
        themes=Theme.objects.filter(study=study).count(),
    )


@transaction.atomic
def _seed_codebook(study: Study) -> dict:
    """The four themes and their codes; returns codes by name."""
    from analysis.interview_models import Code, Theme

    codes = {}
    for order, (name, description, theme_codes) in enumerate(DEMO_CODEBOOK, start=1):
        theme, _ = Theme.objects.update_or_create(
            study=study,
            name=name,
            defaults={"description": description, "order": order},
        )
        for code_order, (code_name, definition) in enumerate(theme_codes, start=1):
            codes[code_name], _ = Code.objects.update_or_create(
                theme=theme,
                name=code_name,
                defaults={"definition": definition, "order": code_order},
            )
    return codes


@transaction.atomic
def _seed_interviews(study: Study, codes: dict, *, today: dt.date) -> None:
    from analysis import sampling
    from analysis.dataset import build_dataset
    from analysis.interview_models import CodedSegment, Interview, Transcript

    users = get_user_model().objects
    coordinator = users.get(username="coordinator")
    first, second = (users.get(username=name) for name in DEMO_CODERS)
    rng = random.Random(DEMO_SEED)
    invited_on = today - dt.timedelta(days=42)
    sample = sampling.propose(
        study=study,
        size=DEMO_INTERVIEWS,
        criteria=DEMO_INTERVIEW_CRITERIA,
        seed=DEMO_SEED,
        user=coordinator,
    )
    interviews = sampling.accept(sample, user=coordinator, today=invited_on)
    frame = build_dataset(study).frame
    # Whom the demo's coded themes follow: the strata its protocol declares.
    strata = {s.name: s for s in measures.study_measures(study).sampling_strata}
    tertile, change = (strata[name] for name in DEMO_INTERVIEW_CRITERIA)
    tertiles = sampling.tertile_of(frame, tertile.variables)
    before = frame[change.before].astype("float64")
    after = frame[change.after].astype("float64")

    transcripts, plans = [], []
    for interview in sorted(interviews, key=lambda i: i.participant.code):
        code = interview.participant.code
        held = invited_on + dt.timedelta(days=rng.randint(7, 35))
        interview.status = Interview.Status.DONE
        interview.scheduled_for = timezone.make_aware(
            dt.datetime.combine(held, dt.time(rng.choice([10, 11, 14, 15])))
        )
        interview.interviewer = first
        interview.mode = rng.choice(list(Interview.Mode.values))
        interview.duration_minutes = rng.randint(25, 60)
        improved = sampling.change_word(after[code] - before[code], after[code])
        text, coded = _demo_transcript(tertiles[code], improved == "improved", rng)
        transcripts.append(
            Transcript(
                interview=interview,
                text=text,
                source="synthetic demo transcript",
                uploaded_by=first,
            )
        )
        plans.append(coded)
    Interview.objects.bulk_update(
        interviews,
        ["status", "scheduled_for", "interviewer", "mode", "duration_minutes"],
    )
    Transcript.objects.bulk_create(transcripts)

    segments, labels = [], []
    for number, (transcript, coded) in enumerate(zip(transcripts, plans, strict=True)):
        for start, end, name in coded:
            segments.append(
                CodedSegment(transcript=transcript, coder=first, start=start, end=end)
            )
            labels.append(codes[name])
        if number % DEMO_SECOND_CODER_EVERY:
            continue
        for start, end, name in coded:
            if rng.random() < DEMO_SECOND_CODER_MISSES:
                continue
            if rng.random() < DEMO_SECOND_CODER_RELABELS:
                name = _neighbour_code(name)
            segments.append(
                CodedSegment(transcript=transcript, coder=second, start=start, end=end)
            )
            labels.append(codes[name])
    CodedSegment.objects.bulk_create(segments)
    CodedSegment.codes.through.objects.bulk_create(
        CodedSegment.codes.through(codedsegment=segment, code=code)
        for segment, code in zip(segments, labels, strict=True)
    )


def _neighbour_code(name: str) -> str:
    """Another code of the same theme: the likeliest disagreement between coders."""
    for _, _, theme_codes in DEMO_CODEBOOK:
        names = [code_name for code_name, _ in theme_codes]
        if name in names:
            return names[(names.index(name) + 1) % len(names)]
    return name


def _demo_transcript(
    tertile: str, improved: bool, rng: random.Random
) -> tuple[str, list[tuple[int, int, str]]]:
    """A short interview and the passages (start, end, code) it was written with."""

    def say(*names: str) -> list[tuple[str, str | None]]:
        return [
            (rng.choice(DEMO_SAYINGS[name]), None if name in DEMO_UNCODED else name)
            for name in names
        ]

    connecting = {
        "high": ["Feeling listened to", "Trust in the clinician"],
        "middle": [rng.choice(["Feeling listened to", "Making sense of the pain"])],
    }.get(tertile, ["clinic"])
    partnering = {
        "high": ["Deciding together", "Support between appointments"],
        "middle": [rng.choice(["Deciding together", "together"])],
    }.get(tertile, ["together"])
    if improved:
        managing = [
            "Using strategies",
            rng.choice(["Confidence to cope", "Getting back to activities"]),
        ]
    else:
        managing = [
            "Impact on daily life",
            rng.choice(["Nothing has changed", "Doubts about the approach"]),
        ]
    answers = [
        say("opening", "opening" if improved else "Impact on daily life"),
        say(*connecting),
        say(*partnering),
        say(*managing),
        say("closing"),
    ]
    lines, coded, length = [], [], 0
    for question, answer in zip(DEMO_QUESTIONS, answers, strict=True):
        line = f"Interviewer: {question}"
        lines.append(line)
        length += len(line) + 1
        line = "Participant:"
        said = set()
        for sentence, name in answer:
            if sentence in said:
                continue
            said.add(sentence)
            line += " "
            if name is not None:
                coded.append(
                    (length + len(line), length + len(line) + len(sentence), name)
                )
            line += sentence
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines), coded
