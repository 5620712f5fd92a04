"""The study builder: each page changes the protocol document, checked and versioned."""

import pytest
import yaml
from django.urls import reverse

from participants import builder, protocol
from participants.models import ProtocolVersion, Role, StaffMembership, Study
from tests.factories import UserFactory, clinic_staff, coordinator

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def create(admin_client, **overrides):
    data = {
        "name": "Shoulder pain and return to work",
        "short_name": "Shoulder Work",
        "slug": "shoulder-work",
        "site_code": "MAN",
        "site_name": "Manchester Shoulder Clinic",
        **overrides,
    }
    return admin_client.post(reverse("setup:index"), data)


def management(prefix: str, total: int, initial: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_an_administrator_creates_a_study_that_exports_as_it_was_set_up(admin_client):
    response = create(admin_client)
    assert response.status_code == 302
    study = Study.objects.get(slug="shoulder-work")
    assert response["Location"] == reverse("setup:study", args=[study.slug])
    assert study.sites.get().code == "MAN"
    assert study.protocol_versions.count() == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "Manchester Shoulder Clinic" in page
    download = admin_client.get(reverse("setup:download", args=[study.slug]))
    assert (
        download["Content-Disposition"] == 'attachment; filename="shoulder-work.yaml"'
    )
    assert yaml.safe_load(download.content) == protocol.export(study)


def test_a_bad_new_study_gets_messages_and_nothing_is_made(admin_client):
    create(admin_client)
    response = create(admin_client, site_code="man", name="")
    text = response.content.decode()
    assert response.status_code == 200
    assert "A study with this short address exists." not in text  # form errors first
    assert "Use 2 to 6 capital letters" in text
    assert "This field is required." in text
    again = create(admin_client, short_name="Other")
    assert "A study with this short address exists." in again.content.decode()
    assert Study.objects.count() == 1


def test_sites_are_added_and_changed_on_one_page(admin_client):
    create(admin_client)
    url = reverse("setup:sites", args=["shoulder-work"])
    assert admin_client.get(url).status_code == 200
    data = {
        **management("form", 2, 1),
        "form-0-code": "MAN",
        "form-0-name": "Manchester Shoulder Clinic",
        "form-0-target": "40",
        "form-0-time_zone": "Europe/London",
        "form-0-active": "on",
        "form-1-code": "LIV",
        "form-1-name": "Liverpool Shoulder Clinic",
        "form-1-target": "30",
        "form-1-time_zone": "Europe/London",
        "form-1-active": "on",
    }
    assert admin_client.post(url, data).status_code == 302
    study = Study.objects.get(slug="shoulder-work")
    assert [(s.code, s.recruitment_target) for s in study.sites.order_by("code")] == [
        ("LIV", 30),
        ("MAN", 40),
    ]
    assert study.protocol_versions.count() == 2


def test_a_change_the_protocol_refuses_is_explained_and_nothing_is_saved(admin_client):
    create(admin_client)
    url = reverse("setup:sites", args=["shoulder-work"])
    data = {
        **management("form", 2, 1),
        "form-0-code": "MAN",
        "form-0-name": "Manchester",
        "form-0-target": "0",
        "form-0-time_zone": "Europe/London",
        "form-1-code": "MAN",
        "form-1-name": "Also Manchester",
        "form-1-target": "0",
        "form-1-time_zone": "Mars/Olympus",
    }
    response = admin_client.post(url, data)
    text = response.content.decode()
    assert response.status_code == 200
    assert "Enter a time zone such as Europe/London." in text
    data["form-1-time_zone"] = "Europe/London"
    response = admin_client.post(url, data)
    assert "Nothing was saved" in response.content.decode()
    assert "site code &#x27;MAN&#x27; is used twice" in response.content.decode()
    assert Study.objects.get(slug="shoulder-work").protocol_versions.count() == 1


def test_questionnaires_are_attached_in_the_order_given(admin_client):
    create(admin_client)
    url = reverse("setup:questionnaires", args=["shoulder-work"])
    page = admin_client.get(url).content.decode()
    assert "About you and your knee" in page
    response = admin_client.post(
        url,
        {
            "start-knee_characteristics": "on",
            "start-knee_characteristics-order": "1",
            "start-knee_pain": "on",
            "start-knee_pain-order": "2",
        },
    )
    assert response.status_code == 302
    study = Study.objects.get(slug="shoulder-work")
    links = study.timepoints.get().instruments.order_by("order")
    assert [link.instrument.slug for link in links] == [
        "knee_characteristics",
        "knee_pain",
    ]


def test_signed_consent_cannot_change_but_a_new_version_can(
    admin_client, reference_study
):
    from tests.participants import journeys

    site = reference_study.sites.get(code="LDS")
    journeys.enrol(site, clinic_staff(site))
    url = reverse("setup:consent", args=[reference_study.slug])
    page = admin_client.get(url).content.decode()
    assert "People have signed it" in page
    document = builder.document_of(reference_study)
    form = document["consent"][0]
    data = {
        "form-title": form["title"],
        "form-introduction": form["introduction"],
        **management("statements", len(form["statements"]), len(form["statements"])),
    }
    for index, statement in enumerate(form["statements"]):
        data |= {
            f"statements-{index}-code": statement["code"],
            f"statements-{index}-kind": statement["kind"],
            f"statements-{index}-text": statement["text"] + " Changed.",
            f"statements-{index}-required": "on" if statement["required"] else "",
        }
    refused = admin_client.post(url, data)
    assert "add a new version instead" in refused.content.decode()
    admin_client.post(reverse("setup:new_consent_version", args=[reference_study.slug]))
    assert admin_client.post(url, data).status_code == 302
    current = reference_study.consent_forms.get(is_current=True)
    assert current.version == 2
    assert current.statements.first().text.endswith("Changed.")
    assert (
        reference_study.consent_forms.get(version=1).statements.first().text
        == (form["statements"][0]["text"])
    )


def test_measures_are_chosen_from_the_studys_own_variables(
    admin_client, reference_study
):
    url = reverse("setup:measures", args=[reference_study.slug])
    page = admin_client.get(url).content.decode()
    assert 'value="selfmgmt_total"' in page
    document = builder.document_of(reference_study)
    data = {
        "key_measures": ["age", "pain_severity"],
        "sex": "sex",
        "age": "age",
        "education": "",
        "presets": yaml.safe_dump(document["measures"]["presets"]),
        "sampling_strata": "- name: broken\n  label: x\n  kind: tertile\n",
    }
    refused = admin_client.post(url, data)
    assert "a tertile stratum needs variables" in refused.content.decode()
    data["sampling_strata"] = ""
    assert admin_client.post(url, data).status_code == 302
    reference_study.refresh_from_db()
    assert reference_study.measures["key_measures"] == ["age", "pain_severity"]
    assert reference_study.measures["characteristics"]["education"] is None


def test_the_team_page_gives_and_takes_roles(admin_client, reference_study):
    person = UserFactory(username="newcomer")
    site = reference_study.sites.get(code="LDS")
    url = reverse("setup:team", args=[reference_study.slug])
    refused = admin_client.post(
        url, {"username": "newcomer", "role": Role.CLINIC_STAFF}
    )
    assert "Clinic staff must belong to a site." in refused.content.decode()
    admin_client.post(
        url, {"username": "newcomer", "role": Role.CLINIC_STAFF, "site": site.pk}
    )
    membership = StaffMembership.objects.get(user=person)
    assert membership.site == site
    admin_client.post(
        reverse("setup:remove_member", args=[reference_study.slug, membership.pk])
    )
    assert not StaffMembership.objects.filter(user=person).exists()
    unknown = admin_client.post(url, {"username": "nobody", "role": Role.COORDINATOR})
    assert "There is no active user with this username" in unknown.content.decode()


def test_coordinators_edit_only_where_the_study_lets_them(client, reference_study):
    person = coordinator(reference_study)
    client.force_login(person)
    study_page = reverse("setup:study", args=[reference_study.slug])
    assert client.get(reverse("setup:index")).status_code == 403
    assert client.get(study_page).status_code == 404
    reference_study.coordinators_edit_setup = True
    reference_study.save()
    assert client.get(study_page).status_code == 200
    page = client.get(reverse("setup:details", args=[reference_study.slug]))
    # Only administrators change who may edit, or whether study IDs leave.
    assert "coordinators_edit_setup" not in page.content.decode()
    index = client.get(reverse("setup:index")).content.decode()
    assert "Create a study" not in index
    assert create(client).status_code == 403


def test_clinic_staff_and_investigators_find_no_study_to_set_up(
    client, reference_study
):
    site = reference_study.sites.get(code="LDS")
    for person in (clinic_staff(site), UserFactory()):
        client.force_login(person)
        assert client.get(reverse("setup:index")).status_code == 403
        url = reverse("setup:sites", args=[reference_study.slug])
        assert client.get(url).status_code == 404


def test_every_save_is_a_protocol_version_with_who_and_what(
    admin_client, reference_study
):
    url = reverse("setup:reminders", args=[reference_study.slug])
    data = {
        "invite_when_open": "on",
        "first_reminder_days": "5",
        "second_reminder_days": "10",
        "final_reminder_days_before_close": "1",
        "send_time": "09:30",
        "quiet_from": "21:00",
        "quiet_until": "08:00",
    }
    assert admin_client.post(url, data).status_code == 302
    latest = ProtocolVersion.objects.filter(study=reference_study).first()
    assert latest.note == "Study builder: Reminders"
    assert latest.created_by.is_superuser
    assert latest.protocol["reminders"]["send_time"] == "09:30"
    assert reference_study.reminder_policy.first_reminder_days == 5
