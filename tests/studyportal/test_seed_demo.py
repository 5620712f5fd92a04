import statistics
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from instruments.models import Response, ResponseStatus
from instruments.responses import scores_for
from participants.models import (
    ConsentRecord,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    Role,
    ScreeningOutcome,
    ScreeningRecord,
    Site,
    StaffMembership,
    Study,
    Timepoint,
    Visit,
    VisitStatus,
)
from studyportal import access, demo

SEEDED = (
    ScreeningRecord,
    ConsentRecord,
    Participant,
    ParticipantContact,
    Visit,
    Response,
)


def run_seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the module; each test still rolls back its own changes."""
    with django_db_blocker.unblock(), transaction.atomic():
        output = run_seed()
        yield output
        transaction.set_rollback(True)


def test_it_creates_the_reference_study(seeded, db):
    study = Study.objects.get()
    assert study.recruitment_target == 147
    assert study.sites.count() == 3
    baseline, followup = study.timepoints.order_by("order")
    assert (baseline.code, baseline.offset_days) == ("baseline", 0)
    assert (followup.code, followup.offset_days) == ("followup", 90)
    assert (followup.window_before_days, followup.window_after_days) == (14, 14)


def test_it_is_idempotent(seeded, db):
    counts = [m.objects.count() for m in (Study, Site, Timepoint, StaffMembership)]
    again = run_seed()
    assert counts == [
        m.objects.count() for m in (Study, Site, Timepoint, StaffMembership)
    ]
    assert again == seeded


def test_it_prints_every_login_and_the_password(seeded, db):
    for username in ("clinic1", "coordinator", "investigator", "admin"):
        assert username in seeded
    assert demo.DEMO_PASSWORD in seeded


def test_demo_users_log_in_with_their_roles(seeded, db, rf):
    # The lockout backend needs the request the login came with.
    request = rf.post("/accounts/login/")
    study = Study.objects.get()
    clinic1 = authenticate(request, username="clinic1", password=demo.DEMO_PASSWORD)
    assert access.roles_of(clinic1) == {Role.CLINIC_STAFF}
    assert list(access.sites_for(clinic1)) == [study.sites.order_by("code").first()]
    coordinator = authenticate(
        request, username="coordinator", password=demo.DEMO_PASSWORD
    )
    assert access.roles_of(coordinator) == {Role.COORDINATOR}
    assert access.sites_for(coordinator).count() == 3
    investigator = authenticate(
        request, username="investigator", password=demo.DEMO_PASSWORD
    )
    assert access.roles_of(investigator) == {Role.INVESTIGATOR}
    admin = authenticate(request, username="admin", password=demo.DEMO_PASSWORD)
    assert admin.is_superuser and access.ADMIN in access.roles_of(admin)


# ---------------------------------------------------------------------------
# The demo participants


def test_it_prints_how_many_were_enrolled_and_screened(seeded, db):
    assert "Participants: 147 enrolled (243 screened)" in seeded


def test_a_second_run_adds_no_participants_or_answers(seeded, db):
    counts = {model.__name__: model.objects.count() for model in SEEDED}
    numbers = dict(Site.objects.values_list("code", "last_participant_number"))
    run_seed()
    assert {model.__name__: model.objects.count() for model in SEEDED} == counts
    assert dict(Site.objects.values_list("code", "last_participant_number")) == (
        numbers
    )


def test_screening_outcomes_are_those_of_a_real_clinic(seeded, db):
    today = timezone.localdate()
    screenings = ScreeningRecord.objects.all()
    assert screenings.count() == 243
    # Recruitment closed weeks ago, once the target was reached.
    assert max(s.screened_on for s in screenings) <= today - timezone.timedelta(
        days=demo.DEMO_RECRUITMENT_ENDED
    )
    assert min(s.screened_on for s in screenings) >= today - timezone.timedelta(
        days=demo.DEMO_SCREENING_DAYS
    )
    outcomes = Counter(screenings.values_list("outcome", flat=True))
    assert outcomes[ScreeningOutcome.ENROLLED] == 147
    assert outcomes[ScreeningOutcome.INELIGIBLE] == 40
    assert outcomes[ScreeningOutcome.DECLINED] == 32
    assert outcomes[ScreeningOutcome.NOT_APPROACHED] == 24
    assert set(outcomes) <= {
        ScreeningOutcome.ENROLLED,
        ScreeningOutcome.INELIGIBLE,
        ScreeningOutcome.DECLINED,
        ScreeningOutcome.NOT_APPROACHED,
    }
    for record in screenings.filter(outcome=ScreeningOutcome.INELIGIBLE):
        assert not record.eligible and record.unmet_criteria
    for record in screenings.exclude(outcome=ScreeningOutcome.INELIGIBLE):
        assert record.eligible and not record.unmet_criteria
    assert all(
        record.decline_reason
        for record in screenings.filter(outcome=ScreeningOutcome.DECLINED)
    )
    every_site = Counter(screenings.values_list("site__code", flat=True))
    assert set(every_site) == {"LDS", "SHF", "YRK"}


def test_participants_are_enrolled_in_the_past_at_every_site(seeded, db):
    today = timezone.localdate()
    per_site = Counter(Participant.objects.values_list("site__code", flat=True))
    assert per_site == {"LDS": 55, "SHF": 50, "YRK": 42}
    for participant in Participant.objects.select_related("screening"):
        consent = participant.latest_consent()
        assert participant.screening.screened_on <= consent.consented_on
        assert consent.consented_on <= participant.enrolled_on < today
    withdrawn = Participant.objects.filter(status=ParticipantStatus.WITHDRAWN)
    assert withdrawn.count() == 2
    for participant in withdrawn:
        assert participant.withdrawal_reason
        assert participant.enrolled_on <= participant.withdrawn_on < today
        assert not participant.visits.filter(
            status__in=[VisitStatus.OPEN, VisitStatus.SCHEDULED]
        ).exists()


def test_study_ids_run_without_gaps_at_each_site(seeded, db):
    for site in Site.objects.all():
        codes = list(site.participants.order_by("code").values_list("code", flat=True))
        assert codes == [f"{site.code}-{n:04d}" for n in range(1, len(codes) + 1)]
        assert site.last_participant_number == len(codes)
        # Numbers follow the order of enrolment.
        dates = list(
            site.participants.order_by("code").values_list("enrolled_on", flat=True)
        )
        assert dates == sorted(dates)


def test_contact_details_are_complete_and_clearly_made_up(seeded, db):
    for participant in Participant.objects.select_related("contact"):
        contact = participant.contact
        assert contact.full_name.startswith("Demo Participant ")
        assert contact.email or contact.mobile
        assert contact.time_zone == "Europe/London"
        if contact.mobile:
            # Ofcom's drama range: shaped like E.164, never a real phone.
            assert contact.mobile.startswith("+447700900")
            assert len(contact.mobile) == 13
    emails = list(ParticipantContact.objects.values_list("email", flat=True))
    assert all(email.endswith("@example.invalid") for email in emails if email)
    channels = set(
        ParticipantContact.objects.values_list("preferred_channel", flat=True)
    )
    assert len(channels) >= 3


def test_visits_are_where_the_calendar_puts_them(seeded, db):
    today = timezone.localdate()
    for participant in Participant.objects.all():
        assert participant.visits.count() == 2
    visits = Visit.objects.select_related("timepoint", "participant")
    for visit in visits:
        if visit.status == VisitStatus.OPEN:
            assert visit.opens_on <= today <= visit.closes_on
        elif visit.status == VisitStatus.SCHEDULED:
            assert today < visit.opens_on
        elif visit.status == VisitStatus.MISSED:
            assert visit.closes_on < today
        elif visit.status == VisitStatus.COMPLETED:
            completed = timezone.localdate(visit.completed_at)
            assert visit.opens_on <= completed <= min(visit.closes_on, today)
    statuses = Counter(visits.values_list("timepoint__code", "status"))
    # As in the reference study: every baseline, and 103 of 147 followed up.
    assert statuses["baseline", VisitStatus.COMPLETED] == 147
    assert statuses["followup", VisitStatus.COMPLETED] == 103
    assert statuses["followup", VisitStatus.WITHDRAWN] == 2
    assert statuses["followup", VisitStatus.MISSED] >= 10
    assert statuses["followup", VisitStatus.OPEN] >= 10
    assert sum(statuses.values()) == 2 * 147
    # The coordinator has people to chase, some already past their due date.
    assert Visit.objects.filter(status=VisitStatus.OPEN, due_on__lt=today).exists()


def test_answers_are_complete_scored_and_carry_the_studys_signal(seeded, db):
    submitted = Response.objects.filter(
        status=ResponseStatus.SUBMITTED, instrument__respondent="patient"
    ).select_related("instrument_version", "visit")
    asked = answered = 0
    for response in submitted:
        definition = response.instrument_version.parsed
        answerable = {item.name for item in definition.items() if item.is_answerable}
        assert set(response.answers) <= answerable
        asked += len(answerable)
        answered += len(response.answers)
        assert response.scores == scores_for(definition, response.answers)
        assert response.visit.status == VisitStatus.COMPLETED
    # A few items are skipped, as on real questionnaires.
    assert 0.95 < answered / asked < 1
    # Some open questionnaires are half done.
    assert Response.objects.filter(status=ResponseStatus.IN_PROGRESS).exists()
    # Every participant's enrolment form was filled in.
    assert (
        Response.objects.filter(instrument__slug="baseline_characteristics").count()
        == 147
    )
    baseline = {}
    for response in submitted.filter(visit__timepoint__code="baseline"):
        baseline.setdefault(response.visit_id, {}).update(response.scores)
    pairs = [
        (s["partnership_confidence"]["value"], s["selfmgmt_total"]["value"])
        for s in baseline.values()
    ]
    partnership, self_management = zip(
        *[pair for pair in pairs if None not in pair], strict=True
    )
    assert statistics.correlation(partnership, self_management) > 0.3
    pain = [s["pain_severity"]["value"] for s in baseline.values()]
    assert 5 < statistics.mean(pain) < 7.5


def test_i8_every_demo_contact_passes_the_contact_form(seeded, db):
    from participants.forms import ContactForm

    refused, mobiles = {}, 0
    for contact in ParticipantContact.objects.all():
        mobiles += bool(contact.mobile)
        form = ContactForm(
            {
                "full_name": contact.full_name,
                "email": contact.email,
                "mobile": contact.mobile,
                "preferred_channel": contact.preferred_channel,
                "time_zone": contact.time_zone,
                "date_of_birth": contact.date_of_birth or "",
            }
        )
        if not form.is_valid():
            refused[contact.full_name] = form.errors.as_text()
    assert mobiles > 50
    assert refused == {}
