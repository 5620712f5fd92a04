"""Possible duplicates at enrolment: clinic staff confirm the ones they may see;
a match at another clinic goes to the coordinators, and the clinic learns nothing."""

import re

import pytest
from django.db import transaction
from django.urls import reverse

from participants.models import Participant, PossibleDuplicate
from tests.factories import investigator
from tests.participants import journeys
from tests.participants.journeys import enrol_post

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
# The same patient as enrol_post(), by email only, so that a test states the match.
SAME_EMAIL = journeys.contact("Robin Other", email="alex@example.com", mobile="")


@pytest.fixture
def staff(client, staff_a):
    client.force_login(staff_a)
    return staff_a


@pytest.fixture
def consented(site_a, staff):
    return journeys.consented(site_a, staff)


def enrol_url(record):
    return reverse("participants:enrol", args=[record.pk])


def test_l7_a_match_at_another_clinic_is_enrolled_without_a_word_to_staff(
    client, site_b, staff_b, consented
):
    elsewhere = journeys.enrol(site_b, staff_b, details=SAME_EMAIL)
    response = client.post(enrol_url(consented), enrol_post(), follow=True)
    text = response.content.decode()
    assert "Enrolled as LDS-0001." in text
    assert "another clinic" not in text
    assert elsewhere.code not in text
    enrolled = Participant.objects.get(site=consented.site)
    pair = PossibleDuplicate.objects.get()
    assert (pair.participant, pair.other, pair.outcome) == (enrolled, elsewhere, "")


def test_l7_a_match_the_user_may_see_is_confirmed_by_them_not_the_coordinators(
    client, site_a, staff, consented
):
    existing = journeys.enrol(site_a, staff, details=SAME_EMAIL)
    warned = client.post(enrol_url(consented), enrol_post())
    assert existing.code in warned.content.decode()
    client.post(enrol_url(consented), enrol_post(not_a_duplicate="yes"))
    assert Participant.objects.count() == 2
    assert not PossibleDuplicate.objects.exists()


def attempt(client, record, data, *, match_elsewhere: bool, site_b, staff_b):
    """Post the enrolment, then undo it; what the user was shown, normalised."""
    with transaction.atomic():
        if match_elsewhere:
            journeys.enrol(site_b, staff_b, details=SAME_EMAIL)
        response = client.post(enrol_url(record), data, follow=True)
        shown = CSRF_TOKEN.sub("", response.content.decode())
        chain = [url for url, _ in response.redirect_chain]
        enrolled = Participant.objects.filter(screening=record).first()
        if enrolled is not None:
            # A sequence does not roll back, so the new record's id differs.
            new_id = f"/{enrolled.pk}/"
            shown = shown.replace(new_id, "/new/")
            chain = [url.replace(new_id, "/new/") for url in chain]
        transaction.set_rollback(True)
    return response.status_code, chain, shown


@pytest.mark.parametrize(
    ("data", "warned"),
    [
        pytest.param(enrol_post(), False, id="enrolled"),
        pytest.param(
            enrol_post(**{"contact-mobile": "07911 123457"}),
            True,
            id="warned of a match",
        ),
    ],
)
def test_l7_the_page_is_the_same_whether_or_not_another_clinic_has_a_match(
    client, site_a, site_b, staff, staff_b, consented, data, warned
):
    # A match at the user's own clinic (by mobile), so that one case shows the
    # warning; the other clinic's match is by email.
    journeys.enrol(
        site_a,
        staff,
        details=journeys.contact(
            "Sam Seen", email="sam@example.com", mobile="+447911123457"
        ),
    )
    without = attempt(
        client, consented, data, match_elsewhere=False, site_b=site_b, staff_b=staff_b
    )
    with_match = attempt(
        client, consented, data, match_elsewhere=True, site_b=site_b, staff_b=staff_b
    )
    assert with_match == without
    status, chain, shown = without
    assert ("This may be someone already enrolled" in shown) == warned
    assert ("Enrolled as LDS-0002." in shown) == (not warned)
    assert status == 200 and bool(chain) == (not warned)


def test_l7_coordinators_review_each_pair_from_the_work_list(
    client, site_b, staff_a, staff_b, coordinator_user, consented
):
    elsewhere = journeys.enrol(site_b, staff_b, details=SAME_EMAIL)
    client.post(enrol_url(consented), enrol_post())
    enrolled = Participant.objects.get(site=consented.site)
    client.force_login(coordinator_user)

    worklist = client.get(reverse("worklist:list")).content.decode()
    assert "1 possible duplicate to review" in worklist
    assert reverse("worklist:duplicates") in worklist
    listed = client.get(reverse("worklist:duplicates")).content.decode()
    assert enrolled.code in listed and elsewhere.code in listed
    assert "the same email address" in listed

    pair = PossibleDuplicate.objects.get()
    review = reverse("worklist:duplicate_review", args=[pair.pk])
    answer = client.post(review, {"outcome": "different"}, follow=True)
    assert "different people, recorded" in answer.content.decode()
    pair.refresh_from_db()
    assert pair.outcome == PossibleDuplicate.Outcome.DIFFERENT
    assert pair.reviewed_by == coordinator_user
    assert pair.reviewed_at is not None
    assert (
        "possible duplicate"
        not in client.get(reverse("worklist:list")).content.decode()
    )

    again = client.post(review, {"outcome": "same"}, follow=True)
    assert "already reviewed by" in again.content.decode()
    pair.refresh_from_db()
    assert pair.outcome == PossibleDuplicate.Outcome.DIFFERENT


def test_l7_an_unknown_outcome_records_nothing(
    client, site_b, staff_b, coordinator_user, consented
):
    journeys.enrol(site_b, staff_b, details=SAME_EMAIL)
    client.post(enrol_url(consented), enrol_post())
    client.force_login(coordinator_user)
    pair = PossibleDuplicate.objects.get()
    client.post(reverse("worklist:duplicate_review", args=[pair.pk]), {"outcome": "x"})
    pair.refresh_from_db()
    assert (pair.outcome, pair.reviewed_by) == ("", None)


def test_l7_only_coordinators_see_or_review_the_pairs(
    client, protocol, site_b, staff_a, staff_b, consented
):
    journeys.enrol(site_b, staff_b, details=SAME_EMAIL)
    client.post(enrol_url(consented), enrol_post())
    pair = PossibleDuplicate.objects.get()
    for user in (staff_a, staff_b, investigator(protocol)):
        client.force_login(user)
        assert client.get(reverse("worklist:duplicates")).status_code == 403
        review = reverse("worklist:duplicate_review", args=[pair.pk])
        assert client.post(review, {"outcome": "same"}).status_code == 403
        worklist = client.get(reverse("worklist:list"))
        assert worklist.status_code in (200, 403)
        assert "possible duplicate" not in worklist.content.decode()
    pair.refresh_from_db()
    assert pair.outcome == ""
