"""Each role's home page, and what anonymous visitors get."""

import pytest
from django.urls import reverse

from tests.factories import (
    SiteFactory,
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
)


@pytest.fixture
def sites(db):
    study = StudyFactory(name="Back pain cohort")
    return SiteFactory(study=study, name="Leeds clinic", code="LDS"), SiteFactory(
        study=study, name="York clinic", code="YRK"
    )


@pytest.mark.parametrize(
    "url", ["/", "/accounts/password/", "/accounts/password/done/"]
)
def test_anonymous_visitors_are_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_login_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'lang="en-GB"' in response.content
    assert b"Skip to main content" in response.content


def test_clinic_staff_home_names_their_clinic_only_as_theirs(client, sites):
    own, _ = sites
    client.force_login(clinic_staff(own))
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["is_clinic_staff"]
    assert list(response.context["clinic_sites"]) == [own]
    assert not response.context["is_coordinator"]
    assert "Your clinic" in response.content.decode()
    assert "Back pain cohort" in response.content.decode()


def test_coordinator_home_lists_all_sites(client, sites):
    client.force_login(coordinator(sites[0].study))
    response = client.get("/")
    assert response.context["is_coordinator"]
    assert set(response.context["all_sites"]) == set(sites)
    assert "Follow-up across sites" in response.content.decode()


def test_investigator_home_promises_no_identifiers(client, sites):
    client.force_login(investigator(sites[0].study))
    response = client.get("/")
    body = response.content.decode()
    assert response.context["is_investigator"]
    assert "Analysis and data" in body
    assert "Your clinic" not in body


def test_admin_home_links_to_study_set_up(client, sites):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.get("/")
    assert response.context["is_admin"]
    assert reverse("admin:index") in response.content.decode()


def test_user_without_role_is_told_what_to_do(client, db):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert "no role in any study" in response.content.decode()


def test_footer_names_the_study(client, sites):
    client.force_login(coordinator(sites[0].study))
    assert "Back pain cohort" in client.get("/").content.decode()


def test_login_with_password_lands_on_home(client, sites):
    user = clinic_staff(sites[0])
    response = client.post(
        reverse("login"),
        {"username": user.username, "password": "correct-horse-battery"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.context["user"] == user


def test_wrong_password_is_refused_with_a_message(client, sites):
    user = clinic_staff(sites[0])
    response = client.post(
        reverse("login"), {"username": user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_logout_is_a_post_and_ends_the_session(client, sites):
    client.force_login(coordinator(sites[0].study))
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_password_change_page_for_staff(client, sites):
    user = coordinator(sites[0].study)
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": "a-much-longer-passphrase-42",
            "new_password2": "a-much-longer-passphrase-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-longer-passphrase-42")


def test_admin_pages_are_closed_to_non_admin_staff(client, sites):
    client.force_login(coordinator(sites[0].study))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
