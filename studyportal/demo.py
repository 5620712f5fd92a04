"""The reference study and its demo users, for trying StudyPortal out."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from instruments import answers as answer_rules
from instruments import catalogue, questionnaire
from instruments.models import Instrument, Response, ResponseMode, ResponseStatus
from instruments.responses import scores_for
from participants import (
    consent,
    enrolment,
    messaging,
    reminders,
    schedule,
    withdrawal,
)
from participants.contacts import ContactDetails
from participants.models import (
    Channel,
    ConsentForm,
    ConsentMethod,
    ConsentStatement,
    DeclineReason,
    EligibilityCriterion,
    MessageStatus,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Role,
    ScreeningOutcome,
    Site,
    StaffMembership,
    Study,
    Timepoint,
    TimepointInstrument,
    Visit,
    VisitStatus,
    WithdrawalReason,
)
from participants.screening import record_screening

DEMO_PASSWORD = "studyportal-demo"

REFERENCE_STUDY = {
    "slug": "back-pain-partnership",
    "name": "Partnership and self-management in chronic back pain",
    "short_name": "Back Pain Partnership",
    "description": (
        "A mixed-methods cohort of adults with chronic back pain referred to pain "
        "management clinics: does patient-professional partnership predict "
        "self-management ability after accounting for pain and other factors?"
    ),
    "recruitment_target": 147,
    "reference": "Fu et al., Eur J Pain 2018, doi:10.1002/ejp.1210",
    "contact_email": "backpain.study@example.invalid",
    "contact_phone": "0113 496 0000",
}

REFERENCE_SITES = [
    ("LDS", "Leeds Pain Management Clinic"),
    ("SHF", "Sheffield Pain Management Clinic"),
    ("YRK", "York Pain Management Clinic"),
]

REFERENCE_TIMEPOINTS = [
    # code, label, order, offset_days, window_before_days, window_after_days
    ("baseline", "Baseline", 1, 0, 0, 14),
    ("followup", "3-month follow-up", 2, 90, 14, 14),
]


REFERENCE_CRITERIA = [
    ("adult", "Aged 18 or over"),
    ("back_pain_3_months", "Back pain for 3 months or more"),
    ("referred", "Referred to the pain management clinic"),
    ("english", "Able to complete questionnaires in English"),
    ("no_red_flags", "No suspected serious pathology (no red flags)"),
]

REFERENCE_CONSENT = {
    "title": "Consent to take part",
    "introduction": (
        "You have read the participant information sheet and had the chance to ask "
        "questions. Taking part is voluntary: you can stop at any time without giving "
        "a reason, and your care will not be affected."
    ),
    "statements": [
        # code, kind, text, required
        (
            "take_part",
            ConsentStatement.Kind.TAKE_PART,
            "I agree to take part in this study and to answer questionnaires now "
            "and in about three months.",
            True,
        ),
        (
            "follow_up",
            ConsentStatement.Kind.FOLLOW_UP,
            "I agree to be contacted by email, text message or phone about the "
            "follow-up questionnaire.",
            True,
        ),
        (
            "interview",
            ConsentStatement.Kind.INTERVIEW,
            "I would be willing to be interviewed later about my experience of "
            "managing my back pain.",
            False,
        ),
        (
            "keep_data",
            ConsentStatement.Kind.KEEP_DATA,
            "I understand that if I withdraw, the answers I have already given may "
            "still be used unless I ask for them to be removed.",
            True,
        ),
    ],
}

REFERENCE_SCHEDULE = {
    "baseline": [
        "baseline_characteristics",
        "pain_severity",
        "partnership",
        "self_management",
        "anxiety_depression",
    ],
    "followup": [
        "pain_severity",
        "partnership",
        "self_management",
        "anxiety_depression",
    ],
}


@transaction.atomic
def seed_reference_protocol(study: Study) -> None:
    """Eligibility checklist, consent form and what each timepoint collects."""
    for order, (code, text) in enumerate(REFERENCE_CRITERIA, start=1):
        EligibilityCriterion.objects.update_or_create(
            study=study, code=code, defaults={"text": text, "order": order}
        )
    form, _ = ConsentForm.objects.get_or_create(
        study=study,
        version=1,
        defaults={
            "title": REFERENCE_CONSENT["title"],
            "introduction": REFERENCE_CONSENT["introduction"],
        },
    )
    for order, (code, kind, text, required) in enumerate(
        REFERENCE_CONSENT["statements"], start=1
    ):
        ConsentStatement.objects.get_or_create(
            form=form,
            code=code,
            defaults={"kind": kind, "text": text, "required": required, "order": order},
        )
    catalogue.load_shipped()
    for code, slugs in REFERENCE_SCHEDULE.items():
        timepoint = study.timepoints.get(code=code)
        for order, slug in enumerate(slugs, start=1):
            TimepointInstrument.objects.update_or_create(
                timepoint=timepoint,
                instrument=Instrument.objects.get(slug=slug),
                defaults={"order": order},
            )


@dataclass(frozen=True)
class DemoLogin:
    username: str
    description: str


@transaction.atomic
def seed_reference_study() -> Study:
    study, _ = Study.objects.update_or_create(
        slug=REFERENCE_STUDY["slug"], defaults=REFERENCE_STUDY
    )
    for code, name in REFERENCE_SITES:
        Site.objects.update_or_create(study=study, code=code, defaults={"name": name})
    for code, label, order, offset, before, after in REFERENCE_TIMEPOINTS:
        Timepoint.objects.update_or_create(
            study=study,
            code=code,
            defaults={
                "label": label,
                "order": order,
                "offset_days": offset,
                "window_before_days": before,
                "window_after_days": after,
            },
        )
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
# Everything goes through the services (screening, consent, enrolment,
# questionnaire, withdrawal) with ``today`` set to the day it happened. Two
# things the services cannot do for past days are done here, each in one
# helper: a visit whose window has already closed cannot be answered through
# the questionnaire (it checks the real clock), so ``_complete_past_visit``
# stores what the participant submitted back then; and no service moves visits
# on as the calendar passes, so ``_bring_visit_up_to_date`` applies the
# schedule's own window rule.

DEMO_SEED = 2018
DEMO_SCREENING_DAYS = 150  # about five months of recruitment
DEMO_RAMP_UP = 1.2  # above 1: more enrolments lately
DEMO_ENROLLED = {"LDS": 14, "SHF": 12, "YRK": 10}
DEMO_NOT_ENROLLED = {"LDS": 9, "SHF": 8, "YRK": 7}
# Each clinic's own demo staff member screens and enrols its patients.
DEMO_SCREENED_BY = {"LDS": "clinic1", "SHF": "clinic2", "YRK": "clinic3"}
# Why the 10 ineligible patients were not eligible (one unmet criterion each).
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
DEMO_BASELINE_MISSED = 2
DEMO_FOLLOWUP_COMPLETION = 0.7
DEMO_EMAIL_DOMAIN = "example.invalid"
# Ofcom keeps 07700 900000-900999 for fiction, so no demo text reaches a person.
# phonenumbers does not count the range as valid, hence no normalising here.
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


@dataclass(frozen=True)
class _Profile:
    """Where one participant stands, as standard scores that drive their answers."""

    pain: float
    partnership: float
    self_management: float
    mood: float  # higher means more anxious and low

    def three_months_on(self, rng: random.Random) -> _Profile:
        partnership = self.partnership + rng.gauss(0.1, 0.3)
        return _Profile(
            pain=self.pain + rng.gauss(-0.2, 0.4),
            partnership=partnership,
            self_management=self.self_management
            + 0.5 * (partnership - self.partnership)
            + rng.gauss(0.15, 0.3),
            mood=self.mood + rng.gauss(-0.1, 0.4),
        )


def _new_profile(rng: random.Random) -> _Profile:
    pain = rng.gauss(0, 1)
    partnership = rng.gauss(0, 1)
    # Self-management goes with partnership (and a little against pain), so an
    # analysis of the demo data finds the association the study asks about.
    self_management = 0.6 * partnership - 0.2 * pain + 0.75 * rng.gauss(0, 1)
    mood = 0.3 * pain - 0.6 * self_management + 0.7 * rng.gauss(0, 1)
    return _Profile(pain, partnership, self_management, mood)


@transaction.atomic
def seed_demo_participants(study: Study, *, today: dt.date) -> DemoCohort:
    """About 60 screened patients and 36 participants at every stage of the study.

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
    form = consent.current_form(study)
    participants = [
        _consent_and_enrol(
            screening, plan.enrol_on, number, form, staff[plan.site_code], rng
        )
        for number, (plan, screening) in enumerate(to_enrol, start=1)
    ]
    _run_visits(participants, rng, today)
    _seed_message_history(participants)
    return _cohort(study, created=True)


