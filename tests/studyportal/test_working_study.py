"""Someone who works on two studies works on one at a time, and sees nothing of
the other while they do."""

import pytest
from django.urls import reverse

from participants import protocol, simulation
from participants.models import Participant, Role
from studyportal import demo
from tests.factories import MembershipFactory, clinic_staff, coordinator
from tests.participants import journeys

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_studies():
    reference = demo.seed_reference_study()
    knee = protocol.load(protocol.read_file(protocol.STUDIES_DIR / "knee_physio.yaml"))
    return reference, knee.study


def test_a_coordinator_of_two_studies_sees_one_at_a_time(client, two_studies):
    reference, knee = two_studies
    person = coordinator(reference)
    MembershipFactory(user=person, study=knee, role=Role.COORDINATOR)
    leeds = reference.sites.get(code="LDS")
    in_reference = journeys.enrol(leeds, clinic_staff(leeds))
    simulation.simulate(knee, participants=3, seed=1)
    in_knee = Participant.objects.filter(study=knee).first()
    client.force_login(person)
    # Until one chooses, the first of one's studies by name.
    assert client.get("/").context["current_study"] == knee
    client.post(reverse("choose_study"), {"study": reference.pk})

    listed = client.get(reverse("participants:list")).content.decode()
    assert in_reference.code in listed and in_knee.code not in listed
    other = client.get(reverse("participants:detail", args=[in_knee.pk]))
    assert other.status_code == 404

    client.post(reverse("choose_study"), {"study": knee.pk, "next": "/participants/"})
    listed = client.get(reverse("participants:list")).content.decode()
    assert in_knee.code in listed and in_reference.code not in listed
    assert "Knee Physio" in listed
    dashboard = client.get(reverse("retention:dashboard"))
    assert dashboard.context["scope"].study == knee
    detail = client.get(reverse("participants:detail", args=[in_reference.pk]))
    assert detail.status_code == 404


def test_a_study_one_does_not_work_on_cannot_be_chosen(client, two_studies):
    reference, knee = two_studies
    person = coordinator(reference)
    client.force_login(person)
    client.post(reverse("choose_study"), {"study": knee.pk})
    page = client.get(reverse("participants:list"))
    assert page.context["current_study"] == reference
    assert "Knee Physio" not in page.content.decode()
    # And a bad value changes nothing.
    client.post(reverse("choose_study"), {"study": "²"})
    assert client.get("/").context["current_study"] == reference
