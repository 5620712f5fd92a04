"""The audit trail: who changed what, before and after, and who saw contact details."""

import pytest
from django.urls import reverse

from instruments.models import Response
from participants import audit
from participants.models import (
    ConsentRecord,
    ContactView,
    Participant,
    ParticipantContact,
    ScreeningRecord,
)
from tests.factories import clinic_staff
from tests.participants.journeys import (
    CHARACTERISTICS,
    consent_post,
    enrol_post,
    screening_post,
    today,
)


@pytest.fixture
def enrolled(client, site_a, staff_a):
    """A patient screened, consented and enrolled by clinic staff in the pages."""
    client.force_login(staff_a)
    client.post(reverse("participants:screening_new"), screening_post(site_a))
    record = ScreeningRecord.objects.get()
    client.post(reverse("participants:consent", args=[record.pk]), consent_post())
    client.post(reverse("participants:enrol", args=[record.pk]), enrol_post())
    client.logout()
    return Participant.objects.get()


def users_of(history) -> list[tuple[str, str]]:
    records = history.order_by("history_date", "history_id")
    return [(r.history_type, r.history_user.username) for r in records]


def page(name, participant):
    return reverse(f"participants:{name}", args=[participant.pk])


def test_enrolment_records_the_member_of_staff_on_every_record(enrolled, staff_a):
    who = staff_a.username
    assert users_of(Participant.history.filter(id=enrolled.pk)) == [("+", who)]
    assert users_of(ParticipantContact.history.all()) == [("+", who)]
    # The consent is created, then linked to the participant at enrolment.
    assert users_of(ConsentRecord.history.all()) == [("+", who), ("~", who)]
    assert users_of(Response.history.all()) == [("+", who)]


def test_a_contact_change_is_recorded_with_its_author_and_values(
    client, enrolled, coordinator_user
):
    client.force_login(coordinator_user)
    data = {
        k.removeprefix("contact-"): v
        for k, v in enrol_post().items()
        if k.startswith("contact-")
    }
    response = client.post(
        page("contact_edit", enrolled), data | {"email": "new@example.com"}
    )
    assert response.status_code == 302
    latest = ParticipantContact.history.latest()
    assert latest.history_type == "~"
    assert latest.history_user == coordinator_user
    change = next(
        c
        for c in audit.changes_for(enrolled)
        if c.what.startswith("Contact details") and c.action == "changed"
    )
    assert change.who == coordinator_user.username
    assert ("email", "alex@example.com", "new@example.com") in change.fields


def test_a_characteristics_correction_is_recorded_with_before_and_after(
    client, enrolled, staff_a
):
    client.force_login(staff_a)
    data = CHARACTERISTICS | {"age_years": 53}
    response = client.post(page("characteristics_edit", enrolled), data)
    assert response.status_code == 302
    assert users_of(Response.history.all())[-1] == ("~", staff_a.username)
    change = next(
        c
        for c in audit.changes_for(enrolled)
        if c.what.startswith("Response") and c.action == "changed"
    )
    answers = next(field for field in change.fields if field[0] == "answers")
    assert "52" in answers[1]
    assert "53" in answers[2]


def test_a_withdrawal_is_recorded_with_its_author_and_reason(
    client, enrolled, coordinator_user
):
    client.force_login(coordinator_user)
    client.post(
        page("withdraw", enrolled),
        {
            "withdrawn_on": today().isoformat(),
            "reason": "moved",
            "keep_data": "yes",
        },
    )
    latest = Participant.history.latest()
    assert latest.history_user == coordinator_user
    assert latest.history_change_reason == "Withdrawn: Moved away or changed clinic"
    changes = [c for c in audit.changes_for(enrolled) if c.action == "changed"]
    participant_change = next(c for c in changes if c.what.startswith("Participant"))
    assert participant_change.who == coordinator_user.username
    assert participant_change.reason == "Withdrawn: Moved away or changed clinic"
    assert ("status", "active", "withdrawn") in participant_change.fields
    visit_changes = [c for c in changes if c.what.startswith("Visit")]
    assert len(visit_changes) == 2
    assert {c.who for c in visit_changes} == {coordinator_user.username}


def test_the_history_lists_creations_newest_first(enrolled, staff_a):
    changes = audit.changes_for(enrolled)
    whens = [c.when for c in changes]
    assert whens == sorted(whens, reverse=True)
    created = {c.what for c in changes if c.action == "created"}
    code = enrolled.code
    assert {
        f"Participant {code}",
        f"Contact details of {code}",
        f"Visit {code} baseline",
        f"Visit {code} followup",
        f"Response baseline_characteristics at {code} baseline",
    } <= created
    assert {c.who for c in changes} == {staff_a.username}


def test_the_history_page_shows_changes_to_coordinators(
    client, enrolled, coordinator_user
):
    client.force_login(coordinator_user)
    client.get(page("detail", enrolled))
    response = client.get(page("history", enrolled))
    text = response.content.decode()
    assert f"Participant {enrolled.code}" in text
    assert coordinator_user.username in text  # the contact view just logged


@pytest.mark.parametrize("name", ["detail", "contact_edit", "letter"])
def test_opening_contact_details_is_logged(client, enrolled, staff_a, name):
    client.force_login(staff_a)
    open_page = client.post if name == "letter" else client.get
    assert open_page(page(name, enrolled)).status_code == 200
    view = ContactView.objects.get()
    assert (view.participant, view.viewed_by, view.page) == (
        enrolled,
        staff_a,
        page(name, enrolled),
    )


def test_pages_without_contact_details_log_no_view(client, enrolled, staff_a):
    client.force_login(staff_a)
    client.get(page("handover", enrolled))
    client.get(page("withdraw", enrolled))
    assert not ContactView.objects.exists()


def test_a_refused_visit_logs_no_view(client, enrolled, site_b):
    client.force_login(clinic_staff(site_b))
    assert client.get(page("detail", enrolled)).status_code == 404
    assert not ContactView.objects.exists()