def _seed_message_history(participants: list[Participant]) -> None:
    """The outbox as it would stand had reminders run all along.

    Messages due before now are sent, unless the visit was completed (or the
    participant withdrew) first, in which case they were skipped; what is still
    to come is left to the planner, so the running demo sends it.
    """
    now = timezone.now()
    rows = []
    for participant in participants:
        contact = participant.contact
        zone = zoneinfo.ZoneInfo(contact.time_zone)
        policy = reminders.policy_for(participant.study)
        channels = messaging.CHANNELS[contact.preferred_channel]
        for visit in participant.visits.all():
            if visit.status == VisitStatus.SCHEDULED:
                reminders.refresh(visit)
                continue
            ended = visit.completed_at
            if visit.status == VisitStatus.WITHDRAWN:
                ended = now
            for item in reminders.schedule_for(visit, policy, zone):
                if item.due_at > now:
                    continue
                skipped = (ended is not None and item.due_at >= ended) or (
                    visit.status == VisitStatus.WITHDRAWN
                )
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
            reminders.refresh(visit)
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)


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
    span = DEMO_SCREENING_DAYS - 4
    for index, code in enumerate(enrolling):
        share = 1 - (index + rng.random()) / len(enrolling)
        days_ago = 1 + int(span * share**DEMO_RAMP_UP)
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
    )
    rng.shuffle(outcomes)
    for code, (outcome, unmet, reason, detail) in zip(others, outcomes, strict=True):
        screened_on = today - dt.timedelta(days=rng.randint(1, DEMO_SCREENING_DAYS))
        plans.append(_Screening(code, screened_on, outcome, unmet, reason, detail))
    return plans


def _consent_and_enrol(screening, enrol_on, number, form, user, rng) -> Participant:
    details = _demo_contact(number, enrol_on, rng)
    electronic = rng.random() < 0.75
    consent.record_consent(
        screening=screening,
        form=form,
        method=ConsentMethod.ELECTRONIC if electronic else ConsentMethod.PAPER,
        agreed={
            statement.code: statement.required or rng.random() < 0.55
            for statement in form.statements.all()
        },
        consented_on=enrol_on,
        taken_by=user,
        today=enrol_on,
        typed_name=details.full_name if electronic else "",
    )
    slug = enrolment.characteristics_instrument_slug(screening.study)
    characteristics = (
        _demo_characteristics(details.date_of_birth, enrol_on, rng)
        if slug == "baseline_characteristics"
        else None
    )
    return enrolment.enrol(
        screening=screening,
        contact=details,
        characteristics=characteristics,
        user=user,
        today=enrol_on,
    )


def _demo_contact(number: int, enrol_on: dt.date, rng: random.Random) -> ContactDetails:
    """Obviously made-up details: a numbered name and an email that cannot exist.

    The mobiles are in a range ``phonenumbers`` accepts as UK mobiles (Ofcom's
    drama range is not), so they pass the same checks as real ones.
    """
    channel = rng.choices(
        [Channel.EMAIL, Channel.SMS, Channel.BOTH, Channel.NONE], [45, 25, 20, 10]
    )[0]
    email = f"demo.participant{number:02d}@{DEMO_EMAIL_DOMAIN}"
    mobile = f"{DEMO_MOBILE_PREFIX}{100 + number:03d}"
    if channel == Channel.EMAIL and rng.random() < 0.3:
        mobile = ""
    if channel == Channel.SMS and rng.random() < 0.4:
        email = ""
    age = min(max(round(rng.gauss(52, 13)), 22), 84)
    born = dt.date(enrol_on.year - age, rng.randint(1, 12), rng.randint(1, 28))
    if (born.month, born.day) > (enrol_on.month, enrol_on.day):
        born = born.replace(year=born.year - 1)
    return ContactDetails(
        full_name=f"Demo Participant {number:02d}",
        email=email,
        mobile=mobile,
        preferred_channel=channel,
        time_zone="Europe/London",
        date_of_birth=born,
    )


def _demo_characteristics(born: dt.date, enrol_on: dt.date, rng: random.Random) -> dict:
    """Baseline characteristics as the enrolment form stores them."""
    age = (enrol_on - born).days // 365
    if rng.random() < 0.8:
        answers = {"age_known_as": "1", "dob": born.isoformat()}
    else:
        answers = {"age_known_as": "2", "age_years": age}
    if age >= 66:
        employment = rng.choices(["6", "2", "5"], [7, 1, 2])[0]
    else:
        employment = rng.choices(
            ["1", "2", "3", "4", "5", "8", "9"], [30, 15, 8, 8, 25, 10, 4]
        )[0]
    treatments = [
        code
        for code, chance in (
            ("1", 0.9),
            ("2", 0.75),
            ("3", 0.2),
            ("4", 0.3),
            ("5", 0.15),
            ("6", 0.08),
        )
        if rng.random() < chance
    ]
    answers |= {
        "sex": rng.choices(["1", "2", "4"], [58, 40, 2])[0],
        "ethnicity": rng.choices(["4", "1", "2", "3", "5"], [82, 9, 4, 3, 2])[0],
        "education": rng.choices(
            ["1", "2", "3", "4", "5", "6", "7"], [12, 28, 16, 18, 18, 6, 2]
        )[0],
        "employment": employment,
        "nssec": rng.choices(
            [str(code) for code in range(1, 11)], [3, 6, 16, 12, 9, 10, 17, 15, 7, 5]
        )[0],
        "pain_duration_months": min(round(rng.lognormvariate(3.6, 0.9)) + 3, 480),
    }
    if treatments:
        answers["treatments"] = treatments
    if "6" in treatments:
        answers["treatments_other"] = rng.choice(
            ["TENS machine", "Chiropractic", "Massage", "Pilates"]
        )
    return answers


def _patient_answers(definition, profile: _Profile, rng: random.Random) -> dict:
    """Plausible answers to every item of a patient instrument, in stored form."""
    reverse = {name for score in definition.scores for name in score.reverse}
    answers = {}
    for item in definition.items():
        if not item.is_answerable or item.branching:
            continue
        low, high = item.numeric_range or (None, None)
        value = _answer_level(item.name, profile, rng)
        if value is None or low is None:
            answers[item.name] = rng.choice(item.choice_list)[0]
            continue
        value = min(max(value, low), high)
        if item.name in reverse:
            # Negatively worded: someone doing well disagrees with it.
            value = low + high - value
        value = int(value)
        answers[item.name] = value if item.type == "rating" else str(value)
    return answers


def _answer_level(name: str, profile: _Profile, rng: random.Random) -> float | None:
    """The answer an item gets, on its positively worded scale; None if unknown."""
    if name.startswith("pain_"):
        shift = {"pain_worst": 1.6, "pain_least": -1.6, "pain_now": 0.3}.get(name, 0)
        level = 6 + 1.3 * profile.pain + shift + rng.gauss(0, 0.5)
        return min(max(round(level), 3), 9)
    if name.startswith("partner_"):
        level = 3.9 + 0.55 * profile.partnership + rng.gauss(0, 0.6)
        return min(max(round(level), 1), 5)
    if name.startswith("selfmgmt_"):
        level = 4.5 + 1.1 * profile.self_management + rng.gauss(0, 0.8)
        return min(max(round(level), 2), 7)
    if name.startswith("hads_"):
        # Items scored the positive way round are reversed by the caller, so the
        # level here is "how often the worded feeling was NOT the healthy one".
        level = 1.1 + 0.7 * profile.mood + rng.gauss(0, 0.65)
        return min(max(round(level), 0), 3)
    return None


def _answers_for_visit(visit: Visit, profile: _Profile, rng: random.Random):
    """(page, answers) for every page of the visit's patient questionnaire."""
    pages = questionnaire.pages_for(visit)
    by_instrument = {}
    for page in pages:
        if page.instrument.pk not in by_instrument:
            by_instrument[page.instrument.pk] = _patient_answers(
                page.definition, profile, rng
            )
    return [
        (
            page,
            {
                name: value
                for name, value in by_instrument[page.instrument.pk].items()
                if name in page.item_names()
            },
        )
        for page in pages
    ]


def _run_visits(
    participants: list[Participant], rng: random.Random, today: dt.date
) -> None:
    """Baseline and follow-up for everyone, as far as the calendar has got."""
    first, second = participants[0].study.timepoints.order_by("order")[:2]
    baseline_of = {p.pk: schedule.window(first, p.enrolled_on) for p in participants}
    followup_of = {p.pk: schedule.window(second, p.enrolled_on) for p in participants}
    withdrawing = rng.sample(
        [
            p
            for p in participants
            if (today - p.enrolled_on).days >= 30
            and followup_of[p.pk].closes_on >= today
        ],
        len(DEMO_WITHDRAWALS),
    )
    staying = [p for p in participants if p not in withdrawing]
    missing_baseline = {
        p.pk
        for p in rng.sample(
            [p for p in staying if baseline_of[p.pk].closes_on < today],
            DEMO_BASELINE_MISSED,
        )
    }
    followup_closed = [p for p in staying if followup_of[p.pk].closes_on < today]
    completing_followup = {
        p.pk
        for p in rng.sample(
            followup_closed, round(DEMO_FOLLOWUP_COMPLETION * len(followup_closed))
        )
    }
    # Visits open today: a mix of submitted, started and not yet started.
    open_state = _open_states(
        [p for p in participants if baseline_of[p.pk].closes_on >= today], rng
    )
    open_followup_state = _open_states(
        [
            p
            for p in staying
            if followup_of[p.pk].opens_on <= today <= followup_of[p.pk].closes_on
        ],
        rng,
    )
    for participant in participants:
        profile = _new_profile(rng)
        later = profile.three_months_on(rng)
        baseline, followup = participant.visits.order_by("timepoint__order")[:2]
        if participant.pk in open_state:
            _answer_open_visit(
                baseline, open_state[participant.pk], profile, rng, today
            )
        elif participant.pk not in missing_baseline:
            on = min(
                participant.enrolled_on
                + dt.timedelta(days=rng.choice([0, 0, 0, 0, 1, 2, 4, 9])),
                baseline.closes_on,
            )
            _complete_past_visit(
                baseline, _answers_for_visit(baseline, profile, rng), on, rng
            )
        if participant in withdrawing:
            reason, detail, keep_data = DEMO_WITHDRAWALS[withdrawing.index(participant)]
            before_followup = (followup.opens_on - participant.enrolled_on).days - 1
            days = (today - participant.enrolled_on).days
            withdrawal.withdraw(
                participant,
                withdrawn_on=participant.enrolled_on
                + dt.timedelta(days=rng.randint(20, min(days - 1, before_followup))),
                reason=reason,
                detail=detail,
                keep_data=keep_data,
                today=today,
            )
        if participant.pk in completing_followup:
            on = followup.opens_on + dt.timedelta(
                days=min(int(rng.expovariate(1 / 6)), 27)
            )
            _complete_past_visit(
                followup, _answers_for_visit(followup, later, rng), on, rng
            )
        for visit in (baseline, followup):
            visit.refresh_from_db()
            _bring_visit_up_to_date(visit, today)
        if participant.pk in open_followup_state:
            _answer_open_visit(
                followup, open_followup_state[participant.pk], later, rng, today
            )


def _open_states(participants: list[Participant], rng: random.Random) -> dict:
    """Participant pk to what they have done with their open visit so far."""
    states = ["submitted", "started", "waiting"] * len(participants)
    states = states[: len(participants)]
    rng.shuffle(states)
    return {p.pk: state for p, state in zip(participants, states, strict=True)}


def _answer_open_visit(visit, state, profile, rng, today) -> None:
    """An open visit, answered through the questionnaire as far as ``state`` says."""
    if state == "waiting":
        return
    device = rng.choice(["phone", "phone", "desktop", "tablet"])
    pages = _answers_for_visit(visit, profile, rng)
    if state == "started":
        pages = pages[: rng.randint(1, max(len(pages) - 1, 1))]
    for page, answers in pages:
        questionnaire.save_page(
            visit, page, answers, mode=ResponseMode.WEB, device=device
        )
    if state == "submitted":
        questionnaire.submit(visit, mode=ResponseMode.WEB, device=device, today=today)


def _complete_past_visit(
    visit: Visit, pages: list, on: dt.date, rng: random.Random
) -> None:
    """Store a questionnaire the participant submitted on a day already past.

    ``questionnaire.save_page`` and ``submit`` check the window against the real
    clock, so they refuse a visit whose window closed. This writes what they
    would have written then: web responses with the scoring engine's scores,
    then the visit completed, with the times of that day.
    """
    device = rng.choice(["phone", "phone", "desktop", "tablet"])
    started = timezone.make_aware(
        dt.datetime.combine(on, dt.time(rng.randint(8, 20), rng.randint(0, 59)))
    )
    submitted = started + dt.timedelta(minutes=rng.randint(9, 25))
    step = (submitted - started) / max(len(pages), 1)
    # The pages are those of questionnaire.pages_for(visit): every instrument of
    # the visit at the version it is answered with, in order.
    by_instrument: dict[int, list] = {}
    for page, answers in pages:
        by_instrument.setdefault(page.instrument.pk, []).append((page, answers))
    for instrument_pages in by_instrument.values():
        first = instrument_pages[0][0]
        definition = first.definition
        given = {}
        for _, answers in instrument_pages:
            given.update(answers)
        answers = answer_rules.resolve(definition, given, today=on).answers
        response = Response.objects.create(
            visit=visit,
            instrument=first.instrument,
            instrument_version=first.version,
            answers=answers,
            scores=scores_for(definition, answers),
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
                    for page, _ in instrument_pages
                ],
                "submitted_at": submitted.isoformat(),
            },
        )
        Response.objects.filter(pk=response.pk).update(
            started_at=started + step * (first.number - 1), updated_at=submitted
        )
    visit.status = VisitStatus.COMPLETED
    visit.completed_at = submitted
    visit.save(update_fields=["status", "completed_at"])


def _bring_visit_up_to_date(visit: Visit, today: dt.date) -> None:
    """Open or miss a visit as its window says today (enrolment set it as of then)."""
    if visit.status not in (VisitStatus.SCHEDULED, VisitStatus.OPEN):
        return
    dates = schedule.Window(visit.opens_on, visit.due_on, visit.closes_on)
    status = dates.status_on(today)
    if status != visit.status:
        visit.status = status
        visit.save(update_fields=["status"])
